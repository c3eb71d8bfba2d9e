//! Guest sessions: the only caller of the `firewall` crate.
//!
//! A session is one row in the store and one element in the kernel's
//! `authorized` set, whose timeout is the session's remaining time, so an
//! expired session stops in the kernel even while the daemon is down. A login
//! is written in one transaction that commits only after the kernel has the
//! element: nothing is ever half-written.

pub mod arpwatch;
mod rows;
mod writer;

use rows::{live, save_counters, Row, SELECT};
pub use rows::{EndReason, Session};
use writer::{spawn_writer, visit_end, LoginRow, Writer};

use crate::auth::Grant;
use crate::kit::time::now_ms;
use firewall::{Client, ClientFilter, FirewallError, MacAddr, Rate};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store failed; nothing was changed.
    #[error("session store error")]
    Store(#[from] sqlx::Error),
    /// The kernel refused the change; nothing was changed.
    #[error("firewall error")]
    Firewall(#[from] FirewallError),
    /// Another device's live session holds the address and is still in use
    /// (traffic within the idle window, or its DHCP lease): not taken over.
    #[error("{ip} is held by {holder}'s live session")]
    AddressInUse {
        /// The address asked for.
        ip: IpAddr,
        /// The device whose session holds it.
        holder: MacAddr,
    },
    /// The identity has used its data allowance (the voucher's, or the day's).
    #[error("the data allowance of {mb} MB is used up")]
    DataUsedUp {
        /// The allowance, MB.
        mb: u32,
    },
}

/// What the idle sweep keeps of a live session's device between sweeps,
/// so it never reads every live row: the kernel's packet count when it last
/// moved, when that was, and the counters last written to the row.
#[derive(Clone, Copy)]
struct Activity {
    packets: u64,
    since: Instant,
    saved: (u64, u64, u64),
}

impl Activity {
    fn new(packets: u64) -> Activity {
        Activity { packets, since: Instant::now(), saved: (0, 0, 0) }
    }
}

/// The sessions service.
#[derive(Clone)]
pub struct Sessions {
    db: SqlitePool,
    filter: Arc<dyn ClientFilter>,
    idle_timeout: Option<Duration>,
    activity: Arc<Mutex<HashMap<Client, Activity>>>,
    /// Live sessions' device and expiry (UTC ms) by address (one live
    /// session an address), so the portal's hot path and the ARP watcher
    /// ask "who is logged in here?" without the store.
    live: Arc<Mutex<HashMap<IpAddr, Holder>>>,
    /// dnsmasq's lease file: who the DHCP server gave each address to.
    leases: Option<std::path::PathBuf>,
    /// Bytes logged-in guests have sent, at the last idle sweep.
    bytes_up: Arc<std::sync::atomic::AtomicU64>,
    /// Login rows go through one writer that commits them in groups.
    writer: Writer,
    /// The guests' source-port blocks (the firewall's; the session row
    /// keeps its own for the access log).
    blocks: Option<firewall::PortBlocks>,
    /// The site's zone, hours from UTC: where a daily data allowance's day starts.
    zone_offset: i64,
}

/// Who holds an address: the device, its session's expiry (UTC ms) and rate.
type Holder = (MacAddr, i64, Rate);

/// Most sessions' counters written in one transaction by the idle sweep
/// (about 2 ms of holding the write lock).
const COUNTERS_A_COMMIT: usize = 256;

impl Sessions {
    /// Sessions ended after `idle_timeout` without traffic; each lasts what
    /// its login's grant says.
    pub fn new(db: SqlitePool, filter: Arc<dyn ClientFilter>, idle_timeout: Option<Duration>) -> Self {
        let writer = spawn_writer(db.clone());
        Sessions {
            db,
            filter,
            idle_timeout,
            activity: Arc::default(),
            live: Arc::default(),
            leases: None,
            bytes_up: Arc::default(),
            writer,
            blocks: None,
            zone_offset: 8,
        }
    }

    /// The uplink address guests leave by, when they have port blocks.
    pub fn public_address(&self) -> Option<std::net::Ipv4Addr> {
        self.blocks.map(|b| b.public)
    }

    /// After the uplink was renumbered (at start): live sessions with a
    /// port block name the new address beside the one they logged in by
    /// (`old|new`: their earlier connections left by the old one), so the
    /// access log finds them by either. Returns how many.
    pub async fn renumbered(&self) -> Result<u64, SessionError> {
        let Some(public) = self.public_address().map(|a| a.to_string()) else { return Ok(0) };
        Ok(sqlx::query(
            "UPDATE sessions SET public_addr = public_addr || '|' || ?1 WHERE ended_at IS NULL AND public_addr != '' \
             AND '|' || public_addr || '|' NOT LIKE '%|' || ?1 || '|%'",
        )
        .bind(public)
        .execute(&self.db)
        .await?
        .rows_affected())
    }

    /// The site's zone (hours from UTC): a daily data allowance's day starts at its midnight.
    pub fn with_zone(mut self, offset: i64) -> Self {
        self.zone_offset = offset;
        self
    }

    /// Records in each session the public address and source-port block
    /// its traffic leaves by (what the firewall gives it).
    pub fn with_port_blocks(mut self, blocks: Option<firewall::PortBlocks>) -> Self {
        self.blocks = blocks;
        self
    }

    /// The store the sessions are kept in (and, beside them, the access log).
    pub fn store(&self) -> &SqlitePool {
        &self.db
    }

    /// Consults dnsmasq's lease file before an address changes hands.
    pub fn with_leases(mut self, path: std::path::PathBuf) -> Self {
        self.leases = Some(path);
        self
    }

    /// Remembers the sessions restored at start (see [`Sessions::holder`]).
    pub fn track(&self, clients: &[(Client, Duration, Rate)]) {
        let now = now_ms();
        let mut live = self.live.lock().unwrap();
        live.clear();
        live.extend(clients.iter().map(|(c, left, rate)| (c.ip, (c.mac, now + left.as_millis() as i64, *rate))));
    }

    /// The device whose live session holds `ip`, from memory.
    pub fn holder(&self, ip: IpAddr) -> Option<MacAddr> {
        let now = now_ms();
        self.live.lock().unwrap().get(&ip).filter(|(_, expires, _)| *expires > now).map(|(mac, ..)| *mac)
    }

    /// How many guests are logged in, from memory.
    pub fn live_count(&self) -> usize {
        let now = now_ms();
        self.live.lock().unwrap().values().filter(|(_, expires, _)| *expires > now).count()
    }

    /// Bytes logged-in guests have sent, as the last idle sweep read them.
    pub fn bytes_up(&self) -> u64 {
        self.bytes_up.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every live, unexpired session with its remaining time: what the
    /// kernel set must hold. Used at start and by `firewall-reload`.
    /// Before the kernel's counters start from zero again (the table put
    /// back at start or after a flush): each live session's totals so far
    /// become its base, so what it moved is not forgotten.
    ///
    /// A few thousand rows a transaction, and only those that moved: at
    /// 100,000 guests one statement held the write lock for seconds.
    pub async fn rebase(db: &SqlitePool) -> Result<u64, SessionError> {
        let (mut total, mut after) = (0, 0i64);
        loop {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(id) FROM (SELECT id FROM sessions WHERE id > ? AND ended_at IS NULL ORDER BY id LIMIT 2048)",
            )
            .bind(after)
            .fetch_one(db)
            .await?;
            let Some(last) = last else { return Ok(total) };
            total += sqlx::query(
                "UPDATE sessions SET base_up = bytes_up, base_down = bytes_down WHERE id > ? AND id <= ? \
                 AND ended_at IS NULL AND (base_up != bytes_up OR base_down != bytes_down)",
            )
            .bind(after)
            .bind(last)
            .execute(db)
            .await?
            .rows_affected();
            after = last;
            tokio::task::yield_now().await;
        }
    }

    /// Every live session's client, time left and rate: what the filter is put back with.
    pub async fn live_clients(db: &SqlitePool) -> Result<Vec<(Client, Duration, Rate)>, SessionError> {
        Ok(rows::live_clients(db).await?)
    }

    /// Logs `client` in with what its method granted, replacing any live
    /// session of the same device or address. The only way in.
    ///
    /// Who holds the address now comes from memory (every session change
    /// goes through here, and one controller owns the data dir). The kernel
    /// element and the row are written at the same time:
    /// logins that arrive together are committed in one transaction by one
    /// writer (group commit), so they neither queue behind each other's
    /// netlink round trip nor fight over SQLite's write lock. If the store
    /// fails, the element is put back as it was; if the kernel refuses the
    /// element, the row just written ends as `failed`.
    pub async fn login(&self, client: Client, grant: Grant) -> Result<Session, SessionError> {
        let length = grant.duration.max(Duration::from_millis(1));
        let now = now_ms();
        let holder = self.live.lock().unwrap().get(&client.ip).copied().filter(|(_, expires, _)| *expires > now);
        // This device's own session on this address: what to put back if the store fails.
        let before = holder.filter(|(mac, ..)| *mac == client.mac).map(|(_, expires, rate)| (expires, rate));
        if let Some((mac, ..)) = holder.filter(|(mac, ..)| *mac != client.mac) {
            self.check_address(client, Client { mac, ip: client.ip })?;
        }
        let data_limit = self.data_left(&grant).await?;
        let rate = Rate { down_kbps: grant.bandwidth.down_kbps, up_kbps: grant.bandwidth.up_kbps };
        let now = now_ms();
        let expires_at = now + length.as_millis() as i64;
        let block = match (self.blocks, client.ip) {
            (Some(b), IpAddr::V4(ip)) => b.of(ip).map(|(lo, hi)| (b.public.to_string(), lo, hi)),
            _ => None,
        };
        let block = block.unwrap_or_default();
        let row = LoginRow { client, grant: grant.clone(), now, expires_at, block, data_limit };
        let (done, result) = oneshot::channel();
        let write = async {
            match self.writer.send((row, done)) {
                Ok(()) => result.await.unwrap_or(Err(sqlx::Error::PoolClosed)),
                Err(_) => Err(sqlx::Error::PoolClosed),
            }
        };
        // The element and the row at once: a login waits for the slower of
        // the two, not for both one after the other (at 100,000 guests each
        // has a tail of ~2 ms, and their sum was the login's p99).
        let (authorized, written) = tokio::join!(self.filter.authorize(client, length, rate), write);
        let (id, replaced) = match (authorized, written) {
            (Ok(()), Ok(done)) => done,
            (Ok(()), Err(err)) => {
                let undo = match before {
                    Some((expires, old_rate)) => {
                        let left = Duration::from_millis((expires - now_ms()).max(1) as u64);
                        self.filter.authorize(client, left, old_rate).await
                    }
                    None => self.filter.revoke(client).await,
                };
                if let Err(undo) = undo {
                    tracing::error!(%client, error = %crate::error_chain(&undo), "could not undo a failed login");
                }
                return Err(err.into());
            }
            (Err(err), Ok((id, replaced))) => {
                self.unwind(client, id, &replaced).await;
                return Err(err.into());
            }
            (Err(err), Err(_)) => return Err(err.into()),
        };
        for old in replaced.iter().filter(|old| **old != client) {
            if let Err(err) = self.filter.revoke(*old).await {
                tracing::error!(client = %old, error = %crate::error_chain(&err), "replaced session not revoked");
            }
            self.activity.lock().unwrap().remove(old);
        }
        self.activity.lock().unwrap().insert(client, Activity::new(0));
        {
            let mut live = self.live.lock().unwrap();
            for old in &replaced {
                live.remove(&old.ip);
            }
            live.insert(client.ip, (client.mac, expires_at, rate));
        }
        let method = grant.method.as_str();
        tracing::info!(session = id, %client, method, seconds = length.as_secs(), "guest logged in");
        Ok(Session {
            id,
            mac: client.mac,
            ip: client.ip,
            method: method.to_string(),
            identity: grant.identity.local(),
            granted_seconds: length.as_secs() as i64,
            down_kbps: i64::from(grant.bandwidth.down_kbps),
            up_kbps: i64::from(grant.bandwidth.up_kbps),
            started_at: now,
            expires_at,
            packets_up: 0,
            bytes_up: 0,
            bytes_down: 0,
            data_limit,
            base: (0, 0),
        })
    }

    /// A login whose row was written but whose element the kernel
    /// refused: its session ends at once as `failed` (the access log and
    /// the member store see a visit that carried nothing), and the sessions
    /// it replaced are let go, as their rows already say.
    async fn unwind(&self, client: Client, id: i64, replaced: &[Client]) {
        if let Err(err) = self.end_row(id, &client.mac, EndReason::Failed).await {
            tracing::error!(session = id, %client, error = %crate::error_chain(&err), "a failed login's row not ended");
        }
        for old in replaced {
            if let Err(err) = self.filter.revoke(*old).await {
                tracing::error!(client = %old, error = %crate::error_chain(&err), "replaced session not revoked");
            }
            self.forget(*old);
        }
    }

    /// What a grant's data allowance leaves this login: the allowance less
    /// what the identity's sessions moved in its period (the site's day for a
    /// daily one, else ever). None without an allowance; an error when none is left.
    async fn data_left(&self, grant: &Grant) -> Result<Option<i64>, SessionError> {
        let mb = grant.bandwidth.data_mb;
        if mb == 0 {
            return Ok(None);
        }
        let since =
            if grant.bandwidth.data_daily { crate::stats::Range::last_days(1, self.zone_offset).start } else { 0 };
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(bytes_up + bytes_down), 0) FROM sessions WHERE identity = ? AND started_at >= ?",
        )
        .bind(grant.identity.local())
        .bind(since)
        .fetch_one(&self.db)
        .await?;
        let left = i64::from(mb) * 1_000_000 - used;
        if left <= 0 {
            return Err(SessionError::DataUsedUp { mb });
        }
        Ok(Some(left))
    }

    /// Refuses an address another device's live session still uses: it had
    /// traffic within the idle window (always, without an idle timeout), or
    /// the DHCP lease names that device. The neighbour table a login trusts
    /// can be poisoned by a guest; this keeps one guest from logging another
    /// out by announcing its address.
    fn check_address(&self, client: Client, holder: Client) -> Result<(), SessionError> {
        let recent = match self.idle_timeout {
            None => true,
            Some(idle) => self.activity.lock().unwrap().get(&holder).is_none_or(|a| a.since.elapsed() < idle),
        };
        let leased = self
            .leases
            .as_deref()
            .and_then(|path| crate::dhcp::lease_holder(path, client.ip))
            .is_some_and(|mac| mac == holder.mac);
        if recent || leased {
            tracing::warn!(%client, holder = %holder.mac, recent, leased, "address conflict: login refused");
            return Err(SessionError::AddressInUse { ip: client.ip, holder: holder.mac });
        }
        Ok(())
    }

    /// The live, unexpired session of exactly this device and address.
    pub async fn current(&self, client: Client) -> Result<Option<Session>, SessionError> {
        let row = sqlx::query_as::<_, Row>(&format!(
            "{SELECT} WHERE ended_at IS NULL AND mac = ? AND ip = ? AND expires_at > ?"
        ))
        .bind(client.mac.to_string())
        .bind(client.ip.to_string())
        .bind(now_ms())
        .fetch_optional(&self.db)
        .await?;
        Ok(row.and_then(Row::into_session))
    }

    /// Ends the guest's own session; false if it had none.
    pub async fn logout(&self, client: Client) -> Result<bool, SessionError> {
        let Some(session) = self.current(client).await? else {
            return Ok(false);
        };
        self.end(&session, EndReason::Logout).await?;
        Ok(true)
    }

    /// Ends every live session of the device; returns how many.
    pub async fn kick(&self, mac: MacAddr) -> Result<usize, SessionError> {
        let sessions: Vec<Session> = live(&self.db).await?.into_iter().filter(|s| s.mac == mac).collect();
        for session in &sessions {
            self.end(session, EndReason::Kicked).await?;
        }
        Ok(sessions.len())
    }

    /// Live sessions, newest first, with the kernel's counters.
    pub async fn list(&self) -> Result<Vec<Session>, SessionError> {
        let counters: HashMap<Client, (u64, u64, u64)> =
            self.filter.list().await?.into_iter().map(|c| (c.client, (c.packets, c.bytes, c.bytes_down))).collect();
        let mut sessions = live(&self.db).await?;
        for s in &mut sessions {
            if let Some((packets, bytes, down)) = counters.get(&s.client()) {
                s.packets_up = *packets as i64;
                s.bytes_up = s.base.0 + *bytes as i64;
                s.bytes_down = s.base.1 + *down as i64;
            }
        }
        sessions.reverse();
        Ok(sessions)
    }

    /// Puts every live session back into the filter (`controller
    /// firewall-reload`, after nftables was flushed); returns how many.
    pub async fn restore_filter(&self) -> Result<usize, SessionError> {
        let start = std::time::Instant::now();
        Self::rebase(&self.db).await?;
        let rebased = start.elapsed();
        let clients = Self::live_clients(&self.db).await?;
        let read = start.elapsed();
        let count = clients.len();
        self.track(&clients);
        self.filter.restore(clients).await?;
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        tracing::info!(
            sessions = count,
            rebase_ms = ms(rebased),
            read_ms = ms(read - rebased),
            kernel_ms = ms(start.elapsed() - read),
            "firewall restored with every live session"
        );
        Ok(count)
    }

    /// Ends expired sessions, those past their data allowance (when
    /// `check_data`) and, when `check_idle`, idle ones.
    pub async fn sweep(&self, check_idle: bool, check_data: bool) -> Result<(), SessionError> {
        // Every second: only the expired rows, not every live session.
        let expired = sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE ended_at IS NULL AND expires_at <= ?"))
            .bind(now_ms())
            .fetch_all(&self.db)
            .await?;
        for session in expired.into_iter().filter_map(Row::into_session) {
            self.end(&session, EndReason::Expired).await?;
        }
        if check_data && !check_idle {
            self.sweep_data().await?;
        }
        let (true, Some(idle)) = (check_idle, self.idle_timeout) else {
            return Ok(());
        };
        // Each live session's device from memory, not the store: reading
        // 100,000 rows every sweep was a quarter second of a core that
        // logins waited behind.
        let clients: Vec<Client> =
            self.live.lock().unwrap().iter().map(|(ip, (mac, ..))| Client { mac: *mac, ip: *ip }).collect();
        let counters = self.filter.list().await?;
        self.end_limited(&counters).await?;
        let bytes: u64 = counters.iter().map(|c| c.bytes).sum();
        self.bytes_up.store(bytes, std::sync::atomic::Ordering::Relaxed);
        let by_client: HashMap<Client, &firewall::ClientCounters> = counters.iter().map(|c| (c.client, c)).collect();
        let (mut idle_clients, mut moved) = (Vec::new(), Vec::new());
        {
            let mut activity = self.activity.lock().unwrap();
            for client in &clients {
                let counted = by_client.get(client);
                let packets = counted.map_or(0, |c| c.packets);
                let entry = activity.entry(*client).or_insert_with(|| Activity::new(packets));
                if entry.packets != packets {
                    (entry.packets, entry.since) = (packets, Instant::now());
                }
                if entry.since.elapsed() >= idle {
                    idle_clients.push(*client);
                }
                // Only the rows whose counters moved since they were last written.
                if let Some(c) = counted.filter(|c| (c.packets, c.bytes, c.bytes_down) != entry.saved) {
                    moved.push((*c).clone());
                }
            }
        }
        for client in idle_clients {
            // A session younger than the idle time cannot be idle: the
            // device logged in again since the sweep looked.
            let row = sqlx::query_as::<_, Row>(&format!(
                "{SELECT} WHERE mac = ? AND ip = ? AND ended_at IS NULL AND started_at <= ?"
            ))
            .bind(client.mac.to_string())
            .bind(client.ip.to_string())
            .bind(now_ms() - idle.as_millis() as i64)
            .fetch_optional(&self.db)
            .await?;
            if let Some(session) = row.and_then(Row::into_session) {
                self.end(&session, EndReason::Idle).await?;
            }
        }
        // A few hundred rows to a transaction: at 100,000 guests one
        // transaction for all held the write lock past the busy timeout,
        // and a login then failed.
        for chunk in moved.chunks(COUNTERS_A_COMMIT) {
            let mut tx = self.db.begin().await?;
            for c in chunk {
                save_counters(&mut tx, c).await?;
            }
            tx.commit().await?;
            {
                let mut activity = self.activity.lock().unwrap();
                for c in chunk {
                    if let Some(entry) = activity.get_mut(&c.client) {
                        entry.saved = (c.packets, c.bytes, c.bytes_down);
                    }
                }
            }
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Drops what memory holds of a device whose session is no longer live.
    fn forget(&self, client: Client) {
        self.activity.lock().unwrap().remove(&client);
        let mut live = self.live.lock().unwrap();
        if live.get(&client.ip).is_some_and(|(mac, ..)| *mac == client.mac) {
            live.remove(&client.ip);
        }
    }

    /// Ends the sessions whose data allowance is used up: the kernel's
    /// counters read only when a live session has an allowance.
    async fn sweep_data(&self) -> Result<(), SessionError> {
        let any: Option<i64> =
            sqlx::query_scalar("SELECT id FROM sessions WHERE ended_at IS NULL AND data_limit IS NOT NULL LIMIT 1")
                .fetch_optional(&self.db)
                .await?;
        if any.is_none() {
            return Ok(());
        }
        let counters = self.filter.list().await?;
        self.end_limited(&counters).await
    }

    /// Ends each live session with an allowance that moved its data limit,
    /// by `counters`, with what the kernel counted kept on its row.
    async fn end_limited(&self, counters: &[firewall::ClientCounters]) -> Result<(), SessionError> {
        let limited = sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE ended_at IS NULL AND data_limit IS NOT NULL"))
            .fetch_all(&self.db)
            .await?;
        if limited.is_empty() {
            return Ok(());
        }
        let by_client: HashMap<Client, &firewall::ClientCounters> = counters.iter().map(|c| (c.client, c)).collect();
        for session in limited.into_iter().filter_map(Row::into_session) {
            let (Some(limit), Some(c)) = (session.data_limit, by_client.get(&session.client())) else { continue };
            if session.base.0 + session.base.1 + (c.bytes + c.bytes_down) as i64 >= limit {
                tracing::info!(session = session.id, client = %session.client(), limit, "data allowance used up");
                self.end(&session, EndReason::DataUsed).await?;
            }
        }
        Ok(())
    }

    /// How the device's last session ended, if it ended within `within`
    /// and it has no live one: what the portal tells a guest who comes back.
    pub async fn last_end(
        &self,
        client: Client,
        within: Duration,
    ) -> Result<Option<(String, Option<i64>)>, SessionError> {
        let row: Option<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT COALESCE(end_reason, ''), data_limit, ended_at FROM sessions WHERE mac = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(client.mac.to_string())
        .fetch_optional(&self.db)
        .await?;
        Ok(row.and_then(|(reason, limit, ended)| {
            ended.filter(|at| *at >= now_ms() - within.as_millis() as i64).map(|_| (reason, limit))
        }))
    }

    /// Deletes sessions that ended more than `keep` ago; returns how many.
    pub async fn prune(&self, keep: Duration) -> Result<u64, SessionError> {
        let before = now_ms() - keep.as_millis() as i64;
        let done = sqlx::query("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?")
            .bind(before)
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected())
    }

    async fn end(&self, session: &Session, reason: EndReason) -> Result<(), SessionError> {
        // A session with an allowance keeps what the kernel counted to its
        // last packet (the identity's next login is measured by it); others
        // keep the last sweep's figures.
        if session.data_limit.is_some() {
            let counted = self.filter.list().await?.into_iter().find(|c| c.client == session.client());
            if let Some(c) = counted {
                save_counters(&mut *self.db.acquire().await?, &c).await?;
            }
        }
        self.filter.revoke(session.client()).await?;
        self.end_row(session.id, &session.mac, reason).await?;
        self.forget(session.client());
        tracing::info!(session = session.id, client = %session.client(), reason = reason.as_str(), "session ended");
        Ok(())
    }

    /// Ends the row of session `id` (if it is still live) with `reason`,
    /// and files its visit's end in the same transaction.
    async fn end_row(&self, id: i64, mac: &MacAddr, reason: EndReason) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let ended: Option<(String, i64, i64)> = sqlx::query_as(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL \
             RETURNING visit_id, bytes_up, started_at",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((visit, bytes_up, started_at)) = ended {
            visit_end(&mut tx, mac, visit, (started_at, now), reason, bytes_up).await?;
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firewall::MemoryFilter;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    /// A countdown's grant of a minute.
    fn grant(c: Client) -> Grant {
        grant_of(Duration::from_secs(60), c)
    }

    fn grant_of(length: Duration, c: Client) -> Grant {
        Grant {
            method: crate::auth::Method::Countdown,
            identity: crate::auth::Identity::Device(c.mac.to_string()),
            duration: length,
            bandwidth: crate::auth::Bandwidth::default(),
        }
    }

    async fn sessions() -> (Sessions, Arc<MemoryFilter>) {
        let filter = Arc::new(MemoryFilter::default());
        let db = crate::store::memory().await.unwrap();
        (Sessions::new(db, filter.clone(), Some(Duration::from_millis(50))), filter)
    }

    #[tokio::test]
    async fn login_authorises_the_device_and_logout_revokes_it() {
        let (s, filter) = sessions().await;
        let session = s.login(client(5), grant(client(5))).await.unwrap();
        assert!(filter.is_authorized(client(5)));
        assert_eq!(s.current(client(5)).await.unwrap(), Some(session));
        assert_eq!(s.holder(client(5).ip), Some(client(5).mac));
        assert!(s.logout(client(5)).await.unwrap());
        assert_eq!(s.holder(client(5).ip), None);
        assert!(!filter.is_authorized(client(5)));
        assert_eq!(s.current(client(5)).await.unwrap(), None);
        assert!(!s.logout(client(5)).await.unwrap());
    }

    #[tokio::test]
    async fn a_login_the_kernel_refuses_leaves_no_live_session_and_its_row_says_it_failed() {
        let (s, filter) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        filter.refuse_authorizations(true);
        let err = s.login(client(5), grant(client(5))).await.unwrap_err();
        assert!(matches!(err, SessionError::Firewall(_)), "{err}");
        assert_eq!(s.current(client(5)).await.unwrap(), None, "no row says the device is online");
        assert_eq!(s.holder(client(5).ip), None);
        assert!(!filter.is_authorized(client(5)), "the session it replaced is let go, as its row says");
        let reasons: Vec<String> =
            sqlx::query_scalar("SELECT end_reason FROM sessions ORDER BY id").fetch_all(&s.db).await.unwrap();
        assert_eq!(reasons, ["replaced", "failed"]);
        let trail: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_trail WHERE end_reason = 'failed'")
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert_eq!(trail, 1, "the access log has the failed login's row");
        filter.refuse_authorizations(false);
        s.login(client(5), grant(client(5))).await.unwrap();
        assert!(filter.is_authorized(client(5)), "the next try logs the device in");
    }

    #[tokio::test]
    async fn same_ip_with_another_mac_has_no_session() {
        let (s, _) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        let clone = Client { mac: client(6).mac, ip: client(5).ip };
        assert_eq!(s.current(clone).await.unwrap(), None);
    }

    #[tokio::test]
    async fn relogin_from_a_new_address_replaces_the_old_session() {
        let (s, filter) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        let moved = Client { mac: client(5).mac, ip: client(9).ip };
        s.login(moved, grant(moved)).await.unwrap();
        assert_eq!(s.list().await.unwrap().len(), 1);
        assert!(filter.is_authorized(moved));
        assert!(!filter.is_authorized(client(5)), "the old address is let go");
    }

    #[tokio::test]
    async fn an_address_in_use_by_another_device_is_not_taken_over() {
        let (s, filter) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        let clone = Client { mac: client(6).mac, ip: client(5).ip };
        let err = s.login(clone, grant(clone)).await.unwrap_err();
        assert!(matches!(err, SessionError::AddressInUse { holder, .. } if holder == client(5).mac), "{err}");
        assert!(filter.is_authorized(client(5)) && !filter.is_authorized(clone), "nothing changed");
        assert_eq!(s.list().await.unwrap().len(), 1);

        // Once the holder has been quiet for the idle window, the address may change hands.
        tokio::time::sleep(Duration::from_millis(60)).await;
        s.login(clone, grant(clone)).await.unwrap();
        assert!(!filter.is_authorized(client(5)) && filter.is_authorized(clone));
    }

    #[tokio::test]
    async fn the_dhcp_lease_keeps_an_address_with_its_device() {
        let dir = tempfile::tempdir().unwrap();
        let leases = dir.path().join("dnsmasq.leases");
        std::fs::write(&leases, "1893456000 02:00:00:00:00:05 192.0.2.5 phone 01:02:00:00:00:00:05\n").unwrap();
        let (s, _) = sessions().await;
        let s = s.with_leases(leases);
        s.login(client(5), grant(client(5))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await; // quiet, but the lease is still its
        let clone = Client { mac: client(6).mac, ip: client(5).ip };
        assert!(matches!(s.login(clone, grant(clone)).await, Err(SessionError::AddressInUse { .. })));
    }

    #[tokio::test]
    async fn ended_sessions_are_kept_for_a_while_then_pruned() {
        let (s, _) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        s.login(client(6), grant(client(6))).await.unwrap();
        s.logout(client(6)).await.unwrap();
        assert_eq!(s.prune(Duration::from_secs(3600)).await.unwrap(), 0, "ended just now: kept");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(s.prune(Duration::from_millis(1)).await.unwrap(), 1);
        assert_eq!(s.list().await.unwrap().len(), 1, "a live session is never pruned");
    }

    #[tokio::test]
    async fn logins_that_arrive_together_are_committed_together_and_each_gets_its_row() {
        let (s, filter) = sessions().await;
        s.login(client(200), grant(client(200))).await.unwrap();
        let moved = Client { mac: client(200).mac, ip: client(201).ip };
        // 100 new guests, one device moving to a new address, one twice: all at once.
        let mut logins: Vec<_> = (1..=100).map(|n| (s.clone(), client(n))).collect();
        logins.push((s.clone(), moved));
        logins.push((s.clone(), client(7)));
        let tasks: Vec<_> =
            logins.into_iter().map(|(s, c)| tokio::spawn(async move { s.login(c, grant(c)).await })).collect();
        let mut ids = std::collections::HashSet::new();
        for t in tasks {
            ids.insert(t.await.unwrap().unwrap().id);
        }
        assert_eq!(ids.len(), 102, "every login has its own row");
        let live = s.list().await.unwrap();
        assert_eq!(live.len(), 101, "100 guests and the moved device, each once");
        assert!(filter.is_authorized(moved) && !filter.is_authorized(client(200)), "the old address is let go");
        assert_eq!(s.holder(moved.ip), Some(moved.mac));
        assert_eq!(s.holder(client(200).ip), None);
    }

    #[tokio::test]
    async fn a_login_the_store_refuses_changes_no_row_no_fact_and_the_next_login_is_written() {
        let (s, filter) = sessions().await;
        s.login(client(9), grant(client(9))).await.unwrap();
        let count = |sql: &'static str| {
            let db = s.db.clone();
            async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap() }
        };
        let (rows, facts) = (count("SELECT COUNT(*) FROM sessions").await, count("SELECT COUNT(*) FROM outbox").await);
        // The store's one connection refuses this device's next row after
        // the UPDATE that ends its old session has run in the same trip.
        sqlx::query(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON sessions WHEN NEW.mac = '02:00:00:00:00:09' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&s.db)
        .await
        .unwrap();
        let err = s.login(client(9), grant(client(9))).await.unwrap_err();
        assert!(matches!(err, SessionError::Store(_)), "{err}");
        assert_eq!(count("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL").await, 1, "the old session lives on");
        assert_eq!(count("SELECT COUNT(*) FROM sessions").await, rows, "no row half-written");
        assert_eq!(count("SELECT COUNT(*) FROM outbox").await, facts, "no fact filed");
        assert!(filter.is_authorized(client(9)), "the device keeps the session its row says it has");
        sqlx::query("DROP TRIGGER temp.refuse").execute(&s.db).await.unwrap();
        // Had the connection gone back to the pool mid-transaction, this
        // login's BEGIN would fail, or its row vanish with that transaction.
        s.login(client(10), grant(client(10))).await.unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL").await, 2);
        s.login(client(9), grant(client(9))).await.unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM outbox").await, facts + 3, "two logins and the replaced visit's end");
    }

    #[tokio::test]
    async fn kick_ends_every_session_of_the_device() {
        let (s, filter) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        s.login(client(6), grant(client(6))).await.unwrap();
        assert_eq!(s.kick(client(5).mac).await.unwrap(), 1);
        assert!(!filter.is_authorized(client(5)));
        assert!(filter.is_authorized(client(6)));
        assert_eq!(s.list().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn expired_sessions_are_ended_by_the_sweep_and_not_restored() {
        let (s, _) = sessions().await;
        s.login(client(5), grant_of(Duration::from_millis(1), client(5))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(Sessions::live_clients(&s.db).await.unwrap().is_empty());
        s.sweep(false, false).await.unwrap();
        assert!(s.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn idle_session_ends_but_a_busy_one_stays() {
        let (s, filter) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        s.login(client(6), grant(client(6))).await.unwrap();
        s.sweep(true, true).await.unwrap();
        filter.set_counters(client(6), 10, 1000);
        tokio::time::sleep(Duration::from_millis(60)).await;
        s.sweep(true, true).await.unwrap();
        let left: Vec<_> = s.list().await.unwrap().into_iter().map(|x| x.client()).collect();
        assert_eq!(left, vec![client(6)]);
    }

    #[tokio::test]
    async fn a_flushed_filter_gets_every_live_session_back() {
        let (s, filter) = sessions().await;
        s.login(client(5), grant(client(5))).await.unwrap();
        s.login(client(6), grant(client(6))).await.unwrap();
        s.logout(client(6)).await.unwrap();
        filter.restore(Vec::new()).await.unwrap(); // nftables flushed behind our back
        assert!(!filter.is_authorized(client(5)));
        assert_eq!(s.restore_filter().await.unwrap(), 1);
        assert!(filter.is_authorized(client(5)));
        assert!(!filter.is_authorized(client(6)), "a logged-out guest stays out");
    }

    /// A grant with an allowance of `mb` MB, for the identity `who`.
    fn allowance(who: &str, mb: u32, daily: bool) -> Grant {
        Grant {
            method: crate::auth::Method::Voucher,
            identity: crate::auth::Identity::Voucher(who.into()),
            duration: Duration::from_secs(3600),
            bandwidth: crate::auth::Bandwidth { data_mb: mb, data_daily: daily, ..Default::default() },
        }
    }

    #[tokio::test]
    async fn a_data_allowance_ends_the_session_when_up_and_down_reach_it_and_is_the_identity_s() {
        let (s, filter) = sessions().await;
        let first = s.login(client(5), allowance("CARD1", 2, false)).await.unwrap();
        assert_eq!(first.data_limit, Some(2_000_000));
        let other = s.login(client(7), grant(client(7))).await.unwrap();
        assert_eq!(other.data_limit, None, "no allowance, no limit");
        filter.set_counters(client(5), 100, 300_000);
        filter.set_download(client(5), 1_600_000);
        filter.set_counters(client(7), 100, 300_000);
        filter.set_download(client(7), 90_000_000);
        s.sweep(false, true).await.unwrap();
        assert!(filter.is_authorized(client(5)), "1.9 MB of 2: still on");
        filter.set_download(client(5), 1_700_000);
        s.sweep(false, true).await.unwrap();
        assert!(!filter.is_authorized(client(5)), "2 MB up and down: off");
        assert!(filter.is_authorized(client(7)), "a session without an allowance is never cut");
        let ended = s.last_end(client(5), Duration::from_secs(60)).await.unwrap();
        assert_eq!(ended, Some(("data_used".to_string(), Some(2_000_000))));
        // The card's allowance is spent for every device it logs in.
        let again = s.login(client(6), allowance("CARD1", 2, false)).await;
        assert!(matches!(again, Err(SessionError::DataUsedUp { mb: 2 })), "{again:?}");
        assert!(!filter.is_authorized(client(6)), "refused before the kernel lets it through");
        // A day's allowance counts only today's use; what is left is this login's limit.
        sqlx::query("UPDATE sessions SET started_at = started_at - 2 * 86400000 WHERE identity = 'voucher:CARD1'")
            .execute(&s.db)
            .await
            .unwrap();
        let daily = s.login(client(6), allowance("CARD1", 2, true)).await.unwrap();
        assert_eq!(daily.data_limit, Some(2_000_000), "yesterday's use is not today's");
        filter.set_download(client(6), 500_000);
        filter.set_counters(client(6), 1, 0); // traffic: not idle
        s.sweep(true, false).await.unwrap();
        s.logout(client(6)).await.unwrap();
        let next = s.login(client(6), allowance("CARD1", 2, true)).await.unwrap();
        assert_eq!(next.data_limit, Some(1_500_000), "the rest of today's");
        // A logout keeps what the kernel counted to the last packet, not the last sweep's figure.
        filter.set_download(client(6), 400_000);
        s.logout(client(6)).await.unwrap();
        let next = s.login(client(6), allowance("CARD1", 2, true)).await.unwrap();
        assert_eq!(next.data_limit, Some(1_100_000));
        // The table put back (a restart): the counters start from zero, the session's use does not.
        filter.set_download(client(6), 600_000);
        filter.set_counters(client(6), 2, 0);
        s.sweep(true, false).await.unwrap();
        assert!(s.restore_filter().await.unwrap() >= 1);
        filter.set_download(client(6), 400_000);
        s.sweep(false, true).await.unwrap();
        assert!(filter.is_authorized(client(6)), "0.6 + 0.4 MB of 1.1");
        assert_eq!(s.list().await.unwrap().iter().find(|x| x.client() == client(6)).unwrap().bytes_down, 1_000_000);
        filter.set_download(client(6), 500_000);
        s.sweep(false, true).await.unwrap();
        assert!(!filter.is_authorized(client(6)), "0.6 + 0.5 MB: the day's 2 MB are used");
    }
}
