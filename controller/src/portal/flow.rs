//! The guest's login flow, whichever method: identify the device (the
//! socket's peer and the kernel's neighbour table, the form's device
//! token), start a form (the method on; a method that counts wrong tries
//! reserves the try itself, `Methods::tried`), finish
//! a grant (the session, its metrics and audit row, the welcome coupon, the
//! landing) or render a refusal (translated, counted, audited). The
//! methods' handlers (`logins`) and the home page (`pages`) call it.

use super::i18n::Lang;
use super::render::{accept_language, cookie, internal, message, success};
use super::{Peer, Portal};
use crate::auth::{Grant, Identity, Method, Refusal};
use crate::sessions::SessionError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use firewall::Client;

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
    let daily = grant.bandwidth.data_daily;
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
            let mut response = success(portal, lang, url, session.remaining().as_secs(), coupon);
            give_pass(portal, client, &identity, &mut response).await;
            Ok(response)
        }
        Err(SessionError::AddressInUse { .. }) => {
            portal.metrics.refused(method.as_str(), "address_in_use");
            Err(message(portal, lang, StatusCode::CONFLICT, lang.strings().error_address_in_use.clone()))
        }
        Err(SessionError::DataUsedUp { mb }) => {
            portal.metrics.refused(method.as_str(), "data_used");
            portal.auth.audit.record(method, client, Some(&identity), Some(&Refusal::DataUsed)).await;
            let t = lang.strings();
            let text = if daily { &t.error_data_used_today } else { &t.error_data_used };
            Err(message(portal, lang, StatusCode::FORBIDDEN, text.replace("{mb}", &mb.to_string())))
        }
        Err(err) => {
            portal.metrics.refused(method.as_str(), "error");
            Err(internal(portal, lang, &err))
        }
    }
}

/// Where the guest first asked to go, as our redirect signed it for this
/// device (a few minutes): the login page's forms carry it (`then`,
/// `then_sig`), so whichever method the guest picks lands there.
#[derive(Clone, Debug)]
pub(super) struct Wanted {
    /// The URL as it was signed.
    pub url: String,
    /// Its signature (`until.hex`).
    pub sig: String,
}

impl Wanted {
    /// The URL and signature a request carried, if this portal signed them
    /// for `client` and their time is not up.
    pub(super) fn checked(portal: &Portal, client: Client, url: &str, sig: &str) -> Option<Wanted> {
        if url.is_empty() {
            return None;
        }
        let now = crate::kit::time::now_ms() as u64 / 1000;
        if !portal.signer.url_ok(url, client, sig, now) {
            let url: String = url.chars().take(200).collect();
            tracing::warn!(%client, %url, "url not signed for this device, or too old; ignored");
            return None;
        }
        safe_url(url).map(|_| Wanted { url: url.to_string(), sig: sig.to_string() })
    }

    /// Where to send the guest: the URL, as a link.
    pub(super) fn destination(&self) -> Option<String> {
        safe_url(&self.url)
    }

    /// The destination a login form carried, when still good for `client`.
    pub(super) fn of_form(portal: &Portal, client: Client, then: &str, then_sig: &str) -> Option<String> {
        Wanted::checked(portal, client, then, then_sig).and_then(|w| w.destination())
    }
}

/// Where the guest was going, if it is a plain http(s) URL we can send it back to.
pub(super) fn safe_url(raw: &str) -> Option<String> {
    if raw.len() > super::MAX_URL {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

/// A member's login (phone, WeChat, card) gives the device a one-tap return
/// pass: an HttpOnly cookie with a random id. A failure to keep it costs the
/// guest only the one tap next time.
async fn give_pass(portal: &Portal, client: Client, identity: &Identity, response: &mut Response) {
    match portal.auth.passes.issue(&identity.who(), client.mac).await {
        Ok(Some(pass)) => {
            let cookie = format!(
                "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
                crate::auth::passes::COOKIE,
                pass.id,
                pass.lifetime.as_secs()
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        Ok(None) => {}
        Err(err) => tracing::error!(error = %crate::error_chain(&err), "return pass not kept"),
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

/// How long the success page waits for the member store's answer.
pub(super) const STORE_GLANCE: std::time::Duration = std::time::Duration::from_millis(400);

/// A new member's welcome coupon as the success page announces it, when
/// the member store's side says it is new for them.
async fn welcome(portal: &Portal, lang: Lang, client: Client, identity: &Identity) -> Option<String> {
    let rule = portal.auth.welcome(client, identity, STORE_GLANCE).await?;
    let value = format!("{}", rule.value_cents as f64 / 100.0);
    Some(match lang {
        Lang::Zh => rule.text_zh.replace("{value}", &value),
        Lang::En => rule.text_en.replace("{value}", &value),
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
        Refusal::OtherDevice => (StatusCode::FORBIDDEN, t.error_code_other_device.clone(), None),
        Refusal::CardFrozen => (StatusCode::FORBIDDEN, t.error_card_frozen.clone(), None),
        Refusal::CardLost => (StatusCode::FORBIDDEN, t.error_card_lost.clone(), None),
        Refusal::DataUsed => (StatusCode::FORBIDDEN, t.session_data_used.clone(), None),
        Refusal::Unavailable if method == Method::Voucher => {
            (StatusCode::SERVICE_UNAVAILABLE, t.error_chain_voucher_offline.clone(), Some(60))
        }
        Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, t.error_members_unavailable.clone(), Some(60)),
    };
    let mut response = message(portal, lang, status, body);
    if let Some(secs) = retry {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
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

/// What every login form starts with: the guest's language; the device, its
/// form token checked; the method on. Err is the page to answer with (a
/// method that counts wrong tries reserves one before it checks: `Methods::tried`).
pub(super) async fn form_start(
    portal: &Portal,
    peer: Peer,
    headers: &HeaderMap,
    token: &str,
    gate: Gate,
) -> Result<(Lang, Client), Response> {
    let lang = guest_lang(headers);
    let client = identify_form(portal, peer, lang, token).map_err(|response| *response)?;
    if !gate.on {
        return Err(refused(portal, lang, gate.method, client, None, Refusal::Disabled).await);
    }
    Ok((lang, client))
}

/// A method's gate: the method, and whether the restaurant offers it.
pub(super) struct Gate {
    pub method: Method,
    pub on: bool,
}

/// The guest's language: its choice (cookie), else its browser's.
pub(super) fn guest_lang(headers: &HeaderMap) -> Lang {
    Lang::choose(None, cookie(headers, "lang"), accept_language(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_kept() {
        assert_eq!(safe_url("http://example.test/a?b=1"), Some("http://example.test/a?b=1".into()));
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url(&format!("http://example.test/{}", "a".repeat(super::super::MAX_URL))), None);
    }
}
