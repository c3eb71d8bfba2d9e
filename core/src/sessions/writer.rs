//! The login writer: logins that arrive together are committed in one
//! transaction (group commit), with the sessions they replace ended and
//! their facts filed in the member outbox.

use super::rows::EndReason;
use crate::auth::Grant;
use crate::members::outbox::{self, Fact};
use firewall::{Client, MacAddr};
use sqlx::{Row, SqlitePool};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use tokio::sync::{mpsc, oneshot};

/// The channel a login's row goes to the writer by, with where its answer goes.
pub(super) type Writer = mpsc::UnboundedSender<(LoginRow, oneshot::Sender<Result<Written, sqlx::Error>>)>;

/// A login's row, to be written.
pub(super) struct LoginRow {
    pub(super) client: Client,
    pub(super) grant: Grant,
    pub(super) now: i64,
    pub(super) expires_at: i64,
    /// The public address and source ports its traffic leaves by ("", 0, 0: masquerade).
    pub(super) block: (String, u16, u16),
    /// Bytes it may move (None: no allowance).
    pub(super) data_limit: Option<i64>,
}

/// The new row's id and the sessions it replaced.
pub(super) type Written = (i64, Vec<Client>);

/// Most logins committed in one transaction.
const GROUP: usize = 512;

/// The login writer: takes every login queued, writes them in one
/// transaction, answers each. If the group fails, each is tried alone, so
/// one bad row never fails its neighbours.
pub(super) fn spawn_writer(
    db: SqlitePool,
) -> mpsc::UnboundedSender<(LoginRow, oneshot::Sender<Result<Written, sqlx::Error>>)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(LoginRow, oneshot::Sender<Result<Written, sqlx::Error>>)>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut group = vec![first];
            while group.len() < GROUP {
                match rx.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let rows: Vec<&LoginRow> = group.iter().map(|(row, _)| row).collect();
            match write_group(&db, &rows).await {
                Ok(written) => {
                    for ((_, reply), done) in group.into_iter().zip(written) {
                        let _ = reply.send(Ok(done));
                    }
                }
                Err(err) if group.len() == 1 => {
                    let (_, reply) = group.pop().expect("one");
                    let _ = reply.send(Err(err));
                }
                Err(_) => {
                    for (row, reply) in group {
                        let _ = reply.send(write_group(&db, &[&row]).await.map(|mut w| w.remove(0)));
                    }
                }
            }
        }
    });
    tx
}

/// Writes a group of logins in one transaction: one UPDATE ends every
/// session they replace, one INSERT adds them all. A group in which a device
/// or an address appears twice is written row by row, in order.
///
/// The transaction is begun in SQL, with the group's statements: each
/// statement sent alone is a trip to the connection's thread and back,
/// and on a busy appliance each trip can wait for a CPU. A group costs two
/// trips (three and more only when it replaces sessions, whose visits end
/// in the outbox) where it cost five.
async fn write_group(db: &SqlitePool, rows: &[&LoginRow]) -> Result<Vec<Written>, sqlx::Error> {
    let macs: HashSet<MacAddr> = rows.iter().map(|r| r.client.mac).collect();
    let ips: HashSet<IpAddr> = rows.iter().map(|r| r.client.ip).collect();
    let mut held = InTransaction(Some(db.acquire().await?));
    let conn = held.0.as_mut().expect("held");
    let written = async {
        let out = if macs.len() < rows.len() || ips.len() < rows.len() {
            let mut out = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                out.push(write_rows(&mut *conn, &[row], i == 0).await?.remove(0));
            }
            out
        } else {
            write_rows(&mut *conn, rows, true).await?
        };
        sqlx::query("COMMIT").execute(&mut **conn).await?;
        Ok(out)
    }
    .await;
    // Failed: nothing of the group stays. A connection that cannot even
    // roll back is closed (the guard), never handed on mid-transaction.
    if written.is_err() && sqlx::query("ROLLBACK").execute(&mut **conn).await.is_err() {
        return written;
    }
    held.0.take();
    written
}

