//! Channel-plan benchmark over generated floor plans, per band: the
//! planner's co-channel interference score (each radio at the power the plan
//! gives it) against the best a search finds under the same coverage
//! constraint (exhaustive where that is small enough, else a long annealing
//! from several seeds), random channels at full power, and every radio on
//! one channel (2.4 GHz: 6, 5 GHz: 36).
//!
//! Run: `cargo run --release -p bench --bin channel-plan-bench`.

use ap_protocol::Band;
use controller::ac::plan::{allowed_cuts, pair_cost, plan, score, weights, Heard, PlanRadio};
use controller::config::{CHANNELS_2G, CHANNELS_5G};
use std::collections::HashMap;
use std::time::Instant;

/// Deterministic xorshift, so every run prints the same figures.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, list: &[u16]) -> u16 {
        list[(self.next() % list.len() as u64) as usize]
    }
}

/// `floors` floors of `per_floor` APs (4 per row, 12 m apart, rows 10 m
/// apart, a little jitter), each with a 2.4 and a 5 GHz radio. RSSI from a
/// log-distance model (exponent 3) with 15 dB per floor.
fn floor_plan(floors: i32, per_floor: usize, rng: &mut Rng) -> (Vec<PlanRadio>, Vec<Heard>) {
    let mut aps = Vec::new();
    for floor in 0..floors {
        for i in 0..per_floor {
            let jitter = |rng: &mut Rng| (rng.next() % 400) as f64 / 100.0 - 2.0;
            let x = (i % 4) as f64 * 12.0 + jitter(rng);
            let y = (i / 4) as f64 * 10.0 + jitter(rng);
            aps.push((format!("f{floor}-ap{i:02}"), floor, x, y));
        }
    }
    let mut radios = Vec::new();
    let mut heard = Vec::new();
    for (band, suffix, loss_1m) in [(Band::G2_4, "2g", 40.0), (Band::G5, "5g", 47.0)] {
        for (id, floor, _, _) in &aps {
            radios.push(PlanRadio {
                id: format!("{id}/{suffix}"),
                floor: *floor,
                band,
                fixed_channel: None,
                zone: None,
                fixed_power: false,
            });
        }
        for (a, fa, xa, ya) in &aps {
            for (b, fb, xb, yb) in &aps {
                if a == b {
                    continue;
                }
                let d = ((xa - xb).powi(2) + (ya - yb).powi(2) + (3.5 * f64::from(fa - fb)).powi(2)).sqrt().max(1.0);
                let rssi = 20.0 - loss_1m - 30.0 * d.log10() - 15.0 * f64::from((fa - fb).abs());
                if rssi > -92.0 {
                    heard.push(Heard {
                        a: format!("{a}/{suffix}"),
                        b: format!("{b}/{suffix}"),
                        rssi: rssi.round() as i16,
                    });
                }
            }
        }
    }
    (radios, heard)
}

type Weights = HashMap<(usize, usize), (f64, i16)>;

/// The best channels and cuts a search finds for the radios `of` (indexes
/// into all radios), each with its `options`: every combination when there
/// are at most `EXHAUSTIVE` of them, else annealing from four seeds. Returns
/// the score and how it was found.
fn search(of: &[usize], options: &[Vec<(u16, u8)>], w: &Weights, rng: &mut Rng) -> (f64, &'static str) {
    const EXHAUSTIVE: f64 = 3e7;
    let n = of.len();
    let mut neighbours: Vec<Vec<(usize, i16)>> = vec![Vec::new(); n];
    let local: HashMap<usize, usize> = of.iter().enumerate().map(|(l, g)| (*g, l)).collect();
    for ((a, b), (_, rssi)) in w {
        if let (Some(&x), Some(&y)) = (local.get(a), local.get(b)) {
            neighbours[x].push((y, *rssi));
            neighbours[y].push((x, *rssi));
        }
    }
    let full = |state: &[(u16, u8)]| -> f64 {
        let mut total = 0.0;
        for (x, list) in neighbours.iter().enumerate() {
            for (y, rssi) in list {
                if *y > x && state[x].0 == state[*y].0 {
                    total += pair_cost(*rssi, state[x].1, state[*y].1);
                }
            }
        }
        total
    };
    let opts: Vec<&Vec<(u16, u8)>> = of.iter().map(|g| &options[*g]).collect();
    let combinations: f64 = opts.iter().map(|o| o.len() as f64).product();
    if combinations <= EXHAUSTIVE {
        let mut digits = vec![0usize; n];
        let mut best = f64::INFINITY;
        loop {
            let state: Vec<(u16, u8)> = (0..n).map(|x| opts[x][digits[x]]).collect();
            best = best.min(full(&state));
            let mut k = 0;
            while k < n {
                digits[k] += 1;
                if digits[k] < opts[k].len() {
                    break;
                }
                digits[k] = 0;
                k += 1;
            }
            if k == n {
                return (best, "exhaustive");
            }
        }
    }
    let local_cost = |x: usize, (ch, cut): (u16, u8), state: &[(u16, u8)]| -> f64 {
        neighbours[x]
            .iter()
            .filter(|(y, _)| state[*y].0 == ch)
            .map(|(y, rssi)| pair_cost(*rssi, cut, state[*y].1))
            .sum()
    };
    let mut best = f64::INFINITY;
    for _ in 0..4 {
        let mut state: Vec<(u16, u8)> = (0..n).map(|x| opts[x][(rng.next() % opts[x].len() as u64) as usize]).collect();
        let mut now = full(&state);
        let steps = 2_000_000usize;
        for step in 0..steps {
            let t = 10.0f64 * (0.02f64 / 10.0).powf(step as f64 / steps as f64);
            let x = (rng.next() % n as u64) as usize;
            let next = opts[x][(rng.next() % opts[x].len() as u64) as usize];
            let delta = local_cost(x, next, &state) - local_cost(x, state[x], &state);
            let unit = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            if delta <= 0.0 || unit < (-delta / t).exp() {
                state[x] = next;
                now += delta;
                best = best.min(now);
            }
        }
    }
    (best, "annealing")
}

