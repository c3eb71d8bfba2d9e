//! Login methods. Each file is one method: it owns its tables, checks what
//! the guest brought, and ends in a [`Grant`] — who logged in how, and what
//! the login is worth. `Sessions::login` takes the grant;
//! it is the only way in. The portal's handlers only parse the form,
//! identify the device and render.
//!
//! Every refusal is a [`Refusal`]: a translated page with its HTTP status,
//! no session, and one row in `auth_events` (the audit trail), as is every
//! login.

pub mod account;
pub mod card;
pub mod challenge;
pub mod countdown;
pub mod counter;
pub mod lockout;
pub mod oauth;
pub mod passes;
pub mod sms;
pub mod voucher;
pub mod wechat;

use crate::kit::time::now_ms;
use crate::members::outbox::{self, Fact};
use firewall::Client;
use serde::Serialize;
use sqlx::SqlitePool;
use std::time::Duration;

/// How a guest logged in: the name sessions and audit rows are stored under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Brand page with a countdown, then one tap.
    Countdown,
    /// A voucher card's code, typed or scanned from its QR code.
    Voucher,
    /// The rotating QR code on the counter's tablet.
    CounterQr,
    /// A front-desk account (username and password).
    Account,
    /// A code sent by SMS to the guest's phone (手机号 + 验证码).
    Sms,
    /// A link the restaurant's WeChat official account sent (微信公众号).
    WeChat,
    /// QQ login (OAuth 2.0).
    Qq,
    /// Weibo login (OAuth 2.0).
    Weibo,
    /// A membership card (会员卡) and its PIN.
    Card,
}

impl Method {
    /// As stored, logged and counted.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Countdown => "countdown",
            Method::Voucher => "voucher",
            Method::CounterQr => "counter_qr",
            Method::Account => "account",
            Method::Sms => "sms",
            Method::WeChat => "wechat",
            Method::Qq => "qq",
            Method::Weibo => "weibo",
            Method::Card => "card",
        }
    }
}

/// Who logged in: what the member store links to a guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Identity {
    /// Nothing but the device (countdown, counter QR).
    Device(String),
    /// A voucher card's code.
    Voucher(String),
    /// A front-desk account's username.
    Account(String),
    /// A phone number, E.164.
    Phone(String),
    /// A WeChat openid (one account's id of a user).
    OpenId(String),
    /// A QQ openid (one app's id of a user).
    Qq(String),
    /// A Weibo uid.
    Weibo(String),
    /// A membership card's number.
    Card(String),
}

impl Identity {
    /// `kind:value`, as stored in the sessions table.
    pub fn stored(&self) -> String {
        match self {
            Identity::Device(mac) => format!("device:{mac}"),
            Identity::Voucher(code) => format!("voucher:{code}"),
            Identity::Account(user) => format!("account:{user}"),
            Identity::Phone(phone) => format!("phone:{phone}"),
            Identity::OpenId(openid) => format!("wechat:{openid}"),
            Identity::Qq(openid) => format!("qq:{openid}"),
            Identity::Weibo(uid) => format!("weibo:{uid}"),
            Identity::Card(card) => format!("card:{card}"),
        }
    }

    /// As the member store files it.
    pub fn who(&self) -> crate::members::Who {
        let stored = self.stored();
        let (kind, value) = stored.split_once(':').expect("kind:value");
        crate::members::Who { kind: kind.into(), value: value.into() }
    }

    /// The identity the member store files as `who` (the inverse of [`Identity::who`]).
    pub fn from_who(who: &crate::members::Who) -> Option<Identity> {
        let v = who.value.clone();
        Some(match who.kind.as_str() {
            "device" => Identity::Device(v),
            "voucher" => Identity::Voucher(v),
            "account" => Identity::Account(v),
            "phone" => Identity::Phone(v),
            "wechat" => Identity::OpenId(v),
            "qq" => Identity::Qq(v),
            "weibo" => Identity::Weibo(v),
            "card" => Identity::Card(v),
            _ => return None,
        })
    }

    /// As the appliance's own tables keep it: a phone masked (the member
    /// store alone keeps it in full).
    pub fn local(&self) -> String {
        self.who().masked()
    }
}

