//! Chain statistics at a chain's size, on a throwaway PostgreSQL (fsync on).
//!
//! 1. Pages: a year of a `--sites` chain (default 100, in 10 regions) as
//!    the roller leaves it in `hq_stats`: every site-day's figures at the
//!    traffic of `--sessions` sessions a year (default 20 million, about 550
//!    a site-day) with five events a session (about 100 million), and the
//!    regions' and the brand's rows their sums. Then each statistics page's
//!    work (`stats::figures`, `stats::sites_compared`, `stats::promotion`
//!    and the page's charts) for the brand, a region and a site, over
//!    today, 7, 30 and 365 days: p50, p95 and max of `--rounds` (default
//!    50) each.
//! 2. The roller: `--feeding` sites (default 1,000) each filing a batch of
//!    facts (a login, a view with its impressions, a tap, an end) every
//!    `--every-ms` (default 2,000) through `Db::file_facts`, as HQ files a
//!    site's batch, for `--seconds` (default 60) while the roller runs:
//!    facts landed and rolled a second, the queue's deepest, and how long
//!    it takes to empty once the feeding stops.
//!
//! `hq-stats-bench [--sites 100] [--sessions 20000000] [--rounds 50]
//!  [--feeding 1000] [--every-ms 2000] [--seconds 60]`

use controller::hq::protocol::WireFact;
use controller::kit::time::now_ms;
use controller::members::outbox::Fact;
use controller::members::Who;
use controller::stats::{bar_chart, Range};
use guestwifi_hq::db::{Db, SiteRef};
use guestwifi_hq::{rollup, stats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0)
}

const BRAND: &str = "bench";
const ZONE: i64 = 8;

/// A site-day's figures as (what, key, mean share of a day's logins):
/// each row's value is drawn around `logins * share`.
const SHAPE: &[(&str, &str, f64)] = &[
    ("logins", "", 1.0),
    ("views", "", 1.6),
    ("refusals", "", 0.05),
    ("visits_ended", "", 0.98),
    ("dwell_ms", "", 0.98 * 2_700_000.0),
    ("guests", "new", 0.25),
    ("guests", "elsewhere", 0.1),
    ("guests", "returning", 0.5),
];

/// Writes a year of figures up to today: the sites' rows drawn in SQL,
/// the regions' and the brand's their sums.
async fn a_year(db: &Db, sites: u64, sessions: u64) -> anyhow::Result<()> {
    let today = rollup::day_of(now_ms(), ZONE);
    let per_site_day = sessions as f64 / sites as f64 / 365.0;
    let mut keyed: Vec<(String, String, f64)> =
        SHAPE.iter().map(|(w, k, s)| (w.to_string(), k.to_string(), *s)).collect();
    for (m, s) in [("countdown", 0.35), ("sms", 0.25), ("wechat", 0.3), ("voucher", 0.05), ("card", 0.05)] {
        keyed.push(("method".into(), m.into(), s));
    }
    for h in 0..24 {
        let busy = if (11..14).contains(&h) || (17..21).contains(&h) { 0.12 } else { 0.01 };
        keyed.push(("hour".into(), format!("{h:02}"), busy));
    }
    for (b, s) in [("0-15", 0.2), ("15-30", 0.2), ("30-60", 0.3), ("60-120", 0.2), ("120+", 0.08)] {
        keyed.push(("dwell".into(), b.into(), s));
    }
    for r in ["sms:wrong_code", "voucher:used", "voucher:unknown", "card:wrong_pin"] {
        keyed.push(("refusal".into(), r.into(), 0.0125));
    }
    for p in 0..10 {
        keyed.push(("promotion_impression".into(), format!("promo-{p}"), 1.6));
        keyed.push(("promotion_click".into(), format!("promo-{p}"), 0.08));
    }
    for a in 0..3 {
        keyed.push(("ad_impression".into(), format!("https://ads.example/{a}"), 0.9));
        keyed.push(("ad_click".into(), format!("https://ads.example/{a}"), 0.02));
    }
    for d in 0..30 {
        keyed.push(("dish_impression".into(), format!("dish-{d}"), 1.6 / (d as f64 + 1.0)));
    }
    let shape: Vec<String> =
        keyed.iter().map(|(w, k, s)| format!("('{w}', '{}', {})", k.replace('\'', "''"), s * per_site_day)).collect();
    sqlx::query("DELETE FROM hq_stats WHERE brand_id = $1").bind(BRAND).execute(db.pool()).await?;
    let sql = format!(
        "INSERT INTO hq_stats (brand_id, scope, what, day, key, n) \
         SELECT '{BRAND}', 'site:s' || s, w.what, d, w.key, GREATEST(0, round(w.mean * (0.6 + 0.8 * random())))::BIGINT \
         FROM generate_series(1, {sites}) AS s, generate_series({first}, {today}) AS d, (VALUES {values}) AS w(what, key, mean)",
        first = today - 364,
        values = shape.join(", ")
    );
    sqlx::query(&sql).execute(db.pool()).await?;
    for (scope, of) in
        [("'region:r' || (substr(scope, 7)::INT % 10)", "scope LIKE 'site:%'"), ("'brand'", "scope LIKE 'region:%'")]
    {
        let sql = format!(
            "INSERT INTO hq_stats (brand_id, scope, what, day, key, n) \
             SELECT brand_id, {scope}, what, day, key, SUM(n)::BIGINT FROM hq_stats WHERE brand_id = '{BRAND}' AND {of} \
             GROUP BY 1, 2, 3, 4, 5"
        );
        sqlx::query(&sql).execute(db.pool()).await?;
    }
    // As autovacuum leaves a table a year old: its visibility map set, so
    // the key index answers alone.
    sqlx::query("VACUUM ANALYZE hq_stats").execute(db.pool()).await?;
    Ok(())
}

