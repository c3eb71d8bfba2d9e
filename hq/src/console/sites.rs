//! Today at a glance, the sites page and a site's page: every site of the
//! person's scope with whether it is online, its last heartbeat, software,
//! the bundle it applied against the one HQ gives it now, guests, APs, and
//! the facts waiting there; the alerts, each a link to its site.

use super::{ago, duration, need, when, Console, LangQuery, Me, Staffer};
use crate::db::{SiteRef, SiteRow};
use crate::health::{assess, refused_last, Alert, State as SiteState};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use guestwifi_core::kit::time::now_ms;
use std::sync::Arc;

use super::strings::Strings;

/// The overview, the sites page, a site's page.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new().route("/", get(overview)).route("/sites", get(sites)).route("/sites/{site}", get(site))
}

/// A site as a row of the page shows it, in words.
struct SiteView {
    site: String,
    name: String,
    region: String,
    /// `online`, `offline`, ... (the row's class).
    state: &'static str,
    state_text: String,
    heartbeat: String,
    software: String,
    bundle: String,
    guests: i64,
    aps: String,
    backlog: i64,
    lag: String,
    alerts: Vec<String>,
}

/// An alert as the overview lists it.
struct AlertView {
    site: String,
    name: String,
    text: String,
}

impl Console {
    /// The sites in `staffer`'s scope.
    async fn sites_of<N>(&self, staffer: &Staffer<N>) -> Result<Vec<SiteRow>, sqlx::Error> {
        let person = staffer.person();
        let rows = self.db.sites(Some(&person.brand)).await?;
        Ok(rows.into_iter().filter(|s| person.covers(&s.region, &s.site)).collect())
    }

    /// A row in words; `wanted`, the bundle HQ would give it now.
    fn view(&self, t: &Strings, s: &SiteRow, wanted: Option<&str>, now: i64) -> SiteView {
        let (state, alerts) = assess(s, self.thresholds, now);
        let bundle = if s.applied.is_empty() && s.refused.is_empty() {
            t.bundle_none.clone()
        } else if refused_last(s) {
            format!("{} ({})", t.bundle_refused, short(&s.refused))
        } else if wanted.is_some_and(|w| w != s.applied) {
            format!("{} ({} → {})", t.bundle_behind, short(&s.applied), short(wanted.unwrap_or_default()))
        } else {
            format!("{} ({})", t.bundle_current, short(&s.applied))
        };
        SiteView {
            site: s.site.clone(),
            name: if s.name.is_empty() { s.site.clone() } else { s.name.clone() },
            region: s.region.clone(),
            state: state.as_str(),
            state_text: t.state_name(state).to_string(),
            heartbeat: s
                .heartbeat_at
                .map_or_else(|| t.never.clone(), |at| format!("{} ({})", when(at, self.zone), ago(t, at))),
            software: s.software.clone(),
            bundle,
            guests: s.guests_online,
            aps: format!("{} / {}", s.aps.0, s.aps.1),
            backlog: s.backlog.0,
            lag: if s.backlog.0 > 0 { duration(t, s.backlog.1) } else { "—".into() },
            alerts: alerts.iter().map(|a| self.alert_text(t, *a, s)).collect(),
        }
    }

    fn alert_text(&self, t: &Strings, alert: Alert, s: &SiteRow) -> String {
        let minutes = |ms: i64| (ms / 60_000).max(1).to_string();
        match alert {
            Alert::Offline => t.alert_offline.replace("{minutes}", &minutes(self.thresholds.offline_ms)),
            Alert::BundleRefused => t.alert_bundle_refused.replace("{why}", &s.refused_why),
            Alert::FeedLag => t.alert_feed_lag.replace("{minutes}", &minutes(self.thresholds.lag_ms)),
        }
    }

    /// The bundle version HQ gives each of `sites` now, by site id (their
    /// drift is this against what they applied); one query for them all.
    async fn wanted(&self, sites: &[&SiteRow]) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
        let enrolled: Vec<SiteRef> = sites
            .iter()
            .filter(|s| s.state == "enrolled")
            .map(|s| SiteRef { brand: s.brand.clone(), site: s.site.clone(), region: s.region.clone() })
            .collect();
        let Some(brand) = enrolled.first().map(|s| s.brand.clone()) else { return Ok(Default::default()) };
        let bundles = self.db.bundles(&brand, &enrolled, self.ticket_public.as_deref()).await?;
        Ok(bundles.into_iter().map(|b| (b.site, b.version)).collect())
    }
}

/// A bundle version as a person reads it: its first 8 digits.
fn short(version: &str) -> &str {
    version.get(..8).unwrap_or(version)
}

#[derive(Template)]
#[template(path = "hq/overview.html")]
struct OverviewPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    scope: String,
    enrolled: usize,
    online: usize,
    guests: i64,
    aps: (i64, i64),
    backlog: i64,
    alerts: Vec<AlertView>,
    sites: bool,
}

