//! The access log the police ask for (上网日志), for the compliance officer
//! only: sessions by time, public address and source port, MAC or identity,
//! and the same search as CSV signed with the appliance's key. Every search
//! is logged (`Request::AccessLogSearch`); nothing here is marketing's.

use super::{need, page, Console, Me, Member, Page, Strings};
use crate::control::{Reply, Request};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// The access log's routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/access-log", get(search))
        .route("/console/access-log.csv", get(csv))
        .route("/console/access-log/domains", get(domains))
}

/// The search form as sent (a browser's local times, in the site's zone).
#[derive(Deserialize, Default, Clone)]
struct Form {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    mac: String,
    #[serde(default)]
    identity: String,
}

impl Form {
    /// The query, or what is wrong with the form; None: nothing asked yet.
    fn query(&self, zone: i64) -> Result<Option<crate::trail::Query>, String> {
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let time = |s: &str| match text(s) {
            None => Ok(None),
            Some(t) => crate::trail::parse_time(&t, zone).map(Some).ok_or(t),
        };
        let q = crate::trail::Query {
            from: time(&self.from)?,
            to: time(&self.to)?,
            public_addr: text(&self.address),
            port: match text(&self.port) {
                None => None,
                Some(p) => Some(p.parse::<u16>().map_err(|_| p)?),
            },
            mac: text(&self.mac),
            identity: text(&self.identity),
        };
        Ok((q != crate::trail::Query::default()).then_some(q))
    }

    /// The form as a query string (the CSV link repeats the search).
    fn encoded(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("from", &self.from),
            ("to", &self.to),
            ("address", &self.address),
            ("port", &self.port),
            ("mac", &self.mac),
            ("identity", &self.identity),
        ] {
            if !v.is_empty() {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }
}

/// A session as the page lists it.
struct Shown {
    session: i64,
    identity: String,
    mac: String,
    ip: String,
    public: String,
    login: String,
    logout: String,
    ap: String,
}

#[derive(Template)]
#[template(path = "console/access_log.html")]
struct AccessLogPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    form: Form,
    searched: bool,
    rows: Vec<Shown>,
    csv_link: String,
}

async fn search(m: Member<need::AccessLog>, State(console): State<Arc<Console>>, Query(form): Query<Form>) -> Page {
    let zone = console.zone();
    let (notice, status, rows, searched) = match form.query(zone) {
        Err(bad) => (Some(format!("{}{bad}", m.t.bad_input)), StatusCode::BAD_REQUEST, Vec::new(), false),
        Ok(None) => (None, StatusCode::OK, Vec::new(), false),
        Ok(Some(query)) => match console.ask(&m, Request::AccessLogSearch { query }).await {
            Reply::AccessLog { rows } => (None, StatusCode::OK, rows, true),
            other => return Err(m.refused(other)),
        },
    };
    let at = |ms: i64| crate::trail::csv_time(ms, zone);
    let rows = rows
        .into_iter()
        .map(|r| Shown {
            public: match r.public_addr.is_empty() {
                true => String::new(),
                false => format!("{}:{}-{}", r.public_addr, r.port_lo, r.port_hi),
            },
            session: r.session_id,
            login: at(r.login_at),
            logout: r.logout_at.map(at).unwrap_or_else(|| m.t.access_log_online.clone()),
            identity: r.identity,
            mac: r.mac,
            ip: r.ip,
            ap: r.ap,
        })
        .collect();
    let view = AccessLogPage {
        t: m.t,
        me: Some(m.me()),
        notice,
        csv_link: format!("/console/access-log.csv?{}", form.encoded()),
        form,
        searched,
        rows,
    };
    Ok(m.keep_lang(page(status, view.render())))
}

#[derive(Template)]
#[template(path = "console/access_log_domains.html")]
struct DomainsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    title: String,
    names: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct SessionQuery {
    #[serde(default)]
    session: i64,
}

