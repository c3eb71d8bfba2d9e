//! The HQ console: the chain's people's pages, on the internet (its own
//! HTTPS listener, `[console]`). Every account signs in with its password
//! and then a TOTP code; an account without one enrols an authenticator app
//! first (QR, recovery codes shown once). Server-rendered (askama, the site
//! console's templates folder and CSS), zh-CN first and English, no
//! JavaScript, a strict CSP, CSRF on every form.
//!
//! A page family a file: `signin` (password, second factor, enrolment,
//! sign-out), `sites` (today, the sites page, a site's page), `people`
//! (accounts, the audit log). A handler names what it needs in its
//! signature: [`Staffer<N>`] is a signed-in person whose role the one
//! table (`staff::Task`) allows `N`'s task; what they see is cut to their
//! scope in the handler, from the same [`Person`].

mod access;
mod content;
mod editor;
mod members;
mod people;
mod signin;
mod sites;
mod stats;
mod strings;
mod vouchers;

pub use strings::Strings;

use crate::db::Db;
use crate::health::Thresholds;
use crate::staff::{Person, Role, Signed, Staff, Stage, Task};
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use guestwifi_core::hq::protocol::Scope;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;
use strings::strings;

/// The session cookie.
const COOKIE: &str = "gw_hq";
/// The cookie that binds the sign-in form's token.
const PRE_COOKIE: &str = "gw_hq_pre";
/// What every page may load: itself, nothing inline, framed by nobody
/// (the content page frames its own phone preview).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's state.
pub struct Console {
    db: Db,
    staff: Staff,
    thresholds: Thresholds,
    /// What authenticator apps show beside the account.
    issuer: String,
    /// Hours the shown times are ahead of UTC.
    zone: i64,
    /// HQ's ticket key's public half (a site's wanted bundle carries it).
    ticket_public: Option<String>,
    /// The nonces of forms that make something, as they arrived (an hour).
    used_once: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Console {
    /// The console on `db`, as `[console]` says.
    pub fn new(db: Db, config: &crate::config::Config) -> anyhow::Result<Console> {
        let console = config.console.as_ref();
        let tickets = crate::api::ticket_key(config)?;
        let ticket_public = tickets.as_ref().map(guestwifi_core::hq::tickets::public_hex);
        Ok(Console {
            staff: Staff::new(db.clone()).with_ticket_key(tickets),
            db,
            thresholds: Thresholds::of(console),
            issuer: console.map_or_else(|| "Guest Wi-Fi HQ".into(), |c| c.issuer.clone()),
            zone: config.zone(),
            ticket_public,
            used_once: Default::default(),
        })
    }

    /// The people store.
    pub fn staff(&self) -> &Staff {
        &self.staff
    }

    /// A nonce for a form that makes something (a double tap makes one).
    fn once() -> String {
        guestwifi_core::kit::secrets::random_code(16)
    }

    /// Whether this is the first time a form with `nonce` arrives here (an
    /// empty one always is); nonces are forgotten after an hour.
    fn first_use(&self, nonce: &str) -> bool {
        if nonce.is_empty() {
            return true;
        }
        let mut used = self.used_once.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        used.retain(|_, at| now.duration_since(*at) < std::time::Duration::from_secs(3600));
        used.insert(nonce.to_string(), now).is_none()
    }
}

/// The console's routes.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .merge(signin::routes())
        .merge(sites::routes())
        .merge(people::routes())
        .merge(content::routes())
        .merge(editor::routes())
        .merge(access::routes())
        .merge(members::routes())
        .merge(stats::routes())
        .merge(vouchers::routes())
        .route(
            "/static/console.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("../../../console-templates/static/console.css"),
                )
            }),
        )
        .fallback(|headers: HeaderMap| async move {
            let t = strings(lang_of(&headers, None));
            message(t, None, StatusCode::NOT_FOUND, &t.forbidden_title, t.not_found.clone())
        })
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn(remember_lang))
        .with_state(console)
}

