//! The routes sites call. The site is the one its client certificate
//! names (looked up on every call, so a revocation stops the next one);
//! nothing in a request body or header says who it is.

use crate::ca::Ca;
use crate::db::{Db, Refusal, SiteRef};
use crate::metrics::Metrics;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use guestwifi_core::auth::oauth::Provider;
use guestwifi_core::auth::wechat::{CallbackQuery, WeChat};
use guestwifi_core::hq::protocol::{
    self, Applied, CardCheck, CardVerdict, Cards, CouponAsk, EnrolRequest, FactBatch, Heartbeat, OAuthIdentity,
    OAuthTrade, PassAsk,
};
use guestwifi_core::members::{MembersError, Store, Who};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Who is calling: the socket's peer and the client certificate's
/// fingerprint (the TLS handshake checked it chains to HQ's CA).
#[derive(Clone, Debug)]
pub struct Peer {
    /// The socket's peer.
    pub addr: SocketAddr,
    /// SHA-256 of the client certificate, if one was presented.
    pub cert: Option<String>,
}

/// Wakes the long-polls of a brand when something its bundles hold
/// changes (fed by PostgreSQL's NOTIFY, so any replica's publish wakes
/// every replica's waiters).
#[derive(Clone, Default)]
pub struct Wakes(Arc<Mutex<HashMap<String, watch::Sender<u64>>>>);

