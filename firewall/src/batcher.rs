//! [`Firewall`]: the daemon's [`ClientFilter`]. One thread owns the
//! libnftables context; changes that arrive together are applied as one
//! transaction, and the conntrack clean-up of a logout runs afterwards on its
//! own thread. A login needs none: a connection the portal redirect
//! translated before it is closed by the portal (`Connection: close`).

use crate::conntrack;
use crate::libnft::Nft;
use crate::neighbours::Pins;
use crate::nft::{self, Change, Shaper};
use crate::ruleset::Policy;
use crate::types::{Client, ClientCounters, Rate};
use crate::{ClientFilter, FirewallError};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Most changes applied in one transaction.
const MAX_BATCH: usize = 1024;
/// How long conntrack clean-up gathers changes before one pass.
const JANITOR_PAUSE: Duration = Duration::from_secs(1);

type Reply<T> = oneshot::Sender<Result<T, FirewallError>>;

enum Op {
    Change(Change, Reply<()>),
    Garden(Vec<(IpAddr, Duration)>, Reply<()>),
    Leases(Vec<(Client, Option<Duration>)>, Reply<()>),
    Reload(Vec<(Client, Duration, Rate)>, Reply<()>),
}

/// Handle to the firewall worker. Cheap to clone.
#[derive(Clone)]
pub struct Firewall {
    ops: mpsc::UnboundedSender<Op>,
    /// Counter reads go to a thread of their own: a dump of 100,000
    /// elements takes the better part of a second, and logins queued behind
    /// it on the worker waited that long for their element.
    lists: std_mpsc::Sender<Reply<Vec<ClientCounters>>>,
}

impl Firewall {
    /// Loads libnftables, installs the whole table in one transaction (with
    /// `clients` already authorised and the DHCP `leases` in, each with its
    /// time left) and starts the worker. Fails plainly when not root or when
    /// the kernel has no nf_tables: the daemon never runs without a real filter.
    pub fn start(
        policy: Policy,
        clients: &[(Client, Duration, Rate)],
        leases: Vec<(Client, Option<Duration>)>,
    ) -> Result<Self, FirewallError> {
        let mut nft = Nft::open()?;
        let leases = Leases::of(leases);
        let shaper = install(&mut nft, &policy, clients, &leases.left())?;
        give_back_memory();
        let mut pins = Guard::new(Pins::open(&policy.guest_interface));
        let restored: Vec<Client> = clients.iter().map(|(c, ..)| *c).collect();
        pins.apply(|p| p.reset(&restored));
        tracing::info!(%policy, clients = clients.len(), "nftables table installed");
        let (tx, rx) = mpsc::unbounded_channel();
        let (janitor_tx, janitor_rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("conntrack".into())
            .spawn(move || janitor(janitor_rx))
            .expect("spawn conntrack thread");
        std::thread::Builder::new()
            .name("nftables".into())
            .spawn(move || worker(nft, pins, shaper, leases, policy, rx, janitor_tx))
            .expect("spawn nftables thread");
        let (lists, lists_rx) = std_mpsc::channel::<Reply<Vec<ClientCounters>>>();
        std::thread::Builder::new()
            .name("nft-counters".into())
            .spawn(move || {
                // A dump of 100,000 elements is a sweep's business, not a
                // login's: on a busy appliance it yields the CPU to them.
                // SAFETY: setpriority(2) on this thread's own id.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
                while let Ok(first) = lists_rx.recv() {
                    // Callers that asked meanwhile share one dump.
                    let others: Vec<Reply<Vec<ClientCounters>>> = lists_rx.try_iter().collect();
                    let result = nft::list();
                    for reply in others {
                        let _ = reply.send(match &result {
                            Ok(list) => Ok(list.clone()),
                            Err(err) => Err(FirewallError::Netlink(std::io::Error::other(err.to_string()))),
                        });
                    }
                    let _ = first.send(result);
                    give_back_memory();
                }
            })
            .expect("spawn counters thread");
        Ok(Firewall { ops: tx, lists })
    }

    /// Whether the table is still in the kernel (`nft flush ruleset` or a
    /// restart of nftables.service takes it away behind our back).
    ///
    /// One netlink request, asked directly rather than queued behind the
    /// worker's logins, so a check is as quick under load as idle.
    pub async fn present(&self) -> Result<bool, FirewallError> {
        tokio::task::spawn_blocking(nft::present).await.map_err(|_| FirewallError::Stopped)?
    }

    /// Deletes the table, for `controller firewall-remove` (uninstall). A
    /// stop never does this: the table outlives the daemon, so a guest who
    /// was not let in stays out while the controller is down.
    pub fn remove_table() -> Result<(), FirewallError> {
        nft::remove(&mut Nft::open()?)
    }

    /// Lets every guest reach `addresses` (walled garden), each for its DNS
    /// TTL: an address already there gets the new time. Elements leave by
    /// themselves when their time is up.
    pub async fn add_garden(&self, addresses: Vec<(IpAddr, Duration)>) -> Result<(), FirewallError> {
        self.call(|r| Op::Garden(addresses, r)).await
    }

    /// The guest network's DHCP leases are exactly `leases` (a MAC, its
    /// address and the time it has left, None for no end): only these pairs
    /// reach the portal, the resolver or the internet. Pairs whose time did
    /// not move are left alone, so a full list costs only its changes.
    pub async fn set_leases(&self, leases: Vec<(Client, Option<Duration>)>) -> Result<(), FirewallError> {
        self.call(|r| Op::Leases(leases, r)).await
    }

    async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, FirewallError> {
        let (tx, rx) = oneshot::channel();
        self.ops.send(op(tx)).map_err(|_| FirewallError::Stopped)?;
        rx.await.map_err(|_| FirewallError::Stopped)?
    }
}

impl ClientFilter for Firewall {
    fn authorize(&self, client: Client, timeout: Duration, rate: Rate) -> BoxFuture<'_, Result<(), FirewallError>> {
        self.call(move |r| Op::Change(Change::Authorize(client, timeout, rate), r)).boxed()
    }

