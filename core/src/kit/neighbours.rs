//! Who a guest is: the socket's peer address and the MAC the kernel's
//! neighbour table holds for it on the guest interface. Never a header.
//!
//! The lookup is a trait so the portal's handlers and the per-device limits
//! can be tested in-process with a chosen peer and MAC ([`FixedNeighbours`]);
//! the daemon asks the kernel by netlink ([`KernelNeighbours`]).

use firewall::{Client, MacAddr, NeighbourTable};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

/// Finds the device behind a peer address.
pub trait Neighbours: Send + Sync {
    /// The guest at `ip`, or None when the kernel has no resolved entry.
    fn client(&self, ip: IpAddr) -> Option<Client>;
}

fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        IpAddr::V4(v4) => Some(v4),
    }
}

/// The kernel's neighbour table of the guest interface (RTM_GETNEIGH).
/// An answer is kept for [`RECENT`]: a portal request asks two or three
/// times (the connection's cap, the redirect's signature, the login), and
/// every lookup is a netlink round trip under one lock. An address cannot
/// change hands within it unseen: the gateway drops a (MAC, address) pair
/// that is not a lease, and a live session's address is pinned.
pub struct KernelNeighbours {
    interface: String,
    table: Mutex<Option<NeighbourTable>>,
    recent: Mutex<HashMap<Ipv4Addr, (MacAddr, std::time::Instant)>>,
}

/// How long a lookup's answer is reused.
const RECENT: std::time::Duration = std::time::Duration::from_secs(1);
/// Most answers kept at once (a flood of peers empties it).
const MAX_RECENT: usize = 65_536;

impl KernelNeighbours {
    /// Entries on `interface` only: a peer elsewhere is not a guest.
    pub fn new(interface: &str) -> Self {
        KernelNeighbours { interface: interface.to_string(), table: Mutex::new(None), recent: Mutex::default() }
    }
}

impl Neighbours for KernelNeighbours {
    fn client(&self, ip: IpAddr) -> Option<Client> {
        let ip = v4(ip)?;
        if let Some((mac, at)) = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&ip) {
            if at.elapsed() < RECENT {
                return Some(Client { mac: *mac, ip: IpAddr::V4(ip) });
            }
        }
        let found = self.ask_kernel(ip);
        if let Some(client) = found {
            let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if recent.len() >= MAX_RECENT {
                recent.clear();
            }
            recent.insert(ip, (client.mac, std::time::Instant::now()));
        }
        found
    }
}

impl KernelNeighbours {
    fn ask_kernel(&self, ip: Ipv4Addr) -> Option<Client> {
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if table.is_none() {
            // Opened on first use, and again after a failure (the interface
            // may come up after the daemon).
            match NeighbourTable::open(&self.interface) {
                Ok(t) => *table = Some(t),
                Err(err) => {
                    tracing::warn!(interface = %self.interface, %err, "cannot read the neighbour table");
                    return None;
                }
            }
        }
        match table.as_ref()?.lookup(ip) {
            Ok(mac) => mac.map(|mac| Client { mac, ip: IpAddr::V4(ip) }),
            Err(err) => {
                tracing::warn!(%ip, %err, "neighbour lookup failed");
                *table = None;
                None
            }
        }
    }
}

/// A fixed table, for tests: the devices a test says are there.
#[derive(Default)]
pub struct FixedNeighbours {
    devices: Mutex<HashMap<Ipv4Addr, MacAddr>>,
}

impl FixedNeighbours {
    /// Puts `mac` at `ip`.
    pub fn insert(&self, ip: Ipv4Addr, mac: MacAddr) {
        self.devices.lock().unwrap().insert(ip, mac);
    }
}

impl Neighbours for FixedNeighbours {
    fn client(&self, ip: IpAddr) -> Option<Client> {
        let ip = v4(ip)?;
        self.devices.lock().unwrap().get(&ip).map(|mac| Client { mac: *mac, ip: IpAddr::V4(ip) })
    }
}
