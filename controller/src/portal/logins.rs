//! The login methods' pages: each handler parses its form, identifies the
//! device (its token too, for forms), asks its method (`crate::auth`) for a
//! grant, and hands the grant to [`finish`] — or the refusal to
//! [`refused`], which renders it translated, counts it and audits it. When
//! the session cannot open, the handler gives back what the method took.

use super::flow::{finish, form_start, guest_lang, identify, refused, Gate, Wanted};
use super::i18n::{Lang, Strings};
use super::pages::not_found;
use super::render::{cookie, html, internal, message, success, tagline};
use super::{Peer, Portal};
use crate::auth::sms::SendError;
use crate::auth::{AuthError, Identity, Method, Methods, Refusal};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use firewall::Client;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "sms.html")]
struct SmsPage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    phone: String,
    masked: String,
    resend_after: u64,
    error: Option<String>,
    token: String,
    then: Option<Wanted>,
    consent_version: &'a str,
}

#[derive(Template)]
#[template(path = "scan.html")]
struct ScanPage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    action: &'a str,
    fields: Vec<(&'a str, String)>,
    shown: String,
}

#[derive(Template)]
#[template(path = "counter.html")]
struct CounterPage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    qr: String,
    link: String,
    period: u64,
}

/// `POST /login` form (countdown): the page's ticket; `ad` when the guest
/// tapped the ad.
#[derive(Deserialize)]
pub struct LoginForm {
    ticket: String,
    #[serde(default)]
    ad: Option<String>,
}

/// `POST /login/voucher` form.
#[derive(Deserialize)]
pub struct VoucherForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    token: String,
    /// Where the guest first asked to go, as the redirect signed it.
    #[serde(default)]
    then: String,
    #[serde(default)]
    then_sig: String,
}

/// `POST /login/account` form.
#[derive(Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    /// Where the guest first asked to go, as the redirect signed it.
    #[serde(default)]
    then: String,
    #[serde(default)]
    then_sig: String,
}

/// `POST /login/counter` form and `GET /q` query.
#[derive(Deserialize)]
pub struct CounterForm {
    #[serde(default)]
    p: u64,
    #[serde(default)]
    t: String,
    #[serde(default)]
    token: String,
}

/// `GET /v` query: a voucher card's QR code.
#[derive(Deserialize)]
pub struct ScanQuery {
    #[serde(default)]
    code: String,
}

/// `GET /counter` query: the tablet's key.
#[derive(Deserialize)]
pub struct DisplayQuery {
    #[serde(default)]
    key: String,
}

/// Countdown login: the ticket from the brand page, after the countdown.
/// Tapping the ad logs in the same way, counts a click, and goes to the ad.
pub async fn login(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = guest_lang(&headers);
    let client = match identify(&portal, peer, lang) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let method = Method::Countdown;
    if !portal.auth.enabled.countdown {
        return refused(&portal, lang, method, client, None, Refusal::Disabled).await;
    }
    let (grant, url) = match portal.auth.countdown.login(&form.ticket, client) {
        Ok(done) => done,
        Err(Refusal::Replayed) => {
            // A double tap: the first one logged the guest in.
            match portal.sessions.current(client).await {
                Ok(Some(session)) => return success(&portal, lang, None, session.remaining().as_secs(), None),
                _ => return refused(&portal, lang, method, client, None, Refusal::Replayed).await,
            }
        }
        Err(refusal) => return refused(&portal, lang, method, client, None, refusal).await,
    };
    // The ad tapped: the marketer's (when showing now) opens its promotion
    // after the login; the configured one its URL.
    let (content, now) = super::marketing::published(&portal);
    let tapped: Option<(Option<String>, String)> = form
        .ad
        .is_some()
        .then(|| match content.ad_at(&now) {
            Some(ad) => Some((ad.promotion.as_ref().map(|p| format!("/p/{p}")), super::pages::marketing_ad_name(ad))),
            None => portal.auth.ad.as_ref().map(|ad| (Some(ad.url.clone()), ad.url.clone())),
        })
        .flatten();
    // The ad's page, else where the marketer's landing says (in `finish`).
    let url = match &tapped {
        Some((Some(page), _)) => Some(page.clone()),
        _ => url,
    };
    match finish(&portal, lang, client, grant, url).await {
        Ok(response) => {
            if let Some((_, name)) = tapped {
                portal.metrics.ad("click");
                portal.auth.audit.event("ad_click", client, &name).await;
            }
            response
        }
        Err(response) => {
            portal.auth.countdown.restore(&form.ticket);
            response
        }
    }
}

