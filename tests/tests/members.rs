//! The member store end to end, on SQLite and on a real PostgreSQL: guests
//! keep logging in while the store is cut off, and every fact lands exactly
//! once after the link comes back, across a `kill -9` of the controller in
//! the middle of delivering; membership cards log in with their tier and a
//! lost card is refused; a second site of the brand offers a known phone
//! its one-tap return.

use controller::config::MembersSettings;
use controller::members::Store;
use e2e::pg::Postgres;
use e2e::{field, TestLab};

/// The upstream's address where the tests' PostgreSQL listens.
const PG_ADDR: &str = "203.0.113.10";

#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Sqlite,
    Postgres,
}

/// The store as the test reads it.
fn store_of(t: &TestLab, pg: Option<&Postgres>) -> Store {
    let mut settings: MembersSettings = toml_defaults();
    if let Some(pg) = pg {
        settings.url = pg.local_url();
    }
    Store::connect(&settings, &t.lab.dir.join("data")).unwrap()
}

fn toml_defaults() -> MembersSettings {
    controller::config::Config::parse(include_str!("../../image/controller.example.toml"), "example", Vec::new())
        .unwrap()
        .members
}

fn count(rt: &tokio::runtime::Runtime, store: &Store, sql: &str) -> i64 {
    rt.block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool())).unwrap()
}

/// The feed's status as the CLI prints it with --json.
fn feed(t: &TestLab) -> serde_json::Value {
    serde_json::from_str(&t.cli_ok(&["members", "feed", "--json"])).unwrap()
}

