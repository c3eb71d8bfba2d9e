//! Data-path benchmark (root; builds its own namespaces, sends nothing
//! outside them). `datapath-bench [--clients N] [--rounds R] [parts]`: N
//! live guests (default 10,000), each figure R times (default 3) so it is
//! shown as min/median/max. Prints:
//!  (a) what a guest waits for: `Sessions::login` -> its first packet
//!      forwarded upstream, with N guests logged in and the daemon's sweep
//!      running (3,000 logins a round), and the login call alone;
//!  (b) full logins per second (SQLite row + kernel element) with N live
//!      guests and the sweep running, and how many failed; the firewall's
//!      authorisations alone;
//!  (c) portal redirects per second from a guest namespace (wrk);
//!  (d) the controller with N live sessions: RSS after the start's restore,
//!      and a flushed ruleset back (every session in the kernel again);
//!  (e) forwarding with 10,000 shaped clients vs no filter;
//!  (f) forwarding with 10,000 guests each in its own source-port block vs
//!      plain masquerade, and an authorisation's cost with its block.
//!
//! Run: `cargo run --release -p bench` (after `cargo build --release --bins`).

use firewall::{Client, ClientFilter, Firewall, MacAddr};
use lab::Lab;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PREFIX: &str = "bench";
const GUEST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const SINK_PORT: u16 = 9999;
/// Logins timed in a round of (a): enough that a p99 is 30 samples.
const TRIALS: usize = 3_000;
/// Logins in a round of (b).
const BURST: u32 = 20_000;

/// What to run: `--clients N`, `--rounds R`, then parts (none: all).
struct Args {
    clients: u32,
    rounds: usize,
    only: Vec<String>,
}

