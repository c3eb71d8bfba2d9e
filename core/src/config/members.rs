//! `[members]`: the shared member store, its feed and the welcome coupon.

use serde::Deserialize;
use std::path::PathBuf;

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
    /// The CA that signed the PostgreSQL server's certificate (PEM), when it
    /// is the chain's own; without it the system's CA store is used. TLS to
    /// the store always checks the certificate (`sslmode=require` is taken
    /// as `verify-full`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
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

impl MembersSettings {
    /// A PostgreSQL URL without its password, ids of letters and digits,
    /// limits of at least one, a welcome coupon that says what it is.
    pub(super) fn check(&self) -> Result<(), String> {
        let m = self;
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
        Ok(())
    }
}
