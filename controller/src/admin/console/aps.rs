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
    Router::new().route("/console/aps", get(aps)).route("/console/aps/adopt", post(adopt))
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
}

async fn aps(m: Member<need::Radio>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(aps_page(&console, &m, None, StatusCode::OK).await?))
}

async fn aps_page(console: &Console, m: &Member<need::Radio>, notice: Option<String>, status: StatusCode) -> Page {
    let render = |ac_on, aps| {
        Ok(page(status, ApsPage { t: m.t, me: Some(m.me()), notice, csrf: m.signed.csrf.clone(), ac_on, aps }.render()))
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
