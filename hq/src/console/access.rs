//! Each site's access log as the site reports it (owners, admins and the
//! compliance officer, within their scope): the last check of its hash
//! chain, its rows, the head of its newest daily digest, and the days whose
//! head changed after HQ first heard it. The log's rows stay at the site.

use super::{need, when, Console, Me, Staffer};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use super::strings::Strings;

pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new().route("/access-logs", get(access_logs))
}

/// A site's row, in words.
struct Row {
    site: String,
    name: String,
    /// `holds`, `broken` or `unknown` (the row's class).
    state: &'static str,
    chain: String,
    checked: String,
    rows: String,
    digest: String,
    changed: i64,
}

#[derive(Template)]
#[template(path = "hq/access_logs.html")]
struct AccessLogsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    rows: Vec<Row>,
}

async fn access_logs(State(console): State<Arc<Console>>, me: Staffer<need::AccessLogs>) -> Result<Response, Response> {
    let t = me.t;
    let person = me.person();
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let logs = crate::access_logs::list(console.db.pool(), &person.brand).await.map_err(|e| me.failed(&e))?;
    let rows = logs
        .into_iter()
        .filter_map(|l| {
            let site = sites.iter().find(|s| s.site == l.site_id && person.covers(&s.region, &s.site))?;
            let (state, chain) = match (l.checked_at, l.broken_seq) {
                (None, _) => ("unknown", t.access_log_unknown.clone()),
                (Some(_), Some(seq)) => (
                    "broken",
                    t.access_log_broken
                        .replace("{seq}", &seq.to_string())
                        .replace("{why}", l.why.as_deref().unwrap_or("")),
                ),
                (Some(_), None) => ("holds", t.access_log_holds.clone()),
            };
            Some(Row {
                site: site.site.clone(),
                name: site.name.clone(),
                state,
                chain,
                checked: l.checked_at.map(|at| when(at, console.zone)).unwrap_or_default(),
                rows: l.rows.map(|r| r.to_string()).unwrap_or_default(),
                digest: match (l.last_day, l.last_hash) {
                    (Some(day), Some(hash)) => format!("{day} · {}…", &hash[..12.min(hash.len())]),
                    _ => String::new(),
                },
                changed: l.changed_days,
            })
        })
        .collect();
    let page = AccessLogsPage { t, me: Some(me.me()), notice: None, rows };
    Ok(super::page(StatusCode::OK, page.render()))
}
