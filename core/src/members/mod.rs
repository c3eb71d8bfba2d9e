//! The shared member store: what the restaurant's loyalty-card system,
//! its POS and every site's appliance share (members, cards, tiers,
//! balances, coupons), and where this appliance files every identity, visit
//! and marketing event it learns.
//!
//! One schema (`members-migrations/`) on two engines through sqlx's `Any`
//! driver: SQLite in the data dir (one restaurant, the default) or
//! PostgreSQL (a chain). Every table is keyed by `brand_id` first.
//!
//! Nothing on the login path waits for the store: sessions write their
//! facts to the local [`outbox`] in the transaction that changes them, and
//! the [`feed`] delivers them. The card login reads the store, with a local
//! cache for when it cannot.

mod admin;
pub mod cards;
pub mod feed;
pub mod outbox;
pub mod url;

use crate::config::MembersSettings;
use crate::kit::time::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Why the member store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// The store failed or could not be reached.
    #[error("member store error")]
    Store(#[from] sqlx::Error),
    /// Its schema could not be brought up to date.
    #[error("member store migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The password file could not be read (or others can read it).
    #[error("members.password_file: {0}")]
    Password(String),
    /// The URL is not one we can use.
    #[error("members.url is not a database URL")]
    Url,
    /// The local store (outbox, card cache) failed.
    #[error("local store error")]
    Local(#[source] sqlx::Error),
    /// Headquarters (an enrolled site's store) refused or could not be reached.
    #[error("headquarters")]
    Hq(#[from] RemoteError),
    /// A CSV line or an argument is not usable.
    #[error("{0}")]
    Invalid(String),
    /// No such member or card.
    #[error("no such member or card")]
    NotFound,
}

/// Why headquarters did not answer an ask or take a batch.
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct RemoteError {
    /// HQ's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong.
    pub text: String,
    /// The link, not the request: worth retrying as it is.
    pub link: bool,
}

/// A future of a [`Remote`] call.
pub type Asking<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, RemoteError>> + Send + 'a>>;

/// What an enrolled site asks of headquarters instead of the chain's
/// database (`hq::client::Client` is the one implementation; the member
/// store and its feed know only this, so they sit below `hq`).
pub trait Remote: Send + Sync {
    /// Files a batch of outbox rows (id, at, body); Some(id, why): HQ
    /// refused that fact on its own, and nothing of the batch was kept.
    fn facts(&self, rows: Vec<(String, i64, String)>) -> Asking<'_, Option<(String, String)>>;
    /// A card and PIN checked at HQ: the card (with its hash) for a right
    /// PIN, None for a wrong one or no such card.
    fn check_card<'a>(&'a self, card_no: &'a str, pin: &'a str) -> Asking<'a, Option<CardRecord>>;
    /// A card's state and tier, without its PIN's hash.
    fn card<'a>(&'a self, card_no: &'a str) -> Asking<'a, Option<CardRecord>>;
    /// The cards among `card_nos` whose PIN was right at this site lately.
    fn cards<'a>(&'a self, card_nos: &'a [String]) -> Asking<'a, Vec<CardRecord>>;
    /// Who a pass logs in as on `mac`, from any site of the brand.
    fn pass_holder<'a>(&'a self, hash: &'a str, mac: &'a str) -> Asking<'a, Option<Who>>;
    /// Revokes `who`'s passes at every site.
    fn revoke_passes<'a>(&'a self, who: &'a Who) -> Asking<'a, u64>;
    /// Whether the member `who` names holds a coupon of `rule`.
    fn has_coupon<'a>(&'a self, who: &'a Who, rule: &'a str) -> Asking<'a, bool>;
}

/// Which engine holds the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// `members.db` in the data dir.
    Sqlite,
    /// A chain's PostgreSQL.
    Postgres,
}

/// A handle on the member store, for one brand and one site.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// An enrolled site asks headquarters what only the chain's store knows
    /// (a card, a pass from another site, a coupon), and keeps only its own
    /// SQLite here.
    remote: Option<std::sync::Arc<dyn Remote>>,
    /// The brand (chain) id.
    pub brand: String,
    /// This site's id.
    pub site: String,
    /// The engine.
    pub engine: Engine,
    /// Where, without credentials (for logs and status).
    pub location: String,
}

