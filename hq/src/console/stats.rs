//! Chain statistics (owners, admins, marketers, analysts; a site manager
//! for their site): a scope's figures over a range (the chain, a region, a
//! site: its drill-down), the sites of the person's scope side by side and
//! sortable, one promotion across the sites that showed it; CSV and XLSX of
//! each. Every figure is a sum of the roller's daily rows ([`crate::stats`]).

use super::{need, scopes_within, Console, Me, Staffer};
use crate::stats::{Figures, SiteFigures, Slot};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use guestwifi_core::hq::protocol::Scope;
use guestwifi_core::kit::csv::csv_field;
use guestwifi_core::stats::{bar_chart, Range};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

use super::strings::Strings;

/// The statistics pages and their exports.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/stats", get(scope_page))
        .route("/stats.csv", get(scope_csv))
        .route("/stats.xlsx", get(scope_xlsx))
        .route("/stats/sites", get(sites_page))
        .route("/stats/sites.csv", get(sites_csv))
        .route("/stats/promotions/{id}", get(promotion_page))
}

/// What a statistics page is asked for.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Asked {
    scope: String,
    from: String,
    to: String,
    /// `today`, `7`, `30`, `365`: the last days up to today.
    last: String,
    sort: String,
    region: String,
}

/// The range asked for (the last 7 days unless said); None when the dates
/// do not make one.
fn range_of(console: &Console, q: &Asked) -> Option<Range> {
    if !q.from.is_empty() || !q.to.is_empty() {
        return Range::parse(&q.from, &q.to, console.zone);
    }
    let days = match q.last.as_str() {
        "today" => 1,
        "" => 7,
        n => n.parse::<i64>().ok().filter(|n| (1..=366).contains(n)).unwrap_or(7),
    };
    Some(Range::last_days(days, console.zone))
}

/// The page that says the dates asked for make no range.
fn bad_range(me: &Staffer<need::Statistics>) -> Response {
    let t = me.t;
    super::message(t, Some(me.me()), StatusCode::BAD_REQUEST, &t.stats_title, t.stats_bad_range.clone())
}

/// The scope asked for (the person's own unless said), if theirs to see.
async fn scope_of(
    console: &Console,
    me: &Staffer<need::Statistics>,
    q: &Asked,
) -> Result<(Scope, Vec<(String, String)>), Response> {
    let t = me.t;
    let person = me.person();
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let scopes = scopes_within(t, person, &sites);
    let asked = if q.scope.is_empty() { person.scope.to_string() } else { q.scope.clone() };
    match Scope::parse(&asked).filter(|_| scopes.iter().any(|(s, _)| *s == asked)) {
        Some(scope) => Ok((scope, scopes)),
        None => {
            Err(super::message(t, Some(me.me()), StatusCode::FORBIDDEN, &t.forbidden_title, t.forbidden_body.clone()))
        }
    }
}

/// A promotion, ad or dish row: its name, figures and page.
struct SlotView {
    id: String,
    name: String,
    shown: i64,
    taps: i64,
    rate: String,
}

impl SlotView {
    /// `slot` shown as `name`.
    fn of(slot: &Slot, name: String) -> SlotView {
        SlotView { id: slot.id.clone(), name, shown: slot.shown, taps: slot.taps, rate: slot.rate() }
    }
}

/// Each of `slots` by its name in `names` (its id when it has none).
fn slot_views(slots: &[Slot], names: &HashMap<String, String>) -> Vec<SlotView> {
    slots.iter().map(|s| SlotView::of(s, names.get(&s.id).cloned().unwrap_or_else(|| s.id.clone()))).collect()
}

/// The query string that keeps a page's scope and range.
fn kept(scope: &str, range: &Range) -> String {
    let (from, to) = range.dates();
    format!("scope={scope}&from={from}&to={to}")
}

#[derive(Template)]
#[template(path = "hq/stats.html")]
struct ScopePage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    scopes: Vec<(String, String)>,
    scope: String,
    scope_name: String,
    from: String,
    to: String,
    kept: String,
    compare: bool,
    f: Figures,
    dwell: String,
    chart_days: String,
    chart_hours: String,
    chart_methods: String,
    methods: Vec<(String, i64)>,
    promotions: Vec<SlotView>,
    ads: Vec<SlotView>,
    dishes: Vec<(String, i64)>,
    /// The scope's footfall by zone, its heat picture, the visit length buckets.
    footfall: guestwifi_core::stats::footfall::Footfall,
    heat: String,
    buckets: Vec<&'static str>,
}

