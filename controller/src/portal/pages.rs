//! The portal's own pages: the login page with every method the restaurant
//! offers (and its ad), the success and online pages, logout, translated
//! error pages; and what the login handlers (`logins.rs`) share: who the
//! device is, opening the session a grant allows, rendering a refusal.

use super::i18n::{Lang, Strings};
use super::{Peer, Portal, MAX_URL};
use crate::auth::{Grant, Identity, Method, Refusal};
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
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'a Strings,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    /// The countdown's ticket, when the countdown is offered.
    ticket: Option<String>,
    seconds: u64,
    auto_login: bool,
    ad: Option<AdView>,
    voucher: bool,
    account: bool,
    counter_qr: bool,
    sms: bool,
    card: bool,
    consent_version: &'a str,
    member_return: Option<String>,
    /// The marketer's blocks: brand, dishes, promotions, story, menu.
    blocks: super::marketing::Blocks,
    /// The keyword to send to the WeChat account, when WeChat is on.
    wechat: Option<String>,
    /// QQ and Weibo buttons: (path segment, label).
    oauth: Vec<(&'static str, &'a str)>,
    /// The masked phone a returning browser may log in as with one tap.
    returning: Option<String>,
    /// The device's form token (voucher and account forms).
    token: String,
}

struct AdView {
    image: String,
    text: String,
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
    coupon: Option<String>,
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

/// The login page with every method the restaurant offers, or the online
/// page for a guest who is logged in.
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
                login_page(&portal, lang, client, url, cookie(&headers, crate::auth::sms::RETURN_COOKIE)).await
            }
        },
    };
    if query.lang.is_some() {
        let cookie = format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
        response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ascii cookie"));
    }
    response
}

async fn login_page(
    portal: &Portal,
    lang: Lang,
    client: Client,
    url: Option<String>,
    return_cookie: Option<&str>,
) -> Response {
    let auth = &portal.auth;
    let returning = match (auth.enabled.sms, return_cookie) {
        (true, Some(cookie)) => {
            auth.sms.returning_phone(cookie).await.ok().flatten().map(|p| crate::kit::phones::mask_phone(&p))
        }
        _ => None,
    };
    // A member this device logged in as at a site of the brand (this one
    // without its cookie, or another).
    let t = lang.strings();
    let member_return = match (&returning, auth.sms.returning()) {
        (None, Some(within)) => {
            match tokio::time::timeout(STORE_GLANCE, auth.members.returning(&client.mac.to_string(), within)).await {
                Ok(Ok(Some(who))) if auth.offers_return(&who) => Some(match who.kind.as_str() {
                    "phone" => crate::kit::phones::mask_phone(&who.value),
                    "card" => {
                        format!("{} ****{}", t.member_return_card, &who.value[who.value.len().saturating_sub(4)..])
                    }
                    _ => t.member_return_wechat.clone(),
                }),
                _ => None,
            }
        }
        _ => None,
    };
    let (content, now) = super::marketing::published(portal);
    let blocks = super::marketing::Blocks::of(&content, &now, lang, "");
    let ticket = auth.enabled.countdown.then(|| auth.countdown.issue(client, url.clone()));
    let (ad, ad_what) = ad_view(portal, &content, &now, lang, "");
    // What the view showed, in one write: the view, its ad, its blocks.
    let (dishes, promotions) =
        (super::marketing::Blocks::shown(&blocks.dishes), super::marketing::Blocks::shown(&blocks.promotions));
    let mut events: Vec<(&str, &str)> = vec![("portal_view", "")];
    if ad.is_some() {
        portal.metrics.ad("impression");
        events.push(("ad_impression", &ad_what));
    }
    if !dishes.is_empty() {
        events.push(("dish_impression", &dishes));
    }
    if !promotions.is_empty() {
        events.push(("promotion_impression", &promotions));
    }
    auth.audit.events(client, &events).await;
    html(
        StatusCode::OK,
        LoginPage {
            t: lang.strings(),
            venue: &portal.config.venue.name,
            tagline: tagline(portal, lang),
            venue_url: &portal.config.venue.info_url,
            ticket,
            seconds: auth.countdown.seconds().as_secs(),
            auto_login: auth.auto_login,
            ad,
            voucher: auth.enabled.voucher,
            account: auth.enabled.account,
            counter_qr: auth.enabled.counter_qr,
            sms: auth.enabled.sms,
            card: auth.enabled.card,
            consent_version: &auth.consent_version,
            member_return,
            blocks,
            wechat: auth.enabled.wechat.then(|| portal.config.auth.wechat.keyword.clone()),
            oauth: auth
                .oauth
                .iter()
                .map(|p| {
                    let t = lang.strings();
                    let label = match p.kind() {
                        crate::auth::oauth::Kind::Qq => t.qq_button.as_str(),
                        crate::auth::oauth::Kind::Weibo => t.weibo_button.as_str(),
                    };
                    (p.kind().name(), label)
                })
                .collect(),
            returning,
            token: portal.signer.device_token(client),
        }
        .render(),
    )
}

