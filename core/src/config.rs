//! The appliance's one TOML file. Every key is documented in
//! `image/controller.example.toml`; any key can be overridden by an
//! environment variable `GUESTWIFI_<SECTION>__<KEY>` (e.g.
//! `GUESTWIFI_SESSION__LENGTH_SECONDS=3600`). An unknown or bad key stops the
//! start with a message naming it.

use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "GUESTWIFI_";
/// Variables with the prefix that are not config keys: a command's inputs
/// kept out of shell history (`ssids add` reads the passphrase from it).
pub const NOT_CONFIG: &[&str] = &["GUESTWIFI_SSID_KEY"];
/// The control socket's file name in the data dir (`data.control_socket` overrides it).
pub const CONTROL_SOCKET: &str = "control.sock";
/// The settings the console saves, in the data dir, read over the file.
pub const SETTINGS_FILE: &str = "settings.toml";
/// The 2.4 GHz channels a plan uses unless `ac.channels_2g` says otherwise: the three that do not overlap.
pub const CHANNELS_2G: &[u16] = &[1, 6, 11];
/// The 5 GHz channels a plan uses unless `ac.channels_5g` says otherwise: without DFS (radar
/// detection), as allowed in China and most places.
pub const CHANNELS_5G: &[u16] = &[36, 40, 44, 48, 149, 153, 157, 161, 165];

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key is unknown, misspelt or has the wrong type.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file or environment variable.
        origin: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The guest network.
    pub network: Network,
    /// The captive portal's listeners and limits.
    #[serde(default)]
    pub portal: Portal,
    /// Guest sessions.
    #[serde(default)]
    pub session: Session,
    /// The restaurant shown on the portal.
    #[serde(default)]
    pub venue: Venue,
    /// Names a guest may reach before logging in.
    #[serde(default)]
    pub walled_garden: WalledGarden,
    /// Where the appliance keeps its state.
    #[serde(default)]
    pub data: Data,
    /// The AC controller of the restaurant's APs.
    #[serde(default)]
    pub ac: AcSettings,
    /// The admin JSON API and metrics.
    #[serde(default)]
    pub admin: AdminSettings,
    /// The guests' resolver.
    #[serde(default)]
    pub dns: DnsSettings,
    /// The login methods.
    #[serde(default)]
    pub auth: AuthSettings,
    /// The shared member store and its feed.
    #[serde(default)]
    pub members: MembersSettings,
    /// The file it was read from (the console checks its settings over it).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[members]`: the shared member store this site feeds and reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersSettings {
    /// Empty: `members.db` (SQLite) in the data dir, one restaurant's own
    /// store. `postgres://user@host:5432/db`: a chain's shared store (the
    /// password goes in `password_file`, never in the URL).
    #[serde(default)]
    pub url: String,
    /// The PostgreSQL password, a file only its owner can read.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The brand (chain) this site belongs to: its members are shared by
    /// every site of the brand.
    #[serde(default = "default_brand")]
    pub brand: String,
    /// The brand's name as shown to staff.
    #[serde(default)]
    pub brand_name: String,
    /// This site's id within the brand (unique in the chain).
    #[serde(default = "default_site")]
    pub site: String,
    /// This site's name; default `venue.name`.
    #[serde(default)]
    pub site_name: String,
    /// The region the site belongs to (optional).
    #[serde(default)]
    pub region: String,
    /// Most outbox rows delivered in one store transaction.
    #[serde(default = "default_feed_batch")]
    pub batch: u32,
    /// The card cache used while the store is unreachable is refreshed this
    /// often, minutes.
    #[serde(default = "default_cache_refresh")]
    pub cache_refresh_minutes: u64,
    /// A cache older than this is not used: card logins are refused until
    /// the store answers again, hours.
    #[serde(default = "default_cache_age")]
    pub cache_max_age_hours: u64,
    /// The consent text's version the portal shows (recorded with a consent).
    #[serde(default = "default_consent_version")]
    pub consent_version: String,
    /// `[members.welcome_coupon]`
    #[serde(default)]
    pub welcome_coupon: WelcomeCoupon,
}

/// `[members.welcome_coupon]`: a coupon a new member gets at their first
/// Wi-Fi login (once a member, whatever site or method).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WelcomeCoupon {
    /// Issue it.
    #[serde(default)]
    pub enabled: bool,
    /// The rule's name: a member gets one coupon a rule, ever.
    #[serde(default = "default_coupon_rule")]
    pub rule: String,
    /// The coupon kind as the card system knows it (`cash`, `dish`...).
    #[serde(default = "default_coupon_kind")]
    pub kind: String,
    /// Its value, cents.
    #[serde(default)]
    pub value_cents: u64,
    /// Days it can be redeemed.
    #[serde(default = "default_coupon_days")]
    pub valid_days: u64,
    /// What the success page says, zh-CN (`{value}` becomes the yuan value).
    #[serde(default = "default_coupon_text_zh")]
    pub text_zh: String,
    /// What the success page says, English.
    #[serde(default = "default_coupon_text_en")]
    pub text_en: String,
}

/// `[auth]`: which login methods the portal offers, and what each grants.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Wrong codes or passwords one device may enter within
    /// `lockout_minutes` before it is locked out for the rest of them.
    #[serde(default = "default_wrong_tries")]
    pub wrong_tries: u32,
    /// The lock-out window, minutes.
    #[serde(default = "default_lockout_minutes")]
    pub lockout_minutes: u64,
    /// `[auth.countdown]`
    #[serde(default)]
    pub countdown: CountdownAuth,
    /// `[auth.voucher]`
    #[serde(default)]
    pub voucher: MethodAuth,
    /// `[auth.account]`
    #[serde(default)]
    pub account: MethodAuth,
    /// `[auth.counter_qr]`
    #[serde(default)]
    pub counter_qr: CounterQrAuth,
    /// `[auth.sms]`
    #[serde(default)]
    pub sms: SmsAuth,
    /// `[auth.wechat]`
    #[serde(default)]
    pub wechat: WeChatAuth,
    /// `[auth.qq]`
    #[serde(default = "default_qq")]
    pub qq: OAuthSettings,
    /// `[auth.weibo]`
    #[serde(default = "default_weibo")]
    pub weibo: OAuthSettings,
    /// `[auth.card]`
    #[serde(default)]
    pub card: CardAuth,
}

