//! Firmware for the APs: upload (an image and its signed manifest,
//! checked before it is kept), a staged rollout with its progress, and a
//! halt before the next AP. Through the one door, audited.

use super::radio::NameForm;
use super::{csrf_ok, csrf_refused, need, page, Console, Me, Member, Page, Posted, Strings};
use crate::control::{ErrorKind, Reply, Request};
use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// The largest firmware image taken from the console, bytes.
const MAX_IMAGE: usize = 64 * 1024 * 1024;

/// The firmware routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route(
            "/console/firmware",
            get(firmware).post(upload).layer(axum::extract::DefaultBodyLimit::max(MAX_IMAGE + 64 * 1024)),
        )
        .route("/console/firmware/rollout", post(rollout))
        .route("/console/firmware/halt", post(halt))
}

#[derive(Template)]
#[template(path = "console/firmware.html")]
struct FirmwarePage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    ac_on: bool,
    status: Option<crate::ac::rollout::RolloutStatus>,
    running: bool,
    /// Percent of the rollout's APs upgraded.
    percent: usize,
    /// (AP, model, firmware, online, last seen).
    aps: Vec<(String, String, String, bool, String)>,
}

async fn firmware(m: Member<need::Radio>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(firmware_page(&console, &m, None, StatusCode::OK).await?))
}

async fn firmware_page(console: &Console, m: &Member<need::Radio>, notice: Option<String>, code: StatusCode) -> Page {
    let (ac_on, aps) = match console.ask(m, Request::ApsList).await {
        Reply::Aps { aps } => (true, aps),
        Reply::Error { kind: ErrorKind::NotFound, .. } => (false, Vec::new()),
        other => return Err(m.refused(other)),
    };
    let status = match console.ask(m, Request::FirmwareStatus).await {
        Reply::Rollout { status } => status,
        _ => None,
    };
    let percent = status.as_ref().map_or(0, |s| {
        let total = s.upgraded.len() + s.remaining.len();
        (s.upgraded.len() * 100).checked_div(total).unwrap_or(100)
    });
    let view = FirmwarePage {
        t: m.t,
        me: Some(m.me()),
        notice,
        csrf: m.signed.csrf.clone(),
        ac_on,
        running: status.as_ref().is_some_and(|s| s.stage.running()),
        status,
        percent,
        aps: aps
            .into_iter()
            .filter(|a| a.state == "adopted")
            .map(|a| (a.device_id, a.model, a.firmware, a.online, m.t.ago(a.last_seen_at)))
            .collect(),
    };
    Ok(page(code, view.render()))
}

/// A refusal as the firmware page shows it: the AC off, or why.
async fn refused_here(console: &Console, m: &Member<need::Radio>, reply: Reply) -> Page {
    match reply {
        Reply::Error { kind: ErrorKind::NotFound, .. } if console.handles.ac.is_none() => {
            firmware_page(console, m, Some(m.t.ac_off.clone()), StatusCode::NOT_FOUND).await
        }
        Reply::Error { kind: kind @ (ErrorKind::Invalid | ErrorKind::Conflict | ErrorKind::NotFound), message } => {
            let notice = format!("{}{message}", m.t.bad_input);
            firmware_page(console, m, Some(notice), crate::admin::api::status(kind)).await
        }
        other => Err(m.refused(other)),
    }
}

/// `POST /console/firmware` (multipart): an image and its signature,
/// checked against the signed manifest before it is kept.
async fn upload(m: Member<need::Radio>, State(console): State<Arc<Console>>, mut multipart: Multipart) -> Page {
    let (mut fields, mut image, mut signature) = (std::collections::BTreeMap::new(), Vec::new(), Vec::new());
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let Ok(bytes) = field.bytes().await else {
                    return firmware_page(&console, &m, Some(m.t.too_large.clone()), StatusCode::PAYLOAD_TOO_LARGE)
                        .await;
                };
                match name.as_str() {
                    "image" => image = bytes.to_vec(),
                    "signature" => signature = bytes.to_vec(),
                    _ => {
                        fields.insert(name, String::from_utf8_lossy(&bytes).chars().take(100).collect::<String>());
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                return firmware_page(&console, &m, Some(m.t.too_large.clone()), StatusCode::PAYLOAD_TOO_LARGE).await
            }
        }
    }
    if !csrf_ok(&m.signed, fields.get("csrf").map_or("", String::as_str)) {
        return Err(super::ConsoleError::from(csrf_refused(m.t, Some(&m.signed))));
    }
    let field = |k: &str| fields.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (version, model) = (field("version"), field("model"));
    let size = image.len();
    let request = Request::FirmwareImage { version: version.clone(), model: model.clone(), image, signature };
    match console.ask(&m, request).await {
        Reply::Done => {
            let notice = format!("{} {model} {version} ({size} bytes)", m.t.firmware_accepted);
            firmware_page(&console, &m, Some(notice), StatusCode::OK).await
        }
        other => refused_here(&console, &m, other).await,
    }
}

async fn rollout(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Radio, NameForm>,
) -> Page {
    let request = Request::FirmwareRollout {
        version: form.version.trim().to_string(),
        allow_downgrade: form.allow_downgrade.is_some(),
    };
    match console.ask(&m, request).await {
        Reply::Rollout { status: Some(status) } => {
            let notice = format!("{} {} → {} APs", m.t.rollout_started, status.version, status.remaining.len());
            firmware_page(&console, &m, Some(notice), StatusCode::OK).await
        }
        other => refused_here(&console, &m, other).await,
    }
}

async fn halt(
    State(console): State<Arc<Console>>,
    Posted { member: m, .. }: Posted<need::Radio, super::setup::CsrfForm>,
) -> Page {
    match console.ask(&m, Request::FirmwareHalt).await {
        Reply::Rollout { status: Some(status) } => {
            let what = format!("{} upgraded, {} kept", status.upgraded.len(), status.remaining.len());
            firmware_page(&console, &m, Some(format!("{} {what}", m.t.rollout_halted)), StatusCode::OK).await
        }
        other => refused_here(&console, &m, other).await,
    }
}