/// A metric's value from the admin listener's /metrics.
fn metric(t: &TestLab, name: &str) -> i64 {
    let scrape = std::process::Command::new("ip")
        .args(["netns", "exec", &t.lab.appliance(), "curl", "-s", "http://127.0.0.1:8080/metrics"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&scrape.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

/// Logs guest `i` out with the token its online page shows (not a portal view).
fn logout(t: &TestLab, i: usize) {
    let token = t.token(i);
    let (code, page) = t.post(i, "/logout", &[("token", &token)]);
    assert_eq!(code, 200, "{page}");
}

/// One countdown login and logout of guest `i` (one portal view).
fn visit(t: &TestLab, i: usize) {
    let page = t.curl(i, &[&format!("http://{}/", e2e::PORTAL_HOST)]).1;
    let ticket = field(&page, "ticket").unwrap_or_else(|| panic!("a ticket in\n{page}"));
    let (code, online) = t.post_login(i, &ticket);
    assert_eq!(code, 200, "login while the store is away:\n{online}");
    logout(t, i);
}

fn feed_survives_a_cut_link_and_a_kill(engine: Engine) {
    let name = if engine == Engine::Postgres { "mfpg" } else { "mfsq" };
    let mut pg = None;
    let mut env: Vec<(String, String)> = vec![
        ("GUESTWIFI_AUTH__COUNTDOWN__SECONDS".into(), "0".into()),
        ("GUESTWIFI_AUTH__CARD__ENABLED".into(), "true".into()),
        ("GUESTWIFI_MEMBERS__BATCH".into(), "7".into()),
    ];
    if engine == Engine::Postgres {
        if !e2e::root_or_skip(name) {
            return;
        }
        // The server starts once the lab's upstream exists; the feed retries until then.
        let password = std::path::PathBuf::from(format!("/tmp/guestwifi-pg-{name}.password"));
        Postgres::password_file(&password);
        env.push(("GUESTWIFI_MEMBERS__URL".into(), Postgres::url_at(PG_ADDR)));
        env.push(("GUESTWIFI_MEMBERS__PASSWORD_FILE".into(), password.display().to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let Some(mut t) = TestLab::start(name, 2, 3600, &env) else { return };
    if engine == Engine::Postgres {
        pg = Some(Postgres::start(name, &t.lab.upstream(), PG_ADDR));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    t.until("the member store is ready", 60, || feed(&t)["feed"]["ready"] == true);

    // A member with a card; the tier gives two hours at 8 Mbit/s.
    let csv = t.lab.dir.join("members.csv");
    std::fs::write(&csv, "phone,name,card,tier,pin\n13800138000,王芳,8800123,gold,2468\n").unwrap();
    assert!(t.cli_ok(&["members", "import", csv.to_str().unwrap()]).contains("1 members added"));
    t.cli_ok(&["members", "tier", "gold", "--minutes", "120", "--down-kbps", "8000"]);
    let token = t.token(1);
    let (code, page) = t.post(1, "/login/card", &[("card", "8800123"), ("pin", "2468"), ("token", &token)]);
    assert_eq!(code, 200, "{page}");
    let sessions: serde_json::Value = serde_json::from_str(&t.cli_ok(&["sessions", "list", "--json"])).unwrap();
    assert_eq!(sessions[0]["granted_seconds"], 7200, "the tier's length");
    assert_eq!(sessions[0]["down_kbps"], 8000);
    logout(&t, 1);
    t.until("the card login lands", 30, || feed(&t)["backlog"]["waiting"] == 0);
    t.until("the card cache is filled", 30, || feed(&t)["cards_cached_at"].is_i64());
    let mut views = 1;
    let (mut logins, mut ends) = (1, 1);

    // Cut the store off: the server stops, or another process holds SQLite's write lock.
    let _runtime = rt.enter();
    let store = store_of(&t, pg.as_ref());
    let mut lock = None;
    match pg.as_mut() {
        Some(pg) => pg.stop_server(),
        None => {
            use sqlx::Connection;
            let path = t.lab.dir.join("data/members.db");
            let mut conn =
                rt.block_on(sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))).unwrap();
            rt.block_on(sqlx::Executor::execute(&mut conn, "BEGIN EXCLUSIVE")).unwrap();
            lock = Some(conn);
        }
    }
    // Guests keep coming and going; a wrong PIN is refused and filed too.
    for _ in 0..12 {
        for i in 1..=2 {
            visit(&t, i);
            views += 1;
            logins += 1;
            ends += 1;
        }
    }
    let token = t.token(2);
    views += 1;
    let (code, _) = t.post(2, "/login/card", &[("card", "8800123"), ("pin", "0000"), ("token", &token)]);
    assert_eq!(code, 403);
    // The card logs in from the local copy while the store is away.
    let (code, page) = t.post(2, "/login/card", &[("card", "8800123"), ("pin", "2468"), ("token", &token)]);
    assert_eq!(code, 200, "{page}");
    logout(&t, 2);
    logins += 1;
    ends += 1;
    let status = feed(&t);
    assert!(status["backlog"]["waiting"].as_i64().unwrap() >= 48, "facts wait in the outbox: {status}");
    if engine == Engine::Postgres {
        t.until("the feed reports the cut", 20, || feed(&t)["feed"]["error"].is_string());
    }
    t.until("the backlog is a metric", 70, || metric(&t, "guestwifi_member_feed_waiting") >= 48);

    // The link comes back; the controller is killed while it delivers, and started again.
    match pg.as_mut() {
        Some(pg) => pg.start_server(),
        None => {
            let mut conn = lock.take().unwrap();
            rt.block_on(sqlx::Executor::execute(&mut conn, "ROLLBACK")).unwrap();
        }
    }
    t.until("delivery starts", 90, || feed(&t)["feed"]["delivered"].as_u64().unwrap_or(0) > 0);
    // Counted where this process delivered (the restarted one may find nothing left to send).
    t.until("deliveries are a metric", 10, || metric(&t, "guestwifi_member_feed_delivered_total") > 0);
    t.kill_controller();
    t.start_controller();
    t.until("the outbox drains", 90, || feed(&t)["backlog"]["waiting"] == 0);

    // Every fact exactly once.
    let kinds = |kind: &str| count(&rt, &store, &format!("SELECT COUNT(*) FROM events WHERE kind = '{kind}'"));
    assert_eq!(kinds("login"), logins, "logins");
    assert_eq!(kinds("visit_end"), ends, "visit ends");
    assert_eq!(kinds("portal_view"), views, "portal views");
    assert_eq!(kinds("refusal"), 1, "the wrong PIN");
    assert_eq!(count(&rt, &store, "SELECT COUNT(*) FROM visits"), logins);
    assert_eq!(count(&rt, &store, "SELECT COUNT(*) FROM visits WHERE end_reason = 'logout'"), ends);
    assert_eq!(count(&rt, &store, "SELECT COUNT(*) FROM sites WHERE site_id = 'site-1'"), 1, "the site registered");
    assert_eq!(feed(&t)["backlog"]["parked"], 0);
    t.until("the gauge drops", 10, || metric(&t, "guestwifi_member_feed_waiting") == 0);

    // The member's card, reported lost at the front desk, is refused with its page.
    t.cli_ok(&["cards", "lost", "8800123"]);
    let token = t.token(2);
    let (code, page) = t.post(2, "/login/card", &[("card", "8800123"), ("pin", "2468"), ("token", &token)]);
    assert_eq!(code, 403);
    assert!(page.contains("已挂失"), "{page}");
    let shown = t.cli_ok(&["members", "show", "13800138000"]);
    assert!(shown.contains("138****8000") && !shown.contains("13800138000") && shown.contains("lost"), "{shown}");
    assert!(!t.log().contains("13800138000"), "no full phone number in the log");
}

#[test]
fn sqlite_store_feed_survives_a_locked_store_and_a_kill() {
    feed_survives_a_cut_link_and_a_kill(Engine::Sqlite);
}

#[test]
fn postgres_store_feed_survives_a_stopped_server_and_a_kill() {
    feed_survives_a_cut_link_and_a_kill(Engine::Postgres);
}
