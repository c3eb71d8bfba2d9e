//! A real browser as a diner: headless Chromium inside a guest namespace
//! opens a web page, lands on the portal, and gets online the ways diners
//! do: the countdown, an SMS code, a voucher card typed or scanned.

use e2e::{TestLab, PORTAL_HOST};
use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};

#[test]
fn diner_in_chromium_sees_the_portal_waits_clicks_and_lands_on_the_page() {
    let Some(t) = TestLab::start("e2e-browser", 1, 3600, &[]) else {
        return;
    };
    let screenshot = t.lab.dir.join("portal.png");
    let (portal_url, button_was_disabled, final_url, final_source) =
        t.in_browser(1, move |client| Box::pin(countdown(client, screenshot)));
    assert!(portal_url.starts_with(&format!("http://{PORTAL_HOST}/?url=http%3A%2F%2Fexample.test%2F")), "{portal_url}");
    assert!(button_was_disabled, "Connect is disabled while the countdown runs");
    assert_eq!(final_url, "http://example.test/");
    assert!(final_source.contains("Hello from upstream"), "{final_source}");
}

async fn countdown(client: Client, screenshot: std::path::PathBuf) -> (String, bool, String, String) {
    client.goto("http://example.test/").await.expect("page loads");
    let button =
        client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("connect")).await.expect("portal page");
    let portal_url = client.current_url().await.unwrap().to_string();
    let disabled = !button.is_enabled().await.unwrap();
    assert_eq!(button.text().await.unwrap(), "连接上网");
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(&screenshot, png);
    }
    let start = Instant::now();
    while !button.is_enabled().await.unwrap() {
        assert!(start.elapsed() < Duration::from_secs(10), "countdown never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    button.click().await.unwrap();
    let target = url::Url::parse("http://example.test/").unwrap();
    client.wait().at_most(Duration::from_secs(15)).for_url(&target).await.expect("lands on the page it asked for");
    let source = client.source().await.unwrap();
    let final_url = client.current_url().await.unwrap().to_string();
    let _ = client.close().await;
    (portal_url, disabled, final_url, source)
}

/// Three diners, three ways in, as they do it on a phone: one types a
/// mobile number and the code the text message brought, one types the code
/// of a voucher card, one scans a card's QR code (the camera opens its
/// link; the page logs in by itself). Each then browses the web.
#[test]
fn diners_log_in_by_sms_by_voucher_and_by_scanning_a_cards_qr_code() {
    let Some(t) = TestLab::start("e2e-diners", 3, 3600, &[("GUESTWIFI_AUTH__SMS__RESEND_SECONDS", "0")]) else {
        return;
    };
    let made = t.cli_ok(&["vouchers", "create", "--count", "2", "--duration", "2h", "--json"]);
    let cards: serde_json::Value = serde_json::from_str(&made).unwrap();
    let typed = cards[0]["code"].as_str().unwrap().to_string();
    let scanned = cards[1]["code"].as_str().unwrap().to_string();

    let outbox = t.lab.dir.join("sms-gateway.log");
    let sms = t.in_browser(1, move |client| Box::pin(by_sms(client, outbox)));
    assert!(sms.0.contains("已连接"), "success page after the code: {}", sms.0);
    assert!(sms.1.contains("Hello from upstream"), "then the web: {}", sms.1);

    let voucher = t.in_browser(2, move |client| Box::pin(by_voucher(client, typed)));
    assert!(voucher.0.contains("已连接") && voucher.1.contains("Hello from upstream"), "{voucher:?}");

    let qr = t.in_browser(3, move |client| Box::pin(by_qr(client, scanned)));
    assert!(qr.0.contains("已连接") && qr.1.contains("Hello from upstream"), "{qr:?}");

    let sessions = t.cli_ok(&["sessions", "list"]);
    assert!(
        sessions.contains("phone:138****8000")
            && !sessions.contains("13800138000")
            && sessions.matches("voucher:").count() == 2,
        "{sessions}"
    );
}

async fn text_of_page(client: &Client) -> String {
    client.find(Locator::Css("main")).await.unwrap().text().await.unwrap()
}

/// Waits for the success page, then browses: (the page's text, the web page's source).
async fn online_then_browse(client: Client) -> (String, String) {
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("section.ok")).await.unwrap();
    let success = text_of_page(&client).await;
    client.goto("http://example.test/").await.unwrap();
    let web = client.source().await.unwrap();
    let _ = client.close().await;
    (success, web)
}

/// Opens the way `card` in the page's "other ways" list when it is folded
/// there (as a diner taps its name); the first way is open already.
async fn open_way(client: &Client, card: &str) {
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id(card)).await.expect("the way is offered");
    if let Ok(summary) = client.find(Locator::Css(&format!("details#{card} > summary"))).await {
        summary.click().await.unwrap();
    }
}

async fn by_sms(client: Client, outbox: std::path::PathBuf) -> (String, String) {
    client.goto("http://example.test/").await.expect("page loads");
    open_way(&client, "sms-card").await;
    let phone = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("phone")).await.unwrap();
    phone.send_keys("138 0013 8000").await.unwrap();
    client.find(Locator::Id("sms-send")).await.unwrap().click().await.unwrap();
    // The code page (its button is its own: the login page has a `code` field too, the voucher's).
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("sms-login")).await.unwrap();
    let code_box = client.find(Locator::Id("code")).await.unwrap();
    assert!(text_of_page(&client).await.contains("138****8000"), "the number, masked");
    let sent = std::fs::read_to_string(&outbox).expect("the stand-in provider got the message");
    let message: serde_json::Value = serde_json::from_str(sent.lines().last().unwrap()).unwrap();
    let text = message["text"].as_str().unwrap().to_string();
    let code = e2e::sms_code(&text);
    code_box.send_keys(&code).await.unwrap();
    client.find(Locator::Id("sms-login")).await.unwrap().click().await.unwrap();
    online_then_browse(client).await
}

async fn by_voucher(client: Client, code: String) -> (String, String) {
    client.goto("http://example.test/").await.expect("page loads");
    open_way(&client, "voucher-card").await;
    let input = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("code")).await.unwrap();
    // As printed on the card, in lower case, the way thumbs type it.
    input.send_keys(&format!("{}-{}", &code[..5], &code[5..]).to_lowercase()).await.unwrap();
    client.find(Locator::Id("voucher-submit")).await.unwrap().click().await.unwrap();
    online_then_browse(client).await
}

async fn by_qr(client: Client, code: String) -> (String, String) {
    // What the phone's camera opens from the card's QR code.
    client.goto(&format!("http://{PORTAL_HOST}/v?code={code}")).await.expect("page loads");
    online_then_browse(client).await
}
