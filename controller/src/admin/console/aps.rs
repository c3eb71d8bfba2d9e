//! The admin's APs: state, firmware and clients of each, and adoption of a
//! pending AP, only with the start of its key's fingerprint.

use super::{csrf_forms, need, page, Console, Me, Member, Page, Posted, Strings};
use crate::control::{ErrorKind, Reply, Request};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// The APs' routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/aps", get(aps))
        .route("/console/aps/adopt", post(adopt))
        .route("/console/aps/zone", post(zone))
}

/// An AP as the admin sees it.
struct ApRow {
    device_id: String,
    model: String,
    mac: String,
    firmware: String,
    state: String,
    online: bool,
    clients: usize,
    /// Its key's fingerprint, the start of it.
    fingerprint: String,
    /// The zone of the restaurant it serves.
    zone: String,
}

#[derive(Template)]
#[template(path = "console/aps.html")]
struct ApsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    ac_on: bool,
    aps: Vec<ApRow>,
    /// Every zone named so far, for the zone fields' suggestions.
    zones: Vec<String>,
}

async fn aps(m: Member<need::Radio>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(aps_page(&console, &m, None, StatusCode::OK).await?))
}

async fn aps_page(console: &Console, m: &Member<need::Radio>, notice: Option<String>, status: StatusCode) -> Page {
    let render = |ac_on, aps: Vec<ApRow>| {
        let mut zones: Vec<String> = aps.iter().map(|a| a.zone.clone()).filter(|z| !z.is_empty()).collect();
        zones.sort();
        zones.dedup();
        let view = ApsPage { t: m.t, me: Some(m.me()), notice, csrf: m.signed.csrf.clone(), ac_on, aps, zones };
        Ok(page(status, view.render()))
    };
    let aps = match console.ask(m, Request::ApsList).await {
        Reply::Aps { aps } => aps,
        Reply::Error { kind: ErrorKind::NotFound, .. } => return render(false, Vec::new()),
        other => return Err(m.refused(other)),
    };
    let stations = match console.ask(m, Request::StationsList).await {
        Reply::Stations { stations } => stations,
        other => return Err(m.refused(other)),
    };
    let rows = aps
        .into_iter()
        .map(|a| ApRow {
            clients: stations.iter().filter(|s| s.1 == a.device_id).count(),
            fingerprint: a.fingerprint.chars().take(16).collect(),
            device_id: a.device_id,
            model: a.model,
            mac: a.mac,
            firmware: a.firmware,
            state: a.state,
            online: a.online,
            zone: a.zone,
        })
        .collect();
    render(true, rows)
}

#[derive(Deserialize)]
struct AdoptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    fingerprint: String,
}

csrf_forms!(AdoptForm);

/// Adopts a pending AP: only with the start of its key's fingerprint (the
/// admin reads it off the AP), never "any key" from the console.
async fn adopt(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Radio, AdoptForm>,
) -> Page {
    let fingerprint = form.fingerprint.trim().to_ascii_lowercase();
    let request = Request::ApsAdopt { device_id: form.device_id.clone(), fingerprint: Some(fingerprint) };
    match console.ask(&m, request).await {
        Reply::Done => {
            aps_page(&console, &m, Some(format!("{}{}", m.t.ap_adopted, form.device_id)), StatusCode::OK).await
        }
        Reply::Error {
            kind: kind @ (ErrorKind::Invalid | ErrorKind::NotFound | ErrorKind::Conflict),
            message: why,
        } => {
            tracing::warn!(user = %m.signed.username, ap = %form.device_id, "console adoption refused");
            aps_page(&console, &m, Some(format!("{}{why}", m.t.bad_input)), crate::admin::api::status(kind)).await
        }
        other => Err(m.refused(other)),
    }
}

#[derive(Deserialize)]
struct ZoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    zone: String,
}

csrf_forms!(ZoneForm);

