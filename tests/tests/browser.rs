//! A real browser as a diner: headless Chromium inside a guest namespace
//! opens a web page, lands on the portal, waits out the countdown, presses
//! 连接上网 and ends up on the page it asked for.

use e2e::{TestLab, PORTAL_HOST};
use fantoccini::{ClientBuilder, Locator};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DRIVER_PORT: u16 = 9515;

#[test]
fn diner_in_chromium_sees_the_portal_waits_clicks_and_lands_on_the_page() {
    let Some(t) = TestLab::start("e2e-browser", 1, 3600, &[]) else {
        return;
    };
    let guest = t.lab.guest(1);
    let profile = t.lab.dir.join("chromium-profile");
    let mut driver = Command::new("ip")
        .args(["netns", "exec", &guest, "chromedriver", &format!("--port={DRIVER_PORT}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver) runs");
    let screenshot = t.lab.dir.join("portal.png");

    // WebDriver traffic must come from inside the guest namespace: run the
    // client on a thread that has entered it.
    let netns = format!("/run/netns/{guest}");
    let result = std::thread::spawn(move || {
        let file = std::fs::File::open(netns).unwrap();
        // SAFETY: setns on this thread only; the fd is valid.
        assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(browse(profile, screenshot))
    })
    .join();
    let _ = driver.kill();
    let _ = driver.wait();
    let (portal_url, button_was_disabled, final_url, final_source) = result.expect("browser thread");
    assert!(portal_url.starts_with(&format!("http://{PORTAL_HOST}/?url=http%3A%2F%2Fexample.test%2F")), "{portal_url}");
    assert!(button_was_disabled, "Connect is disabled while the countdown runs");
    assert_eq!(final_url, "http://example.test/");
    assert!(final_source.contains("Hello from upstream"), "{final_source}");
}

async fn browse(profile: std::path::PathBuf, screenshot: std::path::PathBuf) -> (String, bool, String, String) {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "prefs": { "intl.accept_languages": "zh-CN,zh" },
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=390,844", "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let start = Instant::now();
    let client = loop {
        // chromedriver listens on plain HTTP on localhost.
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(http)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{DRIVER_PORT}"))
            .await
        {
            Ok(client) => break client,
            Err(err) if start.elapsed() < Duration::from_secs(20) => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("cannot start Chromium through chromedriver: {err}"),
        }
    };
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
