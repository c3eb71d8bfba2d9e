//! Every login method end to end, in namespaces: staff make the voucher,
//! account or counter code with the CLI, a guest logs in with curl and
//! reaches upstream; the wrong secret does not; the limits hold. The SMS
//! webhook goes to a stand-in provider in the upstream namespace that
//! records what it was sent.

use e2e::{field, TestLab};
use std::time::Duration;

fn reaches_upstream(t: &TestLab, i: usize) -> bool {
    t.online(i)
}

#[test]
fn voucher_cards_log_in_their_devices_and_no_more() {
    let Some(t) = TestLab::start("e2e-voucher", 3, 3600, &[]) else { return };
    let made = t.cli_ok(&[
        "vouchers",
        "create",
        "--count",
        "3",
        "--duration",
        "1h",
        "--devices",
        "1",
        "--note",
        "午市",
        "--json",
    ]);
    let cards: serde_json::Value = serde_json::from_str(&made).unwrap();
    let code = cards[0]["code"].as_str().unwrap().to_string();
    let batch = cards[0]["batch"].as_str().unwrap().to_string();

    let token = t.token(1);
    let (status, page) = t.post(1, "/login/voucher", &[("code", "ABCDE-FGHJK"), ("token", &token)]);
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("卡号无效"));
    assert!(!reaches_upstream(&t, 1), "a wrong code opens nothing");

    // The guest was going to the menu: the voucher form carries the signed
    // URL, and the login lands there.
    let (status, head) = t.curl(1, &["http://example.test/menu?table=7"]);
    assert_eq!(status, 302, "{head}");
    let location = e2e::header(&head, "location").unwrap();
    let (status, login_page) = t.curl(1, &[&location]);
    assert_eq!(status, 200, "{login_page}");
    let then = field(&login_page, "then").expect("the voucher form carries the URL");
    let then_sig = field(&login_page, "then_sig").unwrap();
    let typed = format!("{}-{}", &code[..5], &code[5..]).to_lowercase();
    let form = [("code", typed.as_str()), ("token", &token), ("then", &then), ("then_sig", &then_sig)];
    let (status, page) = t.post(1, "/login/voucher", &form);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("http://example.test/menu?table=7"), "lands where the guest was going: {page}");
    assert!(reaches_upstream(&t, 1));

    let token2 = t.token(2);
    let (status, page) = t.post(2, "/login/voucher", &[("code", &code), ("token", &token2)]);
    assert_eq!(status, 409, "one device a card: {page}");
    assert!(!reaches_upstream(&t, 2));

    // The card's QR code: the phone's camera opens /v?code=…, which posts itself.
    let (status, page) =
        t.curl(2, &[&format!("http://{}/v?code={}", e2e::PORTAL_HOST, cards[1]["code"].as_str().unwrap())]);
    assert_eq!(status, 200);
    let (status, _) = t.post(
        2,
        "/login/voucher",
        &[("code", &field(&page, "code").unwrap()), ("token", &field(&page, "token").unwrap())],
    );
    assert_eq!(status, 200);
    assert!(reaches_upstream(&t, 2));

    let sessions = t.cli_ok(&["sessions", "list"]);
    assert!(sessions.contains(&format!("voucher:{code}")), "{sessions}");
    let sheet = t.cli_ok(&["vouchers", "sheet", &batch]);
    assert_eq!(sheet.matches("<svg").count(), 3, "a QR code a card");
    assert!(sheet.contains(&format!("{}-{}", &code[..5], &code[5..])));
    let csv = t.cli_ok(&["vouchers", "export", "--batch", &batch]);
    assert!(csv.lines().any(|l| l.contains(&code[..5]) && l.contains(",active,3600,1,1,")), "{csv}");

    t.cli_ok(&["vouchers", "revoke", cards[2]["code"].as_str().unwrap()]);
    let token3 = t.token(3);
    let (status, page) =
        t.post(3, "/login/voucher", &[("code", cards[2]["code"].as_str().unwrap()), ("token", &token3)]);
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("已停用"));
    let log = t.cli_ok(&["auth-log", "--json"]);
    assert!(log.contains("\"reason\": \"revoked\"") && log.contains("\"reason\": \"device_limit\""), "{log}");
}

