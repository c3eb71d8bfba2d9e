//! Chain voucher batches at headquarters (`guestwifi_core::hq::vouchers`
//! says how a site checks them): made and printed here, their manifests
//! signed with the ticket key and carried by the bundles of the scope's
//! sites, revoked by signing the manifest again, and each card's first use
//! and devices reconciled from the sites' login facts.

use crate::blocks::scope_of;
use ed25519_dalek::SigningKey;
use guestwifi_core::hq::protocol::Scope;
use guestwifi_core::hq::vouchers::{self as chain, CardUse, Manifest, SignedBatch};
use guestwifi_core::kit::time::now_ms;
use guestwifi_core::members::outbox::Fact;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// The offline bound a batch gets unless its maker says otherwise, hours.
pub const DEFAULT_OFFLINE_HOURS: u32 = 12;

/// What a new batch is worth and where.
#[derive(Clone, Debug)]
pub struct NewBatch {
    /// Where its cards are good.
    pub scope: Scope,
    /// How many cards.
    pub count: u32,
    /// Online time a card gives from its first use, seconds.
    pub duration_seconds: i64,
    /// Days from now within which a card must be first used.
    pub valid_days: u32,
    /// Devices one card may log in.
    pub devices: u32,
    /// Download limit, kbit/s (0: each site's default).
    pub down_kbps: u32,
    /// Upload limit, kbit/s (0: each site's default).
    pub up_kbps: u32,
    /// A site that has not heard from HQ for this long refuses the cards.
    pub offline_hours: u32,
    /// What the maker wrote on it.
    pub note: String,
    /// The form's one-time token (empty: none): the same token makes one batch.
    pub once: String,
}

impl NewBatch {
    /// Why the batch cannot be made, in words, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.count == 0 || self.count as usize > chain::MAX_BATCH {
            return Err(format!("a batch has 1 to {} cards", chain::MAX_BATCH));
        }
        if !(60..=400 * 86_400).contains(&self.duration_seconds) {
            return Err("a card gives 1 minute to 400 days".into());
        }
        if !(1..=3650).contains(&self.valid_days) {
            return Err("a card must be first used within 1 to 3650 days".into());
        }
        if !(1..=100).contains(&self.devices) {
            return Err("a card serves 1 to 100 devices".into());
        }
        if !(1..=168).contains(&self.offline_hours) {
            return Err("the offline bound is 1 to 168 hours".into());
        }
        if self.note.chars().count() > 200 {
            return Err("the note is longer than 200 characters".into());
        }
        Ok(())
    }
}

/// A batch made but not yet stored: its codes, keys and signed manifest.
pub struct Prepared {
    manifest: Manifest,
    signed: SignedBatch,
    codes: Vec<String>,
}

impl Prepared {
    /// The batch's id.
    pub fn id(&self) -> &str {
        &self.manifest.batch
    }

    /// The manifest as signed (what bundles carry).
    pub fn signed(&self) -> &SignedBatch {
        &self.signed
    }

    /// The codes, in the batch's order.
    pub fn codes(&self) -> &[String] {
        &self.codes
    }
}

/// Makes `batch` for `brand`: codes, their keys (argon2: seconds for a
/// thousand, on the blocking pool) and the manifest signed with `key`.
pub async fn prepare(key: &SigningKey, brand: &str, batch: &NewBatch) -> Result<Prepared, String> {
    batch.check()?;
    let (key, brand, batch) = (key.clone(), brand.to_string(), batch.clone());
    tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let tag = chain::new_tag();
        let salt = chain::new_salt();
        let mut codes: Vec<String> = Vec::with_capacity(batch.count as usize);
        while codes.len() < batch.count as usize {
            let code = chain::new_code(&tag);
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        let keys = codes.iter().map(|c| chain::card_key(&salt, c)).collect();
        let manifest = Manifest {
            brand,
            batch: format!("C{}", guestwifi_core::kit::secrets::random_code(7)),
            tag,
            salt,
            scope: batch.scope.clone(),
            duration_seconds: batch.duration_seconds,
            devices: i64::from(batch.devices),
            down_kbps: i64::from(batch.down_kbps),
            up_kbps: i64::from(batch.up_kbps),
            valid_until: now + i64::from(batch.valid_days) * 86_400_000,
            offline_hours: i64::from(batch.offline_hours),
            note: batch.note.clone(),
            created_at: now,
            keys,
            revoked: vec![],
            revoked_at: None,
            signed_at: now,
        };
        let signed = chain::sign(&key, &manifest);
        Prepared { manifest, signed, codes }
    })
    .await
    .map_err(|e| format!("making the codes failed: {e}"))
}

