//! Simulated APs, each a namespace running the real ap-agent: adoption, one
//! SSID on every AP, a guest who walks from AP 1 to AP 2 and stays online,
//! and an AP that is unplugged, shows offline, and rejoins.

use e2e::{guest_mac, TestLab};

fn ap_line(list: &str, id: &str) -> String {
    list.lines().find(|l| l.starts_with(id)).unwrap_or("").to_string()
}

#[test]
fn guest_roams_between_aps_without_a_new_login_and_an_unplugged_ap_rejoins() {
    let Some(mut t) = TestLab::start_with_aps("e2e-roam", 1, 2, 3600, &[]) else {
        return;
    };
    t.until("both APs are pending", 20, || {
        let list = t.cli_ok(&["aps", "list"]);
        ["LAB-AP-01", "LAB-AP-02"].iter().all(|id| ap_line(&list, id).contains("pending"))
    });
    let shown = t.cli_ok(&["aps", "show", "LAB-AP-01"]);
    assert!(shown.contains("\"ft_key\": \"***\""), "the roaming key stays hidden: {shown}");
    for id in ["LAB-AP-01", "LAB-AP-02"] {
        // Without the key's fingerprint the adoption is refused and names it.
        let refused = t.cli(&["aps", "adopt", id]);
        assert!(!refused.status.success(), "adopting without a fingerprint or --any-key is refused");
        let list = t.cli_ok(&["aps", "list"]);
        let key = ap_line(&list, id).split_whitespace().nth(6).unwrap().trim_end_matches('!').to_string();
        let wrong = t.cli(&["aps", "adopt", id, "--fingerprint", "00000000"]);
        assert!(!wrong.status.success() && String::from_utf8_lossy(&wrong.stderr).contains("does not match"));
        t.cli_ok(&["aps", "adopt", id, "--fingerprint", &key[..8]]);
    }
    t.cli_ok(&["ssids", "add", "实验餐厅免费WiFi"]);
    let out = t.cli_ok(&["ssids", "add", "LabStaff", "--security", "wpa2_psk", "--key", "kitchen-2024!"]);
    let version = out.split_whitespace().nth(2).unwrap().to_string();
    let shown = t.cli_ok(&["aps", "show", "LAB-AP-01"]);
    assert!(!shown.contains("kitchen-2024!") && shown.contains("\"key\": \"***\""), "SSID keys stay hidden: {shown}");
    t.until("both APs run the new configuration", 20, || {
        let list = t.cli_ok(&["aps", "list"]);
        ["LAB-AP-01", "LAB-AP-02"].iter().all(|id| {
            let line = ap_line(&list, id);
            line.contains("adopted") && line.contains(" online") && line.trim_end().ends_with(&version)
        })
    });
    // The same through the admin JSON API, which wants its token.
    let api = |path: &str, token: Option<&str>| {
        let mut args = vec!["netns".to_string(), "exec".into(), t.lab.appliance(), "curl".into(), "-s".into()];
        args.extend(["-w".into(), "\n%{http_code}".into()]);
        if let Some(token) = token {
            args.extend(["-H".into(), format!("Authorization: Bearer {token}")]);
        }
        args.push(format!("http://127.0.0.1:8080{path}"));
        let out = std::process::Command::new("ip").args(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(api("/api/aps", None).ends_with("401"));
    let token = std::fs::read_to_string(t.lab.dir.join("data/admin.token")).unwrap();
    // Every list has --json for scripts; tables line Chinese names up by display width.
    let listed: serde_json::Value = serde_json::from_str(&t.cli_ok(&["aps", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert!(listed[0]["fingerprint"].as_str().is_some_and(|f| f.len() == 64), "{listed}");
    let ssids = t.cli_ok(&["ssids", "list"]);
    let width = |s: &str| s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<usize>();
    let column = |line: &str, word: &str| line.find(word).map(|i| width(&line[..i]));
    let header = ssids.lines().next().unwrap();
    let row = ssids.lines().find(|l| l.contains("实验餐厅免费WiFi")).unwrap();
    assert_eq!(column(header, "SECURITY"), column(row, "open"), "columns line up:\n{ssids}");
    let aps = api("/api/aps", Some(token.trim()));
    assert!(aps.ends_with("200") && aps.contains("\"device_id\":\"LAB-AP-02\""), "{aps}");
    assert!(api("/api/aps/NOPE", Some(token.trim())).ends_with("404"));
    let metrics = api("/metrics", None);
    assert!(metrics.contains("guestwifi_aps{state=\"online\"} 2"), "{metrics}");

    let conf = |k: usize| std::fs::read_to_string(t.lab.dir.join(format!("ap{k}/hostapd/hostapd-wlan0.conf"))).unwrap();
    let hex: String = "实验餐厅免费WiFi".bytes().map(|b| format!("{b:02x}")).collect();
    assert!(conf(1).contains(&hex) && conf(2).contains(&hex), "the same SSID on every AP");
    // One mobility domain and key on every AP: a guest roams without a new handshake.
    let roaming = |c: String| {
        c.lines()
            .filter(|l| l.starts_with("mobility_domain=") || l.starts_with("r0kh="))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(!roaming(conf(1)).is_empty(), "the WPA2 SSID has 802.11r");
    assert_eq!(roaming(conf(1)), roaming(conf(2)));

    // The guest logs in on AP 1...
    let mac = guest_mac(1);
    t.until("the guest is seen on AP 1", 10, || ap_line(&t.cli_ok(&["aps", "stations"]), &mac).contains("LAB-AP-01"));
    t.login(1);
    assert!(t.online(1));

    // ...walks to AP 2 and stays online without logging in again.
    t.lab.roam(1, 1, 2).unwrap();
    t.until("the guest is seen on AP 2", 10, || ap_line(&t.cli_ok(&["aps", "stations"]), &mac).contains("LAB-AP-02"));
    t.until("the guest browses through AP 2", 10, || t.online(1));
    let sessions = t.cli_ok(&["sessions", "list"]);
    assert_eq!(sessions.lines().filter(|l| l.contains(&mac)).count(), 1, "{sessions}");

    // AP 1 is unplugged: offline after three missed echoes; plugged back: online.
    t.lab.plug_ap(1, false).unwrap();
    t.until("AP 1 shows offline", 15, || ap_line(&t.cli_ok(&["aps", "list"]), "LAB-AP-01").contains("offline"));
    assert!(ap_line(&t.cli_ok(&["aps", "list"]), "LAB-AP-02").contains(" online"));
    t.lab.plug_ap(1, true).unwrap();
    t.until("AP 1 rejoins", 30, || ap_line(&t.cli_ok(&["aps", "list"]), "LAB-AP-01").contains(" online"));

    // A controller restart brings every agent back, still adopted, and the guest stays online.
    t.stop_controller();
    t.start_controller();
    t.until("both APs are back after the restart", 30, || {
        let list = t.cli_ok(&["aps", "list"]);
        ["LAB-AP-01", "LAB-AP-02"].iter().all(|id| {
            let line = ap_line(&list, id);
            line.contains("adopted") && line.contains(" online")
        })
    });
    assert!(t.online(1));
}
