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

/// Two simulated APs, a guest behind each. The appliance isolates its guest
/// bridge's ports and each agent keeps its guests to the gateway's MAC, so
/// neither guest reaches the other by IP or ARP, and one's ARP lie never
/// reaches the other; each layer holds alone and comes back when removed
/// behind the product's back. Both guests reach the portal and, logged in,
/// the internet.
#[test]
fn guests_behind_two_aps_cannot_reach_each_other_on_the_wire() {
    let Some(mut t) = TestLab::start_with_aps("e2e-apart", 2, 2, 3600, &[]) else {
        return;
    };
    let (ip1, ip2) = (t.lab.address(1).unwrap().to_string(), t.lab.address(2).unwrap().to_string());
    let ping =
        |t: &TestLab, from: usize, to: &str| t.in_guest(from, &["ping", "-c", "1", "-W", "1", to]).status.success();
    let arp = |t: &TestLab, from: usize, to: &str| {
        t.in_guest(from, &["arping", "-c", "1", "-w", "1", "-I", "eth0", to]).status.success()
    };
    let appliance = t.lab.appliance();
    let set_isolated = |on: bool| {
        for port in ["va1", "va2"] {
            let flag = if on { "on" } else { "off" };
            let out = std::process::Command::new("ip")
                .args(["-n", &appliance, "link", "set", "dev", port, "type", "bridge_slave", "isolated", flag])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    };
    let isolated = |port: &str| {
        let out =
            std::process::Command::new("ip").args(["-n", &appliance, "-d", "link", "show", port]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains("isolated on")
    };
    let out = std::process::Command::new("ip")
        .args(["-n", &appliance, "-br", "link", "show", lab::GUEST_INTERFACE])
        .output()
        .unwrap();
    let gateway_mac = String::from_utf8_lossy(&out.stdout).split_whitespace().nth(2).unwrap_or("").to_string();
    assert_eq!(gateway_mac.len(), 17, "the guest bridge's MAC: {gateway_mac:?}");

    // Bridged frames skip the gateway's own table, as on a stock appliance
    // (where br_netfilter is not loaded): the bridge layers alone must hold.
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &appliance, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The test can tell: with the controller stopped and the ports not
    // isolated (and no AP adopted yet, so no bridge rules), they meet.
    t.stop_controller();
    set_isolated(false);
    assert!(ping(&t, 1, &ip2) && arp(&t, 1, &ip2), "with neither layer, guest 1 reaches guest 2");
    // The controller isolates the ports at its start: the appliance alone keeps them apart.
    t.start_controller();
    t.until("the controller isolates the guest bridge's ports", 10, || isolated("va1") && isolated("va2"));
    assert!(!ping(&t, 1, &ip2) && !arp(&t, 1, &ip2) && !arp(&t, 2, &ip1), "the appliance's isolated ports alone");
    // A port un-isolated behind its back is isolated again.
    set_isolated(false);
    t.until("a port un-isolated behind the controller's back is isolated again", 5, || {
        isolated("va1") && isolated("va2")
    });

    // The APs are adopted and take an open guest SSID (portal and isolation by default).
    t.until("both APs are pending", 20, || {
        let list = t.cli_ok(&["aps", "list"]);
        ["LAB-AP-01", "LAB-AP-02"].iter().all(|id| ap_line(&list, id).contains("pending"))
    });
    // Adopted together from the installer's list (id and the start of the
    // key's fingerprint, as on each AP's label). A malformed list adopts
    // nothing; an unknown AP in it is named, and the others are adopted.
    let listed: serde_json::Value = serde_json::from_str(&t.cli_ok(&["aps", "list", "--json"])).unwrap();
    let fingerprint = |id: &str| {
        let ap = listed.as_array().unwrap().iter().find(|a| a["device_id"] == id).unwrap();
        ap["fingerprint"].as_str().unwrap()[..8].to_string()
    };
    let list = t.lab.dir.join("adopt.txt");
    std::fs::write(&list, format!("LAB-AP-01 {}\nLAB-AP-02\n", fingerprint("LAB-AP-01"))).unwrap();
    let out = t.cli(&["aps", "adopt-many", list.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("line 2"), "{out:?}");
    assert!(ap_line(&t.cli_ok(&["aps", "list"]), "LAB-AP-01").contains("pending"), "a malformed list adopts nothing");
    let text = format!(
        "# restaurant 1, lobby\nLAB-AP-01 {}\nLAB-AP-02 {}  # kitchen\nLAB-AP-09 0123abcd\n",
        fingerprint("LAB-AP-01"),
        fingerprint("LAB-AP-02")
    );
    std::fs::write(&list, text).unwrap();
    let out = t.cli(&["aps", "adopt-many", list.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && printed.contains("adopted 2 of 3 APs"), "{printed}");
    assert!(printed.contains("not adopted: LAB-AP-09"), "{printed}");
    let out = t.cli_ok(&["ssids", "add", "实验餐厅免费WiFi"]);
    let version = out.split_whitespace().nth(2).unwrap().to_string();
    t.until("both APs run the guest SSID", 20, || {
        let list = t.cli_ok(&["aps", "list"]);
        ["LAB-AP-01", "LAB-AP-02"].iter().all(|id| ap_line(&list, id).trim_end().ends_with(&version))
    });
    let aps = [t.lab.ap(1), t.lab.ap(2)];
    let table = |k: usize| {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &aps[k - 1], "nft", "list", "table", "bridge", "guestwifi_ap"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for k in [1, 2] {
        let rules = table(k);
        assert!(
            rules.contains(&format!("ether daddr {gateway_mac} accept")),
            "AP {k} keeps guests to the gateway:\n{rules}"
        );
    }

    // The APs alone: the controller stopped, the appliance's ports not isolated.
    t.in_guest(1, &["ping", "-c", "1", "-W", "1", &lab::APPLIANCE_IP.to_string()]);
    t.stop_controller();
    set_isolated(false);
    assert!(!ping(&t, 1, &ip2) && !arp(&t, 1, &ip2) && !arp(&t, 2, &ip1), "the APs' bridge rules alone");
    // Guest 2 says it is the gateway; guest 1 never hears it.
    let gw = lab::APPLIANCE_IP.to_string();
    t.in_guest(2, &["arping", "-c", "2", "-U", "-s", &gw, "-I", "eth0", &gw]);
    let neigh =
        String::from_utf8_lossy(&t.in_guest(1, &["ip", "neigh", "show", &gw, "dev", "eth0"]).stdout).into_owned();
    assert!(neigh.contains(&gateway_mac), "guest 1 still knows the real gateway: {neigh}");
    assert!(!neigh.contains(&guest_mac(2)), "guest 2's ARP lie never reached guest 1: {neigh}");
    t.start_controller();
    t.until("the ports are isolated again", 10, || isolated("va1") && isolated("va2"));

    // A flushed bridge table is put back by the agent.
    for k in [1, 2] {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &t.lab.ap(k), "nft", "flush", "ruleset"])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    t.until("both agents put their bridge table back", 10, || {
        [1, 2].iter().all(|k| table(*k).contains(&format!("ether daddr {gateway_mac} accept")))
    });

    // Both reach the portal and, logged in, the internet; still not each other.
    for i in [1, 2] {
        t.login(i);
        assert!(t.online(i), "guest {i} is online");
    }
    assert!(!ping(&t, 1, &ip2) && !ping(&t, 2, &ip1), "logged in, still apart");

    // The guest bridge takes another MAC (a bridge without a fixed address
    // follows its lowest port's): every AP holds guests to the new one, and
    // a guest that learns it browses on.
    let new_mac = "02:00:00:00:99:01";
    let out = std::process::Command::new("ip")
        .args(["-n", &appliance, "link", "set", "dev", lab::GUEST_INTERFACE, "address", new_mac])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    t.until("both APs hold guests to the gateway's new MAC", 15, || {
        [1, 2].iter().all(|k| table(*k).contains(&format!("ether daddr {new_mac} accept")))
    });
    t.in_guest(1, &["ip", "neigh", "flush", "dev", "eth0"]);
    assert!(t.online(1), "guest 1 browses through the gateway's new MAC");
}