impl Wakes {
    /// A receiver that changes at the brand's next change.
    pub fn subscribe(&self, brand: &str) -> watch::Receiver<u64> {
        let mut map = self.0.lock().unwrap();
        map.entry(brand.to_string()).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// The brand changed.
    pub fn wake(&self, brand: &str) {
        if let Some(tx) = self.0.lock().unwrap().get(brand) {
            tx.send_modify(|n| *n += 1);
        }
    }

    /// Anything may have changed (the LISTEN connection was lost a while).
    pub fn wake_all(&self) {
        let mut map = self.0.lock().unwrap();
        map.retain(|_, tx| tx.receiver_count() > 0);
        for tx in map.values() {
            tx.send_modify(|n| *n += 1);
        }
    }
}

/// Failures by key (an address's enrolments, a site's wrong PINs) in
/// windows of a fixed length.
struct Failures<K> {
    window: Duration,
    map: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: std::hash::Hash + Eq + Clone> Failures<K> {
    fn new(window: Duration) -> Self {
        Failures { window, map: Mutex::default() }
    }

    fn over(&self, key: &K, max: u32) -> bool {
        let map = self.map.lock().unwrap();
        map.get(key).is_some_and(|(since, n)| since.elapsed() < self.window && *n >= max)
    }

    fn failed(&self, key: &K) {
        let mut map = self.map.lock().unwrap();
        if map.len() > 100_000 {
            map.retain(|_, (since, _)| since.elapsed() < self.window);
        }
        let entry = map.entry(key.clone()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct Hq {
    /// The store.
    pub db: Db,
    /// HQ's CA.
    pub ca: Arc<Ca>,
    /// The long-polls' wake-ups.
    pub wakes: Wakes,
    /// The counters.
    pub metrics: Arc<Metrics>,
    failures: Arc<Failures<IpAddr>>,
    failures_per_minute: u32,
    /// Wrong PINs by site in the hour: what a stolen appliance's certificate
    /// could try before it is revoked.
    wrong_pins: Arc<Failures<(String, String)>>,
    wrong_pins_per_hour: u32,
    /// Codes HQ failed to trade, by site in the hour.
    failed_trades: Arc<Failures<(String, String)>>,
    failed_trades_per_hour: u32,
    /// HQ's ticket key's public half, for the bundles.
    ticket_public: Option<String>,
    /// Each brand's WeChat official account, its links signed with the ticket key.
    wechat: Arc<std::collections::BTreeMap<String, Arc<WeChat>>>,
    /// Each brand's QQ and Weibo apps, by (brand, provider).
    oauth: Arc<std::collections::BTreeMap<(String, String), Provider>>,
    /// The chain's SMS gateway, and its budgets.
    sms: Option<Arc<dyn guestwifi_core::auth::sms::gateway::Gateway>>,
    sms_budget: crate::config::SmsBudget,
}

impl Hq {
    /// The shared state.
    pub fn new(db: Db, ca: Arc<Ca>, metrics: Arc<Metrics>, config: &crate::config::Config) -> anyhow::Result<Hq> {
        let enrol = &config.enrol;
        let sms = match &config.sms {
            Some(sms) => {
                let dir = config.ca.cert.parent().unwrap_or(std::path::Path::new("."));
                Some(guestwifi_core::auth::sms::gateway_from(sms, dir).map_err(anyhow::Error::msg)?)
            }
            None => None,
        };
        let tickets = ticket_key(config)?;
        let mut wechat = std::collections::BTreeMap::new();
        for (brand, account) in &config.wechat {
            let key = tickets.clone().ok_or_else(|| {
                anyhow::anyhow!("wechat.{brand}: the ticket key is missing (`guestwifi-hq init` makes it)")
            })?;
            wechat.insert(brand.clone(), Arc::new(wechat_account(brand, account, key)?));
        }
        let mut oauth = std::collections::BTreeMap::new();
        for (brand, apps) in &config.oauth {
            for (name, app) in apps {
                oauth.insert((brand.clone(), name.clone()), oauth_app(brand, name, app)?);
            }
        }
        if tickets.is_none() {
            tracing::warn!(path = %config.ca.ticket_key_path().display(), "no ticket key: bundles carry none (`guestwifi-hq init` makes it)");
        }
        Ok(Hq {
            db,
            ca,
            ticket_public: tickets.as_ref().map(guestwifi_core::hq::tickets::public_hex),
            wechat: Arc::new(wechat),
            oauth: Arc::new(oauth),
            wakes: Wakes::default(),
            metrics,
            failures: Arc::new(Failures::new(Duration::from_secs(60))),
            failures_per_minute: enrol.failures_per_minute,
            wrong_pins: Arc::new(Failures::new(Duration::from_secs(3600))),
            wrong_pins_per_hour: enrol.wrong_pins_per_site_hour,
            failed_trades: Arc::new(Failures::new(Duration::from_secs(3600))),
            failed_trades_per_hour: enrol.failed_trades_per_site_hour,
            sms,
            sms_budget: config.sms_budget.clone(),
        })
    }

    /// The member store's queries, for `site`.
    fn store(&self, site: &SiteRef) -> Store {
        Store::on(self.db.pool().clone(), &site.brand, &site.site, &self.db.location)
    }
}

/// HQ's ticket key, when its file is there (0600, refused otherwise).
pub fn ticket_key(config: &crate::config::Config) -> anyhow::Result<Option<ed25519_dalek::SigningKey>> {
    let path = config.ca.ticket_key_path();
    if !path.exists() {
        return Ok(None);
    }
    let text = guestwifi_core::kit::secrets::read_private(&path).map_err(anyhow::Error::msg)?;
    let key = guestwifi_core::hq::tickets::parse_key(&text)
        .ok_or_else(|| anyhow::anyhow!("{}: not a ticket key (64 hex digits)", path.display()))?;
    Ok(Some(key))
}

/// Brand `brand`'s official account at HQ: its secrets read from their
/// 0600 files, its links tickets signed with `key`.
fn wechat_account(
    brand: &str,
    account: &crate::config::WeChat,
    key: ed25519_dalek::SigningKey,
) -> anyhow::Result<WeChat> {
    use guestwifi_core::auth::wechat::{Cipher, Settings};
    let read = |path: &std::path::Path| guestwifi_core::kit::secrets::read_private(path).map_err(anyhow::Error::msg);
    let cipher = match &account.encoding_aes_key_file {
        None => None,
        Some(path) => Some(
            Cipher::new(&read(path)?, &account.appid)
                .ok_or_else(|| anyhow::anyhow!("wechat.{brand}: the EncodingAESKey is not 43 base64 characters"))?,
        ),
    };
    Ok(WeChat::new(Settings {
        token: Some(read(&account.token_file)?),
        cipher,
        keyword: account.keyword.trim().to_string(),
        reply: account.reply.clone(),
        link_ttl: Duration::from_secs(account.link_minutes * 60),
        // What a login is worth is the site's to say.
        session: Duration::ZERO,
        bandwidth: Default::default(),
        portal_url: account.portal_url.trim_end_matches('/').to_string(),
        tickets: Some((key, brand.to_string())),
    }))
}

/// Brand `brand`'s app at `name` (qq, weibo), its secret read from its 0600 file.
fn oauth_app(brand: &str, name: &str, app: &crate::config::OAuthApp) -> anyhow::Result<Provider> {
    use guestwifi_core::auth::oauth::{Kind, Settings};
    let kind = Kind::from_name(name).ok_or_else(|| anyhow::anyhow!("oauth.{brand}.{name}: qq or weibo"))?;
    let secret = guestwifi_core::kit::secrets::read_private(&app.client_secret_file).map_err(anyhow::Error::msg)?;
    Ok(Provider::new(Settings {
        kind,
        client_id: app.client_id.clone(),
        client_secret: Some(secret),
        // The guest's browser goes there from the site; HQ only trades.
        authorize_url: String::new(),
        token_url: app.token_url.clone(),
        openid_url: app.openid_url.clone(),
        scope: String::new(),
        portal_url: app.portal_url.trim_end_matches('/').to_string(),
        session: Duration::ZERO,
        bandwidth: Default::default(),
    }))
}

/// A site's QQ or Weibo code, traded with the brand's app secret: the
/// guest's id. Only codes given for the brand's redirect URI are traded.
async fn oauth_trade(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(ask): Json<OAuthTrade>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    let Some(app) = hq.oauth.get(&(site.brand.clone(), ask.provider.clone())) else {
        return status(StatusCode::NOT_FOUND, "no such app of this brand at headquarters");
    };
    let key = (site.brand.clone(), site.site.clone());
    if hq.failed_trades.over(&key, hq.failed_trades_per_hour) {
        tracing::warn!(brand = %site.brand, site = %site.site, "a site over its failed QQ/Weibo trades for the hour");
        return status(StatusCode::TOO_MANY_REQUESTS, "too many codes that did not trade at this site this hour");
    }
    match app.trade(&ask.code, &ask.redirect_uri).await {
        Ok(id) => Json(OAuthIdentity { id }).into_response(),
        Err(guestwifi_core::auth::oauth::OAuthError::Refused(_)) => {
            hq.failed_trades.failed(&key);
            status(StatusCode::BAD_REQUEST, "not a code for this brand's redirect URI")
        }
        Err(err) => {
            hq.failed_trades.failed(&key);
            tracing::warn!(site = %site.site, provider = %ask.provider, error = %err, "a login's code could not be traded");
            status(StatusCode::BAD_GATEWAY, "the provider did not answer as it should")
        }
    }
}

/// WeChat's callback for a brand's account: `GET` the URL check, `POST` a
/// message. No client certificate: WeChat's servers call it; the Token's
/// signature is what lets a call in.
async fn wechat_callback(
    State(hq): State<Hq>,
    Path(brand): Path<String>,
    method: axum::http::Method,
    Query(q): Query<CallbackQuery>,
    body: String,
) -> Response {
    let Some(account) = hq.wechat.get(&brand) else {
        return status(StatusCode::NOT_FOUND, "no WeChat account here for that brand");
    };
    let get = method == axum::http::Method::GET;
    let (code, text) = account.answer(&q, (!get).then_some(body.as_str()));
    let kind = if get { "text/plain; charset=utf-8" } else { "application/xml; charset=utf-8" };
    (StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN), [(header::CONTENT_TYPE, kind)], text).into_response()
}

/// A plain-text answer with a status.
pub fn status(code: StatusCode, text: &str) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text.to_string()).into_response()
}

fn unavailable(err: &sqlx::Error) -> Response {
    tracing::warn!(error = %guestwifi_core::error_chain(err), "the store failed");
    let mut response = status(StatusCode::SERVICE_UNAVAILABLE, "headquarters' store is unavailable; try again");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// The routes.
pub fn router(hq: Hq) -> Router {
    Router::new()
        .route(protocol::PATH_CA, get(ca))
        .route(protocol::PATH_ENROL, post(enrol))
        .route(protocol::PATH_FACTS, post(facts))
        .route(protocol::PATH_BUNDLE, get(bundle))
        .route(protocol::PATH_APPLIED, post(applied))
        .route(protocol::PATH_HEARTBEAT, post(heartbeat))
        .route(&format!("{}/{{id}}", protocol::PATH_PHOTOS), get(photo))
        .route(protocol::PATH_CARD_CHECK, post(card_check))
        .route(protocol::PATH_CARD, post(card_get))
        .route(protocol::PATH_CARDS, post(cards_seen))
        .route(protocol::PATH_PASS, post(pass_holder))
        .route(protocol::PATH_PASS_REVOKE, post(pass_revoke))
        .route(protocol::PATH_COUPON, post(coupon_held))
        .route(protocol::PATH_SMS, post(sms))
        .route(protocol::PATH_OAUTH, post(oauth_trade))
        .route(protocol::PATH_WECHAT, get(wechat_callback).post(wechat_callback))
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024))
        .with_state(hq)
}

async fn ca(State(hq): State<Hq>) -> Response {
    ([(header::CONTENT_TYPE, "application/x-pem-file")], hq.ca.cert_pem.clone()).into_response()
}

async fn enrol(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(request): Json<EnrolRequest>) -> Response {
    let ip = peer.addr.ip();
    if hq.failures.over(&ip, hq.failures_per_minute) {
        hq.metrics.enrol_refused.inc();
        let mut response =
            status(StatusCode::TOO_MANY_REQUESTS, "too many wrong claim codes from this address; wait a minute");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    }
    if request.public_key_pem.len() > 4096 || request.claim.len() > 16 || request.proof.len() > 128 {
        return status(StatusCode::BAD_REQUEST, "not an enrolment");
    }
    match hq.db.enrol(&request, &hq.ca).await {
        Ok(answer) => {
            hq.metrics.enrolled.inc();
            tracing::info!(brand = %answer.brand, site = %answer.site, peer = %ip, "site enrolled");
            Json(answer).into_response()
        }
        Err(Refusal::Claim(why)) => {
            hq.failures.failed(&ip);
            hq.metrics.enrol_refused.inc();
            tracing::warn!(peer = %ip, claim = %request.claim, why, "enrolment refused");
            hq.db.refusal("", "", "enrol", &format!("claim {}: {why}", request.claim), &ip.to_string()).await;
            status(StatusCode::FORBIDDEN, &Refusal::Claim(why).to_string())
        }
        Err(Refusal::Store(err)) => unavailable(&err),
        Err(Refusal::Cert(err)) => {
            tracing::warn!(error = %err, "could not issue a certificate");
            status(StatusCode::BAD_REQUEST, "the public key is not usable")
        }
    }
}

/// The enrolled site the peer's certificate names, or the answer to give.
async fn site(hq: &Hq, peer: &Peer) -> Result<SiteRef, Response> {
    let Some(cert) = &peer.cert else {
        return Err(status(StatusCode::UNAUTHORIZED, "a site certificate is needed: enrol first"));
    };
    match hq.db.site_of(cert).await {
        Ok(Some(site)) => Ok(site),
        Ok(None) => {
            hq.metrics.calls_refused.inc();
            tracing::warn!(peer = %peer.addr, cert = %&cert[..16], "a call with a revoked or replaced certificate");
            Err(status(
                StatusCode::FORBIDDEN,
                "this site's certificate is revoked or replaced: enrol again with a new code",
            ))
        }
        Err(err) => Err(unavailable(&err)),
    }
}

async fn facts(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(batch): Json<FactBatch>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    if batch.brand != site.brand || batch.site != site.site {
        hq.metrics.calls_refused.inc();
        tracing::warn!(brand = %site.brand, site = %site.site, claimed_brand = %batch.brand, claimed_site = %batch.site,
            "a site sent facts for another site or brand: refused");
        let detail = format!("facts for {}/{}", batch.brand, batch.site);
        hq.db.refusal(&site.brand, &site.site, "facts for another", &detail, &peer.addr.ip().to_string()).await;
        return status(StatusCode::FORBIDDEN, "a site files facts about itself only");
    }
    if batch.facts.len() > protocol::MAX_FACTS {
        return status(StatusCode::PAYLOAD_TOO_LARGE, "too many facts in one batch");
    }
    match hq.db.file_facts(&site, &batch.facts).await {
        Ok(answer) => {
            hq.metrics.facts.inc_by(answer.landed as u64);
            if let Some((id, why)) = &answer.refused {
                hq.metrics.facts_refused.inc();
                tracing::warn!(brand = %site.brand, site = %site.site, fact = %id, why, "a fact refused");
            }
            Json(answer).into_response()
        }
        Err(err) => unavailable(&err),
    }
}

/// `?wait=N`: how long to hold a poll whose bundle is unchanged.
#[derive(serde::Deserialize)]
struct Wait {
    #[serde(default)]
    wait: u64,
}

fn etag_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    Some(value.trim().trim_start_matches("W/").trim_matches('"').to_string())
}

