//! The portal's page helpers: the success and message pages, HTML with
//! its headers, the venue's tagline in the guest's language, cookies and
//! the browser's language.

use super::i18n::{Lang, Strings};
use super::Portal;
use askama::Template;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "success.html")]
struct SuccessPage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    url: Option<String>,
    minutes: u64,
    coupon: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    kind: &'a str,
    title: &'a str,
    body: String,
}

pub(super) fn success(
    portal: &Portal,
    lang: Lang,
    url: Option<String>,
    remaining_secs: u64,
    coupon: Option<String>,
) -> Response {
    html(
        StatusCode::OK,
        SuccessPage {
            t: lang.strings(),
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(portal, lang),
            venue_url: &portal.config.venue.info_url,
            url,
            minutes: remaining_secs.div_ceil(60),
            coupon,
        }
        .render(),
    )
}

pub(super) fn internal(portal: &Portal, lang: Lang, err: &dyn std::error::Error) -> Response {
    tracing::error!(error = %crate::error_chain(err), "portal request failed");
    message(portal, lang, StatusCode::SERVICE_UNAVAILABLE, lang.strings().error_internal.clone())
}

pub(super) fn message(portal: &Portal, lang: Lang, status: StatusCode, body: String) -> Response {
    render_message(portal, lang, status, "error", &lang.strings().error_title, body)
}

pub(super) fn render_message(
    portal: &Portal,
    lang: Lang,
    status: StatusCode,
    kind: &str,
    title: &str,
    body: String,
) -> Response {
    html(
        status,
        MessagePage {
            t: lang.strings(),
            asset_root: "",
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

pub(super) fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
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

pub(super) fn tagline(portal: &Portal, lang: Lang) -> &str {
    match lang {
        Lang::Zh => &portal.config.venue.tagline_zh,
        Lang::En => &portal.config.venue.tagline_en,
    }
}

pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
}

pub(super) fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// A translated error page in the guest's language.
pub fn error_page(portal: &Portal, headers: &HeaderMap, status: StatusCode, pick: fn(&Strings) -> &String) -> Response {
    let lang = Lang::choose(None, cookie(headers, "lang"), accept_language(headers));
    message(portal, lang, status, pick(lang.strings()).clone())
}
