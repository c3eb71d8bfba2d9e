//! The data path end to end: a guest is redirected, logs in by countdown and
//! browses; sessions expire, are kicked and survive a restart; other devices
//! stay out. Real kernel, real nftables, real dnsmasq and dhclient.

use e2e::{guest_mac, TestLab, PORTAL_HOST};
use std::time::Duration;

#[test]
fn logged_out_guest_is_redirected_https_reset_other_ports_rejected_dns_answered() {
    let Some(t) = TestLab::start("e2e-redirect", 1, 3600, &[]) else {
        return;
    };

    let (code, head) = t.curl(1, &["http://example.test/menu?table=7"]);
    assert_eq!(code, 302, "{head}");
    assert!(
        head.contains(&format!("location: http://{PORTAL_HOST}/?url=http%3A%2F%2Fexample.test%2Fmenu%3Ftable%3D7")),
        "{head}"
    );
    for (host, path) in [
        ("connectivitycheck.gstatic.com", "/generate_204"),
        ("captive.apple.com", "/hotspot-detect.html"),
        ("www.msftconnecttest.com", "/connecttest.txt"),
        ("www.msftncsi.com", "/ncsi.txt"),
        ("detectportal.firefox.com", "/success.txt"),
    ] {
        let resolve = format!("{host}:80:203.0.113.10");
        let (code, head) = t.curl(1, &["--resolve", &resolve, &format!("http://{host}{path}")]);
        assert_eq!(code, 302, "{host}{path}: {head}");
        assert!(head.contains(&format!("location: http://{PORTAL_HOST}/")), "{head}");
    }

    // HTTPS is reset at once (no hanging TLS handshake); other ports are refused.
    let connect = |port: u16| {
        let script = format!("exec 3<>/dev/tcp/203.0.113.10/{port}");
        let out = t.in_guest(1, &["timeout", "5", "bash", "-c", &script]);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let https = connect(443);
    assert!(https.contains("Connection refused"), "443 gets a TCP reset: {https}");
    let ssh = connect(22);
    assert!(ssh.contains("No route to host"), "other ports get ICMP admin-prohibited: {ssh}");

    // DNS is answered by the appliance's resolver before login.
    let dns = t.in_guest(1, &["getent", "hosts", "example.test"]);
    assert!(String::from_utf8_lossy(&dns.stdout).contains("203.0.113.10"), "{dns:?}");
    // ...and the walled garden is reachable.
    let (code, body) = t.curl(1, &["http://garden.test/"]);
    assert_eq!(code, 200, "{body}");

    // RFC 8908 over HTTPS.
    let (code, api) = t.curl(1, &["-k", &format!("https://{PORTAL_HOST}/api/captive")]);
    assert_eq!(code, 200, "{api}");
    assert!(api.contains("content-type: application/captive+json"), "{api}");
    assert!(api.contains("cache-control: private"), "{api}");
    assert!(api.contains("\"captive\":true"), "{api}");
    assert!(api.contains(&format!("\"user-portal-url\":\"http://{PORTAL_HOST}/\"")), "{api}");
}

#[test]
fn countdown_login_opens_the_internet_and_an_early_login_is_refused() {
    let Some(t) = TestLab::start("e2e-login", 1, 3600, &[]) else {
        return;
    };
    let ticket = t.ticket(1);
    let (code, page) = t.post_login(1, &ticket);
    assert_eq!(code, 425, "login before the countdown: {page}");
    assert!(page.contains("请等倒计时结束"), "{page}");
    assert!(!t.online(1));

    std::thread::sleep(Duration::from_millis(e2e::COUNTDOWN * 1000 + 100));
    let (code, page) = t.post_login(1, &ticket);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("href=\"http://example.test/\""), "success page keeps the original URL: {page}");
    assert!(page.contains("http://garden.test/menu"), "venue link: {page}");
    assert!(t.online(1), "guest reaches upstream after login");

    let (_, api) = t.curl(1, &["-k", &format!("https://{PORTAL_HOST}/api/captive")]);
    assert!(api.contains("\"captive\":false") && api.contains("\"seconds-remaining\":"), "{api}");

    // Counted for /metrics: one login, one early try, two redirects (the one
    // that brought the guest to the portal, and the check that it was still out).
    let scrape = std::process::Command::new("ip")
        .args(["netns", "exec", &t.lab.appliance(), "curl", "-s", "http://127.0.0.1:8080/metrics"])
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&scrape.stdout);
    for needed in [
        "guestwifi_logins_total{method=\"countdown\"} 1",
        "guestwifi_login_refusals_total{method=\"countdown\",reason=\"too_early\"} 1",
        "guestwifi_portal_redirects_total 2",
    ] {
        assert!(metrics.contains(needed), "{needed} in\n{metrics}");
    }

    // The same ticket again changes nothing and does not fail the guest.
    let (code, _) = t.post_login(1, &ticket);
    assert_eq!(code, 200);
    let list = t.cli(&["sessions", "list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.lines().filter(|l| l.contains(&guest_mac(1))).count(), 1, "{list}");
}

#[test]
fn short_session_expires_and_the_guest_is_redirected_again() {
    let Some(t) = TestLab::start("e2e-expiry", 1, 3, &[]) else {
        return;
    };
    t.login(1);
    assert!(t.online(1));
    std::thread::sleep(Duration::from_secs(4));
    let (code, head) = t.curl(1, &["http://example.test/"]);
    assert_eq!(code, 302, "expired guest is redirected: {head}");
    let list = t.cli(&["sessions", "list"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&guest_mac(1)), "expired session is not listed");
}

#[test]
fn kicked_guest_is_redirected_and_a_restart_keeps_the_others_online() {
    let Some(mut t) = TestLab::start("e2e-kick", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    t.login(2);
    assert!(t.online(1) && t.online(2));

    let kick = t.cli(&["sessions", "kick", &guest_mac(1)]);
    assert!(kick.status.success(), "{kick:?}");
    let (code, _) = t.curl(1, &["http://example.test/"]);
    assert_eq!(code, 302, "kicked guest is redirected");

    t.stop_controller();
    t.start_controller();
    assert!(t.online(2), "guest 2 is still online after a restart");
    let (code, _) = t.curl(1, &["http://example.test/"]);
    assert_eq!(code, 302, "the kicked guest stays out after a restart");

    // nftables flushed behind our back: firewall-reload puts the session back.
    let flush = std::process::Command::new("ip")
        .args(["netns", "exec", &t.lab.appliance(), "nft", "flush", "ruleset"])
        .status()
        .unwrap();
    assert!(flush.success());
    let reload = t.cli(&["firewall-reload"]);
    assert!(reload.status.success(), "{reload:?}");
    assert!(String::from_utf8_lossy(&reload.stdout).contains("1 live sessions"), "{reload:?}");
    let (code, _) = t.curl(1, &["http://example.test/"]);
    assert_eq!(code, 302, "after reload the logged-out guest is redirected again");
    assert!(t.online(2));
}

#[test]
fn other_guest_stays_blocked_and_cloning_the_ip_gets_nothing() {
    let Some(t) = TestLab::start("e2e-clone", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    assert!(t.online(1));
    let (code, _) = t.curl(2, &["http://example.test/"]);
    assert_eq!(code, 302, "guest 2 is still redirected while guest 1 is online");

    // Guest 1 leaves; guest 2 takes its IP address with its own MAC.
    let ip1 = t.lab.address(1).unwrap().to_string();
    let g1 = t.lab.guest(1);
    let g2 = t.lab.guest(2);
    let ip =
        |args: &[&str]| assert!(std::process::Command::new("ip").args(args).status().unwrap().success(), "{args:?}");
    ip(&["-n", &g1, "link", "set", "eth0", "down"]);
    ip(&["-n", &g2, "addr", "flush", "dev", "eth0"]);
    ip(&["-n", &g2, "addr", "add", &format!("{ip1}/24"), "dev", "eth0"]);
    ip(&["-n", &g2, "route", "add", "default", "via", "192.0.2.1"]);
    let _ = t.in_guest(2, &["arping", "-c", "1", "-U", "-I", "eth0", &ip1]);
    let (code, head) = t.curl(2, &["--max-time", "2", "http://example.test/"]);
    assert_ne!(code, 200, "a clone of the IP alone must not get through: {head}");
    assert!(!head.contains("Hello from upstream"));
    // While guest 1's session lives, its address stays pinned to its MAC:
    // the clone does not even reach the portal as guest 1.
    let (code, page) = t.curl(2, &["--max-time", "2", &format!("http://{PORTAL_HOST}/")]);
    assert!(!page.contains("name=\"token\""), "the clone never sees guest 1's online page ({code})");
    assert!(t.log().contains("address conflict"), "the clone is logged");

    // Even once guest 1's session has ended, an address that is not the
    // device's lease gets nothing at all: the gateway drops the pair.
    assert!(t.cli(&["sessions", "kick", &guest_mac(1)]).status.success());
    let _ = t.in_guest(2, &["arping", "-c", "1", "-U", "-I", "eth0", &ip1]);
    let (code, page) = t.curl(2, &["--max-time", "2", &format!("http://{PORTAL_HOST}/")]);
    assert_eq!(code, 0, "a static address is no lease: {page}");
    // Asking DHCP, the device gets its own lease and the login page.
    ip(&["-n", &g2, "addr", "flush", "dev", "eth0"]);
    t.lab.dhcp(2).expect("guest 2 gets its own lease");
    assert_ne!(t.lab.address(2).unwrap().to_string(), ip1, "guest 1's lease is still guest 1's");
    let (code, page) = t.curl(2, &[&format!("http://{PORTAL_HOST}/")]);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("name=\"ticket\""), "the new owner is shown the login page");
}

#[test]
fn bad_requests_get_clear_answers_and_change_nothing() {
    let Some(t) = TestLab::start("e2e-bad", 2, 3600, &[("GUESTWIFI_PORTAL__HEADER_TIMEOUT_SECONDS", "2")]) else {
        return;
    };
    // A peer with no neighbour entry on the guest interface is nobody.
    let stranger = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &t.lab.appliance(),
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            &format!("http://{PORTAL_HOST}/"),
        ])
        .arg("--resolve")
        .arg(format!("{PORTAL_HOST}:80:192.0.2.1"))
        .output()
        .unwrap();
    let stranger = String::from_utf8_lossy(&stranger.stdout);
    assert!(stranger.ends_with("403") && stranger.contains("无法识别您的设备"), "{stranger}");

    // Malformed Host.
    let (code, _) = t.curl(1, &["-H", "Host: bad host<>", "http://203.0.113.10/"]);
    assert_eq!(code, 400);
    // A 100 KB URL.
    let long = format!("http://example.test/{}", "a".repeat(100 * 1024));
    let (code, _) = t.curl(1, &[&long]);
    assert!(code == 414 || code == 431, "100 KB URL: {code}");
    // Forged ticket, in English.
    let (code, page) = t.curl(
        1,
        &[
            "-H",
            "Accept-Language: en-US",
            "--data",
            "ticket=00000000000000000000000000000000",
            &format!("http://{PORTAL_HOST}/login"),
        ],
    );
    assert_eq!(code, 403);
    assert!(page.contains("This page has expired"), "{page}");
    // Guest 2's ticket used by guest 1.
    let ticket = t.ticket(2);
    std::thread::sleep(Duration::from_millis(e2e::COUNTDOWN * 1000 + 100));
    let (code, _) = t.post_login(1, &ticket);
    assert_eq!(code, 403, "another device's ticket is refused");
    assert!(!t.online(1) && !t.online(2));
    let list = t.cli(&["sessions", "list"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 1, "no session was written");

    // A slow client that never sends its headers is cut off.
    let slow = t.in_guest(
        1,
        &["bash", "-c", "exec 3<>/dev/tcp/192.0.2.1/80; start=$SECONDS; cat <&3 >/dev/null; echo $((SECONDS-start))"],
    );
    let held: u64 = String::from_utf8_lossy(&slow.stdout).trim().parse().unwrap_or(99);
    assert!(held <= 4, "slow client held the connection {held}s");

    // A guest hammering the portal is limited; another guest is served as usual.
    let hammer = t.in_guest(
        1,
        &[
            "bash",
            "-c",
            &format!("for i in $(seq 150); do curl -s -o /dev/null -w '%{{http_code}}\\n' http://{PORTAL_HOST}/static/portal.css; done"),
        ],
    );
    let codes = String::from_utf8_lossy(&hammer.stdout);
    assert!(codes.lines().any(|c| c == "429"), "hammering guest is rate-limited");
    let (code, _) = t.curl(2, &[&format!("http://{PORTAL_HOST}/")]);
    assert_eq!(code, 200, "the other guest is served");
}

#[test]
fn config_typo_stops_the_start_naming_the_key() {
    if !e2e::root_or_skip("config_typo") {
        return;
    }
    let dir = std::env::temp_dir().join("guestwifi-e2e-config");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    let example = include_str!("../../image/controller.example.toml");
    std::fs::write(&path, example.replace("auto_login", "auto_logon")).unwrap();
    let out = std::process::Command::new(e2e::controller_exe()).args(["run", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auto_logon") && err.contains("bad.toml"), "{err}");
}

#[test]
fn idle_guest_is_logged_out_and_a_busy_one_stays() {
    let Some(t) = TestLab::start("e2e-idle", 2, 3600, &[("GUESTWIFI_SESSION__IDLE_TIMEOUT_SECONDS", "3")]) else {
        return;
    };
    t.login(1);
    t.login(2);
    // Guest 2 keeps browsing; guest 1 puts the phone away.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(16) {
        assert!(t.online(2), "a busy guest stays online");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (code, _) = t.curl(1, &["http://example.test/"]);
    assert_eq!(code, 302, "the idle guest was logged out");
    let list = t.cli_ok(&["sessions", "list"]);
    assert!(!list.contains(&guest_mac(1)) && list.contains(&guest_mac(2)), "{list}");
}