async fn scope_figures(
    console: &Console,
    me: &Staffer<need::Statistics>,
    q: &Asked,
) -> Result<(Scope, Vec<(String, String)>, Range, Figures), Response> {
    let (scope, scopes) = scope_of(console, me, q).await?;
    let Some(range) = range_of(console, q) else { return Err(bad_range(me)) };
    let f = crate::stats::figures(&console.db, &me.person().brand, &scope.to_string(), &range)
        .await
        .map_err(|e| me.failed(&e))?;
    Ok((scope, scopes, range, f))
}

async fn scope_page(
    State(console): State<Arc<Console>>,
    Query(q): Query<Asked>,
    me: Staffer<need::Statistics>,
) -> Result<Response, Response> {
    let t = me.t;
    let (scope, scopes, range, f) = scope_figures(&console, &me, &q).await?;
    let names =
        crate::stats::names(&console.db, &me.person().brand, t.lang == "en").await.map_err(|e| me.failed(&e))?;
    let (from, to) = range.dates();
    let day_bars: Vec<(String, i64)> =
        f.days.iter().map(|d| (d.date.get(5..).unwrap_or(&d.date).to_string(), d.logins)).collect();
    let hour_bars: Vec<(String, i64)> = f.hours.iter().enumerate().map(|(h, n)| (format!("{h}"), *n)).collect();
    let methods: Vec<(String, i64)> = f.methods.iter().map(|(m, n)| (t.method_name(m).to_string(), *n)).collect();
    let scope_name = scopes.iter().find(|(s, _)| *s == scope.to_string()).map_or_else(String::new, |(_, n)| n.clone());
    let footfall = crate::footfall::of_scope(console.db.pool(), &me.person().brand, &scope.to_string(), &range)
        .await
        .map_err(|e| me.failed(&e))?;
    let page = ScopePage {
        t,
        me: Some(me.me()),
        notice: None,
        scope_name,
        scope: scope.to_string(),
        kept: kept(&scope.to_string(), &range),
        compare: !matches!(scope, Scope::Site(_)),
        from,
        to,
        dwell: f.dwell_minutes().map_or_else(|| "—".into(), |m| t.stats_minutes.replace("{n}", &m.to_string())),
        chart_days: bar_chart("", &day_bars),
        chart_hours: bar_chart("", &hour_bars),
        chart_methods: bar_chart("", &methods),
        methods,
        promotions: slot_views(&f.promotions, &names),
        ads: slot_views(&f.ads, &HashMap::new()),
        dishes: f.dishes.iter().map(|(id, n)| (names.get(id).cloned().unwrap_or_else(|| id.clone()), *n)).collect(),
        heat: footfall.heat_svg(),
        footfall,
        buckets: guestwifi_core::stats::footfall::DWELL_BUCKETS.iter().map(|b| b.1).collect(),
        scopes,
        f,
    };
    Ok(super::page(StatusCode::OK, page.render()))
}

/// A download named `file` of `kind`.
pub(super) fn download(kind: &'static str, file: &str, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{file}\"");
    ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response()
}

/// The filename of an export of `scope` over `range`.
fn file_name(scope: &Scope, range: &Range, ext: &str) -> String {
    let (from, to) = range.dates();
    let scope: String =
        scope.to_string().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    format!("chain-stats-{scope}-{from}-{to}.{ext}")
}

/// The figures as CSV sections: the summary, each day, methods, hours,
/// visit lengths, promotions, ads, dishes.
pub fn figures_csv(f: &Figures) -> String {
    let mut out = String::from("figure,value\n");
    for (k, v) in [
        ("logins", f.logins),
        ("portal_views", f.views),
        ("guests", f.guests()),
        ("new_to_chain", f.new),
        ("new_here_known_elsewhere", f.elsewhere),
        ("returning", f.returning),
        ("refusals", f.refusals),
        ("visits_ended", f.visits_ended),
        ("mean_visit_minutes", f.dwell_minutes().unwrap_or(0)),
    ] {
        out.push_str(&format!("{k},{v}\n"));
    }
    out.push_str("\ndate,guests,logins,portal_views\n");
    for d in &f.days {
        out.push_str(&format!("{},{},{},{}\n", d.date, d.guests, d.logins, d.views));
    }
    let mut section = |head: &str, rows: Vec<(String, String)>| {
        out.push_str(&format!("\n{head}\n"));
        for (k, v) in rows {
            out.push_str(&format!("{},{v}\n", csv_field(&k)));
        }
    };
    section("method,logins", f.methods.iter().map(|(m, n)| (m.clone(), n.to_string())).collect());
    section("hour,logins", f.hours.iter().enumerate().map(|(h, n)| (format!("{h:02}"), n.to_string())).collect());
    section("visit_minutes,visits", f.dwell.iter().map(|(b, n)| (b.clone(), n.to_string())).collect());
    let slots = |s: &[Slot]| s.iter().map(|s| (s.id.clone(), format!("{},{}", s.shown, s.taps))).collect();
    section("promotion,shown,taps", slots(&f.promotions));
    section("ad,shown,taps", slots(&f.ads));
    section("dish,shown", f.dishes.iter().map(|(d, n)| (d.clone(), n.to_string())).collect());
    out
}