/// Voucher login: the card's code, typed or from its QR code.
pub async fn login_voucher(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<VoucherForm>,
) -> Response {
    let method = Method::Voucher;
    let gate = Gate { method, on: portal.auth.enabled.voucher };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let claimed = portal.auth.vouchers.claim(&form.code, client);
    let (grant, claim) = match Methods::tried(&portal.auth.codes, client, Refusal::Invalid, claimed).await {
        Ok(claimed) => claimed,
        Err(AuthError::Refused(refusal)) => {
            let identity = crate::kit::secrets::normalize_code(&form.code).map(Identity::Voucher);
            return refused(&portal, lang, method, client, identity.as_ref(), refusal).await;
        }
        Err(AuthError::Store(err)) => return internal(&portal, lang, &err),
    };
    let url = Wanted::of_form(&portal, client, &form.then, &form.then_sig);
    match finish(&portal, lang, client, grant, url).await {
        Ok(response) => response,
        Err(response) => {
            portal.auth.vouchers.release(claim).await;
            response
        }
    }
}

/// Front-desk account login.
pub async fn login_account(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let method = Method::Account;
    let identity = Identity::Account(form.username.trim().to_ascii_lowercase().chars().take(32).collect());
    let gate = Gate { method, on: portal.auth.enabled.account };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let login = portal.auth.accounts.login(&form.username, &form.password, client);
    let grant = match Methods::tried(&portal.auth.passwords, client, Refusal::WrongCredentials, login).await {
        Ok(grant) => grant,
        Err(AuthError::Refused(refusal)) => {
            return refused(&portal, lang, method, client, Some(&identity), refusal).await;
        }
        Err(AuthError::Store(err)) => return internal(&portal, lang, &err),
    };
    let url = Wanted::of_form(&portal, client, &form.then, &form.then_sig);
    finish(&portal, lang, client, grant, url).await.unwrap_or_else(|response| response)
}

/// Counter QR login: the link the tablet showed.
pub async fn login_counter(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<CounterForm>,
) -> Response {
    let method = Method::CounterQr;
    let gate = Gate { method, on: portal.auth.enabled.counter_qr };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let login = async { portal.auth.counter.login(form.p, &form.t, client).map_err(AuthError::Refused) };
    let grant = match Methods::tried(&portal.auth.codes, client, Refusal::Invalid, login).await {
        Ok(grant) => grant,
        Err(AuthError::Refused(refusal)) => return refused(&portal, lang, method, client, None, refusal).await,
        Err(AuthError::Store(err)) => return internal(&portal, lang, &err),
    };
    let url = None;
    finish(&portal, lang, client, grant, url).await.unwrap_or_else(|response| response)
}

/// `POST /sms/send` form.
#[derive(Deserialize)]
pub struct SmsSendForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    token: String,
    /// Where the guest first asked to go, as the redirect signed it.
    #[serde(default)]
    then: String,
    #[serde(default)]
    then_sig: String,
}

/// `POST /login/sms` form.
#[derive(Deserialize)]
pub struct SmsLoginForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    token: String,
    /// The consent text's version, when the box was ticked.
    #[serde(default)]
    consent: Option<String>,
    /// The same, for the box that lets the member's visits keep their zones.
    #[serde(default)]
    places: Option<String>,
    /// Where the guest first asked to go, as the redirect signed it.
    #[serde(default)]
    then: String,
    #[serde(default)]
    then_sig: String,
}

