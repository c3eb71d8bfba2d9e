//! The console in-process: the real router, stores and the AC over an
//! in-memory database, requests with a chosen peer address.

use super::*;
use axum::body::Body;
use firewall::{Client, MemoryFilter};
use tower::ServiceExt;

const EXAMPLE: &str = include_str!("../../../../image/controller.example.toml");

struct Harness {
    app: Router,
    dir: tempfile::TempDir,
    handles: Handles,
    filter: Arc<MemoryFilter>,
    marketing: Arc<crate::marketing::Marketing>,
    /// Restarts the settings page asked for.
    restarts: Arc<std::sync::atomic::AtomicUsize>,
    /// The configuration file the settings page saves over.
    config_path: std::path::PathBuf,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in\n{}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }

    /// `name=value` of the cookie it sets.
    fn cookie(&self, name: &str) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no cookie {name}"))
    }
}

async fn harness() -> Harness {
    let config = Arc::new(crate::config::Config::parse(EXAMPLE, "example", Vec::new()).unwrap());
    let db = crate::store::memory().await.unwrap();
    let filter = Arc::new(MemoryFilter::default());
    let sessions = crate::sessions::Sessions::new(db.clone(), filter.clone(), None);
    let dir = tempfile::tempdir().unwrap();
    let keys = crate::auth::Keys::load_or_create(dir.path()).unwrap();
    let members = crate::members::Store::connect(&config.members, dir.path()).unwrap();
    let gateway: Arc<dyn crate::auth::sms::gateway::Gateway> =
        Arc::new(crate::auth::sms::gateway::LogGateway { path: dir.path().join("sms.log") });
    let methods = crate::auth::Methods::new(&config, db.clone(), keys, gateway, None, Vec::new(), members.clone());
    let feed = crate::members::feed::Feed::new(members.clone(), db.clone(), 10, Default::default());
    let registry = crate::ac::registry::Registry::new(db.clone()).await.unwrap();
    let ca = crate::ac::ca::Ca::load_or_create(dir.path()).unwrap();
    let ac = crate::ac::Ac::new(registry, ca, std::time::Duration::from_secs(10)).await.unwrap();
    let marketing = Arc::new(crate::marketing::Marketing::load(db.clone()).await.unwrap());
    let staff = Arc::new(crate::staff::Staff::new(db.clone(), dir.path()));
    let handles = Handles {
        sessions: sessions.clone(),
        metrics: Arc::default(),
        ac: Some(ac),
        staff: control::Staff {
            vouchers: methods.vouchers.clone(),
            accounts: methods.accounts.clone(),
            audit: methods.audit.clone(),
            counter_url: String::new(),
            portal_url: "http://portal.test".into(),
            sms: methods.sms.clone(),
            members,
            feed,
            db: db.clone(),
            cards: methods.cards.clone(),
            printer: std::sync::Arc::new(crate::admin::print::Sheets),
        },
        firmware_batch: 1,
        firmware_wait: std::time::Duration::from_secs(60),
        people: staff.clone(),
        marketing: marketing.clone(),
        zone_offset: 8,
    };
    staff.prepare_setup().await.unwrap();
    let portal = crate::portal::Portal::new(
        config,
        sessions,
        methods,
        crate::kit::signer::Signer::with_key([1; 32]),
        Arc::default(),
        Arc::new(crate::portal::FixedNeighbours::default()),
    )
    .with_marketing(marketing.clone());
    let config_path = dir.path().join("controller.toml");
    std::fs::write(&config_path, EXAMPLE.replace("/var/lib/guestwifi", &dir.path().display().to_string())).unwrap();
    let running = Arc::new(crate::config::Config::load(&config_path, Vec::new()).unwrap());
    let restarts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = restarts.clone();
    let restart: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let console = Arc::new(
        Console::new(handles.clone(), false).with_portal(Arc::new(portal)).with_settings(running, Some(restart)),
    );
    let app = crate::admin::api::router(handles.clone(), "appliance-token".into()).merge(router(console));
    Harness { app, dir, handles, filter, marketing, restarts, config_path }
}

