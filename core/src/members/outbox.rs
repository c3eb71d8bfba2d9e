//! The outbox: facts for the member store, written to the appliance's own
//! SQLite in the same transaction as the change that caused them (a login
//! row, a session's end, an audit row), so a crash or a cut link can lose
//! none of them. The [`super::feed`] delivers them in `seq` order.

use super::Who;
use serde::{Deserialize, Serialize};
use sqlx::{SqliteConnection, SqlitePool};

/// What happened, as the member store files it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fact {
    /// A guest logged in: a visit starts.
    Login {
        /// The visit's id (the session's).
        visit: String,
        /// Who the method says it is.
        who: Who,
        /// The device.
        mac: String,
        /// The method.
        method: String,
        /// UTC ms.
        started_at: i64,
    },
    /// A session ended: its visit ends.
    VisitEnd {
        /// The visit's id.
        visit: String,
        /// UTC ms.
        ended_at: i64,
        /// Why (`expired`, `idle`, `logout`, `kicked`, `replaced`).
        reason: String,
        /// Bytes the guest sent.
        bytes_up: i64,
        /// The zones the device was seen in, with their APs and minutes
        /// (`大堂 42m (ap-1 ap-2); 包间 10m (ap-3)`). The member store keeps
        /// them only for a member who consented to it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        zones: String,
    },
    /// Something marketing counts: `portal_view`, `refusal`,
    /// `ad_impression`, `ad_click`, `consent`.
    Event {
        /// The kind.
        kind: String,
        /// Who, when known.
        who: Option<Who>,
        /// The device.
        mac: String,
        /// Free text: the ad's URL, `method:reason`, the consent's version.
        detail: String,
    },
    /// A Wi-Fi coupon for the member `who` names (one a member a rule).
    Coupon {
        /// Who.
        who: Who,
        /// The rule.
        rule: String,
        /// The card system's kind.
        kind: String,
        /// Cents.
        value_cents: i64,
        /// UTC ms.
        valid_until: i64,
    },
    /// A one-tap return pass issued to a device (its id's hash only).
    Pass {
        /// SHA-256 of the pass id, hex.
        hash: String,
        /// Who it logs in as.
        who: Who,
        /// The device it was issued to.
        mac: String,
        /// UTC ms.
        expires_at: i64,
    },
}

impl Fact {
    /// The name of the event row it files.
    pub fn kind(&self) -> &str {
        match self {
            Fact::Login { .. } => "login",
            Fact::VisitEnd { .. } => "visit_end",
            Fact::Event { kind, .. } => kind,
            Fact::Coupon { .. } => "coupon",
            Fact::Pass { .. } => "return_pass",
        }
    }
}

/// Queues `fact` about `guest` (an identity or `device:<mac>`, the order
/// key) in the caller's transaction; returns its event id.
pub async fn push(tx: &mut SqliteConnection, at: i64, guest: &str, fact: &Fact) -> Result<String, sqlx::Error> {
    let (id, body) = encode(fact)?;
    sqlx::query(&insert_many(1)).bind(&id).bind(at).bind(guest).bind(body).execute(&mut *tx).await?;
    Ok(id)
}

/// A new fact's event id (time-ordered: the outbox's unique index grows at
/// one end) and its stored body.
fn encode(fact: &Fact) -> Result<(String, String), sqlx::Error> {
    let body = serde_json::to_string(fact).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok((uuid::Uuid::now_v7().to_string(), body))
}

/// The statement that files `n` facts at once, for a caller that sends it
/// together with statements of its own (a group of logins); bind each fact
/// with [`bind_fact`], in order. At most 8,191 facts (4 parameters each).
pub fn insert_many(n: usize) -> String {
    format!("INSERT INTO outbox (id, at, guest, body) VALUES {}", vec!["(?, ?, ?, ?)"; n].join(", "))
}

/// Binds one fact about `guest` to a statement of [`insert_many`]: what
/// [`push`] writes for it.
pub fn bind_fact<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    at: i64,
    guest: String,
    fact: &Fact,
) -> Result<sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>, sqlx::Error> {
    let (id, body) = encode(fact)?;
    Ok(query.bind(id).bind(at).bind(guest).bind(body))
}