/// `[auth.card]`: membership card (会员卡) number and PIN, checked against
/// the member store; the member's tier sets length and bandwidth.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardAuth {
    /// Offered on the portal.
    #[serde(default)]
    pub enabled: bool,
    /// Wrong PINs one card may take within `lockout_minutes` (whatever the
    /// device) before it is locked.
    #[serde(default = "default_card_tries")]
    pub wrong_tries: u32,
    /// The card's lock-out window, minutes.
    #[serde(default = "default_lockout_minutes")]
    pub lockout_minutes: u64,
    /// Session length for a tier that sets none, minutes (0: the default).
    #[serde(default)]
    pub session_minutes: u64,
    /// Download limit for a tier that sets none, kbit/s (0: none).
    #[serde(default)]
    pub down_kbps: u32,
    /// Upload limit for a tier that sets none, kbit/s (0: none).
    #[serde(default)]
    pub up_kbps: u32,
}

/// `[auth.qq]`, `[auth.weibo]`: an OAuth 2.0 provider (authorization code).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// Offered on the portal.
    #[serde(default)]
    pub enabled: bool,
    /// The app's id (QQ appid, Weibo App Key).
    #[serde(default)]
    pub client_id: String,
    /// A file (mode 0600) holding the app's secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Where the guest's browser is sent.
    pub authorize_url: String,
    /// Where the appliance trades the code for a token.
    pub token_url: String,
    /// QQ's `me` endpoint (the openid); unused for Weibo.
    #[serde(default)]
    pub openid_url: String,
    /// The scope asked for.
    #[serde(default)]
    pub scope: String,
    /// The provider's hosts, walled garden while on (its login pages).
    pub garden: Vec<String>,
    /// Session length, minutes (0: `session.length_seconds`).
    #[serde(default)]
    pub session_minutes: u64,
    /// Download limit, kbit/s (0: none).
    #[serde(default)]
    pub down_kbps: u32,
    /// Upload limit, kbit/s (0: none).
    #[serde(default)]
    pub up_kbps: u32,
}

/// `[auth.wechat]`: the restaurant's WeChat official account (微信公众号).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatAuth {
    /// Offered on the portal (and the callback listens).
    #[serde(default)]
    pub enabled: bool,
    /// Where WeChat's servers call the account's 服务器地址 (URL): forward
    /// the public port to this from the restaurant's router.
    #[serde(default = "default_wechat_listen")]
    pub listen: std::net::SocketAddr,
    /// The account's AppID (checked in safe mode).
    #[serde(default)]
    pub appid: String,
    /// A file (mode 0600) holding the Token set in 服务器配置.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A file (mode 0600) holding the EncodingAESKey (safe mode, 安全模式);
    /// unset: plaintext mode.
    #[serde(default)]
    pub encoding_aes_key_file: Option<PathBuf>,
    /// What a diner sends to get a link.
    #[serde(default = "default_keyword")]
    pub keyword: String,
    /// The answer; `{link}` is the login link.
    #[serde(default = "default_wechat_reply")]
    pub reply: String,
    /// Minutes a link is good for.
    #[serde(default = "default_link_minutes")]
    pub link_minutes: u64,
    /// WeChat's hosts, added to the walled garden while this is on (so a
    /// diner can reach the account before logging in).
    #[serde(default = "default_wechat_garden")]
    pub garden: Vec<String>,
    /// Session length, minutes (0: `session.length_seconds`).
    #[serde(default)]
    pub session_minutes: u64,
    /// Download limit, kbit/s (0: none).
    #[serde(default)]
    pub down_kbps: u32,
    /// Upload limit, kbit/s (0: none).
    #[serde(default)]
    pub up_kbps: u32,
}

/// `[auth.sms]`: SMS code login and its anti-pumping limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsAuth {
    /// Offered on the portal.
    #[serde(default)]
    pub enabled: bool,
    /// Calling codes we send to ("86" mainland China, "852" Hong Kong, ...).
    #[serde(default = "default_countries")]
    pub countries: Vec<String>,
    /// Minutes a code is good for.
    #[serde(default = "default_code_minutes")]
    pub code_minutes: u64,
    /// Least seconds between two codes to one phone.
    #[serde(default = "default_resend")]
    pub resend_seconds: u64,
    /// Wrong tries that burn a code.
    #[serde(default = "default_wrong_tries")]
    pub wrong_tries: u32,
    /// Codes one phone may get in 10 minutes.
    #[serde(default = "default_per_phone_10min")]
    pub per_phone_10min: usize,
    /// Codes one phone may get in a day.
    #[serde(default = "default_per_phone_day")]
    pub per_phone_day: usize,
    /// Codes one device may ask for in an hour.
    #[serde(default = "default_per_device_hour")]
    pub per_device_hour: usize,
    /// Codes the site sends in an hour at most (what a bill can grow by).
    #[serde(default = "default_site_per_hour")]
    pub site_per_hour: usize,
    /// Codes to one number block (7 digits after the country code) in an hour.
    #[serde(default = "default_per_block_hour")]
    pub per_block_hour: usize,
    /// Number ranges never sent to, as E.164 digits ("86170" = +86 170…).
    #[serde(default = "default_blocked_prefixes")]
    pub blocked_prefixes: Vec<String>,
    /// Days a returning browser logs in with one tap (0: off).
    #[serde(default = "default_returning_days")]
    pub returning_days: u64,
    /// The message for gateways that take text; `{code}` is the code.
    #[serde(default = "default_sms_text")]
    pub text: String,
    /// Session length, minutes (0: `session.length_seconds`).
    #[serde(default)]
    pub session_minutes: u64,
    /// Download limit, kbit/s (0: none).
    #[serde(default)]
    pub down_kbps: u32,
    /// Upload limit, kbit/s (0: none).
    #[serde(default)]
    pub up_kbps: u32,
    /// `log` (the lab), `webhook`, `aliyun` or `tencent`.
    #[serde(default = "default_gateway")]
    pub gateway: String,
    /// `[auth.sms.webhook]`
    #[serde(default)]
    pub webhook: WebhookSettings,
    /// `[auth.sms.aliyun]`
    #[serde(default)]
    pub aliyun: AliyunSettings,
    /// `[auth.sms.tencent]`
    #[serde(default)]
    pub tencent: TencentSettings,
}