/// The batch the form token `once` already made, if one did.
pub async fn made_by(tx: &mut AnyConnection, brand: &str, once: &str) -> Result<Option<String>, sqlx::Error> {
    if once.is_empty() {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT batch_id FROM hq_voucher_batches WHERE brand_id = $1 AND once = $2")
        .bind(brand)
        .bind(once)
        .fetch_optional(&mut *tx)
        .await
}

/// Stores a prepared batch in `tx`, made `by` with the form token `once`;
/// false when that token made a batch meanwhile (nothing is stored).
pub async fn store(tx: &mut AnyConnection, prepared: &Prepared, by: &str, once: &str) -> Result<bool, sqlx::Error> {
    let m = &prepared.manifest;
    let (kind, id) = m.scope.parts();
    let stored = sqlx::query(
        "INSERT INTO hq_voucher_batches (brand_id, batch_id, scope_kind, scope_id, tag, salt, count, duration_seconds, \
         devices, down_kbps, up_kbps, valid_until, offline_hours, note, created_at, created_by, manifest, signature, once) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
         ON CONFLICT (brand_id, once) WHERE once <> '' DO NOTHING",
    )
    .bind(&m.brand)
    .bind(&m.batch)
    .bind(kind)
    .bind(id)
    .bind(&m.tag)
    .bind(&m.salt)
    .bind(m.keys.len() as i64)
    .bind(m.duration_seconds)
    .bind(m.devices)
    .bind(m.down_kbps)
    .bind(m.up_kbps)
    .bind(m.valid_until)
    .bind(m.offline_hours)
    .bind(&m.note)
    .bind(m.created_at)
    .bind(by)
    .bind(&prepared.signed.manifest)
    .bind(&prepared.signed.signature)
    .bind(once)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if stored == 0 {
        return Ok(false);
    }
    let rows: Vec<(usize, (&String, &String))> = prepared.codes.iter().zip(&m.keys).enumerate().collect();
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO hq_vouchers (brand_id, batch_id, serial, code, card_key) VALUES {}",
            guestwifi_core::members::feed::placeholders(chunk.len(), 5)
        );
        let mut insert = sqlx::query(&sql);
        for (serial, (code, key)) in chunk {
            insert = insert.bind(&m.brand).bind(&m.batch).bind(*serial as i64 + 1).bind(*code).bind(*key);
        }
        insert.execute(&mut *tx).await?;
    }
    Ok(true)
}

/// Revokes `code` of `batch` (None: the whole batch) and signs the batch's
/// manifest again; what was revoked, in words, or None when nothing was.
pub async fn revoke(
    tx: &mut AnyConnection,
    key: &SigningKey,
    brand: &str,
    batch: &str,
    code: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let now = now_ms();
    let done = match code {
        Some(code) => {
            sqlx::query(
                "UPDATE hq_vouchers SET revoked_at = $4 WHERE brand_id = $1 AND batch_id = $2 AND code = $3 AND revoked_at IS NULL",
            )
            .bind(brand)
            .bind(batch)
            .bind(code)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        }
        None => {
            sqlx::query(
                "UPDATE hq_voucher_batches SET revoked_at = $3 WHERE brand_id = $1 AND batch_id = $2 AND revoked_at IS NULL",
            )
            .bind(brand)
            .bind(batch)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        }
    };
    if done == 0 {
        return Ok(None);
    }
    let manifest = manifest_in(tx, brand, batch, now).await?;
    let signed = chain::sign(key, &manifest);
    sqlx::query("UPDATE hq_voucher_batches SET manifest = $3, signature = $4 WHERE brand_id = $1 AND batch_id = $2")
        .bind(brand)
        .bind(batch)
        .bind(&signed.manifest)
        .bind(&signed.signature)
        .execute(&mut *tx)
        .await?;
    Ok(Some(match code {
        Some(code) => format!("card {}", chain::display_code(code)),
        None => "the whole batch".into(),
    }))
}

type BatchTerms = (String, String, String, String, i64, i64, i64, i64, i64, i64, String, i64, Option<i64>);

/// The batch's manifest as its rows say now, signed at `now`.
async fn manifest_in(tx: &mut AnyConnection, brand: &str, batch: &str, now: i64) -> Result<Manifest, sqlx::Error> {
    let (kind, id, tag, salt, duration, devices, down, up, until, offline, note, created, revoked_at): BatchTerms =
        sqlx::query_as(
            "SELECT scope_kind, scope_id, tag, salt, duration_seconds, devices, down_kbps, up_kbps, valid_until, \
             offline_hours, note, created_at, revoked_at FROM hq_voucher_batches WHERE brand_id = $1 AND batch_id = $2",
        )
        .bind(brand)
        .bind(batch)
        .fetch_one(&mut *tx)
        .await?;
    let cards: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT card_key, revoked_at FROM hq_vouchers WHERE brand_id = $1 AND batch_id = $2 ORDER BY serial",
    )
    .bind(brand)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    Ok(Manifest {
        brand: brand.into(),
        batch: batch.into(),
        tag,
        salt,
        scope: scope_of(&kind, &id),
        duration_seconds: duration,
        devices,
        down_kbps: down,
        up_kbps: up,
        valid_until: until,
        offline_hours: offline,
        note,
        created_at: created,
        revoked: cards.iter().filter(|(_, r)| r.is_some()).map(|(k, _)| k.clone()).collect(),
        keys: cards.into_iter().map(|(k, _)| k).collect(),
        revoked_at,
        signed_at: now,
    })
}

