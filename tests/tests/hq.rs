//! Headquarters end to end: two replicas of the real `guestwifi-hq` on one
//! PostgreSQL, sites enrolled with claim codes over the real TLS, their
//! outboxes delivered through the real feed. A code works once; a site
//! files facts only about itself, exactly once, across a replica killed
//! mid-delivery; a revoked site gets nothing; a block published for a
//! region reaches that region's sites only, and wakes their long-polls.

use controller::hq::client::{Client, HqError};
use controller::hq::join::{join, JoinError};
use controller::hq::protocol::WireFact;
use controller::hq::site::Identity;
use controller::members::feed::{Feed, Sink};
use controller::members::outbox::{self, Fact};
use controller::members::{Store, Who};
use lab::hq::Hq;
use std::path::Path;
use std::time::{Duration, Instant};

const URL1: &str = "https://127.0.0.1:18443";
const URL2: &str = "https://127.0.0.1:18444";

fn count(rt: &tokio::runtime::Runtime, hq: &Hq, sql: &str) -> i64 {
    let pool = rt.block_on(sqlx::PgPool::connect(&hq.pg.local_url())).unwrap();
    let n = rt.block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool)).unwrap();
    rt.block_on(pool.close());
    n
}

/// The site's client, dialling `url` (another replica of the same HQ).
fn client_at(dir: &Path, url: &str) -> Client {
    let mut identity = Identity::load(dir).unwrap().expect("enrolled");
    identity.enrolment.url = url.into();
    Client::new(&identity).unwrap()
}

/// A site's own store with `n` guests' logins, ends and portal views in its outbox.
async fn outbox_of(dir: &Path, n: usize) -> (sqlx::SqlitePool, Store) {
    let local = controller::store::open(dir).await.unwrap();
    let members = Store::connect(&Default::default(), dir).unwrap();
    for i in 0..n {
        let mac = format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256);
        let mut tx = local.begin().await.unwrap();
        let at = controller::kit::time::now_ms();
        let who = Who::device(&mac);
        let visit = uuid::Uuid::new_v4().to_string();
        let login =
            Fact::Login { visit: visit.clone(), who, mac: mac.clone(), method: "countdown".into(), started_at: at };
        outbox::push(&mut tx, at, &format!("device:{mac}"), &login).await.unwrap();
        let view = Fact::Event { kind: "portal_view".into(), who: None, mac: mac.clone(), detail: String::new() };
        outbox::push(&mut tx, at, &format!("device:{mac}"), &view).await.unwrap();
        let end =
            Fact::VisitEnd { visit, ended_at: at + 1, reason: "logout".into(), bytes_up: 10, zones: String::new() };
        outbox::push(&mut tx, at, &format!("device:{mac}"), &end).await.unwrap();
        tx.commit().await.unwrap();
    }
    (local, members)
}