fn args() -> Args {
    let mut out = Args { clients: 10_000, rounds: 3, only: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |what: &str| -> u64 {
            it.next().and_then(|v| v.replace([',', '_'], "").parse().ok()).unwrap_or_else(|| {
                eprintln!("{what} takes a number");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--clients" => out.clients = number("--clients").max(10) as u32,
            "--rounds" => out.rounds = number("--rounds").max(1) as usize,
            _ => out.only.push(arg),
        }
    }
    out
}

/// "min / median / max" of `figures`, each written by `show`.
fn spread<T: Copy + PartialOrd>(figures: &[T], show: impl Fn(T) -> String) -> String {
    let mut sorted = figures.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let (lo, mid, hi) = (sorted[0], sorted[sorted.len() / 2], sorted[sorted.len() - 1]);
    format!("{} / {} / {}", show(lo), show(mid), show(hi))
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the benchmark builds network namespaces and needs root");
        std::process::exit(2);
    }
    let exe = controller_exe();
    let dir = PathBuf::from("/tmp/guestwifi-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let lab = Lab::create(PREFIX, 1, &dir, &exe.with_file_name("guestwifi-lab")).expect("lab");
    let g = lab.guest(1);
    sh(&["ip", "-n", &g, "addr", "add", &format!("{GUEST_IP}/24"), "dev", "eth0"]);
    sh(&["ip", "-n", &g, "route", "add", "default", "via", "192.0.2.1"]);
    // A static neighbour entry, as if the guest had talked to us already.
    sh(&[
        "ip",
        "-n",
        &lab.appliance(),
        "neigh",
        "replace",
        &GUEST_IP.to_string(),
        "lladdr",
        &lab::guest_mac(1),
        "dev",
        lab::GUEST_INTERFACE,
        "nud",
        "permanent",
    ]);

    println!(
        "# guest Wi-Fi data-path benchmark ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // `datapath-bench --clients 100000 a b` runs only those parts at that size.
    let Args { clients, rounds, only } = args();
    let run = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    println!("# {clients} live guests; each figure {rounds} times, min / median / max");
    if run("a") {
        let rounds = login_latency(&lab, clients, rounds);
        let at = |i: usize| rounds.iter().map(|r| ms(r[i])).collect::<Vec<f64>>();
        let show = |v: f64| format!("{v:.2}");
        println!(
            "(a) login -> first forwarded packet, {clients} guests logged in, {TRIALS} logins a round: p50 {} ms, p99 {} ms; the login call alone p50 {} ms, p99 {} ms",
            spread(&at(0), show), spread(&at(1), show), spread(&at(2), show), spread(&at(3), show)
        );
    }
    if run("b") {
        let (fw_rates, rates, failed) = login_rates(&lab, clients, rounds);
        println!(
            "(b) full logins/s (SQLite + kernel) with {clients} live guests and the sweep running: {}/s ({failed} of {} failed); the firewall's authorisations alone {}/s",
            spread(&rates, |r| format!("{r:.0}")),
            BURST as usize * rounds,
            spread(&fw_rates, |r| format!("{r:.0}"))
        );
    }
    if run("c") {
        let redirects = redirects(&lab, &exe);
        println!("(c) portal redirects/s from a guest namespace: {redirects}");
    }
    if run("e") {
        let (shaped, plain) = forwarding(&lab);
        println!(
            "(e) forwarding throughput, one TCP stream guest <- upstream: 10,000 authorised clients with limits on {:.2} Gbit/s; no filter {:.2} Gbit/s; ratio {:.2}",
            shaped / 1e9,
            plain / 1e9,
            shaped / plain
        );
    }
    if run("f") {
        for round in 1..=2 {
            let plain = port_blocks(&lab, false);
            let blocks = port_blocks(&lab, true);
            println!(
                "(f) round {round}: one TCP stream guest <- upstream with 10,000 logged-in guests: each in its own port block {:.2} Gbit/s, plain masquerade {:.2} Gbit/s, ratio {:.2}; an authorisation (with its block) p50 {:.3} ms p99 {:.3} ms vs p50 {:.3} ms p99 {:.3} ms without",
                blocks.0 / 1e9,
                plain.0 / 1e9,
                blocks.0 / plain.0,
                ms(blocks.1 .0),
                ms(blocks.1 .1),
                ms(plain.1 .0),
                ms(plain.1 .1)
            );
        }
    }
    if run("d") {
        let rss = rss_with_sessions(&lab, &exe, clients, rounds);
        println!("(d) controller with {clients} live sessions: {rss}");
    }
    drop(lab);
}

/// (a): a guest sends a UDP packet every 50 µs towards the upstream; with
/// `clients - 1` others logged in and the daemon's sweep running, each
/// trial logs it in (`Sessions::login`: the row, the kernel element) and
/// times to the first packet arriving upstream, then logs it out. Per
/// round: [p50, p99] of login -> packet, [p50, p99] of the login call.
fn login_latency(lab: &Lab, clients: u32, rounds: usize) -> Vec<[Duration; 4]> {
    let arrived = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (arrived, stop) = (arrived.clone(), stop.clone());
        in_netns(&lab.upstream(), move || {
            let sock = UdpSocket::bind(("203.0.113.10", SINK_PORT)).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            let mut buf = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                if sock.recv(&mut buf).is_ok() {
                    let now = epoch.elapsed().as_nanos() as u64;
                    let _ = arrived.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
                }
            }
        });
    }
    {
        let stop = stop.clone();
        in_netns(&lab.guest(1), move || {
            let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
            let to = SocketAddr::from(([203, 0, 113, 10], SINK_PORT));
            while !stop.load(Ordering::Relaxed) {
                let _ = sock.send_to(b"probe", to);
                std::thread::sleep(Duration::from_micros(50));
            }
        });
    }
    let guest = Client { mac: lab::guest_mac(1).parse().unwrap(), ip: IpAddr::V4(GUEST_IP) };
    let dir = fresh_dir(lab, "latency-db");
    let result = with_sessions(lab, dir, clients - 1, move |sessions| async move {
        let mut out = Vec::new();
        for _ in 0..rounds {
            let mut samples = Vec::with_capacity(TRIALS);
            let mut calls = Vec::with_capacity(TRIALS);
            for _ in 0..TRIALS {
                arrived.store(0, Ordering::SeqCst);
                let t0 = epoch.elapsed().as_nanos() as u64;
                sessions.login(guest, grant(guest)).await.expect("the guest's login");
                calls.push(Duration::from_nanos(epoch.elapsed().as_nanos() as u64 - t0));
                let deadline = Instant::now() + Duration::from_secs(1);
                let t1 = loop {
                    let t1 = arrived.load(Ordering::SeqCst);
                    if t1 >= t0 {
                        break t1;
                    }
                    assert!(Instant::now() < deadline, "no packet got through");
                    // The receiver stamps the arrival itself: waiting here
                    // need not spin, and must not starve the firewall's thread.
                    tokio::time::sleep(Duration::from_micros(20)).await;
                };
                samples.push(Duration::from_nanos(t1 - t0));
                sessions.logout(guest).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples.sort();
            calls.sort();
            let pct = |v: &[Duration], p: usize| v[v.len() * p / 100];
            eprintln!(
                "    round: login -> packet p50 {:.2} ms p99 {:.2} ms max {:.2} ms; login call p50 {:.2} ms p99 {:.2} ms",
                ms(pct(&samples, 50)),
                ms(pct(&samples, 99)),
                ms(samples[samples.len() - 1]),
                ms(pct(&calls, 50)),
                ms(pct(&calls, 99))
            );
            out.push([pct(&samples, 50), pct(&samples, 99), pct(&calls, 50), pct(&calls, 99)]);
        }
        out
    });
    stop.store(true, Ordering::Relaxed);
    result
}

/// (b): with `clients` guests logged in and the sweep running, [`BURST`]
/// new guests log in, 256 at a time, and log out again (untimed) before the
/// next round. Then the firewall alone: the same number of authorisations.
/// Returns each round's rates and how many logins failed in all.
fn login_rates(lab: &Lab, clients: u32, rounds: usize) -> (Vec<f64>, Vec<f64>, usize) {
    let dir = fresh_dir(lab, "rate-db");
    let (rates, failed) = with_sessions(lab, dir, clients, move |sessions| async move {
        let sem = Arc::new(tokio::sync::Semaphore::new(256));
        let (mut rates, mut failed) = (Vec::new(), 0);
        for _ in 0..rounds {
            let start = Instant::now();
            let mut tasks = Vec::new();
            for i in clients..clients + BURST {
                let (s, permit) = (sessions.clone(), sem.clone().acquire_owned().await.unwrap());
                tasks.push(tokio::spawn(async move {
                    let result = s.login(fake(i), grant(fake(i))).await;
                    drop(permit);
                    result.map_err(|err| eprintln!("    a login failed: {err:?}")).is_err()
                }));
            }
            for t in tasks {
                failed += usize::from(t.await.unwrap());
            }
            let rate = f64::from(BURST) / start.elapsed().as_secs_f64();
            eprintln!("    round: {rate:.0} logins/s");
            rates.push(rate);
            let mut tasks = Vec::new();
            for i in clients..clients + BURST {
                let (s, permit) = (sessions.clone(), sem.clone().acquire_owned().await.unwrap());
                tasks.push(tokio::spawn(async move {
                    let _ = s.logout(fake(i)).await;
                    drop(permit);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
        (rates, failed)
    });
    let policy = policy();
    let fw_rates = on_netns_runtime(&lab.appliance(), move |rt| {
        rt.block_on(async move {
            let mut rates = Vec::new();
            for _ in 0..rounds {
                let fw = Firewall::start(policy.clone(), &[], guest_lease()).unwrap();
                let start = Instant::now();
                let sem = Arc::new(tokio::sync::Semaphore::new(256));
                let mut tasks = Vec::new();
                for i in 0..BURST {
                    let (fw, permit) = (fw.clone(), sem.clone().acquire_owned().await.unwrap());
                    tasks.push(tokio::spawn(async move {
                        fw.authorize(fake(i), Duration::from_secs(600), firewall::Rate::UNLIMITED).await.unwrap();
                        drop(permit);
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                rates.push(f64::from(BURST) / start.elapsed().as_secs_f64());
                firewall::Firewall::remove_table().unwrap();
            }
            rates
        })
    });
    (fw_rates, rates, failed)
}

/// Runs `flow` in the appliance's namespace on a two-thread runtime (as the
/// daemon's) with a session store in `dir`, the real firewall, `present`
/// guests logged in first and the daemon's sweep running every second
/// (counters every tenth); then removes the table.
fn with_sessions<T: Send + 'static, F: std::future::Future<Output = T> + Send + 'static>(
    lab: &Lab,
    dir: PathBuf,
    present: u32,
    flow: impl FnOnce(controller::sessions::Sessions) -> F + Send + 'static,
) -> T {
    let policy = policy();
    let ns = lab.appliance();
    std::thread::spawn(move || {
        enter(&ns);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let fw = Firewall::start(policy, &[], guest_lease()).unwrap();
            let db = controller::store::open(&dir).await.unwrap();
            let filter: Arc<dyn ClientFilter> = Arc::new(fw.clone());
            let sessions = controller::sessions::Sessions::new(db, filter, Some(Duration::from_secs(3600)));
            let start = Instant::now();
            let sem = Arc::new(tokio::sync::Semaphore::new(256));
            let mut tasks = Vec::new();
            for i in 0..present {
                let (s, permit) = (sessions.clone(), sem.clone().acquire_owned().await.unwrap());
                tasks.push(tokio::spawn(async move {
                    s.login(fake(i), grant(fake(i))).await.unwrap();
                    drop(permit);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            eprintln!("    {present} guests logged in in {:.1} s", start.elapsed().as_secs_f64());
            let sweeping = sessions.clone();
            let sweep = tokio::spawn(async move {
                let mut n = 0u32;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    n += 1;
                    if let Err(err) = sweeping.sweep(n % 10 == 0, n % 2 == 0).await {
                        eprintln!("    the sweep failed: {err:?}");
                    }
                }
            });
            let out = flow(sessions).await;
            sweep.abort();
            firewall::Firewall::remove_table().unwrap();
            out
        })
    })
    .join()
    .unwrap()
}

/// A countdown login's grant for the device: an hour, no limits.
fn grant(client: Client) -> controller::auth::Grant {
    controller::auth::Grant {
        method: controller::auth::Method::Countdown,
        identity: controller::auth::Identity::Device(client.mac.to_string()),
        duration: Duration::from_secs(3600),
        bandwidth: controller::auth::Bandwidth::default(),
    }
}

fn fresh_dir(lab: &Lab, name: &str) -> PathBuf {
    let dir = lab.dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (c): wrk from the guest namespace against http://example.test/, which the
/// firewall sends to the portal, which answers 302 and closes the connection
/// (so a kept-alive socket never outlives a login): every request is a new
/// connection. The per-guest rate limit and connection cap are raised for
/// this run (one namespace is one guest).
fn redirects(lab: &Lab, exe: &Path) -> String {
    let mut controller = start_controller(
        lab,
        exe,
        &[
            ("GUESTWIFI_PORTAL__REQUESTS_PER_SECOND", "10000000"),
            ("GUESTWIFI_PORTAL__BURST", "10000000"),
            ("GUESTWIFI_PORTAL__MAX_CONNECTIONS_PER_DEVICE", "1000"),
        ],
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.guest(1), "wrk", "-t2", "-c64", "-d10s", "--latency", "http://example.test/"])
        .output()
        .expect("wrk (Debian package wrk)");
    stop(&mut controller);
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text.lines().find(|l| l.starts_with("Requests/sec")).unwrap_or("Requests/sec: ?").trim().to_string();
    let p99 = text.lines().find(|l| l.trim_start().starts_with("99%")).unwrap_or("").trim().to_string();
    let non3xx = text.lines().find(|l| l.contains("Non-2xx or 3xx")).map(str::trim).unwrap_or("all 3xx");
    format!("{rps} (latency p99 {p99}; {non3xx})")
}

/// (d): `n` live sessions in the store, restored into the kernel at start
/// (RSS after that and after the first idle sweep has read every counter);
/// then `nft flush ruleset`, `rounds` times: how long until the last
/// session's element (and sixteen spread over the others) is in the kernel
/// again (the daemon looks every 100 ms), and the peak RSS over all of it.
fn rss_with_sessions(lab: &Lab, exe: &Path, n: u32, rounds: usize) -> String {
    let data = lab.dir.join("data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = controller::store::open(&data).await.unwrap();
        let now = controller::kit::time::now_ms();
        let mut tx = db.begin().await.unwrap();
        for i in 0..n {
            let c = fake(i);
            sqlx::query("INSERT INTO sessions (mac, ip, method, started_at, expires_at, last_seen_at) VALUES (?, ?, 'countdown', ?, ?, ?)")
                .bind(c.mac.to_string())
                .bind(c.ip.to_string())
                .bind(now)
                .bind(now + 3_600_000)
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        db.close().await;
    });
    let ns = lab.appliance();
    // The last session and sixteen spread over the rest (the restore goes a
    // chunk at a time): one netlink request each. `nft get element` reads
    // the whole set first, 2 s at 100,000, which was most of what this timed.
    let has_last = || {
        let ns = ns.clone();
        std::thread::spawn(move || {
            enter(&ns);
            (0..=16).rev().all(|k| firewall::holds(fake(k * (n - 1) / 16)).is_ok_and(|held| held))
        })
        .join()
        .unwrap_or(false)
    };
    let started = Instant::now();
    let mut controller = start_controller(lab, exe, &[]);
    let pid = controller_pid(controller.id());
    let field = |name: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.lines().find(|l| l.starts_with(name)).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
    };
    while !has_last() {
        assert!(started.elapsed() < Duration::from_secs(120), "the start's restore never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let up = started.elapsed();
    let after_start = field("VmHWM:").unwrap_or_default();
    std::thread::sleep(Duration::from_secs(11));
    let elements = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-j", "list", "set", "inet", "guestwifi", "authorized"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).matches("\"elem\": {").count())
        .unwrap_or(0);
    let (rss, swept) = (field("VmRSS:").unwrap_or_default(), field("VmHWM:").unwrap_or_default());
    let mut back = Vec::new();
    for _ in 0..rounds {
        let flushing = Instant::now();
        sh(&["ip", "netns", "exec", &ns, "nft", "flush", "ruleset"]);
        let flushed = Instant::now();
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        eprintln!(
            "flushed at :{:06.3} (second of the minute, UTC); `nft flush ruleset` took {} ms",
            (wall.as_millis() % 60_000) as f64 / 1000.0,
            (flushed - flushing).as_millis()
        );
        while !has_last() {
            assert!(flushed.elapsed() < Duration::from_secs(60), "the flushed table never came back");
            std::thread::sleep(Duration::from_millis(10));
        }
        back.push(flushed.elapsed());
        std::thread::sleep(Duration::from_secs(2));
    }
    let peak = field("VmHWM:").unwrap_or_default();
    stop(&mut controller);
    format!(
        "started and restored in {:.1} s, VmHWM {after_start} KiB; after the first idle sweep VmRSS {rss} KiB, VmHWM {swept} KiB ({elements} elements in the kernel set); a flushed ruleset back in {} s; peak VmHWM {peak} KiB",
        up.as_secs_f64(),
        spread(&back, |d| format!("{:.2}", d.as_secs_f64()))
    )
}

/// The controller's own pid: `ip netns exec` execs it, so the child's pid is
/// the controller's (read through /proc in case a wrapper stays).
fn controller_pid(child: u32) -> u32 {
    let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
    if comm.trim() == "controller" {
        return child;
    }
    std::fs::read_to_string(format!("/proc/{child}/task/{child}/children"))
        .ok()
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap_or(child)
}

fn start_controller(lab: &Lab, exe: &Path, env: &[(&str, &str)]) -> std::process::Child {
    let config = lab.dir.join("controller.toml");
    std::fs::write(&config, lab.controller_config(3600, 6, 900)).unwrap();
    // The measuring guest has a fixed address: give it the DHCP lease it
    // would have had (dnsmasq keeps what its lease file holds at start), or
    // the gateway drops its packets as not a lease's.
    let data = lab.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 86_400;
    std::fs::write(data.join("dnsmasq.leases"), format!("{expires} {} {GUEST_IP} bench *\n", lab::guest_mac(1)))
        .unwrap();
    let socket = lab.dir.join("data").join("control.sock");
    let _ = std::fs::remove_file(&socket);
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.appliance()])
        .arg(exe)
        .args(["run", "--config"])
        .arg(&config)
        .envs(env.iter().copied())
        // Warnings, and how long each restore's steps took.
        .env("RUST_LOG", "warn,guestwifi_core::sessions=info")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(Lab::wait_for(&socket, Duration::from_secs(30)), "controller did not start");
    child
}

fn stop(child: &mut std::process::Child) {
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// (e): a TCP stream from the upstream to the guest for a few seconds, with
/// 10,000 authorised clients each shaped (a limit object a way, one map
/// element a way) and the measuring guest shaped far above what it can
/// reach (its limit is looked up and checked on every packet, never binds);
/// then the same with no table at all. Returns bits a second, both.
fn forwarding(lab: &Lab) -> (f64, f64) {
    const PORT: u16 = 5201;
    const RUN: Duration = Duration::from_secs(4);
    // Without the table there is no masquerade: the upstream routes back.
    sh(&["ip", "-n", &lab.upstream(), "route", "replace", "192.0.2.0/24", "via", "203.0.113.1"]);
    serve_stream(lab, PORT);
    let measure = |ns: String| stream_rate(&ns, PORT, RUN);
    let guest = Client { mac: lab::guest_mac(1).parse().unwrap(), ip: IpAddr::V4(GUEST_IP) };
    let policy = policy();
    let fw = on_netns_runtime(&lab.appliance(), move |rt| {
        rt.block_on(async move {
            let fw = Firewall::start(policy, &[], guest_lease()).unwrap();
            let rate = firewall::Rate { down_kbps: 8000, up_kbps: 2000 };
            let mut pending = Vec::new();
            for i in 0..9_999u32 {
                pending.push(fw.authorize(fake(i + 1000), Duration::from_secs(3600), rate));
                if pending.len() == 512 {
                    for p in pending.drain(..) {
                        p.await.unwrap();
                    }
                }
            }
            for p in pending {
                p.await.unwrap();
            }
            let never_binds = firewall::Rate { down_kbps: 100_000_000, up_kbps: 100_000_000 };
            fw.authorize(guest, Duration::from_secs(3600), never_binds).await.unwrap();
            fw
        })
    });
    let shaped = measure(lab.guest(1));
    drop(fw);
    on_netns_runtime(&lab.appliance(), |_| firewall::Firewall::remove_table().unwrap());
    let plain = measure(lab.guest(1));
    (shaped, plain)
}

/// (f): 10,000 logged-in guests in a /18 (blocks of 3 ports each), the
/// measuring guest among them, with each guest's port block (`blocks`) or
/// by plain masquerade; the throughput of one TCP stream towards the guest,
/// and 2,000 more authorisations one at a time (each with its block).
fn port_blocks(lab: &Lab, blocks: bool) -> (f64, (Duration, Duration)) {
    const PORT: u16 = 5202;
    const RUN: Duration = Duration::from_secs(4);
    static SERVING: std::sync::Once = std::sync::Once::new();
    SERVING.call_once(|| serve_stream(lab, PORT));
    let subnet = (Ipv4Addr::new(192, 0, 0, 0), 18);
    let in_subnet = |i: u32| Client {
        mac: MacAddr([0x02, 0x20, 0, 0, (i >> 8) as u8, i as u8]),
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 8 + (i >> 8) as u8, i as u8)),
    };
    let mut policy = firewall::Policy { guest_subnet: subnet, ..policy() };
    policy.port_blocks = blocks.then(|| firewall::PortBlocks::new(lab::APPLIANCE_WAN, subnet));
    let guest = Client { mac: lab::guest_mac(1).parse().unwrap(), ip: IpAddr::V4(GUEST_IP) };
    let (fw, latency) = on_netns_runtime(&lab.appliance(), move |rt| {
        rt.block_on(async move {
            let fw = Firewall::start(policy, &[], guest_lease()).unwrap();
            let mut pending = Vec::new();
            for i in 0..9_999u32 {
                pending.push(fw.authorize(in_subnet(i), Duration::from_secs(3600), firewall::Rate::UNLIMITED));
                if pending.len() == 512 {
                    for p in pending.drain(..) {
                        p.await.unwrap();
                    }
                }
            }
            for p in pending {
                p.await.unwrap();
            }
            fw.authorize(guest, Duration::from_secs(3600), firewall::Rate::UNLIMITED).await.unwrap();
            let mut times = Vec::new();
            for i in 10_000..12_000u32 {
                let start = Instant::now();
                fw.authorize(in_subnet(i), Duration::from_secs(3600), firewall::Rate::UNLIMITED).await.unwrap();
                times.push(start.elapsed());
            }
            times.sort();
            (fw, (times[times.len() / 2], times[times.len() * 99 / 100]))
        })
    });
    let rate = stream_rate(&lab.guest(1), PORT, RUN);
    drop(fw);
    on_netns_runtime(&lab.appliance(), |_| firewall::Firewall::remove_table().unwrap());
    (rate, latency)
}

/// An upstream server on 203.0.113.10:`port` that sends to whoever connects, as fast as it can.
fn serve_stream(lab: &Lab, port: u16) {
    in_netns(&lab.upstream(), move || {
        let listener = std::net::TcpListener::bind(("203.0.113.10", port)).unwrap();
        let chunk = vec![0u8; 256 * 1024];
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let chunk = chunk.clone();
            std::thread::spawn(move || while std::io::Write::write_all(&mut stream, &chunk).is_ok() {});
        }
    });
}

/// Bits a second one TCP stream from [`serve_stream`] brings to namespace
/// `ns`: a second's warm-up, then `run` measured.
fn stream_rate(ns: &str, port: u16, run: Duration) -> f64 {
    let (tx, rx) = std::sync::mpsc::channel();
    in_netns(ns, move || {
        let mut stream = std::net::TcpStream::connect(("203.0.113.10", port)).unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_secs(1) {
            let _ = std::io::Read::read(&mut stream, &mut buf);
        }
        let (start, mut bytes) = (Instant::now(), 0u64);
        while start.elapsed() < run {
            bytes += std::io::Read::read(&mut stream, &mut buf).unwrap_or(0) as u64;
        }
        let _ = tx.send(bytes as f64 * 8.0 / start.elapsed().as_secs_f64());
    });
    rx.recv().unwrap()
}

/// A made-up client number `i` in 198.18.0.0/15 (RFC 2544 benchmarking
/// addresses; no packet is ever sent to them).
fn fake(i: u32) -> Client {
    let b = (i + 1).to_be_bytes();
    Client {
        mac: MacAddr([0x02, 0x10, b[0], b[1], b[2], b[3]]),
        ip: IpAddr::V4(Ipv4Addr::new(198, 18 + (b[1] & 1), b[2], b[3])),
    }
}

/// The measuring guest's lease (a fixed address, no end), for the parts
/// that run the firewall without the controller.
fn guest_lease() -> Vec<(Client, Option<Duration>)> {
    vec![(Client { mac: lab::guest_mac(1).parse().unwrap(), ip: IpAddr::V4(GUEST_IP) }, None)]
}

fn policy() -> firewall::Policy {
    firewall::Policy {
        guest_interface: lab::GUEST_INTERFACE.into(),
        guest_subnet: (Ipv4Addr::new(192, 0, 2, 0), 24),
        portal_ip: lab::APPLIANCE_IP,
        portal_http_port: 80,
        portal_https_port: 443,
        masquerade: true,
        port_blocks: None,
        uplink_interface: None,
        allowed_destinations: Vec::new(),
        lease_check: true,
        dns_fallback: None,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sh(argv: &[&str]) {
    let ok = Command::new(argv[0]).args(&argv[1..]).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "{argv:?}");
}

fn enter(ns: &str) {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    // SAFETY: setns on the calling thread; the fd is valid.
    assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
}

fn in_netns(ns: &str, f: impl FnOnce() + Send + 'static) {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        f()
    });
}

/// Runs `f` with a current-thread runtime on a thread inside `ns` (threads
/// it starts, like the firewall's, inherit the namespace).
fn on_netns_runtime<T: Send + 'static>(ns: &str, f: impl FnOnce(tokio::runtime::Runtime) -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        f(tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
    })
    .join()
    .unwrap()
}

fn controller_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join("controller");
    assert!(path.exists(), "{} missing: cargo build --release --bins", path.display());
    path
}
