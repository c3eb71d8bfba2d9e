//! Channel and power plan. From the radios' neighbour scans, give each
//! radio a channel (2.4 GHz from {1, 6, 11}, 5 GHz from the non-DFS set;
//! both lists configurable) and a power cut, so that radios that hear each
//! other on one channel hear as little of each other as they can.
//!
//! The score counts power: a co-channel pair costs what each hears of the
//! other above -90 dBm, and a cut of N dB takes N off what the neighbour
//! hears. A cut must keep the radio's own cell covered: its cell reaches
//! half way to its farthest adjacent AP on the floor (adjacent: no other AP
//! louder to both lies between them), where a client hears it ~9 dB louder
//! than that AP does (log-distance, exponent 3); that must stay at or above
//! [`EDGE_DBM`]. A radio alone on its floor, alone in its zone, or whose
//! power the admin fixed is never cut. Channels an admin fixed stay. Every
//! decision is explained.

#[cfg(test)]
use crate::config::{CHANNELS_2G, CHANNELS_5G};
use ap_protocol::Band;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Quieter than this, a neighbour does not matter.
const HEARD_DBM: i16 = -90;
/// The signal a client at a radio's cell edge must still get, dBm.
pub const EDGE_DBM: i16 = -67;
/// How much louder a radio is half way to a neighbour than at it.
const HALFWAY_DB: i16 = 9;
/// The deepest cut, dB, and its steps.
pub const MAX_CUT_DB: u8 = 12;
const CUT_STEP: u8 = 3;
/// What a dB of cut costs in the score when it buys nothing (a radio with
/// no co-channel neighbour keeps its full power).
const CUT_PENALTY: f64 = 0.01;
/// Random starts tried after the greedy one.
const RESTARTS: usize = 24;
/// Steps of the annealing that finishes a plan.
const ANNEAL_STEPS: usize = 60_000;

/// One radio to plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRadio {
    /// AP and radio, e.g. `ap-07/wlan1`.
    pub id: String,
    /// Floor of the AP (0 = ground).
    pub floor: i32,
    /// Its band.
    pub band: Band,
    /// An admin's fixed channel, kept as is.
    pub fixed_channel: Option<u16>,
    /// The AP's zone (大堂, 包间...), if the admin named one.
    pub zone: Option<String>,
    /// The admin fixed its power: the plan never cuts it.
    pub fixed_power: bool,
}

/// `a` heard `b` at `rssi` dBm (from `a`'s neighbour scan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heard {
    /// The radio that scanned.
    pub a: String,
    /// The radio it heard.
    pub b: String,
    /// Signal strength, dBm.
    pub rssi: i16,
}

/// What the plan gives one radio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The channel.
    pub channel: u16,
    /// dB below maximum TX power (0: full power).
    pub power_reduction_db: u8,
    /// Why, for the admin.
    pub reason: String,
}

/// A plan with its interference score (lower is better).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Per radio id.
    pub radios: BTreeMap<String, Assignment>,
    /// Co-channel interference score: the sum, over radio pairs that share
    /// a channel, of how strongly they hear each other with the power cuts.
    pub score: f64,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "co-channel interference score {:.1}", self.score + 0.0)?;
        for (id, a) in &self.radios {
            let power = match a.power_reduction_db {
                0 => "full power".to_string(),
                db => format!("power -{db} dB"),
            };
            writeln!(f, "{id}: channel {}, {power}: {}", a.channel, a.reason)?;
        }
        Ok(())
    }
}

/// How much two radios hurt each other when sharing a channel: grows with
/// the louder of the two directions; only neighbours within one floor count.
pub fn weights(radios: &[PlanRadio], heard: &[Heard]) -> HashMap<(usize, usize), (f64, i16)> {
    let index: HashMap<&str, usize> = radios.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    let mut out: HashMap<(usize, usize), (f64, i16)> = HashMap::new();
    for h in heard {
        let (Some(&a), Some(&b)) = (index.get(h.a.as_str()), index.get(h.b.as_str())) else {
            continue;
        };
        if a == b
            || radios[a].band != radios[b].band
            || (radios[a].floor - radios[b].floor).abs() > 1
            || h.rssi < HEARD_DBM
        {
            continue;
        }
        let key = (a.min(b), a.max(b));
        let w = f64::from(h.rssi - HEARD_DBM);
        let entry = out.entry(key).or_insert((0.0, i16::MIN));
        if w > entry.0 {
            *entry = (w, h.rssi);
        }
    }
    out
}

