//! The portal's handlers in-process: a chosen peer address and MAC (a fixed
//! neighbour table), the in-memory filter, an in-memory store. Every login
//! method, as a guest's browser drives it, without root.

use super::*;
use crate::auth::voucher::NewBatch;
use crate::auth::{Bandwidth, Keys};
use axum::body::Body;
use firewall::{Client, MemoryFilter};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tower::ServiceExt;

mod members;

const EXAMPLE: &str = include_str!("../../../../image/controller.example.toml");

struct Harness {
    app: Router,
    portal: Arc<Portal>,
    filter: Arc<MemoryFilter>,
    neighbours: Arc<FixedNeighbours>,
    /// What the SMS gateway sent: one line a message.
    outbox: tempfile::NamedTempFile,
    /// The member store (SQLite in a temporary dir) and its feed.
    members: crate::members::Store,
    feed: crate::members::feed::Feed,
    /// What the control socket acts on (staff requests).
    app_handles: crate::control::Handles,
    _dir: Option<tempfile::TempDir>,
}

fn guest(n: u8) -> Client {
    Client {
        mac: format!("02:00:00:00:01:{n:02x}").parse().unwrap(),
        ip: format!("192.0.2.{}", 100 + n).parse().unwrap(),
    }
}

async fn harness(env: &[(&str, &str)]) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    harness_at(env, &path, Some(dir)).await
}

