//! The admin's Wi-Fi pages: SSIDs (one set on every AP), the channel plan
//! as a picture with its interference explained, and firmware (upload,
//! staged rollout, halt). Every change goes through the `Ac` facade, as the
//! CLI's and the API's do, and into the staff audit log (keys never).

use super::{
    ago, csrf_ok, csrf_refused, failed, lang_of, me, page, posted, require, strings, viewed, Console, LangQuery, Me,
    Strings,
};
use crate::ac::registry::RadioView;
use crate::ac::server::AcError;
use crate::staff::{Role, Signed};
use ap_protocol::{Band, Security, Ssid};
use askama::Template;
use axum::extract::{ConnectInfo, Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use plotters::prelude::*;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

const ADMINS: &[Role] = &[Role::Admin];

/// The largest firmware image taken from the console, bytes.
const MAX_IMAGE: usize = 64 * 1024 * 1024;

/// The pages' routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/ssids", get(ssids).post(put_ssid))
        .route("/console/ssids/remove", post(remove_ssid))
        .route("/console/plan", get(plan).post(replan))
        .route(
            "/console/firmware",
            get(firmware).post(upload).layer(axum::extract::DefaultBodyLimit::max(MAX_IMAGE + 64 * 1024)),
        )
        .route("/console/firmware/rollout", post(rollout))
        .route("/console/firmware/halt", post(halt))
}

/// An SSID as the page lists it (its key never).
struct SsidRow {
    name: String,
    security: &'static str,
    vlan: String,
    bands: String,
    hidden: bool,
    isolation: bool,
    portal: bool,
}

fn security_name(s: Security) -> &'static str {
    match s {
        Security::Open => "open",
        Security::Wpa2Psk => "wpa2_psk",
        Security::Wpa3Sae => "wpa3_sae",
        Security::Wpa2Wpa3 => "wpa2_wpa3",
    }
}

fn bands_text(bands: &[Band]) -> String {
    bands.iter().map(|b| if *b == Band::G2_4 { "2.4 GHz" } else { "5 GHz" }).collect::<Vec<_>>().join(" + ")
}

#[derive(Template)]
#[template(path = "console/ssids.html")]
struct SsidsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    ac_on: bool,
    ssids: Vec<SsidRow>,
}

async fn ssids(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, ADMINS).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    super::keep_lang(ssids_page(&console, t, &signed, None, StatusCode::OK).await, &q, lang)
}

async fn ssids_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let list = match &console.handles.ac {
        Some(ac) => match ac.ssids().await {
            Ok(list) => list,
            Err(err) => return failed(t, Some(signed), &err),
        },
        None => Vec::new(),
    };
    let ssids = list
        .into_iter()
        .map(|s| SsidRow {
            security: security_name(s.security),
            vlan: s.vlan.map(|v| v.to_string()).unwrap_or_default(),
            bands: bands_text(&s.bands),
            hidden: s.hidden,
            isolation: s.client_isolation,
            portal: s.captive_portal,
            name: s.name,
        })
        .collect();
    let view = SsidsPage {
        t,
        me: Some(me(signed)),
        notice,
        csrf: signed.csrf.clone(),
        ac_on: console.handles.ac.is_some(),
        ssids,
    };
    page(status, view.render())
}

#[derive(Deserialize, Default)]
struct SsidForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    vlan: String,
    #[serde(default)]
    band_24: Option<String>,
    #[serde(default)]
    band_5: Option<String>,
    #[serde(default)]
    hidden: Option<String>,
    #[serde(default)]
    isolation: Option<String>,
    #[serde(default)]
    portal: Option<String>,
}

