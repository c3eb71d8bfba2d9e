//! The marketer's portal pages and the admin's settings, in a real browser:
//! a marketer brands the portal (logo, colour, background, story), adds a
//! scheduled promotion, featured dishes and the countdown ad in the console,
//! checks the phone preview and publishes; a guest's phone (a 390 px screen
//! at 3x, a slow 3G link, no cache) loads the home page under 150 KB and
//! opens the promotion. An admin changes the venue's name and session
//! length in the settings page: the controller restarts in place, a guest
//! who was online stays online and the portal shows the new name.

use e2e::staff::{fill, setup_owner, shot, wait_text, CONSOLE};
use e2e::{TestLab, PORTAL_HOST};
use fantoccini::{Client, Locator};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The home page's budget over the wire (the figure).
const BUDGET: u64 = 150 * 1024;

/// A photo-like picture: soft gradients with sensor-like noise (JPEG sizes
/// as a camera's would be, not a flat test card's).
fn photo(path: &Path, w: u32, h: u32, tint: [u8; 3]) {
    let mut seed = 0x2545_f491_u32 ^ w ^ (h << 8) ^ u32::from(tint[0]);
    image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 21) as i32 - 10;
        let shade = |base: u8, f: u32| (i32::from(base) + (f % 60) as i32 + noise).clamp(0, 255) as u8;
        image::Rgb([shade(tint[0], x / 13), shade(tint[1], y / 11), shade(tint[2], (x + y) / 17)])
    })
    .save(path)
    .unwrap();
}

#[test]
fn a_marketer_brands_the_portal_and_a_slow_phone_loads_the_home_page_under_150_kb() {
    let Some(t) = TestLab::start("e2e-pages", 1, 3600, &[]) else {
        return;
    };
    let dir = t.lab.dir.clone();
    let pictures: Vec<PathBuf> = [("logo", 600, 300, [200, 30, 40]), ("bg", 1920, 1080, [90, 60, 40])]
        .into_iter()
        .chain([("dish1", 1600, 1067, [170, 90, 50]), ("dish2", 1600, 1067, [60, 120, 60])])
        .chain([("promo", 1600, 1067, [180, 140, 40]), ("ad", 1200, 600, [150, 40, 60])])
        .map(|(name, w, h, tint)| {
            let path = dir.join(format!("{name}.png"));
            photo(&path, w, h, tint);
            path
        })
        .collect();
    let code = t.cli_ok(&["setup-code"]).trim().to_string();
    let shots = dir.clone();
    let preview = t.in_staff_browser(move |client| Box::pin(marketer(client, code, pictures, shots)));
    assert!(
        preview.contains("小馆的故事") && preview.contains("周末家庭套餐"),
        "the preview shows the draft: {preview}"
    );

    let shots = dir.clone();
    let home = t.in_browser(1, move |client| Box::pin(slow_phone(client, shots)));
    eprintln!(
        "home page on a 390x844@3x phone over slow 3G: {} bytes in {} requests, loaded in {} ms (all photos scrolled in: {} bytes)",
        home.bytes, home.requests, home.load_ms, home.scrolled_bytes
    );
    assert!(home.text.contains("周末家庭套餐") && home.text.contains("红烧肉") && home.text.contains("小馆的故事"));
    assert!(home.colour.contains("10, 125, 59"), "the brand's colour: {}", home.colour);
    assert!(home.bytes > 10_000, "the page and its photos were measured ({} bytes)", home.bytes);
    assert!(home.bytes < BUDGET, "the home page is {} bytes over the wire, over {BUDGET}", home.bytes);
    assert!(home.promotion.contains("满 200 减 30"), "{}", home.promotion);
}

async fn marketer(client: Client, code: String, pictures: Vec<PathBuf>, shots: PathBuf) -> String {
    setup_owner(&client, &code, None).await;
    // One block of the editor open at a time, each by its tab.
    let open = |block: &'static str| {
        let client = client.clone();
        async move { client.goto(&format!("{CONSOLE}marketing?block={block}")).await.unwrap() }
    };
    open("brand").await;
    let upload = |id: &'static str, path: &Path| {
        let (client, path) = (client.clone(), path.to_str().unwrap().to_string());
        async move { client.find(Locator::Id(id)).await.unwrap().send_keys(&path).await.unwrap() }
    };
    // The brand.
    client.execute("document.getElementById('colour').value = '#0a7d3b'", vec![]).await.unwrap();
    upload("logo", &pictures[0]).await;
    upload("background", &pictures[1]).await;
    fill(&client, "story_zh", "小馆的故事：1998 年开在巷口，一家三代做川菜。").await;
    client.find(Locator::Id("save-brand")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "已保存").await;
    // Two featured dishes.
    open("dishes").await;
    for (name, price, picture) in [("红烧肉", "58", &pictures[2]), ("清炒时蔬", "22", &pictures[3])] {
        fill(&client, "name_zh", name).await;
        fill(&client, "price", price).await;
        upload("photo", picture).await;
        client.find(Locator::Id("add-dish")).await.unwrap().click().await.unwrap();
        wait_text(&client, "notice", name).await;
    }
    // A promotion until the end of the century, every meal time.
    open("promotions").await;
    fill(&client, "title_zh", "周末家庭套餐").await;
    fill(&client, "body_zh", "四人套餐满 200 减 30。\n\n周六周日全天供应。").await;
    client.execute("document.getElementById('promotion-until').value = '2099-12-31'", vec![]).await.unwrap();
    upload("promotion-photo", &pictures[4]).await;
    client.find(Locator::Id("add-promotion")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "周末家庭套餐").await;
    // The countdown ad opens it.
    open("ad").await;
    fill(&client, "ad-text_zh", "周末家庭套餐，点我看看").await;
    client.find(Locator::Css("#ad-promotion option:nth-child(2)")).await.unwrap().click().await.unwrap();
    upload("ad-photo", &pictures[5]).await;
    client.find(Locator::Id("save-ad")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "点我看看").await;
    // The phone preview shows the draft before anything is published.
    let frame = client.find(Locator::Id("preview")).await.unwrap();
    frame.clone().enter_frame().await.unwrap();
    let preview = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client.enter_parent_frame().await.unwrap();
    shot(&client, &shots, "editor").await;
    client.find(Locator::Id("publish")).await.unwrap().click().await.unwrap();
    wait_text(&client, "notice", "已发布").await;
    let _ = client.close().await;
    preview
}

