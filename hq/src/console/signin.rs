//! Signing in: the password, then the second factor (or, the first time,
//! its enrolment: the QR an authenticator app scans, a code to confirm it,
//! the recovery codes shown once), and signing out.

use super::{
    cookie, failed, lang_of, message, page, session_cookie, with_cookie, Console, LangQuery, Me, COOKIE, PRE_COOKIE,
};
use crate::staff::{StaffError, Stage};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

use super::strings::{strings, Strings};

/// The routes before a full session, and sign-out.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/second", get(second_page).post(second))
        .route("/enrol", get(enrol_page).post(enrol))
        .route("/logout", post(logout))
        .route("/account", get(account).post(new_recovery_codes))
}

#[derive(Template)]
#[template(path = "hq/login.html")]
struct LoginPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "hq/second.html")]
struct SecondPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "hq/enrol.html")]
struct EnrolPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    qr: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "hq/recovery.html")]
struct RecoveryPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    codes: Vec<String>,
}

/// A peer's address, from the listener.
struct From(IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for From {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(From(super::peer_of(parts)))
    }
}

/// A new sign-in form token bound to a SameSite=Strict cookie.
fn pre_token() -> (String, String) {
    let token = guestwifi_core::staff::random_token();
    let cookie = format!("{PRE_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Secure");
    (token, cookie)
}

fn pre_ok(headers: &HeaderMap, given: &str) -> bool {
    cookie(headers, PRE_COOKIE).is_some_and(|c| crate::staff::same(given, c))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

fn login_form(t: &Strings, status: StatusCode, notice: Option<String>) -> Response {
    let (csrf, cookie) = pre_token();
    with_cookie(page(status, LoginPage { t, me: None, notice, csrf }.render()), cookie)
}

async fn login_page(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let t = strings(lang_of(&headers, q.lang.as_deref()));
    login_form(t, StatusCode::OK, None)
}

/// The refusal page of a sign-in step: its status, its words, and how long to wait.
fn refused(t: &Strings, err: &StaffError) -> Option<(StatusCode, String, Option<u64>)> {
    Some(match err {
        StaffError::WrongCredentials => (StatusCode::FORBIDDEN, t.wrong_credentials.clone(), None),
        StaffError::WrongCode => (StatusCode::FORBIDDEN, t.wrong_code.clone(), None),
        StaffError::LockedOut { retry_after } => {
            let secs = retry_after.as_secs().max(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                t.locked_out.replace("{minutes}", &secs.div_ceil(60).to_string()),
                Some(secs),
            )
        }
        _ => return None,
    })
}

fn retry_after(mut response: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

async fn login(
    State(console): State<Arc<Console>>,
    From(from): From,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = strings(lang_of(&headers, None));
    if !pre_ok(&headers, &form.csrf) {
        return csrf_refused(t);
    }
    match console.staff.sign_in(&form.username, &form.password, from).await {
        Ok((token, signed)) => {
            let next = match signed.stage {
                Stage::Password { enrolled: true } => "/second",
                _ => "/enrol",
            };
            with_cookie(Redirect::to(next).into_response(), session_cookie(&token))
        }
        Err(err) => match refused(t, &err) {
            Some((status, notice, secs)) => {
                tracing::warn!(%from, reason = %err, "HQ console sign-in refused");
                retry_after(login_form(t, status, Some(notice)), secs)
            }
            None => failed(t, None, &err),
        },
    }
}

/// The session a sign-in step continues (its cookie's token), if it is live.
async fn pending(console: &Console, headers: &HeaderMap) -> Result<Option<(String, crate::staff::Signed)>, StaffError> {
    let Some(token) = cookie(headers, COOKIE) else { return Ok(None) };
    Ok(console.staff.session(token).await?.map(|s| (token.to_string(), s)))
}

/// A form whose token is not its session's (or cookie's): nothing changes.
fn csrf_refused(t: &Strings) -> Response {
    message(t, None, StatusCode::FORBIDDEN, &t.csrf_title, t.csrf_body.clone())
}

fn expired(t: &Strings) -> Response {
    message(t, None, StatusCode::UNAUTHORIZED, &t.expired_title, t.expired_body.clone())
}

async fn second_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let t = strings(lang_of(&headers, q.lang.as_deref()));
    match pending(&console, &headers).await {
        Ok(Some((_, s))) if s.stage == (Stage::Password { enrolled: true }) => {
            page(StatusCode::OK, SecondPage { t, me: None, notice: None, csrf: s.csrf }.render())
        }
        Ok(Some((_, s))) if s.stage == Stage::Full => Redirect::to("/").into_response(),
        Ok(_) => Redirect::to("/login").into_response(),
        Err(err) => failed(t, None, &err),
    }
}

async fn second(
    State(console): State<Arc<Console>>,
    From(from): From,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let t = strings(lang_of(&headers, None));
    let (token, signed) = match pending(&console, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired(t),
        Err(err) => return failed(t, None, &err),
    };
    if !crate::staff::same(&form.csrf, &signed.csrf) {
        return csrf_refused(t);
    }
    match console.staff.second_factor(&token, &form.code, from).await {
        Ok((token, signed)) => {
            let actor = signed.person.actor("console", &from.to_string());
            console.staff.audit(&actor, "sign_in", &signed.person.username, "").await;
            with_cookie(Redirect::to("/").into_response(), session_cookie(&token))
        }
        Err(StaffError::Expired) => expired(t),
        Err(err) => match refused(t, &err) {
            Some((status, notice, secs)) => {
                tracing::warn!(%from, user = %signed.person.username, reason = %err, "HQ console second factor refused");
                let body = SecondPage { t, me: None, notice: Some(notice), csrf: signed.csrf };
                retry_after(page(status, body.render()), secs)
            }
            None => failed(t, None, &err),
        },
    }
}

async fn enrol_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let t = strings(lang_of(&headers, q.lang.as_deref()));
    let Some(token) = cookie(&headers, COOKIE) else { return Redirect::to("/login").into_response() };
    match console.staff.enrolment_secret(token).await {
        Ok((signed, secret)) => enrol_form(&console, t, StatusCode::OK, None, signed, secret),
        Err(StaffError::Expired) => Redirect::to("/login").into_response(),
        Err(err) => failed(t, None, &err),
    }
}

