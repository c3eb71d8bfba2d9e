//! Channel and power plan. From the radios' neighbour scans, give each
//! radio a channel (2.4 GHz from {1, 6, 11}, 5 GHz from the non-DFS set;
//! both lists configurable) so that radios that hear each other avoid sharing
//! one, weighted by how loud they hear each other; where sharing cannot be
//! avoided, lower the TX power of the pair. Channels an admin fixed stay.
//! Every decision is explained.

#[cfg(test)]
use crate::config::{CHANNELS_2G, CHANNELS_5G};
use ap_protocol::Band;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Quieter than this, a neighbour does not matter.
const HEARD_DBM: i16 = -90;
/// Louder than this, a co-channel pair gets lower power.
const LOUD_DBM: i16 = -75;
/// Random starts tried after the greedy one.
const RESTARTS: usize = 24;

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
    /// a channel, of how strongly they hear each other.
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

/// The score of giving `channels[i]` to radio `i`.
pub fn score(channels: &[u16], weights: &HashMap<(usize, usize), (f64, i16)>) -> f64 {
    weights.iter().filter(|((a, b), _)| channels[*a] == channels[*b]).map(|(_, (w, _))| w).sum()
}

/// Plans `radios` from what they `heard`, choosing from `list_2g` / `list_5g`.
pub fn plan(radios: &[PlanRadio], heard: &[Heard], list_2g: &[u16], list_5g: &[u16]) -> Plan {
    let w = weights(radios, heard);
    let choices = |r: &PlanRadio| {
        if r.band == Band::G2_4 {
            list_2g
        } else {
            list_5g
        }
    };
    let mut neighbours: Vec<Vec<(usize, f64)>> = vec![Vec::new(); radios.len()];
    for ((a, b), (weight, _)) in &w {
        neighbours[*a].push((*b, *weight));
        neighbours[*b].push((*a, *weight));
    }
    // Fixed radios first, then the most crowded: they have the fewest good options.
    let mut order: Vec<usize> = (0..radios.len()).collect();
    order.sort_by(|&x, &y| {
        let load = |i: usize| neighbours[i].iter().map(|(_, w)| w).sum::<f64>();
        radios[y]
            .fixed_channel
            .is_some()
            .cmp(&radios[x].fixed_channel.is_some())
            .then(load(y).total_cmp(&load(x)))
            .then(x.cmp(&y))
    });
    let mut channels: Vec<u16> = vec![0; radios.len()];
    let cost = |i: usize, ch: u16, channels: &[u16]| -> f64 {
        neighbours[i].iter().filter(|(j, _)| channels[*j] == ch).map(|(_, w)| w).sum()
    };
    for &i in &order {
        channels[i] = match radios[i].fixed_channel {
            Some(ch) => ch,
            None => best(choices(&radios[i]), |ch| cost(i, ch, &channels)),
        };
    }
    // Local search from the greedy start and from a few seeded random
    // starts; keep the best. Deterministic: the same scans give the same plan.
    let improve = |channels: &mut Vec<u16>| {
        for _ in 0..50 {
            let mut improved = false;
            for &i in &order {
                if radios[i].fixed_channel.is_some() {
                    continue;
                }
                let now = cost(i, channels[i], channels);
                let ch = best(choices(&radios[i]), |ch| cost(i, ch, channels));
                if cost(i, ch, channels) + 1e-9 < now {
                    channels[i] = ch;
                    improved = true;
                }
            }
            if !improved {
                break;
            }
        }
    };
    improve(&mut channels);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..RESTARTS {
        let mut candidate: Vec<u16> = radios
            .iter()
            .map(|r| {
                r.fixed_channel.unwrap_or_else(|| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let list = choices(r);
                    list[(seed % list.len() as u64) as usize]
                })
            })
            .collect();
        improve(&mut candidate);
        if score(&candidate, &w) + 1e-9 < score(&channels, &w) {
            channels = candidate;
        }
    }
    let total = score(&channels, &w);
    let mut reduction = vec![0u8; radios.len()];
    for ((a, b), (_, rssi)) in &w {
        if channels[*a] == channels[*b] && *rssi >= LOUD_DBM {
            let db = if *rssi >= -65 { 6 } else { 3 };
            reduction[*a] = reduction[*a].max(db);
            reduction[*b] = reduction[*b].max(db);
        }
    }
    let radios_out = radios
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut shared: Vec<String> = neighbours[i]
                .iter()
                .filter(|(j, _)| channels[*j] == channels[i])
                .map(|(j, weight)| format!("{} ({:+.0})", radios[*j].id, weight))
                .collect();
            shared.sort();
            let heard = neighbours[i].len();
            let reason = match (r.fixed_channel, shared.is_empty()) {
                (Some(_), _) => {
                    format!("fixed by the admin; hears {heard} radios, shares with [{}]", shared.join(", "))
                }
                (None, true) => format!("hears {heard} radios, none on this channel"),
                (None, false) => format!(
                    "hears {heard} radios; could not avoid [{}] (score +{:.0})",
                    shared.join(", "),
                    cost(i, channels[i], &channels)
                ),
            };
            (r.id.clone(), Assignment { channel: channels[i], power_reduction_db: reduction[i], reason })
        })
        .collect();
    Plan { radios: radios_out, score: total }
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
        PlanRadio { id: id.into(), floor, band: Band::G2_4, fixed_channel: fixed }
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
    fn a_fourth_radio_shares_with_the_quietest_and_both_turn_down() {
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
        assert_eq!(plan.radios["d"].power_reduction_db, 3);
        assert!(plan.radios["d"].reason.contains("could not avoid [c"), "{}", plan.radios["d"].reason);
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
