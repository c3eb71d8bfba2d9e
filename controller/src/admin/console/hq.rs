//! The admin's headquarters page: whether this restaurant is enrolled with
//! its chain's HQ, the link (since when HQ is unreachable, the bundle
//! applied or refused, the last heartbeat, facts waiting), and the join:
//! HQ's URL and the one-time claim code HQ's admin gave. Like the settings
//! page, a join is files and a restart, not a door request: audited here.

use super::{csrf_forms, failed, me, need, page, Console, Me, Member, Posted, Strings};
use crate::control::{Reply, Request};
use crate::hq::site::{Identity, LinkState};
use crate::staff::Signed;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// The page's routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new().route("/console/hq", get(show)).route("/console/hq/join", post(join))
}

#[derive(Template)]
#[template(path = "console/hq.html")]
struct HqPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    /// The join form's nonce: a second tap of Join joins nothing twice.
    once: String,
    /// The enrolment: URL, brand, site, region, name, CA fingerprint.
    enrolment: Option<crate::hq::site::Enrolment>,
    /// What the running link last saw (None: enrolled but not in use yet).
    link: Option<LinkView>,
    /// Facts waiting in the outbox.
    waiting: i64,
    /// What the join form had (kept when it is refused).
    url: String,
}

/// The link in words and local times.
struct LinkView {
    unreachable_since: Option<String>,
    heartbeat: Option<String>,
    bundle: String,
    applied_at: Option<String>,
    refused: Option<(String, String)>,
}

/// `2026-12-03 14:02 (5m)`: a UTC ms time on the venue's clock, and how long ago.
pub(super) fn local(t: &Strings, ms: i64, offset_hours: i64) -> String {
    let secs = ms / 1000;
    let minute = (secs + offset_hours * 3600).rem_euclid(86_400) / 60;
    let date = crate::kit::time::civil_date(secs, offset_hours);
    format!("{date} {:02}:{:02} ({})", minute / 60, minute % 60, t.ago(ms))
}

fn view(t: &Strings, link: &LinkState, offset: i64) -> LinkView {
    let at = |ms: i64| local(t, ms, offset);
    LinkView {
        unreachable_since: link.unreachable_since.map(at),
        heartbeat: link.heartbeat_at.map(at),
        bundle: link.bundle.clone(),
        applied_at: link.bundle_applied_at.map(at),
        refused: link.refused.clone(),
    }
}

async fn show(m: Member<need::Settings>, State(console): State<Arc<Console>>) -> Response {
    m.keep_lang(hq_page(&console, &m, None, String::new(), StatusCode::OK).await)
}

async fn hq_page<N>(
    console: &Console,
    m: &Member<N>,
    notice: Option<String>,
    url: String,
    status: StatusCode,
) -> Response {
    let (t, signed) = (m.t, &m.signed);
    let Some(config) = &console.config else {
        return super::message(t, Some(me(signed)), StatusCode::NOT_FOUND, &t.error_title, t.none.clone());
    };
    let enrolment = match Identity::load(&config.data.dir) {
        Ok(identity) => identity.map(|i| i.enrolment),
        Err(err) => return failed(t, Some(signed), &std::io::Error::other(err)),
    };
    let (link, waiting) = match console.ask(m, Request::FeedStatus).await {
        Reply::Feed { status } => {
            (status.hq.as_ref().map(|l| view(t, l, console.handles.zone_offset)), status.backlog.waiting)
        }
        _ => (None, 0),
    };
    let csrf = signed.csrf.clone();
    let once = Console::once();
    page(status, HqPage { t, me: Some(m.me()), notice, csrf, once, enrolment, link, waiting, url }.render())
}

#[derive(Deserialize)]
struct JoinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    once: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    code: String,
}

csrf_forms!(JoinForm);

/// `POST /console/hq/join`: the key made here, the code proved (never
/// sent), HQ's CA pinned; the controller restarts to use the enrolment.
async fn join(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Settings, JoinForm>,
) -> Response {
    let (t, signed): (&Strings, &Signed) = (m.t, &m.signed);
    let Some(config) = &console.config else {
        return super::message(t, Some(me(signed)), StatusCode::NOT_FOUND, &t.error_title, t.none.clone());
    };
    let url = form.url.trim().to_string();
    if !console.first_use(&form.once) {
        // The first tap's join is under way or done: show where it stands.
        return hq_page(&console, &m, Some(t.sent_twice.clone()), url, StatusCode::OK).await;
    }
    match crate::hq::join::join(&url, form.code.trim(), &config.data.dir, false).await {
        Ok(joined) => {
            let e = &joined.enrolment;
            let after = format!("url={} brand={} site={} ca={}", e.url, e.brand, e.site, e.ca_fingerprint);
            console.people().audit(&m.actor(), "hq.join", &e.site, "", &after).await;
            let notice = match &console.restart {
                Some(restart) => {
                    restart();
                    t.hq_joined_restarting.clone()
                }
                None => t.hq_joined.clone(),
            };
            hq_page(&console, &m, Some(format!("{notice} {}", e.ca_fingerprint)), String::new(), StatusCode::OK).await
        }
        Err(err) => {
            tracing::warn!(user = %signed.username, error = %err, "the join was refused");
            let status = match &err {
                crate::hq::join::JoinError::Refused(code, _) if *code == 429 => StatusCode::TOO_MANY_REQUESTS,
                crate::hq::join::JoinError::Refused(..) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            hq_page(&console, &m, Some(format!("{}{err}", t.hq_join_refused)), url, status).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[tokio::test]
    async fn the_admin_sees_the_site_stands_alone_and_a_wrong_code_joins_nothing() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let page = h.send("GET", "/console/hq", &[], &[&admin]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("id=\"standalone\"") && page.body.contains("id=\"join-form\""), "{}", page.body);
        let csrf = page.field("csrf");
        // Nothing answers there: the join fails, and nothing is written.
        let once = page.field("once");
        let form = [
            ("csrf", csrf.as_str()),
            ("once", once.as_str()),
            ("url", "https://127.0.0.1:9"),
            ("code", "ABCDEF-GHJKL-MNPQR"),
        ];
        let refused = h.send("POST", "/console/hq/join", &form, &[&admin]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        let twice = h.send("POST", "/console/hq/join", &form, &[&admin]).await;
        assert_eq!(twice.status, StatusCode::OK, "a second tap tries nothing: {}", twice.body);
        assert!(refused.body.contains("id=\"standalone\""), "{}", refused.body);
        assert!(!h.dir.path().join(crate::hq::site::DIR).join("enrolment.json").exists());
        assert_eq!(h.restarts.load(std::sync::atomic::Ordering::SeqCst), 0);
        let desk = {
            h.open_user(&admin, "desk", "frontdesk").await;
            h.login("desk", "a long password").await
        };
        assert_eq!(h.send("GET", "/console/hq", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);
    }
}