fn enrol_form(
    console: &Console,
    t: &Strings,
    status: StatusCode,
    notice: Option<String>,
    signed: crate::staff::Signed,
    secret: String,
) -> Response {
    let uri = guestwifi_core::kit::totp::uri(&secret, &console.issuer, &signed.person.username);
    let qr = guestwifi_core::auth::counter::qr_svg(&uri);
    // Shown in groups of four, as apps that take it typed expect.
    let grouped =
        secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
    page(status, EnrolPage { t, me: None, notice, csrf: signed.csrf, qr, secret: grouped }.render())
}

async fn enrol(
    State(console): State<Arc<Console>>,
    From(from): From,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let t = strings(lang_of(&headers, None));
    let Some(token) = cookie(&headers, COOKIE) else { return expired(t) };
    let (signed, secret) = match console.staff.enrolment_secret(token).await {
        Ok(found) => found,
        Err(StaffError::Expired) => return expired(t),
        Err(err) => return failed(t, None, &err),
    };
    if !crate::staff::same(&form.csrf, &signed.csrf) {
        return csrf_refused(t);
    }
    match console.staff.confirm_enrolment(token, &form.code, from).await {
        Ok((token, signed, codes)) => {
            let actor = signed.person.actor("console", &from.to_string());
            console.staff.audit(&actor, "second_factor.enrol", &signed.person.username, "totp").await;
            let me = Some(super::me(t, &signed));
            let response = page(StatusCode::OK, RecoveryPage { t, me, notice: None, codes }.render());
            with_cookie(response, session_cookie(&token))
        }
        Err(StaffError::Expired) => expired(t),
        Err(err) => match refused(t, &err) {
            Some((status, notice, secs)) => {
                tracing::warn!(%from, user = %signed.person.username, reason = %err, "HQ console enrolment code refused");
                retry_after(enrol_form(&console, t, status, Some(notice), signed, secret), secs)
            }
            None => failed(t, None, &err),
        },
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl super::Csrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn logout(
    State(console): State<Arc<Console>>,
    From(from): From,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let t = strings(lang_of(&headers, None));
    let found = match pending(&console, &headers).await {
        Ok(found) => found,
        Err(err) => return failed(t, None, &err),
    };
    if let Some((token, signed)) = found {
        if !crate::staff::same(&form.csrf, &signed.csrf) {
            return csrf_refused(t);
        }
        if let Err(err) = console.staff.logout(&token).await {
            return failed(t, None, &err);
        }
        let actor = signed.person.actor("console", &from.to_string());
        console.staff.audit(&actor, "sign_out", &signed.person.username, "").await;
    }
    let gone = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0");
    with_cookie(Redirect::to("/login").into_response(), gone)
}

#[derive(Template)]
#[template(path = "hq/account.html")]
struct AccountPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    username: String,
    role: String,
    scope: String,
}

/// The person's own account: who and over what, and new recovery codes.
async fn account(me: super::Staffer<super::need::Overview>) -> Response {
    let t = me.t;
    let p = &me.signed.person;
    let body = AccountPage {
        t,
        me: Some(me.me()),
        notice: None,
        csrf: me.signed.csrf.clone(),
        username: p.username.clone(),
        role: t.role_name(p.role).to_string(),
        scope: t.scope_name(&p.scope),
    };
    page(StatusCode::OK, body.render())
}

/// New recovery codes for the person's own account, shown once.
async fn new_recovery_codes(
    State(console): State<Arc<Console>>,
    posted: super::Posted<super::need::Overview, CsrfForm>,
) -> Response {
    let super::Posted { staffer: me, .. } = posted;
    let t = me.t;
    match console.staff.act(&me.actor(), crate::staff::Action::NewRecoveryCodes).await {
        Ok(crate::staff::Done::RecoveryCodes { codes }) => {
            page(StatusCode::OK, RecoveryPage { t, me: Some(me.me()), notice: None, codes }.render())
        }
        Ok(_) => failed(t, Some(me.me()), &StaffError::Expired),
        Err(err) => failed(t, Some(me.me()), &err),
    }
}