/// The names one session resolved (the optional domain log); the look is logged.
async fn domains(
    m: Member<need::AccessLog>,
    State(console): State<Arc<Console>>,
    Query(q): Query<SessionQuery>,
) -> Page {
    let names = match console.ask(&m, Request::AccessLogDomains { session: q.session }).await {
        Reply::Domains { names } => names,
        other => return Err(m.refused(other)),
    };
    let zone = console.zone();
    let view = DomainsPage {
        t: m.t,
        me: Some(m.me()),
        notice: None,
        title: m.t.access_log_domains_title.replace("{id}", &q.session.to_string()),
        names: names.into_iter().map(|(n, at)| (n, crate::trail::csv_time(at, zone))).collect(),
    };
    Ok(m.keep_lang(page(StatusCode::OK, view.render())))
}

async fn csv(m: Member<need::AccessLog>, State(console): State<Arc<Console>>, Query(form): Query<Form>) -> Page {
    let Ok(Some(query)) = form.query(console.zone()) else {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    };
    match console.ask(&m, Request::AccessLogCsv { query }).await {
        Reply::Text { text } => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"access-log.csv\""),
            ],
            text,
        )
            .into_response()),
        other => Err(m.refused(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[tokio::test]
    async fn only_the_officer_searches_the_access_log_every_search_is_logged_and_the_csv_is_signed() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        h.guests_log_in(3, &[crate::auth::Method::Countdown]).await;
        h.open_user(&admin, "police-desk", "officer").await;
        h.open_user(&admin, "mkt", "marketer").await;
        let officer = h.login("police-desk", "a long password").await;
        let mkt = h.login("mkt", "a long password").await;

        let home = h.send("GET", "/console/", &[], &[&officer]).await;
        assert!(home.body.contains("id=\"nav-access-log\"") && !home.body.contains("/console/marketing"));
        let found = h.send("GET", "/console/access-log?mac=02:00:00:00:03:01", &[], &[&officer]).await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        assert!(found.body.contains("device:02:00:00:00:03:01") && found.body.contains("在线"), "{}", found.body);
        let bad = h.send("GET", "/console/access-log?port=seventy", &[], &[&officer]).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let csv = h.send("GET", "/console/access-log.csv?mac=02:00:00:00:03:01", &[], &[&officer]).await;
        assert_eq!(csv.status, StatusCode::OK);
        let key = crate::trail::check_signed(&csv.body).expect("signed");
        let ours = crate::trail::signing_key(h.dir.path()).unwrap();
        assert_eq!(key, ap_protocol::hex::encode(ours.verifying_key().as_bytes()));

        // The marketer and the admin are refused, and nothing is searched for them.
        for who in [&mkt, &admin] {
            let refused = h.send("GET", "/console/access-log?mac=02:00:00:00:03:01", &[], &[who]).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN);
            let csv = h.send("GET", "/console/access-log.csv?mac=02:00:00:00:03:01", &[], &[who]).await;
            assert_eq!(csv.status, StatusCode::FORBIDDEN);
        }
        // The names a session resolved (the domain log on): the officer's alone, the look logged.
        let log = crate::trail::domains::DomainLog::default();
        let guest: std::net::IpAddr = found.body.split("<td>192.0.2.").nth(1).map_or_else(
            || panic!("the guest's address on the page: {}", found.body),
            |rest| format!("192.0.2.{}", &rest[..rest.find('<').unwrap()]).parse().unwrap(),
        );
        log.note(guest, "news.example");
        log.flush(h.handles.sessions.store()).await.unwrap();
        let link = found.body.split("/console/access-log/domains?session=").nth(1).unwrap();
        let session = &link[..link.find('"').unwrap()];
        let names = h.send("GET", &format!("/console/access-log/domains?session={session}"), &[], &[&officer]).await;
        assert_eq!(names.status, StatusCode::OK);
        assert!(names.body.contains("<td>news.example</td>"), "{}", names.body);
        let refused = h.send("GET", &format!("/console/access-log/domains?session={session}"), &[], &[&mkt]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let logged: Vec<(String, String)> = sqlx::query_as(
            "SELECT actor, query FROM access_trail_searches WHERE query NOT LIKE 'domains%' ORDER BY id",
        )
        .fetch_all(h.handles.sessions.store())
        .await
        .unwrap();
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(logged.iter().all(|(actor, q)| actor.starts_with("police-desk") && q.contains("02:00:00:00:03:01")));
    }
}