/// What a co-channel pair heard at `rssi` (full power) costs with cuts
/// `a` and `b`: half what each hears of the other above [`HEARD_DBM`].
pub fn pair_cost(rssi: i16, a: u8, b: u8) -> f64 {
    let over = |cut: u8| f64::from((rssi - i16::from(cut) - HEARD_DBM).max(0));
    (over(a) + over(b)) / 2.0
}

/// The score of giving `channels[i]` to radio `i`, turned down `cuts[i]` dB.
pub fn score(channels: &[u16], cuts: &[u8], weights: &HashMap<(usize, usize), (f64, i16)>) -> f64 {
    weights
        .iter()
        .filter(|((a, b), _)| channels[*a] == channels[*b])
        .map(|((a, b), (_, rssi))| pair_cost(*rssi, cuts[*a], cuts[*b]))
        .sum()
}

/// How far each radio may be turned down, and why no further.
pub fn allowed_cuts(radios: &[PlanRadio], heard: &[Heard]) -> Vec<(u8, String)> {
    let index: HashMap<&str, usize> = radios.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    // What j hears of i, by (i, j): i's signal where j stands.
    let mut hears: HashMap<(usize, usize), i16> = HashMap::new();
    for h in heard {
        let (Some(&scanner), Some(&sender)) = (index.get(h.a.as_str()), index.get(h.b.as_str())) else { continue };
        let (x, y) = (&radios[scanner], &radios[sender]);
        if scanner == sender || x.band != y.band || x.floor != y.floor || h.rssi < HEARD_DBM {
            continue;
        }
        let e = hears.entry((sender, scanner)).or_insert(h.rssi);
        *e = (*e).max(h.rssi);
    }
    let signal = |i: usize, j: usize| hears.get(&(i, j)).or_else(|| hears.get(&(j, i))).copied();
    let mut near: Vec<Vec<(usize, i16)>> = vec![Vec::new(); radios.len()];
    for &(i, j) in hears.keys() {
        for (a, b) in [(i, j), (j, i)] {
            if !near[a].iter().any(|(k, _)| *k == b) {
                near[a].push((b, signal(a, b).unwrap_or(HEARD_DBM)));
            }
        }
    }
    let zone_count =
        |r: &PlanRadio| radios.iter().filter(|o| o.band == r.band && o.zone.is_some() && o.zone == r.zone).count();
    radios
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.fixed_power {
                return (0, "its power is fixed by the admin".to_string());
            }
            if let Some(zone) = r.zone.as_deref().filter(|_| zone_count(r) == 1) {
                return (0, format!("not turned down: the only radio on its band in zone {zone}"));
            }
            // Adjacent: no third radio is louder to both (it would stand between).
            let loud = |a: usize, b: usize| signal(a, b).unwrap_or(i16::MIN);
            let adjacent: Vec<(usize, i16)> = near[i]
                .iter()
                .filter(|(j, s)| !near[i].iter().any(|(k, _)| k != j && loud(i, *k) > *s && loud(*k, *j) > *s))
                .copied()
                .collect();
            let Some(&(far, weakest)) = adjacent.iter().min_by_key(|(j, s)| (*s, radios[*j].id.as_str())) else {
                return (0, "not turned down: no other radio covers its floor near it".to_string());
            };
            let edge = weakest + HALFWAY_DB;
            let room = (edge - EDGE_DBM).clamp(0, i16::from(MAX_CUT_DB)) as u8;
            let cut = room / CUT_STEP * CUT_STEP;
            let why = format!(
                "its cell edge, half way to {}, hears it at {edge} dBm at full power (at least {EDGE_DBM} dBm kept)",
                radios[far].id
            );
            (cut, why)
        })
        .collect()
}

