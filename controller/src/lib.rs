//! The guest Wi-Fi controller appliance: gateway, captive portal, guests'
//! resolver and AP controller of one restaurant. `docs/ARCHITECTURE.md`
//! draws the picture.

pub mod ac;
pub mod admin;
pub mod auth;
pub mod config;
pub mod daemon;
pub mod dhcp;
pub mod dns;
pub mod kit;
pub mod marketing;
pub mod members;
pub mod metrics;
pub mod portal;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod store;
pub mod tls;

/// An error and its causes on one line, for logs and operators.
pub use ap_protocol::logging::error_chain;