    fn revoke(&self, client: Client) -> BoxFuture<'_, Result<(), FirewallError>> {
        self.call(move |r| Op::Change(Change::Revoke(client), r)).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ClientCounters>, FirewallError>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.lists.send(tx);
        async move {
            sent.map_err(|_| FirewallError::Stopped)?;
            rx.await.map_err(|_| FirewallError::Stopped)?
        }
        .boxed()
    }

    fn restore(&self, clients: Vec<(Client, Duration, Rate)>) -> BoxFuture<'_, Result<(), FirewallError>> {
        self.call(|r| Op::Reload(clients, r)).boxed()
    }
}

/// Installs the table with the first [`RESTORE_CHUNK`] of `clients` and of
/// the `leases` in it (one transaction: the rules never stand without
/// guests), then the rest a chunk a transaction, then their rates. Returns
/// what the kernel's shaping now holds.
///
/// Chunks keep libnftables' memory to one chunk's (100,000 sessions in one
/// transaction took ~2 KB each while it ran, 244 MiB); the guests of later
/// chunks wait the few milliseconds each earlier chunk takes.
fn install(
    nft: &mut Nft,
    policy: &Policy,
    clients: &[(Client, Duration, Rate)],
    leases: &[(Client, Option<Duration>)],
) -> Result<Shaper, FirewallError> {
    let plain: Vec<(Client, Duration)> = clients.iter().map(|(c, t, _)| (*c, *t)).collect();
    let (first, rest) = plain.split_at(plain.len().min(RESTORE_CHUNK));
    let (first_leases, more_leases) = leases.split_at(leases.len().min(RESTORE_CHUNK));
    nft::install(nft, policy, first, first_leases)?;
    for chunk in rest.chunks(RESTORE_CHUNK) {
        nft.run(&nft::restore_commands(policy, chunk))?;
    }
    for chunk in more_leases.chunks(RESTORE_CHUNK) {
        nft.run(&nft::lease_commands(chunk, &[]))?;
    }
    // The blocks of `clients` came with their elements.
    let mut shaper = Shaper::default();
    for chunk in clients.chunks(RESTORE_CHUNK) {
        let changes: Vec<Change> = chunk.iter().map(|(c, t, r)| Change::Authorize(*c, *t, *r)).collect();
        let (commands, next) = shaper.commands(&changes, None);
        if !commands.is_empty() {
            nft.run(&commands)?;
        }
        shaper = next;
    }
    Ok(shaper)
}

/// Clients (and DHCP leases) put in the kernel a transaction at a time by a
/// start or a restore.
const RESTORE_CHUNK: usize = 8192;

/// What the lease set holds: each pair and when its time is up (None:
/// never), so a reinstall puts them back and a new list applies only its
/// changes.
struct Leases(HashMap<Client, Option<Instant>>);