/// `[auth.sms.webhook]`: any provider with an HTTP API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where (`{phone}`, `{code}`, `{text}` are filled in, URL-encoded).
    #[serde(default)]
    pub url: String,
    /// `POST`, `PUT` or `GET`.
    #[serde(default = "default_post")]
    pub method: String,
    /// Headers sent as they are (nothing secret: see `authorization_file`).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// A file (mode 0600) whose content is sent as the Authorization header.
    #[serde(default)]
    pub authorization_file: Option<PathBuf>,
    /// The body template (JSON templates get their values JSON-escaped).
    #[serde(default = "default_webhook_body")]
    pub body: String,
}

/// `[auth.sms.aliyun]`: Aliyun SMS (dysmsapi).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliyunSettings {
    /// The API endpoint.
    #[serde(default = "default_aliyun_endpoint")]
    pub endpoint: String,
    /// The AccessKey id.
    #[serde(default)]
    pub access_key_id: String,
    /// A file (mode 0600) holding the AccessKey secret.
    #[serde(default)]
    pub access_key_secret_file: Option<PathBuf>,
    /// The approved signature (签名).
    #[serde(default)]
    pub sign_name: String,
    /// The approved template; its parameter is `code`.
    #[serde(default)]
    pub template_code: String,
}

/// `[auth.sms.tencent]`: Tencent Cloud SMS.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentSettings {
    /// The API endpoint.
    #[serde(default = "default_tencent_endpoint")]
    pub endpoint: String,
    /// The region.
    #[serde(default = "default_tencent_region")]
    pub region: String,
    /// The SecretId.
    #[serde(default)]
    pub secret_id: String,
    /// A file (mode 0600) holding the SecretKey.
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// The SMS application's SdkAppId.
    #[serde(default)]
    pub sdk_app_id: String,
    /// The approved signature.
    #[serde(default)]
    pub sign_name: String,
    /// The approved template's id; its one parameter is the code.
    #[serde(default)]
    pub template_id: String,
}

/// `[auth.countdown]`: the brand page, its ad and its countdown.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountdownAuth {
    /// Offered on the portal.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds the page counts down before Connect works.
    #[serde(default = "default_countdown")]
    pub seconds: u64,
    /// Log in by itself when the countdown ends.
    #[serde(default)]
    pub auto_login: bool,
    /// The ad: where tapping it goes once the guest is online (empty: no ad).
    #[serde(default)]
    pub ad_url: String,
    /// The ad's picture (a URL the guest can load before login: the portal or
    /// the walled garden); empty: text only.
    #[serde(default)]
    pub ad_image: String,
    /// The ad's words, zh-CN.
    #[serde(default)]
    pub ad_text_zh: String,
    /// The ad's words, English.
    #[serde(default)]
    pub ad_text_en: String,
    /// Session length, minutes (0: `session.length_seconds`).
    #[serde(default)]
    pub session_minutes: u64,
    /// Download limit, kbit/s (0: none).
    #[serde(default)]
    pub down_kbps: u32,
    /// Upload limit, kbit/s (0: none).
    #[serde(default)]
    pub up_kbps: u32,
}

/// `[auth.voucher]`, `[auth.account]`: on or off, and default limits (a
/// card or account's own time always wins).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodAuth {
    /// Offered on the portal.
    #[serde(default)]
    pub enabled: bool,
    /// Download limit, kbit/s (0: none).
    #[serde(default)]
    pub down_kbps: u32,
    /// Upload limit, kbit/s (0: none).
    #[serde(default)]
    pub up_kbps: u32,
}

/// `[auth.counter_qr]`: the rotating QR code on the counter's tablet.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterQrAuth {
    /// Offered (the tablet page works).
    #[serde(default)]
    pub enabled: bool,
    /// Seconds between codes; a code is good for two periods.
    #[serde(default = "default_counter_period")]
    pub period_seconds: u64,
    /// Session length, minutes (0: `session.length_seconds`).
    #[serde(default)]
    pub session_minutes: u64,
    /// Download limit, kbit/s (0: none).
    #[serde(default)]
    pub down_kbps: u32,
    /// Upload limit, kbit/s (0: none).
    #[serde(default)]
    pub up_kbps: u32,
}

/// `[dns]`: the guests' resolver (the controller's own; dnsmasq does DHCP).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSettings {
    /// Distinct names a device may look up in a minute before login.
    #[serde(default = "default_dns_names")]
    pub names_per_minute_before_login: u32,
    /// Queries a second a device may make before login, sustained.
    #[serde(default = "default_dns_rate")]
    pub queries_per_second_before_login: u32,
    /// ... and in a burst.
    #[serde(default = "default_dns_burst")]
    pub burst_before_login: u32,
    /// More names always answered before login (besides the portal, the
    /// walled garden and the OS captive probes).
    #[serde(default)]
    pub always_answer: Vec<String>,
}

/// An address with its network's prefix length, as in "192.0.2.1/24":
/// parsed once, when the config is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Ipv4Net {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length, 8 to 30.
    pub prefix: u8,
}

impl Ipv4Net {
    /// The network's mask.
    pub fn mask(self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0)
    }

    /// The network's own address (the host part zero).
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `ip` is on this network.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("{text:?} is not like 192.0.2.1/24 (prefix 8 to 30)");
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        Ok(Ipv4Net { addr, prefix })
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A listener that can be turned off: `""` is off, else `address:port`.
fn optional_listener<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an address:port (or \"\" for off)")))
}

/// `[admin]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Where the admin JSON API and `/metrics` listen; None (`""`) turns them off.
    #[serde(default = "default_admin_listen", deserialize_with = "optional_listener")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve the console and the API over HTTPS (console cookies are then
    /// `Secure`): with `tls_cert`/`tls_key`, or a self-signed certificate
    /// made in the data dir.
    #[serde(default)]
    pub https: bool,
    /// PEM certificate chain for HTTPS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (keep it mode 0600).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

