//! Voucher cards (小时卡 / 包月卡): staff create them in batches and hand them
//! out or print them (each card carries its code and a QR code of a login
//! URL with it). A card's clock starts at its first use; it must be first
//! used within its validity; it serves at most `devices` devices; staff can
//! revoke it. Codes come from a CSPRNG: 10 symbols of 31, ~49 bits.

use super::{AuthError, Bandwidth, Grant, Identity, Method, Refusal};
use crate::hq::vouchers::{self as chain, CardUse, Manifest};
use crate::kit::secrets::{normalize_code, random_code};
use crate::kit::time::now_ms;
use firewall::Client;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use std::time::Duration;

/// Symbols in a code.
pub const CODE_LEN: usize = 10;
/// Most cards in one batch.
pub const MAX_BATCH: u32 = 1000;

/// What a batch of cards is worth.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewBatch {
    /// How many cards.
    pub count: u32,
    /// Online time each card gives, from its first use.
    pub duration_seconds: u64,
    /// Days from now within which a card must be first used.
    pub valid_days: u32,
    /// Devices one card may log in.
    pub devices: u32,
    /// Limits of its sessions (0: the method's default).
    #[serde(default)]
    pub bandwidth: Bandwidth,
    /// What staff wrote on the batch.
    #[serde(default)]
    pub note: String,
}

/// Why a batch could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VoucherError {
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("voucher store error")]
    Store(#[from] sqlx::Error),
}

/// One card, as listed and exported.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Voucher {
    /// The code (no dashes).
    pub code: String,
    /// The batch it came in.
    pub batch: String,
    /// Online time it gives, seconds.
    pub duration_seconds: i64,
    /// Devices it may log in.
    pub devices: i64,
    /// Download limit, kbit/s (0: default).
    pub down_kbps: i64,
    /// Upload limit, kbit/s (0: default).
    pub up_kbps: i64,
    /// Data it allows over its life, MB, every device's sessions together (0: none).
    #[serde(default)]
    pub data_mb: i64,
    /// Staff's note.
    pub note: String,
    /// UTC ms.
    pub created_at: i64,
    /// Must be first used before this, UTC ms.
    pub valid_until: i64,
    /// Its clock started here, UTC ms.
    pub first_used_at: Option<i64>,
    /// Staff revoked it here, UTC ms.
    pub revoked_at: Option<i64>,
    /// Devices that have used it.
    pub devices_used: i64,
}

impl Voucher {
    /// Grouped for reading aloud and typing: `ABCDE-FGHJK`.
    pub fn display_code(&self) -> String {
        display_code(&self.code)
    }

    /// `unused`, `active`, `used_up`, `expired` or `revoked`, at `now`.
    pub fn state(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if let Some(first) = self.first_used_at {
            if first + self.duration_seconds * 1000 <= now {
                "used_up"
            } else {
                "active"
            }
        } else if self.valid_until <= now {
            "expired"
        } else {
            "unused"
        }
    }
}

/// `ABCDEFGHJK` -> `ABCDE-FGHJK`.
pub fn display_code(code: &str) -> String {
    if code.len() == CODE_LEN {
        format!("{}-{}", &code[..5], &code[5..])
    } else {
        code.to_string()
    }
}

/// What to undo when the login a voucher allowed failed.
#[derive(Debug)]
pub struct Claim {
    code: String,
    mac: String,
    first_use: bool,
    new_device: bool,
}

/// The voucher method and its store.
#[derive(Clone)]
pub struct Vouchers {
    db: SqlitePool,
    default_bandwidth: Bandwidth,
}

const SELECT: &str =
    "SELECT v.code, v.batch, v.duration_seconds, v.devices, v.down_kbps, v.up_kbps, v.data_mb, v.note, \
     v.created_at, v.valid_until, v.first_used_at, v.revoked_at, \
     (SELECT COUNT(*) FROM voucher_devices d WHERE d.code = v.code) AS devices_used FROM vouchers v";

/// The site's own cards (a chain card's row is headquarters', named `hq:<batch>:<key>`).
const LOCAL: &str = "v.code NOT LIKE 'hq:%'";

