//! The systemd unit as shipped: systemd's own checker accepts it, its
//! exposure score stays below 4, and the daemon speaks its notify protocol
//! (ready, watchdog, stopping).

use e2e::TestLab;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

const UNIT: &str = include_str!("../../image/guestwifi-controller.service");

/// The unit with its binary pointing at the one just built (verify checks
/// that ExecStart exists), in a directory of its own.
fn unit_here(name: &str) -> Option<std::path::PathBuf> {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have systemd-analyze (package systemd)");
        eprintln!("SKIPPED {name}: systemd-analyze is not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("guestwifi-unit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = e2e::controller_exe();
    let path = dir.join("guestwifi-controller.service");
    std::fs::write(&path, UNIT.replace("/usr/bin/guestwifi-controller", &exe.display().to_string())).unwrap();
    Some(path)
}

#[test]
fn systemd_accepts_the_unit_and_rates_its_exposure_below_4() {
    let Some(unit) = unit_here("verify") else { return };
    let verify = Command::new("systemd-analyze").arg("verify").arg(&unit).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let security = Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&unit).output().unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let score: f64 = text
        .split("Overall exposure level for guestwifi-controller.service:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in\n{text}"));
    assert!(score < 4.0, "exposure {score}:\n{text}");
    for needed in ["Type=notify", "WatchdogSec=", "ExecReload=", "LimitNOFILE=", "RuntimeDirectory=guestwifi"] {
        assert!(UNIT.contains(needed), "{needed}");
    }
}

#[test]
fn systemd_accepts_headquarters_unit_and_rates_its_exposure_below_2() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have systemd-analyze (package systemd)");
        eprintln!("SKIPPED hq unit: systemd-analyze is not installed");
        return;
    }
    let unit = include_str!("../../image/guestwifi-hq.service");
    let dir = std::env::temp_dir().join(format!("guestwifi-hq-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("guestwifi-hq.service");
    let exe = e2e::controller_exe().with_file_name("guestwifi-hq");
    std::fs::write(&path, unit.replace("/usr/bin/guestwifi-hq", &exe.display().to_string())).unwrap();
    let verify = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let security = Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let score: f64 = text
        .split("Overall exposure level for guestwifi-hq.service:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in\n{text}"));
    assert!(score < 2.0, "exposure {score}:\n{text}");
    println!("guestwifi-hq.service exposure: {score}");
}

#[test]
fn systemd_accepts_the_agents_unit() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have systemd-analyze (package systemd)");
        eprintln!("SKIPPED agent unit: systemd-analyze is not installed");
        return;
    }
    let unit = include_str!("../../image/guestwifi-ap-agent.service");
    let dir = std::env::temp_dir().join(format!("guestwifi-agent-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("guestwifi-ap-agent.service");
    let exe = e2e::controller_exe().with_file_name("ap-agent");
    std::fs::write(&path, unit.replace("/usr/bin/guestwifi-ap-agent", &exe.display().to_string())).unwrap();
    let verify = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(unit.contains("Restart=always") && unit.contains("StateDirectory=ap-agent"));
}

#[test]
fn the_daemon_says_ready_keeps_the_watchdog_fed_and_says_when_it_stops() {
    if !e2e::root_or_skip("notify") {
        return;
    }
    let path = std::env::temp_dir().join(format!("guestwifi-notify-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let env = [("NOTIFY_SOCKET", path.to_str().unwrap()), ("WATCHDOG_USEC", "400000")];
    let Some(mut t) = TestLab::start("e2e-notify", 1, 3600, &env) else {
        return;
    };
    // Read every notification as systemd would, on a thread of its own.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = message.contains("STOPPING=1");
                seen.lock().unwrap().push(message);
                if done {
                    break;
                }
            }
        })
    };
    let has = |what: &str| seen.lock().unwrap().iter().any(|m| m.contains(what));
    t.until("READY and two WATCHDOGs", 10, || {
        has("READY=1") && seen.lock().unwrap().iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2
    });
    t.stop_controller();
    reader.join().unwrap();
    let stopping = has("STOPPING=1");
    let _ = std::fs::remove_file(&path);
    assert!(stopping, "STOPPING=1 at a stop; seen {:?}", seen.lock().unwrap());
}