/// Opens the session a method granted: the success page, or the page of why
/// not (the caller then gives back what the method took).
pub(super) async fn finish(
    portal: &Portal,
    lang: Lang,
    client: Client,
    grant: Grant,
    url: Option<String>,
) -> Result<Response, Response> {
    let method = grant.method;
    let identity = grant.identity.clone();
    let url = match url {
        // A portal page (the ad's promotion) is where the guest asked to go.
        Some(page) if page.starts_with('/') && !page.starts_with("//") => Some(page),
        url => landing(portal, &super::marketing::published(portal).0, url),
    };
    match portal.sessions.login(client, grant).await {
        Ok(session) => {
            portal.metrics.login(method.as_str());
            portal.auth.audit.record(method, client, Some(&identity), None).await;
            let coupon = welcome(portal, lang, client, &identity).await;
            Ok(success(portal, lang, url, session.remaining().as_secs(), coupon))
        }
        Err(SessionError::AddressInUse { .. }) => {
            portal.metrics.refused(method.as_str(), "address_in_use");
            Err(message(portal, lang, StatusCode::CONFLICT, lang.strings().error_address_in_use.clone()))
        }
        Err(err) => {
            portal.metrics.refused(method.as_str(), "error");
            Err(internal(portal, lang, &err))
        }
    }
}

/// Where a guest goes after logging in, as the marketer's landing says:
/// the page first asked for (a URL our redirect signed), the promotions,
/// or the venue's own page; each falls back to the others. Never a URL a
/// request carried unsigned: no open redirect.
pub(super) fn landing(portal: &Portal, content: &crate::marketing::Content, url: Option<String>) -> Option<String> {
    use crate::marketing::Landing;
    let venue = Some(portal.config.venue.info_url.clone()).filter(|u| !u.is_empty());
    let promotions = (!content.promotions.is_empty()).then(|| "/promotions".to_string());
    match content.landing {
        Landing::Original => url.or(venue),
        Landing::Promotions => promotions.or(url).or(venue),
        Landing::Venue => venue.or(url),
    }
}

/// The countdown page's ad: the marketer's (when its schedule shows it),
/// else the configured one; and how its events name it.
fn ad_view(
    portal: &Portal,
    content: &crate::marketing::Content,
    now: &crate::marketing::Now,
    lang: Lang,
    root: &str,
) -> (Option<AdView>, String) {
    if !portal.auth.enabled.countdown {
        return (None, String::new());
    }
    if let Some(ad) = content.ad_at(now) {
        let view = AdView {
            image: ad.image.as_ref().map(|id| format!("{root}/m/{id}/640.jpg")).unwrap_or_default(),
            text: match lang {
                Lang::En if !ad.text_en.is_empty() => ad.text_en.clone(),
                _ => ad.text_zh.clone(),
            },
        };
        return (Some(view), marketing_ad_name(ad));
    }
    match &portal.auth.ad {
        Some(ad) => (
            Some(AdView {
                image: ad.image.clone(),
                text: match lang {
                    Lang::Zh => ad.text_zh.clone(),
                    Lang::En => ad.text_en.clone(),
                },
            }),
            ad.url.clone(),
        ),
        None => (None, String::new()),
    }
}