/// A session's limits: download and upload, kbit/s, and a data allowance,
/// MB up and down together; 0 is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Bandwidth {
    /// Towards the guest.
    pub down_kbps: u32,
    /// From the guest.
    pub up_kbps: u32,
    /// Data the identity may move, MB (a voucher's over its life, a tier's a day).
    #[serde(default)]
    pub data_mb: u32,
    /// The allowance is a day's (the site's day), not the identity's whole life.
    #[serde(default)]
    pub data_daily: bool,
}

/// What a method gives a guest who passed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// How.
    pub method: Method,
    /// Who.
    pub identity: Identity,
    /// How long the session lasts.
    pub duration: Duration,
    /// Its limits.
    pub bandwidth: Bandwidth,
}

/// Why a method refused a guest. Each has its page and status; none
/// changes anything but the audit trail and the device's lock-out count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The method is turned off in the config.
    #[error("method disabled")]
    Disabled,
    /// An unknown, forged or foreign ticket, code or link.
    #[error("invalid")]
    Invalid,
    /// Already used (a double tap, a replayed link).
    #[error("already used")]
    Replayed,
    /// The countdown has not run out.
    #[error("too early")]
    TooEarly {
        /// Time still to wait.
        remaining: Duration,
    },
    /// Wrong username or password.
    #[error("wrong credentials")]
    WrongCredentials,
    /// Too many wrong tries from this device.
    #[error("locked out")]
    LockedOut {
        /// When to try again.
        retry_after: Duration,
    },
    /// The voucher or account has run out or is past its expiry.
    #[error("expired")]
    Expired,
    /// Staff revoked it.
    #[error("revoked")]
    Revoked,
    /// The voucher is already used by as many devices as it allows.
    #[error("device limit reached")]
    DeviceLimit,
    /// Not a phone number we send to.
    #[error("bad phone number")]
    BadPhone,
    /// A sending limit (per phone, per device, the site's budget) is reached.
    #[error("limited")]
    Limited {
        /// When to try again.
        retry_after: Duration,
    },
    /// A wrong SMS code; the code stays valid for its remaining tries.
    #[error("wrong code")]
    WrongCode,
    /// Too many wrong codes: this one is burnt, a new one is needed.
    #[error("code burnt")]
    CodeBurnt,
    /// A right-looking SMS code typed on a device that did not ask for it.
    #[error("code for another device")]
    OtherDevice,
    /// The member card is frozen.
    #[error("card frozen")]
    CardFrozen,
    /// The member card was reported lost.
    #[error("card reported lost")]
    CardLost,
    /// The member store cannot be reached and its local copy is too old.
    #[error("member store unavailable")]
    Unavailable,
    /// The identity's data allowance is used up (the sessions' answer, audited as a refusal).
    #[error("data allowance used up")]
    DataUsed,
}

impl Refusal {
    /// The reason, as audited and counted.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Disabled => "disabled",
            Refusal::Invalid => "invalid",
            Refusal::Replayed => "replayed",
            Refusal::TooEarly { .. } => "too_early",
            Refusal::WrongCredentials => "wrong_credentials",
            Refusal::LockedOut { .. } => "locked_out",
            Refusal::Expired => "expired",
            Refusal::Revoked => "revoked",
            Refusal::DeviceLimit => "device_limit",
            Refusal::BadPhone => "bad_phone",
            Refusal::Limited { .. } => "limited",
            Refusal::WrongCode => "wrong_code",
            Refusal::CodeBurnt => "code_burnt",
            Refusal::OtherDevice => "other_device",
            Refusal::CardFrozen => "card_frozen",
            Refusal::CardLost => "card_lost",
            Refusal::Unavailable => "unavailable",
            Refusal::DataUsed => "data_used",
        }
    }
}

/// Why a method could not decide (its store failed): the guest sees "try
/// again", nothing is changed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The guest was refused.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The store failed.
    #[error("auth store error")]
    Store(#[from] sqlx::Error),
}

/// Most rows the audit trail and the portal events keep, each.
pub const MAX_AUDIT_ROWS: i64 = 1_000_000;

/// The audit trail: one row per login and per refusal.
#[derive(Clone)]
pub struct Audit {
    db: SqlitePool,
}

