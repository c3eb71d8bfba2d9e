//! The portal's own pages: the login page with every method the restaurant
//! offers (and its ad), the success and online pages, logout, translated
//! error pages; and what the login handlers (`logins.rs`) share: who the
//! device is, opening the session a grant allows, rendering a refusal.

use super::flow::{identify, Wanted, STORE_GLANCE};
use super::i18n::{Lang, Strings};
use super::render::{accept_language, cookie, error_page, html, internal, message, render_message, tagline};
use super::{Peer, Portal};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use firewall::Client;
use guestwifi_views::blocks::Blocks;
use guestwifi_views::login::{AdView, LoginPage, Offered, Then};
use serde::Deserialize;
use std::sync::Arc;

/// The ways `portal` offers, its first one first (QQ and Weibo are one way).
fn offered(portal: &Portal, oauth: bool) -> Offered {
    let on = &portal.auth.enabled;
    Offered {
        countdown: on.countdown,
        sms: on.sms,
        wechat: on.wechat,
        oauth,
        voucher: on.voucher,
        account: on.account,
        card: on.card,
        counter_qr: on.counter_qr,
        first: portal.config.portal.first_method.clone(),
    }
}

#[derive(Template)]
#[template(path = "online.html")]
struct OnlinePage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    minutes: u64,
    token: String,
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
                    asset_root: "",
                    venue: &portal.config.venue.name,
                    tagline: tagline(&portal, lang),
                    venue_url: &portal.config.venue.info_url,
                    minutes: session.remaining().as_secs().div_ceil(60),
                    token: portal.signer.device_token(client),
                }
                .render(),
            ),
            Ok(None) => {
                // Only a URL our own redirect signed for this device, lately,
                // is followed after the login.
                let wanted = match (query.url.as_deref(), query.sig.as_deref()) {
                    (Some(url), Some(sig)) => Wanted::checked(&portal, client, url, sig),
                    _ => None,
                };
                login_page(&portal, lang, client, wanted, cookie(&headers, crate::auth::passes::COOKIE)).await
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
    wanted: Option<Wanted>,
    pass: Option<&str>,
) -> Response {
    let auth = &portal.auth;
    // A member this device logged in as, here or at another site of the
    // brand: shown only to the device that holds the pass (a copied MAC
    // sees nothing).
    let t = lang.strings();
    let member_return = match auth.passes.holder(pass, client.mac, STORE_GLANCE).await {
        Ok(Some(who)) if auth.offers_return(&who) => Some(match who.kind.as_str() {
            "phone" => crate::kit::phones::mask_phone(&who.value),
            "card" => format!("{} ****{}", t.member_return_card, &who.value[who.value.len().saturating_sub(4)..]),
            _ => t.member_return_wechat.clone(),
        }),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(error = %crate::error_chain(&err), "return pass not looked up");
            None
        }
    };
    // A device whose data allowance ran out within the hour is told so.
    let ended = match portal.sessions.last_end(client, std::time::Duration::from_secs(3600)).await {
        Ok(Some((reason, _))) if reason == "data_used" => Some(t.session_data_used.clone()),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(error = %crate::error_chain(&err), "last session not looked up");
            None
        }
    };
    let (content, now) = super::marketing::published(portal);
    let blocks = Blocks::of(&content, &now, lang, "");
    let url = wanted.as_ref().and_then(Wanted::destination);
    let ticket = auth.enabled.countdown.then(|| auth.countdown.issue(client, url));
    let (ad, ad_what) = ad_view(portal, &content, &now, lang, "");
    // What the view showed, in one write: the view, its ad, its blocks.
    let (dishes, promotions) = (Blocks::shown(&blocks.dishes), Blocks::shown(&blocks.promotions));
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
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(portal, lang),
            venue_url: &portal.config.venue.info_url,
            ticket,
            seconds: auth.countdown.seconds().as_secs(),
            auto_login: auth.auto_login,
            ad,
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
            token: portal.signer.device_token(client),
            then: wanted.map(|w| Then { url: w.url, sig: w.sig }),
            ways: offered(portal, !auth.oauth.is_empty()).ways(lang.strings()),
            ended,
        }
        .render(),
    )
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
    if let (Some(view), Some(ad)) = (AdView::of(content, now, lang, root), content.ad_at(now)) {
        return (Some(view), marketing_ad_name(ad));
    }
    match configured_ad(portal, lang) {
        Some(view) => (Some(view), portal.auth.ad.as_ref().map(|ad| ad.url.clone()).unwrap_or_default()),
        None => (None, String::new()),
    }
}

/// The site's configured countdown ad (shown when the marketer's is not).
fn configured_ad(portal: &Portal, lang: Lang) -> Option<AdView> {
    portal.auth.ad.as_ref().map(|ad| AdView {
        image: ad.image.clone(),
        text: match lang {
            Lang::Zh => ad.text_zh.clone(),
            Lang::En => ad.text_en.clone(),
        },
    })
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
    let venue = guestwifi_views::login::Venue {
        name: &portal.config.venue.name,
        tagline: tagline(portal, lang),
        offered: offered(portal, false),
        seconds: auth.countdown.seconds().as_secs(),
        wechat: auth.enabled.wechat.then(|| portal.config.auth.wechat.keyword.clone()),
        consent_version: &auth.consent_version,
        fallback_ad: configured_ad(portal, lang),
    };
    let now = super::marketing::now(portal);
    html(StatusCode::OK, guestwifi_views::login::preview(venue, content, &now, lang, root))
}

/// `/m/{id}/{width}.jpg`: a marketing photo, re-encoded when it was
/// uploaded; its id is a hash of its bytes, so it is cached for good.
pub async fn media(
    State(portal): State<Arc<Portal>>,
    axum::extract::Path((id, file)): axum::extract::Path<(String, String)>,
) -> Response {
    super::marketing::photo_response(&portal.marketing, &id, &file).await
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
    asset("text/css; charset=utf-8", guestwifi_views::PORTAL_CSS)
}

/// The countdown script.
pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../../portal-templates/static/portal.js"))
}

/// Unknown page on the portal host.
pub async fn not_found(State(portal): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    error_page(&portal, &headers, StatusCode::NOT_FOUND, |t| &t.error_not_found)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
