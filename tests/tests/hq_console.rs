//! The HQ console end to end: the real `guestwifi-hq` on a throwaway
//! PostgreSQL, two sites enrolled over the real TLS and sending heartbeats,
//! and headless Chromium at 1280 px signing in as the chain's people. Every
//! account enrols a TOTP app at its first sign-in and needs a code at every
//! other; a wrong code gets nothing; a site manager sees their site and no
//! other; an analyst is refused the sites; a site that goes silent shows as
//! offline within the threshold, on the page and in the metrics; tries at
//! one account at once are counted, not raced. A marketer publishes a
//! promotion for a region by way of a canary site, sees it widen as the
//! sites apply it and the other region's site not get it, goes back to an
//! earlier version, and a rollout whose canary refuses its bundle stops and
//! puts the scope back. Screenshots of every page go in the test's directory.

use controller::hq::client::Client;
use controller::hq::join::join;
use controller::hq::protocol::{Applied, Bundle, Heartbeat, WireFact};
use controller::hq::site::Identity;
use controller::hq::vouchers;
use controller::kit::totp;
use controller::members::outbox::Fact;
use controller::members::Who;
use fantoccini::{Client as Browser, Locator};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SITES: &str = "https://127.0.0.1:18450";
const CONSOLE: &str = "https://127.0.0.1:18451";
const METRICS: &str = "127.0.0.1:19470";
/// A site silent this long is offline.
const OFFLINE_AFTER: u64 = 3;

/// The code an authenticator app shows for the secret on the enrolment
/// page, `ahead` steps from now (a code works once: the next sign-in of the
/// same account in the same 30 s takes the next step's).
fn code(secret: &str, ahead: i64) -> String {
    let raw = totp::from_base32(secret).expect("base32 secret");
    let now = controller::kit::time::now_ms() / 1000;
    totp::code_at(&raw, totp::step_of(now) + ahead)
}

/// A code that is none of the secret's now.
fn wrong_code(secret: &str) -> String {
    let good: Vec<String> = (-1..=1).map(|d| code(secret, d)).collect();
    (0..).map(|n| format!("{:06}", 314_159 + n)).find(|c| !good.contains(c)).unwrap()
}

/// A site as far as HQ sees it: it takes each new bundle and says it
/// applied it, or refused it when the bundle holds `refuses` (a site's
/// checks failing on a block).
struct SimSite {
    client: Client,
    have: Option<String>,
    running: String,
    refuses: Option<&'static str>,
    /// Blocks the site shows its own of where HQ lets it.
    keeps_own: &'static [&'static str],
    /// The blocks its last bundle lets it replace.
    offered: Vec<String>,
    /// What its heartbeat says of its access log.
    log: Arc<std::sync::Mutex<Option<controller::trail::State>>>,
}