#[test]
fn a_front_desk_account_and_the_counter_qr_code_log_guests_in() {
    let Some(t) = TestLab::start("e2e-account", 3, 3600, &[]) else { return };
    let made = t.cli_ok(&["accounts", "create", "--id-number", "11010519491231002X", "--online", "1h", "--json"]);
    let account: serde_json::Value = serde_json::from_str(&made).unwrap();
    let (user, pass) = (account["username"].as_str().unwrap(), account["password"].as_str().unwrap());
    let listed = t.cli_ok(&["accounts", "list"]);
    assert!(listed.contains("002X") && !listed.contains("110105194912"), "{listed}");

    let token = t.token(1);
    let (status, _) = t.post(1, "/login/account", &[("username", user), ("password", "not-it"), ("token", &token)]);
    assert_eq!(status, 403);
    assert!(!reaches_upstream(&t, 1));
    let (status, page) = t.post(1, "/login/account", &[("username", user), ("password", pass), ("token", &token)]);
    assert_eq!(status, 200, "{page}");
    assert!(reaches_upstream(&t, 1));

    // The counter's tablet (guest 3 stands in for it) shows the code; guest 2 scans it.
    let url = t.cli_ok(&["counter-url"]).trim().to_string();
    let (status, tablet) = t.curl(3, &[&url]);
    assert_eq!(status, 200, "{tablet}");
    let start = tablet.find("data-link=\"").unwrap() + "data-link=\"".len();
    // HTML-escaped in the attribute, as a browser would unescape it.
    let link = tablet[start..].split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&");
    let (status, scan) = t.curl(2, &[&link]);
    assert_eq!(status, 200, "{scan}");
    let fields: Vec<(&str, String)> = ["p", "t", "token"].iter().map(|k| (*k, field(&scan, k).unwrap())).collect();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = t.post(2, "/login/counter", &fields);
    assert_eq!(status, 200, "{page}");
    assert!(reaches_upstream(&t, 2));
    let (status, _) = t.curl(3, &[&url.replace("key=", "key=x")]);
    assert_eq!(status, 404, "the tablet page needs its key");
}

#[test]
fn sms_codes_go_through_the_webhook_and_a_provider_outage_costs_the_guest_nothing() {
    let Some(t) = TestLab::start(
        "e2e-sms",
        2,
        3600,
        &[("GUESTWIFI_AUTH__SMS__RESEND_SECONDS", "0"), ("GUESTWIFI_AUTH__SMS__PER_PHONE_10MIN", "1")],
    ) else {
        return;
    };
    let outbox = t.lab.dir.join("sms-gateway.log");
    let token = t.token(1);

    // The provider is down: a clear page, and the attempt does not count.
    std::fs::write(t.lab.dir.join("sms-gateway.fail"), "").unwrap();
    let (status, page) = t.post(1, "/sms/send", &[("phone", "13800138000"), ("token", &token)]);
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("短信暂时发送失败"));
    std::fs::remove_file(t.lab.dir.join("sms-gateway.fail")).unwrap();

    let (status, page) = t.post(1, "/sms/send", &[("phone", "13800138000"), ("token", &token)]);
    assert_eq!(status, 200, "one a 10 minutes, and the failed one did not count: {page}");
    let sent = std::fs::read_to_string(&outbox).unwrap();
    let message: serde_json::Value = serde_json::from_str(sent.lines().last().unwrap()).unwrap();
    assert_eq!(message["phone"], "+8613800138000");
    let text = message["text"].as_str().unwrap();
    let code = e2e::sms_code(text);

    let (status, _) = t.post(1, "/sms/send", &[("phone", "13800138000"), ("token", &token)]);
    assert_eq!(status, 429, "past the per-phone limit");
    assert_eq!(std::fs::read_to_string(&outbox).unwrap().lines().count(), 1, "nothing sent past it");

    let (status, _) = t.post(1, "/login/sms", &[("phone", "13800138000"), ("code", "000000"), ("token", &token)]);
    assert_eq!(status, 403);
    assert!(!reaches_upstream(&t, 1));
    let (status, page) = t.post(1, "/login/sms", &[("phone", "13800138000"), ("code", &code), ("token", &token)]);
    assert_eq!(status, 200, "{page}");
    assert!(reaches_upstream(&t, 1));
    let sessions = t.cli_ok(&["sessions", "list"]);
    assert!(sessions.contains("phone:138****8000") && !sessions.contains("13800138000"), "masked: {sessions}");
    assert!(!t.log().contains("13800138000"), "logs show masked numbers only");
    std::thread::sleep(Duration::from_millis(10));
}

/// WeChat's server calling the appliance's callback (see [`e2e::wechat_says`]).
fn wechat_says(t: &TestLab, openid: &str, content: &str, nonce: &str, timestamp: &str, forge: bool) -> (u16, String) {
    let url = format!("http://{}:8081/wechat", lab::APPLIANCE_WAN);
    e2e::wechat_says(&t.lab.upstream(), &url, &[], openid, content, (nonce, timestamp), forge)
}

