//! Channel-plan benchmark over generated floor plans: the planner's
//! co-channel interference score against every radio on one channel
//! (2.4 GHz: 6, 5 GHz: 36) and against random plans.
//!
//! Run: `cargo run --release -p bench --bin channel-plan-bench`.

use ap_protocol::Band;
use controller::ac::plan::{plan, score, weights, Heard, PlanRadio};
use controller::config::{CHANNELS_2G, CHANNELS_5G};
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
            radios.push(PlanRadio { id: format!("{id}/{suffix}"), floor: *floor, band, fixed_channel: None });
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

fn main() {
    println!("# channel plan: co-channel interference score (lower is better)");
    println!(
        "{:<22} {:>8} {:>14} {:>14} {:>10}",
        "floor plan", "planned", "all one chan", "random (mean)", "plan time"
    );
    for (floors, per_floor) in [(1, 6), (2, 8), (3, 8), (4, 12)] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (floors as u64 * 1000 + per_floor as u64));
        let (radios, heard) = floor_plan(floors, per_floor, &mut rng);
        let start = Instant::now();
        let planned = plan(&radios, &heard, CHANNELS_2G, CHANNELS_5G);
        let elapsed = start.elapsed();
        let w = weights(&radios, &heard);
        let planned_channels: Vec<u16> = radios.iter().map(|r| planned.radios[&r.id].channel).collect();
        let one: Vec<u16> = radios.iter().map(|r| if r.band == Band::G2_4 { 6 } else { 36 }).collect();
        let randoms: Vec<Vec<u16>> = (0..200)
            .map(|_| {
                radios.iter().map(|r| rng.pick(if r.band == Band::G2_4 { CHANNELS_2G } else { CHANNELS_5G })).collect()
            })
            .collect();
        for band in [Band::G2_4, Band::G5] {
            let wb = w.iter().filter(|((a, _), _)| radios[*a].band == band).map(|(k, v)| (*k, *v)).collect();
            let random = randoms.iter().map(|c| score(c, &wb)).sum::<f64>() / randoms.len() as f64;
            println!(
                "{:<22} {:>8.1} {:>14.1} {:>14.1} {:>8.2}ms",
                format!("{floors}x{per_floor} APs {}", if band == Band::G2_4 { "2.4GHz" } else { "5GHz" }),
                score(&planned_channels, &wb) + 0.0,
                score(&one, &wb),
                random,
                elapsed.as_secs_f64() * 1000.0
            );
        }
    }
}