/// A portal whose member store is `members.db` in `dir` (two harnesses on
/// one dir are two sites of a brand sharing a store).
async fn harness_at(env: &[(&str, &str)], dir: &std::path::Path, keep: Option<tempfile::TempDir>) -> Harness {
    let mut vars: Vec<(String, String)> = vec![
        ("GUESTWIFI_AUTH__COUNTDOWN__SECONDS".into(), "0".into()),
        ("GUESTWIFI_AUTH__VOUCHER__ENABLED".into(), "true".into()),
        ("GUESTWIFI_AUTH__ACCOUNT__ENABLED".into(), "true".into()),
        ("GUESTWIFI_AUTH__COUNTER_QR__ENABLED".into(), "true".into()),
        ("GUESTWIFI_AUTH__SMS__ENABLED".into(), "true".into()),
        ("GUESTWIFI_AUTH__SMS__RESEND_SECONDS".into(), "0".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars.push(("GUESTWIFI_DATA__DIR".into(), dir.display().to_string()));
    let config = Arc::new(crate::config::Config::parse(EXAMPLE, "example", vars).unwrap());
    let db = crate::store::memory().await.unwrap();
    let filter = Arc::new(MemoryFilter::default());
    let keys = Keys {
        portal: Signer::with_key([1; 32]),
        ids: Signer::with_key([2; 32]),
        counter_display: "tablet-key".into(),
    };
    let outbox = tempfile::NamedTempFile::new().unwrap();
    let gateway: Arc<dyn crate::auth::sms::gateway::Gateway> =
        Arc::new(crate::auth::sms::gateway::LogGateway { path: outbox.path().to_path_buf() });
    let neighbours = Arc::new(FixedNeighbours::default());
    for n in 1..=9 {
        let g = guest(n);
        let IpAddr::V4(ip) = g.ip else { unreachable!() };
        neighbours.insert(ip, g.mac);
    }
    let outside = crate::app::Outside {
        db: db.clone(),
        sessions: Sessions::new(db, filter.clone(), None),
        sms_gateway: Some(gateway),
        keys: Some((keys, Signer::with_key([1; 32]))),
        ac: false,
        printer: Arc::new(crate::print::Sheets),
    };
    let built = crate::app::App::build(config, outside).await.unwrap();
    let members = built.handles.staff.members.clone();
    members.prepare("", "test site", "").await.unwrap();
    let (portal, feed) = (Arc::new(Portal::of(&built, neighbours.clone())), built.feed.clone());
    let app_handles = built.handles.clone();
    Harness { app: router(portal.clone()), portal, filter, neighbours, outbox, members, feed, app_handles, _dir: keep }
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    /// The value of the hidden input `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in\n{}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

impl Harness {
    /// One voucher card of ten minutes for one device.
    async fn one_voucher(&self) -> crate::auth::voucher::Voucher {
        let batch = NewBatch {
            count: 1,
            duration_seconds: 600,
            valid_days: 1,
            devices: 1,
            bandwidth: Bandwidth::default(),
            note: String::new(),
        };
        self.portal.auth.vouchers.create(&batch).await.unwrap().remove(0)
    }

    /// The codes sent so far, oldest first.
    fn codes(&self) -> Vec<String> {
        std::fs::read_to_string(self.outbox.path())
            .unwrap()
            .lines()
            .map(|l| {
                let text = l.split('\t').nth(1).unwrap();
                text.split(|c: char| !c.is_ascii_digit()).find(|t| t.len() == 6).unwrap().to_string()
            })
            .collect()
    }

    async fn send(&self, from: Client, method: &str, path: &str, form: &[(&str, &str)], lang: &str) -> Page {
        self.send_with(from, method, path, form, lang, None).await
    }

    async fn send_with(
        &self,
        from: Client,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        lang: &str,
        cookie: Option<&str>,
    ) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "portal.guestwifi.test")
            .header(header::ACCEPT_LANGUAGE, lang)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie.unwrap_or(""))
            .body(Body::from(body))
            .unwrap();
        request.extensions_mut().insert(Peer(SocketAddr::new(from.ip, 40000)));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Page { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&self, from: Client, path: &str) -> Page {
        self.send(from, "GET", path, &[], "zh-CN").await
    }

    async fn post(&self, from: Client, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(from, "POST", path, form, "zh-CN").await
    }

    async fn audit(&self) -> Vec<(String, String, String)> {
        self.portal.auth.audit.recent(100).await.unwrap().into_iter().map(|r| (r.method, r.outcome, r.reason)).collect()
    }

    async fn session_identity(&self, c: Client) -> Option<String> {
        self.portal.sessions.current(c).await.unwrap().map(|s| s.identity)
    }
}

#[tokio::test]
async fn the_login_page_offers_one_way_first_and_folds_the_others_below_it() {
    // Every way on: the countdown first, the others folded under "other ways".
    let h = harness(&[]).await;
    let page = h.get(guest(1), "/").await.body;
    assert!(page.contains("<section class=\"card way ad\" id=\"countdown-card\">"), "{page}");
    assert!(page.contains("id=\"other-ways\"") && page.contains("其他上网方式"));
    assert!(page.contains("<details class=\"way\" id=\"voucher-card\"><summary>"), "{page}");
    assert_eq!(page.matches("<section class=\"card way").count(), 1, "one big way");

    // The site chose the voucher card first.
    let h = harness(&[("GUESTWIFI_PORTAL__FIRST_METHOD", "voucher")]).await;
    let page = h.get(guest(1), "/").await.body;
    let (first, rest) = page.split_once("id=\"other-ways\"").expect("other ways");
    assert!(first.contains("<section class=\"card way\" id=\"voucher-card\">") && !first.contains("countdown-card"));
    assert!(rest.contains("<details class=\"way\" id=\"countdown-card\">"), "{rest}");

    // One way on: no "other ways" at all.
    let off = [
        ("GUESTWIFI_AUTH__ACCOUNT__ENABLED", "false"),
        ("GUESTWIFI_AUTH__COUNTER_QR__ENABLED", "false"),
        ("GUESTWIFI_AUTH__VOUCHER__ENABLED", "false"),
        ("GUESTWIFI_AUTH__SMS__ENABLED", "false"),
    ];
    let page = harness(&off).await.get(guest(1), "/").await.body;
    assert!(page.contains("countdown-card") && !page.contains("other-ways"), "{page}");
}

#[tokio::test]
async fn the_login_page_offers_exactly_the_enabled_methods_in_the_guests_language() {
    let h = harness(&[]).await;
    let page = h.get(guest(1), "/").await;
    assert_eq!(page.status, StatusCode::OK);
    for id in ["countdown-card", "voucher-card", "account-card", "counter-card"] {
        assert!(page.body.contains(id), "{id} missing");
    }
    assert!(page.body.contains("上网卡登录"));
    let en = h.send(guest(1), "GET", "/", &[], "en-US").await;
    assert!(en.body.contains("Voucher card") && !en.body.contains("上网卡登录"));

    let h = harness(&[("GUESTWIFI_AUTH__ACCOUNT__ENABLED", "false"), ("GUESTWIFI_AUTH__COUNTER_QR__ENABLED", "false")])
        .await;
    let page = h.get(guest(1), "/").await;
    assert!(page.body.contains("voucher-card") && !page.body.contains("account-card"));
    assert!(!page.body.contains("counter-card"));
    let token = page.field("token");
    let off = h.post(guest(1), "/login/account", &[("username", "x"), ("password", "y"), ("token", &token)]).await;
    assert_eq!(off.status, StatusCode::NOT_FOUND);
    assert!(off.body.contains("未开启"), "{}", off.body);
}

#[tokio::test]
async fn an_unknown_device_gets_a_clear_page_and_nothing_else() {
    let h = harness(&[]).await;
    let stranger = Client { mac: guest(1).mac, ip: "192.0.2.250".parse().unwrap() };
    let page = h.get(stranger, "/").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("无法识别您的设备"));
    let form = h.post(stranger, "/login/voucher", &[("code", "ABCDEFGHJK"), ("token", "x")]).await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert!(h.audit().await.is_empty());
}