/// `POST /login/card` form.
#[derive(Deserialize)]
pub struct CardForm {
    #[serde(default)]
    card: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    consent: Option<String>,
    #[serde(default)]
    places: Option<String>,
    /// Where the guest first asked to go, as the redirect signed it.
    #[serde(default)]
    then: String,
    #[serde(default)]
    then_sig: String,
}

/// `POST /login/return` form.
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
    /// Where the guest first asked to go, as the redirect signed it.
    #[serde(default)]
    then: String,
    #[serde(default)]
    then_sig: String,
}

/// Sends an SMS code, then shows the page to type it in. Past a limit, the
/// guest sees when to try again and nothing is sent.
pub async fn sms_send(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<SmsSendForm>,
) -> Response {
    let method = Method::Sms;
    let gate = Gate { method, on: portal.auth.enabled.sms };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    match portal.auth.sms.send(&form.phone, client).await {
        Ok(sent) => {
            portal.metrics.sms("sent");
            let then = Wanted::checked(&portal, client, &form.then, &form.then_sig);
            let page = SmsView { phone: &sent.phone, resend_after: sent.resend_after.as_secs(), error: None, then };
            sms_page(&portal, lang, client, page, StatusCode::OK)
        }
        Err(SendError::Refused(refusal)) => {
            portal.metrics.sms("refused");
            let identity = portal.auth.sms.parse_phone(&form.phone).map(Identity::Phone);
            refused(&portal, lang, method, client, identity.as_ref(), refusal).await
        }
        Err(SendError::Gateway(_)) => {
            portal.metrics.sms("gateway_error");
            message(&portal, lang, StatusCode::SERVICE_UNAVAILABLE, lang.strings().error_sms_gateway.clone())
        }
        Err(SendError::Store(err)) => internal(&portal, lang, &err),
    }
}

/// What the code page shows besides the portal's own.
struct SmsView<'a> {
    phone: &'a str,
    resend_after: u64,
    error: Option<String>,
    then: Option<Wanted>,
}

fn sms_page(portal: &Portal, lang: Lang, client: Client, view: SmsView<'_>, status: StatusCode) -> Response {
    let SmsView { phone, resend_after, error, then } = view;
    html(
        status,
        SmsPage {
            t: lang.strings(),
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(portal, lang),
            venue_url: &portal.config.venue.info_url,
            phone: phone.to_string(),
            masked: crate::kit::phones::mask_phone(phone),
            resend_after,
            error,
            token: portal.signer.device_token(client),
            then,
            consent_version: &portal.auth.consent_version,
        }
        .render(),
    )
}

/// SMS login: the phone and the code it got. A wrong code shows the code
/// page again with how it went wrong; success sets the one-tap cookie.
pub async fn login_sms(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<SmsLoginForm>,
) -> Response {
    let method = Method::Sms;
    let gate = Gate { method, on: portal.auth.enabled.sms };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let grant = match portal.auth.sms.verify(&form.phone, &form.code, client).await {
        Ok(grant) => grant,
        Err(AuthError::Refused(Refusal::WrongCode)) => {
            let identity = portal.auth.sms.parse_phone(&form.phone).map(Identity::Phone);
            portal.metrics.refused(method.as_str(), Refusal::WrongCode.reason());
            portal.auth.audit.record(method, client, identity.as_ref(), Some(&Refusal::WrongCode)).await;
            let phone = identity.map(|i| match i {
                Identity::Phone(p) => p,
                _ => String::new(),
            });
            let error = Some(lang.strings().error_wrong_code.clone());
            let phone = phone.unwrap_or_default();
            let then = Wanted::checked(&portal, client, &form.then, &form.then_sig);
            let page = SmsView { phone: &phone, resend_after: 0, error, then };
            return sms_page(&portal, lang, client, page, StatusCode::FORBIDDEN);
        }
        Err(AuthError::Refused(refusal)) => {
            let identity = portal.auth.sms.parse_phone(&form.phone).map(Identity::Phone);
            return refused(&portal, lang, method, client, identity.as_ref(), refusal).await;
        }
        Err(AuthError::Store(err)) => return internal(&portal, lang, &err),
    };
    let who = grant.identity.who();
    let url = Wanted::of_form(&portal, client, &form.then, &form.then_sig);
    match finish(&portal, lang, client, grant, url).await {
        Ok(response) => {
            consented(&portal, client, who, form.consent.as_deref(), form.places.as_deref()).await;
            response
        }
        Err(response) => response,
    }
}