/// A batch still worth carrying: its scope, signed manifest and its cards' uses.
#[derive(Clone, Debug)]
pub struct Live {
    /// Where its cards are good.
    pub scope: Scope,
    /// The manifest as signed.
    pub signed: SignedBatch,
    /// The cards used so far (by key, devices sorted).
    pub uses: Vec<CardUse>,
}

/// The brand's batches a card of which can still be used (first use still
/// open, or a card still running), with their cards' uses: what bundles carry.
pub async fn live(pool: &sqlx::AnyPool, brand: &str, now: i64) -> Result<Vec<Live>, sqlx::Error> {
    let batches: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT batch_id, scope_kind, scope_id, manifest, signature FROM hq_voucher_batches \
         WHERE brand_id = $1 AND valid_until + duration_seconds * 1000 > $2 ORDER BY batch_id",
    )
    .bind(brand)
    .bind(now)
    .fetch_all(pool)
    .await?;
    if batches.is_empty() {
        return Ok(vec![]);
    }
    let used: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT v.batch_id, v.card_key, v.first_used_at, d.device FROM hq_vouchers v \
         JOIN hq_voucher_batches b ON b.brand_id = v.brand_id AND b.batch_id = v.batch_id \
         JOIN hq_voucher_devices d ON d.brand_id = v.brand_id AND d.code = v.code \
         WHERE v.brand_id = $1 AND v.first_used_at IS NOT NULL AND v.first_used_at + b.duration_seconds * 1000 > $2 \
         ORDER BY v.batch_id, v.card_key, d.device",
    )
    .bind(brand)
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut uses: BTreeMap<String, Vec<CardUse>> = BTreeMap::new();
    for (batch, key, first, device) in used {
        let list = uses.entry(batch.clone()).or_default();
        match list.last_mut().filter(|u| u.key == key) {
            Some(last) => last.devices.push(device),
            None => list.push(CardUse { batch, key, first_used_at: first, devices: vec![device] }),
        }
    }
    Ok(batches
        .into_iter()
        .map(|(batch, kind, id, manifest, signature)| Live {
            scope: scope_of(&kind, &id),
            signed: SignedBatch { manifest, signature },
            uses: uses.remove(&batch).unwrap_or_default(),
        })
        .collect())
}

/// A chain card's login at `site`, as its login fact tells it.
pub struct CardLogin<'a> {
    /// The code.
    pub code: &'a str,
    /// The device.
    pub mac: &'a str,
    /// When.
    pub at: i64,
}