fn main() {
    println!("# channel plan: co-channel interference score with each radio's power (lower is better)");
    println!("# search: the best an exhaustive or annealing search finds under the same coverage constraint");
    println!(
        "{:<20} {:>8} {:>10} {:>11} {:>9} {:>9} {:>8} {:>11} {:>10}",
        "floor plan", "planned", "search", "(how)", "random", "one chan", "vs rand", "vs search", "cut radios"
    );
    for (floors, per_floor) in [(1, 6), (2, 8), (3, 8), (4, 12)] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (floors as u64 * 1000 + per_floor as u64));
        let (radios, heard) = floor_plan(floors, per_floor, &mut rng);
        let start = Instant::now();
        let planned = plan(&radios, &heard, CHANNELS_2G, CHANNELS_5G);
        let elapsed = start.elapsed();
        let w = weights(&radios, &heard);
        let allowed = allowed_cuts(&radios, &heard);
        let options: Vec<Vec<(u16, u8)>> = radios
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let list = if r.band == Band::G2_4 { CHANNELS_2G } else { CHANNELS_5G };
                list.iter().flat_map(|ch| (0..=allowed[i].0).step_by(3).map(move |cut| (*ch, cut))).collect()
            })
            .collect();
        let planned_channels: Vec<u16> = radios.iter().map(|r| planned.radios[&r.id].channel).collect();
        let planned_cuts: Vec<u8> = radios.iter().map(|r| planned.radios[&r.id].power_reduction_db).collect();
        let none = vec![0u8; radios.len()];
        let one: Vec<u16> = radios.iter().map(|r| if r.band == Band::G2_4 { 6 } else { 36 }).collect();
        let randoms: Vec<Vec<u16>> = (0..200)
            .map(|_| {
                radios.iter().map(|r| rng.pick(if r.band == Band::G2_4 { CHANNELS_2G } else { CHANNELS_5G })).collect()
            })
            .collect();
        for band in [Band::G2_4, Band::G5] {
            let wb: Weights = w.iter().filter(|((a, _), _)| radios[*a].band == band).map(|(k, v)| (*k, *v)).collect();
            let of: Vec<usize> = (0..radios.len()).filter(|i| radios[*i].band == band).collect();
            let random = randoms.iter().map(|c| score(c, &none, &wb)).sum::<f64>() / randoms.len() as f64;
            let mine = score(&planned_channels, &planned_cuts, &wb) + 0.0;
            let searched = Instant::now();
            let (best, how) = search(&of, &options, &wb, &mut rng);
            let search_time = searched.elapsed();
            let cut: Vec<u8> = of.iter().map(|i| planned_cuts[*i]).filter(|c| *c > 0).collect();
            let vs =
                |other: f64| if other > 0.0 { format!("{:+.0}%", (mine / other - 1.0) * 100.0) } else { "-".into() };
            println!(
                "{:<20} {:>8.1} {:>10.1} {:>11} {:>9.1} {:>9.1} {:>8} {:>11} {:>4} of {:<3} (to -{} dB) plan {:.1} ms, search {:.1} s",
                format!("{floors}x{per_floor} APs {}", if band == Band::G2_4 { "2.4GHz" } else { "5GHz" }),
                mine,
                best + 0.0,
                how,
                random,
                score(&one, &none, &wb),
                vs(random),
                vs(best),
                cut.len(),
                of.len(),
                cut.iter().max().copied().unwrap_or(0),
                elapsed.as_secs_f64() * 1000.0,
                search_time.as_secs_f64()
            );
        }
    }
}