impl SimSite {
    fn new(client: Client, refuses: Option<&'static str>, keeps_own: &'static [&'static str]) -> SimSite {
        SimSite { client, have: None, running: String::new(), refuses, keeps_own, offered: vec![], log: Arc::default() }
    }

    async fn tick(&mut self, guests: i64) {
        // A heartbeat names the bundle the site runs, as the appliance's does.
        let own_blocks = self.offered.iter().filter(|b| self.keeps_own.contains(&b.as_str())).cloned().collect();
        let access_log = self.log.lock().unwrap().clone();
        let running = Heartbeat { bundle: self.running.clone(), own_blocks, access_log, ..beat(guests) };
        self.client.heartbeat(&running).await.unwrap();
        if let Some(bundle) = self.client.bundle(self.have.as_deref(), Duration::ZERO).await.unwrap() {
            self.offered = bundle.blocks.iter().filter(|(_, b)| b.overridable).map(|(n, _)| n.clone()).collect();
            let text = serde_json::to_string(&bundle.blocks).unwrap();
            let refused = self.refuses.filter(|m| text.contains(m)).map(|m| format!("a block holds {m}"));
            if refused.is_none() {
                self.running = bundle.version.clone();
            }
            self.client.applied(&Applied { version: bundle.version.clone(), refused }).await.unwrap();
            self.have = Some(bundle.version);
        }
    }
}

/// Facts a site files about its guests today: a login by `method` of each
/// of `macs`, and `views` portal views that showed promotions `p-winter`
/// and `p-member`, `p-winter` tapped once.
async fn file_facts(client: &Client, macs: &[&str], method: &str, views: usize) {
    let now = controller::kit::time::now_ms();
    let mut facts = Vec::new();
    let mut push = |fact: Fact| {
        let body = serde_json::to_string(&fact).unwrap();
        facts.push(WireFact { id: uuid::Uuid::new_v4().to_string(), at: now, body });
    };
    for mac in macs {
        push(Fact::Login {
            visit: uuid::Uuid::new_v4().to_string(),
            who: Who::device(mac),
            mac: mac.to_string(),
            method: method.into(),
            started_at: now,
        });
    }
    let event = |kind: &str, detail: &str| Fact::Event {
        kind: kind.into(),
        who: None,
        mac: macs[0].to_string(),
        detail: detail.into(),
    };
    for _ in 0..views {
        push(event("portal_view", ""));
        push(event("promotion_impression", "p-winter,p-member"));
    }
    if views > 0 {
        push(event("promotion_click", "p-winter"));
    }
    assert_eq!(client.facts(facts).await.unwrap().landed, macs.len() + views * 2 + usize::from(views > 0));
}

fn beat(guests: i64) -> Heartbeat {
    Heartbeat {
        software: "0.1.0".into(),
        bundle: String::new(),
        guests_online: guests,
        aps_online: 3,
        aps_total: 4,
        backlog: 0,
        lag_ms: 0,
        own_blocks: vec![],
        access_log: None,
        footfall: footfall(guests),
    }
}

/// A site's footfall today (the chain's zone, UTC+8): `guests` visits in
/// the hall, present at noon, one of them on to a private room.
fn footfall(guests: i64) -> Vec<controller::stats::footfall::Cell> {
    let range = controller::stats::Range::last_days(1, 8);
    let cell = |zone: &str, what: &str, key: &str, n: i64| controller::stats::footfall::Cell {
        day: range.date(range.start),
        zone: zone.into(),
        what: what.into(),
        key: key.into(),
        n,
    };
    vec![
        cell("大堂", "visits", "", guests),
        cell("大堂", "present", "12", guests),
        cell("大堂", "dwell_ms", "12", guests * 30 * 60_000),
        cell("大堂", "move", "包间", 1),
        cell("包间", "visits", "", 1),
        // What no site may send is dropped, not filed.
        cell("<b>", "salary", "", 1),
    ]
}

#[test]
fn the_chain_s_people_sign_in_with_totp_and_see_their_scope_s_sites_and_a_silent_site_goes_offline() {
    if !e2e::root_or_skip("hq_console") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut hq = e2e::hq::start("console", &["127.0.0.1"]);
    hq.with_console(18451, OFFLINE_AFTER);
    hq.start_replica(None, "127.0.0.1:18450", METRICS);
    let code_a = hq.add_site("chain", "east", "a", "人民广场店");
    hq.add_site("chain", "east", "b", "徐家汇店");
    let code_c = hq.add_site("chain", "west", "c", "春熙路店");
    let owner = hq.add_person("chain", "owner", "owner", "brand");
    let manager = hq.add_person("chain", "mgr.a", "site_manager", "site:a");
    let analyst = hq.add_person("chain", "ana", "analyst", "brand");
    let marketer = hq.add_person("chain", "mkt", "marketer", "brand");
    assert!(hq.cli(&["staff", "add", "--brand", "chain", "--username", "x", "--role", "site_manager"]).is_err());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = {
        let _in = rt.enter();
        hq.members("chain")
    };
    let csv = "phone,name,card,tier,pin\n13800138000,王芳,8800123,gold,2468\n";
    rt.block_on(chain.import(csv)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let client = |name: &str, code: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        rt.block_on(join(SITES, code, &dir, false)).unwrap();
        Client::new(&Identity::load(&dir).unwrap().unwrap()).unwrap()
    };
    let mut a = SimSite::new(client("a", &code_a), None, &["promotions"]);
    let mut c = SimSite::new(client("c", &code_c), Some("坏"), &[]);
    // Today's guests: three at a (six views, promotions shown and one
    // tapped), two at c, one of whom was at a; the roller counts them.
    rt.block_on(file_facts(
        &a.client,
        &["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"],
        "countdown",
        6,
    ));
    rt.block_on(file_facts(&c.client, &["02:00:00:00:00:01", "02:00:00:00:00:04"], "sms", 0));
    let pool = rt.block_on(sqlx::PgPool::connect(&hq.pg.local_url())).unwrap();
    let start = Instant::now();
    while rt.block_on(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM hq_rollup_queue").fetch_one(&pool)).unwrap()
        > 0
    {
        assert!(start.elapsed() < Duration::from_secs(10), "the roller keeps up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Site a reports its access log: the chain holds, a digest for yesterday;
    // later the same day with another head (its history rewritten).
    let a_log = a.log.clone();
    let digest = |hash: &str| controller::trail::State {
        checked_at: controller::kit::time::now_ms(),
        verdict: Some(controller::trail::Verdict { rows: 3, pending: 0, broken: None }),
        digests: vec![controller::trail::DayDigest {
            day: "2026-12-03".into(),
            last_seq: 3,
            hash: hash.repeat(64),
            rows: 3,
        }],
    };
    // Site a beats and takes its bundles every half second for the whole
    // test; c until the flow cuts it off.
    let (stop, c_on) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(true)));
    let beating = {
        let (stop, c_on) = (stop.clone(), c_on.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            while !stop.load(Ordering::Relaxed) {
                rt.block_on(a.tick(12));
                if c_on.load(Ordering::Relaxed) {
                    rt.block_on(c.tick(5));
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let start = Instant::now();
    while curl(&[&format!("http://{METRICS}/metrics")]).matches("guestwifi_hq_site_up{").count() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "both sites heard from");
        std::thread::sleep(Duration::from_millis(100));
    }
    let shots = hq.dir.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let heard = |sql: &str| {
        let start = Instant::now();
        while rt.block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool)).unwrap() == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "HQ files a's access log: {sql}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    *a_log.lock().unwrap() = Some(digest("a"));
    heard("SELECT COUNT(*) FROM hq_access_digests WHERE site_id = 'a'");
    *a_log.lock().unwrap() = Some(digest("b"));
    heard("SELECT COUNT(*) FROM hq_access_digests WHERE site_id = 'a' AND changed_hash IS NOT NULL");

    // The chain's marketing while both sites are up (c refuses any bundle
    // with a "坏" in it), then the people flows, in which c goes silent.
    let bundle_of = |site: &str| hq.cli(&["bundle", &format!("chain/{site}")]).unwrap();
    let profile = hq.dir.join("chromium-profile");
    let shots_in = shots.clone();
    let who = ("mkt".to_string(), marketer);
    let site_a = tmp.path().join("a");
    e2e::in_desktop_browser(profile.clone(), 9521, move |browser| Box::pin(marketing(browser, who, shots_in, site_a)));
    let (east, west) = (bundle_of("a"), bundle_of("c"));
    assert!(east.contains("冬至饺子节") && !east.contains("坏"), "{east}");
    assert!(!west.contains("冬至饺子节"), "region east's promotion is not the west's: {west}");
    // The nearest scope's block wins: the east shows its own list, the west the brand's.
    assert!(west.contains("全国会员日") && !east.contains("全国会员日"), "the brand's reached the west only");
    assert!(!east.contains("腊八粥"), "the east went back to its earlier version: {east}");
    assert!(!west.contains("坏") && !east.contains("坏"), "the halted rollout put the brand back");
    assert!(east.contains("\"session.length_seconds\": 5400") && east.contains("\"auth.sms.enabled\": true"), "{east}");
    assert!(!west.contains("session.length_seconds"), "the east's template is not the west's");
    assert!(east.contains("\"overridable\": true") && !west.contains("\"overridable\": true"), "{east}");
    // The east's chain voucher batch rides in a's bundle, signed with the
    // key the bundle names; the west gets none.
    let east: Bundle = serde_json::from_str(&east).unwrap();
    let key = controller::hq::tickets::parse_public(east.ticket_key.as_deref().unwrap()).unwrap();
    assert_eq!(east.vouchers.len(), 2, "the east's two batches");
    let manifests: Vec<_> =
        east.vouchers.iter().map(|b| vouchers::verify(&key, b, "chain", "a", "east").expect("signed by HQ")).collect();
    let manifest = manifests.iter().find(|m| m.keys.len() == 3).expect("the batch of three");
    assert_eq!(manifest.revoked.len(), 1, "three cards, one revoked");
    assert_eq!(east.voucher_uses.len(), 1, "the card used at a, with its device");
    assert!(serde_json::from_str::<Bundle>(&west).unwrap().vouchers.is_empty());
    // One staged publish of a block at a time: a second (a double tap) is refused while the first runs.
    let file = hq.dir.join("dish.json");
    std::fs::write(&file, r#"[{"id":"d1","name_zh":"腊八粥","name_en":"","price_cents":1800,"image":null}]"#).unwrap();
    let file = file.display().to_string();
    let staged =
        ["publish", "--brand", "chain", "--scope", "brand", "--block", "dishes", "--canary", "a", "--file", &file];
    assert!(hq.cli(&staged).unwrap().contains("rollout"));
    let again = hq.cli(&staged).unwrap_err();
    assert!(again.contains("under way"), "{again}");

    let people = [("owner".to_string(), owner), ("mgr.a".to_string(), manager.clone()), ("ana".to_string(), analyst)];
    let shots_in = shots.clone();
    e2e::in_desktop_browser(profile, 9521, move |browser| Box::pin(flows(browser, people, shots_in, c_on)));

    // Twenty wrong passwords at once at one account: five at most are
    // checked (each refused as wrong), the rest and then the right one are
    // told to wait.
    let statuses = wrong_passwords_at_once("mgr.a", 20);
    let wrong = statuses.iter().filter(|s| s.as_str() == "403").count();
    let waited = statuses.iter().filter(|s| s.as_str() == "429").count();
    assert_eq!(wrong + waited, statuses.len(), "every try answered: {statuses:?}");
    assert!(wrong <= 5, "no more wrong tries checked than the account allows: {wrong}");
    assert_eq!(post_login("mgr.a", &manager).0, "429", "a locked account refuses its right password too");

    // The metrics an alerting system scrapes name the silent site.
    let metrics = curl(&[&format!("http://{METRICS}/metrics")]);
    assert!(
        metrics.contains(r#"guestwifi_hq_site_alert{brand="chain",region="west",site="c",alert="offline"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"guestwifi_hq_site_up{brand="chain",region="east",site="a"} 1"#), "{metrics}");
    assert!(metrics.trim_end().ends_with("# EOF"), "still OpenMetrics");

    // Every enrolled account's TOTP secret is sealed in the database.
    let (sealed, plain): (i64, i64) = rt
        .block_on(
            sqlx::query_as(
                "SELECT COUNT(*) FILTER (WHERE totp_secret LIKE 's1:%'), COUNT(*) FILTER (WHERE totp_secret NOT LIKE 's1:%') \
                 FROM hq_staff WHERE totp_secret IS NOT NULL",
            )
            .fetch_one(&pool),
        )
        .unwrap();
    assert!(sealed >= 4 && plain == 0, "sealed {sealed}, in the clear {plain}");

    // The member the owner erased is gone for every site, card and all.
    assert!(rt.block_on(chain.find("13800138000")).unwrap().is_none());
    assert!(rt.block_on(chain.card("8800123")).unwrap().is_none());

    stop.store(true, Ordering::Relaxed);
    beating.join().unwrap();
    eprintln!("screenshots in {}", shots.display());
}

/// The marketer: a promotion for region east by way of canary a, one for
/// the brand by way of a, another east one then back to the version before
/// it, and a bad one for the brand by way of c, which c refuses.
async fn marketing(browser: Browser, (who, pw): (String, String), shots: PathBuf, site_a: PathBuf) {
    first_sign_in(&browser, &who, &pw, &shots).await;
    chain_vouchers(&browser, &shots, &site_a).await;
    go(&browser, "/sites").await;
    assert!(text(&browser, "#site-a").await.contains("人民广场店"), "a marketer sees the sites");
    go(&browser, "/people").await;
    assert!(text(&browser, "#message-title").await.contains("无权访问"));
    go(&browser, "/members").await;
    assert!(text(&browser, "#message-title").await.contains("无权访问"), "a marketer looks up no member");

    add_promotion(&browser, "region:east", "冬至饺子节", "a").await;
    says(&browser, "#notice", "试点门店").await;
    shot(&browser, &shots, "content-staged").await;
    rollout_done(&browser, "region:east", 0).await;
    shot(&browser, &shots, "content-done").await;

    add_promotion(&browser, "brand", "全国会员日", "a").await;
    rollout_done(&browser, "brand", 0).await;

    // Another for the east, at once; then back to the version before it.
    add_promotion(&browser, "region:east", "腊八粥", "").await;
    says(&browser, "#notice", "已发布").await;
    assert!(text(&browser, "#promotions-draft").await.contains("腊八粥"));
    let history = browser.find_all(Locator::Css("#history tbody tr")).await.unwrap();
    assert!(history.len() >= 2, "two versions of the east's promotions");
    let published = text(&browser, "#notice").await;
    browser.find(Locator::Css("#history tbody tr:nth-child(2) button")).await.unwrap().click().await.unwrap();
    // The page after the click: its notice names the next version.
    let start = Instant::now();
    while text(&browser, "#notice").await == published {
        assert!(start.elapsed() < Duration::from_secs(5), "the revert's page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    says(&browser, "#notice", "已发布").await;
    let now = text(&browser, "#promotions-draft").await;
    assert!(now.contains("冬至饺子节") && !now.contains("腊八粥"), "{now}");
    shot(&browser, &shots, "content-reverted").await;

    // A featured dish with its photo in the brand's draft, with the editor a
    // site's console has: listed with its thumbnail, in the phone preview; then discarded.
    let photo = shots.join("hq-dish.png");
    image::RgbImage::from_fn(900, 600, |x, y| image::Rgb([200, (x % 180) as u8, (y % 90) as u8])).save(&photo).unwrap();
    go(&browser, "/content?scope=brand&block=dishes").await;
    browser.find(Locator::Css("#name_zh")).await.unwrap().send_keys("小笼包").await.unwrap();
    browser.find(Locator::Css("#price")).await.unwrap().send_keys("28").await.unwrap();
    browser.find(Locator::Css("#photo")).await.unwrap().send_keys(photo.to_str().unwrap()).await.unwrap();
    browser.find(Locator::Css("#add-dish")).await.unwrap().click().await.unwrap();
    says(&browser, "#dishes-draft", "小笼包").await;
    let thumb = browser.find(Locator::Css("#dishes-draft img")).await.unwrap().attr("src").await.unwrap().unwrap();
    assert!(thumb.starts_with("/content/photo/") && thumb.ends_with("/320.jpg"), "{thumb}");
    shot(&browser, &shots, "content-editor").await;
    let html = browser_get(&browser, "/content/preview/brand").await;
    assert!(html.contains("小笼包") && html.contains("/content/preview/brand/m/"), "{html}");
    go(&browser, "/content?scope=brand&block=dishes").await;
    browser.find(Locator::Css("#discard")).await.unwrap().click().await.unwrap();
    says(&browser, "#notice", "完成").await;
    assert!(!text(&browser, "#dishes-draft").await.contains("小笼包"), "the draft is gone");

    // A settings template for the east: SMS on, 90-minute logins; the rest stays each site's.
    go(&browser, "/content?scope=region:east&block=settings").await;
    select(&browser, "#method-sms", "on").await;
    browser.find(Locator::Css("#session_minutes")).await.unwrap().send_keys("90").await.unwrap();
    browser.find(Locator::Css("#save-settings")).await.unwrap().click().await.unwrap();
    says(&browser, "#notice", "已发布").await;
    assert_eq!(
        browser.find(Locator::Css("#session_minutes")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("90")
    );
    shot(&browser, &shots, "content-settings").await;

    // The east's sites may show their own promotions; a (which wants to) does.
    go(&browser, "/content?scope=region:east&block=promotions").await;
    browser.find(Locator::Css("#own-toggle")).await.unwrap().click().await.unwrap();
    says(&browser, "#own-state", "可以用自己的").await;
    let start = Instant::now();
    loop {
        go(&browser, "/content?scope=site:a&block=promotions").await;
        if text(&browser, "#source-promotions .from").await.contains("总部允许") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "site a's own promotions show as its own");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    shot(&browser, &shots, "content-site-own").await;

    // A block site c refuses, for the brand by way of c: it stops there and the brand is as it was.
    add_promotion(&browser, "brand", "坏活动", "c").await;
    let start = Instant::now();
    loop {
        go(&browser, "/content?scope=brand&block=promotions").await;
        let first = text(&browser, "#rollouts tbody tr:first-child .stage").await;
        if first.contains("已停止") {
            assert!(first.contains("c refused it"), "{first}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the refused rollout stops: {first}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    shot(&browser, &shots, "content-halted").await;
    go(&browser, "/content?scope=site:c&block=promotions").await;
    assert!(
        text(&browser, "#source-promotions .from").await.contains("整个品牌"),
        "c's promotions come from the brand again"
    );
    shot(&browser, &shots, "content-site-sources").await;

    // New recovery codes from the person's own account page (the header's
    // name opens it): one of them signs the marketer in.
    let old = text(&browser, "#me").await;
    browser.find(Locator::Css("#me")).await.unwrap().click().await.unwrap();
    at(&browser, "/account", "the account page").await;
    browser.find(Locator::Css("#new-recovery-codes")).await.unwrap().click().await.unwrap();
    let codes = text(&browser, "#recovery-codes").await;
    let fresh: Vec<&str> = codes.lines().map(str::trim).filter(|l| l.len() == 11).collect();
    assert_eq!(fresh.len(), 10, "{codes}");
    shot(&browser, &shots, "account-recovery").await;
    sign_out(&browser).await;
    password(&browser, &who, &pw).await;
    typed_code(&browser, fresh[3]).await;
    assert_eq!(text(&browser, "#me").await, old, "a new recovery code signs in");
    browser.close().await.unwrap();
}

/// The marketer makes a batch of three chain voucher cards for region
/// east; a guest logs in with the first at site a (its login fact), which
/// the batch page then shows; the second card is revoked.
async fn chain_vouchers(browser: &Browser, shots: &Path, site_a: &Path) {
    go(browser, "/vouchers").await;
    select(browser, "#v-scope", "region:east").await;
    let count = browser.find(Locator::Css("#v-count")).await.unwrap();
    count.clear().await.unwrap();
    count.send_keys("3").await.unwrap();
    browser.find(Locator::Css("#v-note")).await.unwrap().send_keys("春节 · 全东区").await.unwrap();
    shot(browser, shots, "vouchers").await;
    browser.find(Locator::Css("#make-vouchers")).await.unwrap().click().await.unwrap();
    let start = Instant::now();
    while browser.find(Locator::Css("#batch-id")).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "the batch page after making the cards");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let batch = text(browser, "#batch-id").await;
    says(browser, "#batch-scope", "east").await;
    says(browser, "#window", "12").await;
    let codes: Vec<String> = card_codes(browser).await;
    assert_eq!(codes.len(), 3);
    assert!(codes.iter().all(|c| c.len() == 14 && c.matches('-').count() == 2), "{codes:?}");
    go(browser, "/vouchers").await;
    says(browser, &format!("#batch-{batch} .used"), "0").await;
    // The form sent twice at once (a double tap, a retried request): one batch.
    let session = browser.get_named_cookie("gw_hq").await.unwrap().value().to_string();
    let field = |name: &'static str| async move {
        let css = format!("#voucher-form input[name={name}]");
        browser.find(Locator::Css(&css)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
    };
    let (csrf, once) = (field("csrf").await, field("once").await);
    let sends: Vec<_> = (0..2)
        .map(|_| {
            let args: Vec<String> = [
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{redirect_url}",
                "-H",
                &format!("Cookie: gw_hq={session}"),
                "--data-urlencode",
                &format!("csrf={csrf}"),
                "--data-urlencode",
                &format!("once={once}"),
                "--data-urlencode",
                "scope=region:east",
                "--data-urlencode",
                "count=5",
                "--data-urlencode",
                "hours=1",
                "--data-urlencode",
                "valid_days=7",
                "--data-urlencode",
                "devices=1",
                "--data-urlencode",
                "offline_hours=6",
                &format!("{CONSOLE}/vouchers"),
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            std::thread::spawn(move || curl(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        })
        .collect();
    let answers: Vec<String> = sends.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(answers.iter().all(|a| a.starts_with("303 ")), "{answers:?}");
    assert_eq!(answers[0], answers[1], "both sends land on the same batch: {answers:?}");
    go(browser, "/vouchers").await;
    assert_eq!(browser.find_all(Locator::Css("#batches tbody tr")).await.unwrap().len(), 2, "one batch more, not two");

    // A guest at a logs in with the first card: a's login fact reaches HQ.
    let client = Client::new(&Identity::load(site_a).unwrap().unwrap()).unwrap();
    let code = codes[0].replace('-', "");
    let login = Fact::Login {
        visit: uuid::Uuid::new_v4().to_string(),
        who: Who { kind: "voucher".into(), value: code },
        mac: "02:00:00:00:00:31".into(),
        method: "voucher".into(),
        started_at: controller::kit::time::now_ms(),
    };
    let wire = WireFact {
        id: uuid::Uuid::new_v4().to_string(),
        at: controller::kit::time::now_ms(),
        body: serde_json::to_string(&login).unwrap(),
    };
    assert_eq!(client.facts(vec![wire]).await.unwrap().landed, 1);
    go(browser, &format!("/vouchers/{batch}")).await;
    says(browser, "#batch-used", "1").await;
    says(browser, "#card-1 .sites", "人民广场店").await;
    says(browser, "#card-1 .state", "使用中").await;
    browser.find(Locator::Css("#revoke-code")).await.unwrap().send_keys(&codes[1].to_lowercase()).await.unwrap();
    browser.find(Locator::Css("#revoke-card")).await.unwrap().click().await.unwrap();
    says(browser, "#notice", "已作废").await;
    says(browser, "#card-2 .state", "已作废").await;
    shot(browser, shots, "voucher-batch").await;
    go(browser, &format!("/vouchers/{batch}/print")).await;
    let printed = text(browser, "#voucher-cards").await;
    assert!(printed.contains(&codes[0]) && !printed.contains(&codes[1]), "revoked cards are not printed: {printed}");
    shot(browser, shots, "voucher-print").await;
}

/// The codes of the batch page's cards, in order.
async fn card_codes(browser: &Browser) -> Vec<String> {
    let mut codes = Vec::new();
    for cell in browser.find_all(Locator::Css("#cards tbody td.code")).await.unwrap() {
        codes.push(cell.text().await.unwrap().trim().to_string());
    }
    codes
}

/// Adds a promotion titled `title` to `scope`'s draft with the editor a
/// site's console has, sees it in the phone preview, then publishes the
/// draft by way of `canary` ("" for none).
async fn add_promotion(browser: &Browser, scope: &str, title: &str, canary: &str) {
    go(browser, &format!("/content?scope={scope}&block=promotions")).await;
    browser.find(Locator::Css("#title_zh")).await.unwrap().send_keys(title).await.unwrap();
    browser.find(Locator::Css("#title_en")).await.unwrap().send_keys("A promotion").await.unwrap();
    browser.find(Locator::Css("#body_zh")).await.unwrap().send_keys("到店即享").await.unwrap();
    browser.find(Locator::Css("#add-promotion")).await.unwrap().click().await.unwrap();
    says(browser, "#unpublished", "草稿").await;
    assert!(text(browser, "#promotions-draft").await.contains(title), "the draft lists it");
    let preview = browser.find(Locator::Css("#preview")).await.unwrap().attr("src").await.unwrap().unwrap();
    let html = browser_get(browser, &preview).await;
    assert!(html.contains(title), "the phone preview shows the draft: {html}");
    go(browser, &format!("/content?scope={scope}&block=promotions")).await;
    if !canary.is_empty() {
        select(browser, "#canary", canary).await;
    }
    browser.find(Locator::Css("#publish")).await.unwrap().click().await.unwrap();
}

/// The page at `path` as the signed-in browser gets it (its source).
async fn browser_get(browser: &Browser, path: &str) -> String {
    go(browser, path).await;
    browser.source().await.unwrap()
}

/// Waits until the newest rollout (row `row` of the table) at `scope` is done.
async fn rollout_done(browser: &Browser, scope: &str, row: usize) {
    let start = Instant::now();
    loop {
        go(browser, &format!("/content?scope={scope}&block=promotions")).await;
        let stage = text(browser, &format!("#rollouts tbody tr:nth-child({}) .stage", row + 1)).await;
        if stage.contains("已完成") {
            return;
        }
        assert!(!stage.contains("已停止"), "{stage}");
        assert!(start.elapsed() < Duration::from_secs(20), "the rollout finishes: {stage}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn flows(browser: Browser, people: [(String, String); 3], shots: PathBuf, c_on: Arc<AtomicBool>) {
    let [(owner, owner_pw), (manager, manager_pw), (analyst, analyst_pw)] = people;

    // The owner's first sign-in: password, then the authenticator app's enrolment.
    let secret = first_sign_in(&browser, &owner, &owner_pw, &shots).await;
    let overview = text(&browser, "main").await;
    assert!(text(&browser, "#sites-online").await.contains("2 / 2"), "{overview}");
    assert_eq!(text(&browser, "#guests-online").await, "17");
    shot(&browser, &shots, "overview").await;
    // English, kept for the next pages; then back.
    browser.find(Locator::Css("a.lang")).await.unwrap().click().await.unwrap();
    says(&browser, "h1", "Today").await;
    go(&browser, "/sites").await;
    says(&browser, "h1", "Sites").await;
    browser.find(Locator::Css("a.lang")).await.unwrap().click().await.unwrap();
    says(&browser, "h1", "门店").await;

    go(&browser, "/sites").await;
    let sites = text(&browser, "#sites").await;
    for name in ["人民广场店", "徐家汇店", "春熙路店"] {
        assert!(sites.contains(name), "{sites}");
    }
    assert!(text(&browser, "#site-b .state").await.contains("待接入"), "never enrolled");
    shot(&browser, &shots, "sites").await;

    // What each site says of its access log: a's chain holds, one day of it rewritten; c never said.
    go(&browser, "/access-logs").await;
    assert!(text(&browser, "#log-a .chain").await.contains("完整"));
    assert_eq!(text(&browser, "#log-a .changed").await.trim(), "1", "a rewritten day shows");
    assert!(text(&browser, "#log-c .chain").await.contains("未报告"));
    shot(&browser, &shots, "access-logs").await;

    // Site c goes silent (its link cut): within the threshold, and the
    // second between two beats, it is offline.
    c_on.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(OFFLINE_AFTER + 2)).await;
    go(&browser, "/sites?state=offline").await;
    assert!(text(&browser, "#site-c .state").await.contains("离线"));
    assert!(browser.find(Locator::Css("#site-a")).await.is_err(), "a beats on: not offline");
    shot(&browser, &shots, "sites-offline").await;
    go(&browser, "/").await;
    let alerts = text(&browser, "#alerts").await;
    assert!(alerts.contains("春熙路店") && alerts.contains("离线超过"), "{alerts}");
    shot(&browser, &shots, "overview-alert").await;
    browser.find(Locator::Css("#alerts a")).await.unwrap().click().await.unwrap();
    at(&browser, "/sites/c", "where it leads").await;
    assert!(text(&browser, "#site-state").await.contains("离线"));
    let beats = browser.find_all(Locator::Css("#history tbody tr")).await.unwrap();
    assert!(!beats.is_empty(), "its heartbeats in the history");
    shot(&browser, &shots, "site").await;

    // People: a marketer for region east; the first password is shown once.
    go(&browser, "/people").await;
    browser.find(Locator::Css("#new-username")).await.unwrap().send_keys("mkt.east").await.unwrap();
    select(&browser, "#new-role", "marketer").await;
    select(&browser, "#new-scope", "region:east").await;
    browser.find(Locator::Css("#add")).await.unwrap().click().await.unwrap();
    let notice = text(&browser, "#notice").await;
    assert!(notice.contains("mkt.east") && notice.contains("初始密码"), "{notice}");
    assert!(text(&browser, "#people").await.contains("区域 east"));
    shot(&browser, &shots, "people").await;
    go(&browser, "/audit").await;
    let audit = text(&browser, "#audit").await;
    assert!(audit.contains("添加人员") && audit.contains("mkt.east") && audit.contains("owner (console)"), "{audit}");
    assert!(audit.contains("开启两步验证") && !audit.contains("person.add"), "actions in words: {audit}");
    shot(&browser, &shots, "audit").await;

    // A member of the chain: found by phone, the card frozen, then erased on request.
    go(&browser, "/members?q=13800138000").await;
    assert!(text(&browser, "#member-phone").await.contains("138****8000"), "the phone masked");
    browser.find(Locator::Css("#card-8800123-frozen")).await.unwrap().click().await.unwrap();
    says(&browser, "#card-8800123 .state", "已冻结").await;
    shot(&browser, &shots, "member").await;
    browser.find(Locator::Css("#erase-confirm")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Css("#erase")).await.unwrap().click().await.unwrap();
    says(&browser, "#notice", "已删除").await;
    go(&browser, "/members?q=8800123").await;
    assert!(text(&browser, "#member-none").await.contains("没有找到"));
    go(&browser, "/audit").await;
    let audit = text(&browser, "#audit").await;
    assert!(audit.contains("会员卡状态") && audit.contains("删除会员"), "{audit}");
    sign_out(&browser).await;

    // The owner again: the password alone opens nothing; a wrong code gets
    // nothing; the next step's code signs in.
    password(&browser, &owner, &owner_pw).await;
    at(&browser, "/second", "where it leads").await;
    shot(&browser, &shots, "second-factor").await;
    typed_code(&browser, &wrong_code(&secret)).await;
    says(&browser, "#notice", "验证码错误").await;
    go(&browser, "/sites").await;
    at(&browser, "/second", "no page before the second factor").await;
    typed_code(&browser, &code(&secret, 1)).await;
    assert!(text(&browser, "#sites-online").await.contains('/'), "signed in with the next code");
    sign_out(&browser).await;

    // The site manager of a: site a, and nothing of b or c, nor people.
    first_sign_in(&browser, &manager, &manager_pw, &shots).await;
    go(&browser, "/sites").await;
    assert!(browser.find(Locator::Css("#site-a")).await.is_ok());
    assert!(browser.find(Locator::Css("#site-c")).await.is_err(), "c is another region's");
    assert!(browser.find(Locator::Css("#site-b")).await.is_err(), "b is another site");
    shot(&browser, &shots, "sites-site-manager").await;
    go(&browser, "/sites/c").await;
    assert!(text(&browser, "#message-body").await.contains("不在您的范围"));
    go(&browser, "/people").await;
    assert!(text(&browser, "#message-title").await.contains("无权访问"));
    assert!(browser.find(Locator::Css("#nav-people")).await.is_err(), "the menu offers only what the role opens");
    sign_out(&browser).await;

    // The analyst: today's figures, not the sites.
    first_sign_in(&browser, &analyst, &analyst_pw, &shots).await;
    assert!(browser.find(Locator::Css("#nav-sites")).await.is_err());
    go(&browser, "/sites").await;
    assert!(text(&browser, "#message-title").await.contains("无权访问"));
    shot(&browser, &shots, "analyst-refused").await;
    go(&browser, "/content").await;
    assert!(text(&browser, "#message-title").await.contains("无权访问"), "an analyst gets no editor");
    // Statistics: the chain today (a device at two sites is one guest of
    // the chain), sites compared, a site's drill-down, a promotion.
    browser.find(Locator::Css("#nav-stats")).await.unwrap().click().await.unwrap();
    // Five guests' logins filed by the sites and the marketer's chain card at a.
    says(&browser, "#stat-logins", "6").await;
    assert_eq!(text(&browser, "#stat-guests").await, "5");
    assert_eq!(text(&browser, "#stat-new").await, "5");
    assert_eq!(text(&browser, "#stat-views").await, "6");
    assert_eq!(text(&browser, "#stat-conversion").await, "100.0");
    let methods = text(&browser, "#methods").await;
    assert!(
        methods.contains("倒计时一键上网 3") && methods.contains("短信验证码 2") && methods.contains("上网卡 1"),
        "methods in words: {methods}"
    );
    // Footfall by zone: each site's last word on its day, summed (a: 12, c: 5),
    // however many heartbeats said it.
    let zones = text(&browser, "#zones").await;
    assert!(zones.contains("大堂 17 30 分钟"), "the chain's hall: {zones}");
    assert!(text(&browser, "#moves").await.contains("大堂 → 包间 2"));
    // A cell HQ refuses never reaches the page (had it been filed, its zone would be a row).
    assert!(!text(&browser, "#zones").await.contains("<b>"), "{zones}");
    browser.execute("document.getElementById('footfall').scrollIntoView()", vec![]).await.unwrap();
    shot(&browser, &shots, "stats-footfall").await;
    shot(&browser, &shots, "stats").await;
    browser.find(Locator::Css("#stats-compare")).await.unwrap().click().await.unwrap();
    let rows = text(&browser, "#compared tbody").await;
    let (a_at, c_at) = (rows.find("人民广场店").unwrap(), rows.find("春熙路店").unwrap());
    assert!(a_at < c_at, "most logins first: {rows}");
    shot(&browser, &shots, "stats-sites").await;
    go(&browser, "/stats?scope=site:c&last=today").await;
    assert!(text(&browser, "#zones").await.contains("大堂 5 30 分钟"), "c's own hall");
    says(&browser, "#stat-elsewhere", "1").await;
    assert_eq!(text(&browser, "#stat-new").await, "1", "c's other guest is new to the chain");
    go(&browser, "/stats/promotions/p-winter?last=today").await;
    says(&browser, "#promo-shown", "6").await;
    assert_eq!(text(&browser, "#promo-taps").await, "1");
    assert!(text(&browser, "#promotion-sites").await.contains("人民广场店"));
    go(&browser, "/stats?from=2026-12-09&to=2026-12-01").await;
    assert!(text(&browser, "#message-body").await.contains("日期范围无效"), "a backwards range is refused in words");
    browser.close().await.unwrap();
}

/// Signs in for the first time: the password, then enrolment (a wrong code
/// first, refused), the recovery codes; on at the overview. The secret.
async fn first_sign_in(browser: &Browser, username: &str, pw: &str, shots: &Path) -> String {
    password(browser, username, pw).await;
    at(browser, "/enrol", &format!("{username} enrols first")).await;
    go(browser, "/").await;
    at(browser, "/enrol", "no page before enrolment").await;
    let secret: String = text(browser, "#totp-secret").await.split_whitespace().collect();
    assert!(browser.find(Locator::Css("#totp-qr svg")).await.is_ok(), "a QR to scan");
    shot(browser, shots, &format!("enrol-{username}")).await;
    typed_code(browser, &wrong_code(&secret)).await;
    says(browser, "#notice", "验证码错误").await;
    typed_code(browser, &code(&secret, 0)).await;
    let codes = text(browser, "#recovery-codes").await;
    assert_eq!(codes.lines().filter(|l| l.len() == 11).count(), 10, "ten recovery codes: {codes}");
    shot(browser, shots, &format!("recovery-{username}")).await;
    browser.find(Locator::Css("#continue")).await.unwrap().click().await.unwrap();
    assert!(text(browser, "#me").await.contains(username));
    secret
}

async fn password(browser: &Browser, username: &str, pw: &str) {
    go(browser, "/login").await;
    browser.find(Locator::Css("#username")).await.unwrap().send_keys(username).await.unwrap();
    browser.find(Locator::Css("#password")).await.unwrap().send_keys(pw).await.unwrap();
    browser.find(Locator::Css("#login")).await.unwrap().click().await.unwrap();
}

/// Types a code into the second step's field. The field is waited for: a
/// click on "sign in" may still be navigating away from the password form.
async fn typed_code(browser: &Browser, code: &str) {
    let field = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#code"))
        .await
        .expect("the code's step");
    field.clear().await.unwrap();
    field.send_keys(code).await.unwrap();
    browser.find(Locator::Css("#verify")).await.unwrap().click().await.unwrap();
}

async fn sign_out(browser: &Browser) {
    browser.find(Locator::Css("#logout")).await.unwrap().click().await.unwrap();
    at(browser, "/login", "signed out").await;
}

/// Asserts the browser is at `path` (a click's navigation given 5 s to
/// land), showing the page when it is not.
async fn at(browser: &Browser, path: &str, why: &str) {
    let start = Instant::now();
    loop {
        let url = browser.current_url().await.unwrap();
        if url.path().ends_with(path) {
            return;
        }
        if start.elapsed() > Duration::from_secs(5) {
            panic!("{why}: at {url}, not {path}:\n{}", page_text(browser).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn go(browser: &Browser, path: &str) {
    browser.goto(&format!("{CONSOLE}{path}")).await.unwrap();
}

/// The text of `css` on the page (a click's navigation given 5 s to land).
async fn text(browser: &Browser, css: &str) -> String {
    let start = Instant::now();
    loop {
        // An element of the page a click is leaving may go stale under us: ask again.
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                return text;
            }
        }
        if start.elapsed() > Duration::from_secs(5) {
            panic!("no {css} on {:?}:\n{}", browser.current_url().await, page_text(browser).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (5 s at most) until `css` says `needle`: the page after a click.
async fn says(browser: &Browser, css: &str, needle: &str) {
    let start = Instant::now();
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if element.text().await.is_ok_and(|t| t.contains(needle)) {
                return;
            }
        }
        if start.elapsed() > Duration::from_secs(5) {
            panic!("{css} never said {needle:?}:\n{}", page_text(browser).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the page says, for a failure's message.
async fn page_text(browser: &Browser) -> String {
    match browser.find(Locator::Css("main")).await {
        Ok(main) => main.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn select(browser: &Browser, css: &str, value: &str) {
    let select = browser.find(Locator::Css(css)).await.unwrap();
    select.select_by_value(value).await.unwrap();
}

async fn shot(browser: &Browser, dir: &Path, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    if let Some(keep) = std::env::var_os("E2E_SCREENSHOTS") {
        let _ = std::fs::create_dir_all(&keep);
        let _ = std::fs::write(Path::new(&keep).join(format!("hq-{name}.png")), &png);
    }
}

fn curl(args: &[&str]) -> String {
    let out = std::process::Command::new("curl").args(["-sk", "--max-time", "20"]).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A sign-in POST as a script sends it (the form token and its cookie are
/// any pair that match): its status and page.
fn post_login(username: &str, pw: &str) -> (String, String) {
    let out = curl(&[
        "-w",
        "\n%{http_code}",
        "-H",
        "Cookie: gw_hq_pre=t0k3n",
        "--data-urlencode",
        "csrf=t0k3n",
        "--data-urlencode",
        &format!("username={username}"),
        "--data-urlencode",
        &format!("password={pw}"),
        &format!("{CONSOLE}/login"),
    ]);
    let (page, status) = out.rsplit_once('\n').unwrap_or(("", &out));
    (status.trim().to_string(), page.to_string())
}

/// `n` wrong passwords for `username` sent at once; their statuses.
fn wrong_passwords_at_once(username: &str, n: usize) -> Vec<String> {
    let tries: Vec<_> = (0..n)
        .map(|i| {
            let username = username.to_string();
            std::thread::spawn(move || post_login(&username, &format!("wrong-{i}")).0)
        })
        .collect();
    tries.into_iter().map(|t| t.join().unwrap()).collect()
}
