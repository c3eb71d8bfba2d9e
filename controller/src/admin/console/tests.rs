//! The console in-process: the real router, stores and the AC over an
//! in-memory database, requests with a chosen peer address.

use super::*;
use axum::body::Body;
pub(super) use axum::http::{header, HeaderMap, StatusCode};
pub(super) use firewall::Client;
use firewall::MemoryFilter;
pub(super) use std::sync::Arc;
use tower::ServiceExt;

pub(super) const EXAMPLE: &str = include_str!("../../../../image/controller.example.toml");

pub(super) struct Harness {
    pub(super) app: Router,
    pub(super) dir: tempfile::TempDir,
    pub(super) handles: Handles,
    pub(super) filter: Arc<MemoryFilter>,
    pub(super) marketing: Arc<crate::marketing::Marketing>,
    /// Restarts the settings page asked for.
    pub(super) restarts: Arc<std::sync::atomic::AtomicUsize>,
    /// The configuration file the settings page saves over.
    pub(super) config_path: std::path::PathBuf,
}

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Reply {
    pub(super) fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in\n{}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }

    /// `name=value` of the cookie it sets.
    pub(super) fn cookie(&self, name: &str) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no cookie {name}"))
    }
}

pub(super) async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("controller.toml");
    std::fs::write(&config_path, EXAMPLE.replace("/var/lib/guestwifi", &dir.path().display().to_string())).unwrap();
    let config = Arc::new(crate::config::Config::load(&config_path, Vec::new()).unwrap());
    let db = crate::store::memory().await.unwrap();
    let filter = Arc::new(MemoryFilter::default());
    let gateway: Arc<dyn crate::auth::sms::gateway::Gateway> =
        Arc::new(crate::auth::sms::gateway::LogGateway { path: dir.path().join("sms.log") });
    let outside = crate::app::Outside {
        db: db.clone(),
        sessions: crate::sessions::Sessions::new(db, filter.clone(), None),
        sms_gateway: Some(gateway),
        keys: None,
        ac: true,
        printer: Arc::new(crate::print::Sheets),
    };
    let built = crate::app::App::build(config, outside).await.unwrap();
    built.handles.people.prepare_setup().await.unwrap();
    let restarts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = restarts.clone();
    let restart: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let portal = Arc::new(crate::portal::Portal::of(&built, Arc::new(crate::portal::FixedNeighbours::default())));
    let console = Arc::new(Console::of(&built, portal, false, Some(restart)));
    let handles = built.handles.clone();
    let app = crate::admin::api::router(handles.clone(), "appliance-token".into()).merge(router(console));
    let marketing = handles.marketing.clone();
    Harness { app, dir, handles, filter, marketing, restarts, config_path }
}

impl Harness {
    /// Guests log in, one a method of `methods`, from MACs `02:00:00:00:NN:0k`
    /// (`NN` = `block`) and addresses `192.0.2.(block*10 + k)`.
    pub(super) async fn guests_log_in(&self, block: u8, methods: &[crate::auth::Method]) {
        for (k, method) in methods.iter().enumerate() {
            let n = k as u8 + 1;
            let guest = Client {
                mac: format!("02:00:00:00:{block:02x}:{n:02x}").parse().unwrap(),
                ip: std::net::IpAddr::from([192, 0, 2, block.wrapping_mul(10).wrapping_add(n)]),
            };
            let grant = crate::auth::Grant {
                method: *method,
                identity: crate::auth::Identity::Device(guest.mac.to_string()),
                duration: std::time::Duration::from_secs(600),
                bandwidth: Default::default(),
            };
            self.handles.sessions.login(guest, grant).await.unwrap();
        }
    }

