//! `hq.toml`: one file, every key in `image/hq.example.toml`, each
//! overridable by `GUESTWIFI_HQ_<SECTION>__<KEY>` (the controller's rule).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The environment's prefix.
pub const ENV_PREFIX: &str = "GUESTWIFI_HQ_";

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`
    pub server: Server,
    /// `[database]`
    pub database: Database,
    /// `[ca]`
    pub ca: Ca,
    /// `[enrol]`
    #[serde(default)]
    pub enrol: Enrol,
    /// `[console]`: the HQ console for the chain's people; absent, none is served.
    #[serde(default)]
    pub console: Option<Console>,
    /// `[sms]`: the chain's SMS gateway, with the controller's `[auth.sms]`
    /// gateway keys (`gateway`, `webhook`, `aliyun`, `tencent`, `text`);
    /// absent, HQ sends no SMS for its sites.
    #[serde(default)]
    pub sms: Option<guestwifi_core::config::SmsAuth>,
    /// `[sms_budget]`
    #[serde(default)]
    pub sms_budget: SmsBudget,
    /// `[wechat.<brand>]`: a brand's WeChat official account, whose
    /// callback HQ takes (its URL: `https://<HQ>/v1/wechat/<brand>`).
    #[serde(default)]
    pub wechat: std::collections::BTreeMap<String, WeChat>,
    /// `[oauth.<brand>.qq]`, `[oauth.<brand>.weibo]`: a brand's QQ and Weibo
    /// apps, whose secrets stay here; HQ trades its sites' codes.
    #[serde(default)]
    pub oauth: std::collections::BTreeMap<String, std::collections::BTreeMap<String, OAuthApp>>,
}

/// `[oauth.<brand>.<qq|weibo>]`: a brand's app at QQ or Weibo.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthApp {
    /// The app's id (QQ appid, Weibo App Key): the sites' `client_id`.
    pub client_id: String,
    /// A file (mode 0600) holding the app's secret.
    pub client_secret_file: PathBuf,
    /// Where the code is traded for a token.
    pub token_url: String,
    /// QQ's `me` endpoint (the openid); unused for Weibo.
    #[serde(default)]
    pub openid_url: String,
    /// The sites' portal, as the app's redirect URI starts
    /// (`http://portal.example.com`): only codes given for it are traded.
    pub portal_url: String,
}

/// `[wechat.<brand>]`: the brand's official account (微信公众号). Its Token
/// and EncodingAESKey stay here; HQ answers the keyword with a login link
/// it signs with the ticket key, which any site of the brand takes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChat {
    /// The account's AppID (checked in safe mode).
    pub appid: String,
    /// A file (mode 0600) holding the Token set in 服务器配置.
    pub token_file: PathBuf,
    /// A file (mode 0600) holding the EncodingAESKey (safe mode, 安全模式);
    /// unset: plaintext mode.
    #[serde(default)]
    pub encoding_aes_key_file: Option<PathBuf>,
    /// What a diner sends to get a link.
    #[serde(default = "default_keyword")]
    pub keyword: String,
    /// The answer; `{link}` is the login link.
    #[serde(default = "default_reply")]
    pub reply: String,
    /// Minutes a link is good for (the sites' `auth.wechat.link_minutes`
    /// bounds what they take).
    #[serde(default = "default_link_minutes")]
    pub link_minutes: u64,
    /// The sites' portal, as a phone on their guest Wi-Fi opens it
    /// (`http://portal.example.com`: every site answers its own name).
    pub portal_url: String,
}

fn default_keyword() -> String {
    guestwifi_core::config::WeChatAuth::default().keyword
}
fn default_reply() -> String {
    guestwifi_core::config::WeChatAuth::default().reply
}
fn default_link_minutes() -> u64 {
    10
}

/// `[sms_budget]`: codes HQ sends in an hour, for the chain and for one site
/// (each site's own limits per phone and device stay the site's).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsBudget {
    /// For every site of a brand together.
    #[serde(default = "default_chain_sms")]
    pub chain_per_hour: i64,
    /// For one site.
    #[serde(default = "default_site_sms")]
    pub site_per_hour: i64,
}

impl Default for SmsBudget {
    fn default() -> Self {
        toml::from_str("").expect("sms budget defaults")
    }
}

