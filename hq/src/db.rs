//! HQ's store: the chain's PostgreSQL, through the same sqlx `Any` driver
//! the member store uses (so HQ files facts with the feed's own
//! [`file_fact`]). Every query here is keyed by brand first.

use crate::blocks::{check_block, publish_in};
use crate::bundle::{compose_bundle, BlockRow};
use crate::ca::Ca;
use guestwifi_core::hq::protocol::{
    self, Applied, Bundle, Claim, EnrolRequest, EnrolResponse, FactsAnswer, Heartbeat, Scope, WireFact,
};
use guestwifi_core::kit::time::now_ms;
use guestwifi_core::members::feed::{file_fact, file_facts, is_link, Filing};
use guestwifi_core::members::outbox::Fact;
use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::time::Duration;

/// The channel every change a site's bundle may see is notified on (its
/// payload: the brand).
pub const CHANNEL: &str = "hq_bundle";
/// Wrong proofs after which a claim is dead.
const CLAIM_TRIES: i64 = 5;

/// A site as its certificate names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteRef {
    /// Brand id.
    pub brand: String,
    /// Site id.
    pub site: String,
    /// Region id.
    pub region: String,
}

/// Why enrolment said no (the site sees one message for all of them).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No such claim, used, expired, dead, or a wrong proof.
    #[error("the claim code is not valid (used, expired or wrong)")]
    Claim(&'static str),
    /// The store.
    #[error("store")]
    Store(#[from] sqlx::Error),
    /// Issuing the certificate.
    #[error("certificate")]
    Cert(#[from] anyhow::Error),
}

/// A site as `site list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SiteRow {
    /// Brand.
    pub brand: String,
    /// Site.
    pub site: String,
    /// Region.
    pub region: String,
    /// Name.
    pub name: String,
    /// `pending`, `enrolled`, `revoked`.
    pub state: String,
    /// The bundle it applied last.
    pub applied: String,
    /// The last bundle it refused, and why.
    pub refused: String,
    /// Last heartbeat, UTC ms.
    pub heartbeat_at: Option<i64>,
    /// Guests online then.
    pub guests_online: i64,
    /// APs online then, of all.
    pub aps: (i64, i64),
    /// Facts waiting at the site then, and the oldest's age, ms.
    pub backlog: (i64, i64),
    /// The controller's version it said last.
    pub software: String,
    /// When it applied its bundle last, UTC ms.
    pub applied_at: Option<i64>,
    /// When it refused one last, UTC ms, and why.
    pub refused_at: Option<i64>,
    /// Why.
    pub refused_why: String,
}

/// The store.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// The URL with credentials (for LISTEN); never logged.
    url: String,
    /// Without credentials, for logs.
    pub location: String,
}

impl Db {
    /// Connects lazily (HQ starts while PostgreSQL is down, and says so).
    pub fn connect(config: &crate::config::Database) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let password = match &config.password_file {
            Some(file) => Some(guestwifi_core::kit::secrets::read_private(file).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let (url, location) =
            guestwifi_core::members::url::connect_url(&config.url, password.as_deref(), config.ca_file.as_deref())
                .map_err(|_| anyhow::anyhow!("database.url is not a PostgreSQL URL"))?;
        anyhow::ensure!(url.starts_with("postgres"), "database.url: HQ runs on PostgreSQL");
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(&url)?;
        Ok(Db { pool, url, location })
    }

    /// The URL LISTEN connects with.
    pub fn listen_url(&self) -> &str {
        &self.url
    }

    /// The pool (tests count rows through it).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Brings both schemas up to date: the member store's and HQ's. Safe
    /// from every replica at once (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        guestwifi_core::members::migrator().run(&self.pool).await?;
        let mut own = sqlx::migrate!("./migrations");
        own.set_ignore_missing(true);
        own.run(&self.pool).await?;
        Ok(())
    }

