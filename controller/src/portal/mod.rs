//! The guest-facing HTTP side: redirect of every plain-HTTP request of a
//! guest who is not logged in, the portal pages, and the RFC 8908 API.

mod captive;
mod flow;
pub use guestwifi_views::i18n;
mod logins;
pub(crate) mod marketing;
pub(crate) mod pages;
mod render;
pub mod server;
#[cfg(test)]
mod tests;

use crate::auth::Methods;
use crate::config::Config;
pub use crate::kit::neighbours::{FixedNeighbours, KernelNeighbours, Neighbours};
use crate::kit::signer::Signer;
use crate::sessions::Sessions;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// Longest original URL we keep for the guest (longer gets 414).
pub const MAX_URL: usize = 2048;

/// How long the original URL a redirect signed stays good: the guest logs in
/// within it (the login forms carry the URL and its signature), and a
/// minted link is soon worth nothing.
pub const SIGNED_URL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The peer of the connection a request came on, set by the server loop.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// What every portal handler shares.
pub struct Portal {
    /// The configuration.
    pub config: Arc<Config>,
    /// Sessions (the way to the firewall).
    pub sessions: Sessions,
    /// The login methods.
    pub auth: Arc<Methods>,
    /// Who is behind a peer address.
    pub neighbours: Arc<dyn Neighbours>,
    /// Signs original URLs and device-bound form tokens.
    pub signer: Signer,
    /// Redirects, logins and refusals are counted here.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Host names that mean the portal itself (its name and address), lower case.
    names: Vec<String>,
    /// The portal's page, where every redirect goes.
    home: String,
    /// The marketing blocks the pages show (none in some tests).
    pub marketing: Arc<crate::marketing::Marketing>,
}

impl Portal {
    /// The portal for `config`; what every request needs is worked out once.
    pub fn new(
        config: Arc<Config>,
        sessions: Sessions,
        auth: Arc<Methods>,
        signer: Signer,
        metrics: Arc<crate::metrics::Metrics>,
        neighbours: Arc<dyn Neighbours>,
        marketing: Arc<crate::marketing::Marketing>,
    ) -> Self {
        let mut names = vec![config.portal_host().to_ascii_lowercase()];
        names.push(config.network.guest_address.addr.to_string());
        let home = format!("{}/", config.portal_url());
        Portal { config, sessions, auth, neighbours, signer, metrics, names, home, marketing }
    }
}

impl Portal {
    /// The portal of a built graph; `neighbours` says who a guest's address is.
    pub fn of(app: &crate::app::App, neighbours: Arc<dyn Neighbours>) -> Self {
        Portal::new(
            app.config.clone(),
            app.handles.sessions.clone(),
            app.methods.clone(),
            app.signer.clone(),
            app.metrics.clone(),
            neighbours,
            app.handles.marketing.clone(),
        )
    }
}

/// The portal's routes, behind the redirect of every other host.
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", post(logins::login))
        .route("/login/voucher", post(logins::login_voucher))
        .route("/login/account", post(logins::login_account))
        .route("/login/card", post(logins::login_card))
        .route("/login/return", post(logins::login_member_return))
        .route("/login/counter", post(logins::login_counter))
        .route("/login/sms", post(logins::login_sms))
        // The SMS card's own return button of earlier pages.
        .route("/login/sms/return", post(logins::login_member_return))
        .route("/sms/send", post(logins::sms_send))
        .route("/login/wechat", post(logins::login_wechat))
        .route("/wx", get(logins::scan_wechat))
        .route("/oauth/{provider}/start", get(logins::oauth_start))
        .route("/oauth/{provider}/callback", get(logins::oauth_callback))
        .route("/v", get(logins::scan_voucher))
        .route("/q", get(logins::scan_counter))
        .route("/counter", get(logins::counter_display))
        .route("/logout", post(pages::logout))
        .route("/m/{id}/{file}", get(pages::media))
        .route("/brand.css", get(marketing::brand_css))
        .route("/promotions", get(marketing::promotions))
        .route("/p/{id}", get(marketing::promotion))
        .route("/menu", get(marketing::menu))
        .route("/static/portal.css", get(pages::css))
        .route("/static/portal.js", get(pages::js))
        .route("/api/captive", get(captive::status))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(portal.clone(), redirect_other_hosts))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .layer(middleware::map_response(no_framing))
        .with_state(portal)
}