/// A page asked with `?lang=` keeps that language for the next pages (a cookie).
async fn remember_lang(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let asked = Query::<LangQuery>::try_from_uri(request.uri()).ok().and_then(|q| q.0.lang);
    keep_lang(next.run(request).await, asked.as_deref())
}

/// A page's task in the one role table.
pub trait Need {
    /// The task.
    const TASK: Task;
}

/// The tasks routes name.
pub mod need {
    use super::{Need, Task};

    /// The overview.
    pub struct Overview;
    impl Need for Overview {
        const TASK: Task = Task::Overview;
    }
    /// Each site's access log, as it reports it.
    pub struct AccessLogs;
    impl Need for AccessLogs {
        const TASK: Task = Task::AccessLogs;
    }
    /// The sites.
    pub struct Sites;
    impl Need for Sites {
        const TASK: Task = Task::Sites;
    }
    /// People.
    pub struct People;
    impl Need for People {
        const TASK: Task = Task::People;
    }
    /// The audit log.
    pub struct Audit;
    impl Need for Audit {
        const TASK: Task = Task::Audit;
    }
    /// The portal's content and settings.
    pub struct Content;
    impl Need for Content {
        const TASK: Task = Task::Content;
    }
    /// The chain's members.
    pub struct Members;
    impl Need for Members {
        const TASK: Task = Task::Members;
    }
    /// Chain statistics.
    pub struct Statistics;
    impl Need for Statistics {
        const TASK: Task = Task::Statistics;
    }
    /// Chain voucher batches.
    pub struct Vouchers;
    impl Need for Vouchers {
        const TASK: Task = Task::Vouchers;
    }
}

/// A signed-in person (both factors) whose role allows `N`'s task.
pub struct Staffer<N> {
    /// The page's strings.
    pub t: &'static Strings,
    /// Who.
    pub signed: Signed,
    /// From where.
    pub from: IpAddr,
    _need: PhantomData<N>,
}

impl<N> Staffer<N> {
    fn person(&self) -> &Person {
        &self.signed.person
    }

    fn me(&self) -> Me {
        me(self.t, &self.signed)
    }

    fn actor(&self) -> crate::staff::Actor {
        self.person().actor("console", &self.from.to_string())
    }

    fn failed(&self, err: &dyn std::error::Error) -> Response {
        failed(self.t, Some(self.me()), err)
    }

    /// An action's outcome as the page's status and notice: `done` when it
    /// went through, a refusal in words (400, 403), the error page for the rest.
    // The error is the page to answer with, as in every handler's `Result<Response, Response>`.
    #[allow(clippy::result_large_err)]
    fn notice(&self, result: Result<String, crate::staff::StaffError>) -> Result<(StatusCode, String), Response> {
        use crate::staff::StaffError;
        let t = self.t;
        match result {
            Ok(done) => Ok((StatusCode::OK, done)),
            Err(StaffError::Invalid(why)) => Ok((StatusCode::BAD_REQUEST, format!("{}{why}", t.bad_input))),
            Err(StaffError::Forbidden(why)) => Ok((StatusCode::FORBIDDEN, format!("{}: {why}", t.forbidden_title))),
            Err(err) => Err(self.failed(&err)),
        }
    }
}

/// The peer's address (the listener puts it on every request).
fn peer_of(parts: &Parts) -> IpAddr {
    parts.extensions.get::<crate::api::Peer>().map_or(IpAddr::from([0, 0, 0, 0]), |p| p.addr.ip())
}

