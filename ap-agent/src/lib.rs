//! The AP agent: connects to the controller (adoption, mutual TLS, echoes),
//! applies each pushed configuration by rendering one `hostapd.conf` per
//! radio, and acks the version it runs.

pub mod agent;
pub mod bridge;
pub mod discovery;
pub mod files;
pub mod firmware;
pub mod hostapd;
pub mod hostapd_ctrl;
pub mod stations;
