//! AC load: 500 AP agents (the real ap-agent code, protocol only, no
//! namespaces) against one AC on loopback. Prints the time from an SSID
//! change to every AP's ack, and the AC process's CPU and RSS at steady echo.
//!
//! The AC runs in a child process (this binary with `serve`), so its figures
//! are its own. Run: `cargo run --release -p bench --bin ac-load-bench [N]`.

use ap_protocol::{Band, RadioInfo, Security, Ssid};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(PathBuf::from(&args[2]));
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let dir = std::env::temp_dir().join(format!("guestwifi-ac-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .arg(dir.join("ac"))
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
    let wait_for = |what: &str, ask: &mut dyn FnMut(&str) -> String, want: &str| {
        let start = Instant::now();
        loop {
            if ask(what) == want {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "{what} never reached {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("pending", &mut ask, &n.to_string());
    println!("# AC load: {n} agents on loopback");
    println!("all {n} agents said hello and wait for adoption after {:.1} s", started.elapsed().as_secs_f64());
    let adopted = Instant::now();
    ask("adopt-all");
    wait_for("online", &mut ask, &n.to_string());
    println!("all {n} adopted, reconnected with mutual TLS and online after {:.1} s", adopted.elapsed().as_secs_f64());
    for round in 1..=3 {
        println!("push {round}: {}", ask(&format!("push round-{round}")));
    }
    let before = ask("cpu");
    std::thread::sleep(Duration::from_secs(30));
    let after = ask("cpu");
    let cpu: f64 = after.parse::<f64>().unwrap() - before.parse::<f64>().unwrap();
    println!("AC CPU at steady echo (10 s interval): {:.2}% of one core over 30 s", cpu / 30.0 * 100.0);
    println!("AC memory: {}", ask("rss"));
    let _ = stop.send(true);
    drop(rt);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
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
                ("pending", _) => ac.list().await.unwrap().iter().filter(|a| a.state == "pending").count().to_string(),
                ("online", _) => ac
                    .list()
                    .await
                    .unwrap()
                    .iter()
                    .filter(|a| a.online && a.state == "adopted" && a.wants_version.is_none())
                    .count()
                    .to_string(),
                ("adopt-all", _) => {
                    for ap in ac.list().await.unwrap() {
                        ac.adopt(&ap.device_id, Some(&ap.fingerprint[..8])).await.unwrap();
                    }
                    "ok".into()
                }
                ("push", name) => {
                    let start = Instant::now();
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
                    let version = ac.put_ssid(&ssid).await.unwrap();
                    let total = ac.list().await.unwrap().len();
                    loop {
                        let acked =
                            ac.list().await.unwrap().iter().filter(|a| a.applied_version as u64 == version).count();
                        if acked == total {
                            break format!(
                                "config version {version} acked by all {total} APs in {:.0} ms",
                                start.elapsed().as_secs_f64() * 1000.0
                            );
                        }
                        if start.elapsed() > Duration::from_secs(60) {
                            break format!("only {acked} of {total} acked version {version} after 60 s");
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                ("cpu", _) => {
                    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
                    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
                    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
                    // SAFETY: sysconf has no preconditions.
                    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
                    format!("{}", ticks / hz)
                }
                ("rss", _) => {
                    let status = std::fs::read_to_string("/proc/self/status").unwrap();
                    let get = |k: &str| status.lines().find(|l| l.starts_with(k)).unwrap_or("").to_string();
                    format!(
                        "{}; {}",
                        get("VmRSS:").split_whitespace().collect::<Vec<_>>().join(" "),
                        get("VmHWM:").split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                }
                _ => "?".into(),
            };
            println!("{answer}");
        }
    });
}