/// One tap for a member this device logged in as, here or at a site of the
/// brand (phone, WeChat or card): the device must hold the pass that login
/// gave it (the `gw_pass` cookie) and be the device it was given to.
pub async fn login_member_return(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let gate = Gate { method: Method::Sms, on: portal.auth.passes.on() };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let pass = cookie(&headers, crate::auth::passes::COOKIE);
    let who = match portal.auth.passes.holder(pass, client.mac, super::flow::STORE_GLANCE).await {
        Ok(Some(who)) if portal.auth.offers_return(&who) => who,
        Ok(_) => {
            portal.metrics.refused("return", "unknown");
            portal.auth.audit.record(Method::Sms, client, None, Some(&Refusal::Expired)).await;
            return message(&portal, lang, StatusCode::FORBIDDEN, lang.strings().error_return_expired.clone());
        }
        Err(err) => return internal(&portal, lang, &err),
    };
    let grant = match portal.auth.member_return(&who).await {
        Ok(grant) => grant,
        Err(AuthError::Refused(refusal)) => {
            let identity = Identity::from_who(&who);
            let method = match identity {
                Some(Identity::Card(_)) => Method::Card,
                Some(Identity::OpenId(_)) => Method::WeChat,
                _ => Method::Sms,
            };
            return refused(&portal, lang, method, client, identity.as_ref(), refusal).await;
        }
        Err(AuthError::Store(err)) => return internal(&portal, lang, &err),
    };
    let url = Wanted::of_form(&portal, client, &form.then, &form.then_sig);
    finish(&portal, lang, client, grant, url).await.unwrap_or_else(|response| response)
}

/// Membership card login: the card's number and PIN.
pub async fn login_card(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<CardForm>,
) -> Response {
    let method = Method::Card;
    let identity = crate::auth::card::Cards::normalize(&form.card).map(Identity::Card);
    let gate = Gate { method, on: portal.auth.enabled.card };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let login = portal.auth.cards.login(&form.card, &form.pin);
    let grant = match Methods::tried(&portal.auth.passwords, client, Refusal::WrongCredentials, login).await {
        Ok(grant) => grant,
        Err(AuthError::Refused(refusal)) => {
            return refused(&portal, lang, method, client, identity.as_ref(), refusal).await;
        }
        Err(AuthError::Store(err)) => return internal(&portal, lang, &err),
    };
    let who = grant.identity.who();
    let url = Wanted::of_form(&portal, client, &form.then, &form.then_sig);
    match finish(&portal, lang, client, grant, url).await {
        Ok(response) => {
            consented(&portal, client, who, form.consent.as_deref(), form.places.as_deref()).await;
            response
        }
        Err(response) => response,
    }
}

/// Files a guest's consents with the text version they saw (only the
/// version the portal shows now is taken): to member offers, and to the
/// member's visits keeping the zones of the restaurant they were seen in.
async fn consented(
    portal: &Portal,
    client: Client,
    who: crate::members::Who,
    offers: Option<&str>,
    places: Option<&str>,
) {
    let version = portal.auth.consent_version.as_str();
    for (kind, given) in [("consent", offers), ("consent_places", places)] {
        if given == Some(version) {
            portal.auth.audit.event_of(kind, client, Some(who.clone()), version).await;
        }
    }
}

