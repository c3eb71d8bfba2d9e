//! The staff console in a real browser: the owner completes first-run setup
//! with the code the appliance printed, logs in, makes a voucher batch and
//! prints its sheet; a guest logs in with a card from that sheet and shows
//! up in the console; a guest cannot reach the console at all. A marketer
//! uploads a photo, adds a featured dish and publishes; a guest's portal
//! shows it; a rollback removes it. Screenshots of the main pages are kept
//! in the lab's directory.

use e2e::staff::{fill, login, setup_owner, shot, wait_text, CONSOLE};
use e2e::{TestLab, PORTAL_HOST};
use fantoccini::{Client, Locator};
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn the_owner_sets_up_the_console_and_the_front_desk_prints_vouchers_a_guest_uses() {
    let Some(t) = TestLab::start("e2e-console", 1, 3600, &[("GUESTWIFI_AUTH__VOUCHER__ENABLED", "true")]) else {
        return;
    };
    // A guest cannot open the console: it listens on the management side only.
    let (code, _) = t.curl(1, &["--max-time", "3", "http://192.0.2.1:8080/console/"]);
    assert_eq!(code, 0, "no answer from the guest side");
    let (code, page) = t.curl(1, &[&format!("http://{PORTAL_HOST}/console/")]);
    assert!(!page.contains("gw_console") && !page.contains("设置码"), "the portal does not serve the console ({code})");
    assert!(!t.log().contains(t.cli_ok(&["setup-code"]).trim()), "the setup code is not in the log");

    let setup_code = t.cli_ok(&["setup-code"]).trim().to_string();
    let shots = t.lab.dir.clone();
    let (sheet_code, batch) = t.in_staff_browser(move |client| Box::pin(owner(client, setup_code, shots)));
    assert!(t.cli(&["setup-code"]).status.code() != Some(0), "the code is spent");

    // A guest uses a card from the printed sheet (what its QR code opens).
    let cards: serde_json::Value =
        serde_json::from_str(&t.cli_ok(&["vouchers", "list", "--batch", &batch, "--json"])).unwrap();
    assert_eq!(cards.as_array().unwrap().len(), 2);
    let page = t.in_browser(1, move |client| Box::pin(scan(client, sheet_code)));
    assert!(page.contains("已连接"), "{page}");

    // The front desk sees the guest online, with the voucher.
    let shots = t.lab.dir.clone();
    let guests = t.in_staff_browser(move |client| Box::pin(guests_page(client, shots)));
    assert!(guests.contains(&e2e::guest_mac(1)) && guests.contains("voucher:"), "{guests}");
}

async fn owner(client: Client, code: String, shots: PathBuf) -> (String, String) {
    setup_owner(&client, &code.to_lowercase(), Some(&shots)).await;
    let me = client.find(Locator::Id("me")).await.expect("signed in");
    assert_eq!(me.text().await.unwrap(), "owner · 管理员", "the role in words");
    shot(&client, &shots, "dashboard").await;

    client.goto(&format!("{CONSOLE}vouchers")).await.unwrap();
    fill(&client, "count", "2").await;
    fill(&client, "hours", "1").await;
    fill(&client, "note", "晚市").await;
    client.find(Locator::Id("create-vouchers")).await.unwrap().click().await.unwrap();
    let notice = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("notice")).await.unwrap();
    let batch = notice.text().await.unwrap().rsplit('：').next().unwrap().trim().to_string();
    shot(&client, &shots, "vouchers").await;
    client.find(Locator::Id(&format!("sheet-{batch}"))).await.expect("print link").click().await.unwrap();
    let code = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(".code")).await.expect("sheet");
    let code = code.text().await.unwrap();
    shot(&client, &shots, "sheet").await;
    let _ = client.close().await;
    (code, batch)
}

async fn scan(client: Client, code: String) -> String {
    // What the phone's camera opens from the card's QR code.
    client.goto(&format!("http://{PORTAL_HOST}/v?code={code}")).await.expect("page loads");
    let main =
        client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css("section.ok")).await.expect("online");
    let text = main.text().await.unwrap();
    let _ = client.close().await;
    text
}

async fn guests_page(client: Client, shots: PathBuf) -> String {
    client.goto(&format!("{CONSOLE}login")).await.unwrap();
    fill(&client, "username", "owner").await;
    fill(&client, "password", "owner password 1").await;
    client.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("me")).await.expect("signed in");
    client.goto(&format!("{CONSOLE}guests")).await.unwrap();
    let table = client.find(Locator::Id("guests")).await.unwrap().text().await.unwrap();
    shot(&client, &shots, "guests").await;
    let _ = client.close().await;
    table
}

#[test]
fn a_marketer_publishes_a_featured_dish_guests_see_and_a_rollback_removes_it() {
    let Some(t) = TestLab::start("e2e-market", 1, 3600, &[]) else {
        return;
    };
    let code = t.cli_ok(&["setup-code"]).trim().to_string();
    let photo = t.lab.dir.join("hongshaorou.png");
    image::RgbImage::from_fn(1200, 800, |x, y| image::Rgb([180, (x % 200) as u8, (y % 120) as u8]))
        .save(&photo)
        .unwrap();
    let shots = t.lab.dir.clone();
    t.in_staff_browser(move |client| Box::pin(marketer(client, code, photo, shots)));

    let shot = t.lab.dir.join("portal-dishes.png");
    let (text, photo) = t.in_browser(1, move |client| Box::pin(portal_dish(client, shot)));
    assert!(text.contains("红烧肉") && text.contains("¥58"), "{text}");
    assert!(photo.contains("/m/") && photo.ends_with(".jpg"), "the photo loaded: {photo}");

    t.in_staff_browser(|client| Box::pin(roll_back(client)));
    let (code, page) = t.curl(1, &[&format!("http://{PORTAL_HOST}/")]);
    assert_eq!(code, 200);
    assert!(!page.contains("红烧肉") && !page.contains("id=\"dishes\""), "rolled back: {page}");
}