/// The figures as a workbook: a sheet for the days, methods, promotions.
pub fn figures_xlsx(f: &Figures) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let days = book.add_worksheet().set_name("days")?;
    for (c, h) in ["date", "guests", "logins", "portal views"].iter().enumerate() {
        days.write_string(0, c as u16, *h)?;
    }
    for (r, d) in f.days.iter().enumerate() {
        let r = r as u32 + 1;
        days.write_string(r, 0, &d.date)?;
        days.write_number(r, 1, d.guests as f64)?;
        days.write_number(r, 2, d.logins as f64)?;
        days.write_number(r, 3, d.views as f64)?;
    }
    let methods = book.add_worksheet().set_name("methods")?;
    methods.write_string(0, 0, "method")?;
    methods.write_string(0, 1, "logins")?;
    for (r, (m, n)) in f.methods.iter().enumerate() {
        methods.write_string(r as u32 + 1, 0, m)?;
        methods.write_number(r as u32 + 1, 1, *n as f64)?;
    }
    let promotions = book.add_worksheet().set_name("promotions")?;
    for (c, h) in ["promotion", "shown", "taps"].iter().enumerate() {
        promotions.write_string(0, c as u16, *h)?;
    }
    for (r, s) in f.promotions.iter().enumerate() {
        let r = r as u32 + 1;
        promotions.write_string(r, 0, &s.id)?;
        promotions.write_number(r, 1, s.shown as f64)?;
        promotions.write_number(r, 2, s.taps as f64)?;
    }
    book.save_to_buffer()
}

async fn scope_csv(
    State(console): State<Arc<Console>>,
    Query(q): Query<Asked>,
    me: Staffer<need::Statistics>,
) -> Result<Response, Response> {
    let (scope, _, range, f) = scope_figures(&console, &me, &q).await?;
    Ok(download("text/csv; charset=utf-8", &file_name(&scope, &range, "csv"), figures_csv(&f).into_bytes()))
}

async fn scope_xlsx(
    State(console): State<Arc<Console>>,
    Query(q): Query<Asked>,
    me: Staffer<need::Statistics>,
) -> Result<Response, Response> {
    let (scope, _, range, f) = scope_figures(&console, &me, &q).await?;
    let bytes = figures_xlsx(&f).map_err(|e| me.failed(&e))?;
    Ok(download(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &file_name(&scope, &range, "xlsx"),
        bytes,
    ))
}

/// A site's row of the comparison.
struct SiteRowView {
    site: String,
    name: String,
    region: String,
    f: SiteFigures,
}

/// The columns the comparison sorts by, and their headings.
fn columns(t: &Strings) -> Vec<(&'static str, String)> {
    vec![
        ("guests", t.stats_guests.clone()),
        ("new", t.stats_new.clone()),
        ("returning", t.stats_returning_share.clone()),
        ("logins", t.stats_logins.clone()),
        ("views", t.stats_views.clone()),
        ("conversion", t.stats_conversion.clone()),
        ("dwell", t.stats_dwell.clone()),
    ]
}

#[derive(Template)]
#[template(path = "hq/stats_sites.html")]
struct SitesPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    from: String,
    to: String,
    region: String,
    regions: Vec<String>,
    sort: String,
    columns: Vec<(&'static str, String)>,
    rows: Vec<SiteRowView>,
    chart: String,
}

/// The sites of the person's scope (in `region` when given) over the
/// range, sorted by `sort` (most first; logins unless said).
async fn compared(
    console: &Console,
    me: &Staffer<need::Statistics>,
    q: &Asked,
) -> Result<(Range, Vec<String>, Vec<SiteRowView>), Response> {
    let Some(range) = range_of(console, q) else { return Err(bad_range(me)) };
    let person = me.person();
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let mine: Vec<_> = sites.into_iter().filter(|s| person.covers(&s.region, &s.site)).collect();
    let mut regions: Vec<String> = mine.iter().map(|s| s.region.clone()).filter(|r| !r.is_empty()).collect();
    regions.sort();
    regions.dedup();
    let shown: Vec<_> = mine.into_iter().filter(|s| q.region.is_empty() || s.region == q.region).collect();
    let ids: Vec<String> = shown.iter().map(|s| s.site.clone()).collect();
    let figures =
        crate::stats::sites_compared(&console.db, &person.brand, &ids, &range).await.map_err(|e| me.failed(&e))?;
    let mut rows: Vec<SiteRowView> = shown
        .into_iter()
        .zip(figures)
        .map(|(s, f)| SiteRowView {
            name: if s.name.is_empty() { s.site.clone() } else { s.name },
            site: s.site,
            region: s.region,
            f,
        })
        .collect();
    let sort = if q.sort.is_empty() { "logins" } else { q.sort.as_str() };
    rows.sort_by(|a, b| {
        let key = |r: &SiteRowView| r.f.sort_key(sort).unwrap_or(r.f.logins as f64);
        key(b).total_cmp(&key(a)).then_with(|| a.site.cmp(&b.site))
    });
    Ok((range, regions, rows))
}