impl Harness {
    async fn send(&self, method: &str, path: &str, form: &[(&str, &str)], cookies: &[&str]) -> Reply {
        let body = form.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(
                header::AUTHORIZATION,
                cookies
                    .iter()
                    .find_map(|c| c.strip_prefix("bearer="))
                    .map(|t| format!("Bearer {t}"))
                    .unwrap_or_default(),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT_LANGUAGE, "zh-CN")
            .header(header::COOKIE, cookies.join("; "))
            .body(Body::from(body))
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 40000))));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// A multipart form post (a file field `photo` with `file` bytes).
    async fn upload(&self, path: &str, fields: &[(&str, &str)], file: Option<(&str, &[u8])>, cookie: &str) -> Reply {
        self.upload_as(path, fields, "photo", file, cookie).await
    }

    /// A multipart post with its file in the field `field`.
    async fn upload_as(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        field: &str,
        file: Option<(&str, &[u8])>,
        cookie: &str,
    ) -> Reply {
        let boundary = "----guestwifi-test-boundary";
        let mut body: Vec<u8> = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut request = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .header(header::ACCEPT_LANGUAGE, "zh-CN")
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 40000))));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// First-run setup with the code from the data dir, as the owner does it.
    async fn setup(&self) {
        let form = self.send("GET", "/console/setup", &[], &[]).await;
        let pre = form.cookie(PRE_COOKIE);
        let code = std::fs::read_to_string(self.dir.path().join(crate::staff::SETUP_CODE_FILE)).unwrap();
        let fields = [
            ("csrf", form.field("csrf")),
            ("code", code),
            ("username", "owner".into()),
            ("password", "owner password 1".into()),
        ];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let done = self.send("POST", "/console/setup", &fields, &[&pre]).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    }

    /// The owner opens a front-desk account `desk`; its session cookie.
    async fn desk(&self) -> String {
        let admin = self.login("owner", "owner password 1").await;
        let csrf = self.csrf(&admin, "/console/users").await;
        let fields =
            [("csrf", csrf.as_str()), ("username", "desk"), ("password", "a long password"), ("role", "frontdesk")];
        self.send("POST", "/console/users", &fields, &[&admin]).await;
        self.login("desk", "a long password").await
    }

    /// Logs in; the session cookie.
    async fn login(&self, username: &str, password: &str) -> String {
        let form = self.send("GET", "/console/login", &[], &[]).await;
        let pre = form.cookie(PRE_COOKIE);
        let csrf = form.field("csrf");
        let done = self
            .send("POST", "/console/login", &[("csrf", &csrf), ("username", username), ("password", password)], &[&pre])
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        done.cookie(COOKIE)
    }

    async fn csrf(&self, cookie: &str, path: &str) -> String {
        self.send("GET", path, &[], &[cookie]).await.field("csrf")
    }
}

fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[tokio::test]
async fn the_owner_sets_up_with_the_code_and_nobody_can_do_it_again() {
    let h = harness().await;
    let first = h.send("GET", "/console/", &[], &[]).await;
    assert_eq!(first.headers[header::LOCATION], "/console/setup");
    let form = h.send("GET", "/console/setup", &[], &[]).await;
    assert!(form.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'"));
    let pre = form.cookie(PRE_COOKIE);
    let csrf = form.field("csrf");
    let fields = |code: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("code", code.into()),
            ("username", "owner".to_string()),
            ("password", "owner password 1".to_string()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>, cookies: Vec<String>| {
        let h = &h;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let c: Vec<&str> = cookies.iter().map(String::as_str).collect();
            h.send("POST", "/console/setup", &f, &c).await
        }
    };
    let no_cookie = send(fields("X"), vec![]).await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN, "a form from elsewhere");
    let wrong = send(fields("WRONGCODE234"), vec![pre.clone()]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("设置码错误"));
    h.setup().await;
    let again = h.send("GET", "/console/setup", &[], &[]).await;
    assert_eq!(again.headers[header::LOCATION], "/console/login", "setup is closed");
    let cookie = h.login("owner", "owner password 1").await;
    let page = h.send("GET", "/console/", &[], &[&cookie]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("owner (admin)") && page.body.contains("在线访客"));
}