/// `[ac]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcSettings {
    /// Where AP agents connect (TLS 1.3); None (`""`) turns the AC off.
    #[serde(default = "default_ac_listen", deserialize_with = "optional_listener")]
    pub listen: Option<std::net::SocketAddr>,
    /// Seconds between echoes; an AP is offline after three missed.
    #[serde(default = "default_echo")]
    pub echo_seconds: u64,
    /// ed25519 public key (hex) firmware images must be signed with.
    #[serde(default)]
    pub firmware_public_key: String,
    /// Minutes an AP has to come back with new firmware before a rollout halts.
    #[serde(default = "default_rejoin")]
    pub firmware_rejoin_minutes: u64,
    /// APs upgraded at once after the canary.
    #[serde(default = "default_batch")]
    pub firmware_batch: usize,
    /// Connections one address may hold to the AP port.
    #[serde(default = "default_ap_conns")]
    pub max_connections_per_address: usize,
    /// Channels the planner may give 2.4 GHz radios.
    #[serde(default = "default_channels_2g")]
    pub channels_2g: Vec<u16>,
    /// Channels the planner may give 5 GHz radios (non-DFS by default).
    #[serde(default = "default_channels_5g")]
    pub channels_5g: Vec<u16>,
}

/// `[network]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Interface guests arrive on (bridge or VLAN interface).
    pub guest_interface: String,
    /// The appliance's address on the guest network with the prefix length,
    /// e.g. "192.0.2.1/24".
    pub guest_address: Ipv4Net,
    /// First and last address handed out by DHCP.
    pub dhcp_range: (Ipv4Addr, Ipv4Addr),
    /// DHCP lease time in minutes.
    #[serde(default = "default_lease_minutes")]
    pub dhcp_lease_minutes: u32,
    /// Upstream DNS servers the appliance's resolver forwards to.
    #[serde(default)]
    pub upstream_dns: Vec<IpAddr>,
    /// The one interface guests' traffic may leave by; empty: any but the
    /// guest interface.
    #[serde(default)]
    pub uplink_interface: String,
    /// Private destinations logged-in guests may reach ("192.168.1.50",
    /// "10.20.0.0/24").
    #[serde(default)]
    pub guest_allowed_destinations: Vec<String>,
    /// Source-NAT guest traffic leaving by the uplink.
    #[serde(default = "yes")]
    pub masquerade: bool,
    /// Run dnsmasq for guest DHCP and DNS (turn off only when another server does).
    #[serde(default = "yes")]
    pub run_dnsmasq: bool,
}

/// `[portal]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// Name guests' browsers use for the portal (answered by our DNS);
    /// empty means the guest address itself.
    #[serde(default)]
    pub hostname: String,
    /// Plain-HTTP port; guests' port-80 traffic is redirected here.
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    /// HTTPS port of the RFC 8908 captive-portal API.
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// PEM certificate chain and key for HTTPS; when both are empty a
    /// self-signed certificate is generated into the data dir (lab use).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (mode 0600).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Most connections served at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections one guest device may hold open to the portal.
    #[serde(default = "default_per_device")]
    pub max_connections_per_device: usize,
    /// Requests per second one guest may make, sustained.
    #[serde(default = "default_rate")]
    pub requests_per_second: u32,
    /// Requests one guest may make in a burst.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Seconds a client has to send its request headers.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
}

/// `[session]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// How long a login lasts.
    #[serde(default = "default_session_seconds")]
    pub length_seconds: u64,
    /// A session with no traffic for this long ends (0: never).
    #[serde(default = "default_idle_seconds")]
    pub idle_timeout_seconds: u64,
    /// Days an ended session is kept (for statistics); 0 keeps them for ever.
    #[serde(default = "default_keep_days")]
    pub keep_ended_days: u64,
}

/// `[venue]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Venue {
    /// The restaurant's name, shown on every page.
    #[serde(default = "default_venue_name")]
    pub name: String,
    /// A line under the name (zh-CN).
    #[serde(default)]
    pub tagline_zh: String,
    /// A line under the name (English).
    #[serde(default)]
    pub tagline_en: String,
    /// The restaurant's page (menu, hours); RFC 8908 `venue-info-url`.
    #[serde(default)]
    pub info_url: String,
    /// The site's time zone, for times shown to people.
    #[serde(default = "default_zone")]
    pub time_zone: String,
}

/// `[walled_garden]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalledGarden {
    /// Domain names reachable before login (resolved, refreshed on TTL).
    #[serde(default)]
    pub names: Vec<String>,
}

/// `[data]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Directory for the database, generated keys and dnsmasq files.
    #[serde(default = "default_data_dir")]
    pub dir: PathBuf,
    /// The control socket the CLI talks to (root only); default:
    /// `control.sock` in the data dir. The packaged unit keeps it under /run.
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
}

impl Data {
    /// Where the control socket is.
    pub fn control_socket(&self) -> PathBuf {
        self.control_socket.clone().unwrap_or_else(|| self.dir.join(CONTROL_SOCKET))
    }
}

