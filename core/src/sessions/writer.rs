//! The login writer: logins that arrive together are committed in one
//! transaction (group commit), with the sessions they replace ended and
//! their facts filed in the member outbox.

use super::rows::EndReason;
use crate::auth::Grant;
use crate::members::outbox::{self, Fact};
use firewall::{Client, MacAddr};
use sqlx::SqlitePool;
use std::collections::HashMap;
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
async fn write_group(db: &SqlitePool, rows: &[&LoginRow]) -> Result<Vec<Written>, sqlx::Error> {
    let macs: std::collections::HashSet<MacAddr> = rows.iter().map(|r| r.client.mac).collect();
    let ips: std::collections::HashSet<IpAddr> = rows.iter().map(|r| r.client.ip).collect();
    if macs.len() < rows.len() || ips.len() < rows.len() {
        let mut out = Vec::with_capacity(rows.len());
        let mut tx = db.begin().await?;
        for row in rows {
            out.push(write_rows(&mut tx, &[row]).await?.remove(0));
        }
        tx.commit().await?;
        return Ok(out);
    }
    let mut tx = db.begin().await?;
    let out = write_rows(&mut tx, rows).await?;
    tx.commit().await?;
    Ok(out)
}

/// Rows whose devices and addresses are all different, in two statements.
async fn write_rows(tx: &mut sqlx::SqliteConnection, rows: &[&LoginRow]) -> Result<Vec<Written>, sqlx::Error> {
    let marks = |n: usize, each: &str| vec![each; n].join(", ");
    let update = format!(
        // Two lookups in the live-session indexes: an `OR` of the two
        // would have SQLite scan every live session (16 ms at 100,000).
        "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id IN \
         (SELECT id FROM sessions WHERE mac IN ({m}) AND ended_at IS NULL \
          UNION SELECT id FROM sessions WHERE ip IN ({m}) AND ended_at IS NULL) \
         RETURNING mac, ip, visit_id, bytes_up, started_at",
        m = marks(rows.len(), "?")
    );
    let mut query = sqlx::query_as::<_, (String, String, String, i64, i64)>(&update)
        .bind(rows[0].now)
        .bind(EndReason::Replaced.as_str());
    for row in rows {
        query = query.bind(row.client.mac.to_string());
    }
    for row in rows {
        query = query.bind(row.client.ip.to_string());
    }
    let mut replaced = Vec::new();
    for (mac, ip, visit, bytes_up, started_at) in query.fetch_all(&mut *tx).await? {
        let (Ok(mac), Ok(ip)) = (mac.parse::<MacAddr>(), ip.parse()) else { continue };
        visit_end(&mut *tx, &mac, visit, (started_at, rows[0].now), EndReason::Replaced, bytes_up).await?;
        replaced.push(Client { mac, ip });
    }
    // Time-ordered, as the outbox's ids are: the member store keys visits by them.
    let visits: Vec<String> = rows.iter().map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let insert = format!(
        "INSERT INTO sessions (mac, ip, method, identity, granted_seconds, down_kbps, up_kbps, started_at, \
         expires_at, last_seen_at, visit_id, public_addr, port_lo, port_hi, data_limit) VALUES {} RETURNING id, mac",
        marks(rows.len(), "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    );
    let mut query = sqlx::query_as::<_, (i64, String)>(&insert);
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
            .bind(visit)
            .bind(&row.block.0)
            .bind(i64::from(row.block.1))
            .bind(i64::from(row.block.2))
            .bind(row.data_limit);
    }
    let ids: HashMap<String, i64> = query.fetch_all(&mut *tx).await?.into_iter().map(|(id, mac)| (mac, id)).collect();
    // The group's login facts in one statement: one a row cost a round trip
    // to SQLite's thread each, a third of a login's time.
    let facts: Vec<(i64, String, Fact)> = rows
        .iter()
        .zip(visits)
        .map(|(row, visit)| {
            let who = row.grant.identity.who();
            let guest = format!("{}:{}", who.kind, who.value);
            let fact = Fact::Login {
                visit,
                who,
                mac: row.client.mac.to_string(),
                method: row.grant.method.as_str().to_string(),
                started_at: row.now,
            };
            (row.now, guest, fact)
        })
        .collect();
    outbox::push_many(&mut *tx, &facts).await?;
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