async fn sites_page(
    State(console): State<Arc<Console>>,
    Query(q): Query<Asked>,
    me: Staffer<need::Statistics>,
) -> Result<Response, Response> {
    let t = me.t;
    let (range, regions, rows) = compared(&console, &me, &q).await?;
    let (from, to) = range.dates();
    let sort = if columns(t).iter().any(|(c, _)| *c == q.sort) { q.sort.clone() } else { "logins".into() };
    let bars: Vec<(String, i64)> = rows.iter().take(20).map(|r| (r.name.clone(), r.f.logins)).collect();
    let page = SitesPage {
        t,
        me: Some(me.me()),
        notice: None,
        from,
        to,
        region: q.region.clone(),
        regions,
        sort,
        columns: columns(t),
        chart: bar_chart("", &bars),
        rows,
    };
    Ok(super::page(StatusCode::OK, page.render()))
}

async fn sites_csv(
    State(console): State<Arc<Console>>,
    Query(q): Query<Asked>,
    me: Staffer<need::Statistics>,
) -> Result<Response, Response> {
    let (range, _, rows) = compared(&console, &me, &q).await?;
    let mut out =
        String::from("site,name,region,guests,new_to_chain,returning,logins,portal_views,mean_visit_minutes\n");
    for r in &rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            csv_field(&r.site),
            csv_field(&r.name),
            csv_field(&r.region),
            r.f.guests,
            r.f.new,
            r.f.returning,
            r.f.logins,
            r.f.views,
            r.f.dwell_minutes()
        ));
    }
    let (from, to) = range.dates();
    Ok(download("text/csv; charset=utf-8", &format!("chain-sites-{from}-{to}.csv"), out.into_bytes()))
}

#[derive(Template)]
#[template(path = "hq/stats_promotion.html")]
struct PromotionPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    id: String,
    name: String,
    from: String,
    to: String,
    total: SlotView,
    rows: Vec<(String, SlotView)>,
}

async fn promotion_page(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    Query(q): Query<Asked>,
    me: Staffer<need::Statistics>,
) -> Result<Response, Response> {
    let t = me.t;
    let Some(range) = range_of(&console, &q) else { return Err(bad_range(&me)) };
    let person = me.person();
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let names = crate::stats::names(&console.db, &person.brand, t.lang == "en").await.map_err(|e| me.failed(&e))?;
    let per_site = crate::stats::promotion(&console.db, &person.brand, &id, &range).await.map_err(|e| me.failed(&e))?;
    let mut total = Slot { id: id.clone(), ..Default::default() };
    let mut rows = Vec::new();
    for (site, slot) in per_site {
        // Only the sites of the person's scope.
        let Some(s) = sites.iter().find(|s| s.site == site && person.covers(&s.region, &s.site)) else { continue };
        total.shown += slot.shown;
        total.taps += slot.taps;
        let name = if s.name.is_empty() { s.site.clone() } else { s.name.clone() };
        rows.push((site, SlotView::of(&slot, name)));
    }
    let (from, to) = range.dates();
    let page = PromotionPage {
        t,
        me: Some(me.me()),
        notice: None,
        name: names.get(&id).cloned().unwrap_or_else(|| id.clone()),
        total: SlotView::of(&total, names.get(&id).cloned().unwrap_or_else(|| id.clone())),
        id,
        from,
        to,
        rows,
    };
    Ok(super::page(StatusCode::OK, page.render()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Day;

    #[test]
    fn the_csv_has_every_section_and_defuses_formulas() {
        let f = Figures {
            logins: 3,
            views: 6,
            new: 2,
            returning: 1,
            days: vec![Day { date: "2026-12-01".into(), logins: 3, guests: 3, views: 6 }],
            promotions: vec![Slot { id: "=cmd".into(), shown: 5, taps: 1 }],
            ..Default::default()
        };
        let csv = figures_csv(&f);
        assert!(csv.contains("logins,3\n") && csv.contains("guests,3\n"));
        assert!(csv.contains("2026-12-01,3,3,6\n"));
        assert!(csv.contains("\"'=cmd\",5,1\n"), "{csv}");
        assert!(!figures_xlsx(&f).unwrap().is_empty());
    }
}
