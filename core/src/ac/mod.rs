//! The AC controller of the restaurant's thin APs: adoption (the
//! controller's own CA, mutual TLS after adoption), SSIDs pushed to every AP
//! with versioned acks, echoes and offline detection, where guests' devices
//! are, staged firmware rollouts, and the channel and power planner.

pub mod ca;
pub mod firmware;
pub mod plan;
mod pushes;
pub mod registry;
pub mod rollout;
pub mod server;
mod stream;

pub use pushes::Applied;
pub use server::Ac;
