//! Headquarters under a chain's load: `--sites` simulated enrolled sites
//! (default 1,000), each with its own appliance store (SQLite in memory,
//! migrated as the controller's), its own outbox (a login's fact put in as
//! the sessions put it, `outbox::push`), its own feed
//! delivering to HQ over real mutual TLS with its own certificate, and its
//! own bundle long-poll; two replicas of the real
//! `guestwifi-hq` (release build, beside this binary) on one PostgreSQL
//! (a throwaway cluster, fsync on). Sites alternate between the replicas,
//! as a load balancer would spread them.
//!
//! Prints: facts landed a second, p50/p99 lag login -> row in PostgreSQL,
//! publish -> every site has the new bundle (p50/p99/max), each replica's
//! CPU and peak RSS, and after both replicas are down `--cut-seconds`
//! (default 600) while logins go on, how long the outboxes take to drain.
//!
//! `hq-bench [--sites 1000] [--rate 2] [--steady-seconds 60] [--cut-seconds 600]`

use controller::hq::client::Client;
use controller::hq::site::Identity as Enrolled;
use controller::members::feed::{Feed, Sink};
use controller::members::outbox::{self, Fact};
use controller::members::{Store, Who};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A replica's CPU seconds so far and its peak RSS, MiB.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (ticks / hz, hwm / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0)
}

/// Each site's newest bundle version and when it came.
type Seen = Vec<Mutex<(String, Option<Instant>)>>;

