//! AC load: N AP agents (the real ap-agent code, protocol only, no
//! namespaces; default 500) against one AC on loopback.
//! `ac-load-bench [N] [--pushes P]` prints:
//! - adopting every pending AP at once, to each one online with mutual TLS
//!   and its first configuration acked;
//! - P SSID changes (default 3), each to the last AP's ack: the acks are
//!   counted from the AC's own ack events (no listing of every AP), with the
//!   AC's CPU and RSS over each push;
//! - `aps list` (every AP with whether it is online) at N APs;
//! - the AC's CPU at steady echo and its RSS.
//!
//! The AC runs in a child process (this binary with `serve`), so its CPU and
//! RSS are its own. The agents share one thread of this process, and their
//! files go to tmpfs (/dev/shm): a real AP's fsyncs and CPU are its own,
//! so the agents' CPU is printed apart and not counted as the AC's.
//! Run: `cargo run --release -p bench --bin ac-load-bench -- 5000`.

use ap_protocol::{Band, RadioInfo, Security, Ssid};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The system allocator, counting the bytes the program holds, so the
/// bench can tell what is live from what the allocator keeps.
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator with the caller's layout;
// the counter is only arithmetic on the sizes.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

unsafe extern "C" {
    /// What SQLite (linked into this binary through sqlx) holds now.
    fn sqlite3_memory_used() -> i64;
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(PathBuf::from(&args[2]));
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let pushes: usize = args
        .iter()
        .position(|a| a == "--pushes")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(3);
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() { shm } else { std::env::temp_dir() };
    let dir = base.join(format!("guestwifi-ac-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The AC's own store stays on disk, as on an appliance.
    let ac_dir = std::env::temp_dir().join(format!("guestwifi-ac-load-ac-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ac_dir);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .arg(&ac_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_ac = child.stdin.take().unwrap();
    let mut from_ac = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |line: &str| -> String {
        writeln!(to_ac, "{line}").unwrap();
        to_ac.flush().unwrap();
        let mut answer = String::new();
        from_ac.read_line(&mut answer).unwrap();
        answer.trim().to_string()
    };
    let addr = ask("addr");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    for i in 0..n {
        let config = ap_agent::agent::AgentConfig {
            controller: addr.clone(),
            state_dir: dir.join(format!("ap{i}/state")),
            device_id: format!("LOAD-{i:04}"),
            model: "SIM-LOAD".into(),
            mac: format!("02:00:00:01:{:02x}:{:02x}", i / 256, i % 256),
            firmware: "1.0.0".into(),
            radios: vec![
                RadioInfo { interface: "wlan0".into(), band: Band::G2_4, bssid: None },
                RadioInfo { interface: "wlan1".into(), band: Band::G5, bssid: None },
            ],
            hostapd_dir: dir.join(format!("ap{i}/hostapd")),
            apply_hook: None,
            simulated_radio: None,
            silence_seconds: 35,
            firmware_public_key: None,
            firmware_hook: None,
            controller_ca_sha256: None,
            simulated_scan: None,
            hostapd_ctrl_dir: PathBuf::from("/nonexistent"),
            dhcp_lease_file: None,
            wired_isolation: false,
        };
        rt.spawn(ap_agent::agent::run(config, stop_rx.clone()));
    }
    println!("# AC load: {n} agents on loopback (agents' files on {})", base.display());
    let waited = ask(&format!("pending {n}"));
    println!(
        "all {n} agents said hello and wait for adoption after {:.1} s ({waited})",
        started.elapsed().as_secs_f64()
    );
    let agents_before = own_cpu();
    println!("adopt all {n} at once: {}", ask("adopt-all"));
    println!("  agents' CPU meanwhile (this process, not the AC's): {:.1} s", own_cpu() - agents_before);
    for round in 1..=pushes {
        let agents_before = own_cpu();
        let line = ask(&format!("push round-{round}"));
        println!("push {round}: {line}; agents' CPU {:.2} s", own_cpu() - agents_before);
    }
    println!("aps list at {n} APs: {}", ask("list"));
    let before = ask("cpu");
    std::thread::sleep(Duration::from_secs(30));
    let after = ask("cpu");
    let cpu: f64 = after.parse::<f64>().unwrap() - before.parse::<f64>().unwrap();
    println!("AC CPU at steady echo (10 s interval): {:.2}% of one core over 30 s", cpu / 30.0 * 100.0);
    println!("AC memory: {}", ask("rss"));
    println!("AC memory after malloc_trim: {}", ask("trim"));
    let _ = stop.send(true);
    drop(rt);
    // What stays once every AP is gone: the store's page cache, the
    // allocator's free lists. The rest of the figure above was the APs'.
    std::thread::sleep(Duration::from_secs(3));
    println!("AC memory with every agent gone: {}; after malloc_trim: {}", ask("rss"), ask("trim"));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&ac_dir);
}

/// This process's CPU seconds (user + system).
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz
}

/// VmRSS and VmHWM of this process, and VmRSS split into anonymous memory
/// and the pages of mapped files (this binary's code, SQLite's shared memory).
fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let get = |k: &str| status.lines().find(|l| l.starts_with(k)).unwrap_or("").split_whitespace().collect::<Vec<_>>();
    let mib = |v: Vec<&str>| v.get(1).and_then(|kb| kb.parse::<f64>().ok()).map(|kb| kb / 1024.0).unwrap_or(0.0);
    format!(
        "RSS {:.1} MiB (peak {:.1} MiB; heap and stacks {:.1}, mapped files {:.1}; Rust's live allocations {:.1}, SQLite's {:.1})",
        mib(get("VmRSS:")),
        mib(get("VmHWM:")),
        mib(get("RssAnon:")),
        mib(get("RssFile:")),
        LIVE.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0 / 1024.0,
        // SAFETY: sqlite3_memory_used only reads SQLite's own counter.
        unsafe { sqlite3_memory_used() } as f64 / 1024.0 / 1024.0
    )
}

/// The AC alone, driven by lines on stdin.
fn serve(dir: PathBuf) {
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let db = controller::store::open(&dir).await.unwrap();
        let registry = controller::ac::registry::Registry::new(db).await.unwrap().with_max_pending(10_000);
        let ca = controller::ac::ca::Ca::load_or_create(&dir).unwrap();
        let ac = controller::ac::Ac::new(registry, ca, Duration::from_secs(10)).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(ac.clone().serve(listener));
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
        while let Ok(Some(line)) = lines.next_line().await {
            let answer = match line.split_once(' ').unwrap_or((line.as_str(), "")) {
                ("addr", _) => addr.to_string(),
                ("pending", n) => {
                    // Waiting for the hellos: a list every 200 ms is all this costs.
                    let want: usize = n.parse().unwrap();
                    loop {
                        let list = ac.list().await.unwrap();
                        if list.iter().filter(|a| a.state == "pending" && a.online).count() >= want {
                            break rss();
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                ("adopt-all", _) => {
                    let list = ac.list().await.unwrap();
                    let total = list.len();
                    let version = ac.registry().version().await.unwrap();
                    let aps: Vec<(String, Option<String>)> =
                        list.into_iter().map(|a| (a.device_id, Some(a.fingerprint[..8].to_string()))).collect();
                    let mut events = ac.applied_events();
                    let cpu = own_cpu();
                    let start = Instant::now();
                    let adopted = ac.adopt_many(&aps).await.unwrap().iter().filter(|r| r.is_ok()).count();
                    let stored = start.elapsed();
                    let acked = count_acks(&mut events, version, total).await;
                    format!(
                        "{adopted} adopted in {:.0} ms; {acked} of {total} online with their certificates and \
                         version {version} acked after {:.1} s; AC CPU {:.1} s, {}",
                        stored.as_secs_f64() * 1000.0,
                        start.elapsed().as_secs_f64(),
                        own_cpu() - cpu,
                        rss()
                    )
                }
                ("push", name) => {
                    let ssid = Ssid {
                        name: name.to_string(),
                        security: Security::Wpa2Psk,
                        key: "load-test-key".into(),
                        vlan: None,
                        hidden: false,
                        client_isolation: true,
                        captive_portal: true,
                        bands: vec![Band::G2_4, Band::G5],
                    };
                    let total = ac.list().await.unwrap().len();
                    let mut events = ac.applied_events();
                    let cpu = own_cpu();
                    let start = Instant::now();
                    let version = ac.put_ssid(&ssid).await.unwrap();
                    let acked = count_acks(&mut events, version, total).await;
                    format!(
                        "version {version} acked by {acked} of {total} APs in {:.0} ms; AC CPU {:.2} s, {}",
                        start.elapsed().as_secs_f64() * 1000.0,
                        own_cpu() - cpu,
                        rss()
                    )
                }
                ("list", _) => {
                    let mut times = Vec::new();
                    let mut online = 0;
                    for _ in 0..11 {
                        let start = Instant::now();
                        let list = ac.list().await.unwrap();
                        times.push(start.elapsed().as_secs_f64() * 1000.0);
                        online = list.iter().filter(|a| a.online).count();
                    }
                    times.sort_by(f64::total_cmp);
                    let start = Instant::now();
                    ac.registry().list().await.unwrap();
                    let rows = start.elapsed().as_secs_f64() * 1000.0;
                    format!(
                        "{online} online; min {:.1} / median {:.1} / max {:.1} ms (11 lists; the store's rows alone {rows:.1} ms)",
                        times[0], times[5], times[10]
                    )
                }
                ("cpu", _) => format!("{}", own_cpu()),
                ("rss", _) => rss(),
                ("trim", _) => {
                    // SAFETY: malloc_trim has no preconditions.
                    unsafe { libc::malloc_trim(0) };
                    rss()
                }
                _ => "?".into(),
            };
            println!("{answer}");
        }
    });
}

/// Counts the AC's ack events for `version` until `total` distinct APs
/// acked it (or 60 s passed).
async fn count_acks(
    events: &mut tokio::sync::broadcast::Receiver<controller::ac::Applied>,
    version: u64,
    total: usize,
) -> usize {
    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < total {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(a)) if a.version == version => {
                seen.insert(a.device_id);
            }
            Ok(Ok(_)) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => panic!("missed {n} ack events"),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    seen.len()
}
