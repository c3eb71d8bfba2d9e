//! How sessions are kept in the store: the row, its reading, and the
//! kernel's counters written back to it.

use crate::kit::time::now_ms;
use firewall::{Client, MacAddr, Rate};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use std::net::IpAddr;
use std::time::Duration;

/// One guest's login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// The device.
    #[serde(serialize_with = "ser_display", deserialize_with = "de_from_str")]
    pub mac: MacAddr,
    /// Its address on the guest network.
    pub ip: IpAddr,
    /// How it logged in (`countdown`, `voucher`, ...).
    pub method: String,
    /// Who: `device:<mac>`, `voucher:<code>`, `account:<username>`, ...
    pub identity: String,
    /// The length the method granted, seconds.
    pub granted_seconds: i64,
    /// Download limit, kbit/s (0: none).
    pub down_kbps: i64,
    /// Upload limit, kbit/s (0: none).
    pub up_kbps: i64,
    /// UTC ms.
    pub started_at: i64,
    /// UTC ms.
    pub expires_at: i64,
    /// Packets the guest sent, as last read from the kernel.
    pub packets_up: i64,
    /// Bytes the guest sent, as last read from the kernel.
    pub bytes_up: i64,
    /// Bytes sent to the guest, as last read from the kernel.
    #[serde(default)]
    pub bytes_down: i64,
    /// Bytes the session may move up and down together (its data allowance
    /// less what its identity used before in the allowance's period); None: no limit.
    #[serde(default)]
    pub data_limit: Option<i64>,
    /// Bytes up and down moved before the kernel's counters last started
    /// from zero (a restart): the totals are these plus the counters.
    #[serde(skip)]
    pub base: (i64, i64),
}

impl Session {
    /// The filter's view of the device.
    pub fn client(&self) -> Client {
        Client { mac: self.mac, ip: self.ip }
    }

    /// The bandwidth limits the filter enforces.
    pub fn rate(&self) -> Rate {
        Rate { down_kbps: self.down_kbps.max(0) as u32, up_kbps: self.up_kbps.max(0) as u32 }
    }

    /// Time left, zero once expired.
    pub fn remaining(&self) -> Duration {
        Duration::from_millis((self.expires_at - now_ms()).max(0) as u64)
    }
}

/// Why a session ended, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Its time ran out.
    Expired,
    /// No traffic for the idle timeout.
    Idle,
    /// The guest logged out.
    Logout,
    /// Staff kicked the device.
    Kicked,
    /// The same device or address logged in again.
    Replaced,
    /// Its data allowance was used up.
    DataUsed,
    /// The kernel refused its element: the login failed after its row was written.
    Failed,
}

impl EndReason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Idle => "idle",
            EndReason::Logout => "logout",
            EndReason::Kicked => "kicked",
            EndReason::Replaced => "replaced",
            EndReason::DataUsed => "data_used",
            EndReason::Failed => "failed",
        }
    }
}

/// Keeps what the kernel counted for `c`'s live session (on top of its base).
pub(super) async fn save_counters(
    db: &mut sqlx::SqliteConnection,
    c: &firewall::ClientCounters,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET packets_up = ?, bytes_up = base_up + ?, bytes_down = base_down + ? \
         WHERE mac = ? AND ip = ? AND ended_at IS NULL",
    )
    .bind(c.packets as i64)
    .bind(c.bytes as i64)
    .bind(c.bytes_down as i64)
    .bind(c.client.mac.to_string())
    .bind(c.client.ip.to_string())
    .execute(db)
    .await
    .map(drop)
}

/// Every live session the kernel should hold, as a restore needs it (the
/// device, the time left, the rate), a row at a time: reading the full
/// rows of 100,000 sessions was a second of a flushed table's way back.
pub(super) async fn live_clients(db: &SqlitePool) -> Result<Vec<(Client, Duration, Rate)>, sqlx::Error> {
    use futures::TryStreamExt;
    let now = now_ms();
    let mut rows = sqlx::query_as::<_, (String, String, i64, i64, i64)>(
        "SELECT mac, ip, expires_at, down_kbps, up_kbps FROM sessions WHERE ended_at IS NULL AND expires_at > ?",
    )
    .bind(now)
    .fetch(db);
    let mut out = Vec::new();
    while let Some((mac, ip, expires_at, down, up)) = rows.try_next().await? {
        let (Ok(mac), Ok(ip)) = (mac.parse(), ip.parse()) else { continue };
        let left = Duration::from_millis((expires_at - now).max(0) as u64);
        out.push((Client { mac, ip }, left, Rate { down_kbps: down.max(0) as u32, up_kbps: up.max(0) as u32 }));
    }
    Ok(out)
}

pub(super) const SELECT: &str =
    "SELECT id, mac, ip, method, identity, granted_seconds, down_kbps, up_kbps, started_at, \
                      expires_at, packets_up, bytes_up, bytes_down, data_limit, base_up, base_down FROM sessions";

pub(super) async fn live(db: &SqlitePool) -> Result<Vec<Session>, sqlx::Error> {
    let rows = sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE ended_at IS NULL ORDER BY id")).fetch_all(db).await?;
    Ok(rows.into_iter().filter_map(Row::into_session).collect())
}

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: i64,
    mac: String,
    ip: String,
    method: String,
    identity: String,
    granted_seconds: i64,
    down_kbps: i64,
    up_kbps: i64,
    started_at: i64,
    expires_at: i64,
    packets_up: i64,
    bytes_up: i64,
    bytes_down: i64,
    data_limit: Option<i64>,
    base_up: i64,
    base_down: i64,
}

impl Row {
    pub(super) fn into_session(self) -> Option<Session> {
        Some(Session {
            id: self.id,
            mac: self.mac.parse().ok()?,
            ip: self.ip.parse().ok()?,
            method: self.method,
            identity: self.identity,
            granted_seconds: self.granted_seconds,
            down_kbps: self.down_kbps,
            up_kbps: self.up_kbps,
            started_at: self.started_at,
            expires_at: self.expires_at,
            packets_up: self.packets_up,
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            data_limit: self.data_limit,
            base: (self.base_up, self.base_down),
        })
    }
}

fn ser_display<S: serde::Serializer>(v: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn de_from_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}