impl Config {
    /// Reads `path`, then the settings the console saved in the data dir
    /// (`settings.toml`, over the file), applies `GUESTWIFI_*` overrides
    /// from `env` (over both), checks it.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let env: Vec<(String, String)> = env.into_iter().collect();
        let origin = path.display().to_string();
        let first = Self::parse(&text, &origin, env.clone())?;
        let overlay = first.data.dir.join(SETTINGS_FILE);
        let mut config = match std::fs::read_to_string(&overlay) {
            Ok(settings) => Self::parse_layers(&text, &origin, Some((&settings, &overlay.display().to_string())), env)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => first,
            Err(source) => return Err(ConfigError::Read { path: overlay, source }),
        };
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::parse_layers(text, origin, None, env)
    }

    /// Parses TOML text, then `settings` (TOML text and its origin) over
    /// it, then the environment's overrides.
    pub fn parse_layers(
        text: &str,
        origin: &str,
        settings: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let invalid = |origin: &str, message: String| ConfigError::Invalid { origin: origin.to_string(), message };
        let mut root: toml::Table = toml::from_str(text).map_err(|e| invalid(origin, e.to_string()))?;
        if let Some((settings, settings_origin)) = settings {
            let over: toml::Table = toml::from_str(settings).map_err(|e| invalid(settings_origin, e.to_string()))?;
            merge(&mut root, over);
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NOT_CONFIG.contains(&name.as_str()) {
                continue;
            }
            // GUESTWIFI_SECTION__KEY, or deeper: GUESTWIFI_AUTH__VOUCHER__ENABLED.
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let [sections @ .., key] = path.as_slice() else { unreachable!("split yields one part at least") };
            if sections.is_empty() || path.iter().any(String::is_empty) {
                return Err(invalid(&name, "expected GUESTWIFI_<SECTION>__<KEY>".into()));
            }
            // A value is TOML if it parses as TOML, else a plain string.
            let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value));
            let mut table = &mut root;
            for section in sections {
                table = table
                    .entry(section.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| invalid(&name, format!("`{section}` is not a section")))?;
            }
            table.insert(key.clone(), parsed);
        }
        let config: Config =
            toml::Value::Table(root).try_into().map_err(|e: toml::de::Error| invalid(origin, e.to_string()))?;
        config.check().map_err(|m| invalid(origin, m))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let net = self.network.guest_address;
        let (first, last) = self.network.dhcp_range;
        for addr in [first, last] {
            if !net.contains(addr) {
                return Err(format!("network.dhcp_range: {addr} is outside {net}"));
            }
        }
        if u32::from(first) > u32::from(last) {
            return Err("network.dhcp_range: first address is after the last".into());
        }
        if self.session.length_seconds == 0 {
            return Err("session.length_seconds must be at least 1".into());
        }
        if self.portal.max_connections_per_device == 0 {
            return Err("portal.max_connections_per_device must be at least 1".into());
        }
        if self.portal.requests_per_second == 0 || self.portal.burst == 0 {
            return Err("portal.requests_per_second and portal.burst must be at least 1".into());
        }
        if self.admin.tls_cert.is_some() != self.admin.tls_key.is_some() {
            return Err("admin.tls_cert and admin.tls_key go together".into());
        }
        if self.admin.tls_cert.is_some() && !self.admin.https {
            return Err("admin.tls_cert is set but admin.https is off".into());
        }
        if self.portal.tls_cert.is_some() != self.portal.tls_key.is_some() {
            return Err("portal.tls_cert and portal.tls_key go together".into());
        }
        if self.ac.channels_2g.is_empty() || self.ac.channels_2g.iter().any(|c| !(1..=14).contains(c)) {
            return Err("ac.channels_2g: give 2.4 GHz channels 1 to 14".into());
        }
        if self.ac.channels_5g.is_empty() || self.ac.channels_5g.iter().any(|c| !(32..=177).contains(c)) {
            return Err("ac.channels_5g: give 5 GHz channels 32 to 177".into());
        }
        self.network.allowed_destinations()?;
        if self.network.uplink_interface == self.network.guest_interface {
            return Err("network.uplink_interface must not be the guest interface".into());
        }
        if self.dns.names_per_minute_before_login == 0
            || self.dns.queries_per_second_before_login == 0
            || self.dns.burst_before_login == 0
        {
            return Err("dns: the before-login limits must be at least 1".into());
        }
        if let Some(bad) = self.dns.always_answer.iter().find(|n| !valid_hostname(n)) {
            return Err(format!("dns.always_answer: {bad:?} is not a host name"));
        }
        if self.auth.wrong_tries == 0 || self.auth.lockout_minutes == 0 {
            return Err("auth.wrong_tries and auth.lockout_minutes must be at least 1".into());
        }
        if !(5..=600).contains(&self.auth.counter_qr.period_seconds) {
            return Err("auth.counter_qr.period_seconds must be 5 to 600".into());
        }
        let ad = &self.auth.countdown.ad_url;
        if !ad.is_empty()
            && !matches!(url::Url::parse(ad).map(|u| u.scheme().to_string()).as_deref(), Ok("http" | "https"))
        {
            return Err(format!("auth.countdown.ad_url: {ad:?} is not an http(s) URL"));
        }
        let sms = &self.auth.sms;
        if sms.enabled {
            if !matches!(sms.gateway.as_str(), "log" | "webhook" | "aliyun" | "tencent") {
                return Err(format!("auth.sms.gateway: {:?} is not log, webhook, aliyun or tencent", sms.gateway));
            }
            if sms.countries.is_empty()
                || sms.countries.iter().any(|c| c.is_empty() || c.len() > 3 || !c.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err("auth.sms.countries: give calling codes like \"86\"".into());
            }
            if sms.code_minutes == 0
                || sms.wrong_tries == 0
                || sms.per_phone_10min == 0
                || sms.per_phone_day == 0
                || sms.per_device_hour == 0
                || sms.site_per_hour == 0
                || sms.per_block_hour == 0
            {
                return Err("auth.sms: code_minutes, wrong_tries and every limit must be at least 1".into());
            }
            if sms.gateway == "webhook" && url::Url::parse(&sms.webhook.url.replace(['{', '}'], "")).is_err() {
                return Err(format!("auth.sms.webhook.url: {:?} is not a URL", sms.webhook.url));
            }
            if !matches!(sms.webhook.method.as_str(), "POST" | "PUT" | "GET") {
                return Err("auth.sms.webhook.method: POST, PUT or GET".into());
            }
            if !sms.text.contains("{code}") {
                return Err("auth.sms.text must hold {code}".into());
            }
        }
        let wechat = &self.auth.wechat;
        if wechat.enabled {
            if wechat.token_file.is_none() {
                return Err("auth.wechat.token_file: the account's Token is needed".into());
            }
            if wechat.keyword.trim().is_empty() || !wechat.reply.contains("{link}") {
                return Err("auth.wechat: keyword must not be empty and reply must hold {link}".into());
            }
            if let Some(bad) = wechat.garden.iter().find(|n| !valid_hostname(n)) {
                return Err(format!("auth.wechat.garden: {bad:?} is not a host name"));
            }
            if wechat.link_minutes == 0 {
                return Err("auth.wechat.link_minutes must be at least 1".into());
            }
        }
        for (name, p) in [("qq", &self.auth.qq), ("weibo", &self.auth.weibo)] {
            if !p.enabled {
                continue;
            }
            if p.client_id.is_empty() || p.client_secret_file.is_none() {
                return Err(format!("auth.{name}: client_id and client_secret_file are needed"));
            }
            for (key, value) in [("authorize_url", &p.authorize_url), ("token_url", &p.token_url)] {
                if !matches!(url::Url::parse(value).map(|u| u.scheme().to_string()).as_deref(), Ok("http" | "https")) {
                    return Err(format!("auth.{name}.{key}: {value:?} is not an http(s) URL"));
                }
            }
            if name == "qq" && url::Url::parse(&p.openid_url).is_err() {
                return Err(format!("auth.qq.openid_url: {:?} is not a URL", p.openid_url));
            }
            if let Some(bad) = p.garden.iter().find(|n| !valid_hostname(n)) {
                return Err(format!("auth.{name}.garden: {bad:?} is not a host name"));
            }
        }
        if !self.auth.countdown.enabled
            && !self.auth.qq.enabled
            && !self.auth.weibo.enabled
            && !self.auth.wechat.enabled
            && !self.auth.sms.enabled
            && !self.auth.voucher.enabled
            && !self.auth.account.enabled
            && !self.auth.counter_qr.enabled
            && !self.auth.card.enabled
        {
            return Err("auth: every login method is off; guests could never get online".into());
        }
        let m = &self.members;
        if !m.url.is_empty() && !m.url.starts_with("postgres://") && !m.url.starts_with("postgresql://") {
            return Err("members.url: empty (SQLite in the data dir) or postgres://user@host/db".into());
        }
        if url::Url::parse(&m.url).is_ok_and(|u| u.password().is_some()) {
            return Err("members.url: put the password in members.password_file, not in the URL".into());
        }
        for (key, id) in [("brand", &m.brand), ("site", &m.site)] {
            if id.is_empty()
                || id.len() > 64
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!("members.{key}: 1 to 64 letters, digits, - or _"));
            }
        }
        if m.batch == 0 || m.cache_refresh_minutes == 0 || m.cache_max_age_hours == 0 {
            return Err("members: batch, cache_refresh_minutes and cache_max_age_hours must be at least 1".into());
        }
        let w = &m.welcome_coupon;
        if w.enabled && (w.rule.is_empty() || w.kind.is_empty() || w.valid_days == 0) {
            return Err("members.welcome_coupon: rule, kind and valid_days are needed".into());
        }
        if self.auth.card.wrong_tries == 0 || self.auth.card.lockout_minutes == 0 {
            return Err("auth.card.wrong_tries and auth.card.lockout_minutes must be at least 1".into());
        }
        if self.ac.echo_seconds == 0 {
            return Err("ac.echo_seconds must be at least 1".into());
        }
        if !self.portal.hostname.is_empty() && !valid_hostname(&self.portal.hostname) {
            return Err(format!("portal.hostname: {:?} is not a host name", self.portal.hostname));
        }
        Ok(())
    }

    /// Every name guests reach before login: the walled garden, plus the
    /// hosts of the login methods that need theirs (WeChat).
    pub fn garden_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.walled_garden.names.iter().map(|n| n.trim_end_matches('.').to_ascii_lowercase()).collect();
        let mut extra: Vec<&String> = Vec::new();
        if self.auth.wechat.enabled {
            extra.extend(&self.auth.wechat.garden);
        }
        for provider in [&self.auth.qq, &self.auth.weibo].into_iter().filter(|p| p.enabled) {
            extra.extend(&provider.garden);
        }
        names.extend(extra.into_iter().map(|n| n.trim_end_matches('.').to_ascii_lowercase()));
        names.sort();
        names.dedup();
        names
    }

    /// The host name guests' browsers use for the portal.
    pub fn portal_host(&self) -> String {
        if self.portal.hostname.is_empty() {
            self.network.guest_address.addr.to_string()
        } else {
            self.portal.hostname.clone()
        }
    }

    /// Base URL of the portal's plain-HTTP pages.
    pub fn portal_url(&self) -> String {
        match self.portal.http_port {
            80 => format!("http://{}", self.portal_host()),
            port => format!("http://{}:{port}", self.portal_host()),
        }
    }

    /// URL of the RFC 8908 API (DHCP option 114).
    pub fn captive_api_url(&self) -> String {
        match self.portal.https_port {
            443 => format!("https://{}/api/captive", self.portal_host()),
            port => format!("https://{}:{port}/api/captive", self.portal_host()),
        }
    }

    /// The firewall policy for this config.
    pub fn policy(&self) -> firewall::Policy {
        let net = self.network.guest_address;
        firewall::Policy {
            guest_interface: self.network.guest_interface.clone(),
            guest_subnet: (net.network(), net.prefix),
            portal_ip: net.addr,
            portal_http_port: self.portal.http_port,
            portal_https_port: self.portal.https_port,
            masquerade: self.network.masquerade,
            uplink_interface: Some(self.network.uplink_interface.clone()).filter(|u| !u.is_empty()),
            allowed_destinations: self.network.allowed_destinations().expect("checked at load"),
        }
    }
}