struct Site {
    local: sqlx::SqlitePool,
    _feed: Feed,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sites = arg("--sites", 1000) as usize;
    let rate = arg("--rate", 2);
    let steady = Duration::from_secs(arg("--steady-seconds", 60));
    let cut = Duration::from_secs(arg("--cut-seconds", 600));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("hq-bench runs PostgreSQL as the postgres user: run it as root");
        std::process::exit(2);
    }
    let exe = std::env::current_exe().expect("own path").with_file_name("guestwifi-hq");
    assert!(exe.exists(), "{} is missing: cargo build --release -p guestwifi-hq", exe.display());
    let mut hq = lab::hq::Hq::new("bench", &exe, &["127.0.0.1"], true);
    // Every simulated site comes from 127.0.0.1: the per-address cap is for
    // real sites, each behind its own address.
    hq.env.push(("GUESTWIFI_HQ_SERVER__MAX_CONNECTIONS_PER_ADDRESS".into(), "100000".into()));
    let urls = ["https://127.0.0.1:28443", "https://127.0.0.1:28444"];
    hq.start_replica(None, "127.0.0.1:28443", "127.0.0.1:29465");
    hq.start_replica(None, "127.0.0.1:28444", "127.0.0.1:29466");

    // Enrol every site: the admin's add, then the site's own join.
    let root = PathBuf::from("/tmp/guestwifi-hq-bench");
    let _ = std::fs::remove_dir_all(&root);
    let started = Instant::now();
    let db = lab_db(&hq);
    let mut codes = Vec::new();
    for n in 0..sites {
        let region = format!("r{}", n % 10);
        let (claim, _) =
            db.add_site("bench", "Bench", &region, &format!("s{n}"), &format!("Site {n}"), 24).await.expect("site");
        codes.push(claim.display());
    }
    let mut joins = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    for (n, code) in codes.into_iter().enumerate() {
        let dir = root.join(format!("s{n}"));
        let gate = gate.clone();
        let url = urls[n % 2];
        joins.spawn(async move {
            let _one = gate.acquire().await;
            std::fs::create_dir_all(&dir).unwrap();
            controller::hq::join::join(url, &code, &dir, false).await.expect("join");
        });
    }
    while joins.join_next().await.is_some() {}
    println!(
        "hq-bench: {sites} sites enrolled in {:.1} s (claim, key, proof, certificate each)",
        started.elapsed().as_secs_f64()
    );

    // Each site: its store, its outbox, its feed to HQ, its bundle long-poll.
    let seen: Arc<Seen> = Arc::new((0..sites).map(|_| Mutex::new((String::new(), None))).collect());
    let mut all = Vec::new();
    for n in 0..sites {
        let dir = root.join(format!("s{n}"));
        let identity = Enrolled::load(&dir).expect("enrolment").expect("enrolled");
        let client = Client::new(&identity).expect("client");
        let local = controller::store::memory().await.expect("local store");
        let settings =
            controller::config::MembersSettings { brand: "bench".into(), site: format!("s{n}"), ..Default::default() };
        let store = Store::connect(&settings, &dir).expect("store").with_remote(Arc::new(client.clone()));
        let feed =
            Feed::new(store, local.clone(), 500, Default::default()).with_sink(Sink::Hq(Arc::new(client.clone())));
        tokio::spawn(feed.clone().run());
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut have: Option<String> = None;
            loop {
                match client.bundle(have.as_deref(), Duration::from_secs(25)).await {
                    Ok(Some(bundle)) => {
                        *seen[n].lock().unwrap() = (bundle.version.clone(), Some(Instant::now()));
                        have = Some(bundle.version);
                    }
                    Ok(None) => {}
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        });
        all.push(Site { local, _feed: feed });
    }

    // Every site logs guests in at `rate` a second until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let pushed = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut generators = Vec::new();
    for (n, site) in all.iter().enumerate() {
        let local = site.local.clone();
        let stop = stop.clone();
        let pushed = pushed.clone();
        generators.push(tokio::spawn(async move {
            // Spread the sites' ticks over the second.
            tokio::time::sleep(Duration::from_micros((n as u64 * 7919) % 1_000_000)).await;
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let mut k: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                k += 1;
                let mac = format!(
                    "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    n >> 8,
                    n & 0xff,
                    k >> 16 & 0xff,
                    k >> 8 & 0xff,
                    k & 0xff
                );
                let at = controller::kit::time::now_ms();
                let fact = Fact::Login {
                    visit: uuid::Uuid::new_v4().to_string(),
                    who: Who::device(&mac),
                    mac: mac.clone(),
                    method: "countdown".into(),
                    started_at: at,
                };
                let mut tx = local.begin().await.expect("begin");
                outbox::push(&mut tx, at, &format!("device:{mac}"), &fact).await.expect("outbox");
                tx.commit().await.expect("commit");
                pushed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let pool = pg_pool(&hq);
    let count = || {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events").fetch_one(&pool).await.expect("count") }
    };
    eprintln!("  {} s: every site runs; warming up", started.elapsed().as_secs());
    tokio::time::sleep(Duration::from_secs(10)).await; // warm-up: the feeds' first tries
    let cpu0: Vec<(f64, f64)> = (0..2).map(|i| usage(hq.pid(i).unwrap())).collect();
    let (t0, e0) = (Instant::now(), count().await);
    let since = controller::kit::time::now_ms();
    tokio::time::sleep(steady).await;
    let (t1, e1) = (Instant::now(), count().await);
    let cpu1: Vec<(f64, f64)> = (0..2).map(|i| usage(hq.pid(i).unwrap())).collect();
    let secs = (t1 - t0).as_secs_f64();
    let (p50, p99): (f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY landed_at - at)::float8, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY landed_at - at)::float8 FROM events \
         WHERE kind = 'login' AND at >= $1",
    )
    .bind(since)
    .fetch_one(&pool)
    .await
    .expect("lag");
    println!(
        "  steady {secs:.0} s: {:.0} facts/s landed (offered {} logins/s)",
        (e1 - e0) as f64 / secs,
        sites as u64 * rate
    );
    println!("  lag login -> row in PostgreSQL: p50 {p50:.0} ms, p99 {p99:.0} ms");
    for i in 0..2 {
        println!(
            "  replica {i}: {:.0}% of a core, peak RSS {:.0} MiB",
            (cpu1[i].0 - cpu0[i].0) / secs * 100.0,
            cpu1[i].1
        );
    }

    // A publish for the whole brand: how long until every site has it.
    let promotion = r#"[{"id":"p1","title_zh":"冬至","title_en":"","body_zh":"","body_en":"","image":null}]"#;
    let before: Vec<String> = seen.iter().map(|s| s.lock().unwrap().0.clone()).collect();
    let published = Instant::now();
    hq.publish("bench", "brand", "promotions", promotion).expect("publish");
    loop {
        let waiting = seen.iter().zip(&before).filter(|(s, b)| s.lock().unwrap().0 == **b).count();
        if waiting == 0 {
            break;
        }
        assert!(published.elapsed() < Duration::from_secs(120), "{waiting} sites never got the publish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut delays: Vec<f64> = seen
        .iter()
        .map(|s| s.lock().unwrap().1.map_or(0.0, |at| at.saturating_duration_since(published).as_secs_f64() * 1000.0))
        .collect();
    delays.sort_by(f64::total_cmp);
    println!(
        "  publish -> every site has it: p50 {:.0} ms, p99 {:.0} ms, last {:.0} ms (the command's own start included)",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(0.0)
    );

    // Both replicas gone for `cut`; logins go on; then back.
    hq.kill(0);
    hq.kill(1);
    tokio::time::sleep(cut).await;
    let logins = || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE kind = 'login'")
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    let backlog = pushed.load(Ordering::Relaxed) - logins().await;
    hq.restart(0);
    hq.restart(1);
    let back = Instant::now();
    println!("  HQ down {:.0} s: {backlog} facts waiting in {sites} outboxes; logins went on", cut.as_secs_f64());
    stop.store(true, Ordering::Relaxed);
    for g in generators {
        let _ = g.await;
    }
    loop {
        if logins().await >= pushed.load(Ordering::Relaxed) {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(1800), "did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("  drained in {:.1} s after HQ came back", back.elapsed().as_secs_f64());
    let (events, visits): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM events WHERE kind = 'login'), (SELECT COUNT(*) FROM visits)")
            .fetch_one(&pool)
            .await
            .expect("counts");
    let pushed = pushed.load(Ordering::Relaxed);
    println!(
        "  {events} login events, {visits} visits, {pushed} logins queued at the sites (each once: {})",
        events == visits && visits == pushed
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn pg_pool(hq: &lab::hq::Hq) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new().max_connections(2).connect_lazy(&hq.pg.local_url()).expect("pool")
}

fn lab_db(hq: &lab::hq::Hq) -> guestwifi_hq::db::Db {
    let url = hq.pg.local_url().replace(&format!(":{}@", lab::pg::PASSWORD), "@");
    guestwifi_hq::db::Db::connect(&guestwifi_hq::config::Database {
        url,
        password_file: Some(hq.dir.join("db-password")),
        ca_file: None,
        max_connections: 4,
    })
    .expect("db")
}
