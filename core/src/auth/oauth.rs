//! QQ and Weibo login (OAuth 2.0 authorization code). The portal sends the
//! guest's browser to the provider with a `state` bound to the device (the
//! challenge store); the provider sends it back with a code; the appliance
//! trades the code for a token at the provider (server to server, with the
//! client secret) and learns who the guest is: QQ's openid (its `me`
//! endpoint), Weibo's uid (in the token answer).
//!
//! Providers are client id, secret file and endpoints in the config; their
//! hosts go into the walled garden while they are on.

use super::challenge::{ChallengeError, Challenges};
use super::{Bandwidth, Grant, Identity, Method, Refusal};
use firewall::Client;
use std::time::Duration;

/// How long a guest has at the provider.
const STATE_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Which provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// QQ (graph.qq.com).
    Qq,
    /// Sina Weibo (api.weibo.com).
    Weibo,
}

impl Kind {
    /// `qq` or `weibo`: the path segment and the identity's kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Qq => "qq",
            Kind::Weibo => "weibo",
        }
    }

    /// The provider a path segment names.
    pub fn from_name(name: &str) -> Option<Kind> {
        [Kind::Qq, Kind::Weibo].into_iter().find(|k| k.name() == name)
    }

    /// Its login method.
    pub fn method(self) -> Method {
        match self {
            Kind::Qq => Method::Qq,
            Kind::Weibo => Method::Weibo,
        }
    }
}

/// Why the provider's answer was no good (the guest sees "try again").
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The guest was refused (a forged or foreign state, the guest said no).
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The provider failed or answered nonsense.
    #[error("provider: {0}")]
    Provider(String),
}

/// Who trades a code for the guest's id.
enum Trader {
    /// This side, with the app's secret.
    Secret(String),
    /// Headquarters, which holds the chain's secret (an enrolled site).
    Hq(crate::hq::client::Client),
    /// Nobody: the app's secret is at HQ and this site is not enrolled.
    Nobody,
}

/// One provider.
pub struct Provider {
    kind: Kind,
    client_id: String,
    trader: Trader,
    authorize_url: String,
    token_url: String,
    openid_url: String,
    scope: String,
    redirect_uri: String,
    session: Duration,
    bandwidth: Bandwidth,
    states: Challenges<()>,
    http: reqwest::Client,
}

/// A provider's settings.
pub struct Settings {
    /// Which.
    pub kind: Kind,
    /// The app's id (QQ: appid, Weibo: App Key).
    pub client_id: String,
    /// The app's secret (None: it is at HQ; see [`Provider::via_hq`]).
    pub client_secret: Option<String>,
    /// Where the browser goes.
    pub authorize_url: String,
    /// Where the code is traded.
    pub token_url: String,
    /// QQ's `me` endpoint (openid); unused for Weibo.
    pub openid_url: String,
    /// The scope asked for.
    pub scope: String,
    /// The portal's base URL (the callback is under it).
    pub portal_url: String,
    /// Session length.
    pub session: Duration,
    /// Its limits.
    pub bandwidth: Bandwidth,
}

impl Provider {
    /// A provider with `s`.
    pub fn new(s: Settings) -> Self {
        Provider {
            kind: s.kind,
            redirect_uri: format!("{}/oauth/{}/callback", s.portal_url, s.kind.name()),
            client_id: s.client_id,
            trader: s.client_secret.map_or(Trader::Nobody, Trader::Secret),
            authorize_url: s.authorize_url,
            token_url: s.token_url,
            openid_url: s.openid_url,
            scope: s.scope,
            session: s.session,
            bandwidth: s.bandwidth,
            states: Challenges::new(STATE_LIFETIME),
            http: crate::kit::http::http_client(Duration::from_secs(10)),
        }
    }

    /// Trades codes through headquarters' `client` (the app's secret is the chain's).
    pub fn via_hq(mut self, client: crate::hq::client::Client) -> Self {
        self.trader = Trader::Hq(client);
        self
    }

    /// Which provider.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The redirect URI this provider's logins come back to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// At headquarters, for a site: trades `code`, given for `redirect_uri`
    /// (which must be this provider's), for the guest's id.
    pub async fn trade(&self, code: &str, redirect_uri: &str) -> Result<String, OAuthError> {
        if redirect_uri != self.redirect_uri || code.is_empty() || code.len() > 512 {
            return Err(Refusal::Invalid.into());
        }
        self.identify(code).await
    }

    /// Where to send `client`'s browser: the provider's authorize URL with
    /// a fresh state bound to the device.
    pub fn start(&self, client: Client) -> String {
        let state = self.states.issue(client, ());
        let mut url = url::Url::parse(&self.authorize_url).expect("checked when the config was read");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("state", &state)
            .append_pair("scope", &self.scope);
        url.to_string()
    }

    /// The provider sent the browser back: checks the state (this device's,
    /// unused), trades the code, learns who it is.
    pub async fn finish(&self, code: &str, state: &str, client: Client) -> Result<Grant, OAuthError> {
        match self.states.redeem(state, client, |_| Ok::<(), ()>(())) {
            Ok(_) => {}
            Err(ChallengeError::Invalid) => return Err(Refusal::Invalid.into()),
            Err(ChallengeError::Replayed) => return Err(Refusal::Replayed.into()),
        }
        if code.is_empty() || code.len() > 512 {
            return Err(Refusal::Invalid.into());
        }
        let result = self.identify(code).await;
        if result.is_err() {
            // The provider failed, not the guest: the same state may come back.
            self.states.restore(state);
        }
        let id = result?;
        let identity = match self.kind {
            Kind::Qq => Identity::Qq(id),
            Kind::Weibo => Identity::Weibo(id),
        };
        Ok(Grant { method: self.kind.method(), identity, duration: self.session, bandwidth: self.bandwidth })
    }

