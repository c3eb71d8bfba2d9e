//! Voucher cards (小时卡 / 包月卡): staff create them in batches and hand them
//! out or print them (each card carries its code and a QR code of a login
//! URL with it). A card's clock starts at its first use; it must be first
//! used within its validity; it serves at most `devices` devices; staff can
//! revoke it. Codes come from a CSPRNG: 10 symbols of 31, ~49 bits.

use super::{AuthError, Bandwidth, Grant, Identity, Method, Refusal};
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

const SELECT: &str = "SELECT v.code, v.batch, v.duration_seconds, v.devices, v.down_kbps, v.up_kbps, v.note, \
     v.created_at, v.valid_until, v.first_used_at, v.revoked_at, \
     (SELECT COUNT(*) FROM voucher_devices d WHERE d.code = v.code) AS devices_used FROM vouchers v";

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
                 valid_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING",
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
                sqlx::query_as(&format!("{SELECT} WHERE v.batch = ? ORDER BY v.created_at DESC, v.code"))
                    .bind(batch)
                    .fetch_all(&self.db)
                    .await
            }
            None => sqlx::query_as(&format!("{SELECT} ORDER BY v.created_at DESC, v.code")).fetch_all(&self.db).await,
        }
    }

    /// Revokes one card (by code) or a whole batch; returns how many. Sessions
    /// it already opened run on (kick the devices to end them).
    pub async fn revoke(&self, code_or_batch: &str) -> Result<u64, sqlx::Error> {
        let code = normalize_code(code_or_batch).unwrap_or_default();
        let done =
            sqlx::query("UPDATE vouchers SET revoked_at = ? WHERE revoked_at IS NULL AND (code = ? OR batch = ?)")
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
        let now = now_ms();
        let mac = client.mac.to_string();
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
            identity: Identity::Voucher(code.clone()),
            duration: Duration::from_millis(left as u64),
            bandwidth: Bandwidth {
                down_kbps: pick(voucher.down_kbps, self.default_bandwidth.down_kbps),
                up_kbps: pick(voucher.up_kbps, self.default_bandwidth.up_kbps),
            },
        };
        Ok((grant, Claim { code, mac, first_use: started, new_device: !known }))
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
        Vouchers::new(crate::store::memory().await.unwrap(), Bandwidth { down_kbps: 2048, up_kbps: 512 })
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
        assert_eq!(grant.bandwidth, Bandwidth { down_kbps: 2048, up_kbps: 512 }, "the method's default");
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

    #[test]
    fn csv_notes_cannot_become_formulas() {
        let v = Voucher {
            code: "ABCDEFGHJK".into(),
            batch: "B1".into(),
            duration_seconds: 3600,
            devices: 1,
            down_kbps: 0,
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
