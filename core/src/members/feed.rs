//! The feed: delivers the outbox to the member store, in `seq` order (so
//! in order for each guest), in batches of one store transaction each.
//!
//! Exactly once: each fact's first write is its `events` row, keyed by the
//! fact's UUID with `ON CONFLICT DO NOTHING`; the rest of the fact (member,
//! identities, visit, coupon) is applied only when that row is new, in the
//! same transaction. The outbox rows are deleted after the store commits.
//! A crash between the two delivers the batch again and it lands once.
//!
//! A store that cannot be reached is retried with backoff (1 s doubling to
//! 15 s, each wait spread at random over its second half); logins never wait for it. A fact the store refuses on its own
//! (not the link) is retried five times, then parked and logged, so one bad
//! row cannot stop the feed.
//!
//! A site enrolled with headquarters delivers to HQ over HTTPS instead
//! ([`Sink::Hq`]): the same batches, the same order, and the same
//! exactly-once, since HQ files each fact with [`file_fact`] keyed by its
//! UUID. The site then never connects to PostgreSQL.
//!
//! Both file a batch with [`file_facts`]: the same result as [`file_fact`]
//! for each fact in order, in a few multi-row statements.

use super::outbox::{self, Fact};
use super::{Store, Who};
use crate::kit::time::now_ms;
use sqlx::{AnyConnection, SqlitePool};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tries of a fact the store refuses before it is parked.
const MAX_ATTEMPTS: i64 = 5;
/// The longest wait between tries while the store is unreachable.
/// Short enough that a site notices within seconds that the store (or HQ)
/// is back; the tries are spread (see [`spread`]) so a thousand sites
/// coming back do not all call in the same instant.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// How often an idle feed looks at the outbox.
const POLL: Duration = Duration::from_millis(200);

/// What the feed last saw, for `members feed status`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FeedState {
    /// The store has been prepared (schema, site registered).
    pub ready: bool,
    /// Facts delivered since start.
    pub delivered: u64,
    /// When the last batch landed, UTC ms.
    pub delivered_at: Option<i64>,
    /// The last failure, if the feed is failing now.
    pub error: Option<String>,
}

/// `members feed status`: the backlog and what the feed last saw.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FeedStatus {
    /// Engine and place (no credentials).
    pub store: String,
    /// Brand and site.
    pub brand: String,
    /// Site.
    pub site: String,
    /// The outbox.
    pub backlog: outbox::Backlog,
    /// The feed.
    pub feed: FeedState,
    /// When the card login's local copy of the cards was last refreshed, UTC ms.
    pub cards_cached_at: Option<i64>,
    /// The link to headquarters, when the site is enrolled.
    #[serde(default)]
    pub hq: Option<LinkState>,
}

/// Where the feed delivers.
#[derive(Clone)]
pub enum Sink {
    /// The member store itself (SQLite here, or a chain's PostgreSQL).
    Store,
    /// Headquarters, which files the facts in the chain's store.
    Hq(Arc<dyn super::Remote>),
}

/// Why a batch did not land.
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct Undelivered {
    /// The link (retry as it is), not the fact.
    pub link: bool,
    /// What went wrong.
    pub text: String,
}

impl From<sqlx::Error> for Undelivered {
    fn from(err: sqlx::Error) -> Self {
        Undelivered { link: is_link(&err), text: crate::error_chain(&err) }
    }
}

impl From<super::RemoteError> for Undelivered {
    fn from(err: super::RemoteError) -> Self {
        Undelivered { link: err.link, text: err.text }
    }
}

/// What the link to headquarters last saw, as the site console and
/// `controller hq status` show it (the controller's link tasks keep it).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LinkState {
    /// HQ's URL.
    pub url: String,
    /// Brand and site, as enrolled.
    pub brand: String,
    /// Site.
    pub site: String,
    /// Since when HQ has not answered, UTC ms (None: it answers).
    pub unreachable_since: Option<i64>,
    /// The last failure.
    pub error: Option<String>,
    /// The last call that worked, UTC ms.
    pub last_ok_at: Option<i64>,
    /// The bundle applied.
    pub bundle: String,
    /// When, UTC ms.
    pub bundle_applied_at: Option<i64>,
    /// The last bundle refused, and why (the last good one is kept).
    pub refused: Option<(String, String)>,
    /// The last heartbeat HQ took, UTC ms.
    pub heartbeat_at: Option<i64>,
}