/// How the events name the marketer's ad: the promotion it opens, or its line.
pub(super) fn marketing_ad_name(ad: &crate::marketing::Ad) -> String {
    match &ad.promotion {
        Some(p) => format!("promotion:{p}"),
        None => format!("ad:{}", ad.text_zh),
    }
}

/// The login page as the marketer's `content` would show it, for the
/// console's phone preview: no ticket, no device, nothing counted; its
/// assets under `root`.
pub fn preview(portal: &Portal, content: &crate::marketing::Content, lang: Lang, root: &str) -> Response {
    let auth = &portal.auth;
    let now = super::marketing::now(portal);
    let (ad, _) = ad_view(portal, content, &now, lang, root);
    let rendered = LoginPage {
        t: lang.strings(),
        venue: &portal.config.venue.name,
        tagline: tagline(portal, lang),
        venue_url: "",
        ticket: auth.enabled.countdown.then(String::new),
        seconds: auth.countdown.seconds().as_secs(),
        auto_login: false,
        ad,
        voucher: auth.enabled.voucher,
        account: auth.enabled.account,
        counter_qr: auth.enabled.counter_qr,
        sms: auth.enabled.sms,
        card: auth.enabled.card,
        consent_version: &auth.consent_version,
        member_return: None,
        blocks: super::marketing::Blocks::of(content, &now, lang, root),
        wechat: auth.enabled.wechat.then(|| portal.config.auth.wechat.keyword.clone()),
        oauth: Vec::new(),
        returning: None,
        token: String::new(),
    }
    .render()
    // The page's own asset links, to the console's preview routes.
    .map(|page| {
        page.replace("href=\"/static/portal.css\"", &format!("href=\"{root}/static/portal.css\""))
            .replace("href=\"/brand.css\"", &format!("href=\"{root}/brand.css\""))
            .replace("src=\"/static/portal.js\"", "data-preview=\"\"")
    });
    html(StatusCode::OK, rendered)
}

/// `/m/{id}/{width}.jpg`: a marketing photo, re-encoded when it was
/// uploaded; its id is a hash of its bytes, so it is cached for good.
pub async fn media(
    State(portal): State<Arc<Portal>>,
    axum::extract::Path((id, file)): axum::extract::Path<(String, String)>,
) -> Response {
    super::marketing::photo_response(&portal.marketing, &id, &file).await
}

/// How long the success page waits for the member store's answer.
const STORE_GLANCE: std::time::Duration = std::time::Duration::from_millis(400);

/// A new member's welcome coupon: filed (the store keeps it to one a member
/// a rule, whatever happens here) and, when the store says this member has
/// none yet, announced on the success page.
async fn welcome(portal: &Portal, lang: Lang, client: Client, identity: &Identity) -> Option<String> {
    let rule = portal.auth.welcome.as_ref()?;
    let who = identity.who();
    if !who.is_personal() {
        return None;
    }
    let known = tokio::time::timeout(STORE_GLANCE, portal.auth.members.has_coupon(&who, &rule.rule)).await;
    if matches!(known, Ok(Ok(true))) {
        return None;
    }
    let valid_until = crate::kit::time::now_ms() + rule.valid_days as i64 * 86_400_000;
    let new = portal.auth.audit.coupon(&who, rule, valid_until).await;
    tracing::info!(%client, who = %who.masked(), rule = %rule.rule, new, "welcome coupon filed");
    // Said only when the store answered "none yet" and none is waiting here.
    (new && matches!(known, Ok(Ok(false)))).then(|| {
        let value = format!("{}", rule.value_cents as f64 / 100.0);
        match lang {
            Lang::Zh => rule.text_zh.replace("{value}", &value),
            Lang::En => rule.text_en.replace("{value}", &value),
        }
    })
}

