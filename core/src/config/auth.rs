//! `[auth]` and a table each login method: on or off, and what it needs.

use super::{valid_hostname, yes};
use serde::Deserialize;
use std::path::PathBuf;

/// Every login method, as `[auth.*]` names them.
pub const METHODS: [&str; 9] =
    ["countdown", "voucher", "account", "counter_qr", "sms", "wechat", "qq", "weibo", "card"];

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
    /// Wrong PINs the whole site may take in an hour, over every card and
    /// device: a guesser spraying PINs over many cards with a fresh MAC for
    /// each try meets it. Past it, card logins wait (the page says how long).
    #[serde(default = "default_site_wrong_pins")]
    pub site_wrong_pins_per_hour: u32,
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
    /// The app is the chain's and its secret is at headquarters: an
    /// enrolled site sends the code to HQ, which trades it and says who the
    /// guest is; no `client_secret_file` here.
    #[serde(default)]
    pub at_headquarters: bool,
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
    /// The account is the chain's and its callback is at headquarters,
    /// which holds the Token and EncodingAESKey and answers the keyword
    /// with a link it signs; this site takes those links (HQ's key comes in
    /// the bundle), holds no secret of the account and takes no callback.
    #[serde(default)]
    pub at_headquarters: bool,
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
    /// Days a member's device logs in again with one tap, by the pass its
    /// login gave it (phone, WeChat or card; 0: off).
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

/// WeChat's own hosts, reachable before login when WeChat login is on.
pub const WECHAT_GARDEN: [&str; 6] =
    ["weixin.qq.com", "wx.qq.com", "servicewechat.com", "qpic.cn", "qlogo.cn", "wechat.com"];

fn default_wechat_garden() -> Vec<String> {
    WECHAT_GARDEN.iter().map(|h| h.to_string()).collect()
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

fn default_card_tries() -> u32 {
    5
}

fn default_site_wrong_pins() -> u32 {
    60
}

fn default_countdown() -> u64 {
    6
}

impl AuthSettings {
    /// Each method's own checks, and at least one method on.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.wrong_tries == 0 || self.lockout_minutes == 0 {
            return Err("auth.wrong_tries and auth.lockout_minutes must be at least 1".into());
        }
        if !(5..=600).contains(&self.counter_qr.period_seconds) {
            return Err("auth.counter_qr.period_seconds must be 5 to 600".into());
        }
        let ad = &self.countdown.ad_url;
        if !ad.is_empty()
            && !matches!(url::Url::parse(ad).map(|u| u.scheme().to_string()).as_deref(), Ok("http" | "https"))
        {
            return Err(format!("auth.countdown.ad_url: {ad:?} is not an http(s) URL"));
        }
        if self.sms.enabled {
            self.sms.check()?;
        }
        if self.wechat.enabled {
            self.wechat.check()?;
        }
        for (name, p) in [("qq", &self.qq), ("weibo", &self.weibo)] {
            if p.enabled {
                p.check(name)?;
            }
        }
        if !self.countdown.enabled
            && !self.qq.enabled
            && !self.weibo.enabled
            && !self.wechat.enabled
            && !self.sms.enabled
            && !self.voucher.enabled
            && !self.account.enabled
            && !self.counter_qr.enabled
            && !self.card.enabled
        {
            return Err("auth: every login method is off; guests could never get online".into());
        }
        if self.card.wrong_tries == 0 || self.card.lockout_minutes == 0 {
            return Err("auth.card.wrong_tries and auth.card.lockout_minutes must be at least 1".into());
        }
        Ok(())
    }
}

impl SmsAuth {
    /// A gateway we know, calling codes, limits of at least one, a text with the code.
    fn check(&self) -> Result<(), String> {
        let sms = self;
        if !matches!(sms.gateway.as_str(), "log" | "webhook" | "aliyun" | "tencent" | "hq") {
            return Err(format!("auth.sms.gateway: {:?} is not log, webhook, aliyun, tencent or hq", sms.gateway));
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
        Ok(())
    }
}

impl WeChatAuth {
    /// The account's token, a keyword and a reply with the link, garden host names.
    fn check(&self) -> Result<(), String> {
        if self.at_headquarters && (self.token_file.is_some() || self.encoding_aes_key_file.is_some()) {
            return Err("auth.wechat.at_headquarters: the account's Token and key stay at headquarters; \
                        remove token_file and encoding_aes_key_file"
                .into());
        }
        if self.token_file.is_none() && !self.at_headquarters {
            return Err("auth.wechat.token_file: the account's Token is needed".into());
        }
        if self.keyword.trim().is_empty() || !self.reply.contains("{link}") {
            return Err("auth.wechat: keyword must not be empty and reply must hold {link}".into());
        }
        if let Some(bad) = self.garden.iter().find(|n| !valid_hostname(n)) {
            return Err(format!("auth.wechat.garden: {bad:?} is not a host name"));
        }
        if self.link_minutes == 0 {
            return Err("auth.wechat.link_minutes must be at least 1".into());
        }
        Ok(())
    }
}

impl OAuthSettings {
    /// The app's id and secret, its URLs, garden host names (`name`: qq or weibo).
    fn check(&self, name: &str) -> Result<(), String> {
        let p = self;
        if p.at_headquarters && p.client_secret_file.is_some() {
            return Err(format!(
                "auth.{name}.at_headquarters: the app's secret stays at headquarters; remove client_secret_file"
            ));
        }
        if p.client_id.is_empty() || (p.client_secret_file.is_none() && !p.at_headquarters) {
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
        Ok(())
    }
}