#[tokio::test]
async fn no_other_site_may_frame_a_portal_page() {
    let h = harness(&[]).await;
    for path in ["/", "/promotions", "/nowhere"] {
        let page = h.get(guest(1), path).await;
        assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
}

#[tokio::test]
async fn countdown_early_then_in_time_then_a_double_tap() {
    let h = harness(&[("GUESTWIFI_AUTH__COUNTDOWN__SECONDS", "1")]).await;
    let ticket = h.get(guest(1), "/").await.field("ticket");
    let early = h.post(guest(1), "/login", &[("ticket", &ticket)]).await;
    assert_eq!(early.status, StatusCode::TOO_EARLY);
    assert!(early.headers.contains_key(header::RETRY_AFTER));
    assert!(!h.filter.is_authorized(guest(1)));
    let thief = h.post(guest(2), "/login", &[("ticket", &ticket)]).await;
    assert_eq!(thief.status, StatusCode::FORBIDDEN, "another device's ticket");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let ok = h.post(guest(1), "/login", &[("ticket", &ticket)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(h.filter.is_authorized(guest(1)));
    assert_eq!(h.session_identity(guest(1)).await.unwrap(), format!("device:{}", guest(1).mac));
    let again = h.post(guest(1), "/login", &[("ticket", &ticket)]).await;
    assert_eq!(again.status, StatusCode::OK, "a double tap shows success, not an error");
    let audit = h.audit().await;
    assert!(audit.contains(&("countdown".into(), "refused".into(), "too_early".into())));
    assert!(audit.contains(&("countdown".into(), "refused".into(), "invalid".into())));
    assert!(audit.contains(&("countdown".into(), "login".into(), String::new())));
}

#[tokio::test]
async fn tapping_the_ad_logs_in_counts_a_click_and_goes_to_the_ad() {
    let h = harness(&[
        ("GUESTWIFI_AUTH__COUNTDOWN__AD_URL", "http://garden.test/offer"),
        ("GUESTWIFI_AUTH__COUNTDOWN__AD_TEXT_ZH", "今日特价：红烧肉"),
        ("GUESTWIFI_AUTH__COUNTDOWN__AUTO_LOGIN", "true"),
    ])
    .await;
    let page = h.get(guest(1), "/").await;
    assert!(page.body.contains("今日特价：红烧肉") && page.body.contains("data-auto=\"1\""));
    assert_eq!(h.portal.auth.audit.count_events("ad_impression").await.unwrap(), 1);
    let ticket = page.field("ticket");
    let ok = h.post(guest(1), "/login", &[("ticket", &ticket), ("ad", "1")]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains("url=http://garden.test/offer"), "{}", ok.body);
    assert_eq!(h.portal.auth.audit.count_events("ad_click").await.unwrap(), 1);
    assert!(h.portal.metrics.encode().contains("guestwifi_portal_ad_events_total{event=\"click\"} 1"));
}

#[tokio::test]
async fn a_voucher_logs_in_with_its_own_time_and_a_wrong_code_is_refused_then_locked_out() {
    let h = harness(&[]).await;
    let batch = NewBatch {
        count: 1,
        duration_seconds: 3600,
        valid_days: 30,
        devices: 1,
        bandwidth: Bandwidth { down_kbps: 4096, up_kbps: 1024, ..Bandwidth::default() },
        note: String::new(),
    };
    let card = h.portal.auth.vouchers.create(&batch).await.unwrap().remove(0);
    let token = h.get(guest(1), "/").await.field("token");

    let forged = h.post(guest(1), "/login/voucher", &[("code", &card.code), ("token", "0000")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "a form another site made");
    assert!(!h.filter.is_authorized(guest(1)));

    for _ in 0..4 {
        let wrong = h.post(guest(1), "/login/voucher", &[("code", "ABCDE-FGHJK"), ("token", &token)]).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert!(wrong.body.contains("卡号无效"));
    }
    let bad = h.post(guest(1), "/login/voucher", &[("code", "<script>"), ("token", &token)]).await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    let locked = h.post(guest(1), "/login/voucher", &[("code", &card.code), ("token", &token)]).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "even the right code, once locked out");
    assert!(locked.body.contains("分钟后再试") && locked.headers.contains_key(header::RETRY_AFTER));
    assert!(!h.filter.is_authorized(guest(1)));
    assert_eq!(h.portal.auth.vouchers.list(None).await.unwrap()[0].devices_used, 0, "nothing changed");

    let token2 = h.get(guest(2), "/").await.field("token");
    let ok =
        h.post(guest(2), "/login/voucher", &[("code", &card.display_code().to_lowercase()), ("token", &token2)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let session = h.portal.sessions.current(guest(2)).await.unwrap().unwrap();
    assert_eq!(session.identity, format!("voucher:{}", card.code));
    assert_eq!((session.down_kbps, session.up_kbps), (4096, 1024));
    assert_eq!(
        h.filter.rate(guest(2)),
        Some(firewall::Rate { down_kbps: 4096, up_kbps: 1024 }),
        "the kernel gets the card's rate"
    );
    assert!(session.granted_seconds > 3500 && session.granted_seconds <= 3600);

    let token3 = h.get(guest(3), "/").await.field("token");
    let full = h.post(guest(3), "/login/voucher", &[("code", &card.code), ("token", &token3)]).await;
    assert_eq!(full.status, StatusCode::CONFLICT);
    assert!(full.body.contains("设备数量"));
    let reasons: Vec<String> = h.audit().await.into_iter().map(|(_, _, r)| r).collect();
    assert!(reasons.contains(&"locked_out".to_string()) && reasons.contains(&"device_limit".to_string()));
}

#[tokio::test]
async fn scanning_a_cards_qr_code_sends_the_code_from_a_page_that_posts_itself() {
    let h = harness(&[]).await;
    let card = h.one_voucher().await;
    let page = h.get(guest(1), &format!("/v?code={}", card.code)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-autosubmit") && page.body.contains(&card.display_code()));
    let ok =
        h.post(guest(1), "/login/voucher", &[("code", &page.field("code")), ("token", &page.field("token"))]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let junk = h.get(guest(2), "/v?code=%22%3E%3Cscript%3E").await;
    assert_eq!(junk.status, StatusCode::FORBIDDEN);
    assert!(!junk.body.contains("<script>"));
}

#[tokio::test]
async fn a_front_desk_account_logs_in_and_a_wrong_password_does_not() {
    let h = harness(&[]).await;
    let made = h
        .portal
        .auth
        .accounts
        .create(&crate::auth::account::NewAccount {
            username: String::new(),
            id_number: "11010519491231002X".into(),
            id_type: "id_card".into(),
            name: String::new(),
            online_seconds: 3600,
            valid_days: 1,
            devices: 1,
        })
        .await
        .unwrap();
    let token = h.get(guest(1), "/").await.field("token");
    let wrong = h
        .post(guest(1), "/login/account", &[("username", &made.username), ("password", "wrong"), ("token", &token)])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("用户名或密码错误"));
    assert!(!h.filter.is_authorized(guest(1)));
    let ok = h
        .post(
            guest(1),
            "/login/account",
            &[("username", &made.username), ("password", &made.password), ("token", &token)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(h.session_identity(guest(1)).await.unwrap(), format!("account:{}", made.username));
    let token2 = h.get(guest(2), "/").await.field("token");
    let second = h
        .post(
            guest(2),
            "/login/account",
            &[("username", &made.username), ("password", &made.password), ("token", &token2)],
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "one device at a time");
}

#[tokio::test]
async fn the_counter_tablet_needs_its_key_and_its_code_logs_a_phone_in() {
    let h = harness(&[]).await;
    assert_eq!(h.get(guest(9), "/counter?key=wrong").await.status, StatusCode::NOT_FOUND);
    let tablet = h.get(guest(9), "/counter?key=tablet-key").await;
    assert_eq!(tablet.status, StatusCode::OK);
    assert!(tablet.body.contains("<svg") && tablet.body.contains("http-equiv=\"refresh\""));
    let link = h.portal.auth.counter.current_link();
    let scan = h.get(guest(1), &link).await;
    let (p, t) = (scan.field("p"), scan.field("t"));
    let ok = h.post(guest(1), "/login/counter", &[("p", &p), ("t", &t), ("token", &scan.field("token"))]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(h.session_identity(guest(1)).await.unwrap(), format!("device:{}", guest(1).mac));
    let old = (p.parse::<u64>().unwrap() - 3).to_string();
    let token2 = h.get(guest(2), "/").await.field("token");
    let stale = h.post(guest(2), "/login/counter", &[("p", &old), ("t", &t), ("token", &token2)]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert!(!h.filter.is_authorized(guest(2)));
}

#[tokio::test]
async fn a_session_that_cannot_open_gives_the_voucher_back() {
    let h = harness(&[]).await;
    // Another device holds guest 1's address and is still active: the login fails.
    h.neighbours.insert(Ipv4Addr::new(192, 0, 2, 101), "02:00:00:00:09:99".parse().unwrap());
    let impostor = Client { mac: "02:00:00:00:09:99".parse().unwrap(), ip: guest(1).ip };
    let grant = crate::auth::Grant {
        method: crate::auth::Method::Countdown,
        identity: crate::auth::Identity::Device(impostor.mac.to_string()),
        duration: Duration::from_secs(60),
        bandwidth: Bandwidth::default(),
    };
    h.portal.sessions.login(impostor, grant).await.unwrap();
    h.neighbours.insert(Ipv4Addr::new(192, 0, 2, 101), guest(1).mac);
    let card = h.one_voucher().await;
    let token = h.get(guest(1), "/").await.field("token");
    let refused = h.post(guest(1), "/login/voucher", &[("code", &card.code), ("token", &token)]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    let card = h.portal.auth.vouchers.list(None).await.unwrap().remove(0);
    assert_eq!((card.devices_used, card.first_used_at), (0, None), "the card is as it was");
}

#[tokio::test]
async fn an_sms_code_logs_in_and_the_browser_comes_back_with_one_tap() {
    let h = harness(&[]).await;
    let token = h.get(guest(1), "/").await.field("token");
    let bad = h.post(guest(1), "/sms/send", &[("phone", "12345"), ("token", &token)]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("请输入正确的手机号"));
    let sent = h.post(guest(1), "/sms/send", &[("phone", "138 0013 8000"), ("token", &token)]).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("138****8000"), "the number shown masked");
    let code = h.codes().pop().unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let again =
        h.post(guest(1), "/login/sms", &[("phone", "+8613800138000"), ("code", wrong), ("token", &token)]).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert!(again.body.contains("验证码错误") && again.body.contains("sms-code-card"), "the code page again");
    assert!(!h.filter.is_authorized(guest(1)));
    // The right code, typed on another phone: told so, not "page expired".
    let token2 = h.get(guest(2), "/").await.field("token");
    let elsewhere =
        h.post(guest(2), "/login/sms", &[("phone", "+8613800138000"), ("code", &code), ("token", &token2)]).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    assert!(elsewhere.body.contains("另一台手机"), "{}", elsewhere.body);
    assert!(!h.filter.is_authorized(guest(2)));
    let ok = h.post(guest(1), "/login/sms", &[("phone", "+8613800138000"), ("code", &code), ("token", &token)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(h.session_identity(guest(1)).await.unwrap(), "phone:138****8000", "kept masked here");
    let cookie = pass_cookie(&ok);
    assert!(!cookie.contains("13800138000"), "the cookie is an opaque id, not the phone: {cookie}");

    // The same phone on another day (a new address, its MAC): one tap, no SMS.
    let sent_before = h.codes().len();
    let later = Client { mac: guest(1).mac, ip: guest(7).ip };
    let IpAddr::V4(ip) = later.ip else { unreachable!() };
    h.neighbours.insert(ip, later.mac);
    let page = h.send_with(later, "GET", "/", &[], "zh-CN", Some(&cookie)).await;
    assert!(page.body.contains("member-return") && page.body.contains("138****8000"), "{}", page.body);
    let token = page.field("token");
    let back = h.send_with(later, "POST", "/login/return", &[("token", &token)], "zh-CN", Some(&cookie)).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(h.session_identity(later).await.unwrap(), "phone:138****8000");
    assert_eq!(h.codes().len(), sent_before, "no SMS for a returning guest");

    // An attacker who copied the diner's MAC, without the pass: no offer,
    // no masked number, and the tap is refused.
    h.portal.sessions.logout(later).await.unwrap();
    let copied = Client { mac: guest(1).mac, ip: guest(8).ip };
    let IpAddr::V4(ip) = copied.ip else { unreachable!() };
    h.neighbours.insert(ip, copied.mac);
    let page = h.get(copied, "/").await;
    assert!(!page.body.contains("member-return") && !page.body.contains("8000"), "{}", page.body);
    let tap = h.post(copied, "/login/return", &[("token", &page.field("token"))]).await;
    assert_eq!(tap.status, StatusCode::FORBIDDEN);
    assert!(!h.filter.is_authorized(copied));
    // The pass copied to another device (another MAC) is nothing either, nor
    // is the old signed phone cookie.
    let token3 = h.get(guest(3), "/").await.field("token");
    for stolen in [cookie.as_str(), "gw_return=+8613800138000.1.00", "gw_pass=+8613800138000"] {
        let tap = h.send_with(guest(3), "POST", "/login/return", &[("token", &token3)], "zh-CN", Some(stolen)).await;
        assert_eq!(tap.status, StatusCode::FORBIDDEN, "{stolen}");
    }
    let via_sms_card =
        h.send_with(guest(3), "POST", "/login/sms/return", &[("token", &token3)], "zh-CN", Some(&cookie)).await;
    assert_eq!(via_sms_card.status, StatusCode::FORBIDDEN);

    // Staff revoke the phone's returns: the pass is worth nothing after.
    let staff = crate::control::Request::SmsForget { phone: "13800138000".into() };
    let handles = &h.app_handles;
    let reply = crate::control::handle(&crate::staff::Actor::cli(), staff, handles).await;
    assert!(matches!(reply, crate::control::Reply::Text { .. }), "{reply:?}");
    let page = h.send_with(later, "GET", "/", &[], "zh-CN", Some(&cookie)).await;
    assert!(!page.body.contains("member-return"), "revoked");
}

/// The `name=value` of the pass a login response set, checked HttpOnly.
fn pass_cookie(page: &Page) -> String {
    let set = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("gw_pass="))
        .expect("a member's login sets the pass");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn sms_past_a_limit_sends_nothing_and_says_when_to_try_again() {
    let h = harness(&[]).await;
    for n in 1..=3 {
        let token = h.get(guest(n), "/").await.field("token");
        let sent = h.post(guest(n), "/sms/send", &[("phone", "13900139000"), ("token", &token)]).await;
        assert_eq!(sent.status, StatusCode::OK);
    }
    let token = h.get(guest(4), "/").await.field("token");
    let limited = h.post(guest(4), "/sms/send", &[("phone", "13900139000"), ("token", &token)]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry > 500, "{retry}");
    assert!(limited.body.contains("秒后再试"));
    assert_eq!(h.codes().len(), 3, "nothing sent past the limit");
    assert!(h.audit().await.contains(&("sms".into(), "refused".into(), "limited".into())));
}

/// Rows of a member-store table.
#[tokio::test]
async fn published_dishes_show_on_the_login_page_with_photos_sized_for_the_screen() {
    let h = harness(&[]).await;
    let m = h.portal.marketing.clone();
    let photo = m.store_image(crate::marketing::samples::png(1280, 853)).await.unwrap();
    m.add_dish("红烧肉", "Braised pork", "58", Some(photo.clone())).await.unwrap();
    assert!(!h.get(guest(1), "/").await.body.contains("id=\"dishes\""), "a draft is not shown");
    m.publish("mkt").await.unwrap();
    let page = h.get(guest(1), "/").await;
    assert!(page.body.contains("红烧肉") && page.body.contains("¥58"), "{}", page.body);
    assert!(page.body.contains(&format!("/m/{photo}/320.jpg 320w")) && page.body.contains("sizes="), "srcset");
    let en = h.send(guest(1), "GET", "/", &[], "en").await;
    assert!(en.body.contains("Braised pork"));
    let img = h.get(guest(1), &format!("/m/{photo}/320.jpg")).await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(img.headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(h.get(guest(1), "/m/..%2f..%2fetc/320.jpg").await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.get(guest(1), &format!("/m/{photo}/321.jpg")).await.status, StatusCode::NOT_FOUND);
    assert!(h.portal.auth.audit.count_events("dish_impression").await.unwrap() >= 2, "impressions counted");
}

use crate::marketing::samples::form;

#[tokio::test]
async fn the_marketers_pages_show_brand_promotions_and_menu_each_in_its_schedule() {
    let h = harness(&[]).await;
    let m = h.portal.marketing.clone();
    use crate::marketing::Kind;
    let now = crate::marketing::Now::at(crate::kit::time::now_ms(), 8);
    let today = now.date().to_string();
    let past = "2020-01-01";
    let logo = m.store_image(crate::marketing::samples::png(400, 200)).await.unwrap();
    m.set_brand(
        &form(&[
            ("colour", "#0a7d3b"),
            ("story_zh", "始于1998。\n\n一家三代。"),
            ("member_day", &now.weekday().to_string()),
        ]),
        Some(logo.clone()),
        None,
    )
    .await
    .unwrap();
    let on = m
        .add(
            Kind::Promotion,
            &form(&[
                ("title_zh", "周三会员日 8 折"),
                ("body_zh", "全场八折。\n\n限堂食。"),
                ("until", &today),
                ("member_day", "1"),
            ]),
            None,
        )
        .await
        .unwrap();
    let on = on.split(' ').next().unwrap().to_string();
    m.add(Kind::Promotion, &form(&[("title_zh", "已结束的活动"), ("until", past)]), None).await.unwrap();
    m.add(Kind::Dish, &form(&[("name_zh", "早餐粥"), ("price", "8")]), None).await.unwrap();
    m.add(Kind::Dish, &form(&[("name_zh", "明天的菜"), ("price", "8"), ("from", "2099-01-01")]), None).await.unwrap();
    m.add(
        Kind::Product,
        &form(&[("name_zh", "水煮鱼"), ("price", "68"), ("category", "热菜"), ("tags", "辣，招牌")]),
        None,
    )
    .await
    .unwrap();
    m.add(Kind::Product, &form(&[("name_zh", "酸梅汤"), ("price", "12"), ("category", "饮品")]), None).await.unwrap();
    m.set_ad(&form(&[("text_zh", "点我看会员日"), ("promotion", &on)]), None).await.unwrap();
    m.set_landing("promotions").await.unwrap();
    assert!(!h.get(guest(1), "/").await.body.contains("周三会员日"), "a draft is not shown");
    m.publish("mkt").await.unwrap();

    let home = h.get(guest(1), "/").await;
    assert!(home.body.contains("周三会员日 8 折") && home.body.contains(&format!("href=\"/p/{on}\"")), "{}", home.body);
    assert!(!home.body.contains("已结束的活动"), "an ended promotion is hidden");
    assert!(home.body.contains("早餐粥") && !home.body.contains("明天的菜"), "a dish before its first day is hidden");
    assert!(home.body.contains(&format!("/m/{logo}/320.jpg")) && home.body.contains("一家三代"));
    assert!(home.body.contains("点我看会员日"), "the marketer's ad replaces the configured one");
    assert!(home.body.contains("href=\"/menu\""));
    let css = h.get(guest(1), "/brand.css").await;
    assert!(css.body.contains("--brand:#0a7d3b"), "{}", css.body);

    let menu = h.get(guest(1), "/menu").await;
    assert!(menu.body.contains("水煮鱼") && menu.body.contains("酸梅汤"));
    let drinks = h.get(guest(1), "/menu?c=%E9%A5%AE%E5%93%81").await;
    assert!(drinks.body.contains("酸梅汤") && !drinks.body.contains("水煮鱼"), "by category");
    let spicy = h.get(guest(1), "/menu?t=%E8%BE%A3").await;
    assert!(spicy.body.contains("水煮鱼") && !spicy.body.contains("酸梅汤"), "by tag");

    let detail = h.get(guest(1), &format!("/p/{on}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.body.contains("限堂食"));
    let ended = m.published().promotions.iter().find(|p| p.title_zh == "已结束的活动").unwrap().id.clone();
    assert_eq!(h.get(guest(1), &format!("/p/{ended}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.get(guest(1), "/p/nothing").await.status, StatusCode::NOT_FOUND);

    // Tapping the ad logs in and opens its promotion.
    let ticket = home.field("ticket");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let ok = h.post(guest(1), "/login", &[("ticket", &ticket), ("ad", "1")]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains(&format!("url=/p/{on}")), "{}", ok.body);
    // Without the ad: the landing is the promotions page, not a URL the request carried.
    let page = h.get(guest(2), "/?url=http://evil.test/").await;
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let ok = h.post(guest(2), "/login", &[("ticket", &page.field("ticket"))]).await;
    assert!(ok.body.contains("url=/promotions") && !ok.body.contains("evil.test"), "{}", ok.body);

    let audit = &h.portal.auth.audit;
    assert_eq!(audit.count_events("promotion_click").await.unwrap(), 1);
    assert!(audit.count_events("promotion_impression").await.unwrap() >= 2);
    assert_eq!(audit.count_events("menu_view").await.unwrap(), 3);
    assert_eq!(audit.count_events("ad_click").await.unwrap(), 1);
}
