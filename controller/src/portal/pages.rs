//! The portal's pages: the brand page with its countdown, the login, the
//! success and online pages, and translated error pages.

use super::i18n::{Lang, Strings};
use super::{Peer, Portal, MAX_URL};
use crate::auth::countdown::CountdownError;
use crate::auth::Method;
use crate::sessions::SessionError;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use firewall::Client;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "countdown.html")]
struct CountdownPage<'a> {
    t: &'a Strings,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    seconds: u64,
    ticket: String,
}

#[derive(Template)]
#[template(path = "success.html")]
struct SuccessPage<'a> {
    t: &'a Strings,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    url: Option<String>,
    minutes: u64,
}

#[derive(Template)]
#[template(path = "online.html")]
struct OnlinePage<'a> {
    t: &'a Strings,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    minutes: u64,
    token: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    t: &'a Strings,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    kind: &'a str,
    title: &'a str,
    body: String,
}

/// The login method these pages serve.
const METHOD: &str = Method::Countdown.as_str();

/// `GET /` query.
#[derive(Deserialize)]
pub struct HomeQuery {
    url: Option<String>,
    sig: Option<String>,
    lang: Option<String>,
}

/// `POST /logout` form: the device's token from the online page.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    token: String,
}

/// `POST /login` form.
#[derive(Deserialize)]
pub struct LoginForm {
    ticket: String,
}

/// The brand page with its countdown, or the online page for a guest who is
/// logged in.
pub async fn home(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::choose(query.lang.as_deref(), cookie(&headers, "lang"), accept_language(&headers));
    let mut response = match identify(&portal, peer, lang) {
        Err(response) => *response,
        Ok(client) => match portal.sessions.current(client).await {
            Err(err) => internal(&portal, lang, &err),
            Ok(Some(session)) => html(
                StatusCode::OK,
                OnlinePage {
                    t: lang.strings(),
                    venue: &portal.config.venue.name,
                    tagline: tagline(&portal, lang),
                    venue_url: &portal.config.venue.info_url,
                    minutes: session.remaining().as_secs().div_ceil(60),
                    token: portal.signer.device_token(client),
                }
                .render(),
            ),
            Ok(None) => {
                // Only a URL our own redirect signed is followed after the login.
                let url = match (query.url.as_deref(), query.sig.as_deref()) {
                    (Some(url), Some(sig)) if portal.signer.url_ok(url, sig) => safe_url(url),
                    (Some(url), _) => {
                        tracing::warn!(%client, url = %url.chars().take(200).collect::<String>(), "unsigned url ignored");
                        None
                    }
                    _ => None,
                };
                let ticket = portal.countdown.issue(client, url);
                html(
                    StatusCode::OK,
                    CountdownPage {
                        t: lang.strings(),
                        venue: &portal.config.venue.name,
                        tagline: tagline(&portal, lang),
                        venue_url: &portal.config.venue.info_url,
                        seconds: portal.countdown.seconds().as_secs(),
                        ticket,
                    }
                    .render(),
                )
            }
        },
    };
    if query.lang.is_some() {
        let cookie = format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
        response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ascii cookie"));
    }
    response
}

/// Countdown login: the ticket from the brand page, after the countdown.
pub async fn login(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::choose(None, cookie(&headers, "lang"), accept_language(&headers));
    let client = match identify(&portal, peer, lang) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let redeemed = if form.ticket.len() > 64 {
        Err(CountdownError::Invalid)
    } else {
        portal.countdown.redeem(&form.ticket, client)
    };
    let url = match redeemed {
        Ok(url) => url,
        Err(CountdownError::Replayed) => {
            // A double tap: the first one logged the guest in.
            match portal.sessions.current(client).await {
                Ok(Some(session)) => return success(&portal, lang, None, session.remaining().as_secs()),
                _ => {
                    portal.metrics.refused(METHOD, "replayed");
                    return message(&portal, lang, StatusCode::CONFLICT, lang.strings().error_ticket_replayed.clone());
                }
            }
        }
        Err(CountdownError::Invalid) => {
            portal.metrics.refused(METHOD, "invalid_ticket");
            return message(&portal, lang, StatusCode::FORBIDDEN, lang.strings().error_ticket_invalid.clone());
        }
        Err(CountdownError::TooEarly { remaining }) => {
            portal.metrics.refused(METHOD, "too_early");
            let body = format!("{} {}", lang.strings().error_too_early, remaining.as_secs_f64().ceil() as u64);
            let mut response = message(&portal, lang, StatusCode::TOO_EARLY, body);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(remaining.as_secs_f64().ceil() as u64));
            return response;
        }
    };
    // No signed original URL: the venue's own page.
    let url = url.or_else(|| Some(portal.config.venue.info_url.clone()).filter(|u| !u.is_empty()));
    match portal.sessions.login(client, METHOD).await {
        Ok(session) => {
            portal.metrics.login(METHOD);
            success(&portal, lang, url, session.remaining().as_secs())
        }
        Err(SessionError::AddressInUse { .. }) => {
            portal.metrics.refused(METHOD, "address_in_use");
            portal.countdown.restore(&form.ticket);
            message(&portal, lang, StatusCode::CONFLICT, lang.strings().error_address_in_use.clone())
        }
        Err(err) => {
            portal.metrics.refused(METHOD, "error");
            portal.countdown.restore(&form.ticket);
            internal(&portal, lang, &err)
        }
    }
}