#[tokio::test]
async fn roles_see_their_pages_only_and_a_form_without_its_token_changes_nothing() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    for (name, role) in [("mkt", "marketer"), ("desk", "frontdesk")] {
        let csrf = h.csrf(&admin, "/console/users").await;
        let made = h
            .send(
                "POST",
                "/console/users",
                &[("csrf", &csrf), ("username", name), ("password", "a long password"), ("role", role)],
                &[&admin],
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    }
    let marketer = h.login("mkt", "a long password").await;
    for path in ["/console/vouchers", "/console/guests", "/console/users", "/console/audit"] {
        let page = h.send("GET", path, &[], &[&marketer]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "marketer on {path}");
        assert!(page.body.contains("无权访问"));
    }
    let desk = h.login("desk", "a long password").await;
    assert_eq!(h.send("GET", "/console/users", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);

    // The front desk makes vouchers; a forged post (no token) makes none.
    let forged = h
        .send(
            "POST",
            "/console/vouchers",
            &[("count", "5"), ("hours", "2"), ("valid_days", "30"), ("devices", "1")],
            &[&desk],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("没有做任何更改") || forged.body.contains("未做任何更改"));
    let csrf = h.csrf(&desk, "/console/vouchers").await;
    let bad = h
        .send(
            "POST",
            "/console/vouchers",
            &[("csrf", &csrf), ("count", "lots"), ("hours", "2"), ("valid_days", "30"), ("devices", "1")],
            &[&desk],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let listed = h.handles.staff.vouchers.list(None).await.unwrap();
    assert!(listed.is_empty(), "nothing made by the forged or bad forms");
    let made = h
        .send(
            "POST",
            "/console/vouchers",
            &[
                ("csrf", &csrf),
                ("count", "5"),
                ("hours", "2"),
                ("valid_days", "30"),
                ("devices", "1"),
                ("note", "午市"),
            ],
            &[&desk],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let vouchers = h.handles.staff.vouchers.list(None).await.unwrap();
    assert_eq!(vouchers.len(), 5);
    let batch = &vouchers[0].batch;
    assert!(made.body.contains(batch.as_str()));
    let sheet = h.send("GET", &format!("/console/vouchers/sheet?batch={batch}"), &[], &[&desk]).await;
    assert_eq!(sheet.status, StatusCode::OK);
    assert!(sheet.body.contains(&vouchers[0].display_code()), "the printable sheet");

    // The audit log says who did it, from where; the CSV too.
    let log = h.send("GET", "/console/audit?q=voucher", &[], &[&admin]).await;
    assert!(
        log.body.contains("voucher.create") && log.body.contains("desk") && log.body.contains("198.51.100.7"),
        "{}",
        log.body
    );
    let csv = h.send("GET", "/console/audit.csv", &[], &[&admin]).await;
    assert!(csv.body.lines().any(|l| l.contains("\"voucher.create\"") && l.contains("\"desk\"")), "{}", csv.body);
}

#[tokio::test]
async fn a_double_tap_makes_one_voucher_batch_one_dish_and_one_version() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let page = h.send("GET", "/console/vouchers", &[], &[&admin]).await;
    let (csrf, once) = (page.field("csrf"), page.field("once"));
    let form = [
        ("csrf", csrf.as_str()),
        ("once", once.as_str()),
        ("count", "5"),
        ("hours", "2"),
        ("valid_days", "30"),
        ("devices", "1"),
        ("note", "午市"),
    ];
    let first = h.send("POST", "/console/vouchers", &form, &[&admin]).await;
    let second = h.send("POST", "/console/vouchers", &form, &[&admin]).await;
    assert_eq!((first.status, second.status), (StatusCode::OK, StatusCode::OK));
    assert!(second.body.contains("已经提交过"), "{}", second.body);
    let batches = control::handle(&crate::staff::Actor::cli(), Request::VouchersList { batch: None }, &h.handles).await;
    let control::Reply::Vouchers { vouchers } = batches else { panic!("{batches:?}") };
    assert_eq!(vouchers.len(), 5, "one batch of five, not two");
    // A fresh page, a fresh nonce: a second batch on purpose is made.
    let again = h.send("GET", "/console/vouchers", &[], &[&admin]).await.field("once");
    assert_ne!(again, once);

    let editor = h.send("GET", "/console/marketing", &[], &[&admin]).await;
    let once = editor.field("once");
    let dish = [("csrf", csrf.as_str()), ("once", once.as_str()), ("name_zh", "红烧肉"), ("price", "58")];
    for _ in 0..2 {
        assert_eq!(h.upload("/console/marketing/dishes", &dish, None, &admin).await.status, StatusCode::OK);
    }
    assert_eq!(h.marketing.draft().await.unwrap().dishes.len(), 1, "one dish");
    let once = h.send("GET", "/console/marketing", &[], &[&admin]).await.field("once");
    for _ in 0..2 {
        h.send("POST", "/console/marketing/publish", &[("csrf", &csrf), ("once", &once)], &[&admin]).await;
    }
    assert_eq!(h.marketing.versions().await.unwrap().len(), 1, "one version");
}

#[tokio::test]
async fn the_front_desk_kicks_a_guest_and_a_logged_out_cookie_opens_nothing() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let csrf = h.csrf(&admin, "/console/users").await;
    h.send(
        "POST",
        "/console/users",
        &[("csrf", &csrf), ("username", "desk"), ("password", "a long password"), ("role", "frontdesk")],
        &[&admin],
    )
    .await;
    let guest = Client { mac: "02:00:00:00:09:01".parse().unwrap(), ip: "192.0.2.150".parse().unwrap() };
    let grant = crate::auth::Grant {
        method: crate::auth::Method::Countdown,
        identity: crate::auth::Identity::Device(guest.mac.to_string()),
        duration: std::time::Duration::from_secs(600),
        bandwidth: Default::default(),
    };
    h.handles.sessions.login(guest, grant).await.unwrap();
    let desk = h.login("desk", "a long password").await;
    let page = h.send("GET", "/console/guests?q=09:01", &[], &[&desk]).await;
    assert!(page.body.contains("02:00:00:00:09:01"), "{}", page.body);
    let csrf = page.field("csrf");
    let kicked =
        h.send("POST", "/console/guests/kick", &[("csrf", &csrf), ("mac", "02:00:00:00:09:01")], &[&desk]).await;
    assert_eq!(kicked.status, StatusCode::SEE_OTHER);
    assert!(!h.filter.is_authorized(guest), "the guest is off");
    let logout = h.send("POST", "/console/logout", &[("csrf", &csrf)], &[&desk]).await;
    assert_eq!(logout.headers[header::LOCATION], "/console/login");
    let after = h.send("GET", "/console/guests", &[], &[&desk]).await;
    assert_eq!(after.headers[header::LOCATION], "/console/login", "the session is gone server-side");
    let log = h.send("GET", "/console/audit", &[], &[&admin]).await;
    assert!(log.body.contains("guest.kick"));
}

#[tokio::test]
async fn the_front_desk_finds_a_member_and_reports_the_card_lost() {
    let h = harness().await;
    h.setup().await;
    let store = &h.handles.staff.members;
    store.prepare("", "test", "").await.unwrap();
    store.import("13800138000,王芳,8800123,gold,2468\n").await.unwrap();
    let admin = h.login("owner", "owner password 1").await;
    let page = h.send("GET", "/console/members?q=13800138000", &[], &[&admin]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("王芳") && page.body.contains("138****8000") && !page.body.contains("13800138000\u{3c}")
    );
    let csrf = page.field("csrf");
    let done = h
        .send(
            "POST",
            "/console/cards/state",
            &[("csrf", &csrf), ("card", "8800123"), ("state", "lost"), ("q", "13800138000")],
            &[&admin],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("id=\"state-8800123\">lost"), "{}", done.body);
    assert_eq!(store.card("8800123").await.unwrap().unwrap().state, "lost");
    let missing = h.send("GET", "/console/members?q=13900000000", &[], &[&admin]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("没有找到此会员"));
}

#[tokio::test]
async fn a_marketer_adds_a_dish_with_a_photo_publishes_and_rolls_back_and_a_forged_upload_is_refused() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let csrf = h.csrf(&admin, "/console/users").await;
    h.send(
        "POST",
        "/console/users",
        &[("csrf", &csrf), ("username", "mkt"), ("password", "a long password"), ("role", "marketer")],
        &[&admin],
    )
    .await;
    let mkt = h.login("mkt", "a long password").await;
    let editor = h.send("GET", "/console/marketing", &[], &[&mkt]).await;
    assert_eq!(editor.status, StatusCode::OK, "{}", editor.body);
    let csrf = editor.field("csrf");
    let dish = [("csrf", csrf.as_str()), ("name_zh", "红烧肉"), ("name_en", "Braised pork"), ("price", "58")];

    // HTML named .jpg, and a post without the form's token: refused, nothing stored.
    let html = h
        .upload("/console/marketing/dishes", &dish, Some(("dish.jpg", b"<html><script>alert(1)</script>")), &mkt)
        .await;
    assert_eq!(html.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", html.body);
    assert!(html.body.contains("照片无法使用"));
    let photo = crate::marketing::samples::png(1280, 853);
    let forged = h.upload("/console/marketing/dishes", &dish[1..], Some(("dish.png", &photo)), &mkt).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(h.marketing.draft().await.unwrap().dishes.is_empty(), "nothing added");

    let added = h.upload("/console/marketing/dishes", &dish, Some(("../../etc/passwd.png", &photo)), &mkt).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let draft = h.marketing.draft().await.unwrap();
    let image = draft.dishes[0].image.clone().expect("a photo id, not its name");
    assert!(image.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(h.marketing.published().dishes.is_empty(), "not published yet");
    let thumb = h.send("GET", &format!("/console/media/{image}/320.jpg"), &[], &[&mkt]).await;
    assert_eq!(thumb.headers[header::CONTENT_TYPE], "image/jpeg");

    let published = h.send("POST", "/console/marketing/publish", &[("csrf", &csrf)], &[&mkt]).await;
    assert_eq!(published.status, StatusCode::OK);
    assert_eq!(h.marketing.published().dishes[0].name_zh, "红烧肉");
    let back = h.send("POST", "/console/marketing/rollback", &[("csrf", &csrf), ("version", "0")], &[&mkt]).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert!(h.marketing.published().dishes.is_empty(), "rolled back to the empty page");

    // The front desk may not edit the portal.
    let csrf = h.csrf(&admin, "/console/users").await;
    h.send(
        "POST",
        "/console/users",
        &[("csrf", &csrf), ("username", "desk"), ("password", "a long password"), ("role", "frontdesk")],
        &[&admin],
    )
    .await;
    let desk = h.login("desk", "a long password").await;
    assert_eq!(h.send("GET", "/console/marketing", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);
    let log = h.send("GET", "/console/audit?q=marketing", &[], &[&admin]).await;
    assert!(log.body.contains("marketing.publish") && log.body.contains("marketing.rollback"));
}

#[tokio::test]
async fn a_marketer_brands_the_portal_schedules_a_promotion_and_previews_it_as_a_phone() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let editor = h.send("GET", "/console/marketing", &[], &[&admin]).await;
    let csrf = editor.field("csrf");
    assert!(editor.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-src 'self'"));

    // A logo, a colour, a story; a forged background changes nothing.
    let brand = [("csrf", csrf.as_str()), ("colour", "#0A7D3B"), ("story_zh", "始于1998。"), ("member_day", "3")];
    let forged = h
        .upload_as("/console/marketing/brand", &brand, "background", Some(("bg.jpg", b"<svg onload=alert(1)>")), &admin)
        .await;
    assert_eq!(forged.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(h.marketing.draft().await.unwrap().brand, Default::default(), "nothing saved");
    let logo = crate::marketing::samples::png(600, 300);
    let saved = h.upload_as("/console/marketing/brand", &brand, "logo", Some(("logo.png", &logo)), &admin).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let bad =
        h.upload_as("/console/marketing/brand", &[("csrf", &csrf), ("colour", "red")], "logo", None, &admin).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let draft = h.marketing.draft().await.unwrap();
    assert_eq!((draft.brand.colour.as_str(), draft.brand.member_day), ("#0a7d3b", Some(3)));
    assert!(draft.brand.logo.is_some());

    // A promotion at lunch and dinner on the member day, until a date.
    let promotion = [
        ("csrf", csrf.as_str()),
        ("title_zh", "会员日午晚餐 8 折"),
        ("body_zh", "全场八折"),
        ("until", "2099-12-31"),
        ("meals", "lunch"),
        ("meals", "dinner"),
        ("member_day", "1"),
    ];
    let added = h.upload("/console/marketing/promotions", &promotion, None, &admin).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let p = &h.marketing.draft().await.unwrap().promotions[0];
    assert_eq!(p.schedule.meals, [crate::marketing::Meal::Lunch, crate::marketing::Meal::Dinner]);
    assert!(p.schedule.member_day && p.schedule.until.as_deref() == Some("2099-12-31"));
    let page = h.send("GET", "/console/marketing", &[], &[&admin]).await;
    assert!(page.body.contains("lunch, dinner · member day") && page.body.contains("id=\"unpublished\""));

    // The phone preview shows the draft, framed by the editor only, no script.
    let preview = h.send("GET", "/console/marketing/preview", &[], &[&admin]).await;
    assert_eq!(preview.status, StatusCode::OK);
    let csp = preview.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'self'") && !csp.contains("script-src"));
    assert_eq!(preview.headers[header::X_FRAME_OPTIONS], "SAMEORIGIN");
    assert!(preview.body.contains("/console/marketing/preview/static/portal.css"));
    assert!(preview.body.contains("/console/marketing/preview/m/") && preview.body.contains("始于1998"));
    assert!(!preview.body.contains("src=\"/static/portal.js\""));
    let css = h.send("GET", "/console/marketing/preview/brand.css", &[], &[&admin]).await;
    assert!(css.body.contains("--brand:#0a7d3b"));
    assert_eq!(h.send("GET", "/console/marketing/preview", &[], &[]).await.status, StatusCode::SEE_OTHER);
    assert!(h.marketing.published().promotions.is_empty(), "a preview publishes nothing");

    let log = h.send("GET", "/console/audit?q=marketing", &[], &[&admin]).await;
    assert!(log.body.contains("marketing.brand") && log.body.contains("marketing.promotion.add"));
    assert!(log.body.contains("#0a7d3b"), "the audit log has the after");
}

#[tokio::test]
async fn an_admin_sets_an_ssid_on_every_ap_sees_the_channel_plan_and_cannot_halt_what_is_not_running() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let ac = h.handles.ac.clone().unwrap();
    let csrf = h.csrf(&admin, "/console/ssids").await;
    let wpa2 = |key: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("name", "川味小馆-Guest".to_string()),
            ("security", "wpa2_psk".into()),
            ("key", key.into()),
            ("band_24", "1".into()),
            ("band_5", "1".into()),
            ("portal", "1".into()),
            ("isolation", "1".into()),
        ]
    };
    let (h, admin) = (&h, &admin);
    let send = |form: [(&'static str, String); 8]| async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.send("POST", "/console/ssids", &form, &[admin]).await
    };
    let short = send(wpa2("short")).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
    assert!(ac.ssids().await.unwrap().is_empty(), "nothing stored");
    let saved = send(wpa2("dumplings-2026")).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("川味小馆-Guest") && !saved.body.contains("dumplings-2026"), "the key is never shown");
    // Changed with an empty key: the key stays.
    let mut hidden = wpa2("");
    hidden[7] = ("hidden", "1".into());
    assert_eq!(send(hidden).await.status, StatusCode::OK);
    let ssid = ac.ssids().await.unwrap().remove(0);
    assert!(ssid.hidden && !ssid.client_isolation && ssid.key == "dumplings-2026");
    let log = h.send("GET", "/console/audit?q=ssid", &[], &[admin]).await;
    assert!(log.body.contains("key changed") && !log.body.contains("dumplings-2026"), "audited without the key");

    // Two APs that hear each other loudly on overlapping channels: red in the picture.
    let registry = ac.registry();
    for (n, bssid) in [(1, "02:00:00:00:01:00"), (2, "02:00:00:00:02:00")] {
        let hello = ap_protocol::Hello {
            min_version: 1,
            max_version: 1,
            device_id: format!("ap-{n}"),
            model: "test-ap".into(),
            mac: bssid.into(),
            firmware: "1.0".into(),
            radios: vec![ap_protocol::RadioInfo {
                interface: "wlan0".into(),
                band: ap_protocol::Band::G2_4,
                bssid: Some(bssid.into()),
            }],
            public_key_pem: String::new(),
            config_version: 0,
            controller_pinned: true,
        };
        registry.pending_hello(&hello).await.unwrap();
        registry.adopt(&format!("ap-{n}"), None).await.unwrap();
        ac.set_ap(&format!("ap-{n}"), None, Some(("wlan0", Some(if n == 1 { 1 } else { 3 }), None))).await.unwrap();
    }
    let heard = |bssid: &str| vec![ap_protocol::Neighbour { bssid: bssid.into(), channel: 1, rssi: -45 }];
    registry.scan("ap-1", "wlan0", &heard("02:00:00:00:02:00")).await.unwrap();
    registry.scan("ap-2", "wlan0", &heard("02:00:00:00:01:00")).await.unwrap();
    let plan = h.send("GET", "/console/plan", &[], &[admin]).await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert!(plan.body.contains("<svg") && plan.body.contains("ap-1/wlan0 · ch 1 (fixed)"), "{}", plan.body);
    assert!(plan.body.contains("class=\"clash\""), "channels 1 and 3 overlap");
    let csrf = h.csrf(admin, "/console/plan").await;
    let replanned = h.send("POST", "/console/plan", &[("csrf", &csrf)], &[admin]).await;
    assert_eq!(replanned.status, StatusCode::OK);

    // Firmware: halting nothing, and an image without a valid signature.
    let halt = h.send("POST", "/console/firmware/halt", &[("csrf", &csrf)], &[admin]).await;
    assert_eq!(halt.status, StatusCode::CONFLICT);
    let bad = h
        .upload_as(
            "/console/firmware",
            &[("csrf", &csrf), ("version", "2.0"), ("model", "test-ap")],
            "image",
            Some(("fw.bin", b"firmware")),
            admin,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let rollout = h.send("POST", "/console/firmware/rollout", &[("csrf", &csrf), ("version", "2.0")], &[admin]).await;
    assert_eq!(rollout.status, StatusCode::CONFLICT, "no such image");

    // A marketer opens none of it.
    let csrf = h.csrf(admin, "/console/users").await;
    h.send(
        "POST",
        "/console/users",
        &[("csrf", &csrf), ("username", "mkt"), ("password", "a long password"), ("role", "marketer")],
        &[admin],
    )
    .await;
    let mkt = h.login("mkt", "a long password").await;
    for page in ["/console/ssids", "/console/plan", "/console/firmware"] {
        assert_eq!(h.send("GET", page, &[], &[&mkt]).await.status, StatusCode::FORBIDDEN, "{page}");
    }
}

#[tokio::test]
async fn an_admin_changes_the_settings_they_are_checked_saved_audited_and_applied_by_a_restart() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let page = h.send("GET", "/console/settings", &[], &[&admin]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.field("csrf");
    let form = |minutes: &'static str, garden: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("venue_name", "川味小馆".to_string()),
            ("tagline_zh", "正宗川菜".into()),
            ("session_minutes", minutes.into()),
            ("method_countdown", "1".into()),
            ("method_voucher", "1".into()),
            ("garden", garden.into()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let h = &h;
        let admin = &admin;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.send("POST", "/console/settings", &f, &[admin]).await
        }
    };
    let file = h.dir.path().join(crate::config::SETTINGS_FILE);
    for bad in [form("0", ""), form("90", "pay.example.cn; rm -rf /")] {
        let refused = post(bad).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert!(!file.exists(), "nothing saved");
    }
    assert_eq!(h.restarts.load(std::sync::atomic::Ordering::SeqCst), 0);
    let saved = post(form("90", "pay.example.cn\nmap.example.cn")).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(h.restarts.load(std::sync::atomic::Ordering::SeqCst), 1, "a restart applies them");
    let next = crate::config::Config::load(&h.config_path, Vec::new()).unwrap();
    assert_eq!(next.venue.name, "川味小馆");
    assert_eq!(next.session.length_seconds, 5400);
    assert!(next.auth.voucher.enabled && !next.auth.sms.enabled);
    assert_eq!(next.walled_garden.names, ["pay.example.cn", "map.example.cn"]);
    let again = h.send("GET", "/console/settings", &[], &[&admin]).await;
    assert!(again.body.contains("id=\"pending\"") && again.body.contains("川味小馆"), "waits for the restart");
    let log = h.send("GET", "/console/audit?q=settings", &[], &[&admin]).await;
    assert!(log.body.contains("settings.save") && log.body.contains("session_minutes=90"), "{}", log.body);
    let desk = {
        let csrf = h.csrf(&admin, "/console/users").await;
        h.send(
            "POST",
            "/console/users",
            &[("csrf", &csrf), ("username", "desk"), ("password", "a long password"), ("role", "frontdesk")],
            &[&admin],
        )
        .await;
        h.login("desk", "a long password").await
    };
    assert_eq!(h.send("GET", "/console/settings", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_marketer_reads_the_statistics_with_charts_and_exports_them() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    for n in 1..=3u8 {
        let guest = Client {
            mac: format!("02:00:00:00:09:0{n}").parse().unwrap(),
            ip: format!("192.0.2.15{n}").parse().unwrap(),
        };
        let grant = crate::auth::Grant {
            method: if n == 1 { crate::auth::Method::Sms } else { crate::auth::Method::Countdown },
            identity: crate::auth::Identity::Device(guest.mac.to_string()),
            duration: std::time::Duration::from_secs(600),
            bandwidth: Default::default(),
        };
        h.handles.sessions.login(guest, grant).await.unwrap();
    }
    // Two views showed two dishes, one showed one: named as the marketer named them.
    let a = h.marketing.add_dish("红烧肉", "", "58", None).await.unwrap();
    let b = h.marketing.add_dish("清蒸鱼", "", "88", None).await.unwrap();
    let (a, b) = (a.split(' ').next().unwrap(), b.split(' ').next().unwrap());
    let guest = Client { mac: "02:00:00:00:09:01".parse().unwrap(), ip: "192.0.2.151".parse().unwrap() };
    let audit = &h.handles.staff.audit;
    for shown in [format!("{a},{b}"), format!("{a},{b}"), a.to_string()] {
        audit.events(guest, &[("dish_impression", &shown)]).await;
    }
    let page = h.send("GET", "/console/stats", &[], &[&admin]).await;
    assert!(page.body.contains(&format!("红烧肉 ({a})</td><td>3")), "{}", page.body);
    assert!(page.body.contains(&format!("清蒸鱼 ({b})</td><td>2")));
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"logins\">3<"), "three logins today");
    assert!(page.body.matches("<svg").count() == 3, "three charts drawn on the server");
    assert!(page.body.contains("countdown") && page.body.contains("sms"));
    let csv = h.send("GET", "/console/stats.csv", &[], &[&admin]).await;
    assert!(csv.body.contains("\"countdown\",2"), "{}", csv.body);
    let xlsx = h.send("GET", "/console/stats.xlsx", &[], &[&admin]).await;
    assert_eq!(xlsx.headers[header::CONTENT_TYPE], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let bad = h.send("GET", "/console/stats?from=2026-13-01&to=2026-12-01", &[], &[&admin]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_tokens_act_with_their_owners_role_until_revoked() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    for (name, role) in [("mkt", "marketer"), ("desk", "frontdesk")] {
        let csrf = h.csrf(&admin, "/console/users").await;
        h.send(
            "POST",
            "/console/users",
            &[("csrf", &csrf), ("username", name), ("password", "a long password"), ("role", role)],
            &[&admin],
        )
        .await;
    }
    let token_of = |who: String| {
        let h = &h;
        async move {
            let csrf = h.csrf(&who, "/console/tokens").await;
            let made = h.send("POST", "/console/tokens", &[("csrf", &csrf), ("name", "till script")], &[&who]).await;
            assert_eq!(made.status, StatusCode::OK, "{}", made.body);
            let start = made.body.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
            made.body[start..].split('<').next().unwrap().to_string()
        }
    };
    let desk = h.login("desk", "a long password").await;
    let desk_token = token_of(desk.clone()).await;
    let mkt_token = token_of(h.login("mkt", "a long password").await).await;
    let api = |token: &str, method: &'static str, path: &'static str| {
        let h = &h;
        let bearer = format!("bearer={token}");
        async move { h.send(method, path, &[], &[&bearer]).await.status }
    };
    assert_eq!(api(&desk_token, "GET", "/api/vouchers").await, StatusCode::OK);
    assert_eq!(api(&mkt_token, "GET", "/api/vouchers").await, StatusCode::FORBIDDEN, "a marketer makes no vouchers");
    assert_eq!(api(&mkt_token, "GET", "/api/auth/log").await, StatusCode::OK);
    assert_eq!(api(&desk_token, "POST", "/api/members/import").await, StatusCode::FORBIDDEN, "import is an admin's");
    assert_eq!(api(&desk_token, "POST", "/api/firewall/reload").await, StatusCode::FORBIDDEN);
    assert_eq!(api("appliance-token", "GET", "/api/vouchers").await, StatusCode::OK, "the appliance's own token");
    assert_eq!(api("gwt_forged", "GET", "/api/vouchers").await, StatusCode::UNAUTHORIZED);
    // Revoked: refused; a disabled account's tokens die with it.
    let page = h.send("GET", "/console/tokens", &[], &[&desk]).await;
    let id = page.body.split("revoke-token-").nth(1).unwrap().split('"').next().unwrap().to_string();
    h.send("POST", "/console/tokens/revoke", &[("csrf", &page.field("csrf")), ("id", &id)], &[&desk]).await;
    assert_eq!(api(&desk_token, "GET", "/api/vouchers").await, StatusCode::UNAUTHORIZED);
    let csrf = h.csrf(&admin, "/console/users").await;
    h.send("POST", "/console/users/disable", &[("csrf", &csrf), ("username", "mkt")], &[&admin]).await;
    assert_eq!(api(&mkt_token, "GET", "/api/auth/log").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_front_desk_opens_an_account_from_an_id_card_and_revokes_it() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let csrf = h.csrf(&admin, "/console/accounts").await;
    let bad = h
        .send(
            "POST",
            "/console/accounts",
            &[
                ("csrf", &csrf),
                ("id_number", "110105194912310021"),
                ("hours", "4"),
                ("valid_days", "1"),
                ("devices", "1"),
            ],
            &[&admin],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "a wrong check digit");
    let made = h
        .send(
            "POST",
            "/console/accounts",
            &[
                ("csrf", &csrf),
                ("id_number", "11010519491231002X"),
                ("name", "张三"),
                ("hours", "4"),
                ("valid_days", "1"),
                ("devices", "2"),
            ],
            &[&admin],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let start = made.body.find("id=\"new-username\">").unwrap() + "id=\"new-username\">".len();
    let username = made.body[start..].split('<').next().unwrap().to_string();
    assert!(made.body.contains("new-password") && made.body.contains("****002X"));
    let log = h.send("GET", "/console/audit?q=account", &[], &[&admin]).await;
    assert!(
        log.body.contains("account.create") && !log.body.contains("11010519491231002X"),
        "no ID number in the audit log"
    );
    let revoked =
        h.send("POST", "/console/accounts/revoke", &[("csrf", &csrf), ("username", &username)], &[&admin]).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(h.handles.staff.accounts.list(None).await.unwrap()[0].revoked_at.is_some());
}

/// The staff audit rows of `action`: (user, door).
async fn audit_rows(h: &Harness, action: &str) -> Vec<(String, String)> {
    let entries = h.handles.people.audit_log(Some(action), 100).await.unwrap();
    entries.into_iter().filter(|e| e.action == action).map(|e| (e.username, e.door)).collect()
}

#[tokio::test]
async fn every_door_leaves_one_audit_row_naming_its_actor() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let csrf = h.csrf(&admin, "/console/tokens").await;
    let made = h.send("POST", "/console/tokens", &[("csrf", &csrf), ("name", "erasures")], &[&admin]).await;
    let start = made.body.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
    let token = made.body[start..].split('<').next().unwrap().to_string();

    // The API: an admin's token erases a member.
    h.handles.staff.members.prepare("", "test", "").await.unwrap();
    h.handles.staff.members.import("13800138000,王芳,8800123,gold,2468\n").await.unwrap();
    let erased = h.send("DELETE", "/api/members/13800138000", &[], &[&format!("bearer={token}")]).await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
    assert_eq!(audit_rows(&h, "member.erase").await, [("owner".to_string(), "api".to_string())]);
    let row = &h.handles.people.audit_log(Some("member.erase"), 1).await.unwrap()[0];
    assert_eq!(row.target, "138****8000", "the phone is masked in the log");

    // The CLI: root revokes a batch over the control socket.
    let created = control::handle(
        &crate::staff::Actor::cli(),
        Request::VouchersCreate {
            batch: crate::auth::voucher::NewBatch {
                count: 2,
                duration_seconds: 3600,
                valid_days: 1,
                devices: 1,
                bandwidth: Default::default(),
                note: String::new(),
            },
        },
        &h.handles,
    )
    .await;
    let control::Reply::Vouchers { vouchers } = created else { panic!("{created:?}") };
    let socket = h.dir.path().join("control.sock");
    let server = tokio::spawn(control::serve(socket.clone(), h.handles.clone()));
    while !socket.exists() {
        tokio::task::yield_now().await;
    }
    let revoked =
        control::call(&socket, &Request::VouchersRevoke { code_or_batch: vouchers[0].batch.clone() }).await.unwrap();
    assert!(matches!(revoked, control::Reply::Revoked { count: 2 }), "{revoked:?}");
    server.abort();
    assert_eq!(audit_rows(&h, "voucher.revoke").await, [("root".to_string(), "cli".to_string())]);

    // The console: the front desk kicks a guest.
    let desk = h.desk().await;
    let guest = Client { mac: "02:00:00:00:00:42".parse().unwrap(), ip: "192.0.2.42".parse().unwrap() };
    let grant = crate::auth::Grant {
        method: crate::auth::Method::Countdown,
        identity: crate::auth::Identity::Device(guest.mac.to_string()),
        duration: std::time::Duration::from_secs(600),
        bandwidth: Default::default(),
    };
    h.handles.sessions.login(guest, grant).await.unwrap();
    let csrf = h.csrf(&desk, "/console/guests").await;
    let kicked =
        h.send("POST", "/console/guests/kick", &[("csrf", &csrf), ("mac", "02:00:00:00:00:42")], &[&desk]).await;
    assert_eq!(kicked.status, StatusCode::SEE_OTHER, "{}", kicked.body);
    assert_eq!(audit_rows(&h, "guest.kick").await, [("desk".to_string(), "console".to_string())]);

    // A read leaves no row; a refused change neither.
    h.send("GET", "/api/vouchers", &[], &[&format!("bearer={token}")]).await;
    assert!(audit_rows(&h, "voucher.list").await.is_empty());
    let again = h.send("DELETE", "/api/members/13800138000", &[], &[&format!("bearer={token}")]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(audit_rows(&h, "member.erase").await.len(), 1, "nothing erased, nothing logged");
}

#[tokio::test]
async fn a_marketers_token_and_console_session_are_refused_the_same_admin_request() {
    let h = harness().await;
    h.setup().await;
    let admin = h.login("owner", "owner password 1").await;
    let csrf = h.csrf(&admin, "/console/users").await;
    h.send(
        "POST",
        "/console/users",
        &[("csrf", &csrf), ("username", "mkt"), ("password", "a long password"), ("role", "marketer")],
        &[&admin],
    )
    .await;
    let mkt = h.login("mkt", "a long password").await;
    let csrf = h.csrf(&mkt, "/console/tokens").await;
    let made = h.send("POST", "/console/tokens", &[("csrf", &csrf), ("name", "script")], &[&mkt]).await;
    let start = made.body.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
    let token = made.body[start..].split('<').next().unwrap().to_string();

    // The channel plan is the admin's: the same table refuses both doors.
    assert!(!Request::ApsPlan.task().allows(Role::Marketer));
    let by_api = h.send("POST", "/api/plan", &[], &[&format!("bearer={token}")]).await;
    assert_eq!(by_api.status, StatusCode::FORBIDDEN, "{}", by_api.body);
    assert!(by_api.body.contains("marketer role may not manage APs"), "{}", by_api.body);
    let by_console = h.send("POST", "/console/plan", &[("csrf", &csrf)], &[&mkt]).await;
    assert_eq!(by_console.status, StatusCode::FORBIDDEN);
    assert!(audit_rows(&h, "plan.apply").await.is_empty(), "nothing was planned");
    // A full phone number is an admin's: the front desk's token gets 403.
    let desk = h.desk().await;
    let csrf = h.csrf(&desk, "/console/tokens").await;
    let made = h.send("POST", "/console/tokens", &[("csrf", &csrf), ("name", "till")], &[&desk]).await;
    let start = made.body.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
    let desk_token = made.body[start..].split('<').next().unwrap().to_string();
    h.handles.staff.members.prepare("", "test", "").await.unwrap();
    h.handles.staff.members.import("13800138000,王芳,8800123,gold,2468\n").await.unwrap();
    let masked = h.send("GET", "/api/members/13800138000", &[], &[&format!("bearer={desk_token}")]).await;
    assert_eq!(masked.status, StatusCode::OK);
    assert!(masked.body.contains("138****8000") && !masked.body.contains("13800138000\""), "{}", masked.body);
    let full = h.send("GET", "/api/members/13800138000?full=true", &[], &[&format!("bearer={desk_token}")]).await;
    assert_eq!(full.status, StatusCode::FORBIDDEN, "{}", full.body);
}