impl<N: Need + Send> FromRequestParts<Arc<Console>> for Staffer<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Self, Response> {
        let query = Query::<LangQuery>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
        let t = strings(lang_of(&parts.headers, query.lang.as_deref()));
        let signed = match cookie(&parts.headers, COOKIE) {
            Some(token) => console.staff.session(token).await.map_err(|e| failed(t, None, &e))?,
            None => None,
        };
        let signed = match signed {
            Some(s) if s.stage == Stage::Full => s,
            Some(s) if s.stage == (Stage::Password { enrolled: true }) => {
                return Err(Redirect::to("/second").into_response())
            }
            Some(_) => return Err(Redirect::to("/enrol").into_response()),
            None => return Err(Redirect::to("/login").into_response()),
        };
        if !N::TASK.allows(signed.person.role) {
            tracing::warn!(user = %signed.person.username, role = signed.person.role.as_str(), task = ?N::TASK, "HQ console page refused to this role");
            return Err(message(
                t,
                Some(me(t, &signed)),
                StatusCode::FORBIDDEN,
                &t.forbidden_title,
                t.forbidden_body.clone(),
            ));
        }
        Ok(Staffer { t, signed, from: peer_of(parts), _need: PhantomData })
    }
}

/// A form that carries the session's CSRF token.
pub trait Csrf {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// A form post by a person whose role allows `N`, with a form whose CSRF
/// token is the session's (else nothing changes).
pub struct Posted<N, F> {
    /// Who.
    pub staffer: Staffer<N>,
    /// What.
    pub form: F,
}

impl<N: Need + Send, F: DeserializeOwned + Csrf + Send> FromRequest<Arc<Console>> for Posted<N, F> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, console: &Arc<Console>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let staffer = Staffer::<N>::from_request_parts(&mut parts, console).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        let Form(form) = Form::<F>::from_request(request, console).await.map_err(IntoResponse::into_response)?;
        if !crate::staff::same(form.csrf(), &staffer.signed.csrf) {
            return Err(message(
                staffer.t,
                Some(staffer.me()),
                StatusCode::FORBIDDEN,
                &staffer.t.csrf_title,
                staffer.t.csrf_body.clone(),
            ));
        }
        Ok(Posted { staffer, form })
    }
}

/// The person as the page header shows them.
struct Me {
    username: String,
    role: String,
    scope: String,
    csrf: String,
    sites: bool,
    content: bool,
    members: bool,
    people: bool,
    stats: bool,
    vouchers: bool,
    access_logs: bool,
}

fn me(t: &Strings, signed: &Signed) -> Me {
    let p = &signed.person;
    Me {
        username: p.username.clone(),
        role: t.role_name(p.role).to_string(),
        scope: t.scope_name(&p.scope),
        csrf: signed.csrf.clone(),
        sites: Task::Sites.allows(p.role),
        content: Task::Content.allows(p.role),
        members: Task::Members.allows(p.role),
        people: Task::People.allows(p.role),
        stats: Task::Statistics.allows(p.role),
        vouchers: Task::Vouchers.allows(p.role),
        access_logs: Task::AccessLogs.allows(p.role),
    }
}

#[derive(Template)]
#[template(path = "hq/message.html")]
struct MessagePage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    title: String,
    body: String,
}

fn message(t: &Strings, me: Option<Me>, status: StatusCode, title: &str, body: String) -> Response {
    page(status, MessagePage { t, me, notice: None, title: title.to_string(), body }.render())
}

fn failed(t: &Strings, me: Option<Me>, err: &dyn std::error::Error) -> Response {
    tracing::error!(error = %guestwifi_core::error_chain(err), "HQ console request failed");
    message(t, me, StatusCode::SERVICE_UNAVAILABLE, &t.error_title, t.error_body.clone())
}