fn default_chain_sms() -> i64 {
    5000
}
fn default_site_sms() -> i64 {
    200
}

/// `[server]`: the sites' HTTPS listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Where sites reach HQ (every replica the same).
    pub listen: SocketAddr,
    /// The names (and addresses) sites dial HQ by: its server certificate's.
    pub names: Vec<String>,
    /// OpenMetrics (`/metrics`) and `/health`, plain HTTP: keep it off the internet.
    #[serde(default = "default_metrics")]
    pub metrics_listen: SocketAddr,
    /// Connections held at once; more wait in the kernel's queue.
    #[serde(default = "default_connections")]
    pub max_connections: usize,
    /// Connections held at once from one address (many sites behind one NAT
    /// stay well under it).
    #[serde(default = "default_per_address")]
    pub max_connections_per_address: usize,
}

/// `[console]`: the HQ console, the chain's people's pages (HTTPS, its own
/// listener: no client certificate is asked for there).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// Where browsers reach it.
    pub listen: SocketAddr,
    /// A certificate for its public name (PEM chain) and its key (mode
    /// 0600); unset, one made from HQ's CA for `server.names` at start
    /// (browsers will not trust it: put the chain's HTTPS front before it).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// The certificate's key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The name authenticator apps show beside the account.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// A site whose last heartbeat is older than this is offline (an alert).
    #[serde(default = "default_offline")]
    pub offline_after_seconds: u64,
    /// A site whose oldest waiting fact is older than this lags (an alert).
    #[serde(default = "default_lag")]
    pub lag_alert_seconds: u64,
    /// The zone times are shown in (`Asia/Shanghai`, `UTC+8`).
    #[serde(default = "default_zone")]
    pub time_zone: String,
}

fn default_issuer() -> String {
    "Guest Wi-Fi HQ".into()
}
fn default_offline() -> u64 {
    600
}
fn default_lag() -> u64 {
    1800
}
fn default_zone() -> String {
    "Asia/Shanghai".into()
}

/// `[database]`: the chain's PostgreSQL.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `postgres://user@host:5432/db` (the password in `password_file`).
    pub url: String,
    /// The password, a file only its owner can read.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The CA of the server's certificate, when it is the chain's own.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Connections this replica keeps.
    #[serde(default = "default_pool")]
    pub max_connections: u32,
}

/// `[ca]`: HQ's own CA, which signs every site's certificate and each
/// replica's server certificate. Every replica reads the same two files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ca {
    /// The CA certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM), mode 0600.
    pub key: PathBuf,
    /// The ticket key (Ed25519, mode 0600) that signs what sites take
    /// offline (the WeChat login links); its public half rides in every
    /// bundle. Unset: `tickets.key` beside the CA's key.
    #[serde(default)]
    pub ticket_key: Option<PathBuf>,
}

impl Ca {
    /// Where the ticket key is.
    pub fn ticket_key_path(&self) -> PathBuf {
        self.ticket_key.clone().unwrap_or_else(|| self.key.with_file_name("tickets.key"))
    }
}

/// `[enrol]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrol {
    /// How long a claim code works, hours.
    #[serde(default = "default_code_hours")]
    pub code_hours: u64,
    /// Failed enrolments one address may make a minute (then 429).
    #[serde(default = "default_tries")]
    pub failures_per_minute: u32,
    /// Wrong card PINs HQ checks for one site in an hour (then 429): what a
    /// stolen appliance's certificate can try before it is revoked.
    #[serde(default = "default_pins")]
    pub wrong_pins_per_site_hour: u32,
    /// QQ and Weibo codes of one site that HQ failed to trade in an hour
    /// (then 429): each is a call to the provider with the chain's secret.
    #[serde(default = "default_pins")]
    pub failed_trades_per_site_hour: u32,
}

impl Default for Enrol {
    fn default() -> Self {
        toml::from_str("").expect("enrol defaults")
    }
}

fn default_metrics() -> SocketAddr {
    "127.0.0.1:9465".parse().expect("address")
}
fn default_connections() -> usize {
    8192
}
fn default_per_address() -> usize {
    512
}
fn default_pool() -> u32 {
    16
}
fn default_code_hours() -> u64 {
    72
}
fn default_tries() -> u32 {
    10
}
fn default_pins() -> u32 {
    60
}