/// `POST /console/ssids`: adds an SSID, or changes the one of that name
/// (an empty key keeps its key); checked by the rules the AP agent checks
/// with, then pushed to every AP.
async fn put_ssid(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SsidForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, ADMINS, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(ac) = &console.handles.ac else {
        return ssids_page(&console, t, &signed, Some(t.ac_off.clone()), StatusCode::NOT_FOUND).await;
    };
    let existing = match ac.ssids().await {
        Ok(list) => list.into_iter().find(|s| s.name == form.name.trim()),
        Err(err) => return failed(t, Some(&signed), &err),
    };
    let bad = |why: String| format!("{}{why}", t.bad_input);
    let security = match form.security.as_str() {
        "open" => Security::Open,
        "wpa2_psk" => Security::Wpa2Psk,
        "wpa3_sae" => Security::Wpa3Sae,
        "wpa2_wpa3" => Security::Wpa2Wpa3,
        other => {
            let notice = bad(format!("{other:?}"));
            return ssids_page(&console, t, &signed, Some(notice), StatusCode::BAD_REQUEST).await;
        }
    };
    let vlan = match form.vlan.trim() {
        "" => None,
        v => match v.parse::<u16>() {
            Ok(v) => Some(v),
            Err(_) => {
                let notice = bad(format!("VLAN {v:?}"));
                return ssids_page(&console, t, &signed, Some(notice), StatusCode::BAD_REQUEST).await;
            }
        },
    };
    let key = match (form.key.as_str(), &existing) {
        ("", Some(old)) if security != Security::Open => old.key.clone(),
        (_, _) if security == Security::Open => String::new(),
        (key, _) => key.to_string(),
    };
    let ssid = Ssid {
        name: form.name.trim().to_string(),
        security,
        key,
        vlan,
        hidden: form.hidden.is_some(),
        client_isolation: form.isolation.is_some(),
        captive_portal: form.portal.is_some(),
        bands: [(form.band_24.is_some(), Band::G2_4), (form.band_5.is_some(), Band::G5)]
            .into_iter()
            .filter_map(|(on, b)| on.then_some(b))
            .collect(),
    };
    if let Err(err) = ssid.check() {
        return ssids_page(&console, t, &signed, Some(bad(err.to_string())), StatusCode::BAD_REQUEST).await;
    }
    match ac.put_ssid(&ssid).await {
        Ok(version) => {
            // The audit log says the key changed, never what it is.
            let describe = |s: &Ssid, key_changed: bool| {
                format!(
                    "{} · {} · VLAN {:?} · hidden {} · isolation {} · portal {}{}",
                    security_name(s.security),
                    bands_text(&s.bands),
                    s.vlan,
                    s.hidden,
                    s.client_isolation,
                    s.captive_portal,
                    if key_changed { " · key changed" } else { "" }
                )
            };
            let key_changed = existing.as_ref().is_none_or(|old| old.key != ssid.key) && !ssid.key.is_empty();
            let before = existing.as_ref().map(|s| describe(s, false)).unwrap_or_default();
            let after = describe(&ssid, key_changed);
            console.staff.audit(&signed, "ssid.put", &ssid.name, &before, &after, peer.ip()).await;
            let notice = format!("{} {} (v{version})", t.ssid_saved, ssid.name);
            ssids_page(&console, t, &signed, Some(notice), StatusCode::OK).await
        }
        Err(err) => ac_failed(t, &signed, err),
    }
}

fn ac_failed(t: &Strings, signed: &Signed, err: AcError) -> Response {
    let status = match &err {
        AcError::Registry(crate::ac::registry::RegistryError::UnknownAp(_)) => StatusCode::NOT_FOUND,
        AcError::Registry(crate::ac::registry::RegistryError::BadSsid(_)) => StatusCode::BAD_REQUEST,
        AcError::Rollout(_) | AcError::Firmware(_) => StatusCode::CONFLICT,
        _ => return failed(t, Some(signed), &err),
    };
    tracing::warn!(user = %signed.username, error = %err, "AC change refused");
    super::message(t, Some(me(signed)), status, &t.error_title, err.to_string())
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    allow_downgrade: Option<String>,
}

async fn remove_ssid(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<NameForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, ADMINS, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(ac) = &console.handles.ac else {
        return ssids_page(&console, t, &signed, Some(t.ac_off.clone()), StatusCode::NOT_FOUND).await;
    };
    match ac.remove_ssid(&form.name).await {
        Ok(version) => {
            console.staff.audit(&signed, "ssid.remove", &form.name, &form.name, "", peer.ip()).await;
            let notice = format!("{} {} (v{version})", t.remove, form.name);
            ssids_page(&console, t, &signed, Some(notice), StatusCode::OK).await
        }
        Err(AcError::Registry(crate::ac::registry::RegistryError::BadSsid(_))) => {
            ssids_page(&console, t, &signed, Some(t.none.clone()), StatusCode::NOT_FOUND).await
        }
        Err(err) => ac_failed(t, &signed, err),
    }
}

/// A radio's row beside the picture.
struct RadioRow {
    id: String,
    band: &'static str,
    channel: String,
    power: String,
    reason: String,
    /// (other radio, dBm, shares the channel).
    heard: Vec<(String, i16, bool)>,
    /// Hears a radio on an overlapping channel louder than [`LOUD_DBM`].
    clash: bool,
}