/// Who a fact is about: an identity's kind and value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    /// `device`, `phone`, `wechat`, `card`, `voucher`, `account`, `qq`, `weibo`.
    pub kind: String,
    /// The MAC, E.164 number, openid, card number...
    pub value: String,
}

impl Who {
    /// From a stored `kind:value`.
    pub fn parse(stored: &str) -> Option<Who> {
        let (kind, value) = stored.split_once(':')?;
        (!kind.is_empty() && !value.is_empty()).then(|| Who { kind: kind.into(), value: value.into() })
    }

    /// A device.
    pub fn device(mac: impl ToString) -> Who {
        Who { kind: "device".into(), value: mac.to_string() }
    }

    /// An identity that names a person (a member can be made or found from it).
    pub fn is_personal(&self) -> bool {
        matches!(self.kind.as_str(), "phone" | "wechat" | "card")
    }

    /// `kind:value` with a phone masked (138****1234): what logs and the
    /// appliance's own tables keep.
    pub fn masked(&self) -> String {
        match self.kind.as_str() {
            "phone" => format!("phone:{}", crate::kit::phones::mask_phone(&self.value)),
            _ => format!("{}:{}", self.kind, self.value),
        }
    }
}

/// One member as `members show` prints it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberView {
    /// Its id.
    pub member_id: String,
    /// Masked unless asked in full by staff.
    pub phone: String,
    /// Name.
    pub name: String,
    /// Tier.
    pub tier: String,
    /// Marketing consent given, with the text's version.
    pub consent: Option<String>,
    /// Consent to the member's visits keeping the zones they were seen in.
    #[serde(default)]
    pub places_consent: bool,
    /// Cards: number, state, tier.
    pub cards: Vec<CardView>,
    /// Stored value, cents, and points (the card system's).
    pub stored_value_cents: i64,
    /// Points.
    pub points: i64,
    /// Coupons: kind, value, rule, valid until (UTC ms), redeemed.
    pub coupons: Vec<CouponView>,
    /// Identities known for the member (`kind:value`, phone masked).
    pub identities: Vec<String>,
    /// Visits at every site of the brand.
    pub visits: i64,
    /// Events filed about the member.
    pub events: i64,
    /// First and last seen, UTC ms.
    pub first_seen_at: Option<i64>,
    /// Last seen.
    pub last_seen_at: Option<i64>,
}

/// A card, as shown to staff.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CardView {
    /// Its number.
    pub card_no: String,
    /// `active`, `frozen` or `lost`.
    pub state: String,
    /// Its tier.
    pub tier: String,
    /// Whether it has a PIN.
    pub has_pin: bool,
}

/// A coupon, as shown to staff.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CouponView {
    /// Kind.
    pub kind: String,
    /// Value, cents.
    pub value_cents: i64,
    /// The Wi-Fi rule that issued it, if any.
    pub rule: Option<String>,
    /// UTC ms.
    pub valid_until: i64,
    /// Redeemed at, UTC ms.
    pub redeemed_at: Option<i64>,
}

/// A card as the login checks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRecord {
    /// Number.
    pub card_no: String,
    /// Its member.
    pub member_id: String,
    /// argon2id hash of the PIN; None: the card has no PIN and cannot log in.
    pub pin_hash: Option<String>,
    /// `active`, `frozen`, `lost`.
    pub state: String,
    /// Tier.
    pub tier: String,
    /// The tier's session length, minutes (0: the method's).
    pub session_minutes: i64,
    /// The tier's download limit, kbit/s (0: the method's).
    pub down_kbps: i64,
    /// The tier's upload limit.
    pub up_kbps: i64,
    /// The tier's data allowance a day, MB (0: none).
    #[serde(default)]
    pub data_mb: i64,
}

/// What `members import` did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Imported {
    /// Members added.
    pub members: u64,
    /// Members that were there (updated).
    pub updated: u64,
    /// Cards added or updated.
    pub cards: u64,
}

/// What `members erase` removed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Erased {
    /// Identities.
    pub identities: u64,
    /// Events.
    pub events: u64,
    /// Visits.
    pub visits: u64,
    /// Cards and coupons.
    pub cards: u64,
}