/// Puts an AP in a zone of the restaurant (an empty one takes it out): for
/// footfall, from the next guest it sees on; it changes no AP's configuration.
async fn zone(State(console): State<Arc<Console>>, Posted { member: m, form }: Posted<need::Radio, ZoneForm>) -> Page {
    let zone = form.zone.trim().to_string();
    let request = Request::ApsSet {
        device_id: form.device_id.clone(),
        floor: None,
        zone: Some(zone.clone()),
        radio: None,
        channel: None,
        tx_power_dbm: None,
    };
    match console.ask(&m, request).await {
        Reply::ConfigVersion { .. } => {
            let notice = format!("{}{} · {zone}", m.t.ap_zone_saved, form.device_id);
            aps_page(&console, &m, Some(notice), StatusCode::OK).await
        }
        Reply::Error { kind: kind @ (ErrorKind::Invalid | ErrorKind::NotFound), message: why } => {
            aps_page(&console, &m, Some(format!("{}{why}", m.t.bad_input)), crate::admin::api::status(kind)).await
        }
        other => Err(m.refused(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[tokio::test]
    async fn an_admin_puts_aps_in_zones_and_the_statistics_show_where_guests_spent_their_time() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let ac = h.handles.ac.clone().unwrap();
        let registry = ac.registry();
        for n in 1..=2 {
            let hello = ap_protocol::Hello {
                min_version: 1,
                max_version: 1,
                device_id: format!("ap-{n}"),
                model: "test-ap".into(),
                mac: format!("02:00:00:00:0{n}:00"),
                firmware: "1.0".into(),
                radios: vec![],
                public_key_pem: String::new(),
                config_version: 0,
                controller_pinned: true,
            };
            registry.pending_hello(&hello).await.unwrap();
            registry.adopt(&format!("ap-{n}"), None).await.unwrap();
        }
        let version = registry.version().await.unwrap();
        let csrf = h.csrf(&admin, "/console/aps").await;
        for (ap, zone) in [("ap-1", " 大堂 "), ("ap-2", "露台")] {
            let saved = h
                .send("POST", "/console/aps/zone", &[("csrf", &csrf), ("device_id", ap), ("zone", zone)], &[&admin])
                .await;
            assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        }
        let page = h.send("GET", "/console/aps", &[], &[&admin]).await;
        assert!(page.body.contains("value=\"大堂\" list=\"zone-names\" maxlength=\"24\" size=\"8\" placeholder=\"如 大堂\" id=\"zone-ap-1\""), "{}", page.body);
        assert!(page.body.contains("<option value=\"露台\">"), "zones named so far are suggested");
        assert_eq!(registry.version().await.unwrap(), version, "a zone changes no AP's configuration");
        // A name too long, or an AP that does not exist: refused, nothing changed.
        let long = "包".repeat(25);
        let bad = h
            .send("POST", "/console/aps/zone", &[("csrf", &csrf), ("device_id", "ap-1"), ("zone", &long)], &[&admin])
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let ghost = h
            .send("POST", "/console/aps/zone", &[("csrf", &csrf), ("device_id", "ap-9"), ("zone", "x")], &[&admin])
            .await;
        assert_eq!(ghost.status, StatusCode::NOT_FOUND);
        assert_eq!(ac.list().await.unwrap()[0].zone, "大堂");

        // Two guests: one in the hall then out on the terrace, one on the terrace.
        let now = crate::kit::time::now_ms();
        let (a, b) = ("02:00:00:00:0a:01", "02:00:00:00:0b:01");
        registry.station("ap-1", "wlan0", a, true, now - 50 * 60_000).await.unwrap();
        registry.station("ap-2", "wlan0", a, true, now - 20 * 60_000).await.unwrap();
        registry.station("ap-2", "wlan0", b, true, now - 5 * 60_000).await.unwrap();
        // Moving the AP afterwards does not move where the guests were.
        let csrf = h.csrf(&admin, "/console/aps").await;
        h.send("POST", "/console/aps/zone", &[("csrf", &csrf), ("device_id", "ap-2"), ("zone", "包间")], &[&admin])
            .await;

        h.open_user(&admin, "mkt", "marketer").await;
        let mkt = h.login("mkt", "a long password").await;
        let stats = h.send("GET", "/console/stats", &[], &[&mkt]).await;
        assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
        let footfall = &stats.body[stats.body.find("id=\"footfall\"").expect("a footfall section")..];
        assert!(footfall.contains("<td>露台</td><td>2</td>"), "two visits on the terrace: {footfall}");
        assert!(footfall.contains("<td>大堂</td><td>1</td>"), "{footfall}");
        assert!(!footfall.contains("包间"), "the terrace's AP moved after they were there");
        assert!(footfall.contains("<td>大堂 → 露台</td><td>1</td>"), "{footfall}");
        assert!(footfall.contains("class=\"heat\""), "a heat picture of zones by hour");
        assert!(!footfall.contains(a) && !footfall.contains(b), "no device in the statistics");
        let csv = h.send("GET", "/console/stats.csv", &[], &[&mkt]).await;
        assert!(csv.body.contains("\"露台\",2,"), "{}", csv.body);
        // The marketer cannot put an AP in a zone.
        let csrf = h.csrf(&mkt, "/console/stats").await;
        let denied = h
            .send("POST", "/console/aps/zone", &[("csrf", &csrf), ("device_id", "ap-1"), ("zone", "x")], &[&mkt])
            .await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
    }
}