impl Config {
    /// Where the guests' resolver forwards: `network.upstream_dns`, else the
    /// appliance's own resolvers (`/etc/resolv.conf`).
    pub fn upstream_resolvers(&self) -> Vec<std::net::SocketAddr> {
        let servers: Vec<IpAddr> = if self.network.upstream_dns.is_empty() {
            std::fs::read_to_string("/etc/resolv.conf")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver")?.trim().parse().ok())
                .collect()
        } else {
            self.network.upstream_dns.clone()
        };
        servers.into_iter().map(|ip| std::net::SocketAddr::new(ip, 53)).collect()
    }
}

impl Network {
    /// `guest_allowed_destinations` parsed: (address, prefix length).
    pub fn allowed_destinations(&self) -> Result<Vec<(IpAddr, u8)>, String> {
        self.guest_allowed_destinations
            .iter()
            .map(|entry| {
                let bad = || format!("network.guest_allowed_destinations: {entry:?} is not an address or prefix");
                let (addr, len) = entry.split_once('/').unwrap_or((entry, ""));
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let len = if len.is_empty() { max } else { len.parse::<u8>().map_err(|_| bad())? };
                if len > max {
                    return Err(bad());
                }
                Ok((addr, len))
            })
            .collect()
    }
}

impl Session {
    /// Session length.
    pub fn length(&self) -> Duration {
        Duration::from_secs(self.length_seconds)
    }

    /// A method's session length: its own minutes, else the default.
    pub fn length_or(&self, minutes: u64) -> Duration {
        if minutes > 0 {
            Duration::from_secs(minutes * 60)
        } else {
            self.length()
        }
    }
}

/// Puts `over`'s keys into `base`, table into table.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A host name as DNS takes it.
pub(crate) fn valid_hostname(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
        })
}