/// One audit row.
#[derive(Clone, Debug, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct AuditRow {
    /// UTC ms.
    pub at: i64,
    /// Method name.
    pub method: String,
    /// The device.
    pub mac: String,
    /// Its address.
    pub ip: String,
    /// `kind:value` when known.
    pub identity: String,
    /// `login` or `refused`.
    pub outcome: String,
    /// Why refused; empty for a login.
    pub reason: String,
}

impl Audit {
    /// The trail in `db`.
    pub fn new(db: SqlitePool) -> Self {
        Audit { db }
    }

    /// Records a login or refusal. A failure to write is logged, never the
    /// guest's problem.
    pub async fn record(&self, method: Method, client: Client, identity: Option<&Identity>, refusal: Option<&Refusal>) {
        let result = async {
            let now = now_ms();
            let mut tx = self.db.begin().await?;
            sqlx::query(
                "INSERT INTO auth_events (at, method, mac, ip, identity, outcome, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(now)
            .bind(method.as_str())
            .bind(client.mac.to_string())
            .bind(client.ip.to_string())
            .bind(identity.map(Identity::local).unwrap_or_default())
            .bind(if refusal.is_some() { "refused" } else { "login" })
            .bind(refusal.map(Refusal::reason).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
            // A login is filed by its session; a refusal is filed here.
            if let Some(refusal) = refusal {
                let who = identity.map(Identity::who);
                let guest =
                    who.as_ref().map_or(format!("device:{}", client.mac), |w| format!("{}:{}", w.kind, w.value));
                let fact = Fact::Event {
                    kind: "refusal".into(),
                    who,
                    mac: client.mac.to_string(),
                    detail: format!("{}:{}", method.as_str(), refusal.reason()),
                };
                outbox::push(&mut tx, now, &guest, &fact).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = %crate::error_chain(&err), "audit row not written");
        }
    }

    /// Records what a guest did on the portal that marketing counts
    /// (`ad_impression`, `ad_click`).
    pub async fn event(&self, kind: &str, client: Client, detail: &str) {
        self.event_of(kind, client, None, detail).await
    }

    /// Records a portal event of a known guest (`consent`, with the text's
    /// version) or of a device; it is filed in the member store too.
    pub async fn event_of(&self, kind: &str, client: Client, who: Option<crate::members::Who>, detail: &str) {
        self.write_events(client, who, &[(kind, detail)]).await
    }

    /// Records several events of one page view in one transaction (the
    /// login page's view and the dishes it showed: one write, not two).
    pub async fn events(&self, client: Client, events: &[(&str, &str)]) {
        self.write_events(client, None, events).await
    }

    async fn write_events(&self, client: Client, who: Option<crate::members::Who>, events: &[(&str, &str)]) {
        let result = async {
            let now = now_ms();
            let mut tx = self.db.begin().await?;
            let guest = who.as_ref().map_or(format!("device:{}", client.mac), |w| format!("{}:{}", w.kind, w.value));
            for (kind, detail) in events {
                sqlx::query("INSERT INTO portal_events (at, kind, mac, detail) VALUES (?, ?, ?, ?)")
                    .bind(now)
                    .bind(kind)
                    .bind(client.mac.to_string())
                    .bind(detail)
                    .execute(&mut *tx)
                    .await?;
                let fact = Fact::Event {
                    kind: kind.to_string(),
                    who: who.clone(),
                    mac: client.mac.to_string(),
                    detail: detail.to_string(),
                };
                outbox::push(&mut tx, now, &guest, &fact).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            tracing::error!(error = %crate::error_chain(&err), "portal event not written");
        }
    }

    /// Files a welcome coupon for the member `who` names; false when one
    /// is already waiting in the outbox for them (a second login before
    /// the feed delivered the first).
    pub async fn coupon(
        &self,
        who: &crate::members::Who,
        rule: &crate::config::WelcomeCoupon,
        valid_until: i64,
    ) -> bool {
        let guest = format!("{}:{}", who.kind, who.value);
        let result = async {
            let mut tx = self.db.begin().await?;
            if outbox::coupon_waiting(&mut tx, &guest, &rule.rule).await? {
                return Ok(false);
            }
            let fact = Fact::Coupon {
                who: who.clone(),
                rule: rule.rule.clone(),
                kind: rule.kind.clone(),
                value_cents: rule.value_cents as i64,
                valid_until,
            };
            outbox::push(&mut tx, now_ms(), &guest, &fact).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await;
        result.unwrap_or_else(|err| {
            tracing::error!(error = %crate::error_chain(&err), "welcome coupon not filed");
            false
        })
    }

    /// The store the trail is kept in.
    pub fn db(&self) -> SqlitePool {
        self.db.clone()
    }

    /// How many portal events of `kind` there are.
    pub async fn count_events(&self, kind: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM portal_events WHERE kind = ?").bind(kind).fetch_one(&self.db).await
    }

    /// The newest `limit` rows.
    pub async fn recent(&self, limit: u32) -> Result<Vec<AuditRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT at, method, mac, ip, identity, outcome, reason FROM auth_events ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.db)
        .await
    }

    /// Drops rows older than `keep`, and past the newest [`MAX_AUDIT_ROWS`]
    /// of each table (a device hammering the portal with wrong codes must
    /// not fill the disk).
    pub async fn prune(&self, keep: Duration) -> Result<u64, sqlx::Error> {
        let before = now_ms() - keep.as_millis() as i64;
        let mut pruned = 0;
        for table in ["auth_events", "portal_events"] {
            pruned += sqlx::query(&format!("DELETE FROM {table} WHERE at < ?"))
                .bind(before)
                .execute(&self.db)
                .await?
                .rows_affected();
            pruned += sqlx::query(&format!(
                "DELETE FROM {table} WHERE id <= (SELECT id FROM {table} ORDER BY id DESC LIMIT 1 OFFSET ?)"
            ))
            .bind(MAX_AUDIT_ROWS)
            .execute(&self.db)
            .await?
            .rows_affected();
        }
        Ok(pruned)
    }
}

/// Every method, as the portal and the staff commands use them.
pub struct Methods {
    /// Which methods the portal offers.
    pub enabled: Enabled,
    /// Click-through.
    pub countdown: countdown::Countdown,
    /// The countdown page's ad, if any.
    pub ad: Option<Ad>,
    /// Log in by itself when the countdown ends.
    pub auto_login: bool,
    /// Voucher cards (staff use them even while the portal does not offer them).
    pub vouchers: voucher::Vouchers,
    /// Front-desk accounts.
    pub accounts: account::Accounts,
    /// SMS codes.
    pub sms: std::sync::Arc<sms::Sms>,
    /// The WeChat account, when on.
    pub wechat: Option<std::sync::Arc<wechat::WeChat>>,
    /// QQ and Weibo, those that are on.
    pub oauth: Vec<oauth::Provider>,
    /// The counter's rotating QR code.
    pub counter: counter::CounterQr,
    /// Membership cards.
    pub cards: std::sync::Arc<card::Cards>,
    /// The member store (welcome coupons, the brand's passes).
    pub members: crate::members::Store,
    /// One-tap return passes.
    pub passes: std::sync::Arc<passes::Passes>,
    /// The welcome coupon rule, when on.
    pub welcome: Option<crate::config::WelcomeCoupon>,
    /// The consent text's version the portal shows.
    pub consent_version: String,
    /// Wrong voucher codes and counter links per device.
    pub codes: lockout::Lockout,
    /// Wrong passwords per device.
    pub passwords: lockout::Lockout,
    /// The audit trail.
    pub audit: Audit,
}

/// Which methods the portal offers.
#[derive(Clone, Copy, Debug)]
pub struct Enabled {
    /// Countdown.
    pub countdown: bool,
    /// Voucher cards.
    pub voucher: bool,
    /// Front-desk accounts.
    pub account: bool,
    /// Counter QR.
    pub counter_qr: bool,
    /// SMS code.
    pub sms: bool,
    /// WeChat official account.
    pub wechat: bool,
    /// Membership card.
    pub card: bool,
}

/// The countdown page's ad.
#[derive(Clone, Debug)]
pub struct Ad {
    /// Where a tap goes, once online.
    pub url: String,
    /// Its picture, if any.
    pub image: String,
    /// Its words, zh-CN.
    pub text_zh: String,
    /// Its words, English.
    pub text_en: String,
}

/// The keys methods sign and hash with.
pub struct Keys {
    /// The portal's key (counter links).
    pub portal: crate::kit::signer::Signer,
    /// The ID-number key.
    pub ids: crate::kit::signer::Signer,
    /// The counter tablet's display key.
    pub counter_display: String,
}

impl Keys {
    /// The keys in the data dir, made at first start (each file 0600).
    pub fn load_or_create(dir: &std::path::Path) -> Result<Self, crate::kit::secrets::SecretError> {
        use crate::kit::signer::Signer;
        let display = Signer::load_or_create_file(dir, counter::DISPLAY_KEY_FILE)?.sign(&["counter-display"]);
        Ok(Keys {
            portal: Signer::load_or_create(dir)?,
            ids: Signer::load_or_create_file(dir, account::ID_KEY_FILE)?,
            counter_display: display,
        })
    }
}

impl Methods {
    /// The methods `config` describes, their tables in `db`.
    pub fn new(
        config: &crate::config::Config,
        db: SqlitePool,
        keys: Keys,
        sms_gateway: std::sync::Arc<dyn sms::gateway::Gateway>,
        wechat: Option<std::sync::Arc<wechat::WeChat>>,
        oauth: Vec<oauth::Provider>,
        members: crate::members::Store,
    ) -> Self {
        let auth = &config.auth;
        let session = &config.session;
        let bandwidth = |down_kbps, up_kbps| Bandwidth { down_kbps, up_kbps, ..Bandwidth::default() };
        let c = &auth.countdown;
        let q = &auth.counter_qr;
        Methods {
            enabled: Enabled {
                countdown: c.enabled,
                voucher: auth.voucher.enabled,
                account: auth.account.enabled,
                counter_qr: q.enabled,
                sms: auth.sms.enabled,
                wechat: wechat.is_some(),
                card: auth.card.enabled,
            },
            cards: std::sync::Arc::new(card::Cards::new(
                members.clone(),
                db.clone(),
                lockout::Lockout::new(
                    auth.card.wrong_tries as usize,
                    Duration::from_secs(auth.card.lockout_minutes * 60),
                ),
                lockout::Lockout::new(auth.card.site_wrong_pins_per_hour as usize, Duration::from_secs(3600)),
                session.length_or(auth.card.session_minutes),
                bandwidth(auth.card.down_kbps, auth.card.up_kbps),
                Duration::from_secs(config.members.cache_max_age_hours * 3600),
            )),
            passes: std::sync::Arc::new(passes::Passes::new(
                db.clone(),
                members.clone(),
                keys.portal.clone(),
                (auth.sms.returning_days > 0).then(|| Duration::from_secs(auth.sms.returning_days * 86_400)),
            )),
            members,
            welcome: config.members.welcome_coupon.enabled.then(|| config.members.welcome_coupon.clone()),
            consent_version: config.members.consent_version.clone(),
            wechat,
            oauth,
            countdown: countdown::Countdown::new(
                Duration::from_secs(c.seconds),
                session.length_or(c.session_minutes),
                bandwidth(c.down_kbps, c.up_kbps),
            ),
            ad: (!c.ad_url.is_empty()).then(|| Ad {
                url: c.ad_url.clone(),
                image: c.ad_image.clone(),
                text_zh: c.ad_text_zh.clone(),
                text_en: c.ad_text_en.clone(),
            }),
            auto_login: c.auto_login,
            vouchers: voucher::Vouchers::new(db.clone(), bandwidth(auth.voucher.down_kbps, auth.voucher.up_kbps)),
            accounts: account::Accounts::new(
                db.clone(),
                keys.ids,
                bandwidth(auth.account.down_kbps, auth.account.up_kbps),
            ),
            sms: {
                let s = &auth.sms;
                std::sync::Arc::new(sms::Sms::new(
                    db.clone(),
                    sms_gateway,
                    sms::Limits {
                        countries: s.countries.clone(),
                        code_ttl: Duration::from_secs(s.code_minutes * 60),
                        resend: Duration::from_secs(s.resend_seconds),
                        tries: s.wrong_tries,
                        per_phone_10min: s.per_phone_10min,
                        per_phone_day: s.per_phone_day,
                        per_device_hour: s.per_device_hour,
                        site_per_hour: s.site_per_hour,
                        per_block_hour: s.per_block_hour,
                        blocked_prefixes: s.blocked_prefixes.clone(),
                        returning: (s.returning_days > 0).then(|| Duration::from_secs(s.returning_days * 86_400)),
                    },
                    s.text.clone(),
                    keys.portal.clone(),
                    session.length_or(s.session_minutes),
                    bandwidth(s.down_kbps, s.up_kbps),
                ))
            },
            counter: counter::CounterQr::new(
                Duration::from_secs(q.period_seconds),
                session.length_or(q.session_minutes),
                bandwidth(q.down_kbps, q.up_kbps),
                keys.portal,
                keys.counter_display,
            ),
            codes: lockout::Lockout::new(auth.wrong_tries as usize, Duration::from_secs(auth.lockout_minutes * 60)),
            passwords: lockout::Lockout::new(auth.wrong_tries as usize, Duration::from_secs(auth.lockout_minutes * 60)),
            audit: Audit::new(db),
        }
    }
}

impl Methods {
    /// A login whose wrong answers count against the device in `lockout`:
    /// the try is reserved before `attempt` runs (many tries at once cannot
    /// all be checked), cleared by a grant, kept for a `wrong` refusal, given
    /// back for any other answer (a revoked card is no guess).
    pub async fn tried<T>(
        lockout: &lockout::Lockout,
        client: Client,
        wrong: Refusal,
        attempt: impl std::future::Future<Output = Result<T, AuthError>>,
    ) -> Result<T, AuthError> {
        let reserved = lockout
            .reserve(client.mac)
            .map_err(|retry_after| AuthError::Refused(Refusal::LockedOut { retry_after }))?;
        let answer = attempt.await;
        match &answer {
            Ok(_) => reserved.clear(),
            Err(AuthError::Refused(r)) if *r == wrong => reserved.keep(),
            Err(_) => reserved.give_back(),
        }
        answer
    }

    /// Files a new member's welcome coupon (the store keeps it to one a
    /// member a rule, whatever happens here) and says which rule it was when
    /// the member store answered within `glance` that this member had none
    /// yet and none is waiting in the outbox: what the success page announces.
    pub async fn welcome(
        &self,
        client: Client,
        identity: &Identity,
        glance: Duration,
    ) -> Option<&crate::config::WelcomeCoupon> {
        let rule = self.welcome.as_ref()?;
        let who = identity.who();
        if !who.is_personal() {
            return None;
        }
        let known = tokio::time::timeout(glance, self.members.has_coupon(&who, &rule.rule)).await;
        if matches!(known, Ok(Ok(true))) {
            return None;
        }
        let valid_until = crate::kit::time::now_ms() + rule.valid_days as i64 * 86_400_000;
        let new = self.audit.coupon(&who, rule, valid_until).await;
        tracing::info!(%client, who = %who.masked(), rule = %rule.rule, new, "welcome coupon filed");
        (new && matches!(known, Ok(Ok(false)))).then_some(rule)
    }

    /// Whether a member known as `who` may return with one tap here: the
    /// method that identity comes from is on.
    pub fn offers_return(&self, who: &crate::members::Who) -> bool {
        match who.kind.as_str() {
            "phone" => self.enabled.sms,
            "wechat" => self.wechat.is_some(),
            "card" => self.enabled.card,
            _ => false,
        }
    }

    /// A member's one-tap return as `who`: what that identity's method
    /// grants (a card as its state and tier are now).
    pub async fn member_return(&self, who: &crate::members::Who) -> Result<Grant, AuthError> {
        match (who.kind.as_str(), &self.wechat) {
            ("phone", _) if self.enabled.sms => Ok(self.sms.grant(who.value.clone())),
            ("wechat", Some(wechat)) => Ok(wechat.grant_for(who.value.clone())),
            ("card", _) if self.enabled.card => self.cards.grant_for(&who.value).await,
            _ => Err(Refusal::Disabled.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_trail_is_pruned_by_age() {
        let audit = Audit::new(crate::store::memory().await.unwrap());
        let c = Client { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "192.0.2.1".parse().unwrap() };
        audit.record(Method::Voucher, c, None, Some(&Refusal::Invalid)).await;
        audit.event("ad_click", c, "http://a.test/").await;
        assert_eq!(audit.prune(Duration::from_secs(3600)).await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(audit.prune(Duration::from_millis(1)).await.unwrap(), 2);
        assert!(audit.recent(10).await.unwrap().is_empty());
    }
}