/// A lease's time may move this much before the kernel is told.
const LEASE_SLACK: Duration = Duration::from_secs(5);

impl Leases {
    fn of(list: Vec<(Client, Option<Duration>)>) -> Leases {
        let now = Instant::now();
        Leases(list.into_iter().filter(|(c, _)| c.ip.is_ipv4()).map(|(c, t)| (c, t.map(|t| now + t))).collect())
    }

    /// Every pair still in time, with what it has left.
    fn left(&self) -> Vec<(Client, Option<Duration>)> {
        let now = Instant::now();
        self.0
            .iter()
            .filter(|(_, until)| until.is_none_or(|u| u > now))
            .map(|(c, until)| (*c, until.map(|u| u - now)))
            .collect()
    }

    /// What changes from this set to `next`: pairs new or with a time
    /// moved, and pairs gone.
    fn diff(&self, next: &Leases) -> (Vec<(Client, Option<Duration>)>, Vec<Client>) {
        let now = Instant::now();
        let moved = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => a.max(b) - a.min(b) > LEASE_SLACK || a <= now,
            (None, None) => false,
            _ => true,
        };
        let changed = next
            .0
            .iter()
            .filter(|(c, until)| self.0.get(c).is_none_or(|old| moved(*old, **until)))
            .filter(|(_, until)| until.is_none_or(|u| u > now))
            .map(|(c, until)| (*c, until.map(|u| u - now)))
            .collect();
        let gone = self.0.keys().filter(|c| !next.0.contains_key(c)).copied().collect();
        (changed, gone)
    }
}

fn worker(
    mut nft: Nft,
    mut pins: Guard,
    mut shaper: Shaper,
    mut leases: Leases,
    policy: Policy,
    mut rx: mpsc::UnboundedReceiver<Op>,
    janitor: std_mpsc::Sender<IpAddr>,
) {
    let mut pending: Vec<(Change, Reply<()>)> = Vec::new();
    // What the garden sets hold (address -> until), so a restore after a
    // flush puts it back too.
    let mut garden: HashMap<IpAddr, Instant> = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        // Take everything already queued: element changes go into one transaction.
        while let Some(op) = next.take() {
            match op {
                Op::Change(change, reply) => pending.push((change, reply)),
                other => {
                    flush(&mut nft, &mut pins, &mut shaper, &mut pending, &janitor, policy.port_blocks.as_ref());
                    handle_other(&mut nft, &mut pins, &mut shaper, &mut leases, &policy, &mut garden, other);
                }
            }
            if pending.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        flush(&mut nft, &mut pins, &mut shaper, &mut pending, &janitor, policy.port_blocks.as_ref());
    }
    tracing::debug!("firewall worker stopped");
}

fn flush(
    nft: &mut Nft,
    pins: &mut Guard,
    shaper: &mut Shaper,
    pending: &mut Vec<(Change, Reply<()>)>,
    janitor: &std_mpsc::Sender<IpAddr>,
    blocks: Option<&crate::PortBlocks>,
) {
    if pending.is_empty() {
        return;
    }
    let changes: Vec<Change> = pending.iter().map(|(c, _)| *c).collect();
    // The sets and the rates in one transaction: a guest is never through
    // without its limit.
    let (shaping, shaped) = shaper.commands(&nft::last_changes(&changes), blocks);
    match nft.run(&(nft::changes_to_commands(&changes) + &shaping)) {
        Ok(_) => {
            *shaper = shaped;
            for (change, reply) in pending.drain(..) {
                let _ = reply.send(Ok(()));
                after(change, pins, janitor);
            }
        }
        Err(err) if pending.len() == 1 => {
            let (_, reply) = pending.pop().expect("one pending change");
            let _ = reply.send(Err(err));
        }
        Err(_) => {
            // One bad change must not fail its neighbours: apply one by one.
            for (change, reply) in pending.drain(..) {
                let (shaping, shaped) = shaper.commands(&[change], blocks);
                let result = nft.run(&(nft::changes_to_commands(&[change]) + &shaping)).map(drop);
                if result.is_ok() {
                    *shaper = shaped;
                    after(change, pins, janitor);
                }
                let _ = reply.send(result);
            }
        }
    }
}

