//! What the console's browser tests share: the owner's first-run setup,
//! logging in, filling fields, waiting for a notice, screenshots.

use fantoccini::{Client, Locator};
use std::time::Duration;

/// The console, from the appliance's namespace (the management side).
pub const CONSOLE: &str = "http://127.0.0.1:8080/console/";

pub async fn fill(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap_or_else(|_| panic!("field {id}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Waits until the element `id` of the page now shown holds `needle` (the
/// page before the click may still be there a moment).
pub async fn wait_text(client: &Client, id: &str, needle: &str) {
    for _ in 0..100 {
        if let Ok(element) = client.find(Locator::Id(id)).await {
            if element.text().await.is_ok_and(|t| t.contains(needle)) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("#{id} never said {needle:?}:\n{}", client.source().await.unwrap_or_default());
}

/// A screenshot of the page as `console-NAME.png` in `dir` (the lab's),
/// and in `$E2E_SCREENSHOTS` too when set (the lab's directory goes
/// with the lab).
pub async fn shot(client: &Client, dir: &std::path::Path, name: &str) {
    if let Ok(png) = client.screenshot().await {
        let file = format!("console-{name}.png");
        let _ = std::fs::write(dir.join(&file), &png);
        if let Some(keep) = std::env::var_os("E2E_SCREENSHOTS") {
            let _ = std::fs::create_dir_all(&keep);
            let _ = std::fs::write(std::path::Path::new(&keep).join(&file), &png);
        }
    }
}

/// The owner's first-run setup with the appliance's code, then their login
/// (a screenshot of the setup page in `shots`, when given).
pub async fn setup_owner(client: &Client, code: &str, shots: Option<&std::path::Path>) {
    client.goto(CONSOLE).await.expect("console loads");
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("setup")).await.expect("first-run setup");
    if let Some(dir) = shots {
        shot(client, dir, "setup").await;
    }
    fill(client, "code", code).await;
    fill(client, "username", "owner").await;
    fill(client, "password", "owner password 1").await;
    client.find(Locator::Id("setup")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("login")).await.expect("then the login");
    login(client, "owner", "owner password 1").await;
}

pub async fn login(client: &Client, username: &str, password: &str) {
    client.goto(&format!("{CONSOLE}login")).await.unwrap();
    fill(client, "username", username).await;
    fill(client, "password", password).await;
    client.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("me")).await.expect("signed in");
}