/// A waiting coupon of a rule for a guest: the `outbox_coupons` index
/// serves it only while its `type` term is written as the index's is.
const COUPON_WAITING: &str = "SELECT COUNT(*) FROM outbox WHERE guest = ? AND json_extract(body, '$.type') = 'coupon' \
                              AND json_extract(body, '$.rule') = ?";

/// Whether a coupon of `rule` for `guest` is still waiting to be delivered
/// (a second login before the feed delivered the first's).
pub async fn coupon_waiting(tx: &mut SqliteConnection, guest: &str, rule: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(COUPON_WAITING).bind(guest).bind(rule).fetch_one(&mut *tx).await?;
    Ok(n > 0)
}

/// How far behind the feed is.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Backlog {
    /// Facts waiting.
    pub waiting: i64,
    /// Facts the store refused again and again, set aside (see the log).
    pub parked: i64,
    /// Age of the oldest waiting fact, ms (0: none waiting).
    pub lag_ms: i64,
}

/// The outbox's backlog.
pub async fn backlog(db: &SqlitePool) -> Result<Backlog, sqlx::Error> {
    let (waiting, parked, oldest): (i64, i64, Option<i64>) = sqlx::query_as(
        "SELECT COALESCE(SUM(parked = 0), 0), COALESCE(SUM(parked != 0), 0), MIN(CASE WHEN parked = 0 THEN at END) \
         FROM outbox",
    )
    .fetch_one(db)
    .await?;
    let lag_ms = oldest.map_or(0, |at| (crate::kit::time::now_ms() - at).max(0));
    Ok(Backlog { waiting, parked, lag_ms })
}

/// Drops waiting facts about any of `who` (a member erased before their
/// facts were delivered); returns how many.
pub async fn forget(db: &SqlitePool, who: &[Who]) -> Result<u64, sqlx::Error> {
    let mut n = 0;
    for w in who {
        n += sqlx::query("DELETE FROM outbox WHERE guest = ?")
            .bind(format!("{}:{}", w.kind, w.value))
            .execute(db)
            .await?
            .rows_affected();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A login with a coupon rule looks its guest up in the outbox, which
    /// holds 100,000 facts and more while the member store is unreachable:
    /// that lookup must stay on the coupons' index, not read them all.
    #[tokio::test]
    async fn a_waiting_coupon_is_found_through_its_index_and_fact_ids_are_time_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open(dir.path()).await.unwrap();
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {COUPON_WAITING}"))
            .bind("device:02:00:00:00:00:01")
            .bind("r")
            .fetch_all(&db)
            .await
            .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|(.., detail)| detail).collect();
        assert_eq!(plan, ["SEARCH outbox USING INDEX outbox_coupons (guest=?)"]);

        let mut conn = db.acquire().await.unwrap();
        let who = Who { kind: "phone".into(), value: "+8613800000000".into() };
        let login = Fact::Login {
            visit: "v".into(),
            who: who.clone(),
            mac: "02:00:00:00:00:01".into(),
            method: "sms".into(),
            started_at: 1,
        };
        let coupon =
            Fact::Coupon { who, rule: "welcome".into(), kind: "cash".into(), value_cents: 500, valid_until: 2 };
        let guest = "phone:+8613800000000";
        push(&mut conn, 1, guest, &login).await.unwrap();
        assert!(!coupon_waiting(&mut conn, guest, "welcome").await.unwrap(), "a login fact is no coupon");
        push(&mut conn, 1, guest, &coupon).await.unwrap();
        assert!(coupon_waiting(&mut conn, guest, "welcome").await.unwrap());
        assert!(!coupon_waiting(&mut conn, guest, "birthday").await.unwrap());
        // Ids are time-ordered: the later fact's id sorts after the earlier's.
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM outbox ORDER BY seq").fetch_all(&mut *conn).await.unwrap();
        assert!(ids[0] < ids[1], "{ids:?}");
    }
}