/// The columns a card login needs, joined with its tier.
const CARD_SELECT: &str = "SELECT c.card_no, c.member_id, c.pin_hash, c.state, c.tier, \
     COALESCE(t.session_minutes, 0), COALESCE(t.down_kbps, 0), COALESCE(t.up_kbps, 0), COALESCE(t.data_mb, 0) \
     FROM cards c LEFT JOIN tiers t ON t.brand_id = c.brand_id AND t.tier = c.tier";

/// A card row as selected (see [`CARD_SELECT`]).
pub(crate) type CardTuple = (String, String, Option<String>, String, String, i64, i64, i64, i64);

pub(crate) fn card_of(t: CardTuple) -> CardRecord {
    CardRecord {
        card_no: t.0,
        member_id: t.1,
        pin_hash: t.2,
        state: t.3,
        tier: t.4,
        session_minutes: t.5,
        down_kbps: t.6,
        up_kbps: t.7,
        data_mb: t.8,
    }
}

/// The member store's migrations. Headquarters runs them on the chain's
/// PostgreSQL beside its own, so each set leaves the other's alone.
pub fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./members-migrations");
    migrator.set_ignore_missing(true);
    migrator
}

impl Store {
    /// A handle on the store `settings` name; connects lazily (a store that
    /// is down at start must not keep the appliance from starting).
    pub fn connect(settings: &MembersSettings, data_dir: &Path) -> Result<Store, MembersError> {
        sqlx::any::install_default_drivers();
        let (url, engine, location) = if settings.url.is_empty() {
            let path = data_dir.join("members.db");
            (format!("sqlite://{}?mode=rwc", path.display()), Engine::Sqlite, path.display().to_string())
        } else {
            let password = match &settings.password_file {
                Some(file) => Some(crate::kit::secrets::read_private(file).map_err(MembersError::Password)?),
                None => None,
            };
            let (url, location) = url::connect_url(&settings.url, password.as_deref(), settings.ca_file.as_deref())
                .map_err(|_| MembersError::Url)?;
            (url, Engine::Postgres, location)
        };
        let options = AnyConnectOptions::from_str(&url).map_err(|_| MembersError::Url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if engine == Engine::Sqlite { 2 } else { 4 })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Store { pool, remote: None, brand: settings.brand.clone(), site: settings.site.clone(), engine, location })
    }

    /// The store on `pool` for `brand` and `site` (headquarters, which
    /// answers sites' asks with the same queries).
    pub fn on(pool: AnyPool, brand: &str, site: &str, location: &str) -> Store {
        let (brand, site, location) = (brand.to_string(), site.to_string(), location.to_string());
        Store { pool, remote: None, brand, site, engine: Engine::Postgres, location }
    }

    /// Asks `remote` (headquarters) for cards, passes and coupons.
    pub fn with_remote(mut self, remote: std::sync::Arc<dyn Remote>) -> Store {
        self.remote = Some(remote);
        self
    }

    /// Headquarters, when the site is enrolled.
    pub fn remote(&self) -> Option<&std::sync::Arc<dyn Remote>> {
        self.remote.as_ref()
    }

    /// Brings the schema up to date and registers this site (and its brand
    /// and region) in the store. Safe to run at every start, from every site.
    pub async fn prepare(&self, brand_name: &str, site_name: &str, region: &str) -> Result<(), MembersError> {
        migrator().run(&self.pool).await?;
        if self.engine == Engine::Sqlite {
            if let Some(path) = self.location.strip_suffix("members.db").map(|d| Path::new(d).join("members.db")) {
                use std::os::unix::fs::PermissionsExt;
                for suffix in ["", "-wal", "-shm"] {
                    let file = path.with_file_name(format!("members.db{suffix}"));
                    if file.exists() {
                        let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
                    }
                }
            }
        }
        let now = now_ms();
        let name = if brand_name.is_empty() { &self.brand } else { brand_name };
        sqlx::query("INSERT INTO brands (brand_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(&self.brand)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if !region.is_empty() {
            sqlx::query("INSERT INTO regions (brand_id, region_id, name) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING")
                .bind(&self.brand)
                .bind(region)
                .execute(&self.pool)
                .await?;
        }
        sqlx::query(
            "INSERT INTO sites (brand_id, site_id, region_id, name, registered_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (brand_id, site_id) DO UPDATE \
             SET name = excluded.name, region_id = excluded.region_id, last_seen_at = excluded.last_seen_at",
        )
        .bind(&self.brand)
        .bind(&self.site)
        .bind(region)
        .bind(site_name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        tracing::info!(store = %self.location, brand = %self.brand, site = %self.site, "member store ready");
        Ok(())
    }

    /// The pool, for the feed and for tests that count rows.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A card and its tier, from the store (from HQ: without its PIN's hash).
    pub async fn card(&self, card_no: &str) -> Result<Option<CardRecord>, MembersError> {
        if let Some(hq) = &self.remote {
            return Ok(hq.card(card_no).await?);
        }
        let row: Option<CardTuple> = sqlx::query_as(&format!("{CARD_SELECT} WHERE c.brand_id = $1 AND c.card_no = $2"))
            .bind(&self.brand)
            .bind(card_no)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(card_of))
    }

    /// The brand's cards among `card_nos` (what the local cache asks for:
    /// the cards seen at the site), a few hundred a query.
    pub async fn cards(&self, card_nos: &[String]) -> Result<Vec<CardRecord>, MembersError> {
        if let Some(hq) = &self.remote {
            return Ok(hq.cards(card_nos).await?);
        }
        let mut out = Vec::with_capacity(card_nos.len());
        for chunk in card_nos.chunks(500) {
            let places: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!("{CARD_SELECT} WHERE c.brand_id = $1 AND c.card_no IN ({})", places.join(", "));
            let mut query = sqlx::query_as::<_, CardTuple>(&sql).bind(&self.brand);
            for card_no in chunk {
                query = query.bind(card_no);
            }
            out.extend(query.fetch_all(&self.pool).await?.into_iter().map(card_of));
        }
        Ok(out)
    }

    /// The member a personal identity names, if the store knows one.
    pub async fn member_of(&self, who: &Who) -> Result<Option<String>, MembersError> {
        let mut conn = self.pool.acquire().await?;
        Ok(feed::member_of(&mut conn, &self.brand, who).await?)
    }

    /// Who a pass (its hash) issued at a site of the brand logs in as on
    /// the device `mac`: what lets a member's own device return with one tap
    /// at another site. None for another device's pass, one past its time,
    /// revoked, or one whose identity was erased.
    pub async fn pass_holder(&self, hash: &str, mac: &str) -> Result<Option<Who>, MembersError> {
        if let Some(hq) = &self.remote {
            return Ok(hq.pass_holder(hash, mac).await?);
        }
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT kind, value FROM return_passes WHERE brand_id = $1 AND pass_hash = $2 AND mac = $3 \
               AND expires_at > $4 AND revoked_at IS NULL",
        )
        .bind(&self.brand)
        .bind(hash)
        .bind(mac)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(kind, value)| Who { kind, value }))
    }

    /// Revokes every pass of `who` at every site of the brand; returns how many.
    pub async fn revoke_passes(&self, who: &Who) -> Result<u64, MembersError> {
        if let Some(hq) = &self.remote {
            return Ok(hq.revoke_passes(who).await?);
        }
        let done = sqlx::query(
            "UPDATE return_passes SET revoked_at = $4 WHERE brand_id = $1 AND kind = $2 AND value = $3 \
               AND revoked_at IS NULL",
        )
        .bind(&self.brand)
        .bind(&who.kind)
        .bind(&who.value)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Whether the member `who` names already holds a coupon of `rule`.
    pub async fn has_coupon(&self, who: &Who, rule: &str) -> Result<bool, MembersError> {
        if let Some(hq) = &self.remote {
            return Ok(hq.has_coupon(who, rule).await?);
        }
        let mut conn = self.pool.acquire().await?;
        let Some(member) = feed::member_of(&mut conn, &self.brand, who).await? else {
            return Ok(false);
        };
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM coupons WHERE brand_id = $1 AND member_id = $2 AND rule = $3")
                .bind(&self.brand)
                .bind(member)
                .bind(rule)
                .fetch_one(&mut *conn)
                .await?;
        Ok(n > 0)
    }
}

/// A card number as members carry it: 4 to 32 letters or digits.
pub fn valid_card(card: &str) -> bool {
    (4..=32).contains(&card.len()) && card.bytes().all(|b| b.is_ascii_alphanumeric())
}