/// Plans `radios` from what they `heard`, choosing from `list_2g` / `list_5g`.
pub fn plan(radios: &[PlanRadio], heard: &[Heard], list_2g: &[u16], list_5g: &[u16]) -> Plan {
    let w = weights(radios, heard);
    let allowed = allowed_cuts(radios, heard);
    let choices = |r: &PlanRadio| {
        if r.band == Band::G2_4 {
            list_2g
        } else {
            list_5g
        }
    };
    // Each radio's neighbours with the pair's weight and loudest signal.
    let mut neighbours: Vec<Vec<(usize, f64, i16)>> = vec![Vec::new(); radios.len()];
    for ((a, b), (weight, rssi)) in &w {
        neighbours[*a].push((*b, *weight, *rssi));
        neighbours[*b].push((*a, *weight, *rssi));
    }
    for n in &mut neighbours {
        n.sort_by_key(|(j, ..)| *j);
    }
    // Fixed radios first, then the most crowded: they have the fewest good options.
    let mut order: Vec<usize> = (0..radios.len()).collect();
    order.sort_by(|&x, &y| {
        let load = |i: usize| neighbours[i].iter().map(|(_, w, _)| w).sum::<f64>();
        radios[y]
            .fixed_channel
            .is_some()
            .cmp(&radios[x].fixed_channel.is_some())
            .then(load(y).total_cmp(&load(x)))
            .then(x.cmp(&y))
    });
    // What radio i costs on `ch` turned down `cut`, given the others.
    let cost = |i: usize, ch: u16, cut: u8, channels: &[u16], cuts: &[u8]| -> f64 {
        neighbours[i]
            .iter()
            .filter(|(j, ..)| channels[*j] == ch)
            .map(|(j, _, rssi)| pair_cost(*rssi, cut, cuts[*j]))
            .sum::<f64>()
            + CUT_PENALTY * f64::from(cut)
    };
    let options = |i: usize| -> Vec<(u16, u8)> {
        let chans: Vec<u16> = match radios[i].fixed_channel {
            Some(ch) => vec![ch],
            None => choices(&radios[i]).to_vec(),
        };
        let cuts: Vec<u8> = (0..=allowed[i].0).step_by(usize::from(CUT_STEP)).collect();
        chans.iter().flat_map(|ch| cuts.iter().map(move |cut| (*ch, *cut))).collect()
    };
    let options: Vec<Vec<(u16, u8)>> = (0..radios.len()).map(options).collect();
    let total = |channels: &[u16], cuts: &[u8]| {
        score(channels, cuts, &w) + CUT_PENALTY * cuts.iter().map(|c| f64::from(*c)).sum::<f64>()
    };
    // Each radio in turn takes its best channel and cut, until none moves.
    let improve = |channels: &mut Vec<u16>, cuts: &mut Vec<u8>| {
        for _ in 0..50 {
            let mut improved = false;
            for &i in &order {
                let now = cost(i, channels[i], cuts[i], channels, cuts);
                let mut best = (now, channels[i], cuts[i]);
                for &(ch, cut) in &options[i] {
                    let c = cost(i, ch, cut, channels, cuts);
                    if c + 1e-9 < best.0 {
                        best = (c, ch, cut);
                    }
                }
                if (best.1, best.2) != (channels[i], cuts[i]) {
                    (channels[i], cuts[i]) = (best.1, best.2);
                    improved = true;
                }
            }
            if !improved {
                break;
            }
        }
    };
    // A greedy start at full power, then local search from it and from a
    // few seeded random starts; keep the best. Deterministic: the same
    // scans give the same plan.
    let mut channels: Vec<u16> = vec![0; radios.len()];
    let mut cuts: Vec<u8> = vec![0; radios.len()];
    for &i in &order {
        channels[i] = match radios[i].fixed_channel {
            Some(ch) => ch,
            None => best(choices(&radios[i]), |ch| cost(i, ch, 0, &channels, &cuts)),
        };
    }
    improve(&mut channels, &mut cuts);
    let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
    for _ in 0..RESTARTS {
        let mut candidate: Vec<u16> = radios
            .iter()
            .map(|r| {
                r.fixed_channel.unwrap_or_else(|| {
                    let list = choices(r);
                    list[rng.below(list.len())]
                })
            })
            .collect();
        let mut candidate_cuts = vec![0; radios.len()];
        improve(&mut candidate, &mut candidate_cuts);
        if total(&candidate, &candidate_cuts) + 1e-9 < total(&channels, &cuts) {
            (channels, cuts) = (candidate, candidate_cuts);
        }
    }
    // Then annealing over channels and cuts together, from the best so far.
    anneal(&mut channels, &mut cuts, &options, cost, &mut rng);
    improve(&mut channels, &mut cuts);
    let radios_out = radios
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut shared: Vec<(i16, String)> = neighbours[i]
                .iter()
                .filter(|(j, ..)| channels[*j] == channels[i])
                .map(|(j, _, rssi)| (*rssi, format!("{} ({rssi} dBm)", radios[*j].id)))
                .collect();
            shared.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let shared: Vec<String> = shared.into_iter().map(|(_, s)| s).collect();
            let heard = neighbours[i].len();
            let full = cost(i, channels[i], 0, &channels, &cuts);
            let now = cost(i, channels[i], cuts[i], &channels, &cuts) - CUT_PENALTY * f64::from(cuts[i]);
            let channel = match (r.fixed_channel, shared.is_empty()) {
                (Some(_), _) => {
                    format!("channel fixed by the admin; hears {heard} radios, shares with [{}]", shared.join(", "))
                }
                (None, true) => format!("hears {heard} radios, none on this channel"),
                (None, false) => format!("hears {heard} radios; could not avoid [{}]", shared.join(", ")),
            };
            let power = match (cuts[i], shared.is_empty()) {
                (0, true) => "full power".to_string(),
                (0, false) => format!("full power ({}); score +{full:.0}", allowed[i].1),
                (cut, _) => format!(
                    "turned down {cut} dB so the radios on its channel hear it {cut} dB quieter (score +{full:.0} -> +{now:.0}); {}",
                    allowed[i].1
                ),
            };
            let reason = format!("{channel}; {power}");
            (r.id.clone(), Assignment { channel: channels[i], power_reduction_db: cuts[i], reason })
        })
        .collect();
    Plan { radios: radios_out, score: score(&channels, &cuts, &w) }
}