async fn bundle(
    State(hq): State<Hq>,
    Extension(peer): Extension<Peer>,
    Query(wait): Query<Wait>,
    headers: HeaderMap,
) -> Response {
    let have = etag_of(&headers);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.wait.min(protocol::MAX_WAIT_SECONDS));
    let _waiting = hq.metrics.polling();
    let mut first = true;
    let mut wake: Option<watch::Receiver<u64>> = None;
    loop {
        // Every round checks the certificate again: a revocation ends the wait.
        let site = match site(&hq, &peer).await {
            Ok(site) => site,
            Err(response) => return response,
        };
        let wake = wake.get_or_insert_with(|| hq.wakes.subscribe(&site.brand));
        wake.borrow_and_update();
        let bundle = match hq.db.bundle(&site, hq.ticket_public.as_deref()).await {
            Ok(bundle) => bundle,
            Err(err) => return unavailable(&err),
        };
        if have.as_deref() != Some(bundle.version.as_str()) {
            let etag = HeaderValue::from_str(&format!("\"{}\"", bundle.version)).expect("hex is a header value");
            return ([(header::ETAG, etag)], Json(bundle)).into_response();
        }
        if !first && tokio::time::Instant::now() >= deadline {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        first = false;
        match tokio::time::timeout_at(deadline, wake.changed()).await {
            Ok(Ok(())) => continue,
            _ => return StatusCode::NOT_MODIFIED.into_response(),
        }
    }
}

