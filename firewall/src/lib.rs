//! The guest network's packet filter: sole owner of nftables table `inet guestwifi`.
//!
//! The whole ruleset is built from a [`Policy`] and applied in one transaction;
//! afterwards a login or logout changes one element of the `authorized` sets and
//! never a rule, so the cost of a login stays flat however many guests are online.
//! Callers talk to the [`ClientFilter`] trait: the daemon uses [`Firewall`]
//! (libnftables in-process, changes coalesced into one transaction),
//! callers' unit tests use [`MemoryFilter`].

mod batcher;
mod blocks;
mod conntrack;
mod elements;
mod garden;
mod libnft;
mod memory;
mod neighbours;
mod netlink;
mod nft;
mod ports;
mod ruleset;
mod types;

pub use batcher::Firewall;
pub use blocks::{PortBlocks, FIRST_PORT};
pub use elements::holds;
pub use garden::{GardenRefresher, GardenResolver};
pub use memory::MemoryFilter;
pub use neighbours::NeighbourTable;
pub use ports::{interface_mac, BridgePorts};
pub use ruleset::{Policy, TABLE};
pub use types::{Client, ClientCounters, MacAddr, ParseMacError, Rate};

use futures::future::BoxFuture;
use std::time::Duration;

/// Everything that can go wrong talking to the kernel's packet filter.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// libnftables could not be loaded: the `libnftables1` package is missing.
    #[error("cannot load libnftables (install the nftables package)")]
    Library(#[source] libloading::Error),
    /// libnftables refused to create a context.
    #[error("libnftables could not create a context")]
    Context,
    /// The kernel or libnftables rejected a command.
    #[error("nftables rejected the change: {message}")]
    Rejected {
        /// What libnftables printed on its error stream.
        message: String,
    },
    /// We must run as root (CAP_NET_ADMIN) to change the ruleset.
    #[error("changing nftables needs root (CAP_NET_ADMIN): {message}")]
    NotPermitted {
        /// What libnftables printed on its error stream.
        message: String,
    },
    /// Reading the kernel's sets over netlink failed.
    #[error("cannot read the guest sets from the kernel")]
    Netlink(#[source] std::io::Error),
    /// libnftables printed something we could not parse.
    #[error("unexpected output from nftables")]
    Output(#[source] serde_json::Error),
    /// The firewall worker has stopped (the daemon is shutting down).
    #[error("the firewall worker has stopped")]
    Stopped,
}

/// What the sessions layer needs from the packet filter: let a client through
/// for a while, stop it, and read what each client has sent.
pub trait ClientFilter: Send + Sync {
    /// Let `client` through for `timeout` at `rate`; replaces any earlier
    /// timeout and rate. Returns once the kernel has both, in one transaction.
    fn authorize(&self, client: Client, timeout: Duration, rate: Rate) -> BoxFuture<'_, Result<(), FirewallError>>;
    /// Stop `client`; succeeds if it was not authorised.
    fn revoke(&self, client: Client) -> BoxFuture<'_, Result<(), FirewallError>>;
    /// Every authorised client with its counters and remaining time.
    fn list(&self) -> BoxFuture<'_, Result<Vec<ClientCounters>, FirewallError>>;
    /// Puts the whole filter back with exactly `clients` (after nftables was
    /// flushed or restarted behind our back).
    fn restore(&self, clients: Vec<(Client, Duration, Rate)>) -> BoxFuture<'_, Result<(), FirewallError>>;
}
