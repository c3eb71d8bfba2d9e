//! The optional domain log (`trail.domains`, off by default): the names
//! each logged-in session resolved through the appliance's resolver, once
//! a session, with when each was first asked. The resolver notes a name in
//! memory (no store on its path); every few seconds the names go to the
//! store under the live session that held the asking address. Nothing but
//! the name is kept: no URL path, page or message ever reaches here.

use crate::kit::time::now_ms;
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Names a session keeps at most (a guest resolving random names cannot fill the disk).
pub const MOST_A_SESSION: i64 = 5_000;

/// Names waiting for the next flush at most; more are dropped (and counted).
const MOST_PENDING: usize = 100_000;

/// Where the resolver notes the names logged-in guests ask for.
#[derive(Default)]
pub struct DomainLog {
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    names: HashMap<(IpAddr, String), i64>,
    dropped: u64,
}

impl DomainLog {
    /// `peer`, logged in, asked for `name`: kept in memory until the next flush.
    pub fn note(&self, peer: IpAddr, name: &str) {
        let mut pending = self.pending.lock().unwrap();
        if pending.names.len() >= MOST_PENDING {
            pending.dropped += 1;
            return;
        }
        pending.names.entry((peer, name.to_string())).or_insert_with(now_ms);
    }
}

impl DomainLog {
    /// Writes the names noted since the last flush under the live session
    /// of each address, in one transaction; returns how many were new.
    pub async fn flush(&self, db: &SqlitePool) -> Result<u64, sqlx::Error> {
        let (names, dropped) = {
            let mut pending = self.pending.lock().unwrap();
            (std::mem::take(&mut pending.names), std::mem::take(&mut pending.dropped))
        };
        if dropped > 0 {
            tracing::warn!(dropped, "domain log: names dropped, more than it keeps between flushes");
        }
        if names.is_empty() {
            return Ok(0);
        }
        let mut tx = db.begin().await?;
        let mut new = 0;
        for ((ip, name), at) in names {
            new += sqlx::query(
                "INSERT OR IGNORE INTO access_trail_domains (session_id, domain, first_at) \
                 SELECT s.id, ?, ? FROM sessions s WHERE s.ended_at IS NULL AND s.ip = ? \
                 AND (SELECT COUNT(*) FROM access_trail_domains d WHERE d.session_id = s.id) < ?",
            )
            .bind(&name)
            .bind(at)
            .bind(ip.to_string())
            .bind(MOST_A_SESSION)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(new)
    }
}

/// The names session `session` resolved, first asked first; the look is
/// logged with `actor` like every search of the access log.
pub async fn of_session(db: &SqlitePool, session: i64, actor: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let names: Vec<(String, i64)> = sqlx::query_as(
        "SELECT domain, first_at FROM access_trail_domains WHERE session_id = ? ORDER BY first_at, domain",
    )
    .bind(session)
    .fetch_all(db)
    .await?;
    sqlx::query("INSERT INTO access_trail_searches (at, actor, query, results) VALUES (?, ?, ?, ?)")
        .bind(now_ms())
        .bind(actor)
        .bind(format!("domains of session {session}"))
        .bind(names.len() as i64)
        .execute(db)
        .await?;
    Ok(names)
}

/// Deletes names first asked before `cutoff` (UTC ms): the access log's retention.
pub async fn prune(db: &SqlitePool, cutoff: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM access_trail_domains WHERE first_at < ?")
        .bind(cutoff)
        .execute(db)
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_live_session_keeps_each_name_once_and_an_address_without_one_keeps_nothing() {
        let db = crate::store::memory().await.unwrap();
        sqlx::query(
            "INSERT INTO sessions (mac, ip, identity, method, started_at, expires_at, last_seen_at) \
             VALUES ('02:00:00:00:00:05', '192.0.2.5', 'x', 'countdown', 1, 9999999999999, 1)",
        )
        .execute(&db)
        .await
        .unwrap();
        let log = DomainLog::default();
        let (guest, stranger): (IpAddr, IpAddr) = ("192.0.2.5".parse().unwrap(), "192.0.2.6".parse().unwrap());
        log.note(guest, "example.test");
        log.note(guest, "example.test");
        log.note(guest, "news.example");
        log.note(stranger, "other.example");
        assert_eq!(log.flush(&db).await.unwrap(), 2);
        log.note(guest, "example.test");
        assert_eq!(log.flush(&db).await.unwrap(), 0, "once a session");
        let names = of_session(&db, 1, "officer").await.unwrap();
        let names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"example.test") && names.contains(&"news.example"));
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_trail_searches WHERE actor = 'officer'")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(logged, 1, "reading the names is itself logged");
        assert_eq!(prune(&db, now_ms() + 1).await.unwrap(), 2);
    }
}