/// No other site may frame a portal page (a framed logout or login button
/// is a click taken from the diner): DENY, and `frame-ancestors 'none'`.
async fn no_framing(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    }
    response
}

/// A request for any host but the portal's came here by the firewall's
/// redirect: answer it with a 302 to the portal that keeps the original URL,
/// signed so that only our own redirects are followed after the login.
///
/// Every such answer closes the connection: a browser that opened a socket
/// before logging in and reuses it afterwards would otherwise be sent to
/// the portal again. A request that still arrives from a guest who is
/// logged in (a socket from before the login) gets a 307 to the same URL.
async fn redirect_other_hosts(State(portal): State<Arc<Portal>>, request: Request, next: Next) -> Response {
    let host = match request_host(request.headers()) {
        Ok(host) => host,
        Err(()) => {
            let response =
                render::error_page(&portal, request.headers(), StatusCode::BAD_REQUEST, |t| &t.error_bad_host);
            return closing(response);
        }
    };
    let is_portal = host.as_deref().is_some_and(|h| {
        let name = strip_port(h);
        portal.names.iter().any(|n| n == name)
    });
    if is_portal {
        return next.run(request).await;
    }
    let original =
        host.map(|host| format!("http://{host}{}", request.uri().path_and_query().map_or("/", |p| p.as_str())));
    if original.as_ref().is_some_and(|o| o.len() > MAX_URL) {
        let response =
            render::error_page(&portal, request.headers(), StatusCode::URI_TOO_LONG, |t| &t.error_url_too_long);
        return closing(response);
    }
    // From memory, not the neighbour table: this is the busiest path of the
    // portal, and a live session's address is pinned to its MAC in the kernel.
    let logged_in =
        request.extensions().get::<Peer>().is_some_and(|peer| portal.sessions.holder(peer.0.ip()).is_some());
    let (status, location) = match original {
        Some(original) if logged_in => (StatusCode::TEMPORARY_REDIRECT, original),
        Some(original) => {
            portal.metrics.redirects.inc();
            // Signed for this device and a few minutes: the neighbour table
            // says who the device is (no entry: no URL carried).
            let device = request.extensions().get::<Peer>().and_then(|peer| portal.neighbours.client(peer.0.ip()));
            match device {
                Some(client) => {
                    let until = crate::kit::time::now_ms() as u64 / 1000 + SIGNED_URL_LIFETIME.as_secs();
                    let sig = portal.signer.sign_url(&original, client, until);
                    let url: String = url::form_urlencoded::byte_serialize(original.as_bytes()).collect();
                    (StatusCode::FOUND, format!("{}?url={url}&sig={sig}", portal.home))
                }
                None => (StatusCode::FOUND, portal.home.clone()),
            }
        }
        None => {
            portal.metrics.redirects.inc();
            (StatusCode::FOUND, portal.home.clone())
        }
    };
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_str(&location).expect("encoded URL is a header value"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    closing(response)
}

fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The Host header: Ok(None) when absent, Err when not a host[:port].
fn request_host(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(value) = headers.get(header::HOST) else {
        return Ok(None);
    };
    let host = value.to_str().map_err(|_| ())?;
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(']') || n.ends_with(']') => (n, Some(p)),
        _ => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && (name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            || (name.starts_with('[')
                && name.ends_with(']')
                && name[1..name.len() - 1].parse::<std::net::Ipv6Addr>().is_ok()));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    if name_ok && port_ok {
        Ok(Some(host.to_ascii_lowercase()))
    } else {
        Err(())
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
        _ => host,
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    fn host(v: &str) -> Result<Option<String>, ()> {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(v).unwrap());
        request_host(&h)
    }

    #[test]
    fn hosts_are_checked() {
        assert_eq!(host("Example.TEST"), Ok(Some("example.test".into())));
        assert_eq!(host("example.test:8080"), Ok(Some("example.test:8080".into())));
        assert_eq!(host("[2001:db8::1]:80"), Ok(Some("[2001:db8::1]:80".into())));
        assert_eq!(host("exa mple"), Err(()));
        assert_eq!(host("example.test:99999"), Err(()));
        assert_eq!(host("<script>"), Err(()));
        assert_eq!(host(""), Err(()));
        assert_eq!(request_host(&HeaderMap::new()), Ok(None));
    }
}