/// Louder than this, two radios on overlapping channels hurt each other.
const LOUD_DBM: i16 = -80;

/// Two channels overlap (20 MHz: 2.4 GHz channels fewer than 5 apart; 5 GHz only the same).
fn overlap(a: u16, b: u16) -> bool {
    if a <= 14 && b <= 14 {
        a.abs_diff(b) < 5
    } else {
        a == b
    }
}

fn rows(radios: &[RadioView]) -> Vec<RadioRow> {
    radios
        .iter()
        .map(|r| {
            let heard: Vec<(String, i16, bool)> = r
                .heard
                .iter()
                .map(|(other, rssi)| {
                    let theirs = radios.iter().find(|x| &x.id == other).and_then(|x| x.channel);
                    let shares = matches!((r.channel, theirs), (Some(a), Some(b)) if overlap(a, b));
                    (other.clone(), *rssi, shares)
                })
                .collect();
            RadioRow {
                id: r.id.clone(),
                band: if r.band == Band::G2_4 { "2.4 GHz" } else { "5 GHz" },
                channel: match (r.channel, r.fixed) {
                    (Some(c), true) => format!("{c} (fixed)"),
                    (Some(c), false) => c.to_string(),
                    (None, _) => "—".into(),
                },
                power: match (r.fixed_tx_power_dbm, r.power_reduction_db) {
                    (Some(dbm), _) => format!("{dbm} dBm (fixed)"),
                    (None, 0) => "full".into(),
                    (None, db) => format!("−{db} dB"),
                },
                reason: r.reason.clone(),
                clash: heard.iter().any(|(_, rssi, shares)| *shares && *rssi > LOUD_DBM),
                heard,
            }
        })
        .collect()
}

/// The band's picture: a row per radio, a bar over the channels its
/// 20 MHz covers, red where it hears a radio whose bar overlaps it.
fn plan_svg(caption: &str, band: Band, radios: &[RadioView], rows: &[RadioRow]) -> Option<String> {
    let mine: Vec<(&RadioView, &RadioRow)> =
        radios.iter().zip(rows).filter(|(r, _)| r.band == band && r.channel.is_some()).collect();
    if mine.is_empty() {
        return None;
    }
    let (lo, hi) = match band {
        Band::G2_4 => (-1.0f64, 15.0f64),
        Band::G5 => {
            let channels = mine.iter().filter_map(|(r, _)| r.channel).map(f64::from);
            let (min, max) = channels.fold((f64::MAX, f64::MIN), |(a, b), c| (a.min(c), b.max(c)));
            (min - 8.0, max + 8.0)
        }
    };
    let mut svg = String::new();
    {
        let height = 60 + 34 * mine.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (640, height)).into_drawing_area();
        let _ = draw_plan(&root, caption, lo..hi, &mine);
        let _ = root.present();
    }
    Some(svg)
}

fn draw_plan<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x: std::ops::Range<f64>,
    radios: &[(&RadioView, &RadioRow)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = radios.len() as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(8)
        .build_cartesian_2d(x, -0.5f64..n - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("channel")
        .x_label_formatter(&|c| format!("{c:.0}"))
        .draw()?;
    for (i, (radio, row)) in radios.iter().enumerate() {
        let Some(c) = radio.channel else { continue };
        let c = f64::from(c);
        let y = n - 1.0 - i as f64;
        let colour = if row.clash { RGBColor(200, 16, 46) } else { RGBColor(46, 125, 50) };
        // Weaker power, paler bar.
        let alpha = 1.0 - f64::from(radio.power_reduction_db.min(12)) / 20.0;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(c - 2.0, y - 0.35), (c + 2.0, y + 0.35)],
            colour.mix(alpha).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{} · ch {} · {}", radio.id, row.channel, row.power),
            (c + 2.3, y + 0.15),
            ("sans-serif", 13),
        )))?;
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "console/plan.html")]
struct PlanPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    ac_on: bool,
    pictures: Vec<String>,
    rows: Vec<RadioRow>,
}

async fn plan(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, ADMINS).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    super::keep_lang(plan_page(&console, t, &signed, None).await, &q, lang)
}