/// What the phone measured.
struct Home {
    text: String,
    colour: String,
    bytes: u64,
    requests: u64,
    load_ms: u64,
    scrolled_bytes: u64,
    promotion: String,
}

const MEASURE: &str = "const n = performance.getEntriesByType('navigation')[0]; \
    const r = performance.getEntriesByType('resource'); \
    return [n.transferSize + r.reduce((s, e) => s + e.transferSize, 0), r.length + 1, \
            Math.round(n.loadEventEnd - n.startTime), \
            [n].concat(r).map(e => e.name.replace(location.origin, '') + ' ' + e.transferSize).join(', ')];";

async fn slow_phone(client: Client, shots: PathBuf) -> Home {
    // A mid-range phone: 390 px wide at 3x; Chromium's "Slow 3G" profile; nothing cached.
    e2e::cdp(
        &client,
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({ "width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true }),
    )
    .await;
    e2e::cdp(&client, "Network.enable", serde_json::json!({})).await;
    e2e::cdp(&client, "Network.setCacheDisabled", serde_json::json!({ "cacheDisabled": true })).await;
    e2e::cdp(
        &client,
        "Network.emulateNetworkConditions",
        serde_json::json!({ "offline": false, "latency": 400, "downloadThroughput": 51_200, "uploadThroughput": 51_200 }),
    )
    .await;
    client.goto(&format!("http://{PORTAL_HOST}/")).await.unwrap();
    client.wait().at_most(Duration::from_secs(60)).for_element(Locator::Id("promotions")).await.expect("home");
    let mut figures = serde_json::Value::Null;
    for _ in 0..600 {
        let ready = client.execute("return document.readyState", vec![]).await.unwrap();
        if ready == "complete" {
            tokio::time::sleep(Duration::from_millis(300)).await;
            figures = client.execute(MEASURE, vec![]).await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = |i: usize| figures[i].as_f64().unwrap_or(0.0) as u64;
    let (bytes, requests, load_ms) = (n(0), n(1), n(2));
    eprintln!("home page, what loaded (bytes): {}", figures[3].as_str().unwrap_or_default());
    shot(&client, &shots, "portal-home").await;
    let text = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
    let colour = client
        .execute("return getComputedStyle(document.querySelector('header.brand')).backgroundColor", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Everything scrolled in: what a guest who reads to the end pays.
    client.execute("window.scrollTo(0, document.body.scrollHeight)", vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let scrolled_bytes = client.execute(MEASURE, vec![]).await.unwrap()[0].as_f64().unwrap_or(0.0) as u64;
    client.find(Locator::Css("#promotions a")).await.unwrap().click().await.unwrap();
    let promotion = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("promotion"))
        .await
        .expect("the promotion's page")
        .text()
        .await
        .unwrap();
    shot(&client, &shots, "portal-promotion").await;
    let _ = client.close().await;
    Home { text, colour, bytes, requests, load_ms, scrolled_bytes, promotion }
}

#[test]
fn an_admin_changes_the_settings_the_controller_restarts_in_place_and_guests_stay_online() {
    let Some(t) = TestLab::start("e2e-settings", 2, 3600, &[]) else {
        return;
    };
    t.login(1);
    assert!(t.online(1));
    let code = t.cli_ok(&["setup-code"]).trim().to_string();
    let shots = t.lab.dir.clone();
    let notice = t.in_staff_browser(move |client| Box::pin(settings(client, code, shots)));
    assert!(notice.contains("重启"), "{notice}");
    // The controller comes back by itself; the portal shows the new name.
    t.until("the portal shows the new name", 30, || {
        t.curl(2, &[&format!("http://{PORTAL_HOST}/")]).1.contains("川味小馆 · 测试店")
    });
    assert!(t.online(1), "a guest who was online stays online across the restart");
    assert!(t.log().contains("restarting to apply the saved settings"));
    // The new session length applies to a new login.
    t.login(2);
    let sessions = t.cli_ok(&["sessions", "list", "--json"]);
    assert!(sessions.contains(&e2e::guest_mac(2)), "{sessions}");
}

async fn settings(client: Client, code: String, shots: PathBuf) -> String {
    setup_owner(&client, &code, None).await;
    client.goto(&format!("{CONSOLE}settings")).await.unwrap();
    fill(&client, "venue_name", "川味小馆 · 测试店").await;
    fill(&client, "session_minutes", "90").await;
    shot(&client, &shots, "settings").await;
    client.find(Locator::Id("save-settings")).await.unwrap().click().await.unwrap();
    let notice = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("notice")).await.unwrap();
    let text = notice.text().await.unwrap();
    let _ = client.close().await;
    text
}