/// `GET /wx` query and `POST /login/wechat` form: the link's token.
#[derive(Deserialize)]
pub struct WeChatForm {
    #[serde(default)]
    t: String,
    #[serde(default)]
    token: String,
}

/// The link the WeChat account sent, opened on the phone: a page that posts
/// itself (a link preview fetching it logs nobody in).
pub async fn scan_wechat(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    Query(query): Query<WeChatForm>,
    headers: HeaderMap,
) -> Response {
    let (lang, client) = match scan_start(&portal, peer, &headers).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    // A site's own link is 32 characters; headquarters' ticket is longer.
    let fields = vec![("t", query.t.chars().take(crate::hq::tickets::MAX_LEN).collect())];
    scan_page(&portal, lang, client, "/login/wechat", fields, String::new())
}

/// WeChat login: the link's token, from the phone it was opened on.
pub async fn login_wechat(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<WeChatForm>,
) -> Response {
    let method = Method::WeChat;
    let gate = Gate { method, on: portal.auth.wechat.is_some() };
    let (lang, client) = match form_start(&portal, peer, &headers, &form.token, gate).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let Some(wechat) = portal.auth.wechat.as_ref() else {
        return refused(&portal, lang, method, client, None, Refusal::Disabled).await;
    };
    let login = async { wechat.login(&form.t).map_err(AuthError::Refused) };
    let grant = match Methods::tried(&portal.auth.codes, client, Refusal::Invalid, login).await {
        Ok(grant) => grant,
        Err(AuthError::Refused(Refusal::Replayed)) => match portal.sessions.current(client).await {
            Ok(Some(session)) => return success(&portal, lang, None, session.remaining().as_secs(), None),
            _ => return refused(&portal, lang, method, client, None, Refusal::Replayed).await,
        },
        Err(AuthError::Refused(refusal)) => return refused(&portal, lang, method, client, None, refusal).await,
        Err(AuthError::Store(err)) => return internal(&portal, lang, &err),
    };
    let url = None;
    match finish(&portal, lang, client, grant, url).await {
        Ok(response) => response,
        Err(response) => {
            wechat.restore(&form.t);
            response
        }
    }
}

/// `GET /oauth/{provider}/callback` query.
#[derive(Deserialize)]
pub struct OAuthCallback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: Option<String>,
}

/// What both OAuth steps start with: the guest's language and device, and
/// the provider the path names, if it is on. A name we do not know is a
/// 404; a provider that is off, a refusal.
async fn oauth_start_of<'p>(
    portal: &'p Portal,
    peer: Peer,
    headers: &HeaderMap,
    name: &str,
) -> Result<(Lang, Client, Method, &'p crate::auth::oauth::Provider), Response> {
    let lang = guest_lang(headers);
    let client = identify(portal, peer, lang).map_err(|response| *response)?;
    let Some(kind) = crate::auth::oauth::Kind::from_name(name) else {
        return Err(message(portal, lang, StatusCode::NOT_FOUND, lang.strings().error_not_found.clone()));
    };
    match portal.auth.oauth.iter().find(|p| p.kind() == kind) {
        Some(provider) => Ok((lang, client, kind.method(), provider)),
        None => Err(refused(portal, lang, kind.method(), client, None, Refusal::Disabled).await),
    }
}