async fn plan_page(console: &Console, t: &Strings, signed: &Signed, notice: Option<String>) -> Response {
    let radios = match &console.handles.ac {
        Some(ac) => match ac.radios().await {
            Ok(r) => r,
            Err(err) => return failed(t, Some(signed), &err),
        },
        None => Vec::new(),
    };
    let rows = rows(&radios);
    let pictures = [(Band::G2_4, "2.4 GHz"), (Band::G5, "5 GHz")]
        .into_iter()
        .filter_map(|(band, caption)| plan_svg(caption, band, &radios, &rows))
        .collect();
    let view = PlanPage {
        t,
        me: Some(me(signed)),
        notice,
        csrf: signed.csrf.clone(),
        ac_on: console.handles.ac.is_some(),
        pictures,
        rows,
    };
    page(StatusCode::OK, view.render())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/plan`: plans again from the APs' latest scans and
/// pushes the result.
async fn replan(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, ADMINS, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(ac) = &console.handles.ac else {
        return plan_page(&console, t, &signed, Some(t.ac_off.clone())).await;
    };
    let before = ac.radios().await.map(|r| summary(&r)).unwrap_or_default();
    match ac.plan().await {
        Ok(plan) => {
            let after = ac.radios().await.map(|r| summary(&r)).unwrap_or_default();
            console.staff.audit(&signed, "plan.apply", "channels", &before, &after, peer.ip()).await;
            let notice = format!("{} {:.1}", t.plan_applied, plan.score + 0.0);
            plan_page(&console, t, &signed, Some(notice)).await
        }
        Err(err) => ac_failed(t, &signed, err),
    }
}

fn summary(radios: &[RadioView]) -> String {
    radios
        .iter()
        .map(|r| format!("{} ch{} -{}dB", r.id, r.channel.unwrap_or(0), r.power_reduction_db))
        .collect::<Vec<_>>()
        .join(", ")
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

async fn firmware(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, ADMINS).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    super::keep_lang(firmware_page(&console, t, &signed, None, StatusCode::OK).await, &q, lang)
}

async fn firmware_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    code: StatusCode,
) -> Response {
    let (status, aps) = match &console.handles.ac {
        Some(ac) => match ac.list().await {
            Ok(aps) => (ac.rollout_status(), aps),
            Err(err) => return failed(t, Some(signed), &err),
        },
        None => (None, Vec::new()),
    };
    let percent = status.as_ref().map_or(0, |s| {
        let total = s.upgraded.len() + s.remaining.len();
        (s.upgraded.len() * 100).checked_div(total).unwrap_or(100)
    });
    let view = FirmwarePage {
        t,
        me: Some(me(signed)),
        notice,
        csrf: signed.csrf.clone(),
        ac_on: console.handles.ac.is_some(),
        running: status.as_ref().is_some_and(|s| s.stage.running()),
        status,
        percent,
        aps: aps
            .into_iter()
            .filter(|a| a.state == "adopted")
            .map(|a| (a.device_id, a.model, a.firmware, a.online, ago(a.last_seen_at)))
            .collect(),
    };
    page(code, view.render())
}

/// `POST /console/firmware` (multipart): an image and its signature,
/// checked against the signed manifest before it is kept.
async fn upload(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let t = strings(lang_of(&headers, &LangQuery::default()));
    let signed = match require(&console, &headers, t, ADMINS).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (mut fields, mut image, mut signature) = (std::collections::BTreeMap::new(), Vec::new(), Vec::new());
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let Ok(bytes) = field.bytes().await else {
                    return firmware_page(
                        &console,
                        t,
                        &signed,
                        Some(t.too_large.clone()),
                        StatusCode::PAYLOAD_TOO_LARGE,
                    )
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
                return firmware_page(&console, t, &signed, Some(t.too_large.clone()), StatusCode::PAYLOAD_TOO_LARGE)
                    .await
            }
        }
    }
    if !csrf_ok(&signed, fields.get("csrf").map_or("", String::as_str)) {
        return csrf_refused(t, Some(&signed));
    }
    let Some(ac) = console.handles.ac.clone() else {
        return firmware_page(&console, t, &signed, Some(t.ac_off.clone()), StatusCode::NOT_FOUND).await;
    };
    let field = |k: &str| fields.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (version, model) = (field("version"), field("model"));
    let size = image.len();
    let (v, m) = (version.clone(), model.clone());
    let checked = tokio::task::spawn_blocking(move || ac.upload_firmware(&v, &m, image, &signature)).await;
    match checked {
        Ok(Ok(())) => {
            let what = format!("{model} {version} ({size} bytes)");
            console.staff.audit(&signed, "firmware.upload", &version, "", &what, peer.ip()).await;
            let notice = format!("{} {what}", t.firmware_accepted);
            firmware_page(&console, t, &signed, Some(notice), StatusCode::OK).await
        }
        Ok(Err(err)) => {
            tracing::warn!(user = %signed.username, error = %err, "firmware upload refused");
            let notice = format!("{}{err}", t.bad_input);
            firmware_page(&console, t, &signed, Some(notice), StatusCode::BAD_REQUEST).await
        }
        Err(_) => {
            firmware_page(&console, t, &signed, Some(t.error_title.clone()), StatusCode::INTERNAL_SERVER_ERROR).await
        }
    }
}

async fn rollout(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<NameForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, ADMINS, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(ac) = &console.handles.ac else {
        return firmware_page(&console, t, &signed, Some(t.ac_off.clone()), StatusCode::NOT_FOUND).await;
    };
    let (batch, wait) = (console.handles.firmware_batch, console.handles.firmware_wait);
    match ac.start_rollout(form.version.trim(), batch, wait, form.allow_downgrade.is_some()).await {
        Ok(status) => {
            let what = format!("{} → {} APs", status.version, status.remaining.len());
            console.staff.audit(&signed, "firmware.rollout", &status.version, "", &what, peer.ip()).await;
            firmware_page(&console, t, &signed, Some(format!("{} {what}", t.rollout_started)), StatusCode::OK).await
        }
        Err(AcError::Rollout(why)) => {
            firmware_page(&console, t, &signed, Some(format!("{}{why}", t.bad_input)), StatusCode::CONFLICT).await
        }
        Err(err) => ac_failed(t, &signed, err),
    }
}

async fn halt(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, ADMINS, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(ac) = &console.handles.ac else {
        return firmware_page(&console, t, &signed, Some(t.ac_off.clone()), StatusCode::NOT_FOUND).await;
    };
    match ac.halt_rollout(&signed.username) {
        Ok(status) => {
            let what = format!("{} upgraded, {} kept", status.upgraded.len(), status.remaining.len());
            console.staff.audit(&signed, "firmware.halt", &status.version, "running", &what, peer.ip()).await;
            firmware_page(&console, t, &signed, Some(format!("{} {what}", t.rollout_halted)), StatusCode::OK).await
        }
        Err(AcError::Rollout(why)) => {
            firmware_page(&console, t, &signed, Some(format!("{}{why}", t.bad_input)), StatusCode::CONFLICT).await
        }
        Err(err) => ac_failed(t, &signed, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn radio(id: &str, channel: u16, heard: &[(&str, i16)]) -> RadioView {
        RadioView {
            id: id.into(),
            band: if channel <= 14 { Band::G2_4 } else { Band::G5 },
            channel: Some(channel),
            fixed: false,
            fixed_tx_power_dbm: None,
            power_reduction_db: 3,
            reason: String::new(),
            heard: heard.iter().map(|(a, r)| (a.to_string(), *r)).collect(),
        }
    }

    #[test]
    fn the_picture_marks_radios_that_hear_each_other_on_overlapping_channels() {
        let radios = [
            radio("ap-1/wlan0", 1, &[("ap-2/wlan0", -50), ("ap-3/wlan0", -60)]),
            radio("ap-2/wlan0", 3, &[("ap-1/wlan0", -52)]),
            radio("ap-3/wlan0", 11, &[("ap-1/wlan0", -61)]),
            radio("ap-1/wlan1", 36, &[]),
        ];
        let rows = rows(&radios);
        assert!(rows[0].clash && rows[1].clash, "channels 1 and 3 overlap and hear each other loudly");
        assert!(!rows[2].clash, "11 is clear of 1");
        assert_eq!(rows[0].heard[1], ("ap-3/wlan0".to_string(), -60, false));
        assert_eq!(rows[0].power, "−3 dB");
        let svg = plan_svg("2.4 GHz", Band::G2_4, &radios, &rows).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("ap-3/wlan0 · ch 11"));
        assert!(svg.contains("#C8102E") || svg.to_ascii_lowercase().contains("#c8102e"), "a red bar");
        assert!(plan_svg("5 GHz", Band::G5, &radios, &rows).unwrap().contains("ap-1/wlan1"));
        assert!(plan_svg("5 GHz", Band::G5, &radios[..3], &rows[..3]).is_none());
    }
}