/// Deterministic xorshift: the same scans give the same plan.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Simulated annealing over each radio's `options` (channel, cut): a radio
/// at a time moves to a random option, taken if it costs less, or more with
/// a chance that shrinks as the temperature falls. Leaves the best state seen.
fn anneal(
    channels: &mut Vec<u16>,
    cuts: &mut Vec<u8>,
    options: &[Vec<(u16, u8)>],
    cost: impl Fn(usize, u16, u8, &[u16], &[u8]) -> f64,
    rng: &mut Xorshift,
) {
    let movable: Vec<usize> = (0..options.len()).filter(|i| options[*i].len() > 1).collect();
    if movable.is_empty() {
        return;
    }
    let (mut now, mut best) = (0.0f64, 0.0f64);
    let mut kept = (channels.clone(), cuts.clone());
    let (hot, cold) = (8.0f64, 0.05f64);
    for step in 0..ANNEAL_STEPS {
        let t = hot * (cold / hot).powf(step as f64 / ANNEAL_STEPS as f64);
        let i = movable[rng.below(movable.len())];
        let (ch, cut) = options[i][rng.below(options[i].len())];
        let delta = cost(i, ch, cut, channels, cuts) - cost(i, channels[i], cuts[i], channels, cuts);
        if delta <= 0.0 || rng.unit() < (-delta / t).exp() {
            (channels[i], cuts[i]) = (ch, cut);
            now += delta;
            if now + 1e-9 < best {
                best = now;
                kept = (channels.clone(), cuts.clone());
            }
        }
    }
    (*channels, *cuts) = kept;
}