async fn overview(State(console): State<Arc<Console>>, me: Staffer<need::Overview>) -> Result<Response, Response> {
    let t = me.t;
    let rows = console.sites_of(&me).await.map_err(|e| me.failed(&e))?;
    let now = now_ms();
    let mut page = OverviewPage {
        t,
        me: Some(me.me()),
        notice: None,
        scope: t.scope_name(&me.person().scope),
        enrolled: 0,
        online: 0,
        guests: 0,
        aps: (0, 0),
        backlog: 0,
        alerts: Vec::new(),
        sites: crate::staff::Task::Sites.allows(me.person().role),
    };
    for s in &rows {
        let (state, alerts) = assess(s, console.thresholds, now);
        if matches!(state, SiteState::Online | SiteState::Offline) {
            page.enrolled += 1;
        }
        if state == SiteState::Online {
            page.online += 1;
            page.guests += s.guests_online;
            page.aps = (page.aps.0 + s.aps.0, page.aps.1 + s.aps.1);
        }
        page.backlog += s.backlog.0;
        for a in alerts {
            let name = if s.name.is_empty() { s.site.clone() } else { s.name.clone() };
            page.alerts.push(AlertView { site: s.site.clone(), name, text: console.alert_text(t, a, s) });
        }
    }
    Ok(super::page(StatusCode::OK, page.render()))
}

#[derive(Template)]
#[template(path = "hq/sites.html")]
struct SitesPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    scope: String,
    regions: Vec<String>,
    region: String,
    states: Vec<(String, String)>,
    state: String,
    rows: Vec<SiteView>,
}

async fn sites(
    State(console): State<Arc<Console>>,
    Query(q): Query<LangQuery>,
    me: Staffer<need::Sites>,
) -> Result<Response, Response> {
    let t = me.t;
    let rows = console.sites_of(&me).await.map_err(|e| me.failed(&e))?;
    let now = now_ms();
    let mut regions: Vec<String> = rows.iter().map(|s| s.region.clone()).filter(|r| !r.is_empty()).collect();
    regions.sort();
    regions.dedup();
    let shown: Vec<&SiteRow> = rows.iter().filter(|s| q.region.is_empty() || s.region == q.region).collect();
    let wanted = console.wanted(&shown).await.map_err(|e| me.failed(&e))?;
    let mut views = Vec::new();
    for s in shown {
        let view = console.view(t, s, wanted.get(&s.site).map(String::as_str), now);
        let keep = match q.state.as_str() {
            "" => true,
            "alerting" => !view.alerts.is_empty(),
            state => view.state == state,
        };
        if keep {
            views.push(view);
        }
    }
    let states = [
        ("", &t.all),
        ("online", &t.state_online),
        ("offline", &t.state_offline),
        ("alerting", &t.alerting),
        ("pending", &t.state_pending),
        ("revoked", &t.state_revoked),
    ]
    .into_iter()
    .map(|(v, l)| (v.to_string(), l.clone()))
    .collect();
    let body = SitesPage {
        t,
        me: Some(me.me()),
        notice: None,
        scope: t.scope_name(&me.person().scope),
        regions,
        region: q.region,
        states,
        state: q.state,
        rows: views,
    };
    Ok(super::page(StatusCode::OK, body.render()))
}

/// A heartbeat as the history shows it.
struct BeatView {
    at: String,
    bundle: String,
    guests: i64,
    aps: String,
    backlog: i64,
    lag: String,
}

#[derive(Template)]
#[template(path = "hq/site.html")]
struct SitePage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    row: SiteView,
    beats: Vec<BeatView>,
}

async fn site(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    me: Staffer<need::Sites>,
) -> Result<Response, Response> {
    let t = me.t;
    let rows = console.sites_of(&me).await.map_err(|e| me.failed(&e))?;
    // Another scope's site is answered as no site at all.
    let Some(s) = rows.iter().find(|s| s.site == id) else {
        return Err(super::message(t, Some(me.me()), StatusCode::NOT_FOUND, &t.forbidden_title, t.not_found.clone()));
    };
    let now = now_ms();
    let wanted = console.wanted(&[s]).await.map_err(|e| me.failed(&e))?;
    let beats = console
        .db
        .heartbeats(&s.brand, &s.site, now - guestwifi_core::kit::time::DAY_MS, 1440)
        .await
        .map_err(|e| me.failed(&e))?
        .into_iter()
        .map(|b| BeatView {
            at: when(b.at, console.zone),
            bundle: short(&b.bundle).to_string(),
            guests: b.guests_online,
            aps: format!("{} / {}", b.aps_online, b.aps_total),
            backlog: b.backlog,
            lag: if b.backlog > 0 { duration(t, b.lag_ms) } else { "—".into() },
        })
        .collect();
    let row = console.view(t, s, wanted.get(&s.site).map(String::as_str), now);
    Ok(super::page(StatusCode::OK, SitePage { t, me: Some(me.me()), notice: None, row, beats }.render()))
}
