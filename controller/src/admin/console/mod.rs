//! The staff web console on the admin listener (`/console/`): first-run
//! setup with the one-time code, staff login, and a page family a file —
//! `setup` (setup, login, logout), `desk` (home, guests, vouchers,
//! front-desk accounts), `members`, `stats`, `people` (staff, API tokens,
//! the audit log), `radio` (APs, SSIDs, the channel plan, firmware),
//! `marketing`, `settings` and `hq` (the link to the chain's headquarters). Server-rendered (askama,
//! `console-templates/`), zh-CN first and English, no JavaScript.
//!
//! A handler names what it needs in its signature: [`Member<N>`] is the
//! signed-in staff member whose role the role table allows the task `N`
//! (else the login page or 403), [`Posted<N, F>`] the same with a form `F`
//! whose CSRF token matched the session's (else nothing changes). Every
//! action goes through the one door (`control::handle`) with the member as
//! its actor, so the role table and the audit row are the same as for the
//! CLI and the JSON API; every response has a strict Content-Security-Policy.

mod aps;
mod desk;
mod firmware;
mod hq;
mod marketing;
mod members;
mod people;
mod radio;
mod settings;
mod setup;
mod stats;
mod strings;
#[cfg(test)]
mod tests;
mod trail;

pub use strings::Strings;

use crate::control::roles::Task;
use crate::control::{self, Handles, Reply, Request};
use crate::portal::i18n::Lang;
use crate::staff::{Actor, Role, Signed};
use askama::Template;
use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use strings::strings;

/// The session cookie.
const COOKIE: &str = "gw_console";
/// The cookie that binds the setup and login forms' token.
const PRE_COOKIE: &str = "gw_console_pre";
/// What every console page may load: itself, nothing inline, no frames.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's state: the one door's handles and what the settings
/// page and the editor's preview need.
pub struct Console {
    handles: Handles,
    /// Cookies marked Secure (the console is served over HTTPS).
    secure: bool,
    /// The portal, whose login page the editor's preview renders.
    portal: Option<Arc<crate::portal::Portal>>,
    /// The running configuration (the settings page starts from it).
    config: Option<Arc<crate::config::Config>>,
    /// Restarts the controller so saved settings apply.
    restart: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Form nonces already used (a double tap makes one batch, not two).
    used_once: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

impl Console {
    /// The console over `handles` (its staff are `handles.people`).
    pub fn new(handles: Handles, secure: bool) -> Self {
        Console { handles, secure, portal: None, config: None, restart: None, used_once: Default::default() }
    }

    /// The console of a built graph: its preview renders `portal`'s login
    /// page, its settings page edits the graph's configuration (`restart`
    /// applies it); over HTTPS its cookies are Secure.
    pub fn of(
        app: &crate::app::App,
        portal: Arc<crate::portal::Portal>,
        secure: bool,
        restart: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Self {
        Console::new(app.handles.clone(), secure).with_portal(portal).with_settings(app.config.clone(), restart)
    }

    /// The editor's preview renders `portal`'s login page.
    pub fn with_portal(mut self, portal: Arc<crate::portal::Portal>) -> Self {
        self.portal = Some(portal);
        self
    }

    /// The settings page edits `config`'s settings; `restart` applies them.
    pub fn with_settings(
        mut self,
        config: Arc<crate::config::Config>,
        restart: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Self {
        self.config = Some(config);
        self.restart = restart;
        self
    }

    /// Hours the site's zone is ahead of UTC.
    fn zone(&self) -> i64 {
        self.handles.zone_offset
    }

    /// `request` through the one door, `member` its actor.
    async fn ask<N>(&self, member: &Member<N>, request: Request) -> Reply {
        control::handle(&member.actor(), request, &self.handles).await
    }

    /// Staff accounts, sessions, tokens and the audit log.
    fn people(&self) -> &crate::staff::Staff {
        &self.handles.people
    }

    /// The marketer's content.
    fn marketing(&self) -> &Arc<crate::marketing::Marketing> {
        &self.handles.marketing
    }

    /// A fresh nonce for a form that makes something (`once`).
    fn once() -> String {
        crate::kit::secrets::random_code(16)
    }

    /// Whether this is the first time a form with `nonce` arrives (an empty
    /// one always is); nonces are forgotten after an hour.
    fn first_use(&self, nonce: &str) -> bool {
        if nonce.is_empty() {
            return true;
        }
        let mut used = self.used_once.lock().unwrap();
        let now = std::time::Instant::now();
        used.retain(|_, at| now.duration_since(*at) < std::time::Duration::from_secs(3600));
        used.insert(nonce.to_string(), now).is_none()
    }
}

/// The console's routes, under `/console/`.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .merge(setup::routes())
        .merge(desk::routes())
        .merge(members::routes())
        .merge(stats::routes())
        .merge(people::routes())
        .merge(radio::routes())
        .merge(marketing::routes())
        .merge(settings::routes())
        .merge(hq::routes())
        .merge(trail::routes())
        .route(
            "/console/static/console.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("../../../../console-templates/static/console.css"),
                )
            }),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// What a route needs the signed-in member's role to allow: a task of the
/// one role table (`control::roles`).
pub trait Need {
    /// The task.
    const TASK: Task;
}

/// The tasks routes name in their extractors.
pub mod need {
    use super::{Need, Task};