fn best(choices: &[u16], cost: impl Fn(u16) -> f64) -> u16 {
    let mut best = (f64::INFINITY, choices.first().copied().unwrap_or(1));
    for &ch in choices {
        let c = cost(ch);
        if c < best.0 {
            best = (c, ch);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn radio(id: &str, floor: i32, fixed: Option<u16>) -> PlanRadio {
        PlanRadio { id: id.into(), floor, band: Band::G2_4, fixed_channel: fixed, zone: None, fixed_power: false }
    }

    fn heard(a: &str, b: &str, rssi: i16) -> Heard {
        Heard { a: a.into(), b: b.into(), rssi }
    }

    #[test]
    fn three_radios_that_hear_each_other_get_one_six_eleven() {
        let radios = vec![radio("a", 0, None), radio("b", 0, None), radio("c", 0, None)];
        let heard = vec![heard("a", "b", -50), heard("b", "c", -55), heard("a", "c", -60)];
        let plan = plan(&radios, &heard, CHANNELS_2G, CHANNELS_5G);
        let mut chans: Vec<u16> = plan.radios.values().map(|a| a.channel).collect();
        chans.sort();
        assert_eq!(chans, vec![1, 6, 11]);
        assert_eq!(plan.score, 0.0);
        assert!(plan.radios.values().all(|a| a.power_reduction_db == 0));
    }

    #[test]
    fn a_fourth_radio_shares_with_the_quietest_and_both_turn_down_as_far_as_their_cells_allow() {
        let radios = vec![radio("a", 0, None), radio("b", 0, None), radio("c", 0, None), radio("d", 0, None)];
        let heard = vec![
            heard("a", "b", -50),
            heard("a", "c", -50),
            heard("b", "c", -50),
            heard("d", "a", -52),
            heard("d", "b", -54),
            heard("d", "c", -70),
        ];
        let plan = plan(&radios, &heard, CHANNELS_2G, CHANNELS_5G);
        assert_eq!(plan.radios["d"].channel, plan.radios["c"].channel);
        // d's cell reaches half way to a (-52 + 9 = -43 dBm): 24 dB of room, the cut stops at 12.
        assert_eq!(plan.radios["d"].power_reduction_db, MAX_CUT_DB);
        assert_eq!(plan.radios["c"].power_reduction_db, MAX_CUT_DB);
        assert_eq!(plan.radios["a"].power_reduction_db, 0, "no one shares a's channel: full power");
        assert!(plan.radios["d"].reason.contains("could not avoid [c (-70 dBm)]"), "{}", plan.radios["d"].reason);
        assert!(plan.radios["d"].reason.contains("turned down 12 dB"), "{}", plan.radios["d"].reason);
        // Scored with the cuts: what each hears of the other drops by 12 dB.
        assert_eq!(plan.score, pair_cost(-70, 12, 12));
        assert!(plan.score < pair_cost(-70, 0, 0));
    }

    #[test]
    fn a_cut_keeps_the_cell_edge_and_spares_a_zone_s_only_radio_and_a_fixed_power() {
        // Four radios in a row 20 m apart (what the next one hears: -79 dBm),
        // on one channel: each cell's edge is heard at -70 dBm, so no cut fits.
        let radios: Vec<PlanRadio> = (0..4).map(|i| radio(&format!("r{i}"), 0, Some(6))).collect();
        let far: Vec<Heard> = (0..3).map(|i| heard(&format!("r{i}"), &format!("r{}", i + 1), -79)).collect();
        let spread = plan(&radios, &far, CHANNELS_2G, CHANNELS_5G);
        assert!(spread.radios.values().all(|a| a.power_reduction_db == 0), "{spread}");
        assert!(spread.radios["r1"].reason.contains("-70 dBm at full power"), "{}", spread.radios["r1"].reason);
        // Close together (-50 dBm): room to cut, but not the private room's
        // only AP, nor one whose power the admin fixed.
        let mut radios = radios;
        radios[0].zone = Some("包间".into());
        radios[1].zone = Some("大堂".into());
        radios[2].zone = Some("大堂".into());
        radios[3].fixed_power = true;
        let close: Vec<Heard> = (0..3).map(|i| heard(&format!("r{i}"), &format!("r{}", i + 1), -50)).collect();
        let dense = plan(&radios, &close, CHANNELS_2G, CHANNELS_5G);
        assert_eq!(dense.radios["r0"].power_reduction_db, 0);
        assert!(dense.radios["r0"].reason.contains("the only radio on its band in zone 包间"), "{dense}");
        assert_eq!(dense.radios["r3"].power_reduction_db, 0);
        assert!(dense.radios["r3"].reason.contains("fixed by the admin"), "{dense}");
        assert_eq!(dense.radios["r1"].power_reduction_db, MAX_CUT_DB, "{dense}");
        // Alone on its floor: never cut.
        let alone = plan_alone();
        assert_eq!(alone.power_reduction_db, 0);
        assert!(alone.reason.contains("no other radio covers its floor"), "{}", alone.reason);
    }

    fn plan_alone() -> Assignment {
        let radios = vec![radio("x", 0, Some(1)), radio("y", 1, Some(1))];
        plan(&radios, &[heard("x", "y", -60)], CHANNELS_2G, CHANNELS_5G).radios["x"].clone()
    }

    #[test]
    fn fixed_channels_stay_and_far_floors_do_not_count() {
        let radios = vec![radio("a", 0, Some(6)), radio("b", 0, None), radio("c", 2, None)];
        let heard = vec![heard("a", "b", -50), heard("a", "c", -50)];
        let plan = plan(&radios, &heard, CHANNELS_2G, CHANNELS_5G);
        assert_eq!(plan.radios["a"].channel, 6);
        assert_ne!(plan.radios["b"].channel, 6);
        assert!(plan.radios["c"].reason.starts_with("hears 0 radios"), "two floors apart: {}", plan.radios["c"].reason);
    }
}
