//! The admin's Wi-Fi pages: SSIDs (one set on every AP) and the channel
//! plan as a picture with its interference explained. Every change goes
//! through the one door, as the CLI's and the API's do, and into the staff
//! audit log (keys never). APs are in `aps`, firmware in `firmware`.

use super::{need, page, Console, Me, Member, Page, Posted, Strings};
use crate::ac::registry::RadioView;
use crate::control::{ErrorKind, Reply, Request};
use ap_protocol::{Band, Security, Ssid};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use plotters::prelude::*;
use serde::Deserialize;
use std::sync::Arc;

/// The pages' routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/ssids", get(ssids).post(put_ssid))
        .route("/console/ssids/remove", post(remove_ssid))
        .route("/console/plan", get(plan).post(replan))
        .merge(super::aps::routes())
        .merge(super::firmware::routes())
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
        Security::OpenOwe => "open_owe",
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

async fn ssids(m: Member<need::Radio>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(ssids_page(&console, &m, None, StatusCode::OK).await?))
}

async fn ssids_page(console: &Console, m: &Member<need::Radio>, notice: Option<String>, status: StatusCode) -> Page {
    let (ac_on, list) = match console.ask(m, Request::SsidsList).await {
        Reply::Ssids { ssids } => (true, ssids),
        Reply::Error { kind: ErrorKind::NotFound, .. } => (false, Vec::new()),
        other => return Err(m.refused(other)),
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
    let view = SsidsPage { t: m.t, me: Some(m.me()), notice, csrf: m.signed.csrf.clone(), ac_on, ssids };
    Ok(page(status, view.render()))
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

#[derive(Deserialize)]
pub(super) struct NameForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub allow_downgrade: Option<String>,
}

super::csrf_forms!(SsidForm, NameForm);

/// `POST /console/ssids`: adds an SSID, or changes the one of that name
/// (an empty key keeps its key); checked by the rules the AP agent checks
/// with, then pushed to every AP.
async fn put_ssid(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Radio, SsidForm>,
) -> Page {
    let bad = |why: String| format!("{}{why}", m.t.bad_input);
    let security = match form.security.as_str() {
        "open" => Security::Open,
        "open_owe" => Security::OpenOwe,
        "wpa2_psk" => Security::Wpa2Psk,
        "wpa3_sae" => Security::Wpa3Sae,
        "wpa2_wpa3" => Security::Wpa2Wpa3,
        other => return ssids_page(&console, &m, Some(bad(format!("{other:?}"))), StatusCode::BAD_REQUEST).await,
    };
    let vlan = match form.vlan.trim() {
        "" => None,
        v => match v.parse::<u16>() {
            Ok(v) => Some(v),
            Err(_) => return ssids_page(&console, &m, Some(bad(format!("VLAN {v:?}"))), StatusCode::BAD_REQUEST).await,
        },
    };
    let ssid = Ssid {
        name: form.name.trim().to_string(),
        security,
        key: if matches!(security, Security::Open | Security::OpenOwe) { String::new() } else { form.key.clone() },
        vlan,
        hidden: form.hidden.is_some(),
        client_isolation: form.isolation.is_some(),
        captive_portal: form.portal.is_some(),
        bands: [(form.band_24.is_some(), Band::G2_4), (form.band_5.is_some(), Band::G5)]
            .into_iter()
            .filter_map(|(on, b)| on.then_some(b))
            .collect(),
    };
    let name = ssid.name.clone();
    match console.ask(&m, Request::SsidsPut { ssid }).await {
        Reply::ConfigVersion { version } => {
            let notice = format!("{} {name} (v{version})", m.t.ssid_saved);
            ssids_page(&console, &m, Some(notice), StatusCode::OK).await
        }
        Reply::Error { kind: kind @ (ErrorKind::Invalid | ErrorKind::NotFound), message } => {
            let notice = if kind == ErrorKind::NotFound { m.t.ac_off.clone() } else { bad(message) };
            ssids_page(&console, &m, Some(notice), crate::admin::api::status(kind)).await
        }
        other => Err(m.refused(other)),
    }
}

async fn remove_ssid(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Radio, NameForm>,
) -> Page {
    match console.ask(&m, Request::SsidsRemove { name: form.name.clone() }).await {
        Reply::ConfigVersion { version } => {
            let notice = format!("{} {} (v{version})", m.t.remove, form.name);
            ssids_page(&console, &m, Some(notice), StatusCode::OK).await
        }
        Reply::Error { kind: ErrorKind::Invalid, .. } => {
            ssids_page(&console, &m, Some(m.t.none.clone()), StatusCode::NOT_FOUND).await
        }
        Reply::Error { kind: ErrorKind::NotFound, .. } => {
            ssids_page(&console, &m, Some(m.t.ac_off.clone()), StatusCode::NOT_FOUND).await
        }
        other => Err(m.refused(other)),
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

async fn plan(m: Member<need::Radio>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(plan_page(&console, &m, None).await?))
}

async fn plan_page(console: &Console, m: &Member<need::Radio>, notice: Option<String>) -> Page {
    let (ac_on, radios) = match console.ask(m, Request::Radios).await {
        Reply::Radios { radios } => (true, radios),
        Reply::Error { kind: ErrorKind::NotFound, .. } => (false, Vec::new()),
        other => return Err(m.refused(other)),
    };
    let rows = rows(&radios);
    let pictures = [(Band::G2_4, "2.4 GHz"), (Band::G5, "5 GHz")]
        .into_iter()
        .filter_map(|(band, caption)| plan_svg(caption, band, &radios, &rows))
        .collect();
    let view = PlanPage { t: m.t, me: Some(m.me()), notice, csrf: m.signed.csrf.clone(), ac_on, pictures, rows };
    Ok(page(StatusCode::OK, view.render()))
}

/// `POST /console/plan`: plans again from the APs' latest scans and
/// pushes the result.
async fn replan(
    State(console): State<Arc<Console>>,
    Posted { member: m, .. }: Posted<need::Radio, super::setup::CsrfForm>,
) -> Page {
    match console.ask(&m, Request::ApsPlan).await {
        Reply::Plan { text } => {
            // The plan's first line ends with its score.
            let score = text.lines().next().and_then(|l| l.rsplit(' ').next()).unwrap_or_default().to_string();
            plan_page(&console, &m, Some(format!("{} {score}", m.t.plan_applied))).await
        }
        Reply::Error { kind: ErrorKind::NotFound, .. } => plan_page(&console, &m, Some(m.t.ac_off.clone())).await,
        other => Err(m.refused(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;

    #[tokio::test]
    async fn an_admin_sets_an_ssid_on_every_ap_sees_the_channel_plan_and_cannot_halt_what_is_not_running() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let ac = h.handles.ac.clone().unwrap();
        let csrf = h.csrf(&admin, "/console/ssids").await;
        let wpa2 = |key: &'static str| {
            [
                ("csrf", csrf.clone()),
                ("name", "川味小馆-Guest".to_string()),
                ("security", "wpa2_psk".into()),
                ("key", key.into()),
                ("band_24", "1".into()),
                ("band_5", "1".into()),
                ("portal", "1".into()),
                ("isolation", "1".into()),
            ]
        };
        let (h, admin) = (&h, &admin);
        let send = |form: [(&'static str, String); 8]| async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.send("POST", "/console/ssids", &form, &[admin]).await
        };
        let short = send(wpa2("short")).await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
        assert!(ac.ssids().await.unwrap().is_empty(), "nothing stored");
        let saved = send(wpa2("dumplings-2026")).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert!(
            saved.body.contains("川味小馆-Guest") && !saved.body.contains("dumplings-2026"),
            "the key is never shown"
        );
        // Changed with an empty key: the key stays.
        let mut hidden = wpa2("");
        hidden[7] = ("hidden", "1".into());
        assert_eq!(send(hidden).await.status, StatusCode::OK);
        let ssid = ac.ssids().await.unwrap().remove(0);
        assert!(ssid.hidden && !ssid.client_isolation && ssid.key == "dumplings-2026");
        let log = h.send("GET", "/console/audit?q=ssid", &[], &[admin]).await;
        assert!(log.body.contains("key changed") && !log.body.contains("dumplings-2026"), "audited without the key");

        // Two APs that hear each other loudly on overlapping channels: red in the picture.
        let registry = ac.registry();
        for (n, bssid) in [(1, "02:00:00:00:01:00"), (2, "02:00:00:00:02:00")] {
            let hello = ap_protocol::Hello {
                min_version: 1,
                max_version: 1,
                device_id: format!("ap-{n}"),
                model: "test-ap".into(),
                mac: bssid.into(),
                firmware: "1.0".into(),
                radios: vec![ap_protocol::RadioInfo {
                    interface: "wlan0".into(),
                    band: ap_protocol::Band::G2_4,
                    bssid: Some(bssid.into()),
                }],
                public_key_pem: String::new(),
                config_version: 0,
                controller_pinned: true,
            };
            registry.pending_hello(&hello).await.unwrap();
            registry.adopt(&format!("ap-{n}"), None).await.unwrap();
            ac.set_ap(&format!("ap-{n}"), None, None, Some(("wlan0", Some(if n == 1 { 1 } else { 3 }), None)))
                .await
                .unwrap();
        }
        let heard = |bssid: &str| vec![ap_protocol::Neighbour { bssid: bssid.into(), channel: 1, rssi: -45 }];
        registry.scan("ap-1", "wlan0", &heard("02:00:00:00:02:00")).await.unwrap();
        registry.scan("ap-2", "wlan0", &heard("02:00:00:00:01:00")).await.unwrap();
        let plan = h.send("GET", "/console/plan", &[], &[admin]).await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
        assert!(plan.body.contains("<svg") && plan.body.contains("ap-1/wlan0 · ch 1 (fixed)"), "{}", plan.body);
        assert!(plan.body.contains("class=\"clash\""), "channels 1 and 3 overlap");
        let csrf = h.csrf(admin, "/console/plan").await;
        let replanned = h.send("POST", "/console/plan", &[("csrf", &csrf)], &[admin]).await;
        assert_eq!(replanned.status, StatusCode::OK);

        // Firmware: halting nothing, and an image without a valid signature.
        let halt = h.send("POST", "/console/firmware/halt", &[("csrf", &csrf)], &[admin]).await;
        assert_eq!(halt.status, StatusCode::CONFLICT);
        let bad = h
            .upload_as(
                "/console/firmware",
                &[("csrf", &csrf), ("version", "2.0"), ("model", "test-ap")],
                "image",
                Some(("fw.bin", b"firmware")),
                admin,
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        let rollout =
            h.send("POST", "/console/firmware/rollout", &[("csrf", &csrf), ("version", "2.0")], &[admin]).await;
        assert_eq!(rollout.status, StatusCode::CONFLICT, "no such image");

        // A marketer opens none of it.
        h.open_user(admin, "mkt", "marketer").await;
        let mkt = h.login("mkt", "a long password").await;
        for page in ["/console/ssids", "/console/plan", "/console/firmware"] {
            assert_eq!(h.send("GET", page, &[], &[&mkt]).await.status, StatusCode::FORBIDDEN, "{page}");
        }
    }

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