/// The feed task's handle.
#[derive(Clone)]
pub struct Feed {
    store: Store,
    sink: Sink,
    /// What the link to HQ last saw (its tasks keep it), when enrolled.
    link: Option<Arc<Mutex<LinkState>>>,
    local: SqlitePool,
    batch: u32,
    state: Arc<Mutex<FeedState>>,
    wake: Arc<tokio::sync::Notify>,
    /// Brand name, site name and region, registered at start.
    register: Arc<(String, String, String)>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Feed {
    /// A feed from `local`'s outbox into `store`, `batch` facts a transaction.
    pub fn new(store: Store, local: SqlitePool, batch: u32, register: (String, String, String)) -> Self {
        Feed {
            store,
            sink: Sink::Store,
            link: None,
            local,
            batch: batch.max(1),
            state: Arc::default(),
            wake: Arc::default(),
            register: Arc::new(register),
            metrics: None,
        }
    }

    /// Delivers to `sink` instead of the store; HQ's link state shows in the status.
    pub fn with_sink(mut self, sink: Sink) -> Self {
        if matches!(sink, Sink::Hq(_)) {
            self.link = Some(Arc::default());
        }
        self.sink = sink;
        self
    }

    /// The link to HQ's state, which its tasks keep (None: not enrolled).
    pub fn link(&self) -> Option<Arc<Mutex<LinkState>>> {
        self.link.clone()
    }

    /// Where it delivers, for status: the store's place or HQ's.
    fn destination(&self) -> String {
        match &self.sink {
            Sink::Store => self.store.location.clone(),
            Sink::Hq(_) => "headquarters".into(),
        }
    }

    /// Keeps the backlog gauges and the delivered counter in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sets the backlog gauges (at most once a second, from the run loop).
    async fn gauges(&self) {
        let Some(metrics) = &self.metrics else { return };
        if let Ok(backlog) = outbox::backlog(&self.local).await {
            metrics.feed_waiting.set(backlog.waiting);
            metrics.feed_lag.set(backlog.lag_ms / 1000);
        }
    }

    /// Asks the feed to look at the outbox now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The backlog and the feed's state.
    pub async fn status(&self) -> Result<FeedStatus, sqlx::Error> {
        let feed = self.state.lock().unwrap().clone();
        Ok(FeedStatus {
            store: self.destination(),
            brand: self.store.brand.clone(),
            site: self.store.site.clone(),
            backlog: outbox::backlog(&self.local).await?,
            feed,
            cards_cached_at: super::cards::CardCache::new(self.local.clone()).refreshed_at().await?,
            hq: self.link.as_ref().map(|l| l.lock().unwrap().clone()),
        })
    }

    /// Runs until the process ends: prepares the store (retrying), then
    /// delivers.
    pub async fn run(self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let (brand, site, region) = &*self.register;
            // HQ registered the site when it enrolled it; the local store is
            // then only the card cache's and staff's.
            match self.store.prepare(brand, site, region).await {
                Ok(()) => break,
                Err(err) => {
                    self.failed(&err, backoff);
                    tokio::time::sleep(spread(backoff)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.state.lock().unwrap().ready = true;
        backoff = Duration::from_secs(1);
        let mut measured = std::time::Instant::now();
        loop {
            if measured.elapsed() >= Duration::from_secs(1) {
                self.gauges().await;
                measured = std::time::Instant::now();
            }
            match self.deliver_once().await {
                Ok(n) if n as u32 >= self.batch => continue,
                Ok(_) => {
                    backoff = Duration::from_secs(1);
                    let _ = tokio::time::timeout(POLL, self.wake.notified()).await;
                }
                Err(err) => {
                    self.failed(&err, backoff);
                    self.gauges().await;
                    tokio::time::sleep(spread(backoff)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn failed(&self, err: &dyn std::error::Error, retry: Duration) {
        let text = crate::error_chain(err);
        let mut state = self.state.lock().unwrap();
        if state.error.as_deref() != Some(text.as_str()) {
            tracing::warn!(error = %text, retry_seconds = retry.as_secs(), "member store unreachable: facts kept in the outbox");
        }
        state.error = Some(text);
    }

    /// Delivers one batch; returns how many facts it took off the outbox.
    pub async fn deliver_once(&self) -> Result<usize, FeedError> {
        let rows: Vec<(i64, String, i64, String)> =
            sqlx::query_as("SELECT seq, id, at, body FROM outbox WHERE parked = 0 ORDER BY seq LIMIT ?")
                .bind(self.batch)
                .fetch_all(&self.local)
                .await
                .map_err(FeedError::Local)?;
        if rows.is_empty() {
            self.state.lock().unwrap().error = None;
            return Ok(0);
        }
        match self.apply_batch(&rows).await {
            Ok(()) => {}
            Err(err) if err.link => return Err(FeedError::Store(err)),
            Err(err) if rows.len() == 1 => {
                let (seq, id, ..) = &rows[0];
                let attempts: i64 = sqlx::query_scalar(
                    "UPDATE outbox SET attempts = attempts + 1, parked = (attempts + 1 >= ?) WHERE seq = ? RETURNING attempts",
                )
                .bind(MAX_ATTEMPTS)
                .bind(seq)
                .fetch_one(&self.local)
                .await
                .map_err(FeedError::Local)?;
                tracing::error!(event = %id, attempts, parked = attempts >= MAX_ATTEMPTS, error = %err, "member store refused a fact");
                return Err(FeedError::Store(err));
            }
            Err(_) => {
                // One fact spoils the batch: deliver them one at a time, in order.
                let mut done = 0;
                for row in &rows {
                    match self.apply_batch(std::slice::from_ref(row)).await {
                        Ok(()) => {
                            self.delivered(&[row.0]).await?;
                            done += 1;
                        }
                        Err(err) => {
                            if !err.link {
                                sqlx::query(
                                    "UPDATE outbox SET attempts = attempts + 1, parked = (attempts + 1 >= ?) WHERE seq = ?",
                                )
                                .bind(MAX_ATTEMPTS)
                                .bind(row.0)
                                .execute(&self.local)
                                .await
                                .map_err(FeedError::Local)?;
                                tracing::error!(event = %row.1, error = %err, "member store refused a fact");
                            }
                            return Err(FeedError::Store(err));
                        }
                    }
                }
                return Ok(done);
            }
        }
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
        self.delivered(&seqs).await?;
        Ok(rows.len())
    }

    async fn delivered(&self, seqs: &[i64]) -> Result<(), FeedError> {
        let first = seqs[0];
        let last = seqs[seqs.len() - 1];
        sqlx::query("DELETE FROM outbox WHERE seq >= ? AND seq <= ? AND parked = 0")
            .bind(first)
            .bind(last)
            .execute(&self.local)
            .await
            .map_err(FeedError::Local)?;
        if let Some(metrics) = &self.metrics {
            metrics.feed_delivered.inc_by(seqs.len() as u64);
        }
        let mut state = self.state.lock().unwrap();
        state.delivered += seqs.len() as u64;
        state.delivered_at = Some(now_ms());
        state.error = None;
        Ok(())
    }

    async fn apply_batch(&self, rows: &[(i64, String, i64, String)]) -> Result<(), Undelivered> {
        if let Sink::Hq(remote) = &self.sink {
            let facts = rows.iter().map(|(_, id, at, body)| (id.clone(), *at, body.clone())).collect();
            return match remote.facts(facts).await? {
                None => Ok(()),
                Some((id, why)) => Err(Undelivered { link: false, text: format!("HQ refused fact {id}: {why}") }),
            };
        }
        let mut facts = Vec::with_capacity(rows.len());
        for (_, _, _, body) in rows {
            match serde_json::from_str::<Fact>(body) {
                Ok(f) => facts.push(f),
                Err(e) => return Err(sqlx::Error::Decode(Box::new(e)).into()),
            }
        }
        let filings: Vec<Filing<'_>> =
            rows.iter().zip(&facts).map(|((_, id, at, _), fact)| Filing { id, at: *at, fact }).collect();
        let mut tx = self.store.pool().begin().await?;
        file_facts(&mut tx, &self.store.brand, &self.store.site, now_ms(), &filings).await?;
        Ok(tx.commit().await?)
    }
}

/// A wait of between half and all of `backoff`, at random.
fn spread(backoff: Duration) -> Duration {
    use rand::Rng;
    backoff.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The member store (or HQ) failed or could not be reached.
    #[error("member store")]
    Store(#[source] Undelivered),
    /// The local outbox failed.
    #[error("local outbox")]
    Local(#[source] sqlx::Error),
}

/// The link, not the fact: worth retrying as it is.
pub fn is_link(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL (5 characters): connection (08), resources (53),
            // shutdown (57), serialization and deadlock (40001, 40P01).
            let postgres = code.len() == 5
                && (["08", "53", "57"].iter().any(|class| code.starts_with(class))
                    || code == "40001"
                    || code == "40P01");
            // SQLite (a number): busy or locked, any extended code.
            let sqlite = code.len() <= 4 && code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
            postgres || sqlite
        }
        _ => false,
    }
}

/// Files one fact about `site` of `brand`. Its `events` row comes first: if
/// it is already there the fact was delivered before, and nothing else is
/// done. The feed and HQ both file with this.
pub async fn file_fact(
    tx: &mut AnyConnection,
    brand: &str,
    site: &str,
    id: &str,
    at: i64,
    landed: i64,
    fact: &Fact,
) -> Result<(), sqlx::Error> {
    let (who, mac, detail) = event_of(fact);
    if erased(tx, brand, who, mac, at).await? {
        return Ok(());
    }
    let new = sqlx::query(
        "INSERT INTO events (brand_id, event_id, site_id, kind, identity_kind, identity_value, mac, at, landed_at, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(brand)
    .bind(id)
    .bind(site)
    .bind(fact.kind())
    .bind(who.map_or("", |w| w.kind.as_str()))
    .bind(who.map_or("", |w| w.value.as_str()))
    .bind(mac)
    .bind(at)
    .bind(landed)
    .bind(&detail)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if new == 0 {
        return Ok(());
    }
    apply(tx, brand, site, at, fact).await
}

/// A fact's `events` row: who it is about, the device, the detail.
type EventRow<'a> = (Option<&'a Who>, &'a str, String);

/// The `events` row of `fact`.
fn event_of(fact: &Fact) -> EventRow<'_> {
    match fact {
        Fact::Login { who, mac, method, .. } => (Some(who), mac, method.clone()),
        Fact::VisitEnd { visit, reason, .. } => (None, "", format!("{visit} {reason}")),
        Fact::Event { who, mac, detail, .. } => (who.as_ref(), mac, detail.clone()),
        Fact::Coupon { who, rule, .. } => (Some(who), "", rule.clone()),
        Fact::Pass { who, mac, .. } => (Some(who), mac, String::new()),
    }
}

/// What a fact does besides its `events` row, once that row is new.
async fn apply(tx: &mut AnyConnection, brand: &str, site: &str, at: i64, fact: &Fact) -> Result<(), sqlx::Error> {
    match fact {
        Fact::Login { visit, who, mac, method, started_at } => {
            let member = if who.is_personal() { member_for(tx, brand, who, at).await? } else { None };
            let member = match member {
                Some(m) => Some(m),
                None => member_of(tx, brand, who).await?,
            };
            identity(tx, brand, site, who, member.as_deref(), at).await?;
            if who.kind != "device" {
                identity(tx, brand, site, &Who::device(mac), member.as_deref(), at).await?;
            }
            sqlx::query(
                "INSERT INTO visits (brand_id, visit_id, site_id, identity_kind, identity_value, mac, method, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(brand)
            .bind(visit)
            .bind(site)
            .bind(&who.kind)
            .bind(&who.value)
            .bind(mac)
            .bind(method)
            .bind(started_at)
            .execute(&mut *tx)
            .await?;
        }
        Fact::VisitEnd { visit, ended_at, reason, bytes_up, zones } => {
            // The zones stay with the visit only when its member consented to it.
            sqlx::query(
                "UPDATE visits SET ended_at = $3, end_reason = $4, bytes_up = $5, aps = CASE WHEN EXISTS ( \
                 SELECT 1 FROM identities i JOIN members m ON m.brand_id = i.brand_id AND m.member_id = i.member_id \
                 WHERE i.brand_id = visits.brand_id AND i.kind = visits.identity_kind \
                 AND i.value = visits.identity_value AND m.places_consent = 1) THEN $6 ELSE '' END \
                 WHERE brand_id = $1 AND visit_id = $2",
            )
            .bind(brand)
            .bind(visit)
            .bind(ended_at)
            .bind(reason)
            .bind(bytes_up)
            .bind(zones)
            .execute(&mut *tx)
            .await?;
        }
        Fact::Event { kind, who: Some(who), .. } if kind == "consent_places" => {
            if let Some(member) = member_for(tx, brand, who, at).await? {
                sqlx::query(
                    "UPDATE members SET places_consent = 1, places_consent_at = $3 WHERE brand_id = $1 AND member_id = $2",
                )
                .bind(brand)
                .bind(member)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        Fact::Event { kind, who: Some(who), detail, .. } if kind == "consent" => {
            if let Some(member) = member_for(tx, brand, who, at).await? {
                sqlx::query(
                    "UPDATE members SET consent = 1, consent_version = $3, consent_at = $4 WHERE brand_id = $1 AND member_id = $2",
                )
                .bind(brand)
                .bind(member)
                .bind(detail)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        Fact::Event { .. } => {}
        Fact::Pass { hash, who, mac, expires_at } => {
            sqlx::query(
                "INSERT INTO return_passes (brand_id, pass_hash, site_id, kind, value, mac, issued_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(brand)
            .bind(hash)
            .bind(site)
            .bind(&who.kind)
            .bind(&who.value)
            .bind(mac)
            .bind(at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        }
        Fact::Coupon { who, rule, kind, value_cents, valid_until } => {
            if let Some(member) = member_for(tx, brand, who, at).await? {
                let coupon =
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{brand}/{member}/{rule}").as_bytes());
                sqlx::query(
                    "INSERT INTO coupons (brand_id, coupon_id, member_id, kind, value_cents, rule, site_id, issued_at, valid_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                )
                .bind(brand)
                .bind(coupon.to_string())
                .bind(member)
                .bind(kind)
                .bind(value_cents)
                .bind(rule)
                .bind(site)
                .bind(at)
                .bind(valid_until)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// A fact to file with [`file_facts`]: its UUID, when it happened, what.
pub struct Filing<'a> {
    /// The fact's UUID (its `events` key).
    pub id: &'a str,
    /// When it happened.
    pub at: i64,
    /// The fact.
    pub fact: &'a Fact,
}

/// Rows a multi-row statement takes at a time (its binds stay far below
/// SQLite's and PostgreSQL's limits).
const ROWS_A_STATEMENT: usize = 500;

/// Files a batch of facts about `site` of `brand`, in order, each once:
/// what [`file_fact`] does for each, in a handful of statements instead of
/// about five a fact. One look at the erasures newer than the oldest fact;
/// the `events` rows in multi-row inserts that return which are new; the
/// device logins among the new ones (most of a site's facts) as multi-row
/// upserts of their identities and inserts of their visits, written before
/// any other fact that needs them applied; every other new fact as
/// [`file_fact`] applies it.
pub async fn file_facts(
    tx: &mut AnyConnection,
    brand: &str,
    site: &str,
    landed: i64,
    facts: &[Filing<'_>],
) -> Result<(), sqlx::Error> {
    let Some(oldest) = facts.iter().map(|f| f.at).min() else {
        return Ok(());
    };
    let erasures: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, value, erased_at FROM erasures WHERE brand_id = $1 AND erased_at >= $2")
            .bind(brand)
            .bind(oldest)
            .fetch_all(&mut *tx)
            .await?;
    let kept: Vec<(&Filing<'_>, EventRow<'_>)> = facts
        .iter()
        .map(|f| (f, event_of(f.fact)))
        .filter(|(f, (who, mac, _))| {
            !erasures.iter().any(|(kind, value, erased_at)| {
                *erased_at >= f.at
                    && (who.is_some_and(|w| &w.kind == kind && &w.value == value) || (kind == "device" && value == mac))
            })
        })
        .collect();
    let mut new = std::collections::HashSet::new();
    for chunk in kept.chunks(ROWS_A_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (brand_id, event_id, site_id, kind, identity_kind, identity_value, mac, at, landed_at, detail) \
             VALUES {} ON CONFLICT DO NOTHING RETURNING event_id",
            placeholders(chunk.len(), 10)
        );
        let mut insert = sqlx::query_scalar::<_, String>(&sql);
        for (f, (who, mac, detail)) in chunk {
            insert = insert
                .bind(brand)
                .bind(f.id)
                .bind(site)
                .bind(f.fact.kind())
                .bind(who.map_or("", |w| w.kind.as_str()))
                .bind(who.map_or("", |w| w.value.as_str()))
                .bind(*mac)
                .bind(f.at)
                .bind(landed)
                .bind(detail.as_str());
        }
        new.extend(insert.fetch_all(&mut *tx).await?);
    }
    let mut devices = DeviceLogins::default();
    for (f, _) in kept.iter().filter(|(f, _)| new.contains(f.id)) {
        match f.fact {
            Fact::Login { who, .. } if who.kind == "device" => devices.push(f.fact, f.at),
            // A portal event is its row and nothing else.
            Fact::Event { kind, .. } if kind != "consent" && kind != "consent_places" => {}
            _ => {
                devices.write(tx, brand, site).await?;
                apply(tx, brand, site, f.at, f.fact).await?;
            }
        }
    }
    devices.write(tx, brand, site).await
}

/// `($1, ..., $k), ($k+1, ...)`: `rows` rows of `columns` binds.
pub fn placeholders(rows: usize, columns: usize) -> String {
    let row = |r: usize| {
        format!("({})", (1..=columns).map(|c| format!("${}", r * columns + c)).collect::<Vec<_>>().join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// Device logins waiting to be written together: a device's identity row
/// (first and last seen in the batch; a device login links no member, so
/// the upsert keeps whatever member the row has) and each visit.
#[derive(Default)]
struct DeviceLogins<'a> {
    /// By MAC: first and last seen.
    seen: std::collections::BTreeMap<&'a str, (i64, i64)>,
    visits: Vec<&'a Fact>,
}

impl<'a> DeviceLogins<'a> {
    fn push(&mut self, fact: &'a Fact, at: i64) {
        if let Fact::Login { who, .. } = fact {
            let seen = self.seen.entry(who.value.as_str()).or_insert((at, at));
            *seen = (seen.0.min(at), seen.1.max(at));
            self.visits.push(fact);
        }
    }

    async fn write(&mut self, tx: &mut AnyConnection, brand: &str, site: &str) -> Result<(), sqlx::Error> {
        let seen: Vec<_> = std::mem::take(&mut self.seen).into_iter().collect();
        for chunk in seen.chunks(ROWS_A_STATEMENT) {
            let sql = format!(
                "INSERT INTO identities (brand_id, kind, value, member_id, first_seen_at, last_seen_at, last_site_id) \
                 VALUES {} ON CONFLICT (brand_id, kind, value) DO UPDATE SET \
                 last_site_id = CASE WHEN excluded.last_seen_at >= identities.last_seen_at THEN excluded.last_site_id ELSE identities.last_site_id END, \
                 last_seen_at = CASE WHEN excluded.last_seen_at > identities.last_seen_at THEN excluded.last_seen_at ELSE identities.last_seen_at END",
                placeholders(chunk.len(), 7)
            );
            let mut upsert = sqlx::query(&sql);
            for (mac, (first, last)) in chunk {
                upsert = upsert
                    .bind(brand)
                    .bind("device")
                    .bind(*mac)
                    .bind(None::<String>)
                    .bind(*first)
                    .bind(*last)
                    .bind(site);
            }
            upsert.execute(&mut *tx).await?;
        }
        let visits = std::mem::take(&mut self.visits);
        for chunk in visits.chunks(ROWS_A_STATEMENT) {
            let sql = format!(
                "INSERT INTO visits (brand_id, visit_id, site_id, identity_kind, identity_value, mac, method, started_at) \
                 VALUES {} ON CONFLICT DO NOTHING",
                placeholders(chunk.len(), 8)
            );
            let mut insert = sqlx::query(&sql);
            for fact in chunk {
                if let Fact::Login { visit, who, mac, method, started_at } = fact {
                    insert = insert
                        .bind(brand)
                        .bind(visit.as_str())
                        .bind(site)
                        .bind(who.kind.as_str())
                        .bind(who.value.as_str())
                        .bind(mac.as_str())
                        .bind(method.as_str())
                        .bind(*started_at);
                }
            }
            insert.execute(&mut *tx).await?;
        }
        Ok(())
    }
}

/// Whether the fact is about an identity (or device) erased after it happened.
async fn erased(
    tx: &mut AnyConnection,
    brand: &str,
    who: Option<&Who>,
    mac: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM erasures WHERE brand_id = $1 AND erased_at >= $5 \
         AND ((kind = $2 AND value = $3) OR (kind = 'device' AND value = $4))",
    )
    .bind(brand)
    .bind(who.map_or("", |w| w.kind.as_str()))
    .bind(who.map_or("", |w| w.value.as_str()))
    .bind(mac)
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    Ok(n > 0)
}

/// The member a personal identity names, made if it is a phone or openid
/// the store has not seen; first and last seen brought forward.
async fn member_for(tx: &mut AnyConnection, brand: &str, who: &Who, at: i64) -> Result<Option<String>, sqlx::Error> {
    let column = match who.kind.as_str() {
        "phone" => "phone",
        "wechat" => "openid",
        _ => return member_of(tx, brand, who).await,
    };
    sqlx::query(&format!(
        "INSERT INTO members (brand_id, member_id, {column}, first_seen_at, last_seen_at, created_at) \
         VALUES ($1, $2, $3, $4, $4, $4) ON CONFLICT DO NOTHING"
    ))
    .bind(brand)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&who.value)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    let member = member_of(tx, brand, who).await?;
    if let Some(m) = &member {
        sqlx::query(
            "UPDATE members SET first_seen_at = CASE WHEN first_seen_at IS NULL OR first_seen_at > $3 THEN $3 ELSE first_seen_at END, \
             last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < $3 THEN $3 ELSE last_seen_at END \
             WHERE brand_id = $1 AND member_id = $2",
        )
        .bind(brand)
        .bind(m)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(member)
}

/// The member an identity names, if the store knows one.
pub(super) async fn member_of(conn: &mut AnyConnection, brand: &str, who: &Who) -> Result<Option<String>, sqlx::Error> {
    let sql = match who.kind.as_str() {
        "phone" => "SELECT member_id FROM members WHERE brand_id = $1 AND phone = $3 AND $2 = 'phone'",
        "wechat" => "SELECT member_id FROM members WHERE brand_id = $1 AND openid = $3 AND $2 = 'wechat'",
        "card" => "SELECT member_id FROM cards WHERE brand_id = $1 AND card_no = $3 AND $2 = 'card'",
        _ => "SELECT member_id FROM identities WHERE brand_id = $1 AND kind = $2 AND value = $3 AND member_id IS NOT NULL",
    };
    sqlx::query_scalar(sql).bind(brand).bind(&who.kind).bind(&who.value).fetch_optional(&mut *conn).await
}

/// Records that `who` was seen at `site`, linked to `member` when known.
async fn identity(
    tx: &mut AnyConnection,
    brand: &str,
    site: &str,
    who: &Who,
    member: Option<&str>,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO identities (brand_id, kind, value, member_id, first_seen_at, last_seen_at, last_site_id) \
         VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (brand_id, kind, value) DO UPDATE SET \
         member_id = COALESCE(excluded.member_id, identities.member_id), \
         last_site_id = CASE WHEN excluded.last_seen_at >= identities.last_seen_at THEN excluded.last_site_id ELSE identities.last_site_id END, \
         last_seen_at = CASE WHEN excluded.last_seen_at > identities.last_seen_at THEN excluded.last_seen_at ELSE identities.last_seen_at END",
    )
    .bind(brand)
    .bind(&who.kind)
    .bind(&who.value)
    .bind(member)
    .bind(at)
    .bind(site)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(visit: &str, who: Who, mac: &str, at: i64) -> Fact {
        Fact::Login { visit: visit.into(), who, mac: mac.into(), method: "countdown".into(), started_at: at }
    }

    /// A day at a site: device logins and portal views, a phone login on a
    /// device seen before, a consent, a coupon, a visit's end, a device
    /// erased after its login, and a fact delivered twice.
    fn day() -> Vec<(String, i64, Fact)> {
        let phone = Who { kind: "phone".into(), value: "+8613800138000".into() };
        let view =
            |mac: &str| Fact::Event { kind: "portal_view".into(), who: None, mac: mac.into(), detail: String::new() };
        let facts = vec![
            (1_000, login("v1", Who::device("02:00:00:00:00:01"), "02:00:00:00:00:01", 1_000)),
            (1_001, view("02:00:00:00:00:01")),
            (1_002, login("v2", Who::device("02:00:00:00:00:02"), "02:00:00:00:00:02", 1_002)),
            (
                1_003,
                Fact::VisitEnd {
                    visit: "v1".into(),
                    ended_at: 1_003,
                    reason: "logout".into(),
                    bytes_up: 7,
                    zones: "大堂 12m (ap-1)".into(),
                },
            ),
            (1_004, login("v3", phone.clone(), "02:00:00:00:00:01", 1_004)),
            (
                1_005,
                Fact::Event {
                    kind: "consent".into(),
                    who: Some(phone.clone()),
                    mac: "02:00:00:00:00:01".into(),
                    detail: "v2".into(),
                },
            ),
            (1_006, login("v4", Who::device("02:00:00:00:00:01"), "02:00:00:00:00:01", 1_006)),
            (1_007, login("v5", Who::device("02:00:00:00:00:03"), "02:00:00:00:00:03", 1_007)),
            (
                1_008,
                Fact::Coupon {
                    who: phone,
                    rule: "welcome".into(),
                    kind: "cash".into(),
                    value_cents: 500,
                    valid_until: 9_000,
                },
            ),
            (1_009, login("v6", Who::device("02:00:00:00:00:02"), "02:00:00:00:00:02", 1_009)),
        ];
        let mut facts: Vec<(String, i64, Fact)> = facts
            .into_iter()
            .enumerate()
            .map(|(i, (at, f))| (format!("00000000-0000-4000-8000-{i:012}"), at, f))
            .collect();
        let again = facts[2].clone();
        facts.push(again);
        facts
    }

    async fn store(dir: &std::path::Path) -> Store {
        let store = Store::connect(&Default::default(), dir).unwrap();
        store.prepare("B", "S", "r").await.unwrap();
        // Device 3 was erased after its login: nothing of it is filed.
        sqlx::query(
            "INSERT INTO erasures (brand_id, kind, value, erased_at) VALUES ($1, 'device', '02:00:00:00:00:03', 5000)",
        )
        .bind(&store.brand)
        .execute(store.pool())
        .await
        .unwrap();
        store
    }

    async fn dump(store: &Store) -> Vec<String> {
        let mut rows = Vec::new();
        for sql in [
            "SELECT event_id || ' ' || kind || ' ' || identity_kind || ' ' || mac || ' ' || detail FROM events ORDER BY event_id",
            "SELECT visit_id || ' ' || identity_kind || ' ' || mac || ' ' || COALESCE(ended_at, -1) || ' ' || COALESCE(bytes_up, -1) FROM visits ORDER BY visit_id",
            "SELECT kind || ' ' || value || ' ' || (member_id IS NOT NULL) || ' ' || first_seen_at || ' ' || last_seen_at FROM identities ORDER BY kind, value",
            "SELECT phone || ' ' || consent || ' ' || first_seen_at || ' ' || last_seen_at FROM members ORDER BY phone",
            "SELECT rule || ' ' || value_cents FROM coupons ORDER BY rule",
        ] {
            let got: Vec<String> = sqlx::query_scalar(sql).fetch_all(store.pool()).await.unwrap();
            rows.push(got.join("\n"));
        }
        rows
    }

    #[tokio::test]
    async fn a_batch_files_what_each_fact_alone_would_and_once() {
        let facts = day();
        let (one, batch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (one, batch) = (store(one.path()).await, store(batch.path()).await);
        let brand = one.brand.clone();
        let mut tx = one.pool().begin().await.unwrap();
        for (id, at, fact) in &facts {
            file_fact(&mut tx, &brand, "S", id, *at, 1, fact).await.unwrap();
        }
        tx.commit().await.unwrap();
        let filings: Vec<Filing<'_>> = facts.iter().map(|(id, at, fact)| Filing { id, at: *at, fact }).collect();
        for _ in 0..2 {
            // The second time: a batch delivered again lands once.
            let mut tx = batch.pool().begin().await.unwrap();
            file_facts(&mut tx, &brand, "S", 1, &filings).await.unwrap();
            tx.commit().await.unwrap();
        }
        let (expected, got) = (dump(&one).await, dump(&batch).await);
        assert_eq!(got, expected);
        assert_eq!(got[0].lines().count(), 9, "ten facts, the erased device's one left out: {}", got[0]);
        assert!(got[1].contains("v1 device 02:00:00:00:00:01 1003 7"), "the end reached its visit: {}", got[1]);
        assert!(got[2].contains("device 02:00:00:00:00:01 1 1000 1006"), "the device, its member kept: {}", got[2]);
        assert!(got[3].contains("1"), "the consent: {}", got[3]);
    }

    #[tokio::test]
    async fn a_visit_keeps_its_zones_only_for_a_member_who_consented_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let brand = store.brand.clone();
        let (yes, no) = (
            Who { kind: "phone".into(), value: "+8613800138001".into() },
            Who { kind: "phone".into(), value: "+8613800138002".into() },
        );
        let end = |visit: &str| Fact::VisitEnd {
            visit: visit.into(),
            ended_at: 2_000,
            reason: "logout".into(),
            bytes_up: 1,
            zones: "包间 40m (ap-3)".into(),
        };
        let places = |who: &Who| Fact::Event {
            kind: "consent_places".into(),
            who: Some(who.clone()),
            mac: String::new(),
            detail: "v2".into(),
        };
        // Only the first member ticks the box; the second ticks the offers' one alone.
        let offers =
            Fact::Event { kind: "consent".into(), who: Some(no.clone()), mac: String::new(), detail: "v2".into() };
        let facts = [
            login("y", yes.clone(), "02:00:00:00:01:01", 1_000),
            login("n", no.clone(), "02:00:00:00:01:02", 1_000),
            login("d", Who::device("02:00:00:00:01:03"), "02:00:00:00:01:03", 1_000),
            places(&yes),
            offers,
            end("y"),
            end("n"),
            end("d"),
        ];
        let ids: Vec<String> = (0..facts.len()).map(|i| format!("00000000-0000-4000-8000-{:012}", 100 + i)).collect();
        let filings: Vec<Filing<'_>> =
            facts.iter().zip(&ids).map(|(fact, id)| Filing { id, at: 1_500, fact }).collect();
        let mut tx = store.pool().begin().await.unwrap();
        file_facts(&mut tx, &brand, "S", 1, &filings).await.unwrap();
        tx.commit().await.unwrap();
        let aps: Vec<String> = sqlx::query_scalar("SELECT visit_id || '=' || aps FROM visits ORDER BY visit_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(aps, ["d=", "n=", "y=包间 40m (ap-3)"]);
        let details: Vec<String> = sqlx::query_scalar("SELECT detail FROM events WHERE kind = 'visit_end'")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(details.iter().all(|d| !d.contains("包间")), "the zones never reach the events: {details:?}");
    }
}