/// The page of a refusal, counted and audited.
pub(super) async fn refused(
    portal: &Portal,
    lang: Lang,
    method: Method,
    client: Client,
    identity: Option<&Identity>,
    refusal: Refusal,
) -> Response {
    portal.metrics.refused(method.as_str(), refusal.reason());
    portal.auth.audit.record(method, client, identity, Some(&refusal)).await;
    let t = lang.strings();
    let (status, body, retry) = match &refusal {
        Refusal::Disabled => (StatusCode::NOT_FOUND, t.error_method_off.clone(), None),
        Refusal::Invalid => match method {
            Method::Voucher => (StatusCode::FORBIDDEN, t.error_code_invalid.clone(), None),
            Method::CounterQr => (StatusCode::FORBIDDEN, t.error_link_invalid.clone(), None),
            Method::WeChat => (StatusCode::FORBIDDEN, t.error_wechat_link.clone(), None),
            Method::Qq | Method::Weibo => (StatusCode::FORBIDDEN, t.error_oauth_state.clone(), None),
            _ => (StatusCode::FORBIDDEN, t.error_ticket_invalid.clone(), None),
        },
        Refusal::Replayed => (StatusCode::CONFLICT, t.error_ticket_replayed.clone(), None),
        Refusal::TooEarly { remaining } => {
            let secs = remaining.as_secs_f64().ceil() as u64;
            (StatusCode::TOO_EARLY, format!("{} {secs}", t.error_too_early), Some(secs))
        }
        Refusal::WrongCredentials => (StatusCode::FORBIDDEN, t.error_wrong_credentials.clone(), None),
        Refusal::LockedOut { retry_after } => {
            let secs = retry_after.as_secs().max(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                t.error_locked_out.replace("{minutes}", &secs.div_ceil(60).to_string()),
                Some(secs),
            )
        }
        Refusal::Expired if method == Method::CounterQr => (StatusCode::FORBIDDEN, t.error_link_expired.clone(), None),
        Refusal::Expired if method == Method::Sms => (StatusCode::FORBIDDEN, t.error_code_expired.clone(), None),
        Refusal::Expired if method == Method::WeChat => (StatusCode::FORBIDDEN, t.error_wechat_link.clone(), None),
        Refusal::Expired => (StatusCode::FORBIDDEN, t.error_expired.clone(), None),
        Refusal::Revoked => (StatusCode::FORBIDDEN, t.error_revoked.clone(), None),
        Refusal::DeviceLimit => (StatusCode::CONFLICT, t.error_device_limit.clone(), None),
        Refusal::BadPhone => (StatusCode::BAD_REQUEST, t.error_bad_phone.clone(), None),
        Refusal::Limited { retry_after } => {
            let secs = retry_after.as_secs().max(1);
            (StatusCode::TOO_MANY_REQUESTS, t.error_limited.replace("{seconds}", &secs.to_string()), Some(secs))
        }
        Refusal::WrongCode => (StatusCode::FORBIDDEN, t.error_wrong_code.clone(), None),
        Refusal::CodeBurnt => (StatusCode::FORBIDDEN, t.error_code_burnt.clone(), None),
        Refusal::CardFrozen => (StatusCode::FORBIDDEN, t.error_card_frozen.clone(), None),
        Refusal::CardLost => (StatusCode::FORBIDDEN, t.error_card_lost.clone(), None),
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, t.error_members_unavailable.clone(), Some(60)),
    };
    let mut response = message(portal, lang, status, body);
    if let Some(secs) = retry {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
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

/// The device, for a form that must carry its token (made by our own page
/// for this device: another site cannot submit it).
pub(super) fn identify_form(portal: &Portal, peer: Peer, lang: Lang, token: &str) -> Result<Client, Box<Response>> {
    let client = identify(portal, peer, lang)?;
    if !portal.signer.device_token_ok(client, token) {
        tracing::warn!(%client, "login form without this device's token refused");
        let body = lang.strings().error_ticket_invalid.clone();
        return Err(Box::new(message(portal, lang, StatusCode::FORBIDDEN, body)));
    }
    Ok(client)
}

pub(super) fn identify(portal: &Portal, peer: Peer, lang: Lang) -> Result<Client, Box<Response>> {
    portal.neighbours.client(peer.0.ip()).ok_or_else(|| {
        tracing::warn!(peer = %peer.0, "no neighbour entry for the peer on the guest interface");
        Box::new(message(portal, lang, StatusCode::FORBIDDEN, lang.strings().error_no_device.clone()))
    })
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

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

pub(super) fn tagline(portal: &Portal, lang: Lang) -> &str {
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
