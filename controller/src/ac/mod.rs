//! The AC controller of the restaurant's thin APs: adoption (the
//! controller's own CA, mutual TLS after adoption), SSIDs pushed to every AP
//! with versioned acks, echoes and offline detection, where guests' devices
//! are, and the channel and power planner. Firmware rollout and simulated
//! radios come next (see the AP issue's note).

pub mod ca;
pub mod plan;
pub mod registry;
pub mod server;

pub use server::Ac;