impl Default for Portal {
    fn default() -> Self {
        toml::from_str("").expect("portal defaults")
    }
}
impl Default for Session {
    fn default() -> Self {
        toml::from_str("").expect("session defaults")
    }
}
impl Default for Venue {
    fn default() -> Self {
        toml::from_str("").expect("venue defaults")
    }
}
impl Default for AdminSettings {
    fn default() -> Self {
        toml::from_str("").expect("admin defaults")
    }
}
impl Default for AcSettings {
    fn default() -> Self {
        toml::from_str("").expect("ac defaults")
    }
}
impl Default for AuthSettings {
    fn default() -> Self {
        toml::from_str("").expect("auth defaults")
    }
}
impl Default for CountdownAuth {
    fn default() -> Self {
        toml::from_str("").expect("countdown defaults")
    }
}
impl Default for CounterQrAuth {
    fn default() -> Self {
        toml::from_str("").expect("counter QR defaults")
    }
}
impl Default for WeChatAuth {
    fn default() -> Self {
        toml::from_str("").expect("wechat defaults")
    }
}
impl Default for MembersSettings {
    fn default() -> Self {
        toml::from_str("").expect("members defaults")
    }
}
impl Default for WelcomeCoupon {
    fn default() -> Self {
        toml::from_str("").expect("welcome coupon defaults")
    }
}
impl Default for CardAuth {
    fn default() -> Self {
        toml::from_str("").expect("card defaults")
    }
}
impl Default for SmsAuth {
    fn default() -> Self {
        toml::from_str("").expect("sms defaults")
    }
}
impl Default for WebhookSettings {
    fn default() -> Self {
        toml::from_str("").expect("webhook defaults")
    }
}
impl Default for AliyunSettings {
    fn default() -> Self {
        toml::from_str("").expect("aliyun defaults")
    }
}
impl Default for TencentSettings {
    fn default() -> Self {
        toml::from_str("").expect("tencent defaults")
    }
}
impl Default for DnsSettings {
    fn default() -> Self {
        toml::from_str("").expect("dns defaults")
    }
}
impl Default for Data {
    fn default() -> Self {
        toml::from_str("").expect("data defaults")
    }
}