/// Records chain cards' logins at `site` (idempotent: a fact delivered
/// twice changes nothing); whether any was a card of the brand's, so the
/// scope's sites should hear of it.
pub async fn reconcile(
    tx: &mut AnyConnection,
    brand: &str,
    site: &str,
    logins: &[CardLogin<'_>],
) -> Result<bool, sqlx::Error> {
    let mut any = false;
    for login in logins {
        let known = sqlx::query(
            "UPDATE hq_vouchers SET \
               first_site = CASE WHEN first_used_at IS NULL OR $3 < first_used_at THEN $4 ELSE first_site END, \
               first_used_at = CASE WHEN first_used_at IS NULL OR $3 < first_used_at THEN $3 ELSE first_used_at END \
             WHERE brand_id = $1 AND code = $2",
        )
        .bind(brand)
        .bind(login.code)
        .bind(login.at)
        .bind(site)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if known == 0 {
            continue;
        }
        any = true;
        sqlx::query(
            "INSERT INTO hq_voucher_devices (brand_id, code, device, site_id, at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(brand)
        .bind(login.code)
        .bind(chain::device_key(brand, login.mac))
        .bind(site)
        .bind(login.at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(any)
}

/// Records the chain cards among `facts`' logins at `site` ([`reconcile`]);
/// whether any was one of the brand's.
pub async fn reconcile_logins(
    tx: &mut AnyConnection,
    brand: &str,
    site: &str,
    facts: &[Fact],
) -> Result<bool, sqlx::Error> {
    let logins: Vec<CardLogin<'_>> = facts
        .iter()
        .filter_map(|fact| match fact {
            Fact::Login { who, mac, method, started_at, .. }
                if method == "voucher" && who.kind == "voucher" && chain::is_chain_code(&who.value) =>
            {
                Some(CardLogin { code: &who.value, mac, at: *started_at })
            }
            _ => None,
        })
        .collect();
    if logins.is_empty() {
        return Ok(false);
    }
    reconcile(tx, brand, site, &logins).await
}

/// A batch as the vouchers page lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BatchRow {
    /// Its id.
    pub batch_id: String,
    /// Scope kind.
    pub scope_kind: String,
    /// Scope id.
    pub scope_id: String,
    /// Cards.
    pub count: i64,
    /// Online time a card gives, seconds.
    pub duration_seconds: i64,
    /// Devices a card serves.
    pub devices: i64,
    /// First use before, UTC ms.
    pub valid_until: i64,
    /// The offline bound, hours.
    pub offline_hours: i64,
    /// The note.
    pub note: String,
    /// Made, UTC ms.
    pub created_at: i64,
    /// By.
    pub created_by: String,
    /// Revoked whole, UTC ms.
    pub revoked_at: Option<i64>,
    /// Cards used at least once.
    pub used: i64,
    /// Cards revoked one by one.
    pub cards_revoked: i64,
    /// Cards that served more devices than they allow (used at two sites
    /// while one of them was cut off).
    pub over: i64,
}

impl BatchRow {
    /// Its scope.
    pub fn scope(&self) -> Scope {
        scope_of(&self.scope_kind, &self.scope_id)
    }
}

const BATCH_ROW: &str = "SELECT b.batch_id, b.scope_kind, b.scope_id, b.count, b.duration_seconds, b.devices, \
     b.valid_until, b.offline_hours, b.note, b.created_at, b.created_by, b.revoked_at, \
     (SELECT COUNT(*) FROM hq_vouchers v WHERE v.brand_id = b.brand_id AND v.batch_id = b.batch_id AND v.first_used_at IS NOT NULL) AS used, \
     (SELECT COUNT(*) FROM hq_vouchers v WHERE v.brand_id = b.brand_id AND v.batch_id = b.batch_id AND v.revoked_at IS NOT NULL) AS cards_revoked, \
     (SELECT COUNT(*) FROM hq_vouchers v WHERE v.brand_id = b.brand_id AND v.batch_id = b.batch_id \
        AND (SELECT COUNT(*) FROM hq_voucher_devices d WHERE d.brand_id = v.brand_id AND d.code = v.code) > b.devices) AS over \
     FROM hq_voucher_batches b";

/// The brand's batches, newest first.
pub async fn batches(pool: &sqlx::AnyPool, brand: &str) -> Result<Vec<BatchRow>, sqlx::Error> {
    sqlx::query_as(&format!("{BATCH_ROW} WHERE b.brand_id = $1 ORDER BY b.created_at DESC LIMIT 500"))
        .bind(brand)
        .fetch_all(pool)
        .await
}

/// One batch.
pub async fn batch(pool: &sqlx::AnyPool, brand: &str, batch: &str) -> Result<Option<BatchRow>, sqlx::Error> {
    sqlx::query_as(&format!("{BATCH_ROW} WHERE b.brand_id = $1 AND b.batch_id = $2"))
        .bind(brand)
        .bind(batch)
        .fetch_optional(pool)
        .await
}

/// A card as the batch page and its print and CSV show it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CardRow {
    /// Its number in the batch.
    pub serial: i64,
    /// The code.
    pub code: String,
    /// Revoked, UTC ms.
    pub revoked_at: Option<i64>,
    /// First used anywhere, UTC ms.
    pub first_used_at: Option<i64>,
    /// Where.
    pub first_site: Option<String>,
    /// Devices it served.
    pub devices_used: i64,
    /// Sites it was used at.
    pub sites: String,
}

impl CardRow {
    /// As printed: `ABCD-EFGH-JKLM`.
    pub fn display_code(&self) -> String {
        chain::display_code(&self.code)
    }
}

/// The batch's cards, in order.
pub async fn cards(pool: &sqlx::AnyPool, brand: &str, batch: &str) -> Result<Vec<CardRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.serial, v.code, v.revoked_at, v.first_used_at, v.first_site, \
         (SELECT COUNT(*) FROM hq_voucher_devices d WHERE d.brand_id = v.brand_id AND d.code = v.code) AS devices_used, \
         COALESCE((SELECT string_agg(DISTINCT d.site_id, ' ') FROM hq_voucher_devices d \
           WHERE d.brand_id = v.brand_id AND d.code = v.code), '') AS sites \
         FROM hq_vouchers v WHERE v.brand_id = $1 AND v.batch_id = $2 ORDER BY v.serial",
    )
    .bind(brand)
    .bind(batch)
    .fetch_all(pool)
    .await
}