async fn applied(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(report): Json<Applied>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    if let Some(why) = &report.refused {
        hq.metrics.bundles_refused.inc();
        tracing::warn!(brand = %site.brand, site = %site.site, bundle = %report.version, why, "a site refused its bundle");
    }
    match hq.db.applied(&site, &report).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => unavailable(&err),
    }
}

async fn heartbeat(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(beat): Json<Heartbeat>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    hq.metrics.heartbeats.inc();
    match hq.db.heartbeat(&site, &beat).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => unavailable(&err),
    }
}

async fn photo(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Path(id): Path<String>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    match hq.db.photo(&site.brand, &id).await {
        Ok(Some(bytes)) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Ok(None) => status(StatusCode::NOT_FOUND, "no such photo"),
        Err(err) => unavailable(&err),
    }
}

fn members_failed(err: &MembersError) -> Response {
    match err {
        MembersError::Store(err) => unavailable(err),
        other => {
            tracing::warn!(error = %guestwifi_core::error_chain(other), "the member store failed");
            status(StatusCode::SERVICE_UNAVAILABLE, "headquarters' store is unavailable; try again")
        }
    }
}

/// A card and PIN: HQ runs the slow check, so a site never needs the
/// hashes of cards that never logged in there. A site's wrong PINs in an
/// hour are capped here too, whatever the site's own code does.
async fn card_check(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(ask): Json<CardCheck>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    let key = (site.brand.clone(), site.site.clone());
    if hq.wrong_pins.over(&key, hq.wrong_pins_per_hour) {
        tracing::warn!(brand = %site.brand, site = %site.site, "a site over its wrong PINs for the hour");
        return status(StatusCode::TOO_MANY_REQUESTS, "too many wrong PINs at this site this hour");
    }
    if !guestwifi_core::members::valid_card(&ask.card_no) || ask.pin.len() > 64 {
        return Json(CardVerdict::Wrong).into_response();
    }
    let card = match hq.store(&site).card(&ask.card_no).await {
        Ok(card) => card,
        Err(err) => return members_failed(&err),
    };
    // An unknown card costs the same argon2 time as a wrong PIN.
    let hash =
        card.as_ref().and_then(|c| c.pin_hash.clone()).unwrap_or_else(guestwifi_core::kit::passwords::unusable_hash);
    let Ok(good) = guestwifi_core::kit::passwords::verify_password(ask.pin, hash).await else {
        return status(StatusCode::TOO_MANY_REQUESTS, "busy checking PINs; try again");
    };
    match card.filter(|c| good && c.pin_hash.is_some()) {
        Some(card) => {
            if let Err(err) = hq.db.card_seen(&site, &card.card_no).await {
                return unavailable(&err);
            }
            Json(CardVerdict::Good { card }).into_response()
        }
        None => {
            hq.wrong_pins.failed(&key);
            Json(CardVerdict::Wrong).into_response()
        }
    }
}

