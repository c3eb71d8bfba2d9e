//! `[trail]`: the public Wi-Fi access log the local police ask for
//! (上网日志): who was online when, as what, and by which public address
//! and source ports.

use serde::Deserialize;
use std::net::Ipv4Addr;

/// `[trail]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trail {
    /// Give each logged-in guest its own block of source ports on the
    /// uplink address (with `network.masquerade`), so the access log's one
    /// row a session names every connection it made.
    #[serde(default = "yes")]
    pub port_blocks: bool,
    /// The uplink's public IPv4 address guests leave by; empty: the
    /// uplink interface's own address when the controller starts.
    #[serde(default)]
    pub public_address: Option<Ipv4Addr>,
    /// Days the access log is kept, as the local police set it (60 is
    /// common; the Cybersecurity Law asks six months of network logs).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Keep the names each session resolved (our resolver sees them), for
    /// police who ask for them: same retention, same readers. Off by
    /// default; never URL paths, page contents or message bodies.
    #[serde(default)]
    pub domains: bool,
}

impl Default for Trail {
    fn default() -> Self {
        Trail { port_blocks: true, public_address: None, retention_days: default_retention_days(), domains: false }
    }
}

fn yes() -> bool {
    true
}

fn default_retention_days() -> u32 {
    60
}

impl Trail {
    /// A retention of a day at least and ten years at most.
    pub(super) fn check(&self) -> Result<(), String> {
        if !(1..=3650).contains(&self.retention_days) {
            return Err("trail.retention_days must be 1 to 3650".into());
        }
        Ok(())
    }
}