/// A chain batch as the site's vouchers page shows it.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct ChainBatch {
    /// Its id at headquarters.
    pub batch: String,
    /// Where its cards are good (`brand`, `region:ID`, `site:ID`).
    pub scope: String,
    /// Cards.
    pub count: i64,
    /// Cards used (here or, as headquarters told, elsewhere).
    pub used: i64,
    /// The batch's offline bound, hours.
    pub offline_hours: i64,
    /// Must be first used before, UTC ms.
    pub valid_until: i64,
    /// Revoked whole.
    pub revoked: bool,
}

impl Vouchers {
    /// Vouchers in `db`; sessions get `default_bandwidth` unless a card says otherwise.
    pub fn new(db: SqlitePool, default_bandwidth: Bandwidth) -> Self {
        Vouchers { db, default_bandwidth }
    }

    /// Makes a batch; returns its cards.
    pub async fn create(&self, batch: &NewBatch) -> Result<Vec<Voucher>, VoucherError> {
        let invalid = |m: &str| Err(VoucherError::Invalid(m.to_string()));
        if batch.count == 0 || batch.count > MAX_BATCH {
            return invalid("count must be 1 to 1000");
        }
        if batch.duration_seconds < 60 || batch.duration_seconds > 400 * 86_400 {
            return invalid("duration must be 1 minute to 400 days");
        }
        if batch.valid_days == 0 || batch.valid_days > 3650 {
            return invalid("valid days must be 1 to 3650");
        }
        if batch.devices == 0 || batch.devices > 100 {
            return invalid("devices must be 1 to 100");
        }
        if batch.bandwidth.data_mb > 1_000_000 {
            return invalid("data must be 0 (no limit) to 1,000,000 MB");
        }
        if batch.note.chars().count() > 200 {
            return invalid("the note is longer than 200 characters");
        }
        let now = now_ms();
        let batch_id = format!("B{}", random_code(6));
        let valid_until = now + i64::from(batch.valid_days) * 86_400_000;
        let mut tx = self.db.begin().await?;
        let mut codes = Vec::with_capacity(batch.count as usize);
        while codes.len() < batch.count as usize {
            let code = random_code(CODE_LEN);
            let inserted = sqlx::query(
                "INSERT INTO vouchers (code, batch, duration_seconds, devices, down_kbps, up_kbps, note, created_at, \
                 valid_until, data_mb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING",
            )
            .bind(&code)
            .bind(&batch_id)
            .bind(batch.duration_seconds as i64)
            .bind(i64::from(batch.devices))
            .bind(i64::from(batch.bandwidth.down_kbps))
            .bind(i64::from(batch.bandwidth.up_kbps))
            .bind(&batch.note)
            .bind(now)
            .bind(valid_until)
            .bind(i64::from(batch.bandwidth.data_mb))
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                codes.push(code);
            }
        }
        tx.commit().await?;
        tracing::info!(batch = %batch_id, count = batch.count, "voucher batch created");
        self.list(Some(&batch_id)).await.map_err(Into::into)
    }

    /// Every card, or one batch's, newest first.
    pub async fn list(&self, batch: Option<&str>) -> Result<Vec<Voucher>, sqlx::Error> {
        match batch {
            Some(batch) => {
                sqlx::query_as(&format!("{SELECT} WHERE v.batch = ? AND {LOCAL} ORDER BY v.created_at DESC, v.code"))
                    .bind(batch)
                    .fetch_all(&self.db)
                    .await
            }
            None => {
                sqlx::query_as(&format!("{SELECT} WHERE {LOCAL} ORDER BY v.created_at DESC, v.code"))
                    .fetch_all(&self.db)
                    .await
            }
        }
    }

    /// Revokes one card (by code) or a whole batch of the site's own; returns
    /// how many. Sessions it already opened run on (kick the devices to end
    /// them). A chain card is headquarters' to revoke.
    pub async fn revoke(&self, code_or_batch: &str) -> Result<u64, sqlx::Error> {
        let code = normalize_code(code_or_batch).unwrap_or_default();
        let done = sqlx::query(&format!(
            "UPDATE vouchers AS v SET revoked_at = ? WHERE revoked_at IS NULL AND (code = ? OR batch = ?) AND {LOCAL}"
        ))
        .bind(now_ms())
        .bind(code)
        .bind(code_or_batch.trim())
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected())
    }

    /// Checks `typed` for `client` and takes one of its device places: the
    /// grant, and what to undo if the login then fails. Every check and the
    /// claim are one write transaction, so two phones racing for a card's
    /// last place cannot both win.
    pub async fn claim(&self, typed: &str, client: Client) -> Result<(Grant, Claim), AuthError> {
        let code = normalize_code(typed).ok_or(Refusal::Invalid)?;
        if chain::is_chain_code(&code) {
            return self.claim_chain(code, client).await;
        }
        self.claim_row(&code, client.mac.to_string(), code.clone()).await
    }

    /// A chain card: its batch by the code's tag, its row by the code's key
    /// under the batch's salt; refused while the link to headquarters has
    /// been down longer than the batch allows.
    async fn claim_chain(&self, code: String, client: Client) -> Result<(Grant, Claim), AuthError> {
        let batches: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT batch, brand, salt, offline_hours FROM chain_voucher_batches WHERE tag = ?")
                .bind(&code[..chain::TAG_LEN])
                .fetch_all(&self.db)
                .await?;
        for (batch, brand, salt, offline_hours) in batches {
            let typed = code.clone();
            let key = tokio::task::spawn_blocking(move || chain::card_key(&salt, &typed))
                .await
                .map_err(|_| Refusal::Invalid)?;
            let row = format!("hq:{batch}:{key}");
            let exists: bool = sqlx::query_scalar("SELECT COUNT(*) > 0 FROM vouchers WHERE code = ?")
                .bind(&row)
                .fetch_one(&self.db)
                .await?;
            if !exists {
                continue;
            }
            let heard: Option<i64> = sqlx::query_scalar("SELECT at FROM hq_heard").fetch_optional(&self.db).await?;
            if heard.is_none_or(|at| now_ms() - at > offline_hours * 3_600_000) {
                return Err(Refusal::Unavailable.into());
            }
            return self.claim_row(&row, chain::device_key(&brand, &client.mac.to_string()), code).await;
        }
        Err(Refusal::Invalid.into())
    }

    /// Checks the card stored as `code` for the device named `device` and
    /// takes one of its places; the grant names the card as `shown`.
    async fn claim_row(&self, code: &str, device: String, shown: String) -> Result<(Grant, Claim), AuthError> {
        let (code, mac) = (code.to_string(), device);
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        // A write first: the transaction holds SQLite's write lock from here.
        let started = sqlx::query(
            "UPDATE vouchers SET first_used_at = ? WHERE code = ? AND first_used_at IS NULL AND revoked_at IS NULL \
             AND valid_until > ?",
        )
        .bind(now)
        .bind(&code)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let voucher: Option<Voucher> =
            sqlx::query_as(&format!("{SELECT} WHERE v.code = ?")).bind(&code).fetch_optional(&mut *tx).await?;
        let voucher = voucher.ok_or(Refusal::Invalid)?;
        match voucher.state(now) {
            "revoked" => return Err(Refusal::Revoked.into()),
            "used_up" | "expired" => return Err(Refusal::Expired.into()),
            _ => {}
        }
        let known: bool = sqlx::query_scalar("SELECT COUNT(*) > 0 FROM voucher_devices WHERE code = ? AND mac = ?")
            .bind(&code)
            .bind(&mac)
            .fetch_one(&mut *tx)
            .await?;
        if !known {
            if voucher.devices_used >= voucher.devices {
                return Err(Refusal::DeviceLimit.into());
            }
            sqlx::query("INSERT INTO voucher_devices (code, mac, first_at) VALUES (?, ?, ?)")
                .bind(&code)
                .bind(&mac)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let first = voucher.first_used_at.unwrap_or(now);
        let left = (first + voucher.duration_seconds * 1000 - now).max(1000);
        let pick = |card: i64, default: u32| if card > 0 { card as u32 } else { default };
        let grant = Grant {
            method: Method::Voucher,
            identity: Identity::Voucher(shown),
            duration: Duration::from_millis(left as u64),
            bandwidth: Bandwidth {
                down_kbps: pick(voucher.down_kbps, self.default_bandwidth.down_kbps),
                up_kbps: pick(voucher.up_kbps, self.default_bandwidth.up_kbps),
                data_mb: u32::try_from(voucher.data_mb.max(0)).unwrap_or(u32::MAX),
                data_daily: false,
            },
        };
        Ok((grant, Claim { code, mac, first_use: started, new_device: !known }))
    }

    /// Takes headquarters' chain batches (each manifest already checked
    /// against HQ's key, with its signature) and what HQ knows of their
    /// cards' use, in one transaction: new cards and revocations from a
    /// manifest not seen before, then each used card's first use (the
    /// earliest anywhere) and devices.
    pub async fn apply_chain(&self, batches: &[(Manifest, String)], uses: &[CardUse]) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        for (m, signature) in batches {
            let seen: Option<String> =
                sqlx::query_scalar("SELECT signature FROM chain_voucher_batches WHERE batch = ?")
                    .bind(&m.batch)
                    .fetch_optional(&mut *tx)
                    .await?;
            if seen.as_ref() == Some(signature) {
                continue;
            }
            sqlx::query(
                "INSERT INTO chain_voucher_batches (batch, brand, tag, salt, scope, offline_hours, count, signed_at, signature) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch) DO UPDATE SET offline_hours = excluded.offline_hours, \
                 count = excluded.count, signed_at = excluded.signed_at, signature = excluded.signature, scope = excluded.scope",
            )
            .bind(&m.batch)
            .bind(&m.brand)
            .bind(&m.tag)
            .bind(&m.salt)
            .bind(m.scope.to_string())
            .bind(m.offline_hours)
            .bind(m.keys.len() as i64)
            .bind(m.signed_at)
            .bind(signature)
            .execute(&mut *tx)
            .await?;
            let revoked: std::collections::HashSet<&String> = m.revoked.iter().collect();
            for chunk in m.keys.chunks(500) {
                let sql = format!(
                    "INSERT INTO vouchers (code, batch, duration_seconds, devices, down_kbps, up_kbps, note, created_at, \
                     valid_until, revoked_at) VALUES {} ON CONFLICT (code) DO UPDATE SET \
                     revoked_at = COALESCE(vouchers.revoked_at, excluded.revoked_at)",
                    vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
                );
                let mut insert = sqlx::query(&sql);
                for key in chunk {
                    let revoked_at = m.revoked_at.or(revoked.contains(key).then_some(m.signed_at));
                    insert = insert
                        .bind(format!("hq:{}:{key}", m.batch))
                        .bind(&m.batch)
                        .bind(m.duration_seconds)
                        .bind(m.devices)
                        .bind(m.down_kbps)
                        .bind(m.up_kbps)
                        .bind(&m.note)
                        .bind(m.created_at)
                        .bind(m.valid_until)
                        .bind(revoked_at);
                }
                insert.execute(&mut *tx).await?;
            }
        }
        // What is here already, in one read: a bundle repeats every running
        // card's use, and only what is new to this site is written.
        let here: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT v.code, v.first_used_at, COALESCE(group_concat(d.mac, ' '), '') FROM vouchers v \
             LEFT JOIN voucher_devices d ON d.code = v.code \
             WHERE v.code LIKE 'hq:%' AND v.first_used_at IS NOT NULL GROUP BY v.code",
        )
        .fetch_all(&mut *tx)
        .await?;
        let here: std::collections::HashMap<String, (i64, std::collections::HashSet<String>)> = here
            .into_iter()
            .map(|(code, first, devices)| (code, (first, devices.split(' ').map(str::to_string).collect())))
            .collect();
        for used in uses {
            let code = format!("hq:{}:{}", used.batch, used.key);
            let known = here.get(&code).is_some_and(|(first, devices)| {
                *first <= used.first_used_at && used.devices.iter().all(|d| devices.contains(d))
            });
            if known {
                continue;
            }
            sqlx::query("UPDATE vouchers SET first_used_at = MIN(COALESCE(first_used_at, ?1), ?1) WHERE code = ?2")
                .bind(used.first_used_at)
                .bind(&code)
                .execute(&mut *tx)
                .await?;
            for device in &used.devices {
                sqlx::query(
                    "INSERT INTO voucher_devices (code, mac, first_at) SELECT ?1, ?2, ?3 \
                     WHERE EXISTS (SELECT 1 FROM vouchers WHERE code = ?1) ON CONFLICT DO NOTHING",
                )
                .bind(&code)
                .bind(device)
                .bind(used.first_used_at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    }

    /// The link to headquarters worked at `at` (UTC ms): chain cards may be
    /// taken for their batches' offline bound from here.
    pub async fn heard_from_hq(&self, at: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO hq_heard (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = MAX(at, excluded.at)",
        )
        .bind(at)
        .execute(&self.db)
        .await
        .map(drop)
    }

    /// Headquarters' batches good here, newest first.
    pub async fn chain_batches(&self) -> Result<Vec<ChainBatch>, sqlx::Error> {
        sqlx::query_as(
            "SELECT b.batch, b.scope, b.count, b.offline_hours, \
             (SELECT COUNT(*) FROM vouchers v WHERE v.batch = b.batch AND v.code LIKE 'hq:%' AND v.first_used_at IS NOT NULL) AS used, \
             COALESCE((SELECT MAX(v.valid_until) FROM vouchers v WHERE v.batch = b.batch AND v.code LIKE 'hq:%'), 0) AS valid_until, \
             (SELECT COUNT(*) FROM vouchers v WHERE v.batch = b.batch AND v.code LIKE 'hq:%' AND v.revoked_at IS NULL) = 0 AS revoked \
             FROM chain_voucher_batches b ORDER BY b.signed_at DESC",
        )
        .fetch_all(&self.db)
        .await
    }

    /// Undoes a claim whose login failed: the place and the clock go back.
    pub async fn release(&self, claim: Claim) {
        let undo = async {
            let mut tx = self.db.begin().await?;
            if claim.new_device {
                sqlx::query("DELETE FROM voucher_devices WHERE code = ? AND mac = ?")
                    .bind(&claim.code)
                    .bind(&claim.mac)
                    .execute(&mut *tx)
                    .await?;
            }
            if claim.first_use {
                sqlx::query("UPDATE vouchers SET first_used_at = NULL WHERE code = ?")
                    .bind(&claim.code)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        if let Err(err) = undo.await {
            tracing::error!(error = %crate::error_chain(&err), "voucher claim not released");
        }
    }
}

/// Cards as CSV (code, batch, state, devices used/allowed, times in UTC ms,
/// note), for a spreadsheet.
pub fn csv(vouchers: &[Voucher]) -> String {
    let now = now_ms();
    let mut out = String::from(
        "code,batch,state,duration_seconds,devices_used,devices,created_at,valid_until,first_used_at,revoked_at,note\n",
    );
    for v in vouchers {
        let opt = |t: Option<i64>| t.map(|t| t.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            v.display_code(),
            v.batch,
            v.state(now),
            v.duration_seconds,
            v.devices_used,
            v.devices,
            v.created_at,
            v.valid_until,
            opt(v.first_used_at),
            opt(v.revoked_at),
            crate::kit::csv::csv_field(&v.note)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    async fn vouchers() -> Vouchers {
        Vouchers::new(
            crate::store::memory().await.unwrap(),
            Bandwidth { down_kbps: 2048, up_kbps: 512, ..Bandwidth::default() },
        )
    }

    fn batch(count: u32, devices: u32) -> NewBatch {
        NewBatch {
            count,
            duration_seconds: 3600,
            valid_days: 30,
            devices,
            bandwidth: Bandwidth::default(),
            note: "午市".into(),
        }
    }

    fn refusal(result: Result<(Grant, Claim), AuthError>) -> Refusal {
        match result {
            Err(AuthError::Refused(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_batch_has_distinct_typeable_codes() {
        let v = vouchers().await;
        let cards = v.create(&batch(50, 1)).await.unwrap();
        assert_eq!(cards.len(), 50);
        let codes: std::collections::HashSet<_> = cards.iter().map(|c| c.code.clone()).collect();
        assert_eq!(codes.len(), 50);
        assert!(cards.iter().all(|c| c.code.len() == CODE_LEN && c.state(now_ms()) == "unused"));
        assert!(matches!(v.create(&batch(0, 1)).await, Err(VoucherError::Invalid(_))));
    }

    #[tokio::test]
    async fn the_clock_starts_at_first_use_and_the_device_limit_holds() {
        let v = vouchers().await;
        let card = v.create(&batch(1, 2)).await.unwrap().remove(0);
        let (grant, _) = v.claim(&card.display_code().to_lowercase(), client(1)).await.unwrap();
        assert_eq!(grant.identity, Identity::Voucher(card.code.clone()));
        assert!(grant.duration > Duration::from_secs(3590) && grant.duration <= Duration::from_secs(3600));
        assert_eq!(
            grant.bandwidth,
            Bandwidth { down_kbps: 2048, up_kbps: 512, ..Bandwidth::default() },
            "the method's default"
        );
        v.claim(&card.code, client(1)).await.unwrap(); // the same phone again: no new place
        v.claim(&card.code, client(2)).await.unwrap();
        assert_eq!(refusal(v.claim(&card.code, client(3)).await), Refusal::DeviceLimit);
        let listed = v.list(None).await.unwrap();
        assert_eq!((listed[0].devices_used, listed[0].state(now_ms())), (2, "active"));
    }

    #[tokio::test]
    async fn a_failed_login_gives_the_place_and_the_clock_back() {
        let v = vouchers().await;
        let card = v.create(&batch(1, 1)).await.unwrap().remove(0);
        let (_, claim) = v.claim(&card.code, client(1)).await.unwrap();
        v.release(claim).await;
        let listed = v.list(None).await.unwrap().remove(0);
        assert_eq!((listed.devices_used, listed.first_used_at), (0, None));
        v.claim(&card.code, client(2)).await.unwrap();
    }

    #[tokio::test]
    async fn unknown_revoked_and_expired_cards_are_refused() {
        let v = vouchers().await;
        assert_eq!(refusal(v.claim("ABCDE-FGHJK", client(1)).await), Refusal::Invalid);
        assert_eq!(refusal(v.claim("<script>", client(1)).await), Refusal::Invalid);
        let cards = v.create(&batch(2, 1)).await.unwrap();
        assert_eq!(v.revoke(&cards[0].display_code()).await.unwrap(), 1);
        assert_eq!(refusal(v.claim(&cards[0].code, client(1)).await), Refusal::Revoked);
        sqlx::query("UPDATE vouchers SET first_used_at = ? WHERE code = ?")
            .bind(now_ms() - 3_601_000)
            .bind(&cards[1].code)
            .execute(&v.db)
            .await
            .unwrap();
        assert_eq!(refusal(v.claim(&cards[1].code, client(1)).await), Refusal::Expired);
        assert_eq!(v.revoke(&cards[0].batch).await.unwrap(), 1, "the rest of the batch");
    }

    #[tokio::test]
    async fn two_phones_racing_for_the_last_place_do_not_both_win() {
        let db = crate::store::memory().await.unwrap();
        let v = Vouchers::new(db, Bandwidth::default());
        let card = v.create(&batch(1, 1)).await.unwrap().remove(0);
        let tasks: Vec<_> = (1..=8)
            .map(|n| {
                let (v, code) = (v.clone(), card.code.clone());
                tokio::spawn(async move { v.claim(&code, client(n)).await.is_ok() })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
    }

    fn chain_batch(codes: &[String], devices: i64, revoked: &[usize]) -> (Manifest, String) {
        let key = crate::hq::tickets::new_key();
        let salt = chain::new_salt();
        let keys: Vec<String> = codes.iter().map(|c| chain::card_key(&salt, c)).collect();
        let manifest = Manifest {
            brand: "chain".into(),
            batch: "CBATCH1".into(),
            tag: codes[0][..chain::TAG_LEN].into(),
            salt,
            scope: crate::hq::protocol::Scope::Brand,
            duration_seconds: 3600,
            devices,
            down_kbps: 0,
            up_kbps: 0,
            valid_until: now_ms() + 86_400_000,
            offline_hours: 12,
            note: String::new(),
            created_at: now_ms(),
            revoked: revoked.iter().map(|i| keys[*i].clone()).collect(),
            keys,
            revoked_at: None,
            signed_at: now_ms(),
        };
        let signed = chain::sign(&key, &manifest);
        (manifest, signed.signature)
    }

    #[tokio::test]
    async fn a_chain_card_logs_in_by_its_code_while_hq_was_heard_from_lately() {
        let v = vouchers().await;
        let tag = chain::new_tag();
        let codes: Vec<String> = (0..3).map(|_| chain::new_code(&tag)).collect();
        v.apply_chain(&[chain_batch(&codes, 1, &[])], &[]).await.unwrap();
        assert!(v.list(None).await.unwrap().is_empty(), "the site's own list holds no chain card");
        // Never heard from HQ: the offline bound is already passed.
        assert_eq!(refusal(v.claim(&codes[0], client(1)).await), Refusal::Unavailable);
        v.heard_from_hq(now_ms()).await.unwrap();
        let (grant, _) = v.claim(&chain::display_code(&codes[0]).to_lowercase(), client(1)).await.unwrap();
        assert_eq!(grant.identity, Identity::Voucher(codes[0].clone()), "the login names the code (HQ reconciles it)");
        assert!(grant.duration > Duration::from_secs(3590));
        assert_eq!(refusal(v.claim(&codes[0], client(2)).await), Refusal::DeviceLimit);
        assert_eq!(refusal(v.claim(&chain::new_code(&tag), client(3)).await), Refusal::Invalid);
        v.heard_from_hq(now_ms() - 13 * 3_600_000).await.unwrap();
        v.claim(&codes[0], client(1)).await.expect("an older contact does not move the last one back");
        sqlx::query("UPDATE hq_heard SET at = ?").bind(now_ms() - 13 * 3_600_000).execute(&v.db).await.unwrap();
        assert_eq!(refusal(v.claim(&codes[1], client(4)).await), Refusal::Unavailable, "cut off past the bound");
        let listed = v.chain_batches().await.unwrap();
        assert_eq!((listed[0].count, listed[0].used, listed[0].revoked), (3, 1, false));
    }

    #[tokio::test]
    async fn another_site_s_use_and_hq_s_revocation_hold_here() {
        let v = vouchers().await;
        v.heard_from_hq(now_ms()).await.unwrap();
        let tag = chain::new_tag();
        let codes: Vec<String> = (0..3).map(|_| chain::new_code(&tag)).collect();
        let (manifest, signature) = chain_batch(&codes, 1, &[]);
        let elsewhere = CardUse {
            batch: manifest.batch.clone(),
            key: manifest.keys[0].clone(),
            first_used_at: now_ms() - 3_000_000,
            devices: vec![chain::device_key("chain", "02:aa:00:00:00:01")],
        };
        v.apply_chain(&[(manifest.clone(), signature)], std::slice::from_ref(&elsewhere)).await.unwrap();
        assert_eq!(
            refusal(v.claim(&codes[0], client(1)).await),
            Refusal::DeviceLimit,
            "its one device is at another site"
        );
        // The next bundle repeats the use, now with a second device (met while this site was cut off).
        let mut more = elsewhere.clone();
        more.devices.push(chain::device_key("chain", "02:aa:00:00:00:02"));
        v.apply_chain(&[], &[more]).await.unwrap();
        let row = format!("hq:{}:{}", manifest.batch, manifest.keys[0]);
        let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM voucher_devices WHERE code = ?")
            .bind(&row)
            .fetch_one(&v.db)
            .await
            .unwrap();
        assert_eq!(devices, 2, "a device new to this site is written, the known one not twice");
        let mut revoked = manifest.clone();
        revoked.revoked = vec![manifest.keys[1].clone()];
        revoked.signed_at += 1;
        v.apply_chain(&[(revoked, "signed again".into())], &[]).await.unwrap();
        assert_eq!(refusal(v.claim(&codes[1], client(2)).await), Refusal::Revoked);
        v.claim(&codes[2], client(3)).await.unwrap();
        assert_eq!(v.revoke("CBATCH1").await.unwrap(), 0, "a chain batch is headquarters' to revoke");
    }

    #[test]
    fn csv_notes_cannot_become_formulas() {
        let v = Voucher {
            code: "ABCDEFGHJK".into(),
            batch: "B1".into(),
            duration_seconds: 3600,
            devices: 1,
            down_kbps: 0,
            data_mb: 0,
            up_kbps: 0,
            note: "=HYPERLINK(\"x\")".into(),
            created_at: 0,
            valid_until: 0,
            first_used_at: None,
            revoked_at: None,
            devices_used: 0,
        };
        let text = csv(&[v]);
        assert!(text.contains("ABCDE-FGHJK,B1,expired"), "{text}");
        assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
    }
}