fn yes() -> bool {
    true
}
fn default_lease_minutes() -> u32 {
    720
}
fn default_http_port() -> u16 {
    80
}
fn default_https_port() -> u16 {
    443
}
fn default_max_connections() -> usize {
    1024
}
fn default_wrong_tries() -> u32 {
    5
}
fn default_lockout_minutes() -> u64 {
    10
}
fn default_qq() -> OAuthSettings {
    toml::from_str(
        r#"
        authorize_url = "https://graph.qq.com/oauth2.0/authorize"
        token_url = "https://graph.qq.com/oauth2.0/token"
        openid_url = "https://graph.qq.com/oauth2.0/me"
        scope = "get_user_info"
        garden = ["graph.qq.com", "ui.ptlogin2.qq.com", "xui.ptlogin2.qq.com", "ssl.ptlogin2.qq.com", "imgcache.qq.com", "qzonestyle.gtimg.cn"]
        "#,
    )
    .expect("qq defaults")
}
fn default_weibo() -> OAuthSettings {
    toml::from_str(
        r#"
        authorize_url = "https://api.weibo.com/oauth2/authorize"
        token_url = "https://api.weibo.com/oauth2/access_token"
        scope = ""
        garden = ["api.weibo.com", "passport.weibo.com", "login.sina.com.cn", "img.t.sinajs.cn", "h5.sinaimg.cn"]
        "#,
    )
    .expect("weibo defaults")
}
fn default_wechat_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([0, 0, 0, 0], 8081))
}
fn default_keyword() -> String {
    "我要上网".into()
}
fn default_wechat_reply() -> String {
    "欢迎光临！点击连接免费 Wi-Fi（10 分钟内有效）：{link}".into()
}
fn default_link_minutes() -> u64 {
    10
}
fn default_wechat_garden() -> Vec<String> {
    ["weixin.qq.com", "wx.qq.com", "servicewechat.com", "qpic.cn", "qlogo.cn", "wechat.com"]
        .iter()
        .map(|h| h.to_string())
        .collect()
}
fn default_countries() -> Vec<String> {
    vec!["86".into()]
}
fn default_code_minutes() -> u64 {
    5
}
fn default_resend() -> u64 {
    60
}
fn default_per_phone_10min() -> usize {
    3
}
fn default_per_phone_day() -> usize {
    10
}
fn default_per_device_hour() -> usize {
    5
}
fn default_site_per_hour() -> usize {
    200
}
fn default_per_block_hour() -> usize {
    20
}
fn default_blocked_prefixes() -> Vec<String> {
    // Mainland virtual-operator (虚拟运营商) and IoT ranges: where pumping
    // rings and throw-away numbers live; diners rarely have them.
    ["86162", "86165", "86167", "86170", "86171"].iter().map(|p| p.to_string()).collect()
}
fn default_returning_days() -> u64 {
    30
}
fn default_sms_text() -> String {
    "您的上网验证码是 {code}，5 分钟内有效。".into()
}
fn default_gateway() -> String {
    "log".into()
}
fn default_post() -> String {
    "POST".into()
}
fn default_webhook_body() -> String {
    r#"{"phone":"{phone}","text":"{text}"}"#.into()
}
fn default_aliyun_endpoint() -> String {
    "https://dysmsapi.aliyuncs.com/".into()
}
fn default_tencent_endpoint() -> String {
    "https://sms.tencentcloudapi.com/".into()
}
fn default_tencent_region() -> String {
    "ap-guangzhou".into()
}
fn default_counter_period() -> u64 {
    30
}
fn default_dns_names() -> u32 {
    40
}
fn default_dns_rate() -> u32 {
    10
}
fn default_dns_burst() -> u32 {
    40
}
fn default_per_device() -> usize {
    32
}
fn default_rate() -> u32 {
    20
}
fn default_burst() -> u32 {
    60
}
fn default_header_timeout() -> u64 {
    10
}
fn default_session_seconds() -> u64 {
    2 * 3600
}
fn default_idle_seconds() -> u64 {
    15 * 60
}
fn default_brand() -> String {
    "default".into()
}
fn default_site() -> String {
    "site-1".into()
}
fn default_feed_batch() -> u32 {
    500
}
fn default_cache_refresh() -> u64 {
    10
}
fn default_cache_age() -> u64 {
    24
}
fn default_consent_version() -> String {
    "v1".into()
}
fn default_coupon_rule() -> String {
    "welcome".into()
}
fn default_coupon_kind() -> String {
    "cash".into()
}
fn default_coupon_days() -> u64 {
    30
}
fn default_coupon_text_zh() -> String {
    "欢迎新会员！已送您一张 {value} 元优惠券，结账时出示手机号即可使用。".into()
}
fn default_coupon_text_en() -> String {
    "Welcome, new member! A {value} yuan coupon is yours: give your phone number when you pay.".into()
}
fn default_card_tries() -> u32 {
    5
}
fn default_keep_days() -> u64 {
    90
}
fn default_countdown() -> u64 {
    6
}
fn default_venue_name() -> String {
    "欢迎光临".into()
}
fn default_zone() -> String {
    "Asia/Shanghai".into()
}
fn default_admin_listen() -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))
}
fn default_ac_listen() -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::from(([0, 0, 0, 0], 7443)))
}
fn default_echo() -> u64 {
    10
}
fn default_ap_conns() -> usize {
    4
}
fn default_rejoin() -> u64 {
    10
}
fn default_batch() -> usize {
    10
}
fn default_channels_2g() -> Vec<u16> {
    CHANNELS_2G.to_vec()
}
fn default_channels_5g() -> Vec<u16> {
    CHANNELS_5G.to_vec()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/guestwifi")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../image/controller.example.toml");

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn example_file_loads_with_every_key() {
        let config = Config::parse(EXAMPLE, "example", no_env()).unwrap();
        assert_eq!(config.auth.countdown.seconds, 6);
        assert!(config.auth.countdown.enabled && !config.auth.voucher.enabled);
        assert_eq!(config.policy().guest_subnet, (Ipv4Addr::new(192, 0, 2, 0), 24));
    }

    #[test]
    fn misspelt_key_is_named() {
        let text = EXAMPLE.replace("idle_timeout_seconds", "idle_timeout_secs");
        let err = Config::parse(&text, "site.toml", no_env()).unwrap_err().to_string();
        assert!(err.contains("site.toml") && err.contains("idle_timeout_secs"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let text = EXAMPLE.replace("length_seconds = 7200", "length_seconds = \"two hours\"");
        let err = Config::parse(&text, "site.toml", no_env()).unwrap_err().to_string();
        assert!(err.contains("length_seconds"), "{err}");
    }

    #[test]
    fn environment_overrides_and_unknown_env_key_is_an_error() {
        let env = vec![("GUESTWIFI_SESSION__LENGTH_SECONDS".to_string(), "60".to_string())];
        assert_eq!(Config::parse(EXAMPLE, "x", env).unwrap().session.length_seconds, 60);
        let env = vec![("GUESTWIFI_SESSION__LENGHT_SECONDS".to_string(), "60".to_string())];
        let err = Config::parse(EXAMPLE, "x", env).unwrap_err().to_string();
        assert!(err.contains("lenght_seconds"), "{err}");
        let env = vec![("GUESTWIFI_AUTH__VOUCHER__ENABLED".to_string(), "true".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).unwrap().auth.voucher.enabled, "a nested section");
        let env = vec![("GUESTWIFI_AUTH__VOUCHER__ENABLD".to_string(), "true".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).unwrap_err().to_string().contains("enabld"));
    }

    #[test]
    fn every_method_off_is_refused() {
        let env = vec![("GUESTWIFI_AUTH__COUNTDOWN__ENABLED".to_string(), "false".to_string())];
        let err = Config::parse(EXAMPLE, "x", env).unwrap_err().to_string();
        assert!(err.contains("every login method is off"), "{err}");
    }

    #[test]
    fn allowed_destinations_are_parsed_and_a_bad_one_is_named() {
        let text = EXAMPLE.replace(
            "guest_allowed_destinations = []",
            "guest_allowed_destinations = [\"192.168.1.50\", \"10.20.0.0/24\"]",
        );
        let policy = Config::parse(&text, "x", no_env()).unwrap().policy();
        assert_eq!(
            policy.allowed_destinations,
            vec![("192.168.1.50".parse().unwrap(), 32), ("10.20.0.0".parse().unwrap(), 24)]
        );
        assert_eq!(policy.uplink_interface.as_deref(), Some("wan0"));
        let text = EXAMPLE.replace("guest_allowed_destinations = []", "guest_allowed_destinations = [\"printer\"]");
        let err = Config::parse(&text, "x", no_env()).unwrap_err().to_string();
        assert!(err.contains("guest_allowed_destinations") && err.contains("printer"), "{err}");
    }

    #[test]
    fn the_ssid_key_variable_is_not_taken_for_a_config_key() {
        let env = vec![("GUESTWIFI_SSID_KEY".to_string(), "kitchen-2024!".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).is_ok());
        let env = vec![("GUESTWIFI_SSID_KEYS".to_string(), "x".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).is_err(), "a near miss is still named");
    }

    #[test]
    fn listeners_are_addresses_or_off_and_a_bad_one_is_named() {
        let config = Config::parse(EXAMPLE, "x", no_env()).unwrap();
        assert_eq!(config.ac.listen, Some("0.0.0.0:7443".parse().unwrap()));
        let env = vec![("GUESTWIFI_ADMIN__LISTEN".to_string(), "".to_string())];
        assert_eq!(Config::parse(EXAMPLE, "x", env).unwrap().admin.listen, None);
        let env = vec![("GUESTWIFI_AC__LISTEN".to_string(), "port 7443".to_string())];
        let err = Config::parse(EXAMPLE, "x", env).unwrap_err().to_string();
        assert!(err.contains("listen") && err.contains("port 7443"), "{err}");
        let text = EXAMPLE.replace("\"192.0.2.1/24\"", "\"192.0.2.1/33\"");
        let err = Config::parse(&text, "x", no_env()).unwrap_err().to_string();
        assert!(err.contains("guest_address") && err.contains("192.0.2.1/33"), "{err}");
    }

    #[test]
    fn dhcp_range_outside_the_subnet_is_refused() {
        let text = EXAMPLE.replace("\"192.0.2.250\"", "\"198.51.100.9\"");
        let err = Config::parse(&text, "x", no_env()).unwrap_err().to_string();
        assert!(err.contains("dhcp_range"), "{err}");
    }
}
