//! The gateway never opens by accident, and guests never reach the
//! restaurant's own networks: a stop keeps the table, a second instance
//! changes nothing, a flushed ruleset comes back by itself, and logged-in
//! guests leave only by the uplink.

use e2e::TestLab;
use lab::{LAN_APPLIANCE, LAN_HOST, LAN_PRINTER};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether guest `i` reaches example.test by address (the guests' DNS is
/// the appliance's, down while the controller is).
fn reaches_upstream(t: &TestLab, i: usize) -> bool {
    let (code, body) =
        t.curl(i, &["--max-time", "2", "--resolve", "example.test:80:203.0.113.10", "http://example.test/"]);
    code == 200 && body.contains("Hello from upstream")
}

fn table_listed(t: &TestLab) -> bool {
    let out = Command::new("ip").args(["netns", "exec", &t.lab.appliance(), "nft", "list", "tables"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains("table inet guestwifi")
}

#[test]
fn a_stop_keeps_the_table_and_a_second_instance_changes_nothing() {
    let Some(mut t) = TestLab::start("e2e-keep", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    assert!(t.online(1));

    // A second instance with the same config stops at the data dir's lock.
    let second = t.controller_in_appliance(&["run"], &[]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another controller") && err.contains("is running"), "{err}");
    assert!(t.online(1), "the first instance's guest is still online");
    let (code, _) = t.curl(2, &["http://example.test/"]);
    assert_eq!(code, 302, "the first instance still serves the portal");

    // `controller sessions list | grep -q x`: the reader goes first; no panic.
    let script = format!(
        "{{ sleep 0.3; {} sessions list --config {}; }} | true",
        e2e::controller_exe().display(),
        t.lab.dir.join("controller.toml").display()
    );
    let piped = Command::new("bash").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");

    // firewall-remove refuses while the controller runs.
    let refused = t.cli(&["firewall-remove"]);
    assert!(!refused.status.success() && table_listed(&t), "{refused:?}");

    // A clean stop: the guest who was in rides through, the other stays out.
    t.stop_controller();
    assert!(table_listed(&t), "the table outlives the daemon");
    assert!(reaches_upstream(&t, 1), "a logged-in guest rides through the stop");
    assert!(!reaches_upstream(&t, 2), "a guest who was not in stays filtered while the controller is down");

    // A start that fails (its admin address is not on this machine) leaves the table alone.
    let failed = t.controller_in_appliance(&["run"], &[("GUESTWIFI_ADMIN__LISTEN", "192.0.2.77:8080")]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("192.0.2.77:8080"), "{failed:?}");
    assert!(reaches_upstream(&t, 1) && !reaches_upstream(&t, 2), "a failed start changed the filter");

    // Back up: the guest is still the same session.
    t.start_controller();
    assert!(t.online(1));
    let (code, _) = t.curl(2, &["http://example.test/"]);
    assert_eq!(code, 302);

    // Uninstall: stop, then firewall-remove is the one way to take the table out.
    t.stop_controller();
    let removed = t.controller_in_appliance(&["firewall-remove"], &[]);
    assert!(removed.status.success(), "{removed:?}");
    assert!(!table_listed(&t), "firewall-remove took the table out");
}

#[test]
fn a_flushed_ruleset_comes_back_by_itself() {
    let Some(t) = TestLab::start("e2e-flush", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    let flush =
        Command::new("ip").args(["netns", "exec", &t.lab.appliance(), "nft", "flush", "ruleset"]).status().unwrap();
    assert!(flush.success());
    let start = Instant::now();
    t.until("the table is back", 5, || table_listed(&t));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(2), "restored after {took:?}");
    assert!(t.online(1), "the live session came back with the table");
    let (code, _) = t.curl(2, &["http://example.test/"]);
    assert_eq!(code, 302, "the logged-out guest is filtered again");
    let (code, body) = t.curl(2, &["http://garden.test/"]);
    assert_eq!(code, 200, "the walled garden came back too: {body}");
    assert!(t.log().contains("restored"), "the restore is logged");
    assert!(!t.log().contains('\u{1b}'), "no colour codes in a log file");
}

#[test]
fn logged_in_guests_never_reach_the_restaurant_lan() {
    let Some(t) = TestLab::start("e2e-lan", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    assert!(t.online(1));
    let ping = |i: usize, addr: &str| t.in_guest(i, &["ping", "-c", "1", "-W", "1", addr]).status.success();

    let pos = format!("http://{LAN_HOST}/");
    let (code, body) = t.curl(1, &["--max-time", "2", &pos]);
    assert_eq!(code, 0, "the POS on the LAN is unreachable by HTTP: {body}");
    assert!(!ping(1, &LAN_HOST.to_string()), "the POS on the LAN does not answer a ping");
    assert!(!ping(1, &LAN_APPLIANCE.to_string()), "the appliance's LAN address does not answer a ping");
    let (code, _) = t.curl(1, &["--max-time", "2", &format!("http://{LAN_APPLIANCE}/")]);
    assert_eq!(code, 0, "nor the appliance's LAN address by HTTP");

    // The configured exception (the menu printer) is reachable, for logged-in guests only.
    let printer = format!("http://{LAN_PRINTER}/");
    let (code, body) = t.curl(1, &[&printer]);
    assert_eq!(code, 200, "the allow-listed printer: {body}");
    let (code, body) = t.curl(2, &["--max-time", "2", &printer]);
    assert!(!body.contains("Hello from upstream"), "a guest who is not logged in: {code} {body}");
}

#[test]
fn a_guest_announcing_anothers_address_cannot_log_it_out() {
    let Some(t) = TestLab::start("e2e-arp", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    assert!(t.online(1));
    // Guest 2 takes guest 1's address as well, announces it with its own MAC
    // (a gratuitous ARP poisoning the appliance's neighbour table) and tries to log in.
    let ip1 = t.lab.address(1).unwrap().to_string();
    let ip = |args: &[&str]| assert!(Command::new("ip").args(args).status().unwrap().success(), "{args:?}");
    ip(&["-n", &t.lab.guest(2), "addr", "add", &format!("{ip1}/32"), "dev", "eth0"]);
    let _ = t.in_guest(2, &["arping", "-c", "2", "-U", "-s", &ip1, "-I", "eth0", &ip1]);
    let (code, page) = t.curl(
        2,
        &["--max-time", "2", "--interface", &ip1, "--data", "ticket=0", &format!("http://{}/login", e2e::PORTAL_HOST)],
    );
    assert_ne!(code, 200, "the spoofer is not logged in as guest 1: {page}");

    // Guest 1 keeps browsing, with its one session.
    for _ in 0..5 {
        assert!(t.online(1), "guest 1 keeps browsing\n{}", t.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    let list = t.cli_ok(&["sessions", "list"]);
    assert!(list.contains(&e2e::guest_mac(1)) && !list.contains(&e2e::guest_mac(2)), "{list}");
    assert!(t.log().contains("address conflict"), "the conflict is logged");
}

#[test]
fn dns_before_login_is_no_tunnel_and_after_login_is_unlimited() {
    let Some(t) = TestLab::start("e2e-dns", 1, 3600, &[("GUESTWIFI_DNS__NAMES_PER_MINUTE_BEFORE_LOGIN", "20")]) else {
        return;
    };
    // (status, answer) of one query from the guest to the appliance.
    let dig = |name: &str, qtype: &str| {
        let out = t.in_guest(1, &["dig", "+tries=1", "+time=2", "@192.0.2.1", name, qtype]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = text.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("none").to_string();
        let answer = text.split("ANSWER SECTION:").nth(1).unwrap_or("").to_string();
        (status, answer)
    };
    assert_eq!(dig("tunnel.example.test", "TXT").0, "REFUSED", "no TXT before login");
    assert_eq!(dig("tunnel.example.test", "NULL").0, "REFUSED", "no NULL records either");
    // The site the guest came for, then an iodine-style stream of made-up
    // names: 20 distinct names a minute in all, then nothing new.
    assert_eq!(dig("example.test", "A").0, "NOERROR");
    let statuses: Vec<String> = (0..60).map(|i| dig(&format!("a{i}x7q.t.example.test"), "A").0).collect();
    let answered = statuses.iter().filter(|s| *s == "NOERROR").count();
    assert_eq!(answered, 19, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "REFUSED").count(), 41);
    // The flood also ran past the per-second rate; a moment later, a name
    // already counted resolves again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(dig("example.test", "A").0, "NOERROR", "a name already counted still resolves");
    // The OS probes, the walled garden and the portal still resolve.
    assert_eq!(dig("captive.apple.com", "A").0, "NOERROR");
    assert!(dig("garden.test", "A").1.contains("203.0.113.20"));
    assert!(dig(e2e::PORTAL_HOST, "A").1.contains("192.0.2.1"));

    // Logged in: any type, any number of names.
    t.login(1);
    assert_eq!(dig("tunnel.example.test", "TXT").0, "NOERROR");
    for i in 0..30 {
        assert_eq!(dig(&format!("b{i}.example.test"), "A").0, "NOERROR", "name {i} after login");
    }
}

#[test]
fn logged_in_guests_keep_resolving_while_the_controller_is_down() {
    let Some(mut t) = TestLab::start("e2e-dnsdown", 2, 3600, &[]) else {
        return;
    };
    // (status, answer) of one query from guest `i` to its resolver, the appliance.
    let dig = |t: &TestLab, i: usize, name: &str| {
        let out = t.in_guest(i, &["dig", "+tries=1", "+time=2", "@192.0.2.1", name, "A"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = text.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("none").to_string();
        let answer = text.split("ANSWER SECTION:").nth(1).unwrap_or("").to_string();
        (status, answer)
    };
    t.login(1);
    assert!(dig(&t, 1, "example.test").1.contains("203.0.113.10"));

    // A crash: the controller, the guests' resolver, is gone at once.
    t.kill_controller();
    let (status, answer) = dig(&t, 1, "example.test");
    assert!(status == "NOERROR" && answer.contains("203.0.113.10"), "a logged-in guest still resolves: {status}");
    let (code, body) = t.curl(1, &["--max-time", "3", "http://example.test/"]);
    assert!(code == 200 && body.contains("Hello from upstream"), "and browses by name: {code}");
    assert_eq!(dig(&t, 2, "example.test").0, "none", "a guest who is not logged in gets no resolver meanwhile");

    // Back: the controller answers again (the portal's name is its own answer).
    t.start_controller();
    t.until("the controller answers DNS again", 10, || dig(&t, 2, e2e::PORTAL_HOST).1.contains("192.0.2.1"));
    assert!(dig(&t, 1, "example.test").1.contains("203.0.113.10"));
    // The killed controller's dnsmasq was stopped by the new one: one DHCP server, one writer of the leases.
    let conf = format!("--conf-file={}", t.lab.dir.join("data").join("dnsmasq.conf").display());
    let running = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| c.split(|b| *b == 0).any(|arg| arg == conf.as_bytes()))
        .count();
    assert_eq!(running, 1, "one dnsmasq after the restart\n{}", t.log());
}
