//! Statistics for a date range in the site's zone: charts drawn on the
//! server (SVG), tables beside them, CSV and XLSX. The figures come from
//! the one door (`Request::StatsReport`).

use super::{message, need, page, Console, ConsoleError, LangQuery, Me, Member, Page, Strings};
use crate::control::{ErrorKind, Reply, Request};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The statistics' routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/stats", get(stats))
        .route("/console/stats.csv", get(stats_csv))
        .route("/console/stats.xlsx", get(stats_xlsx))
}

#[derive(Template)]
#[template(path = "console/stats.html")]
struct StatsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    from: String,
    to: String,
    r: crate::stats::Report,
    conversion: String,
    dwell: String,
    peak: usize,
    chart_days: String,
    chart_hours: String,
    chart_methods: String,
    /// Guests per AP now, and its chart (None: no AP has guests).
    per_ap: Vec<(String, i64)>,
    chart_aps: Option<String>,
    /// Footfall's heat picture, and the visit length buckets' names.
    heat: String,
    buckets: Vec<&'static str>,
}

/// The report for the range the query asks (the last 7 days by default).
async fn report(
    console: &Console,
    m: &Member<need::Statistics>,
    q: &LangQuery,
) -> Result<(crate::stats::Report, crate::stats::Range, Vec<(String, i64)>), ConsoleError> {
    match console.ask(m, Request::StatsReport { from: q.from.clone(), to: q.to.clone() }).await {
        Reply::Report { report, range, per_ap } => Ok((*report, range, per_ap)),
        Reply::Error { kind: ErrorKind::Invalid, .. } => Err(ConsoleError::from(message(
            m.t,
            Some(m.me()),
            StatusCode::BAD_REQUEST,
            &m.t.error_title,
            m.t.stats_bad_range.clone(),
        ))),
        other => Err(m.refused(other)),
    }
}

async fn stats(m: Member<need::Statistics>, State(console): State<Arc<Console>>, Query(q): Query<LangQuery>) -> Page {
    let (r, range, per_ap) = report(&console, &m, &q).await?;
    let by_day: Vec<(String, i64)> = r.days.iter().map(|d| (d.date[5..].to_string(), d.logins)).collect();
    let by_hour: Vec<(String, i64)> = r.hours.iter().enumerate().map(|(h, n)| (h.to_string(), *n)).collect();
    let by_method: Vec<(String, i64)> = r.methods.iter().map(|(k, n)| (m.t.method_name(k).to_string(), *n)).collect();
    let (from, to) = range.dates();
    let view = StatsPage {
        t: m.t,
        me: Some(m.me()),
        notice: None,
        from,
        to,
        conversion: format!("{:.1}", r.conversion()),
        dwell: format!("{:.0}", r.dwell_minutes),
        peak: r.peak_hour(),
        // Each chart's title is its section's heading, in the page's language.
        chart_days: crate::stats::bar_chart("", &by_day),
        chart_hours: crate::stats::bar_chart("", &by_hour),
        chart_methods: crate::stats::bar_chart("", &by_method),
        chart_aps: (!per_ap.is_empty()).then(|| crate::stats::bar_chart("", &per_ap)),
        heat: r.footfall.heat_svg(),
        buckets: crate::stats::footfall::DWELL_BUCKETS.iter().map(|b| b.1).collect(),
        per_ap,
        r,
    };
    Ok(m.keep_lang(page(StatusCode::OK, view.render())))
}

async fn stats_csv(
    m: Member<need::Statistics>,
    State(console): State<Arc<Console>>,
    Query(q): Query<LangQuery>,
) -> Page {
    let (r, range, _) = report(&console, &m, &q).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"guest-wifi-stats.csv\""),
        ],
        crate::stats::csv(&r, &range),
    )
        .into_response())
}

async fn stats_xlsx(
    m: Member<need::Statistics>,
    State(console): State<Arc<Console>>,
    Query(q): Query<LangQuery>,
) -> Page {
    let (r, range, _) = report(&console, &m, &q).await?;
    let bytes = crate::stats::xlsx(&r, &range).map_err(|e| m.failed(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"guest-wifi-stats.xlsx\""),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[tokio::test]
    async fn a_marketer_reads_the_statistics_with_charts_and_exports_them() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        use crate::auth::Method::{Countdown, Sms};
        h.guests_log_in(9, &[Sms, Countdown, Countdown]).await;
        // Two views showed two dishes, one showed one: named as the marketer named them.
        let a = h.marketing.add_dish("红烧肉", "", "58", None).await.unwrap();
        let b = h.marketing.add_dish("清蒸鱼", "", "88", None).await.unwrap();
        let (a, b) = (a.split(' ').next().unwrap(), b.split(' ').next().unwrap());
        let guest = Client { mac: "02:00:00:00:09:01".parse().unwrap(), ip: "192.0.2.151".parse().unwrap() };
        let audit = &h.handles.staff.audit;
        for shown in [format!("{a},{b}"), format!("{a},{b}"), a.to_string()] {
            audit.events(guest, &[("dish_impression", &shown)]).await;
        }
        let page = h.send("GET", "/console/stats", &[], &[&admin]).await;
        assert!(page.body.contains(&format!("红烧肉 ({a})</td><td>3")), "{}", page.body);
        assert!(page.body.contains(&format!("清蒸鱼 ({b})</td><td>2")));
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("id=\"logins\">3<"), "three logins today");
        assert!(page.body.matches("<svg").count() == 3, "three charts drawn on the server");
        // Methods and events in words, charts titled by their headings, ticked at whole numbers.
        assert!(page.body.contains("倒计时一键上网") && page.body.contains("短信验证码"), "{}", page.body);
        assert!(!page.body.contains("<td>countdown</td>") && !page.body.contains("logins / day"));
        assert!(page.body.contains("<td>菜品展示</td>") && !page.body.contains("<td>dish_impression</td>"));
        let csv = h.send("GET", "/console/stats.csv", &[], &[&admin]).await;
        assert!(csv.body.contains("\"countdown\",2"), "{}", csv.body);
        let xlsx = h.send("GET", "/console/stats.xlsx", &[], &[&admin]).await;
        assert_eq!(
            xlsx.headers[header::CONTENT_TYPE],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let bad = h.send("GET", "/console/stats?from=2026-13-01&to=2026-12-01", &[], &[&admin]).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }
}