    pub(super) async fn send(&self, method: &str, path: &str, form: &[(&str, &str)], cookies: &[&str]) -> Reply {
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
    pub(super) async fn upload(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
        cookie: &str,
    ) -> Reply {
        self.upload_as(path, fields, "photo", file, cookie).await
    }

    /// A multipart post with its file in the field `field`.
    pub(super) async fn upload_as(
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
    pub(super) async fn setup(&self) {
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

    /// The admin of session `admin` opens a staff account `name` with
    /// `role`, its password "a long password".
    pub(super) async fn open_user(&self, admin: &str, name: &str, role: &str) {
        let csrf = self.csrf(admin, "/console/users").await;
        let fields = [("csrf", csrf.as_str()), ("username", name), ("password", "a long password"), ("role", role)];
        self.send("POST", "/console/users", &fields, &[admin]).await;
    }

    /// The owner opens a front-desk account `desk`; its session cookie.
    pub(super) async fn desk(&self) -> String {
        let admin = self.login("owner", "owner password 1").await;
        self.open_user(&admin, "desk", "frontdesk").await;
        self.login("desk", "a long password").await
    }

    /// A new API token of the member whose session `cookie` is, shown once.
    pub(super) async fn token(&self, cookie: &str, name: &str) -> String {
        let csrf = self.csrf(cookie, "/console/tokens").await;
        let made = self.send("POST", "/console/tokens", &[("csrf", &csrf), ("name", name)], &[cookie]).await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        let start = made.body.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
        made.body[start..].split('<').next().unwrap().to_string()
    }

    /// Logs in; the session cookie.
    pub(super) async fn login(&self, username: &str, password: &str) -> String {
        let form = self.send("GET", "/console/login", &[], &[]).await;
        let pre = form.cookie(PRE_COOKIE);
        let csrf = form.field("csrf");
        let done = self
            .send("POST", "/console/login", &[("csrf", &csrf), ("username", username), ("password", password)], &[&pre])
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        done.cookie(COOKIE)
    }

    pub(super) async fn csrf(&self, cookie: &str, path: &str) -> String {
        self.send("GET", path, &[], &[cookie]).await.field("csrf")
    }
}

pub(super) fn urlencode(v: &str) -> String {
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
    assert!(page.body.contains("owner · 管理员") && page.body.contains("在线访客"), "the role in words");
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
    let token = h.token(&admin, "erasures").await;

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
    h.open_user(&admin, "mkt", "marketer").await;
    let mkt = h.login("mkt", "a long password").await;
    let token = h.token(&mkt, "script").await;

    // The channel plan is the admin's: the same table refuses both doors.
    assert!(!Request::ApsPlan.task().allows(Role::Marketer));
    let by_api = h.send("POST", "/api/plan", &[], &[&format!("bearer={token}")]).await;
    assert_eq!(by_api.status, StatusCode::FORBIDDEN, "{}", by_api.body);
    assert!(by_api.body.contains("marketer role may not manage APs"), "{}", by_api.body);
    let csrf = h.csrf(&mkt, "/console/tokens").await;
    let by_console = h.send("POST", "/console/plan", &[("csrf", &csrf)], &[&mkt]).await;
    assert_eq!(by_console.status, StatusCode::FORBIDDEN);
    assert!(audit_rows(&h, "plan.apply").await.is_empty(), "nothing was planned");
    // A full phone number is an admin's: the front desk's token gets 403.
    let desk = h.desk().await;
    let desk_token = h.token(&desk, "till").await;
    h.handles.staff.members.prepare("", "test", "").await.unwrap();
    h.handles.staff.members.import("13800138000,王芳,8800123,gold,2468\n").await.unwrap();
    let masked = h.send("GET", "/api/members/13800138000", &[], &[&format!("bearer={desk_token}")]).await;
    assert_eq!(masked.status, StatusCode::OK);
    assert!(masked.body.contains("138****8000") && !masked.body.contains("13800138000\""), "{}", masked.body);
    let full = h.send("GET", "/api/members/13800138000?full=true", &[], &[&format!("bearer={desk_token}")]).await;
    assert_eq!(full.status, StatusCode::FORBIDDEN, "{}", full.body);
}