/// What follows a change in the kernel's set: the guest's neighbour entry
/// is pinned or let go, and a logout's connections are cleared.
fn after(change: Change, pins: &mut Guard, janitor: &std_mpsc::Sender<IpAddr>) {
    match change {
        Change::Authorize(client, ..) => pins.apply(|p| p.pin(client)),
        Change::Revoke(client) => {
            pins.apply(|p| p.unpin(client));
            let _ = janitor.send(client.ip);
        }
    }
}

/// The neighbour pins, if the interface could be opened; a failure is
/// logged (once until it works again) and never fails a login: the set
/// element is what lets a guest through, the pin only defends it.
struct Guard {
    pins: Option<Pins>,
    failing: bool,
}

impl Guard {
    fn new(pins: std::io::Result<Pins>) -> Self {
        match pins {
            Ok(pins) => Guard { pins: Some(pins), failing: false },
            Err(err) => {
                tracing::warn!(%err, "cannot pin guests' neighbour entries; an address clone may take replies");
                Guard { pins: None, failing: true }
            }
        }
    }

    fn apply(&mut self, f: impl FnOnce(&mut Pins) -> std::io::Result<()>) {
        let Some(pins) = self.pins.as_mut() else { return };
        match f(pins) {
            Ok(()) => self.failing = false,
            Err(err) if !self.failing => {
                tracing::warn!(%err, "cannot pin a guest's neighbour entry");
                self.failing = true;
            }
            Err(_) => {}
        }
    }
}

fn handle_other(
    nft: &mut Nft,
    pins: &mut Guard,
    shaper: &mut Shaper,
    leases: &mut Leases,
    policy: &Policy,
    garden: &mut HashMap<IpAddr, Instant>,
    op: Op,
) {
    match op {
        Op::Garden(addresses, reply) => {
            let commands = nft::garden_commands(&addresses);
            let result = if commands.is_empty() { Ok(()) } else { nft.run(&commands).map(drop) };
            if result.is_ok() {
                let now = Instant::now();
                garden.retain(|_, until| *until > now);
                garden.extend(addresses.iter().map(|(ip, ttl)| (*ip, now + *ttl)));
            }
            let _ = reply.send(result);
        }
        Op::Leases(list, reply) => {
            let next = Leases::of(list);
            let (changed, gone) = leases.diff(&next);
            let commands = nft::lease_commands(&changed, &gone);
            let result = if commands.is_empty() { Ok(()) } else { nft.run(&commands).map(drop) };
            match &result {
                Ok(()) => *leases = next,
                Err(err) => tracing::warn!(%err, changed = changed.len(), gone = gone.len(), "DHCP leases not applied"),
            }
            let _ = reply.send(result);
        }
        Op::Reload(clients, reply) => {
            let mut result = install(nft, policy, &clients, &leases.left()).map(|shaped| *shaper = shaped);
            let now = Instant::now();
            let left: Vec<(IpAddr, Duration)> =
                garden.iter().filter(|(_, until)| **until > now).map(|(ip, until)| (*ip, *until - now)).collect();
            if result.is_ok() && !left.is_empty() {
                result = nft.run(&nft::garden_commands(&left)).map(drop);
            }
            let restored: Vec<Client> = clients.iter().map(|(c, ..)| *c).collect();
            pins.apply(|p| p.reset(&restored));
            let _ = reply.send(result);
            give_back_memory();
        }
        Op::Change(..) => unreachable!("changes are batched by the worker"),
    }
}

/// Listing or installing thousands of elements makes large short-lived
/// allocations in libnftables; hand the freed pages back to the system.
fn give_back_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Deletes conntrack entries so that a connection allowed before a logout
/// does not linger. Runs on its own low-priority thread: a ctnetlink dump
/// walks the kernel's whole conntrack hash, so revocations are gathered for
/// [`JANITOR_PAUSE`] and cleared in one pass.
fn janitor(rx: std_mpsc::Receiver<IpAddr>) {
    // SAFETY: setpriority on this thread (tid) only.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
    let mut warned = false;
    while let Ok(first) = rx.recv() {
        std::thread::sleep(JANITOR_PAUSE);
        let targets: HashSet<IpAddr> = std::iter::once(first).chain(rx.try_iter().take(65536)).collect();
        match conntrack::clear(&targets) {
            Ok(n) if n > 0 => tracing::debug!(entries = n, "conntrack entries cleared"),
            Ok(_) => {}
            Err(err) if !warned => {
                tracing::warn!(%err, "cannot clear conntrack entries; stale connections may linger");
                warned = true;
            }
            Err(_) => {}
        }
    }
}
