//! The guest Wi-Fi controller appliance: gateway, captive portal, guests'
//! resolver and AP controller of one restaurant. The domain lives in the
//! `guestwifi-core` crate; this crate is what faces people and the network:
//! the daemon, the guest portal, the staff console, the JSON API and the
//! control socket. `docs/ARCHITECTURE.md` draws the picture.

pub mod admin;
pub mod app;
pub mod daemon;
pub mod errors;
pub mod hq_link;
pub mod portal;
pub mod print;
pub mod wechat;

/// The domain, from the core crate (the layering Cargo enforces).
pub use guestwifi_core::{
    ac, auth, config, control, dhcp, dns, error_chain, hq, kit, marketing, members, metrics, sessions, settings, staff,
    stats, store, tls, trail,
};