fn refused(result: Result<impl std::fmt::Debug, HqError>) -> u16 {
    match result {
        Err(HqError::Refused(status, _)) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn sites_enrol_once_file_facts_exactly_once_about_themselves_and_take_their_region_s_blocks() {
    if !e2e::root_or_skip("hq_sites") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut hq = e2e::hq::start("sites", &["127.0.0.1"]);
    hq.with_apps("chain");
    hq.env.push(("GUESTWIFI_HQ_ENROL__FAILED_TRADES_PER_SITE_HOUR".into(), "3".into()));
    let r1 = hq.start_replica(None, "127.0.0.1:18443", "127.0.0.1:19465");
    hq.start_replica(None, "127.0.0.1:18444", "127.0.0.1:19466");
    let code_b = hq.add_site("chain", "east", "b", "B 店");
    let code_c = hq.add_site("chain", "west", "c", "C 店");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (dir_b, dir_c, dir_x) = (tmp.path().join("b"), tmp.path().join("c"), tmp.path().join("x"));
    for d in [&dir_b, &dir_c, &dir_x] {
        std::fs::create_dir_all(d).unwrap();
    }

    // A code with one character changed gets nothing, and the real one still works once.
    let last = code_b.chars().last().unwrap();
    let wrong = format!("{}{}", &code_b[..code_b.len() - 1], if last == '2' { '3' } else { '2' });
    let err = rt.block_on(join(URL1, &wrong, &dir_b, false)).unwrap_err();
    assert!(matches!(err, JoinError::Refused(403, _)), "{err}");
    assert!(Identity::load(&dir_b).unwrap().is_none(), "a refused join leaves nothing");
    let b = rt.block_on(join(URL1, &code_b, &dir_b, false)).unwrap().enrolment;
    assert_eq!((b.brand.as_str(), b.site.as_str(), b.region.as_str(), b.name.as_str()), ("chain", "b", "east", "B 店"));
    let key = dir_b.join("hq/site.key");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions()) & 0o777, 0o600);
    let err = rt.block_on(join(URL2, &code_b, &dir_x, false)).unwrap_err();
    assert!(matches!(err, JoinError::Refused(403, _)), "a used code, at another replica too: {err}");
    rt.block_on(join(URL2, &code_c, &dir_c, false)).unwrap();

    // Site b's 200 guests: 600 facts, delivered in batches of 25 through
    // replica 1, which is killed in the middle; the feed goes on at replica 2.
    let (local, members) = rt.block_on(outbox_of(&dir_b, 200));
    let feed = |url: &str| {
        Feed::new(members.clone(), local.clone(), 25, Default::default())
            .with_sink(Sink::Hq(std::sync::Arc::new(client_at(&dir_b, url))))
    };
    let first = feed(URL1);
    for _ in 0..6 {
        assert_eq!(rt.block_on(first.deliver_once()).unwrap(), 25);
    }
    hq.kill(r1);
    assert!(rt.block_on(first.deliver_once()).is_err(), "replica 1 is gone");
    let second = feed(URL2);
    while rt.block_on(second.deliver_once()).unwrap() > 0 {}
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM events WHERE site_id = 'b'"), 600, "every fact once");
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM visits WHERE site_id = 'b' AND end_reason = 'logout'"), 200);
    assert_eq!(rt.block_on(outbox::backlog(&local)).unwrap().waiting, 0);

    // A batch delivered twice (an answer lost on the way) lands once.
    let client_b = client_at(&dir_b, URL2);
    let id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_string(&Fact::Event {
        kind: "ad_click".into(),
        who: None,
        mac: "02:00:00:00:00:01".into(),
        detail: "x".into(),
    })
    .unwrap();
    let fact = WireFact { id: id.clone(), at: 1, body };
    for _ in 0..2 {
        assert_eq!(rt.block_on(client_b.facts(vec![fact.clone()])).unwrap().landed, 1);
    }
    assert_eq!(count(&rt, &hq, &format!("SELECT COUNT(*) FROM events WHERE event_id = '{id}'")), 1);

    // Site c cannot file facts as site b, nor as another brand: refused, recorded, nothing filed.
    let client_c = client_at(&dir_c, URL2);
    for (brand, site) in [("chain", "b"), ("other", "c")] {
        let mut forged = client_c.clone();
        (forged.brand, forged.site) = (brand.into(), site.into());
        let fact = WireFact { id: uuid::Uuid::new_v4().to_string(), at: 1, body: fact.body.clone() };
        assert_eq!(refused(rt.block_on(forged.facts(vec![fact]))), 403);
    }
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM events WHERE site_id = 'b'"), 601);
    assert_eq!(
        count(&rt, &hq, "SELECT COUNT(*) FROM hq_refusals WHERE site_id = 'c' AND what = 'facts for another'"),
        2
    );

    // Statistics: every fact counts once in its site's, its region's and
    // the brand's day, across the killed replica and the resent batch; a
    // device b knows that logs in at c is new at c but known to the chain.
    let mac = "02:00:00:00:00:07";
    let login = Fact::Login {
        visit: uuid::Uuid::new_v4().to_string(),
        who: Who::device(mac),
        mac: mac.into(),
        method: "sms".into(),
        started_at: controller::kit::time::now_ms(),
    };
    let login = WireFact {
        id: uuid::Uuid::new_v4().to_string(),
        at: controller::kit::time::now_ms(),
        body: serde_json::to_string(&login).unwrap(),
    };
    assert_eq!(rt.block_on(client_c.facts(vec![login])).unwrap().landed, 1);
    let rolled = Instant::now();
    while count(&rt, &hq, "SELECT COUNT(*) FROM hq_rollup_queue") > 0 {
        assert!(rolled.elapsed() < Duration::from_secs(20), "the roller keeps up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let stat = |scope: &str, what: &str, key: &str| {
        count(
            &rt,
            &hq,
            &format!(
                "SELECT COALESCE(SUM(n), 0)::BIGINT FROM hq_stats WHERE scope = '{scope}' AND what = '{what}' AND key = '{key}'"
            ),
        )
    };
    for scope in ["site:b", "region:east"] {
        assert_eq!(stat(scope, "logins", ""), 200, "{scope}");
        assert_eq!(stat(scope, "method", "countdown"), 200, "{scope}");
        assert_eq!(stat(scope, "views", ""), 200, "{scope}");
        assert_eq!(stat(scope, "visits_ended", ""), 200, "{scope}");
        assert_eq!(stat(scope, "dwell", "0-15"), 200, "{scope}");
        assert_eq!(stat(scope, "guests", "new"), 200, "{scope}");
        assert_eq!(stat(scope, "ad_click", "x"), 1, "the batch sent twice counts once");
    }
    assert_eq!(stat("brand", "logins", ""), 201);
    assert_eq!(stat("brand", "guests", "new"), 200);
    assert_eq!(stat("brand", "guests", "returning"), 0, "b's guest again the same day: once a day for the chain");
    assert_eq!(stat("site:c", "guests", "elsewhere"), 1, "new at c, known at b");
    assert_eq!(stat("site:c", "guests", "new"), 0);
    assert_eq!(stat("region:west", "method", "sms"), 1);

    // Cards: HQ checks the PIN and gives the hash only for a right one, and
    // a site's offline copy gets only the cards whose PIN was right there.
    use controller::hq::protocol::CardVerdict;
    let chain = {
        let _in = rt.enter();
        hq.members("chain")
    };
    let csv = "phone,name,card,tier,pin\n13800138000,王芳,8800123,gold,2468\n13900139000,李雷,8800456,,1357\n";
    rt.block_on(chain.import(csv)).unwrap();
    match rt.block_on(client_b.check_card("8800123", "2468")).unwrap() {
        CardVerdict::Good { card } => assert!(card.pin_hash.is_some() && card.tier == "gold", "{card:?}"),
        CardVerdict::Wrong => panic!("the right PIN"),
    }
    assert!(matches!(rt.block_on(client_b.check_card("8800123", "0000")).unwrap(), CardVerdict::Wrong));
    assert!(matches!(rt.block_on(client_b.check_card("9999999", "2468")).unwrap(), CardVerdict::Wrong));
    let asked = vec!["8800123".to_string(), "8800456".to_string()];
    let copy = rt.block_on(client_b.cards(&asked)).unwrap();
    assert_eq!(copy.len(), 1, "only the card that logged in at b: {copy:?}");
    assert!(rt.block_on(client_c.cards(&asked)).unwrap().is_empty(), "c saw no card");
    let glance = rt.block_on(client_c.card("8800456")).unwrap().unwrap();
    assert_eq!(glance.pin_hash, None, "a card's state without its PIN");
    // A site's wrong PINs are capped at HQ (5 an hour here), right ones too then.
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(match rt.block_on(client_c.check_card("8800456", "0000")) {
            Ok(CardVerdict::Wrong) => 200,
            Err(HqError::Refused(status, _)) => status,
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(verdicts, [200, 200, 200, 200, 200]);
    assert_eq!(refused(rt.block_on(client_c.check_card("8800456", "1357"))), 429, "c's hour of wrong PINs is spent");
    assert!(
        matches!(rt.block_on(client_b.check_card("8800456", "1357")).unwrap(), CardVerdict::Good { .. }),
        "b's is not"
    );

    // SMS codes go out with the chain's gateway at HQ, within each site's hour (3 here).
    for _ in 0..3 {
        rt.block_on(client_b.sms("+8613800138000", "123456", "验证码 123456")).unwrap();
    }
    assert_eq!(refused(rt.block_on(client_b.sms("+8613800138000", "123456", "验证码 123456"))), 429);
    rt.block_on(client_c.sms("+8613900139000", "654321", "验证码 654321")).unwrap();
    let sent = std::fs::read_to_string(hq.dir.join("sms-outbox.log")).unwrap();
    assert_eq!(sent.matches("+8613800138000").count(), 3, "{sent}");
    assert_eq!(refused(rt.block_on(client_b.sms("13800138000", "1", "x"))), 400, "not a phone");

    // A block for region east reaches b, not c; b's long-poll wakes within a second or two of a publish.
    let promotion =
        r#"[{"id":"p1","title_zh":"冬至饺子","title_en":"Winter dumplings","body_zh":"","body_en":"","image":null}]"#;
    hq.publish("chain", "region:east", "promotions", promotion).unwrap();
    let bundle_b = rt.block_on(client_b.bundle(None, Duration::ZERO)).unwrap().unwrap();
    assert_eq!(bundle_b.blocks["promotions"].value[0]["title_zh"], "冬至饺子");
    let bundle_c = rt.block_on(client_c.bundle(None, Duration::ZERO)).unwrap().unwrap();
    assert!(!bundle_c.blocks.contains_key("promotions"), "region west has no promotions: {bundle_c:?}");
    let unchanged = rt.block_on(client_b.bundle(Some(&bundle_b.version), Duration::from_secs(1))).unwrap();
    assert!(unchanged.is_none(), "an unchanged bundle is a 304 after the wait");
    let waiting = {
        let client = client_b.clone();
        let have = bundle_b.version.clone();
        rt.spawn(async move {
            let start = Instant::now();
            (client.bundle(Some(&have), Duration::from_secs(25)).await, start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    hq.publish("chain", "brand", "brand", r##"{"colour":"#aa2200","story_zh":"百年老店"}"##).unwrap();
    let (woken, took) = rt.block_on(waiting).unwrap();
    let woken = woken.unwrap().expect("a new bundle");
    assert_eq!(woken.blocks["brand"].value["colour"], "#aa2200");
    assert!(took < Duration::from_secs(5), "the publish woke the poll ({took:?})");
    println!("publish -> long-poll answered: {took:?}");
    // A block that does not check is not published at all.
    let err = hq.publish("chain", "brand", "brand", r##"{"colour":"red"}"##);
    assert!(err.unwrap_err().contains("not a colour"));

    // Revoked, site c's next calls get nothing and change nothing; a new code enrols it again.
    hq.cli_ok(&["site", "revoke", "chain/c"]);
    assert_eq!(refused(rt.block_on(client_c.heartbeat(&Default::default()))), 403);
    let fact_c = WireFact { id: uuid::Uuid::new_v4().to_string(), at: 1, body: fact.body.clone() };
    assert_eq!(refused(rt.block_on(client_c.facts(vec![fact_c]))), 403);
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM events WHERE site_id = 'c'"), 1, "only its login from before");
    let code = e2e::hq::claim_code(&hq.cli_ok(&["site", "code", "chain/c"]));
    rt.block_on(join(URL2, &code, &dir_c, true)).unwrap();
    rt.block_on(client_at(&dir_c, URL2).heartbeat(&Default::default())).unwrap();
    assert_eq!(refused(rt.block_on(client_c.heartbeat(&Default::default()))), 403, "the old certificate stays revoked");

    // A stolen appliance's certificate cannot make HQ trade codes for it
    // without end: past the site's failed trades for the hour, it waits.
    let client_b2 = client_at(&dir_b, URL2);
    let trades: Vec<u16> = (0..5)
        .map(|_| refused(rt.block_on(client_b2.oauth("qq", "a-code", "http://elsewhere.example/oauth/qq/callback"))))
        .collect();
    assert_eq!(trades, [400, 400, 400, 429, 429], "{trades:?}");
    assert_eq!(refused(rt.block_on(client_b2.oauth("tiktok", "a-code", "x"))), 404, "no such app");

    // Guessing codes: after ten failures in a minute (the used code above was
    // one, at this replica) an address is told to wait.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let guess = controller::hq::protocol::Claim::generate().display();
        match rt.block_on(join(URL2, &guess, &dir_x, false)) {
            Err(JoinError::Refused(status, _)) => statuses.push(status),
            other => panic!("a guessed code: {other:?}"),
        }
    }
    assert_eq!(statuses[..9], [403; 9], "{statuses:?}");
    assert_eq!(statuses[9..], [429; 3], "{statuses:?}");
}

/// `controller hq status --json`.
fn link(t: &e2e::TestLab) -> serde_json::Value {
    serde_json::from_str(&t.cli_ok(&["hq", "status", "--json"])).unwrap()
}

/// curl in the appliance's namespace against its staff console
/// (127.0.0.1:8080 there), signed in as the owner set up with the setup code.
fn owner_console(t: &e2e::TestLab) -> impl Fn(&[&str]) -> (u16, String) + '_ {
    let jar = t.lab.dir.join("console.jar").display().to_string();
    let curl = move |args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &t.lab.appliance(), "curl", "-s", "-b", &jar, "-c", &jar, "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    };
    let code = t.cli_ok(&["setup-code"]).trim().to_string();
    let (_, form) = curl(&["http://127.0.0.1:8080/console/setup"]);
    let csrf = e2e::field(&form, "csrf").unwrap_or_else(|| panic!("the setup form: {form}"));
    let fields =
        [format!("code={code}"), "username=owner".into(), "password=owner password 1".into(), format!("csrf={csrf}")];
    let mut args = vec!["-L"];
    for f in &fields {
        args.extend(["--data-urlencode", f.as_str()]);
    }
    args.push("http://127.0.0.1:8080/console/setup");
    let (status, page) = curl(&args);
    assert_eq!(status, 200, "the owner is set up: {page}");
    let (_, form) = curl(&["http://127.0.0.1:8080/console/login"]);
    let csrf = e2e::field(&form, "csrf").unwrap_or_else(|| panic!("the login form: {form}"));
    let fields = ["username=owner".to_string(), "password=owner password 1".into(), format!("csrf={csrf}")];
    let mut args = vec!["-L"];
    for f in &fields {
        args.extend(["--data-urlencode", f.as_str()]);
    }
    args.push("http://127.0.0.1:8080/console/login");
    let (status, page) = curl(&args);
    assert_eq!(status, 200, "the owner signs in: {page}");
    curl
}

/// Puts a block in for `site` of brand chain that does not check as a
/// whole (its ad opens a promotion no block has), past HQ's own check, and
/// wakes the long-polls.
async fn put_bad_bundle(pool: &sqlx::PgPool, site: &str) {
    sqlx::query(
        "INSERT INTO hq_blocks (brand_id, scope_kind, scope_id, block, version, value, published_at, published_by) \
         VALUES ('chain', 'site', $1, 'ad', 1, $2, 0, 'test')",
    )
    .bind(site)
    .bind(r#"{"text_zh":"点我","text_en":"","promotion":"nope","image":null}"#)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("NOTIFY hq_bundle, 'chain'").execute(pool).await.unwrap();
}

/// One countdown login and logout of guest `i`.
fn visit(t: &e2e::TestLab, i: usize) {
    t.login(i);
    let token = t.token(i);
    let (code, page) = t.post(i, "/logout", &[("token", &token)]);
    assert_eq!(code, 200, "{page}");
}

#[test]
fn an_enrolled_appliance_takes_its_region_s_promotion_and_serves_guests_through_an_hq_outage() {
    let env = [
        ("GUESTWIFI_AUTH__CARD__ENABLED", "true"),
        ("GUESTWIFI_AUTH__SMS__ENABLED", "true"),
        ("GUESTWIFI_AUTH__SMS__GATEWAY", "hq"),
    ];
    let Some(mut t) = e2e::TestLab::start("hqlab", 2, 3600, &env) else {
        return;
    };
    let mut hq = e2e::hq::start("lab", &["203.0.113.10"]);
    let replica = hq.start_replica(Some(&t.lab.upstream()), "203.0.113.10:8443", "127.0.0.1:19467");
    let code = hq.add_site("chain", "east", "sh-01", "上海一店");
    let rt = tokio::runtime::Runtime::new().unwrap();

    // The admin joins from the appliance; the fingerprint it prints is HQ's CA's.
    let out = t.controller_in_appliance(&["hq", "join", "https://203.0.113.10:8443", &code], &[]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}{}", String::from_utf8_lossy(&out.stderr));
    let ca = std::fs::read_to_string(hq.dir.join("ca.crt")).unwrap();
    assert!(printed.contains(&controller::hq::join::pem_fingerprint(&ca).unwrap()), "{printed}");
    assert!(printed.contains("site sh-01 of brand chain"), "{printed}");
    t.stop_controller();
    t.start_controller();
    t.until("the link is up", 30, || link(&t)["link"]["heartbeat_at"].is_i64());

    // A promotion with its photo, for region east: the portal shows it within seconds.
    let photo = t.lab.dir.join("dumplings.png");
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])).save(&photo).unwrap();
    let photo_id = hq.cli_ok(&["photo", "--brand", "chain", photo.to_str().unwrap()]).trim().to_string();
    let promotion = format!(
        r#"[{{"id":"p1","title_zh":"冬至饺子","title_en":"Winter dumplings","body_zh":"买一送一","body_en":"","image":"{photo_id}"}}]"#
    );
    let published = Instant::now();
    hq.publish("chain", "region:east", "promotions", &promotion).unwrap();
    let shows = || t.curl(1, &[&format!("http://{}/promotions", e2e::PORTAL_HOST)]).1.contains("冬至饺子");
    t.until("the promotion shows", 15, shows);
    println!("publish -> on the portal: {:?}", published.elapsed());
    let (code, _) = t.curl(1, &["-o", "/dev/null", &format!("http://{}/m/{photo_id}/320.jpg", e2e::PORTAL_HOST)]);
    assert_eq!(code, 200, "the photo was fetched and re-encoded here");
    let applied = link(&t)["link"]["bundle"].as_str().unwrap().to_string();
    t.until("HQ knows what the site applied", 10, || {
        hq.cli(&["site", "list", "--json"]).unwrap().contains(&format!("\"applied\": \"{applied}\""))
    });

    // Settings for the region: the countdown gives 90 minutes. The site checks
    // the whole configuration they make, writes them, restarts; guests stay.
    let settings =
        r#"{"auth.countdown.session_minutes": 90, "walled_garden.names": ["garden.test", "menu.garden.test"]}"#;
    hq.publish("chain", "region:east", "settings", settings).unwrap();
    let hq_settings = t.lab.dir.join("data").join("hq-settings.toml");
    t.until("the settings are written", 15, || hq_settings.exists());
    t.until("the controller restarts", 15, || t.log().contains("restarting to apply the saved settings"));
    t.until("the controller is back after its restart", 30, || {
        let restarted = t.log().rsplit("restarting to apply the saved settings").next().unwrap_or("").to_string();
        restarted.contains("member store ready") && t.cli(&["hq", "status", "--json"]).status.success()
    });
    assert!(link(&t)["link"]["bundle"].as_str().is_some_and(|b| b != applied), "{}", link(&t));
    visit(&t, 2);
    t.login(2);
    let sessions: serde_json::Value = serde_json::from_str(&t.cli_ok(&["sessions", "list", "--json"])).unwrap();
    assert_eq!(sessions[0]["granted_seconds"], 5400, "HQ's session length: {sessions}");
    let token = t.token(2);
    assert_eq!(t.post(2, "/logout", &[("token", &token)]).0, 200);
    // Settings that do not make a working configuration are refused whole.
    let bad = r#"{"auth.countdown.session_minutes": 90, "session.length_seconds": 0}"#;
    hq.publish("chain", "region:east", "settings", bad).unwrap();
    t.until("the site refuses the bad settings", 15, || link(&t)["link"]["refused"].is_array());
    assert!(link(&t)["link"]["refused"][1].as_str().unwrap().contains("settings"), "{}", link(&t));
    assert!(std::fs::read_to_string(&hq_settings).unwrap().contains("session_minutes = 90"), "the last good stay");
    hq.publish("chain", "region:east", "settings", settings).unwrap();
    t.until("the good settings again", 15, || link(&t)["link"]["refused"].is_null());
    let applied = link(&t)["link"]["bundle"].as_str().unwrap().to_string();

    // A bundle that does not check as a whole (its ad opens a promotion no
    // block has), put in past HQ's own check: refused whole, the last good one stays.
    let pool = rt.block_on(sqlx::PgPool::connect(&hq.pg.local_url())).unwrap();
    rt.block_on(put_bad_bundle(&pool, "sh-01"));
    t.until("the site refuses the bad bundle", 15, || link(&t)["link"]["refused"].is_array());
    assert_eq!(link(&t)["link"]["bundle"], applied.as_str(), "the last good bundle stays");
    assert!(shows(), "and the portal still shows it");
    t.until("HQ sees the refusal", 10, || hq.cli(&["site", "list", "--json"]).unwrap().contains("\"refused\": \""));

    // An SMS code goes out from HQ, with the chain's gateway: the site holds no key.
    let token = t.token(1);
    let (code, page) = t.post(1, "/sms/send", &[("phone", "13800138000"), ("token", &token)]);
    assert_eq!(code, 200, "{page}");
    let sent = std::fs::read_to_string(hq.dir.join("sms-outbox.log")).unwrap();
    let sms = e2e::sms_code(sent.lines().last().unwrap());
    let (code, page) = t.post(1, "/login/sms", &[("phone", "13800138000"), ("code", &sms), ("token", &token)]);
    assert_eq!(code, 200, "{page}");
    let token = t.token(1);
    assert_eq!(t.post(1, "/logout", &[("token", &token)]).0, 200);

    // A member's card logs in at the site, checked at HQ.
    let chain = {
        let _in = rt.enter();
        hq.members("chain")
    };
    rt.block_on(chain.import("phone,name,card,tier,pin\n13800138000,王芳,8800123,,2468\n")).unwrap();
    let card_login = |t: &e2e::TestLab, pin: &str| {
        let token = t.token(2);
        let (code, page) = t.post(2, "/login/card", &[("card", "8800123"), ("pin", pin), ("token", &token)]);
        if code == 200 {
            let token = t.token(2);
            assert_eq!(t.post(2, "/logout", &[("token", &token)]).0, 200);
        }
        (code, page)
    };
    assert_eq!(card_login(&t, "0000").0, 403, "a wrong PIN, checked at HQ");
    let (code, page) = card_login(&t, "2468");
    assert_eq!(code, 200, "{page}");

    // HQ goes away: guests keep logging in, the site says since when, facts queue.
    t.until("the first facts land", 30, || link(&t)["backlog"]["waiting"] == 0);
    let facts = |kind: &str| {
        rt.block_on(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE site_id = 'sh-01' AND kind = $1")
                .bind(kind)
                .fetch_one(&pool),
        )
        .unwrap()
    };
    let logins_before = facts("login");
    hq.kill(replica);
    for _ in 0..3 {
        for i in 1..=2 {
            visit(&t, i);
        }
    }
    let (code, page) = card_login(&t, "2468");
    assert_eq!(code, 200, "the card that logged in here logs in from the site's copy: {page}");
    t.until("the site says HQ is unreachable", 70, || link(&t)["link"]["unreachable_since"].is_i64());
    let status = t.cli_ok(&["hq", "status"]);
    assert!(status.contains("UNREACHABLE since"), "{status}");
    // And the site console says it, on its HQ page and its home page.
    let console = owner_console(&t);
    let (code, page) = console(&["http://127.0.0.1:8080/console/hq"]);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("id=\"hq-unreachable\"") && page.contains("sh-01"), "{page}");
    let (_, home) = console(&["http://127.0.0.1:8080/console/"]);
    assert!(home.contains("id=\"hq-unreachable\""), "{home}");
    assert!(link(&t)["backlog"]["waiting"].as_i64().unwrap() >= 12, "facts wait: {}", link(&t));
    assert_eq!(facts("login"), logins_before);

    // Back: every fact exactly once.
    hq.restart(replica);
    t.until("the outbox drains", 90, || link(&t)["backlog"]["waiting"] == 0);
    assert_eq!(facts("login"), logins_before + 7, "each login once");
    assert!(facts("login") >= 3, "the SMS and card logins before too");
    t.until("the site says HQ answers", 70, || link(&t)["link"]["unreachable_since"].is_null());
    let (_, page) = console(&["http://127.0.0.1:8080/console/hq"]);
    assert!(page.contains("id=\"hq-reachable\"") && !page.contains("id=\"hq-unreachable\""), "{page}");

    // Revoked: the site's calls get nothing; its facts stay with it.
    hq.cli_ok(&["site", "revoke", "chain/sh-01"]);
    visit(&t, 1);
    std::thread::sleep(Duration::from_secs(3));
    assert!(link(&t)["backlog"]["waiting"].as_i64().unwrap() >= 2, "{}", link(&t));
    assert_eq!(facts("login"), logins_before + 7, "nothing filed for a revoked site");
    assert!(t.log().contains("refused (403)"), "the site logs why");
    assert!(!t.log().contains("PRIVATE KEY"), "no key in the log");
}

#[test]
fn a_chain_on_the_direct_store_moves_to_hq_without_losing_a_member_or_a_fact() {
    if !e2e::root_or_skip("hq_move") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut hq = e2e::hq::start("move", &["127.0.0.1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    std::fs::create_dir_all(&dir).unwrap();

    // Before HQ: site x feeds the chain's PostgreSQL with the chain's password.
    let direct = {
        let _in = rt.enter();
        let settings = controller::config::MembersSettings {
            url: hq.pg.local_url(),
            brand: "chain".into(),
            site: "x".into(),
            ..Default::default()
        };
        Store::connect(&settings, &dir).unwrap()
    };
    rt.block_on(direct.prepare("Chain", "X 店", "east")).unwrap();
    rt.block_on(direct.import("phone,name,card,tier,pin\n13800138000,王芳,8800123,,2468\n")).unwrap();
    let (local, _) = rt.block_on(outbox_of(&dir, 100));
    let feed = Feed::new(direct.clone(), local.clone(), 50, Default::default());
    for _ in 0..3 {
        assert_eq!(rt.block_on(feed.deliver_once()).unwrap(), 50);
    }
    // The next 50 reached the store but the site never heard so (a cut
    // link, a power cut): they are in PostgreSQL and still in the outbox.
    let rows: Vec<(String, i64, String)> =
        rt.block_on(sqlx::query_as("SELECT id, at, body FROM outbox ORDER BY seq LIMIT 50").fetch_all(&local)).unwrap();
    let mut tx = rt.block_on(direct.pool().begin()).unwrap();
    for (id, at, body) in &rows {
        let fact: Fact = serde_json::from_str(body).unwrap();
        rt.block_on(controller::members::feed::file_fact(&mut tx, "chain", "x", id, *at, *at, &fact)).unwrap();
    }
    rt.block_on(tx.commit()).unwrap();
    let registered = count(&rt, &hq, "SELECT registered_at FROM sites WHERE site_id = 'x'");

    // HQ comes, on the same database: the site keeps its id, joins, and its
    // feed carries on to HQ.
    hq.start_replica(None, "127.0.0.1:18445", "127.0.0.1:19468");
    let code = hq.add_site("chain", "east", "x", "X 店");
    rt.block_on(join("https://127.0.0.1:18445", &code, &dir, false)).unwrap();
    let feed = Feed::new(direct, local.clone(), 50, Default::default())
        .with_sink(Sink::Hq(std::sync::Arc::new(client_at(&dir, "https://127.0.0.1:18445"))));
    while rt.block_on(feed.deliver_once()).unwrap() > 0 {}
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM events WHERE site_id = 'x'"), 300, "every fact once");
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM visits WHERE site_id = 'x' AND ended_at IS NOT NULL"), 100);
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM members WHERE phone LIKE '%13800138000'"), 1, "the member stays");
    assert_eq!(count(&rt, &hq, "SELECT COUNT(*) FROM cards WHERE card_no = '8800123'"), 1, "and the card");
    assert_eq!(
        count(&rt, &hq, "SELECT registered_at FROM sites WHERE site_id = 'x'"),
        registered,
        "the site's history is its own"
    );
    assert_eq!(rt.block_on(outbox::backlog(&local)).unwrap().waiting, 0);
}

/// Site `t`'s guest `i` does `n` countdown visits (login, logout).
fn visits(t: &e2e::TestLab, n: usize) {
    for _ in 0..n {
        for i in 1..=t.lab.guests {
            visit(t, i);
        }
    }
}

#[test]
fn three_restaurants_of_a_chain_take_their_region_s_promotion_and_lose_no_fact_when_hq_goes_down() {
    // The chain lab (`guestwifi-lab --sites 3`): three appliances on one
    // upstream, HQ's two replicas and its PostgreSQL there, named by DNS.
    let Some(one) = e2e::TestLab::start_chain("chain", 2, 3600, &[]) else {
        return;
    };
    let mut sites = vec![one];
    for k in 2..=3 {
        let site = sites[0].add_site(k, 2, 3600, &[]);
        sites.push(site);
    }
    let mut hq = e2e::hq::in_lab(&sites[0]);
    hq.with_apps("chain");
    let upstream = sites[0].lab.upstream();
    for (i, addr) in lab::HQ_REPLICAS.iter().enumerate() {
        hq.start_replica(Some(&upstream), &format!("{addr}:8443"), &format!("127.0.0.1:{}", 19470 + i));
    }
    let url = format!("https://{}:8443", lab::HQ_HOST);
    let regions = ["east", "east", "west"];
    for (k, t) in sites.iter_mut().enumerate() {
        let code = hq.add_site("chain", regions[k], &format!("c{}", k + 1), &format!("{} 号店", k + 1));
        let out = t.controller_in_appliance(&["hq", "join", &url, &code], &[]);
        assert!(out.status.success(), "site {}: {}", k + 1, String::from_utf8_lossy(&out.stderr));
        // The code works once: the same code from the next site gets nothing.
        if k == 0 {
            let again = t.controller_in_appliance(&["hq", "join", &url, &code, "--force"], &[]);
            assert!(!again.status.success(), "a used code joins nobody");
        }
        t.stop_controller();
        t.start_controller();
    }
    for t in &sites {
        t.until("the site's link is up", 30, || link(t)["link"]["heartbeat_at"].is_i64());
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pool = rt.block_on(sqlx::PgPool::connect(&hq.pg.local_url())).unwrap();
    let logins = |site: &str| {
        rt.block_on(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE site_id = $1 AND kind = 'login'")
                .bind(site)
                .fetch_one(&pool),
        )
        .unwrap()
    };

    // A promotion for region east: on the two east sites within seconds, not on the west one.
    let promotion = r#"[{"id":"p1","title_zh":"冬至饺子","title_en":"Winter dumplings","body_zh":"买一送一","body_en":"","image":null}]"#;
    let published = Instant::now();
    hq.publish("chain", "region:east", "promotions", promotion).unwrap();
    let shows =
        |t: &e2e::TestLab| t.curl(1, &[&format!("http://{}/promotions", e2e::PORTAL_HOST)]).1.contains("冬至饺子");
    for t in &sites[..2] {
        t.until("the east site shows the promotion", 15, || shows(t));
    }
    println!("publish -> on both east sites' portals: {:?}", published.elapsed());
    let west = &sites[2];
    let wanted = link(west)["link"]["bundle"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(2));
    assert!(!shows(west), "the west site does not show east's promotion");
    assert_eq!(link(west)["link"]["bundle"], wanted.as_str(), "and its bundle did not change");

    // A dish for the whole brand, staged: the canary (site 1) first, then
    // its region, then every site, each step once the real appliances have
    // applied it.
    let dish = r#"[{"id":"d1","name_zh":"腊八粥","name_en":"Laba congee","price_cents":1800,"image":null}]"#;
    let file = hq.dir.join("dish.json");
    std::fs::write(&file, dish).unwrap();
    let file = file.display().to_string();
    let staged = ["publish", "--brand", "chain", "--scope", "brand", "--block", "dishes", "--canary", "c1", "--file"];
    let staging = Instant::now();
    let started = hq.cli(&[&staged[..], &[file.as_str()]].concat()).unwrap();
    assert!(started.contains("rollout"), "{started}");
    let serves = |t: &e2e::TestLab| t.curl(1, &[&format!("http://{}/", e2e::PORTAL_HOST)]).1.contains("腊八粥");
    sites[0].until("the canary serves the dish", 15, || serves(&sites[0]));
    assert!(!serves(&sites[2]), "the west site waits until the canary and its region have applied it");
    for t in &sites[1..] {
        t.until("every site serves the dish in the end", 30, || serves(t));
    }
    let stage =
        || rt.block_on(sqlx::query_scalar::<_, String>("SELECT stage FROM hq_rollouts").fetch_one(&pool)).unwrap();
    sites[0].until("the rollout is done once every site has applied it", 10, || stage() == "done");
    println!("staged publish -> canary, region, brand, done: {:?}", staging.elapsed());

    // Chain voucher cards for region east, one device a card: HQ prints
    // them, each east site checks them on its own against the manifest HQ
    // signed, and a card's device follows it from site to site through HQ.
    let made = hq.cli(&["vouchers", "create", "--brand", "chain", "--scope", "region:east", "--count", "3"]).unwrap();
    let cards: Vec<&str> = made.lines().collect();
    assert_eq!(cards.len(), 3, "{made}");
    let batch: String =
        rt.block_on(sqlx::query_scalar("SELECT batch_id FROM hq_voucher_batches").fetch_one(&pool)).unwrap();
    let wanted = |hq: &Hq, t: &e2e::TestLab, k: usize| {
        let bundle: serde_json::Value =
            serde_json::from_str(&hq.cli(&["bundle", &format!("chain/c{k}")]).unwrap()).unwrap();
        link(t)["link"]["bundle"] == bundle["version"]
    };
    for (k, t) in sites.iter().enumerate() {
        t.until("the site runs HQ's bundle with the batch", 15, || wanted(&hq, t, k + 1));
    }
    let card_login = |t: &e2e::TestLab, i: usize, code: &str| {
        let token = t.token(i);
        let (status, page) = t.post(i, "/login/voucher", &[("code", code), ("token", &token)]);
        if status == 200 {
            assert_eq!(t.post(i, "/logout", &[("token", &t.token(i))]).0, 200);
        }
        (status, page)
    };
    assert_eq!(card_login(&sites[2], 1, cards[0]).0, 403, "the west site does not take the east's cards");
    assert_eq!(card_login(&sites[0], 1, cards[0]).0, 200, "a card of the east at site 1");
    let devices = |code: &str| {
        rt.block_on(
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT string_agg(site_id, ' ' ORDER BY at) FROM hq_voucher_devices WHERE code = $1",
            )
            .bind(code.replace('-', ""))
            .fetch_one(&pool),
        )
        .unwrap()
    };
    sites[0].until("HQ reconciles the card's use from site 1's login fact", 30, || devices(cards[0]).is_some());
    sites[1].until("site 2 takes the use in its next bundle", 15, || wanted(&hq, &sites[1], 2));
    let (status, page) = card_login(&sites[1], 2, cards[0]);
    assert_eq!(status, 409, "another phone at site 2: the card's one device is at site 1: {page}");
    assert_eq!(card_login(&sites[1], 1, cards[0]).0, 200, "the same phone at site 2 is the same device");

    // HQ cut off (both replicas down) while guests log in at every site.
    for t in &sites {
        visits(t, 1);
        t.until("the first logins land", 30, || link(t)["backlog"]["waiting"] == 0);
    }
    let before: Vec<i64> = (1..=3).map(|k| logins(&format!("c{k}"))).collect();
    assert_eq!(before, [3, 3, 2], "one countdown login a guest, and the card's at sites 1 and 2");
    hq.kill(0);
    hq.kill(1);
    for t in &sites {
        visits(t, 3);
    }
    // A chain card at site 2 with HQ down: checked there by HQ's signature alone.
    assert_eq!(card_login(&sites[1], 2, cards[1]).0, 200, "a chain card works while HQ is down");
    std::thread::sleep(Duration::from_secs(2));
    for t in &sites {
        assert!(link(t)["backlog"]["waiting"].as_i64().unwrap() >= 6, "facts wait: {}", link(t));
    }
    // HQ comes back one replica at a time; the first is killed as soon as
    // facts land again (in the middle of the sites' deliveries), and the
    // sites carry on at the other, which the chain's DNS also names.
    hq.restart(0);
    let landing = Instant::now();
    while (1..=3).all(|k| logins(&format!("c{k}")) == before[k - 1]) {
        assert!(landing.elapsed() < Duration::from_secs(90), "no fact landed after HQ came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    hq.kill(0);
    let landed: i64 = (1..=3).map(|k| logins(&format!("c{k}")) - before[k - 1]).sum();
    println!("replica 1 killed with {landed} of 18 logins landed");
    hq.restart(1);
    for t in &sites {
        t.until("the outbox drains at the other replica", 120, || link(t)["backlog"]["waiting"] == 0);
    }
    for k in 1..=3 {
        let card = usize::from(k == 2) as i64;
        assert_eq!(logins(&format!("c{k}")), before[k - 1] + 6 + card, "site c{k}: every login exactly once");
    }
    let visits_ended: i64 = rt
        .block_on(
            sqlx::query_scalar("SELECT COUNT(*) FROM visits WHERE ended_at IS NOT NULL AND site_id LIKE 'c%'")
                .fetch_one(&pool),
        )
        .unwrap();
    assert_eq!(visits_ended, 27, "every visit once, ended once (24 countdown, 3 chain card)");
    assert_eq!(devices(cards[1]).as_deref(), Some("c2"), "the card used while HQ was down is reconciled after");
    assert_eq!(devices(cards[0]).as_deref(), Some("c1"), "one device, first at site 1");

    // A card revoked at HQ: refused at site 1 from its next bundle.
    hq.cli(&["vouchers", "revoke", "--brand", "chain", "--batch", &batch, "--code", cards[2]]).unwrap();
    sites[0].until("site 1 takes the revocation", 15, || wanted(&hq, &sites[0], 1));
    let (status, page) = card_login(&sites[0], 2, cards[2]);
    assert_eq!(status, 403, "a revoked chain card: {page}");
    assert!(page.contains("停用"), "the guest is told the card was revoked: {page}");

    // A bundle that does not check as a whole, at site 2: refused whole, the last good one stays.
    let applied = link(&sites[1])["link"]["bundle"].as_str().unwrap().to_string();
    rt.block_on(put_bad_bundle(&pool, "c2"));
    sites[1].until("site 2 refuses the bad bundle", 15, || link(&sites[1])["link"]["refused"].is_array());
    assert_eq!(link(&sites[1])["link"]["bundle"], applied.as_str(), "the last good bundle stays");
    assert!(shows(&sites[1]), "and its portal still shows the promotion");
    assert!(shows(&sites[0]), "site 1 is not touched");

    // WeChat: the chain's account is at HQ, which holds its Token and key
    // (no site has them). WeChat's server calls HQ; HQ's signed link logs
    // the diner in at the site the phone is at, once there.
    for t in &sites {
        let config = std::fs::read_to_string(t.lab.dir.join("controller.toml")).unwrap();
        assert!(config.contains("at_headquarters = true") && !config.contains("token_file"), "{config}");
        assert!(!t.lab.dir.join("wechat.token").exists() && !t.lab.dir.join("wechat.aeskey").exists());
    }
    let callback = format!("https://{}:8443/v1/wechat/chain", lab::HQ_HOST);
    let (resolve, ca) = (format!("{}:8443:{}", lab::HQ_HOST, lab::HQ_REPLICAS[1]), hq.dir.join("ca.crt"));
    let curl = ["--resolve", &resolve, "--cacert", ca.to_str().unwrap()];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let says = |nonce: &str, forge: bool| {
        e2e::wechat_says(&upstream, &callback, &curl, "oCHAIN1", "我要上网", (nonce, now.as_str()), forge)
    };
    assert_eq!(says("2001", true).0, 403, "a forged signature is refused at HQ");
    let (status, reply) = says("2002", false);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(says("2002", false).0, 403, "a replayed nonce is refused");
    let wx = e2e::wechat_link(&reply);
    let wechat_login = |t: &e2e::TestLab, i: usize, link: &str| {
        let (code, page) = t.curl(i, &[link]);
        assert_eq!(code, 200, "{page}");
        let (ticket, token) = (e2e::field(&page, "t").unwrap(), e2e::field(&page, "token").unwrap());
        t.post(i, "/login/wechat", &[("t", &ticket), ("token", &token)]).0
    };
    assert_eq!(wechat_login(&sites[1], 1, &wx), 200, "HQ's link at site 2");
    assert!(sites[1].cli_ok(&["sessions", "list"]).contains("wechat:oCHAIN1"));
    assert_eq!(wechat_login(&sites[1], 2, &wx), 409, "once at a site");
    let forged = wx.replace("/wx?t=h1.", "/wx?t=h1.x");
    assert_eq!(wechat_login(&sites[0], 1, &forged), 403, "a ticket HQ did not sign");

    // QQ and Weibo: the apps' secrets are at HQ, which trades the site's code.
    assert!(!std::fs::read_to_string(sites[1].lab.dir.join("controller.toml")).unwrap().contains("client_secret"));
    for (provider, who) in [("qq", "qq:LABQQOPENID1"), ("weibo", "weibo:5550001")] {
        let start = format!("http://{}/oauth/{provider}/start", e2e::PORTAL_HOST);
        let (code, page) = sites[1].curl(2, &["-L", &start]);
        assert_eq!(code, 200, "{provider} through HQ: {page}");
        assert!(sites[1].cli_ok(&["sessions", "list"]).contains(who), "{provider}");
        let token = sites[1].token(2);
        assert_eq!(sites[1].post(2, "/logout", &[("token", &token)]).0, 200);
    }

    // Site 3 revoked (a stolen appliance): its calls are refused, its facts
    // stay with it; the other sites go on.
    hq.cli_ok(&["site", "revoke", "chain/c3"]);
    visits(&sites[2], 1);
    visits(&sites[0], 1);
    sites[0].until("site 1 still delivers", 30, || link(&sites[0])["backlog"]["waiting"] == 0);
    assert_eq!(logins("c1"), before[0] + 8);
    sites[2].until("the revoked site logs the refusal", 30, || sites[2].log().contains("refused (403)"));
    assert!(link(&sites[2])["backlog"]["waiting"].as_i64().unwrap() >= 2, "{}", link(&sites[2]));
    assert_eq!(logins("c3"), before[2] + 6, "nothing filed for a revoked site");
    rt.block_on(pool.close());
    // The sites' labs go before the first's, which owns the upstream.
    while let Some(site) = sites.pop() {
        drop(site);
    }
}