/// A card's state and tier without its PIN (a one-tap return needs no PIN).
async fn card_get(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(ask): Json<Cards>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    let Some(card_no) = ask.card_nos.first().filter(|_| ask.card_nos.len() == 1) else {
        return status(StatusCode::BAD_REQUEST, "one card");
    };
    match hq.store(&site).card(card_no).await {
        Ok(card) => Json(
            card.map(|c| guestwifi_core::members::CardRecord { pin_hash: None, ..c }).into_iter().collect::<Vec<_>>(),
        )
        .into_response(),
        Err(err) => members_failed(&err),
    }
}

/// The asked cards whose PIN was right at this site in the last 90 days, with
/// their PIN hashes: the site's offline copy, and nothing more.
async fn cards_seen(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(ask): Json<Cards>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    if ask.card_nos.len() > protocol::MAX_CARDS {
        return status(StatusCode::PAYLOAD_TOO_LARGE, "too many cards at once");
    }
    let seen = match hq.db.cards_seen_at(&site, &ask.card_nos).await {
        Ok(seen) => seen,
        Err(err) => return unavailable(&err),
    };
    match hq.store(&site).cards(&seen).await {
        Ok(cards) => Json(cards).into_response(),
        Err(err) => members_failed(&err),
    }
}

async fn pass_holder(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(ask): Json<PassAsk>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    match hq.store(&site).pass_holder(&ask.hash, &ask.mac).await {
        Ok(who) => Json(who).into_response(),
        Err(err) => members_failed(&err),
    }
}