    async fn identify(&self, code: &str) -> Result<String, OAuthError> {
        let secret = match &self.trader {
            Trader::Secret(secret) => secret.as_str(),
            Trader::Hq(client) => {
                return client.oauth(self.kind.name(), code, &self.redirect_uri).await.map_err(|e| match e {
                    crate::hq::client::HqError::Refused(400, _) => OAuthError::Refused(Refusal::Invalid),
                    other => OAuthError::Provider(format!("headquarters: {other}")),
                })
            }
            Trader::Nobody => {
                return Err(OAuthError::Provider(
                    "the app's secret is at headquarters and this site is not enrolled".into(),
                ))
            }
        };
        let provider = |e: reqwest::Error| OAuthError::Provider(e.without_url().to_string());
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("fmt", "json"),
        ];
        // QQ takes the trade as a GET, Weibo as a POST form.
        let request = match self.kind {
            Kind::Qq => self.http.get(&self.token_url).query(&form),
            Kind::Weibo => self.http.post(&self.token_url).form(&form),
        };
        let token: serde_json::Value = request.send().await.map_err(provider)?.json().await.map_err(provider)?;
        let access = token
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| OAuthError::Provider(format!("no access_token (error {:?})", token.get("error"))))?;
        let id = match self.kind {
            Kind::Weibo => token
                .get("uid")
                .and_then(|u| u.as_str().map(str::to_string).or_else(|| u.as_i64().map(|n| n.to_string()))),
            Kind::Qq => {
                let me: serde_json::Value = self
                    .http
                    .get(&self.openid_url)
                    .query(&[("access_token", access), ("fmt", "json")])
                    .send()
                    .await
                    .map_err(provider)?
                    .json()
                    .await
                    .map_err(provider)?;
                if me.get("client_id").and_then(|c| c.as_str()).is_some_and(|c| c != self.client_id) {
                    return Err(OAuthError::Provider("the token is another app's".into()));
                }
                me.get("openid").and_then(|o| o.as_str()).map(str::to_string)
            }
        };
        let id = id.ok_or_else(|| OAuthError::Provider("no user id in the answer".into()))?;
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(OAuthError::Provider("a user id we cannot store".into()));
        }
        Ok(id)
    }
}

/// The providers `[auth.qq]` and `[auth.weibo]` turn on, their secrets
/// read from their 0600 files; one whose secret is at headquarters trades
/// through `hq` (the enrolled site's client).
pub fn from_config(
    config: &crate::config::Config,
    hq: Option<&crate::hq::client::Client>,
) -> Result<Vec<Provider>, String> {
    let mut providers = Vec::new();
    for (kind, c) in [(Kind::Qq, &config.auth.qq), (Kind::Weibo, &config.auth.weibo)] {
        if !c.enabled {
            continue;
        }
        let secret = match (&c.client_secret_file, c.at_headquarters) {
            (Some(file), _) => Some(crate::kit::secrets::read_private(file)?),
            (None, true) => None,
            (None, false) => return Err(format!("auth.{}.client_secret_file is not set", kind.name())),
        };
        if secret.is_none() && hq.is_none() {
            tracing::warn!(provider = kind.name(), "the app's secret is at headquarters but this site is not enrolled: its logins fail until `controller hq join`");
        }
        let provider = Provider::new(Settings {
            kind,
            client_id: c.client_id.clone(),
            client_secret: secret.clone(),
            authorize_url: c.authorize_url.clone(),
            token_url: c.token_url.clone(),
            openid_url: c.openid_url.clone(),
            scope: c.scope.clone(),
            portal_url: config.portal_url(),
            session: config.session.length_or(c.session_minutes),
            bandwidth: Bandwidth { down_kbps: c.down_kbps, up_kbps: c.up_kbps, ..Bandwidth::default() },
        });
        providers.push(match (secret, hq) {
            (None, Some(client)) => provider.via_hq(client.clone()),
            _ => provider,
        });
    }
    Ok(providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    fn provider() -> Provider {
        Provider::new(Settings {
            kind: Kind::Qq,
            client_id: "101".into(),
            client_secret: Some("s".into()),
            authorize_url: "https://graph.qq.com/oauth2.0/authorize".into(),
            // Nothing listens here: the trade fails as a provider outage would.
            token_url: "http://127.0.0.1:9/token".into(),
            openid_url: "http://127.0.0.1:9/me".into(),
            scope: "get_user_info".into(),
            portal_url: "http://portal.test".into(),
            session: Duration::from_secs(60),
            bandwidth: Bandwidth::default(),
        })
    }

    #[test]
    fn the_browser_goes_to_the_provider_with_our_callback_and_a_state() {
        let p = provider();
        let url = url::Url::parse(&p.start(client(1))).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.host_str(), Some("graph.qq.com"));
        assert_eq!(q["redirect_uri"], "http://portal.test/oauth/qq/callback");
        assert_eq!((q["client_id"].as_str(), q["response_type"].as_str()), ("101", "code"));
        assert_eq!(q["state"].len(), 32);
    }

    #[tokio::test]
    async fn a_foreign_or_forged_state_is_refused_and_an_outage_keeps_it() {
        let p = provider();
        let url = url::Url::parse(&p.start(client(1))).unwrap();
        let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        assert!(matches!(p.finish("code", &state, client(2)).await, Err(OAuthError::Refused(Refusal::Invalid))));
        assert!(matches!(p.finish("code", "forged", client(1)).await, Err(OAuthError::Refused(Refusal::Invalid))));
        assert!(matches!(p.finish("code", &state, client(1)).await, Err(OAuthError::Provider(_))));
        assert!(matches!(p.finish("code", &state, client(1)).await, Err(OAuthError::Provider(_))), "state kept");
    }
}