/// Why the configuration is unusable (the controller's kinds: a file that
/// cannot be read, a key that does not check).
pub use guestwifi_core::config::ConfigError;

impl Config {
    /// Hours the chain's zone is ahead of UTC (`console.time_zone`; Asia/Shanghai
    /// without a console): the day statistics count in and pages show.
    pub fn zone(&self) -> i64 {
        guestwifi_core::kit::time::zone_offset(self.console.as_ref().map_or("Asia/Shanghai", |c| c.time_zone.as_str()))
    }

    /// Reads `path`, then `GUESTWIFI_HQ_*` from `env` over it, and checks it.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string(), env)
    }

    /// Parses `text` (from `origin`) with the environment over it.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |origin: &str, message: String| ConfigError::Invalid { origin: origin.into(), message };
        let mut root: toml::Table = toml::from_str(text).map_err(|e| invalid(origin, e.to_string()))?;
        guestwifi_core::kit::overrides::apply(&mut root, ENV_PREFIX, &[], env)
            .map_err(|(name, message)| invalid(&name, message))?;
        let config: Config =
            toml::Value::Table(root).try_into().map_err(|e: toml::de::Error| invalid(origin, e.to_string()))?;
        config.check().map_err(|m| invalid(origin, m))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.server.names.is_empty() {
            return Err("server.names: the names sites dial HQ by are needed".into());
        }
        let credentials =
            self.database.url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map(|(c, _)| c);
        if credentials.is_some_and(|c| c.contains(':')) {
            return Err("database.url: put the password in database.password_file, never in the URL".into());
        }
        if !(1..=24 * 30).contains(&self.enrol.code_hours) {
            return Err("enrol.code_hours: 1 to 720".into());
        }
        if let Some(sms) = &self.sms {
            if sms.gateway == "hq" {
                return Err("sms.gateway: HQ sends with a provider's gateway, not \"hq\"".into());
            }
        }
        if self.sms_budget.chain_per_hour < 1 || self.sms_budget.site_per_hour < 1 {
            return Err("sms_budget: at least 1".into());
        }
        if self.server.max_connections == 0 || self.server.max_connections_per_address == 0 {
            return Err("server.max_connections*: at least 1".into());
        }
        if let Some(console) = &self.console {
            if console.cert.is_some() != console.key.is_some() {
                return Err("console.cert and console.key: both or neither".into());
            }
            if console.offline_after_seconds < 1 || console.lag_alert_seconds < 1 {
                return Err("console.offline_after_seconds, console.lag_alert_seconds: at least 1".into());
            }
            if console.listen == self.server.listen {
                return Err("console.listen: another address than server.listen".into());
            }
        }
        for (brand, apps) in &self.oauth {
            for (name, app) in apps {
                if guestwifi_core::auth::oauth::Kind::from_name(name).is_none() {
                    return Err(format!("oauth.{brand}.{name}: qq or weibo"));
                }
                if app.client_id.is_empty() || !app.token_url.starts_with("http") || !app.portal_url.starts_with("http")
                {
                    return Err(format!("oauth.{brand}.{name}: client_id, token_url and portal_url are needed"));
                }
            }
        }
        for (brand, w) in &self.wechat {
            if w.keyword.trim().is_empty() || !w.reply.contains("{link}") || w.link_minutes == 0 {
                return Err(format!("wechat.{brand}: a keyword, a reply holding {{link}}, link_minutes of 1 or more"));
            }
            if !w.portal_url.starts_with("http://") && !w.portal_url.starts_with("https://") {
                return Err(format!("wechat.{brand}.portal_url: an http(s) URL"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_loads_and_the_environment_overrides_it() {
        let example = include_str!("../../image/hq.example.toml");
        let config = Config::parse(example, "example", Vec::new()).unwrap();
        assert_eq!(config.enrol.code_hours, 72);
        assert_eq!(config.console.as_ref().unwrap().offline_after_seconds, 600);
        let env = vec![("GUESTWIFI_HQ_ENROL__CODE_HOURS".to_string(), "4".to_string())];
        assert_eq!(Config::parse(example, "example", env).unwrap().enrol.code_hours, 4);
        let bad = example.replace("postgres://guestwifi_hq@", "postgres://guestwifi_hq:secret@");
        assert!(Config::parse(&bad, "x", Vec::new()).unwrap_err().to_string().contains("password_file"));
    }
}
