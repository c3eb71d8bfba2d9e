//! Setup, login and logout: the pages before a session, and its end.

use super::{
    cookie, csrf_forms, csrf_refused, failed, keep_lang, lang_of, need, page, strings, Console, LangQuery, Me, Page,
    Posted, Strings, COOKIE, PRE_COOKIE,
};
use crate::staff::{Role, Signed, StaffError};
use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The routes before a session, and logout.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/setup", get(setup_page).post(setup))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
}

#[derive(Template)]
#[template(path = "console/setup.html")]
struct SetupPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
}

/// A new form token bound to a SameSite=Strict cookie (setup and login);
/// Secure when the console is served over HTTPS.
fn pre_token(secure: bool) -> (String, HeaderValue) {
    let token = crate::staff::random_token();
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{PRE_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}");
    (token, HeaderValue::from_str(&cookie).expect("ascii cookie"))
}

fn pre_ok(headers: &HeaderMap, given: &str) -> bool {
    cookie(headers, PRE_COOKIE).is_some_and(|c| !given.is_empty() && crate::kit::secrets::same_secret(given, c))
}

fn with_cookie(mut response: Response, value: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, value);
    response
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn setup_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(&headers, &q);
    let t = strings(lang);
    if console.people().has_users().await.unwrap_or(true) {
        return Redirect::to("/console/login").into_response();
    }
    let (csrf, cookie) = pre_token(console.secure);
    let response = page(StatusCode::OK, SetupPage { t, me: None, notice: None, csrf }.render());
    keep_lang(with_cookie(response, cookie), &q, lang)
}

async fn setup(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    let t = strings(lang_of(&headers, &LangQuery::default()));
    if !pre_ok(&headers, &form.csrf) {
        return csrf_refused(t, None);
    }
    let username = form.username.trim().to_ascii_lowercase();
    match console.people().setup(&form.code, &username, &form.password).await {
        Ok(()) => {
            let owner = Signed { user_id: 0, username: username.clone(), role: Role::Admin, csrf: String::new() };
            console.people().audit(&owner.actor(peer.ip()), "setup", &username, "", "admin").await;
            let (csrf, cookie) = pre_token(console.secure);
            let notice = Some(t.setup_done.clone());
            with_cookie(page(StatusCode::OK, LoginPage { t, me: None, notice, csrf }.render()), cookie)
        }
        Err(err) => {
            let (status, notice) = match &err {
                StaffError::Setup => (StatusCode::FORBIDDEN, t.setup_wrong.clone()),
                StaffError::Invalid(why) => (StatusCode::BAD_REQUEST, format!("{}{why}", t.bad_input)),
                other => return failed(t, None, other),
            };
            tracing::warn!(from = %peer.ip(), "first-run setup refused");
            let (csrf, cookie) = pre_token(console.secure);
            with_cookie(page(status, SetupPage { t, me: None, notice: Some(notice), csrf }.render()), cookie)
        }
    }
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

async fn login_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(&headers, &q);
    let t = strings(lang);
    if !console.people().has_users().await.unwrap_or(true) {
        return Redirect::to("/console/setup").into_response();
    }
    let (csrf, cookie) = pre_token(console.secure);
    let response = page(StatusCode::OK, LoginPage { t, me: None, notice: None, csrf }.render());
    keep_lang(with_cookie(response, cookie), &q, lang)
}

async fn login(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = strings(lang_of(&headers, &LangQuery::default()));
    if !pre_ok(&headers, &form.csrf) {
        return csrf_refused(t, None);
    }
    match console.people().login(&form.username, &form.password, peer.ip()).await {
        Ok((token, signed)) => {
            console.people().audit(&signed.actor(peer.ip()), "login", &signed.username, "", "").await;
            let secure = if console.secure { "; Secure" } else { "" };
            let value = format!("{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}");
            let cookie = HeaderValue::from_str(&value).expect("ascii cookie");
            with_cookie(Redirect::to("/console/").into_response(), cookie)
        }
        Err(err) => {
            let (status, notice, retry) = match &err {
                StaffError::WrongCredentials => (StatusCode::FORBIDDEN, t.wrong_credentials.clone(), None),
                StaffError::LockedOut { retry_after } => {
                    let secs = retry_after.as_secs().max(1);
                    let text = t.locked_out.replace("{minutes}", &secs.div_ceil(60).to_string());
                    (StatusCode::TOO_MANY_REQUESTS, text, Some(secs))
                }
                other => return failed(t, None, other),
            };
            tracing::warn!(from = %peer.ip(), reason = %err, "console login refused");
            let (csrf, cookie) = pre_token(console.secure);
            let mut response =
                with_cookie(page(status, LoginPage { t, me: None, notice: Some(notice), csrf }.render()), cookie);
            if let Some(secs) = retry {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

csrf_forms!(CsrfForm);

async fn logout(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Posted { member: m, .. }: Posted<need::Everyone, CsrfForm>,
) -> Page {
    if let Some(token) = cookie(&headers, COOKIE) {
        if let Err(err) = console.people().logout(token).await {
            return Err(m.failed(&err));
        }
    }
    console.people().audit(&m.actor(), "logout", &m.signed.username, "", "").await;
    let gone = HeaderValue::from_static("gw_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(with_cookie(Redirect::to("/console/login").into_response(), gone))
}

#[cfg(test)]
mod pre_cookie_tests {
    use super::*;

    #[test]
    fn the_setup_and_login_forms_cookie_is_secure_under_https() {
        assert!(pre_token(true).1.to_str().unwrap().ends_with("; Secure"));
        assert!(!pre_token(false).1.to_str().unwrap().contains("Secure"));
    }
}