#[test]
fn a_diner_gets_a_link_from_the_wechat_account_and_it_logs_the_phone_in() {
    let Some(t) = TestLab::start("e2e-wechat", 2, 3600, &[]) else { return };
    // Before logging in, the diner's phone reaches WeChat (the walled garden carries its hosts).
    let (status, body) = t.curl(1, &["http://mp.weixin.qq.com/"]);
    assert_eq!(status, 200, "WeChat is reachable before login: {body}");
    assert!(body.contains("Host: mp.weixin.qq.com"));
    assert!(!reaches_upstream(&t, 1), "but nothing else");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let (status, _) = wechat_says(&t, "oLAB123", "我要上网", "1001", &now, true);
    assert_eq!(status, 403, "a forged signature is refused");
    let (status, reply) = wechat_says(&t, "oLAB123", "我要上网", "1002", &now, false);
    assert_eq!(status, 200, "{reply}");
    let link = e2e::wechat_link(&reply);
    assert!(link.contains("/wx?t="), "{link}");
    let (status, _) = wechat_says(&t, "oLAB123", "我要上网", "1002", &now, false);
    assert_eq!(status, 403, "a replayed nonce is refused");
    let (status, other) = wechat_says(&t, "oLAB123", "菜单", "1003", &now, false);
    assert_eq!((status, other.as_str()), (200, "success"), "other words get no link");

    let (status, page) = t.curl(1, &[&link]);
    assert_eq!(status, 200, "{page}");
    let fields: Vec<(&str, String)> = ["t", "token"].iter().map(|k| (*k, field(&page, k).unwrap())).collect();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = t.post(1, "/login/wechat", &fields);
    assert_eq!(status, 200, "{page}");
    assert!(reaches_upstream(&t, 1));
    let sessions = t.cli_ok(&["sessions", "list"]);
    assert!(sessions.contains("wechat:oLAB123"), "{sessions}");

    // The same link on another phone: used up.
    let (_, page) = t.curl(2, &[&link]);
    let token2 = field(&page, "token").unwrap();
    let (status, _) = t.post(2, "/login/wechat", &[("t", &field(&page, "t").unwrap()), ("token", &token2)]);
    assert_eq!(status, 409);
    assert!(!reaches_upstream(&t, 2));
}

#[test]
fn qq_and_weibo_logins_go_through_the_provider_and_a_forged_state_does_not() {
    let Some(t) = TestLab::start("e2e-oauth", 3, 3600, &[]) else { return };
    let portal = e2e::PORTAL_HOST;
    // The browser follows the redirects: portal -> provider (walled garden) -> portal callback.
    let (status, page) = t.curl(1, &["-L", &format!("http://{portal}/oauth/qq/start")]);
    assert_eq!(status, 200, "{page}");
    assert!(reaches_upstream(&t, 1));
    let (status, page) = t.curl(2, &["-L", &format!("http://{portal}/oauth/weibo/start")]);
    assert_eq!(status, 200, "{page}");
    assert!(reaches_upstream(&t, 2));
    let sessions = t.cli_ok(&["sessions", "list"]);
    assert!(sessions.contains("qq:LABQQOPENID1") && sessions.contains("weibo:5550001"), "{sessions}");

    // A callback with a state this device was never given (a link someone
    // sent the diner) opens nothing.
    let (status, _) =
        t.curl(3, &[&format!("http://{portal}/oauth/qq/callback?code=labcode&state=00112233445566778899aabbccddeeff")]);
    assert_eq!(status, 403);
    // Another device's state does not work either.
    let (_, head) = t.curl(3, &[&format!("http://{portal}/oauth/qq/start")]);
    let location = e2e::header(&head, "location").unwrap();
    let state = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let (status, _) = t.curl(1, &[&format!("http://{portal}/oauth/qq/callback?code=labcode&state={state}")]);
    assert_eq!(status, 403, "guest 1 cannot use guest 3's state");
    assert!(!reaches_upstream(&t, 3));
}