/// A page's work: its queries and its charts.
async fn page(db: &Db, which: &str, scope: &str, range: &Range, sites: &[String]) -> anyhow::Result<()> {
    match which {
        "figures" => {
            let f = stats::figures(db, BRAND, scope, range).await?;
            let days: Vec<(String, i64)> = f.days.iter().map(|d| (d.date.clone(), d.logins)).collect();
            let hours: Vec<(String, i64)> = f.hours.iter().enumerate().map(|(h, n)| (h.to_string(), *n)).collect();
            std::hint::black_box((bar_chart("", &days), bar_chart("", &hours), bar_chart("", &f.methods)));
        }
        "sites" => {
            let rows = stats::sites_compared(db, BRAND, sites, range).await?;
            let bars: Vec<(String, i64)> = rows.iter().take(20).map(|r| (r.site.clone(), r.logins)).collect();
            std::hint::black_box(bar_chart("", &bars));
        }
        _ => {
            std::hint::black_box(stats::promotion(db, BRAND, "promo-3", range).await?);
        }
    }
    Ok(())
}

async fn pages(db: &Db, sites: u64, rounds: u64) -> anyhow::Result<f64> {
    let all: Vec<String> = (1..=sites).map(|s| format!("s{s}")).collect();
    let region: Vec<String> = (1..=sites).filter(|s| s % 10 == 3).map(|s| format!("s{s}")).collect();
    let mut worst = 0f64;
    println!("{:<10} {:<12} {:>5} {:>9} {:>9} {:>9}", "page", "scope", "days", "p50 ms", "p95 ms", "max ms");
    for (which, scope, list) in [
        ("figures", "brand", &all),
        ("figures", "region:r3", &region),
        ("figures", "site:s42", &all),
        ("sites", "brand", &all),
        ("sites", "region:r3", &region),
        ("promotion", "brand", &all),
    ] {
        for days in [1, 7, 30, 365] {
            let range = Range::last_days(days, ZONE);
            let mut ms = Vec::new();
            for _ in 0..rounds {
                let start = Instant::now();
                page(db, which, scope, &range, list).await?;
                ms.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            ms.sort_by(f64::total_cmp);
            let p95 = percentile(&ms, 0.95);
            worst = worst.max(p95);
            println!(
                "{which:<10} {scope:<12} {days:>5} {:>9.1} {p95:>9.1} {:>9.1}",
                percentile(&ms, 0.5),
                ms.last().copied().unwrap_or(0.0)
            );
        }
    }
    Ok(worst)
}

/// A batch of one guest's facts at a site: login, a view with its
/// impressions, a tap, the visit's end.
fn batch(n: u64) -> Vec<WireFact> {
    let now = now_ms();
    let mac = format!("02:{:02x}:{:02x}:{:02x}:{:02x}:01", (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255);
    let visit = uuid::Uuid::new_v4().to_string();
    let event = |kind: &str, detail: &str| Fact::Event {
        kind: kind.into(),
        who: None,
        mac: mac.clone(),
        detail: detail.into(),
    };
    [
        Fact::Login {
            visit: visit.clone(),
            who: Who::device(&mac),
            mac: mac.clone(),
            method: "countdown".into(),
            started_at: now,
        },
        event("portal_view", ""),
        event("promotion_impression", "promo-1,promo-2"),
        event("dish_impression", "dish-1,dish-2,dish-3"),
        event("promotion_click", "promo-1"),
        Fact::VisitEnd { visit, ended_at: now + 1_800_000, reason: "idle".into(), bytes_up: 1, zones: String::new() },
    ]
    .iter()
    .map(|f| WireFact { id: uuid::Uuid::new_v4().to_string(), at: now, body: serde_json::to_string(f).unwrap() })
    .collect()
}

async fn feeding(db: &Db, sites: u64, every: Duration, seconds: u64) -> anyhow::Result<()> {
    for s in 0..sites {
        db.add_site("feed", "Feed", &format!("r{}", s % 10), &format!("f{s}"), "site", 1).await?;
    }
    sqlx::query("DELETE FROM hq_rollup_queue").execute(db.pool()).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let landed = Arc::new(AtomicU64::new(0));
    let mut feeders = Vec::new();
    for s in 0..sites {
        let (db, stop, landed) = (db.clone(), stop.clone(), landed.clone());
        let site = SiteRef { brand: "feed".into(), site: format!("f{s}"), region: format!("r{}", s % 10) };
        feeders.push(tokio::spawn(async move {
            // Spread the sites over the period, as real ones are.
            tokio::time::sleep(every.mul_f64(s as f64 / sites as f64)).await;
            let mut tick = tokio::time::interval(every);
            let mut n = s << 20;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let facts = batch(n);
                if let Ok(answer) = db.file_facts(&site, &facts).await {
                    landed.fetch_add(answer.landed as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    let rolled = Arc::new(AtomicU64::new(0));
    let roller = {
        let (db, rolled, stop) = (db.clone(), rolled.clone(), stop.clone());
        tokio::spawn(async move {
            let mut idle_since: Option<Instant> = None;
            loop {
                let n = rollup::roll_once(&db, ZONE, rollup::ROLL_ROWS).await.unwrap_or(0) as u64;
                rolled.fetch_add(n, Ordering::Relaxed);
                if n == 0 && stop.load(Ordering::Relaxed) {
                    return idle_since.map(|t| t.elapsed());
                }
                if n < rollup::ROLL_ROWS as u64 {
                    if stop.load(Ordering::Relaxed) && idle_since.is_none() {
                        idle_since = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
    };
    let start = Instant::now();
    let mut deepest = 0i64;
    while start.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        deepest = deepest.max(rollup::waiting(db).await?);
    }
    let fed = start.elapsed().as_secs_f64();
    let (landed_n, rolled_n) = (landed.load(Ordering::Relaxed), rolled.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    let stopped = Instant::now();
    for f in feeders {
        let _ = f.await;
    }
    let _ = roller.await;
    let drained = stopped.elapsed();
    println!(
        "roller: {sites} sites each a batch of 6 facts every {} ms for {fed:.0} s: {:.0} facts landed/s, {:.0} rolled/s; \
         deepest queue {deepest} rows; empty {:.1} s after the feeding stopped ({} rolled of {} landed)",
        every.as_millis(),
        landed_n as f64 / fed,
        rolled_n as f64 / fed,
        drained.as_secs_f64(),
        rolled.load(Ordering::Relaxed),
        landed.load(Ordering::Relaxed),
    );
    let logins: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(n), 0)::BIGINT FROM hq_stats WHERE brand_id = 'feed' AND scope = 'brand' AND what = 'logins'",
    )
    .fetch_one(db.pool())
    .await?;
    println!("roller: the brand's logins {logins} = batches landed {}", landed.load(Ordering::Relaxed) / 6);
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let (sites, sessions, rounds) = (arg("--sites", 100), arg("--sessions", 20_000_000), arg("--rounds", 50));
    let (feeding_sites, every, seconds) =
        (arg("--feeding", 1000), Duration::from_millis(arg("--every-ms", 2000)), arg("--seconds", 60));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("hq-stats-bench runs PostgreSQL as the postgres user: run it as root");
        std::process::exit(2);
    }
    sqlx::any::install_default_drivers();
    let _pg = lab::pg::Postgres::start_with("stats-bench", None, "", 200, true);
    let config = guestwifi_hq::config::Database {
        url: _pg.local_url(),
        password_file: None,
        ca_file: None,
        max_connections: 40,
    };
    let db = Db::connect(&config)?;
    db.migrate().await?;
    let start = Instant::now();
    a_year(&db, sites, sessions).await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hq_stats").fetch_one(db.pool()).await?;
    println!(
        "a year of {sites} sites at {sessions} sessions a year: {rows} figure rows written in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let worst = pages(&db, sites, rounds).await?;
    println!("worst page p95: {worst:.1} ms (goal < 300 ms)");
    feeding(&db, feeding_sites, every, seconds).await?;
    Ok(())
}
