//! The admin's settings page: the venue, the session length, which login
//! methods are on, the walled garden. A change is checked as the whole
//! configuration it makes, saved, audited (what changed, before and after),
//! and applied by restarting the controller (guests online stay online).

use super::{failed, me, need, page, Console, Csrf, Me, Member, Posted, Strings};
use crate::settings::{Settings, SettingsError};
use crate::staff::Signed;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;

/// The page's route.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new().route("/console/settings", get(show).post(save))
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    s: Settings,
    /// (method, label, on, headquarters manages it).
    methods: Vec<(&'static str, &'a str, bool, bool)>,
    garden: String,
    /// Saved settings wait for a restart.
    pending: bool,
    /// Settings pinned by `GUESTWIFI_*` variables (the console cannot change them).
    pinned: Vec<String>,
    /// The console can save (it knows the configuration file).
    editable: bool,
    /// Headquarters manages the session's length, the walled garden.
    hq_session: bool,
    hq_garden: bool,
    /// Headquarters manages any of them.
    hq_any: bool,
}

fn label<'a>(t: &'a Strings, method: &'a str) -> &'a str {
    t.method_name(method)
}

/// The settings form: every field by name.
type SettingsForm = HashMap<String, String>;

impl Csrf for SettingsForm {
    fn csrf(&self) -> &str {
        self.get("csrf").map_or("", |v| v.trim())
    }
}

async fn show(m: Member<need::Settings>, State(console): State<Arc<Console>>) -> Response {
    m.keep_lang(settings_page(&console, m.t, &m.signed, None, None, StatusCode::OK))
}

fn settings_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    shown: Option<Settings>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let Some(running) = &console.config else {
        return super::message(t, Some(me(signed)), StatusCode::NOT_FOUND, &t.error_title, t.none.clone());
    };
    let pending = Settings::pending(running);
    let s = shown.or_else(|| pending.clone()).unwrap_or_else(|| Settings::of(running));
    let pinned = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("GUESTWIFI_VENUE__")
                || k.starts_with("GUESTWIFI_SESSION__")
                || k.starts_with("GUESTWIFI_WALLED_GARDEN__")
                || (k.starts_with("GUESTWIFI_AUTH__") && k.ends_with("__ENABLED"))
        })
        .map(|(k, _)| k)
        .collect();
    let hq = crate::hq::settings::managed_here(&running.data.dir);
    let view = SettingsPage {
        t,
        me: Some(me(signed)),
        notice,
        csrf: signed.csrf.clone(),
        methods: s
            .methods
            .iter()
            .map(|(m, on)| (*m, label(t, m), *on, hq.contains(&format!("auth.{m}.enabled"))))
            .collect(),
        hq_session: hq.contains("session.length_seconds"),
        hq_garden: hq.contains("walled_garden.names"),
        hq_any: !hq.is_empty(),
        garden: s.garden.join("\n"),
        s,
        pending: pending.is_some(),
        pinned,
        editable: running.source.is_some(),
    };
    page(status, view.render())
}

/// `POST /console/settings`.
async fn save(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Settings, SettingsForm>,
) -> Response {
    let field = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (t, signed) = (m.t, &m.signed);
    let (Some(running), Some(path)) = (&console.config, console.config.as_ref().and_then(|c| c.source.clone())) else {
        return super::message(t, Some(me(signed)), StatusCode::NOT_FOUND, &t.error_title, t.none.clone());
    };
    let before = Settings::pending(running).unwrap_or_else(|| Settings::of(running));
    // What headquarters manages keeps its value: a local one would lie under HQ's.
    let hq = crate::hq::settings::managed_here(&running.data.dir);
    let minutes = field("session_minutes").parse::<u64>().unwrap_or(0);
    let settings = Settings {
        venue_name: field("venue_name"),
        tagline_zh: field("tagline_zh"),
        tagline_en: field("tagline_en"),
        info_url: field("info_url"),
        session_minutes: if hq.contains("session.length_seconds") { before.session_minutes } else { minutes },
        methods: before
            .methods
            .iter()
            .map(|(m, was)| match hq.contains(&format!("auth.{m}.enabled")) {
                true => (*m, *was),
                false => (*m, form.contains_key(&format!("method_{m}"))),
            })
            .collect(),
        first_method: Some(field("first_method"))
            .filter(|m| m.is_empty() || crate::settings::METHODS.contains(&m.as_str()))
            .unwrap_or_default(),
        garden: match hq.contains("walled_garden.names") {
            true => before.garden.clone(),
            false => field("garden")
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|n| !n.is_empty())
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        },
    };
    let saved = {
        let (settings, dir) = (settings.clone(), running.data.dir.clone());
        tokio::task::spawn_blocking(move || settings.save(&path, &dir)).await
    };
    match saved {
        Ok(Ok(_)) => {
            let (b, a) = Settings::changes(&before, &settings);
            // Settings are a file and a restart, not a door request: audited here.
            console.people().audit(&m.actor(), "settings.save", "settings", &b, &a).await;
            let notice = match &console.restart {
                Some(restart) => {
                    restart();
                    t.settings_restarting.clone()
                }
                None => t.settings_saved.clone(),
            };
            settings_page(&console, t, signed, Some(settings), Some(notice), StatusCode::OK)
        }
        Ok(Err(err @ (SettingsError::Invalid(_) | SettingsError::Config(_)))) => {
            tracing::warn!(user = %signed.username, error = %crate::error_chain(&err), "settings refused");
            let notice = format!("{}{}", t.bad_input, crate::error_chain(&err));
            settings_page(&console, t, signed, Some(settings), Some(notice), StatusCode::BAD_REQUEST)
        }
        Ok(Err(err)) => failed(t, Some(signed), &err),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

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
            h.open_user(&admin, "desk", "frontdesk").await;
            h.login("desk", "a long password").await
        };
        assert_eq!(h.send("GET", "/console/settings", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn settings_headquarters_manages_show_as_such_and_a_save_keeps_them() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let overlay = "[session]\nlength_seconds = 7200\n\n[auth.countdown]\nenabled = true\n";
        std::fs::write(h.dir.path().join(crate::config::HQ_SETTINGS_FILE), overlay).unwrap();
        let page = h.send("GET", "/console/settings", &[], &[&admin]).await;
        assert!(page.body.contains("id=\"hq-session\"") && page.body.contains("id=\"hq-managed\""), "{}", page.body);
        assert!(page.body.contains("id=\"method-countdown\" checked disabled"), "{}", page.body);
        assert!(!page.body.contains("id=\"hq-garden\""), "the garden stays the site's");
        let csrf = page.field("csrf");
        let form = [
            ("csrf", csrf.as_str()),
            ("venue_name", "川味小馆"),
            ("session_minutes", "90"),
            ("garden", "pay.example.cn"),
        ];
        let saved = h.send("POST", "/console/settings", &form, &[&admin]).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let local = std::fs::read_to_string(h.dir.path().join(crate::config::SETTINGS_FILE)).unwrap();
        assert!(!local.contains("5400"), "HQ's session length is not overwritten by the form: {local}");
        assert!(local.contains("pay.example.cn"), "the site's own settings are saved");
        let next = crate::config::Config::load(&h.config_path, Vec::new()).unwrap();
        assert!(next.auth.countdown.enabled, "an unticked managed method stays as HQ has it");
        assert_eq!(next.session.length_seconds, 7200);
    }
}