/// The limits a grant carries hold end to end: a voucher of 16 Mbit/s down
/// and 4 Mbit/s up, measured against the upstream's large file and its sink,
/// within 10%. The first transfer drains the kernel's bucket (it starts
/// with a second's worth plus the burst): the second is what a long
/// download sees.
#[test]
fn a_vouchers_bandwidth_holds_within_ten_percent() {
    let Some(t) = TestLab::start("e2e-bandwidth", 1, 3600, &[]) else { return };
    let made =
        t.cli_ok(&["vouchers", "create", "--duration", "1h", "--down-kbps", "16000", "--up-kbps", "4000", "--json"]);
    let cards: serde_json::Value = serde_json::from_str(&made).unwrap();
    let token = t.token(1);
    let (status, _) = t.post(1, "/login/voucher", &[("code", cards[0]["code"].as_str().unwrap()), ("token", &token)]);
    assert_eq!(status, 200);

    let download = || {
        let out = t.in_guest(
            1,
            &["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}", "http://example.test/big?bytes=6000000"],
        );
        String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap()
    };
    let upload_file = t.lab.dir.join("upload.bin");
    std::fs::write(&upload_file, vec![0u8; 3_000_000]).unwrap();
    let upload = || {
        let data = format!("@{}", upload_file.display());
        let out = t.in_guest(1, &["curl", "-s", "--data-binary", &data, "http://example.test/sink"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split_whitespace().nth(1).unwrap_or_else(|| panic!("{text}")).parse::<f64>().unwrap()
    };
    let _ = download();
    let down = download();
    let _ = upload();
    let up = upload();
    let (down_limit, up_limit) = (16_000.0 * 125.0, 4_000.0 * 125.0);
    assert!((down / down_limit - 1.0).abs() < 0.10, "download {down:.0} B/s against {down_limit} B/s");
    assert!((up / up_limit - 1.0).abs() < 0.10, "upload {up:.0} B/s against {up_limit} B/s");
    eprintln!("download {:.1}% of its limit, upload {:.1}%", down / down_limit * 100.0, up / up_limit * 100.0);
}

/// A shaped guest keeps its limit through what happens to a running
/// appliance: nftables flushed under it, and a restart of the controller.
#[test]
fn a_guests_limit_survives_a_flush_and_a_restart() {
    let Some(mut t) = TestLab::start("e2e-limit-keep", 1, 3600, &[]) else { return };
    let made =
        t.cli_ok(&["vouchers", "create", "--duration", "1h", "--down-kbps", "4000", "--up-kbps", "1000", "--json"]);
    let cards: serde_json::Value = serde_json::from_str(&made).unwrap();
    let token = t.token(1);
    let (status, _) = t.post(1, "/login/voucher", &[("code", cards[0]["code"].as_str().unwrap()), ("token", &token)]);
    assert_eq!(status, 200);
    let nft = |t: &TestLab, args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &t.lab.appliance(), "nft"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shaped = |t: &TestLab| {
        nft(t, &["list", "map", "inet", "guestwifi", "bw_down4"]).contains("jump bw_d4000")
            && nft(t, &["list", "map", "inet", "guestwifi", "bw_up4"]).contains("jump bw_u1000")
    };
    assert!(shaped(&t), "the login's limits are in the kernel");

    nft(&t, &["flush", "ruleset"]);
    t.until("the table and the guest's limits come back", 10, || shaped(&t));
    assert!(reaches_upstream(&t, 1));

    t.stop_controller();
    t.start_controller();
    t.until("the restarted controller puts the limits back", 10, || shaped(&t));
    assert!(reaches_upstream(&t, 1));
}

#[test]
fn a_voucher_s_data_allowance_is_counted_in_the_kernel_and_ends_its_sessions_when_used_up() {
    let Some(t) = TestLab::start("e2e-data", 2, 3600, &[]) else { return };
    let made = t.cli_ok(&[
        "vouchers",
        "create",
        "--count",
        "1",
        "--duration",
        "2h",
        "--devices",
        "2",
        "--data-mb",
        "2",
        "--json",
    ]);
    let cards: serde_json::Value = serde_json::from_str(&made).unwrap();
    let code = cards[0]["code"].as_str().unwrap().to_string();
    let token = t.token(1);
    let (status, page) = t.post(1, "/login/voucher", &[("code", &code), ("token", &token)]);
    assert_eq!(status, 200, "{page}");
    assert!(reaches_upstream(&t, 1));
    // A small page leaves the allowance; a 3 MB download uses it up (the
    // download is what counts: the guest sends little).
    assert_eq!(t.curl(1, &["http://example.test/big?bytes=200000"]).0, 200);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(reaches_upstream(&t, 1), "200 KB of 2 MB: still online");
    let _ = t.curl(1, &["--max-time", "20", "http://example.test/big?bytes=3000000"]);
    t.until("the session ended by its allowance", 10, || !t.online(1));
    // Back at the portal, the guest is told why.
    let (status, page) = t.curl(1, &[&format!("http://{}/", e2e::PORTAL_HOST)]);
    assert_eq!(status, 200);
    assert!(page.contains("流量已用完，您已下线"), "{page}");
    // The card's allowance is every device's: a second phone gets nothing more, and is told why.
    let token = t.token(2);
    let (status, page) = t.post(2, "/login/voucher", &[("code", &code), ("token", &token)]);
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("这张上网卡的 2 MB 流量已用完"), "{page}");
    assert!(!reaches_upstream(&t, 2));
    let sessions: serde_json::Value =
        serde_json::from_str(&t.cli_ok(&["sessions", "list", "--json"])).unwrap_or(serde_json::Value::Null);
    assert!(sessions.as_array().is_none_or(|s| s.is_empty()), "no live session: {sessions}");
    let log = t.cli_ok(&["trail", "search", "--mac", &lab::guest_mac(1), "--json"]);
    assert!(log.contains("data_used"), "the access log names why it ended: {log}");
}