async fn pass_revoke(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(who): Json<Who>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    match hq.store(&site).revoke_passes(&who).await {
        Ok(n) => {
            tracing::info!(brand = %site.brand, site = %site.site, kind = %who.kind, passes = n, "passes revoked at a site's request");
            Json(n).into_response()
        }
        Err(err) => members_failed(&err),
    }
}

async fn coupon_held(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(ask): Json<CouponAsk>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    match hq.store(&site).has_coupon(&ask.who, &ask.rule).await {
        Ok(held) => Json(held).into_response(),
        Err(err) => members_failed(&err),
    }
}

/// An SMS code for a site's guest, sent with the chain's gateway, within the
/// chain's and the site's hour.
async fn sms(State(hq): State<Hq>, Extension(peer): Extension<Peer>, Json(sms): Json<protocol::Sms>) -> Response {
    let site = match site(&hq, &peer).await {
        Ok(site) => site,
        Err(response) => return response,
    };
    let Some(gateway) = &hq.sms else {
        return status(StatusCode::NOT_FOUND, "headquarters has no SMS gateway");
    };
    let phone_ok = sms.phone.starts_with('+')
        && (8..=16).contains(&sms.phone.len())
        && sms.phone[1..].bytes().all(|b| b.is_ascii_digit());
    if !phone_ok || sms.code.len() > 12 || sms.text.chars().count() > 300 {
        return status(StatusCode::BAD_REQUEST, "not an SMS code");
    }
    match hq.db.take_sms(&site, hq.sms_budget.chain_per_hour, hq.sms_budget.site_per_hour).await {
        Ok(true) => {}
        Ok(false) => {
            hq.metrics.sms_refused.inc();
            tracing::warn!(brand = %site.brand, site = %site.site, "the SMS budget for the hour is spent");
            return status(StatusCode::TOO_MANY_REQUESTS, "the SMS budget for this hour is spent");
        }
        Err(err) => return unavailable(&err),
    }
    match gateway.send(&sms.phone, &sms.code, &sms.text).await {
        Ok(()) => {
            hq.metrics.sms_sent.inc();
            StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => {
            tracing::warn!(brand = %site.brand, site = %site.site, error = %err, "the chain's SMS gateway failed");
            status(StatusCode::BAD_GATEWAY, "the SMS gateway failed")
        }
    }
}
