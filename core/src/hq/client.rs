//! The site's HTTPS client to HQ: mutual TLS with the site's certificate,
//! HQ's pinned CA the only root it trusts (never the system's store).

use super::protocol::{self, Applied, Bundle, FactBatch, FactsAnswer, Heartbeat};
use super::site::Identity;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::Duration;

/// Why a call to HQ did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum HqError {
    /// HQ could not be reached, or failed: worth trying again as it is.
    #[error("headquarters unreachable: {0}")]
    Link(String),
    /// HQ refused the call itself (status and what it said).
    #[error("headquarters refused ({0}): {1}")]
    Refused(u16, String),
    /// The site's enrolment is not usable (a file, a key).
    #[error("enrolment: {0}")]
    Enrolment(String),
}

impl HqError {
    /// The link, not the request: retry as it is.
    pub fn is_link(&self) -> bool {
        match self {
            HqError::Link(_) => true,
            // A revoked or not yet known site, a throttle, a server error:
            // the site keeps what it has and tries again later.
            HqError::Refused(status, _) => matches!(status, 401 | 403 | 408 | 429) || *status >= 500,
            HqError::Enrolment(_) => false,
        }
    }
}

/// The ring provider, the process's one.
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client config that trusts `ca_pem` only, with the client
/// certificate when given.
pub(super) fn tls_config(ca_pem: &str, client: Option<(&str, &str)>) -> Result<rustls::ClientConfig, HqError> {
    let bad = |what: &str| HqError::Enrolment(what.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|_| bad("HQ's CA does not parse"))?).map_err(|_| bad("HQ's CA is not a CA"))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|_| bad("TLS versions"))?
        .with_root_certificates(roots);
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_pem, key_pem)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|_| bad("the site's certificate does not parse"))?;
            let key =
                PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| bad("the site's key does not parse"))?;
            builder.with_client_auth_cert(chain, key).map_err(|_| bad("the site's key does not match its certificate"))
        }
    }
}

/// An HTTP client over `tls`.
pub(super) fn http(tls: rustls::ClientConfig, timeout: Duration) -> Result<reqwest::Client, HqError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        // HQ closes a connection idle past its header deadline (15 s): let
        // it go first, so a call never goes out on a socket being closed.
        .pool_idle_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| HqError::Enrolment(format!("HTTP client: {e}")))
}

pub(super) fn link(err: reqwest::Error) -> HqError {
    HqError::Link(crate::error_chain(&err))
}

pub(super) async fn refused(response: reqwest::Response) -> HqError {
    let status = response.status().as_u16();
    let text: String = response.text().await.unwrap_or_default().chars().take(300).collect();
    HqError::Refused(status, text)
}

/// The site's client.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// The bundle's long-poll: its own client, whose timeout outlasts the wait.
    poll: reqwest::Client,
    /// Brand id (what facts say they are about).
    pub brand: String,
    /// Site id.
    pub site: String,
}

impl Client {
    /// A client for the enrolment `identity` holds.
    pub fn new(identity: &Identity) -> Result<Client, HqError> {
        let tls = tls_config(&identity.ca_pem, Some((&identity.cert_pem, &identity.key_pem)))?;
        Ok(Client {
            base: identity.enrolment.url.trim_end_matches('/').to_string(),
            http: http(tls.clone(), Duration::from_secs(20))?,
            poll: http(tls, Duration::from_secs(protocol::MAX_WAIT_SECONDS + 15))?,
            brand: identity.enrolment.brand.clone(),
            site: identity.enrolment.site.clone(),
        })
    }

    async fn post<T: serde::Serialize>(&self, path: &str, body: &T) -> Result<reqwest::Response, HqError> {
        let response = self.http.post(format!("{}{path}", self.base)).json(body).send().await.map_err(link)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refused(response).await)
        }
    }

    /// Delivers a batch of facts about this site.
    pub async fn facts(&self, facts: Vec<protocol::WireFact>) -> Result<FactsAnswer, HqError> {
        let batch = FactBatch { brand: self.brand.clone(), site: self.site.clone(), facts };
        self.post(protocol::PATH_FACTS, &batch).await?.json().await.map_err(link)
    }

    /// The site's bundle when its version is not `have` (None: unchanged
    /// after waiting up to `wait`).
    pub async fn bundle(&self, have: Option<&str>, wait: Duration) -> Result<Option<Bundle>, HqError> {
        let mut request = self.poll.get(format!("{}{}?wait={}", self.base, protocol::PATH_BUNDLE, wait.as_secs()));
        if let Some(version) = have {
            request = request.header("If-None-Match", format!("\"{version}\""));
        }
        let response = request.send().await.map_err(link)?;
        match response.status().as_u16() {
            304 => Ok(None),
            200 => Ok(Some(response.json().await.map_err(link)?)),
            _ => Err(refused(response).await),
        }
    }

    /// Says what the site did with a bundle.
    pub async fn applied(&self, applied: &Applied) -> Result<(), HqError> {
        self.post(protocol::PATH_APPLIED, applied).await.map(drop)
    }

    /// The minute's heartbeat.
    pub async fn heartbeat(&self, beat: &Heartbeat) -> Result<(), HqError> {
        self.post(protocol::PATH_HEARTBEAT, beat).await.map(drop)
    }
}

impl Client {
    /// A photo of the brand's, as uploaded at HQ (the site re-encodes it).
    pub async fn photo(&self, id: &str) -> Result<Vec<u8>, HqError> {
        let mut response =
            self.http.get(format!("{}{}/{id}", self.base, protocol::PATH_PHOTOS)).send().await.map_err(link)?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(link)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > crate::marketing::MAX_UPLOAD {
                return Err(HqError::Refused(413, format!("photo {id} is larger than a photo may be")));
            }
        }
        Ok(bytes)
    }
}

