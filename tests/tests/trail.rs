//! The access log the police ask for: what the internet saw of a guest's
//! connection (the uplink address and source port) names the guest's
//! session, both guests at once over many connections; a session's end is
//! a sealed row; a row edited in the database is named by `trail verify`.

use e2e::TestLab;

/// What the upstream saw of one connection of guest `i`: (address, port).
fn seen_upstream(t: &TestLab, i: usize) -> (String, u16) {
    let (code, body) = t.curl(i, &["--resolve", "example.test:80:203.0.113.10", "http://example.test/whoami"]);
    assert_eq!(code, 200, "{body}");
    let line = body.lines().rev().find(|l| l.contains(':')).unwrap_or_default().trim().to_string();
    let (addr, port) = line.rsplit_once(':').unwrap_or_else(|| panic!("no peer in {body:?}"));
    (addr.to_string(), port.parse().unwrap())
}

/// Guest `i`'s IPv4 address on the guest network.
fn address_of(t: &TestLab, i: usize) -> String {
    let out = t.in_guest(i, &["ip", "-4", "-o", "addr", "show", "scope", "global"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().skip_while(|w| *w != "inet").nth(1).unwrap().split('/').next().unwrap().to_string()
}

fn search(t: &TestLab, addr: &str, port: u16) -> Vec<serde_json::Value> {
    let out = t.cli_ok(&["trail", "search", "--address", addr, "--port", &port.to_string(), "--json"]);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn the_upstream_s_view_of_a_connection_names_its_guest_and_an_edited_row_is_found() {
    let Some(t) = TestLab::start("e2e-trail", 2, 3600, &[("GUESTWIFI_TRAIL__DOMAINS", "true")]) else {
        return;
    };
    t.login(1);
    t.login(2);
    let ips = [address_of(&t, 1), address_of(&t, 2)];

    // Many connections of both guests at once, each looked up by what the upstream saw.
    let seen: Vec<(usize, String, u16)> = std::thread::scope(|s| {
        let runs: Vec<_> = [1usize, 2]
            .into_iter()
            .map(|i| {
                let t = &t;
                s.spawn(move || (0..15).map(|_| seen_upstream(t, i)).map(|(a, p)| (i, a, p)).collect::<Vec<_>>())
            })
            .collect();
        runs.into_iter().flat_map(|r| r.join().unwrap()).collect()
    });
    let mut sessions = [None, None];
    for (i, addr, port) in &seen {
        assert_eq!(addr, "203.0.113.1", "guests leave by the uplink address");
        assert!(*port >= firewall::FIRST_PORT, "a logged-in guest's port is in its block: {port}");
        let rows = search(&t, addr, *port);
        assert_eq!(rows.len(), 1, "one session owns {addr}:{port}: {rows:?}");
        let row = &rows[0];
        assert_eq!(row["ip"], ips[i - 1].as_str(), "{addr}:{port} is guest {i}'s");
        assert!(row["identity"].as_str().unwrap().starts_with("device:"), "{row}");
        let id = row["session_id"].as_i64().unwrap();
        assert_eq!(*sessions[i - 1].get_or_insert(id), id, "one session a guest");
    }
    assert_ne!(sessions[0], sessions[1]);
    // The domain log (on here): the names each session resolved, the officer's to read.
    for i in [1, 2] {
        assert!(t.in_guest(i, &["getent", "hosts", "example.test"]).status.success());
    }
    for id in sessions.iter().flatten() {
        t.until("the session's names are written", 15, || {
            t.cli_ok(&["trail", "domains", &id.to_string()]).contains("example.test")
        });
    }

    // Guest 1 logs out: its session is a row of the log, sealed, still found by the port it used.
    let (addr, port) = seen.iter().find(|s| s.0 == 1).map(|s| (s.1.clone(), s.2)).unwrap();
    let token = t.token(1);
    let (code, page) = t.post(1, "/logout", &[("token", &token)]);
    assert_eq!(code, 200, "{page}");
    t.until("guest 1's row is sealed", 20, || {
        let v: serde_json::Value = serde_json::from_str(&t.cli_ok(&["trail", "verify", "--json"])).unwrap();
        v["rows"] == 1 && v["pending"] == 0
    });
    let rows = search(&t, &addr, port);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0]["seq"].as_i64().unwrap() > 0 && rows[0]["logout_at"].is_i64(), "{rows:?}");
    let csv = t.cli_ok(&["trail", "search", "--address", &addr, "--port", &port.to_string(), "--csv"]);
    assert!(csv.starts_with("seq,identity") && csv.contains(&ips[0]), "{csv}");
    // Signed with the appliance's key: the police check it, and a changed copy fails.
    let file = t.lab.dir.join("access-log.csv");
    std::fs::write(&file, &csv).unwrap();
    let key = t.cli_ok(&["trail", "key"]).trim().to_string();
    let checked = t.cli_ok(&["trail", "check", file.to_str().unwrap()]);
    assert!(checked.contains(&key), "{checked}");
    std::fs::write(&file, csv.replacen(&ips[0], "192.0.2.250", 1)).unwrap();
    assert!(!t.cli(&["trail", "check", file.to_str().unwrap()]).status.success(), "a changed export fails");

    // Someone with the database's file edits the row: `trail verify` names it and fails.
    let db = t.lab.dir.join("data").join("guestwifi.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&db).connect().await.unwrap();
        sqlx::query("DROP TRIGGER access_trail_append_only").execute(&mut conn).await.unwrap();
        sqlx::query("UPDATE access_trail SET identity = 'phone:13900000000' WHERE seq = 1")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let out = t.cli(&["trail", "verify"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("broken at row 1") && said.contains("edited"), "{said}");
}

#[test]
fn a_guest_out_of_ports_in_its_block_gets_no_more_connections_and_never_another_s_ports() {
    let Some(t) = TestLab::start("e2e-ports", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    t.login(2);
    // A /24 guest range: 61,440 ports over 256 addresses, 240 a guest. All
    // to one server and port (the only case a block runs out: another
    // destination may reuse every port).
    let upstream: std::net::SocketAddr = "203.0.113.10:80".parse().unwrap();
    let held = t.guest_sockets(1, upstream, 300);
    assert_eq!(held.len(), 240, "guest 1 holds exactly its block's ports");
    // The other guest is untouched, and its connections stay its own.
    let (addr, port) = seen_upstream(&t, 2);
    let rows = search(&t, &addr, port);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ip"], address_of(&t, 2).as_str(), "guest 2's port is guest 2's");
    drop(held);
    // Closed, the block frees up again.
    t.until("guest 1 connects again", 10, || {
        let (code, _) =
            t.curl(1, &["--max-time", "2", "--resolve", "example.test:80:203.0.113.10", "http://example.test/"]);
        code == 200
    });
}

#[test]
fn a_renumbered_uplink_is_taken_up_and_the_log_finds_a_session_by_either_address() {
    // WeChat's callback listens on every address (the product's default; the lab pins the uplink's).
    let Some(t) = TestLab::start("e2e-renumber", 1, 3600, &[("GUESTWIFI_AUTH__WECHAT__LISTEN", "0.0.0.0:8081")]) else {
        return;
    };
    t.login(1);
    let (old, old_port) = seen_upstream(&t, 1);
    assert_eq!(old, "203.0.113.1");
    // The uplink's DHCP lease changes: a new address, the old one gone.
    let ns = t.lab.appliance();
    // (Removing a primary address takes its subnet's secondaries with it: the old goes first, as a DHCP client does.)
    for args in [["addr", "del", "203.0.113.1/24", "dev", "wan0"], ["addr", "add", "203.0.113.21/24", "dev", "wan0"]] {
        assert!(std::process::Command::new("ip").arg("-n").arg(&ns).args(args).status().unwrap().success());
    }
    let mut now = None;
    t.until("guests leave by the new address", 40, || {
        let (code, body) =
            t.curl(1, &["--max-time", "2", "--resolve", "example.test:80:203.0.113.10", "http://example.test/whoami"]);
        let seen = body.lines().rev().find(|l| l.contains(':')).and_then(|l| l.trim().rsplit_once(':'));
        now = seen
            .filter(|(a, _)| code == 200 && *a == "203.0.113.21")
            .map(|(a, p)| (a.to_string(), p.parse::<u16>().unwrap()));
        now.is_some()
    });
    let (new, new_port) = now.unwrap();
    t.until("the restarted controller answers", 20, || t.cli(&["sessions", "list"]).status.success());
    // The guest stayed logged in, one session, found by what either side saw.
    let by_new = search(&t, &new, new_port);
    let by_old = search(&t, &old, old_port);
    assert_eq!(by_new.len(), 1, "{by_new:?}");
    assert_eq!(by_old.len(), 1, "{by_old:?}");
    assert_eq!(by_new[0]["session_id"], by_old[0]["session_id"]);
    assert_eq!(by_new[0]["public_addr"], "203.0.113.1|203.0.113.21");
}