fn page(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(err) => {
            tracing::error!(%err, "HQ console template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A strict CSP, no framing, no sniffing, no caching, no referrer.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    // A page that says its own (the phone preview, framed by the content page) keeps it.
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    h.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    response
}

/// A page's query: the language, and what the sites page filters by.
#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
    #[serde(default)]
    region: String,
    #[serde(default)]
    state: String,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The page's language: `?lang=`, then the cookie, then the browser's first choice; zh-CN unless English.
fn lang_of(headers: &HeaderMap, asked: Option<&str>) -> &'static str {
    let choice = asked
        .or_else(|| cookie(headers, "hq_lang"))
        .or_else(|| headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
        .unwrap_or("zh-CN");
    if choice.trim_start().to_ascii_lowercase().starts_with("en") {
        "en"
    } else {
        "zh-CN"
    }
}

/// With `?lang=`, the choice is kept in a cookie (every page: [`remember_lang`]).
fn keep_lang(mut response: Response, asked: Option<&str>) -> Response {
    if let Some(lang) = asked {
        let lang = if lang.starts_with("en") { "en" } else { "zh-CN" };
        let value = format!("hq_lang={lang}; Path=/; Max-Age=31536000; SameSite=Strict; Secure");
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn with_cookie(mut response: Response, value: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The session cookie for `token` (Secure: the console is HTTPS only).
fn session_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Secure")
}

/// A UTC ms time in the console's zone: `2026-12-04 16:02`.
fn when(ms: i64, zone: i64) -> String {
    let secs = ms.div_euclid(1000);
    let local = secs + zone * 3600;
    let minute_of_day = local.rem_euclid(86_400) / 60;
    format!("{} {:02}:{:02}", guestwifi_core::kit::time::civil_date(secs, zone), minute_of_day / 60, minute_of_day % 60)
}

/// How long ago, in words.
fn ago(t: &Strings, ms: i64) -> String {
    let secs = (guestwifi_core::kit::time::now_ms() - ms).max(0) / 1000;
    in_words(secs, [&t.ago_seconds, &t.ago_minutes, &t.ago_hours, &t.ago_days])
}

/// A length of time in words (`12 min`).
fn duration(t: &Strings, ms: i64) -> String {
    in_words(ms.max(0) / 1000, [&t.for_seconds, &t.for_minutes, &t.for_hours, &t.for_days])
}

/// `secs` in the largest unit of `units` (seconds, minutes, hours, days) it fills.
fn in_words(secs: i64, units: [&String; 4]) -> String {
    let (text, n) = match secs {
        0..=59 => (units[0], secs),
        60..=3599 => (units[1], secs / 60),
        3600..=86_399 => (units[2], secs / 3600),
        _ => (units[3], secs / 86_400),
    };
    text.replace("{n}", &n.to_string())
}

/// Scopes `person` may give: theirs and every region and site within it.
fn scopes_within(t: &Strings, person: &Person, sites: &[crate::db::SiteRow]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if person.scope == Scope::Brand {
        out.push(("brand".to_string(), t.scope_name(&Scope::Brand)));
    }
    let mut regions: Vec<&str> = sites
        .iter()
        .filter(|s| person.covers(&s.region, &s.site) && !s.region.is_empty())
        .map(|s| s.region.as_str())
        .collect();
    regions.dedup();
    for r in regions {
        let scope = Scope::Region(r.into());
        if person.covers_scope(&scope, |_| None) {
            out.push((scope.to_string(), t.scope_name(&scope)));
        }
    }
    for s in sites.iter().filter(|s| person.covers(&s.region, &s.site)) {
        let scope = Scope::Site(s.site.clone());
        out.push((scope.to_string(), format!("{} ({})", t.scope_name(&scope), s.name)));
    }
    out
}

/// The roles `person` may give.
fn roles_for(t: &Strings, person: &Person) -> Vec<(String, String)> {
    Role::ALL
        .into_iter()
        .filter(|r| person.role == Role::Owner || !matches!(r, Role::Owner | Role::Admin))
        .map(|r| (r.as_str().to_string(), t.role_name(r).to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_the_console_s_zone_and_languages_follow_the_browser() {
        assert_eq!(when(1_796_400_000_000, 8), "2026-12-05 00:00");
        assert_eq!(when(1_796_400_000_000 + 125_000, 0), "2026-12-04 16:02");
        let mut headers = HeaderMap::new();
        assert_eq!(lang_of(&headers, None), "zh-CN");
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en-GB,en;q=0.9"));
        assert_eq!(lang_of(&headers, None), "en");
        assert_eq!(lang_of(&headers, Some("zh-CN")), "zh-CN");
    }
}