    async fn notify(&self, brand: &str) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS n")
            .bind(CHANNEL)
            .bind(brand)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Adds a site (and its brand and region) and gives it a claim code;
    /// a site the member store already knows (a chain that fed PostgreSQL
    /// directly before HQ) keeps its id and history.
    pub async fn add_site(
        &self,
        brand: &str,
        brand_name: &str,
        region: &str,
        site: &str,
        name: &str,
        code_hours: u64,
    ) -> anyhow::Result<(Claim, i64)> {
        for (what, id) in [("brand", brand), ("site", site), ("region", region)] {
            anyhow::ensure!(
                id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{what} id {id:?}: letters, digits, - and _ only"
            );
        }
        anyhow::ensure!(!brand.is_empty() && !site.is_empty(), "a brand and a site id are needed");
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let known = site_state(&mut tx, brand, site).await?;
        anyhow::ensure!(known.is_none(), "site {brand}/{site} exists: `site code` gives it a new claim code");
        sqlx::query("INSERT INTO brands (brand_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(brand)
            .bind(if brand_name.is_empty() { brand } else { brand_name })
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if !region.is_empty() {
            sqlx::query("INSERT INTO regions (brand_id, region_id, name) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING")
                .bind(brand)
                .bind(region)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO sites (brand_id, site_id, region_id, name, registered_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (brand_id, site_id) DO UPDATE \
             SET name = excluded.name, region_id = excluded.region_id",
        )
        .bind(brand)
        .bind(site)
        .bind(region)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        at_site(
            &mut tx,
            "INSERT INTO hq_sites (brand_id, site_id, state, created_at) VALUES ($1, $2, 'pending', $3)",
            brand,
            site,
            now,
        )
        .await?;
        let claim = claim_in(&mut tx, brand, site, code_hours).await?;
        tx.commit().await?;
        Ok(claim)
    }

    /// A new claim code for a known site (the earlier unused ones die).
    pub async fn new_claim(&self, brand: &str, site: &str, code_hours: u64) -> anyhow::Result<(Claim, i64)> {
        let mut tx = self.pool.begin().await?;
        let known = site_state(&mut tx, brand, site).await?;
        anyhow::ensure!(known.is_some(), "no site {brand}/{site}");
        let claim = claim_in(&mut tx, brand, site, code_hours).await?;
        tx.commit().await?;
        Ok(claim)
    }

    /// Enrols the site a claim names: checks the proof against this CA,
    /// uses the claim, issues the certificate (the site's earlier ones stop
    /// working), all in one transaction.
    pub async fn enrol(&self, request: &EnrolRequest, ca: &Ca) -> Result<EnrolResponse, Refusal> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, String, String, i64, Option<i64>, i64)> = sqlx::query_as(
            "SELECT brand_id, site_id, key, expires_at, used_at, wrong_tries FROM hq_claims WHERE claim_id = $1 FOR UPDATE",
        )
        .bind(&request.claim)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((brand, site, key, expires_at, used_at, wrong_tries)) = row else {
            return Err(Refusal::Claim("no such claim"));
        };
        if used_at.is_some() {
            return Err(Refusal::Claim("claim used already"));
        }
        if expires_at <= now || wrong_tries >= CLAIM_TRIES {
            return Err(Refusal::Claim("claim expired or dead"));
        }
        let expected = protocol::enrol_proof(&key, &request.claim, &ca.fingerprint, &request.public_key_pem);
        if !guestwifi_core::kit::secrets::same_secret(&request.proof, &expected) {
            sqlx::query("UPDATE hq_claims SET wrong_tries = wrong_tries + 1 WHERE claim_id = $1")
                .bind(&request.claim)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Err(Refusal::Claim("wrong proof"));
        }
        let (cert_pem, fingerprint) = ca.issue_site(&brand, &site, &request.public_key_pem)?;
        sqlx::query("UPDATE hq_claims SET used_at = $2 WHERE claim_id = $1")
            .bind(&request.claim)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        at_site(
            &mut tx,
            "UPDATE hq_certs SET revoked_at = $3 WHERE brand_id = $1 AND site_id = $2 AND revoked_at IS NULL",
            &brand,
            &site,
            now,
        )
        .await?;
        sqlx::query("INSERT INTO hq_certs (fingerprint, brand_id, site_id, issued_at) VALUES ($1, $2, $3, $4)")
            .bind(&fingerprint)
            .bind(&brand)
            .bind(&site)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE hq_sites SET state = 'enrolled', enrolled_at = $3, revoked_at = NULL WHERE brand_id = $1 AND site_id = $2",
        )
        .bind(&brand)
        .bind(&site)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let (region, name): (String, String) =
            sqlx::query_as("SELECT region_id, name FROM sites WHERE brand_id = $1 AND site_id = $2")
                .bind(&brand)
                .bind(&site)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        let proof = protocol::issued_proof(&key, &request.claim, &cert_pem);
        Ok(EnrolResponse { cert_pem, brand, site, region, name, proof })
    }

    /// The enrolled site a certificate names; None for an unknown,
    /// replaced or revoked one.
    pub async fn site_of(&self, fingerprint: &str) -> Result<Option<SiteRef>, sqlx::Error> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT c.brand_id, c.site_id, s.region_id FROM hq_certs c \
             JOIN hq_sites h ON h.brand_id = c.brand_id AND h.site_id = c.site_id \
             JOIN sites s ON s.brand_id = c.brand_id AND s.site_id = c.site_id \
             WHERE c.fingerprint = $1 AND c.revoked_at IS NULL AND h.state = 'enrolled'",
        )
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(brand, site, region)| SiteRef { brand, site, region }))
    }

    /// Revokes a site (a stolen appliance): its certificates and unused
    /// claims stop working at once; a new claim enrols it again.
    pub async fn revoke(&self, brand: &str, site: &str) -> anyhow::Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let done = at_site(
            &mut tx,
            "UPDATE hq_sites SET state = 'revoked', revoked_at = $3 WHERE brand_id = $1 AND site_id = $2",
            brand,
            site,
            now,
        )
        .await?;
        anyhow::ensure!(done == 1, "no site {brand}/{site}");
        at_site(
            &mut tx,
            "UPDATE hq_certs SET revoked_at = $3 WHERE brand_id = $1 AND site_id = $2 AND revoked_at IS NULL",
            brand,
            site,
            now,
        )
        .await?;
        at_site(
            &mut tx,
            "UPDATE hq_claims SET expires_at = $3 WHERE brand_id = $1 AND site_id = $2 AND used_at IS NULL",
            brand,
            site,
            now,
        )
        .await?;
        tx.commit().await?;
        self.notify(brand).await?;
        Ok(())
    }

    /// Files a batch of facts about `site`, in one transaction, each once
    /// (its UUID is the key), with the feed's multi-row filing. A fact HQ
    /// cannot file on its own is named in the answer and nothing of the
    /// batch is kept; the link's failures are errors (the site retries the
    /// batch).
    pub async fn file_facts(&self, site: &SiteRef, facts: &[WireFact]) -> Result<FactsAnswer, sqlx::Error> {
        let mut parsed = Vec::with_capacity(facts.len());
        for wire in facts {
            let fact: Fact = match serde_json::from_str(&wire.body) {
                Ok(fact) => fact,
                Err(e) => return Ok(FactsAnswer { landed: 0, refused: Some((wire.id.clone(), e.to_string())) }),
            };
            if uuid::Uuid::parse_str(&wire.id).is_err() {
                return Ok(FactsAnswer { landed: 0, refused: Some((wire.id.clone(), "not a UUID".into())) });
            }
            parsed.push(fact);
        }
        let filings: Vec<Filing<'_>> =
            facts.iter().zip(&parsed).map(|(wire, fact)| Filing { id: &wire.id, at: wire.at, fact }).collect();
        let landed = now_ms();
        let mut tx = self.pool.begin().await?;
        let filed = match file_facts(&mut tx, &site.brand, &site.site, landed, &filings).await {
            Ok(()) => crate::vouchers::reconcile_logins(&mut tx, &site.brand, &site.site, &parsed).await,
            Err(err) => Err(err),
        };
        match filed {
            Ok(cards) => {
                tx.commit().await?;
                if cards {
                    self.notify(&site.brand).await?;
                }
                Ok(FactsAnswer { landed: facts.len(), refused: None })
            }
            Err(err) if is_link(&err) => Err(err),
            Err(err) => {
                drop(tx);
                // Which fact: file them one by one, keeping nothing.
                let mut tx = self.pool.begin().await?;
                for f in &filings {
                    if let Err(err) = file_fact(&mut tx, &site.brand, &site.site, f.id, f.at, landed, f.fact).await {
                        if is_link(&err) {
                            return Err(err);
                        }
                        let why = guestwifi_core::error_chain(&err);
                        return Ok(FactsAnswer { landed: 0, refused: Some((f.id.to_string(), why)) });
                    }
                }
                // One by one, each files: keep them so.
                tracing::warn!(site = %site.site, error = %guestwifi_core::error_chain(&err), "a batch filed only fact by fact");
                let cards = crate::vouchers::reconcile_logins(&mut tx, &site.brand, &site.site, &parsed).await?;
                tx.commit().await?;
                if cards {
                    self.notify(&site.brand).await?;
                }
                Ok(FactsAnswer { landed: facts.len(), refused: None })
            }
        }
    }

    /// Publishes `value` (None: withdraws it) as the newest `block` of
    /// `scope`; every site of the brand the scope covers sees it at its
    /// next bundle. Checked the way a site checks it, on its own.
    pub async fn publish(
        &self,
        brand: &str,
        scope: &Scope,
        block: &str,
        value: Option<serde_json::Value>,
        by: &str,
    ) -> anyhow::Result<i64> {
        check_block(block, value.as_ref())?;
        let mut tx = self.pool.begin().await?;
        let version = publish_in(&mut tx, brand, scope, block, value.as_ref(), by).await?;
        tx.commit().await?;
        self.notify(brand).await?;
        Ok(version)
    }

    /// Wakes the brand's sites' long-polls (after a publish in a transaction of the caller's).
    pub async fn published(&self, brand: &str) -> Result<(), sqlx::Error> {
        self.notify(brand).await
    }

    /// Every version of `block` at `scope`, newest first: (version, value, when, by).
    pub async fn block_history(
        &self,
        brand: &str,
        scope: &Scope,
        block: &str,
    ) -> Result<Vec<(i64, Option<String>, i64, String)>, sqlx::Error> {
        let (kind, id) = scope.parts();
        sqlx::query_as(
            "SELECT version, value, published_at, published_by FROM hq_blocks \
             WHERE brand_id = $1 AND scope_kind = $2 AND scope_id = $3 AND block = $4 ORDER BY version DESC LIMIT 200",
        )
        .bind(brand)
        .bind(kind)
        .bind(id)
        .bind(block)
        .fetch_all(&self.pool)
        .await
    }

    /// The site's bundle: for each block, the newest version at the
    /// nearest scope that has one (site, then region, then brand); with HQ's
    /// public ticket key when it has one.
    pub async fn bundle(&self, site: &SiteRef, ticket_key: Option<&str>) -> Result<Bundle, sqlx::Error> {
        let rows = self.block_rows(site).await?;
        let vouchers = crate::vouchers::live(&self.pool, &site.brand, now_ms()).await?;
        let overridable = crate::blocks::overridable(&self.pool, &site.brand).await?;
        Ok(compose_bundle(&site.brand, &site.site, &site.region, rows, ticket_key, &vouchers, &overridable))
    }

    /// The marketing and settings blocks a bundle of `site` would carry
    /// (without its vouchers: what the HQ editor and its preview show).
    pub async fn blocks_at(
        &self,
        site: &SiteRef,
    ) -> Result<std::collections::BTreeMap<String, protocol::Block>, sqlx::Error> {
        let rows = self.block_rows(site).await?;
        Ok(compose_bundle(&site.brand, &site.site, &site.region, rows, None, &[], &Default::default()).blocks)
    }

    /// The newest version of each block at each scope that covers `site`.
    async fn block_rows(&self, site: &SiteRef) -> Result<Vec<BlockRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT DISTINCT ON (scope_kind, scope_id, block) scope_kind, scope_id, block, version, value \
             FROM hq_blocks WHERE brand_id = $1 AND ((scope_kind = 'brand' AND scope_id = '') \
               OR (scope_kind = 'region' AND scope_id = $2 AND $2 <> '') OR (scope_kind = 'site' AND scope_id = $3)) \
             ORDER BY scope_kind, scope_id, block, version DESC",
        )
        .bind(&site.brand)
        .bind(&site.region)
        .bind(&site.site)
        .fetch_all(&self.pool)
        .await
    }

    /// The bundles of `sites` (all of one brand) with one query: the
    /// newest version of every block at every scope of the brand, composed
    /// for each site as [`Db::bundle`] would (the sites page's drift and the
    /// rollouts' steps, without a query a site).
    pub async fn bundles(
        &self,
        brand: &str,
        sites: &[SiteRef],
        ticket_key: Option<&str>,
    ) -> Result<Vec<Bundle>, sqlx::Error> {
        let rows: Vec<BlockRow> = sqlx::query_as(
            "SELECT DISTINCT ON (scope_kind, scope_id, block) scope_kind, scope_id, block, version, value \
             FROM hq_blocks WHERE brand_id = $1 ORDER BY scope_kind, scope_id, block, version DESC",
        )
        .bind(brand)
        .fetch_all(&self.pool)
        .await?;
        let vouchers = crate::vouchers::live(&self.pool, brand, now_ms()).await?;
        let overridable = crate::blocks::overridable(&self.pool, brand).await?;
        Ok(sites
            .iter()
            .map(|site| {
                let applies = |(kind, id, ..): &&BlockRow| match kind.as_str() {
                    "brand" => id.is_empty(),
                    "region" => !site.region.is_empty() && *id == site.region,
                    _ => *id == site.site,
                };
                compose_bundle(
                    &site.brand,
                    &site.site,
                    &site.region,
                    rows.iter().filter(applies).cloned().collect(),
                    ticket_key,
                    &vouchers,
                    &overridable,
                )
            })
            .collect())
    }

    /// What the site did with a bundle.
    pub async fn applied(&self, site: &SiteRef, applied: &Applied) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let sql = match applied.refused {
            None => {
                "INSERT INTO hq_site_status (brand_id, site_id, applied, applied_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (brand_id, site_id) DO UPDATE SET applied = excluded.applied, applied_at = excluded.applied_at"
            }
            Some(_) => {
                "INSERT INTO hq_site_status (brand_id, site_id, refused, refused_why, refused_at) VALUES ($1, $2, $3, $5, $4) \
                 ON CONFLICT (brand_id, site_id) DO UPDATE SET refused = excluded.refused, \
                 refused_why = excluded.refused_why, refused_at = excluded.refused_at"
            }
        };
        let why: String = applied.refused.clone().unwrap_or_default().chars().take(500).collect();
        sqlx::query(sql)
            .bind(&site.brand)
            .bind(&site.site)
            .bind(&applied.version)
            .bind(now)
            .bind(why)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A heartbeat: the site's status now, and its history.
    pub async fn heartbeat(&self, site: &SiteRef, beat: &Heartbeat) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO hq_site_status (brand_id, site_id, heartbeat_at, software, guests_online, aps_online, aps_total, backlog, lag_ms, applied, own_blocks) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (brand_id, site_id) DO UPDATE SET \
             heartbeat_at = excluded.heartbeat_at, software = excluded.software, guests_online = excluded.guests_online, \
             aps_online = excluded.aps_online, aps_total = excluded.aps_total, backlog = excluded.backlog, \
             lag_ms = excluded.lag_ms, applied = excluded.applied, own_blocks = excluded.own_blocks",
        )
        .bind(&site.brand)
        .bind(&site.site)
        .bind(now)
        .bind(beat.software.chars().take(40).collect::<String>())
        .bind(beat.guests_online)
        .bind(beat.aps_online)
        .bind(beat.aps_total)
        .bind(beat.backlog)
        .bind(beat.lag_ms)
        .bind(beat.bundle.chars().take(64).collect::<String>())
        .bind(
            beat.own_blocks
                .iter()
                .filter(|b| protocol::BLOCKS.contains(&b.as_str()))
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO hq_heartbeats (brand_id, site_id, at, bundle, guests_online, aps_online, aps_total, backlog, lag_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&site.brand)
        .bind(&site.site)
        .bind(now)
        .bind(beat.bundle.chars().take(64).collect::<String>())
        .bind(beat.guests_online)
        .bind(beat.aps_online)
        .bind(beat.aps_total)
        .bind(beat.backlog)
        .bind(beat.lag_ms)
        .execute(&mut *tx)
        .await?;
        if let Some(state) = &beat.access_log {
            crate::access_logs::file_in(&mut tx, &site.brand, &site.site, state).await?;
        }
        crate::footfall::file_in(&mut tx, &site.brand, &site.site, &beat.footfall).await?;
        // A site's history is kept 90 days (its key leads with the site: cheap).
        at_site(
            &mut tx,
            "DELETE FROM hq_heartbeats WHERE brand_id = $1 AND site_id = $2 AND at < $3",
            &site.brand,
            &site.site,
            now - 90 * guestwifi_core::kit::time::DAY_MS,
        )
        .await?;
        sqlx::query("UPDATE sites SET last_seen_at = $3 WHERE brand_id = $1 AND site_id = $2")
            .bind(&site.brand)
            .bind(&site.site)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// A card's PIN was right at `site`: its offline copy may hold it.
    pub async fn card_seen(&self, site: &SiteRef, card_no: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO hq_cards_seen (brand_id, site_id, card_no, seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (brand_id, site_id, card_no) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(&site.brand)
        .bind(&site.site)
        .bind(card_no)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Which of `card_nos` had a right PIN at `site` in the last 90 days.
    pub async fn cards_seen_at(&self, site: &SiteRef, card_nos: &[String]) -> Result<Vec<String>, sqlx::Error> {
        let since = now_ms() - 90 * guestwifi_core::kit::time::DAY_MS;
        let mut seen = Vec::new();
        for chunk in card_nos.chunks(500) {
            let places: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
            let sql = format!(
                "SELECT card_no FROM hq_cards_seen WHERE brand_id = $1 AND site_id = $2 AND seen_at >= $3 \
                 AND card_no IN ({})",
                places.join(", ")
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql).bind(&site.brand).bind(&site.site).bind(since);
            for card in chunk {
                query = query.bind(card);
            }
            seen.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(seen)
    }

    /// Counts an SMS for `site` if the chain's and the site's hour allow
    /// it (one replica at a time for a brand: an advisory lock); false when
    /// either is spent. Sends a day old are dropped on the way.
    pub async fn take_sms(&self, site: &SiteRef, chain_per_hour: i64, site_per_hour: i64) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let hour = now - 3_600_000;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l")
            .bind(format!("hq_sms {}", site.brand))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM hq_sms_sends WHERE brand_id = $1 AND at < $2")
            .bind(&site.brand)
            .bind(now - guestwifi_core::kit::time::DAY_MS)
            .execute(&mut *tx)
            .await?;
        let (chain, own): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN site_id = $2 THEN 1 ELSE 0 END), 0) FROM hq_sms_sends \
             WHERE brand_id = $1 AND at >= $3",
        )
        .bind(&site.brand)
        .bind(&site.site)
        .bind(hour)
        .fetch_one(&mut *tx)
        .await?;
        if chain >= chain_per_hour || own >= site_per_hour {
            return Ok(false);
        }
        sqlx::query("INSERT INTO hq_sms_sends (brand_id, site_id, at) VALUES ($1, $2, $3)")
            .bind(&site.brand)
            .bind(&site.site)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a photo for the brand; returns the id the sites name it by.
    pub async fn add_photo(&self, brand: &str, bytes: Vec<u8>) -> anyhow::Result<String> {
        anyhow::ensure!(bytes.len() <= guestwifi_core::marketing::MAX_UPLOAD, "larger than a photo may be");
        anyhow::ensure!(guestwifi_core::marketing::looks_like_photo(&bytes), "not a JPEG, PNG or WebP picture");
        let id = guestwifi_core::marketing::photo_id(&bytes);
        sqlx::query(
            "INSERT INTO hq_photos (brand_id, photo_id, bytes, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(brand)
        .bind(&id)
        .bind(bytes)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// A photo of the brand's.
    pub async fn photo(&self, brand: &str, id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        sqlx::query_scalar("SELECT bytes FROM hq_photos WHERE brand_id = $1 AND photo_id = $2")
            .bind(brand)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Records a refusal worth an admin's eye (kept 90 days).
    pub async fn refusal(&self, brand: &str, site: &str, what: &str, detail: &str, address: &str) {
        let _ = sqlx::query("DELETE FROM hq_refusals WHERE brand_id = $1 AND at < $2")
            .bind(brand)
            .bind(now_ms() - 90 * guestwifi_core::kit::time::DAY_MS)
            .execute(&self.pool)
            .await;
        let done = sqlx::query(
            "INSERT INTO hq_refusals (brand_id, site_id, at, what, detail, address) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(brand)
        .bind(site)
        .bind(now_ms())
        .bind(what)
        .bind(detail.chars().take(300).collect::<String>())
        .bind(address)
        .execute(&self.pool)
        .await;
        if let Err(err) = done {
            tracing::warn!(error = %err, "could not record a refusal");
        }
    }

    /// Every site (of `brand`), with what it last said.
    pub async fn sites(&self, brand: Option<&str>) -> Result<Vec<SiteRow>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            brand_id: String,
            site_id: String,
            region_id: String,
            name: String,
            state: String,
            applied: Option<String>,
            refused: Option<String>,
            heartbeat_at: Option<i64>,
            guests_online: Option<i64>,
            aps_online: Option<i64>,
            aps_total: Option<i64>,
            backlog: Option<i64>,
            lag_ms: Option<i64>,
            software: Option<String>,
            applied_at: Option<i64>,
            refused_at: Option<i64>,
            refused_why: Option<String>,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT h.brand_id, h.site_id, s.region_id, s.name, h.state, st.applied, st.refused, st.heartbeat_at, \
               st.guests_online, st.aps_online, st.aps_total, st.backlog, st.lag_ms, st.software, st.applied_at, \
               st.refused_at, st.refused_why \
             FROM hq_sites h JOIN sites s ON s.brand_id = h.brand_id AND s.site_id = h.site_id \
             LEFT JOIN hq_site_status st ON st.brand_id = h.brand_id AND st.site_id = h.site_id \
             WHERE $1 = '' OR h.brand_id = $1 ORDER BY h.brand_id, s.region_id, h.site_id",
        )
        .bind(brand.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SiteRow {
                brand: r.brand_id,
                site: r.site_id,
                region: r.region_id,
                name: r.name,
                state: r.state,
                applied: r.applied.unwrap_or_default(),
                refused: r.refused.unwrap_or_default(),
                heartbeat_at: r.heartbeat_at,
                guests_online: r.guests_online.unwrap_or(0),
                aps: (r.aps_online.unwrap_or(0), r.aps_total.unwrap_or(0)),
                backlog: (r.backlog.unwrap_or(0), r.lag_ms.unwrap_or(0)),
                software: r.software.unwrap_or_default(),
                applied_at: r.applied_at,
                refused_at: r.refused_at,
                refused_why: r.refused_why.unwrap_or_default(),
            })
            .collect())
    }

    /// A site's heartbeats since `since` (UTC ms), newest first, at most `limit`.
    pub async fn heartbeats(
        &self,
        brand: &str,
        site: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<BeatRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT at, bundle, guests_online, aps_online, aps_total, backlog, lag_ms FROM hq_heartbeats \
             WHERE brand_id = $1 AND site_id = $2 AND at >= $3 ORDER BY at DESC LIMIT $4",
        )
        .bind(brand)
        .bind(site)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }
}