/// Ends the guest's own session: only with the token the online page gave
/// this device, so another site cannot log a diner out.
pub async fn logout(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let lang = Lang::choose(None, cookie(&headers, "lang"), accept_language(&headers));
    let client = match identify(&portal, peer, lang) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    if !portal.signer.device_token_ok(client, &form.token) {
        tracing::warn!(%client, "logout without this device's token refused");
        return message(&portal, lang, StatusCode::FORBIDDEN, lang.strings().error_ticket_invalid.clone());
    }
    match portal.sessions.logout(client).await {
        Ok(_) => {
            let t = lang.strings();
            render_message(&portal, lang, StatusCode::OK, "ok", &t.logged_out_title, t.logged_out_body.clone())
        }
        Err(err) => internal(&portal, lang, &err),
    }
}

/// The stylesheet.
pub async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../../portal-templates/static/portal.css"))
}

/// The countdown script.
pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../../portal-templates/static/portal.js"))
}

/// Unknown page on the portal host.
pub async fn not_found(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    error_page(&portal, &headers, StatusCode::NOT_FOUND, |t| &t.error_not_found)
}

/// A translated error page in the guest's language.
pub fn error_page(portal: &Portal, headers: &HeaderMap, status: StatusCode, pick: fn(&Strings) -> &String) -> Response {
    let lang = Lang::choose(None, cookie(headers, "lang"), accept_language(headers));
    message(portal, lang, status, pick(lang.strings()).clone())
}

fn identify(portal: &Portal, peer: Peer, lang: Lang) -> Result<Client, Box<Response>> {
    portal.neighbours.client(peer.0.ip()).ok_or_else(|| {
        tracing::warn!(peer = %peer.0, "no neighbour entry for the peer on the guest interface");
        Box::new(message(portal, lang, StatusCode::FORBIDDEN, lang.strings().error_no_device.clone()))
    })
}

fn success(portal: &Portal, lang: Lang, url: Option<String>, remaining_secs: u64) -> Response {
    html(
        StatusCode::OK,
        SuccessPage {
            t: lang.strings(),
            venue: &portal.config.venue.name,
            tagline: tagline(portal, lang),
            venue_url: &portal.config.venue.info_url,
            url,
            minutes: remaining_secs.div_ceil(60),
        }
        .render(),
    )
}

fn internal(portal: &Portal, lang: Lang, err: &dyn std::error::Error) -> Response {
    tracing::error!(error = %crate::error_chain(err), "portal request failed");
    message(portal, lang, StatusCode::SERVICE_UNAVAILABLE, lang.strings().error_internal.clone())
}

fn message(portal: &Portal, lang: Lang, status: StatusCode, body: String) -> Response {
    render_message(portal, lang, status, "error", &lang.strings().error_title, body)
}

fn render_message(portal: &Portal, lang: Lang, status: StatusCode, kind: &str, title: &str, body: String) -> Response {
    html(
        status,
        MessagePage {
            t: lang.strings(),
            venue: &portal.config.venue.name,
            tagline: tagline(portal, lang),
            venue_url: &portal.config.venue.info_url,
            kind,
            title,
            body,
        }
        .render(),
    )
}

fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => {
            (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
                .into_response()
        }
        Err(err) => {
            tracing::error!(%err, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

fn tagline(portal: &Portal, lang: Lang) -> &str {
    match lang {
        Lang::Zh => &portal.config.venue.tagline_zh,
        Lang::En => &portal.config.venue.tagline_en,
    }
}

/// Where the guest was going, if it is a plain http(s) URL we can send it back to.
fn safe_url(raw: &str) -> Option<String> {
    if raw.len() > MAX_URL {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_kept() {
        assert_eq!(safe_url("http://example.test/a?b=1"), Some("http://example.test/a?b=1".into()));
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url(&format!("http://example.test/{}", "a".repeat(MAX_URL))), None);
    }
}