    macro_rules! needs {
        ($($(#[$doc:meta])* $name:ident => $task:ident),* $(,)?) => {
            $( $(#[$doc])* pub struct $name; impl Need for $name { const TASK: Task = Task::$task; } )*
        };
    }

    needs! {
        /// Any signed-in member.
        Everyone => Everyone,
        /// Guests online.
        Guests => Guests,
        /// Vouchers, front-desk accounts.
        Desk => FrontDesk,
        /// Members' look-up and cards.
        Members => Members,
        /// Statistics.
        Statistics => Statistics,
        /// The marketing pages.
        Marketing => Marketing,
        /// APs, SSIDs, plan, firmware.
        Radio => Radio,
        /// Staff and the audit log.
        People => People,
        /// The appliance's settings.
        Settings => Settings,
        /// The access log the police ask for.
        AccessLog => AccessLog,
    }
}

/// The signed-in staff member, with a role the task `N` allows, and the
/// page language.
pub struct Member<N> {
    /// The page's strings.
    pub t: &'static Strings,
    /// Who.
    pub signed: Signed,
    /// From where.
    pub peer: SocketAddr,
    lang: Lang,
    /// `?lang=` was given: the choice is kept in a cookie.
    chose_lang: bool,
    _need: PhantomData<N>,
}

impl<N> Member<N> {
    /// As the page header shows them.
    fn me(&self) -> Me {
        me(&self.signed)
    }

    /// As the one door and the audit log name them.
    fn actor(&self) -> Actor {
        self.signed.actor(self.peer.ip())
    }

    /// With `?lang=`, the choice is kept in a cookie.
    fn keep_lang(&self, response: Response) -> Response {
        if self.chose_lang {
            return lang_cookie(response, self.lang);
        }
        response
    }

    /// The page for a store or kernel failure (503), logged.
    fn failed(&self, err: &dyn std::error::Error) -> ConsoleError {
        ConsoleError::from(failed(self.t, Some(&self.signed), err))
    }

    /// The page for a reply that is an error, with its kind's status.
    fn refused(&self, reply: Reply) -> ConsoleError {
        ConsoleError::from(reply_failed(self.t, &self.signed, reply))
    }
}

impl<N: Need + Send> FromRequestParts<Arc<Console>> for Member<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Self, Response> {
        let query = Query::<LangQuery>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
        let lang = lang_of(&parts.headers, &query);
        let t = strings(lang);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let signed = match cookie(&parts.headers, COOKIE) {
            Some(token) => console.people().session(token).await.map_err(|e| failed(t, None, &e))?,
            None => None,
        };
        let Some(signed) = signed else {
            return Err(Redirect::to("/console/login").into_response());
        };
        if !N::TASK.allows(signed.role) {
            tracing::warn!(user = %signed.username, role = signed.role.as_str(), task = ?N::TASK, "console page refused to this role");
            return Err(message(
                t,
                Some(me(&signed)),
                StatusCode::FORBIDDEN,
                &t.nav_forbidden,
                t.forbidden_body.clone(),
            ));
        }
        Ok(Member { t, signed, peer, lang, chose_lang: query.lang.is_some(), _need: PhantomData })
    }
}

/// A form that carries the session's CSRF token.
pub trait Csrf {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

macro_rules! csrf_forms {
    ($($form:ty),* $(,)?) => { $( impl $crate::admin::console::Csrf for $form { fn csrf(&self) -> &str { &self.csrf } } )* };
}
pub(crate) use csrf_forms;

/// A form post: the member whose role allows `N`, and the form `F` whose
/// CSRF token is the session's (else the expired-form page; nothing is
/// changed).
pub struct Posted<N, F> {
    /// Who posted it.
    pub member: Member<N>,
    /// What they sent.
    pub form: F,
}

impl<N: Need + Send, F: DeserializeOwned + Csrf + Send> FromRequest<Arc<Console>> for Posted<N, F> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, console: &Arc<Console>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let member = Member::<N>::from_request_parts(&mut parts, console).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        let Form(form) = Form::<F>::from_request(request, console).await.map_err(IntoResponse::into_response)?;
        if !csrf_ok(&member.signed, form.csrf()) {
            return Err(csrf_refused(member.t, Some(&member.signed)));
        }
        Ok(Posted { member, form })
    }
}

/// What a handler answers instead of its page: an error page, already
/// rendered with its status.
pub struct ConsoleError(Box<Response>);

impl From<Response> for ConsoleError {
    fn from(page: Response) -> Self {
        ConsoleError(Box::new(page))
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A handler's answer.
type Page = Result<Response, ConsoleError>;

/// The signed-in member as the page header shows them.
struct Me {
    username: String,
    role: &'static str,
    csrf: String,
    admin: bool,
    front_desk: bool,
    marketer: bool,
    officer: bool,
}

fn me(signed: &Signed) -> Me {
    Me {
        username: signed.username.clone(),
        role: signed.role.as_str(),
        csrf: signed.csrf.clone(),
        admin: signed.role == Role::Admin,
        front_desk: Task::FrontDesk.allows(signed.role),
        marketer: Task::Marketing.allows(signed.role),
        officer: Task::AccessLog.allows(signed.role),
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    title: String,
    body: String,
}

/// A strict CSP (unless the page set its own), no framing, no sniffing,
/// no caching, no referrer.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page's query: the language, and what the page filters by.
#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    batch: String,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn lang_of(headers: &HeaderMap, query: &LangQuery) -> Lang {
    Lang::choose(
        query.lang.as_deref(),
        cookie(headers, "console_lang"),
        headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
    )
}

fn page(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(err) => {
            tracing::error!(%err, "console template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// With `?lang=`, the choice is kept in a cookie (the pages without a member).
fn keep_lang(response: Response, query: &LangQuery, lang: Lang) -> Response {
    if query.lang.is_some() {
        return lang_cookie(response, lang);
    }
    response
}

/// The language chosen, kept in a cookie for the console's next pages.
fn lang_cookie(mut response: Response, lang: Lang) -> Response {
    let value = format!("console_lang={}; Path=/console; Max-Age=31536000; SameSite=Strict", lang.code());
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn message(t: &Strings, me: Option<Me>, status: StatusCode, title: &str, body: String) -> Response {
    page(status, MessagePage { t, me, notice: None, title: title.to_string(), body }.render())
}

/// A form's CSRF token against the session's (constant time).
fn csrf_ok(signed: &Signed, given: &str) -> bool {
    !given.is_empty() && crate::kit::secrets::same_secret(given, &signed.csrf)
}

fn csrf_refused(t: &Strings, signed: Option<&Signed>) -> Response {
    message(t, signed.map(me), StatusCode::FORBIDDEN, &t.csrf_title, t.csrf_body.clone())
}

fn failed(t: &Strings, signed: Option<&Signed>, err: &dyn std::error::Error) -> Response {
    tracing::error!(error = %crate::error_chain(err), "console request failed");
    message(t, signed.map(me), StatusCode::SERVICE_UNAVAILABLE, &t.error_title, t.error_body.clone())
}

/// A reply that is an error: its page with the status of its kind (the
/// one map, as the API's).
fn reply_failed(t: &Strings, signed: &Signed, reply: Reply) -> Response {
    match reply {
        Reply::Error { kind, message: text } => message(
            t,
            Some(me(signed)),
            crate::admin::api::status(kind),
            &t.error_title,
            format!("{}{text}", t.bad_input),
        ),
        other => {
            tracing::error!(?other, "unexpected control reply");
            message(t, Some(me(signed)), StatusCode::INTERNAL_SERVER_ERROR, &t.error_title, t.error_body.clone())
        }
    }
}