async fn marketer(client: Client, code: String, photo: PathBuf, shots: PathBuf) {
    // The owner sets up and opens an account for the marketer.
    setup_owner(&client, &code, None).await;
    client.goto(&format!("{CONSOLE}users")).await.unwrap();
    fill(&client, "username", "xiaomei").await;
    fill(&client, "password", "marketing pass 1").await;
    client.find(Locator::Css("#role option[value=marketer]")).await.unwrap().click().await.unwrap();
    client.find(Locator::Id("create-user")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("notice")).await.unwrap();
    client.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();

    // The marketer: a photo, a dish, publish.
    login(&client, "xiaomei", "marketing pass 1").await;
    client.goto(&format!("{CONSOLE}users")).await.unwrap();
    let refused = client.find(Locator::Id("message-title")).await.unwrap().text().await.unwrap();
    assert_eq!(refused, "无权访问", "a marketer cannot open an admin page");
    client.goto(&format!("{CONSOLE}marketing?block=dishes")).await.unwrap();
    fill(&client, "name_zh", "红烧肉").await;
    fill(&client, "name_en", "Braised pork belly").await;
    fill(&client, "price", "58").await;
    client.find(Locator::Id("photo")).await.unwrap().send_keys(photo.to_str().unwrap()).await.unwrap();
    client.find(Locator::Id("add-dish")).await.unwrap().click().await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#draft img.thumb"))
        .await
        .expect("the dish, with its photo");
    shot(&client, &shots, "marketing").await;
    client.find(Locator::Id("publish")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "已发布").await;
    client.goto(&format!("{CONSOLE}stats")).await.unwrap();
    let chart = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("chart-days")).await;
    let source = client.source().await.unwrap();
    assert!(chart.is_ok() && source.contains("<svg"), "a chart drawn on the server:\n{source}");
    shot(&client, &shots, "stats").await;
    let _ = client.close().await;
}

async fn portal_dish(client: Client, screenshot: PathBuf) -> (String, String) {
    client.goto(&format!("http://{PORTAL_HOST}/")).await.unwrap();
    let dishes =
        client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("dishes")).await.expect("dishes");
    let text = dishes.text().await.unwrap();
    // Scrolled into view, the lazy photo loads.
    let script = "const i = document.querySelector('#dishes img'); i.scrollIntoView(); \
                  return i.complete && i.naturalWidth > 0 ? i.currentSrc : '';";
    let mut photo = String::new();
    for _ in 0..50 {
        photo = client.execute(script, vec![]).await.unwrap().as_str().unwrap_or_default().to_string();
        if !photo.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(&screenshot, png);
    }
    let _ = client.close().await;
    (text, photo)
}

async fn roll_back(client: Client) {
    login(&client, "xiaomei", "marketing pass 1").await;
    client.goto(&format!("{CONSOLE}marketing?block=versions")).await.unwrap();
    client.find(Locator::Id("rollback-0")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "已发布").await;
    let _ = client.close().await;
}

#[test]
fn an_admin_adopts_an_ap_with_its_fingerprint_and_sees_a_guests_login_on_the_dashboard() {
    let Some(t) = TestLab::start_with_aps("e2e-cap", 1, 1, 3600, &[]) else {
        return;
    };
    t.until("the AP is pending", 20, || t.cli_ok(&["aps", "list"]).contains("pending"));
    // The admin reads the fingerprint the AP prints (its log, its label).
    let log = std::fs::read_to_string(t.lab.dir.join("ap1.log")).unwrap();
    let fingerprint = log
        .split("fingerprint=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the AP prints its key's fingerprint:\n{log}"))
        .to_string();
    t.login(1);
    let code = t.cli_ok(&["setup-code"]).trim().to_string();
    let shots = t.lab.dir.clone();
    let mac = e2e::guest_mac(1);
    let (wrong, adopted, dashboard) =
        t.in_staff_browser(move |client| Box::pin(admin_adopts(client, code, fingerprint, shots)));
    assert!(wrong.contains("pending"), "a wrong fingerprint adopts nothing: {wrong}");
    assert!(adopted.contains("adopted"), "{adopted}");
    assert!(dashboard.contains(&mac) && dashboard.contains("倒计时一键上网"), "the method in words: {dashboard}");
    assert!(t.cli_ok(&["aps", "list"]).contains("adopted"));
}

async fn admin_adopts(client: Client, code: String, fingerprint: String, shots: PathBuf) -> (String, String, String) {
    setup_owner(&client, &code, None).await;
    client.goto(&format!("{CONSOLE}aps")).await.unwrap();
    fill(&client, "fingerprint-LAB-AP-01", "00000000").await;
    client.find(Locator::Id("adopt-LAB-AP-01")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "LAB-AP-01").await;
    let wrong = client.find(Locator::Id("ap-state-LAB-AP-01")).await.unwrap().text().await.unwrap();
    fill(&client, "fingerprint-LAB-AP-01", &fingerprint[..8]).await;
    client.find(Locator::Id("adopt-LAB-AP-01")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "已纳管").await;
    let adopted = client.find(Locator::Id("ap-state-LAB-AP-01")).await.unwrap().text().await.unwrap();
    shot(&client, &shots, "aps").await;
    client.goto(CONSOLE).await.unwrap();
    let recent = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("recent")).await.unwrap();
    let dashboard = recent.text().await.unwrap();
    let _ = client.close().await;
    (wrong, adopted, dashboard)
}
