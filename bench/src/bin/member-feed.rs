//! The member feed under a chain's load: 100 simulated sites, each with its
//! own appliance store (SQLite, migrated as the controller's) and its own
//! feed, 20 logins a second each through the real `Sessions::login` (the
//! login row and its outbox fact in one transaction), all into one real
//! PostgreSQL (a throwaway cluster, fsync on).
//!
//! Prints: events landed a second in steady state, p50/p99 lag from login to
//! row, bytes a stored event (the events table with its indexes, and the
//! whole store), then the backlog after the server has been stopped for
//! `--cut-seconds` (default 600) and how fast it drains once it is back.
//!
//! `member-feed-bench [--sites 100] [--rate 20] [--steady-seconds 60] [--cut-seconds 600]`

use controller::auth::{Bandwidth, Grant, Identity, Method};
use controller::config::MembersSettings;
use controller::members::feed::Feed;
use controller::members::Store;
use controller::sessions::Sessions;
use firewall::{Client, MemoryFilter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Site {
    sessions: Sessions,
    feed: Feed,
    local: sqlx::SqlitePool,
}

#[tokio::main]
async fn main() {
    let sites = arg("--sites", 100) as usize;
    let rate = arg("--rate", 20);
    let steady = Duration::from_secs(arg("--steady-seconds", 60));
    let cut = Duration::from_secs(arg("--cut-seconds", 600));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("member-feed-bench runs PostgreSQL as the postgres user: run it as root");
        std::process::exit(2);
    }
    let mut pg = lab::pg::Postgres::start_with("bench", None, "", 400, true);
    let mut settings: MembersSettings = toml_members();
    settings.url = pg.local_url();
    settings.brand = "bench".into();

    let mut all = Vec::new();
    for n in 0..sites {
        let local = controller::store::memory().await.expect("local store");
        let mut s = settings.clone();
        s.site = format!("site-{n}");
        let store = Store::connect(&s, std::path::Path::new("/nonexistent")).expect("store");
        let feed = Feed::new(store, local.clone(), 500, (String::new(), s.site.clone(), String::new()));
        let sessions = Sessions::new(local.clone(), Arc::new(MemoryFilter::default()), None);
        all.push(Site { sessions, feed, local });
    }
    for site in &all {
        tokio::spawn(site.feed.clone().run());
    }
    let ready = Instant::now();
    for site in &all {
        while !site.feed.status().await.expect("status").feed.ready {
            assert!(ready.elapsed() < Duration::from_secs(120), "store not ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!("member-feed-bench: {sites} sites x {rate} logins/s into one PostgreSQL (fsync on)");

    // Every site logs guests in at `rate` a second until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut generators = Vec::new();
    for (n, site) in all.iter().enumerate() {
        let sessions = site.sessions.clone();
        let stop = stop.clone();
        generators.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let mut k: u64 = 0;
            let mut done = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                k += 1;
                let mac = format!(
                    "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    n,
                    k >> 24 & 0xff,
                    k >> 16 & 0xff,
                    k >> 8 & 0xff,
                    k & 0xff
                );
                let ip = format!("10.{}.{}.{}", n % 256, (k >> 8) % 256, k % 256);
                let client = Client { mac: mac.parse().unwrap(), ip: ip.parse().unwrap() };
                let identity = if k % 4 == 0 {
                    Identity::Phone(format!("+861{:02}{:08}", 30 + n % 60, k))
                } else {
                    Identity::Device(mac)
                };
                let grant = Grant {
                    method: if k % 4 == 0 { Method::Sms } else { Method::Countdown },
                    identity,
                    duration: Duration::from_secs(3600),
                    bandwidth: Bandwidth::default(),
                };
                if sessions.login(client, grant).await.is_ok() {
                    done += 1;
                }
            }
            done
        }));
    }

    // Steady state.
    let count = |sql: &'static str| {
        let pool = pg_pool(&pg);
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.expect("count") }
    };
    tokio::time::sleep(Duration::from_secs(5)).await; // warm-up
    let (t0, e0) = (Instant::now(), count("SELECT COUNT(*) FROM events").await);
    tokio::time::sleep(steady).await;
    let (t1, e1) = (Instant::now(), count("SELECT COUNT(*) FROM events").await);
    let landed = (e1 - e0) as f64 / (t1 - t0).as_secs_f64();
    let pool = pg_pool(&pg);
    let (p50, p99): (f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY landed_at - at)::float8, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY landed_at - at)::float8 FROM events WHERE kind = 'login'",
    )
    .fetch_one(&pool)
    .await
    .expect("lag");
    let (events, table_bytes, db_bytes): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM events), pg_total_relation_size('events'), pg_database_size(current_database())",
    )
    .fetch_one(&pool)
    .await
    .expect("sizes");
    println!(
        "  steady {:.0} s: {landed:.0} events/s landed (offered {} logins/s)",
        (t1 - t0).as_secs_f64(),
        sites as u64 * rate
    );
    println!("  lag login -> row: p50 {p50:.0} ms, p99 {p99:.0} ms");
    println!(
        "  bytes an event: {:.0} (events table with indexes), {:.0} (whole store: members, identities, visits too)",
        table_bytes as f64 / events as f64,
        db_bytes as f64 / events as f64
    );
    drop(pool);

    // The server goes away for `cut`; logins go on.
    pg.stop_server();
    let cut_start = Instant::now();
    tokio::time::sleep(cut).await;
    let mut backlog = 0;
    for site in &all {
        backlog += site.feed.status().await.expect("status").backlog.waiting;
    }
    let mut delivered_before = 0;
    for site in &all {
        delivered_before += site.feed.status().await.expect("status").feed.delivered;
    }
    pg.start_server();
    let back = Instant::now();
    println!(
        "  cut {:.0} s: {backlog} facts waiting in {sites} outboxes; logins went on",
        cut_start.elapsed().as_secs_f64()
    );
    stop.store(true, Ordering::Relaxed);
    let mut logins = 0;
    for g in generators {
        logins += g.await.expect("generator");
    }
    let mut first: Option<Instant> = None;
    loop {
        let (mut waiting, mut delivered) = (0, 0);
        for site in &all {
            let status = site.feed.status().await.expect("status");
            waiting += status.backlog.waiting;
            delivered += status.feed.delivered;
        }
        if first.is_none() && delivered > delivered_before {
            first = Some(Instant::now());
        }
        if waiting == 0 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(3600), "did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = back.elapsed();
    let first = first.unwrap_or(back);
    let draining = drained.saturating_sub(first.duration_since(back));
    println!(
        "  drained in {:.1} s after the server came back ({:.1} s of it the feeds' backoff): {:.0} facts/s while draining",
        drained.as_secs_f64(),
        first.duration_since(back).as_secs_f64(),
        backlog as f64 / draining.as_secs_f64().max(0.001)
    );
    let pool = pg_pool(&pg);
    let visits: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM visits").fetch_one(&pool).await.expect("visits");
    let local: i64 = {
        let mut n = 0;
        for site in &all {
            n += sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
                .fetch_one(&site.local)
                .await
                .expect("local");
        }
        n
    };
    println!(
        "  {logins} logins, {local} sessions rows, {visits} visits in the store (each login exactly once: {})",
        visits == local
    );
}

fn pg_pool(pg: &lab::pg::Postgres) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new().max_connections(1).connect_lazy(&pg.local_url()).expect("pool")
}

fn toml_members() -> MembersSettings {
    controller::config::Config::parse(include_str!("../../../image/controller.example.toml"), "example", Vec::new())
        .expect("example config")
        .members
}
