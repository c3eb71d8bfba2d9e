//! The guest Wi-Fi controller's domain, with no web framework: the leaf
//! kit, the configuration, the store, the member store and its feed, the
//! login methods, guest sessions, the AC, the guests' resolver, marketing
//! content, statistics, staff accounts and the one door every staff action
//! goes through (`control`). The appliance (`controller`) puts its portal,
//! console and API on top; the chain's headquarters will too.
//! `docs/ARCHITECTURE.md` draws the picture.

pub mod ac;
pub mod auth;
pub mod config;
pub mod control;
pub mod dhcp;
pub mod dns;
pub mod hq;
pub mod kit;
pub mod marketing;
pub mod members;
pub mod metrics;
pub mod sessions;
pub mod settings;
pub mod staff;
pub mod stats;
pub mod store;
pub mod tls;
pub mod trail;

/// An error and its causes on one line, for logs and operators.
pub use ap_protocol::logging::error_chain;