/// Sends the guest's browser to QQ or Weibo with a state bound to its device.
pub async fn oauth_start(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let (_, client, _, provider) = match oauth_start_of(&portal, peer, &headers, &name).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let location = provider.start(client);
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&location).expect("an encoded URL"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The provider sends the browser back here with a code.
pub async fn oauth_callback(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    axum::extract::Path(name): axum::extract::Path<String>,
    Query(query): Query<OAuthCallback>,
    headers: HeaderMap,
) -> Response {
    let (lang, client, method, provider) = match oauth_start_of(&portal, peer, &headers, &name).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    if query.error.is_some() {
        // The guest said no at the provider.
        return refused(&portal, lang, method, client, None, Refusal::Invalid).await;
    }
    let grant = match provider.finish(&query.code, &query.state, client).await {
        Ok(grant) => grant,
        Err(crate::auth::oauth::OAuthError::Refused(refusal)) => {
            return refused(&portal, lang, method, client, None, refusal).await;
        }
        Err(err) => {
            tracing::warn!(provider = %name, error = %err, "OAuth login failed at the provider");
            portal.metrics.refused(method.as_str(), "provider_error");
            return message(&portal, lang, StatusCode::BAD_GATEWAY, lang.strings().error_provider.clone());
        }
    };
    let url = None;
    finish(&portal, lang, client, grant, url).await.unwrap_or_else(|response| response)
}

/// A voucher card's QR code, opened by the phone's camera: a page that
/// sends the code at once (a tap without JavaScript).
pub async fn scan_voucher(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    Query(query): Query<ScanQuery>,
    headers: HeaderMap,
) -> Response {
    let (lang, client) = match scan_start(&portal, peer, &headers).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let Some(code) = crate::kit::secrets::normalize_code(&query.code) else {
        return refused(&portal, lang, Method::Voucher, client, None, Refusal::Invalid).await;
    };
    let shown = crate::auth::voucher::display_code(&code);
    scan_page(&portal, lang, client, "/login/voucher", vec![("code", code)], shown)
}

/// The counter's QR code, opened by the phone's camera.
pub async fn scan_counter(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    Query(query): Query<CounterForm>,
    headers: HeaderMap,
) -> Response {
    let (lang, client) = match scan_start(&portal, peer, &headers).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let fields = vec![("p", query.p.to_string()), ("t", query.t.chars().take(64).collect())];
    scan_page(&portal, lang, client, "/login/counter", fields, String::new())
}

/// What a page opened from a QR code or a link starts with: the guest's
/// language and device; a guest already online (a second scan, a reload)
/// sees the success page instead of a second login.
async fn scan_start(portal: &Portal, peer: Peer, headers: &HeaderMap) -> Result<(Lang, Client), Response> {
    let lang = guest_lang(headers);
    let client = identify(portal, peer, lang).map_err(|response| *response)?;
    match portal.sessions.current(client).await {
        Ok(Some(session)) => Err(success(portal, lang, None, session.remaining().as_secs(), None)),
        Ok(None) => Ok((lang, client)),
        Err(err) => Err(internal(portal, lang, &err)),
    }
}

fn scan_page(
    portal: &Portal,
    lang: Lang,
    client: Client,
    action: &str,
    mut fields: Vec<(&str, String)>,
    shown: String,
) -> Response {
    fields.push(("token", portal.signer.device_token(client)));
    html(
        StatusCode::OK,
        ScanPage {
            t: lang.strings(),
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(portal, lang),
            venue_url: &portal.config.venue.info_url,
            action,
            fields,
            shown,
        }
        .render(),
    )
}

/// The counter tablet's page: the current QR code, refreshed every period.
pub async fn counter_display(
    State(portal): State<Arc<Portal>>,
    Query(query): Query<DisplayQuery>,
    headers: HeaderMap,
) -> Response {
    let counter = &portal.auth.counter;
    if !portal.auth.enabled.counter_qr || !counter.display_ok(&query.key) {
        return not_found(State(portal.clone()), headers).await;
    }
    let lang = guest_lang(&headers);
    let link = format!("{}{}", portal.config.portal_url(), counter.current_link());
    html(
        StatusCode::OK,
        CounterPage {
            t: lang.strings(),
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(&portal, lang),
            venue_url: "",
            qr: crate::auth::counter::qr_svg(&link),
            link,
            period: counter.period().as_secs(),
        }
        .render(),
    )
}