/// A pooled connection inside a transaction begun in SQL: if it is dropped
/// still holding it (the writer stopped mid-group, or a rollback failed), it
/// is closed rather than given back to the pool with the transaction open.
struct InTransaction(Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>);

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// Rows whose devices and addresses are all different, in one trip to
/// SQLite (`begin`: with the BEGIN of the group's transaction): the UPDATE
/// that ends the sessions they replace, the INSERT of their rows and the
/// INSERT of their login facts. Then the replaced sessions' visit ends.
async fn write_rows(
    conn: &mut sqlx::SqliteConnection,
    rows: &[&LoginRow],
    begin: bool,
) -> Result<Vec<Written>, sqlx::Error> {
    let marks = |n: usize, each: &str| vec![each; n].join(", ");
    let sql = format!(
        "{begin}\
         UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id IN \
         (SELECT id FROM sessions WHERE mac IN ({m}) AND ended_at IS NULL \
          UNION SELECT id FROM sessions WHERE ip IN ({m}) AND ended_at IS NULL) \
         RETURNING mac, ip, visit_id, bytes_up, started_at; \
         INSERT INTO sessions (mac, ip, method, identity, granted_seconds, down_kbps, up_kbps, started_at, \
         expires_at, last_seen_at, visit_id, public_addr, port_lo, port_hi, data_limit) VALUES {values} \
         RETURNING id, mac; {facts}",
        begin = if begin { "BEGIN IMMEDIATE; " } else { "" },
        // Two lookups in the live-session indexes: an `OR` of the two
        // would have SQLite scan every live session (16 ms at 100,000).
        m = marks(rows.len(), "?"),
        values = marks(rows.len(), "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        facts = outbox::insert_many(rows.len()),
    );
    let mut query = sqlx::query(&sql).bind(rows[0].now).bind(EndReason::Replaced.as_str());
    for row in rows {
        query = query.bind(row.client.mac.to_string());
    }
    for row in rows {
        query = query.bind(row.client.ip.to_string());
    }
    // Time-ordered, as the outbox's ids are: the member store keys visits by them.
    let visits: Vec<String> = rows.iter().map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for (row, visit) in rows.iter().zip(&visits) {
        query = query
            .bind(row.client.mac.to_string())
            .bind(row.client.ip.to_string())
            .bind(row.grant.method.as_str())
            .bind(row.grant.identity.local())
            .bind(row.grant.duration.as_secs().max(1) as i64)
            .bind(i64::from(row.grant.bandwidth.down_kbps))
            .bind(i64::from(row.grant.bandwidth.up_kbps))
            .bind(row.now)
            .bind(row.expires_at)
            .bind(row.now)
            .bind(visit.clone())
            .bind(row.block.0.clone())
            .bind(i64::from(row.block.1))
            .bind(i64::from(row.block.2))
            .bind(row.data_limit);
    }
    for (row, visit) in rows.iter().zip(visits) {
        let who = row.grant.identity.who();
        let guest = format!("{}:{}", who.kind, who.value);
        let fact = Fact::Login {
            visit,
            who,
            mac: row.client.mac.to_string(),
            method: row.grant.method.as_str().to_string(),
            started_at: row.now,
        };
        query = outbox::bind_fact(query, row.now, guest, &fact)?;
    }
    // sqlx runs the statements in order, each taking its parameters from
    // the front of the binds, and returns the rows of both RETURNING
    // clauses, told apart by their width: the replaced sessions' five
    // columns, then the new rows' two. (sqlx 0.8 says binds across several
    // statements may go in a later major version; the lock file pins 0.8,
    // and the sessions tests fail if the split ever stops working.)
    let (mut ended, mut ids) = (Vec::new(), HashMap::with_capacity(rows.len()));
    for row in query.fetch_all(&mut *conn).await? {
        if row.len() == 5 {
            let (Ok(mac), Ok(ip)) =
                (row.try_get::<String, _>(0)?.parse::<MacAddr>(), row.try_get::<String, _>(1)?.parse())
            else {
                continue;
            };
            ended.push((Client { mac, ip }, row.try_get::<String, _>(2)?, row.try_get::<i64, _>(3)?, row.try_get(4)?));
        } else {
            ids.insert(row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?);
        }
    }
    let mut replaced = Vec::with_capacity(ended.len());
    for (old, visit, bytes_up, started_at) in ended {
        visit_end(&mut *conn, &old.mac, visit, (started_at, rows[0].now), EndReason::Replaced, bytes_up).await?;
        replaced.push(old);
    }
    rows.iter()
        .map(|row| {
            let id = *ids.get(&row.client.mac.to_string()).ok_or(sqlx::Error::RowNotFound)?;
            let mine = replaced.iter().filter(|c| c.mac == row.client.mac || c.ip == row.client.ip).copied().collect();
            Ok((id, mine))
        })
        .collect()
}

/// Files a visit's end in the outbox (the session's transaction), with the
/// zones the device was seen in from its login to now.
pub(super) async fn visit_end(
    tx: &mut sqlx::SqliteConnection,
    mac: &MacAddr,
    visit: String,
    (started, at): (i64, i64),
    reason: EndReason,
    bytes_up: i64,
) -> Result<(), sqlx::Error> {
    if visit.is_empty() {
        return Ok(()); // a session from before the member store
    }
    let zones = crate::stats::footfall::zones_of(&mut *tx, &mac.to_string(), started, at).await?;
    let fact = Fact::VisitEnd { visit, ended_at: at, reason: reason.as_str().to_string(), bytes_up, zones };
    outbox::push(tx, at, &format!("device:{mac}"), &fact).await.map(|_| ())
}