impl Client {
    async fn ask<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, HqError> {
        self.post(path, body).await?.json().await.map_err(link)
    }

    /// Trades a QQ or Weibo `code` at HQ (the chain's app secret is there):
    /// the guest's id.
    pub async fn oauth(&self, provider: &str, code: &str, redirect_uri: &str) -> Result<String, HqError> {
        let ask =
            protocol::OAuthTrade { provider: provider.into(), code: code.into(), redirect_uri: redirect_uri.into() };
        let who: protocol::OAuthIdentity = self.ask(protocol::PATH_OAUTH, &ask).await?;
        Ok(who.id)
    }

    /// Checks a card and PIN at HQ.
    pub async fn check_card(&self, card_no: &str, pin: &str) -> Result<protocol::CardVerdict, HqError> {
        let ask = protocol::CardCheck { card_no: card_no.into(), pin: pin.into() };
        self.ask(protocol::PATH_CARD_CHECK, &ask).await
    }

    /// A card's state and tier (no PIN hash).
    pub async fn card(&self, card_no: &str) -> Result<Option<crate::members::CardRecord>, HqError> {
        let ask = protocol::Cards { card_nos: vec![card_no.into()] };
        let cards: Vec<crate::members::CardRecord> = self.ask(protocol::PATH_CARD, &ask).await?;
        Ok(cards.into_iter().next())
    }

    /// The cards among `card_nos` that logged in at this site lately, with
    /// their PIN hashes (the site's offline copy).
    pub async fn cards(&self, card_nos: &[String]) -> Result<Vec<crate::members::CardRecord>, HqError> {
        let mut out = Vec::new();
        for chunk in card_nos.chunks(protocol::MAX_CARDS) {
            let ask = protocol::Cards { card_nos: chunk.to_vec() };
            out.extend(self.ask::<_, Vec<crate::members::CardRecord>>(protocol::PATH_CARDS, &ask).await?);
        }
        Ok(out)
    }

    /// Who a pass logs in as on `mac`, from any site of the brand.
    pub async fn pass_holder(&self, hash: &str, mac: &str) -> Result<Option<crate::members::Who>, HqError> {
        self.ask(protocol::PATH_PASS, &protocol::PassAsk { hash: hash.into(), mac: mac.into() }).await
    }

    /// Revokes `who`'s passes at every site; how many.
    pub async fn revoke_passes(&self, who: &crate::members::Who) -> Result<u64, HqError> {
        self.ask(protocol::PATH_PASS_REVOKE, who).await
    }

    /// Whether the member `who` names holds a coupon of `rule`.
    pub async fn has_coupon(&self, who: &crate::members::Who, rule: &str) -> Result<bool, HqError> {
        self.ask(protocol::PATH_COUPON, &protocol::CouponAsk { who: who.clone(), rule: rule.into() }).await
    }
}

impl Client {
    /// Has HQ send an SMS code with the chain's gateway (the chain's and the
    /// site's hourly budgets are HQ's to keep).
    pub async fn sms(&self, phone: &str, code: &str, text: &str) -> Result<(), HqError> {
        let sms = protocol::Sms { phone: phone.into(), code: code.into(), text: text.into() };
        self.post(protocol::PATH_SMS, &sms).await.map(drop)
    }
}

impl From<HqError> for crate::members::RemoteError {
    fn from(err: HqError) -> Self {
        let status = match &err {
            HqError::Refused(status, _) => Some(*status),
            _ => None,
        };
        crate::members::RemoteError { status, link: err.is_link(), text: err.to_string() }
    }
}

/// The member store and its feed ask HQ through this.
impl crate::members::Remote for Client {
    fn facts(&self, rows: Vec<(String, i64, String)>) -> crate::members::Asking<'_, Option<(String, String)>> {
        Box::pin(async move {
            let facts = rows.into_iter().map(|(id, at, body)| protocol::WireFact { id, at, body }).collect();
            Ok(Client::facts(self, facts).await?.refused)
        })
    }

    fn check_card<'a>(
        &'a self,
        card_no: &'a str,
        pin: &'a str,
    ) -> crate::members::Asking<'a, Option<crate::members::CardRecord>> {
        Box::pin(async move {
            Ok(match Client::check_card(self, card_no, pin).await? {
                protocol::CardVerdict::Good { card } => Some(card),
                protocol::CardVerdict::Wrong => None,
            })
        })
    }

    fn card<'a>(&'a self, card_no: &'a str) -> crate::members::Asking<'a, Option<crate::members::CardRecord>> {
        Box::pin(async move { Ok(Client::card(self, card_no).await?) })
    }

    fn cards<'a>(&'a self, card_nos: &'a [String]) -> crate::members::Asking<'a, Vec<crate::members::CardRecord>> {
        Box::pin(async move { Ok(Client::cards(self, card_nos).await?) })
    }

    fn pass_holder<'a>(
        &'a self,
        hash: &'a str,
        mac: &'a str,
    ) -> crate::members::Asking<'a, Option<crate::members::Who>> {
        Box::pin(async move { Ok(Client::pass_holder(self, hash, mac).await?) })
    }

    fn revoke_passes<'a>(&'a self, who: &'a crate::members::Who) -> crate::members::Asking<'a, u64> {
        Box::pin(async move { Ok(Client::revoke_passes(self, who).await?) })
    }

    fn has_coupon<'a>(&'a self, who: &'a crate::members::Who, rule: &'a str) -> crate::members::Asking<'a, bool> {
        Box::pin(async move { Ok(Client::has_coupon(self, who, rule).await?) })
    }
}