/// A heartbeat as a site's page lists it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct BeatRow {
    /// When, UTC ms.
    pub at: i64,
    /// The bundle applied then.
    pub bundle: String,
    /// Guests online.
    pub guests_online: i64,
    /// APs online.
    pub aps_online: i64,
    /// APs.
    pub aps_total: i64,
    /// Facts waiting.
    pub backlog: i64,
    /// The oldest's age, ms.
    pub lag_ms: i64,
}

/// A site's enrolment state, if HQ knows the site.
async fn site_state(tx: &mut sqlx::AnyConnection, brand: &str, site: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT state FROM hq_sites WHERE brand_id = $1 AND site_id = $2")
        .bind(brand)
        .bind(site)
        .fetch_optional(&mut *tx)
        .await
}

/// Runs `sql`, whose parameters are a site's brand, its id and a time.
async fn at_site(
    tx: &mut sqlx::AnyConnection,
    sql: &str,
    brand: &str,
    site: &str,
    at: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sql).bind(brand).bind(site).bind(at).execute(&mut *tx).await?.rows_affected())
}

/// A new claim for a site in `tx`; earlier unused ones die.
async fn claim_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    brand: &str,
    site: &str,
    code_hours: u64,
) -> Result<(Claim, i64), sqlx::Error> {
    let now = now_ms();
    at_site(tx, "UPDATE hq_claims SET expires_at = $3 WHERE brand_id = $1 AND site_id = $2 AND used_at IS NULL AND expires_at > $3", brand, site, now).await?;
    let claim = Claim::generate();
    let expires_at = now + code_hours as i64 * 3_600_000;
    sqlx::query(
        "INSERT INTO hq_claims (claim_id, brand_id, site_id, key, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&claim.id)
    .bind(brand)
    .bind(site)
    .bind(claim.key())
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok((claim, expires_at))
}
