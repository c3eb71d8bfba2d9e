//! Footfall at a busy site: a day of `--visits` station visits (default
//! 20,000: 2,000 guests roaming ten times each) over `--aps` APs (default
//! 24) in 6 zones, in the appliance's own store (SQLite on disk). Times
//! what the statistics page adds: rolling today up (`footfall::roll_day`,
//! which the page runs first) and reading a range's footfall (`summed` and
//! `Footfall::of`, with the heat picture) over 1, 30 and 365 days of
//! rolled-up aggregates: p50 and max of 20 each.
//!
//! `footfall-bench [--visits 20000] [--aps 24]`

use controller::stats::footfall::{self, Footfall};
use controller::stats::Range;
use rand::Rng;
use std::time::Instant;

fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn p50_max(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!("p50 {:.1} ms, max {:.1} ms", ms[ms.len() / 2], ms[ms.len() - 1])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (visits, aps) = (arg("--visits", 20_000), arg("--aps", 24));
    let dir = std::env::temp_dir().join(format!("footfall-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = controller::store::open(&dir).await?;
    let zones = ["大堂", "包间", "露台", "吧台", "二楼", "外卖口"];
    for ap in 0..aps {
        sqlx::query(
            "INSERT INTO access_points (device_id, model, mac, firmware, public_key_pem, state, zone, first_seen_at, last_seen_at) \
             VALUES (?, 'm', '02:00:00:00:00:00', '1', '', 'adopted', ?, 0, 0)",
        )
        .bind(format!("ap-{ap}"))
        .bind(zones[ap as usize % zones.len()])
        .execute(&db)
        .await?;
    }
    let offset = 8;
    let today = Range::last_days(1, offset).start;
    let mut rng = rand::rng();
    // A year of days rolled up (what a year's range reads), then today's visits.
    let mut tx = db.begin().await?;
    for d in 1..365 {
        let day = Range { start: today - d * 86_400_000, end: today, offset }.date(today - d * 86_400_000);
        for zone in zones {
            for (what, key) in [("visits", String::new()), ("new", String::new()), ("returning", String::new())]
                .into_iter()
                .chain((10..23).map(|h| ("present", format!("{h:02}"))))
                .chain((10..23).map(|h| ("dwell_ms", format!("{h:02}"))))
            {
                sqlx::query("INSERT INTO footfall_days (day, zone, what, key, n) VALUES (?, ?, ?, ?, ?)")
                    .bind(&day)
                    .bind(zone)
                    .bind(what)
                    .bind(key)
                    .bind(rng.random_range(1..500i64))
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    let guests = (visits / 10).max(1);
    // 90 days of sessions before today (the store keeps them that long): a
    // third of today's devices came before.
    for n in 0..(guests * 45) {
        let g = if n % 3 == 0 { rng.random_range(0..guests) } else { guests + n };
        let at = today - rng.random_range(1..90 * 86_400_000i64);
        sqlx::query(
            "INSERT INTO sessions (mac, ip, method, started_at, expires_at, ended_at, last_seen_at) \
             VALUES (?, '192.0.2.9', 'countdown', ?, ?, ?, ?)",
        )
        .bind(format!("02:00:{:02x}:{:02x}:{:02x}:01", g / 65536 % 256, g / 256 % 256, g % 256))
        .bind(at)
        .bind(at + 3_600_000)
        .bind(at + 3_600_000)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    for _ in 0..visits {
        let g = rng.random_range(0..guests);
        let station = format!("02:00:{:02x}:{:02x}:{:02x}:01", g / 65536 % 256, g / 256 % 256, g % 256);
        let start = today + 10 * 3_600_000 + rng.random_range(0..12 * 3_600_000i64);
        sqlx::query(
            "INSERT INTO station_visits (station, device_id, interface, joined_at, left_at, zone) \
             VALUES (?1, ?2, 'wlan0', ?3, ?4, (SELECT zone FROM access_points WHERE device_id = ?2))",
        )
        .bind(station)
        .bind(format!("ap-{}", rng.random_range(0..aps)))
        .bind(start)
        .bind(start + rng.random_range(60_000..5_400_000i64))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let mut roll = Vec::new();
    let mut cells = 0;
    for _ in 0..20 {
        let t = Instant::now();
        cells = footfall::roll_day(&db, today, offset).await?.len();
        roll.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "# footfall at a busy site: {visits} station visits today over {aps} APs in {} zones, {} sessions before",
        zones.len(),
        guests * 45
    );
    println!("rolling today up ({cells} aggregates): {}", p50_max(roll));
    for days in [1, 30, 365] {
        let range = Range::last_days(days, offset);
        let mut read = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let f = Footfall::of(&footfall::summed(&db, &range).await?);
            let _ = f.heat_svg();
            read.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("reading {days} day(s) of footfall with its heat picture: {}", p50_max(read));
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
