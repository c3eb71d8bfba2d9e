//! Staff-side control of a running controller: the local control socket
//! behind the CLI, the same requests as an HTTP JSON API with Prometheus
//! metrics, and the staff web console (accounts, roles, audit log).

pub mod api;
pub mod console;
pub mod control;
pub mod https;
pub mod print;
pub mod staff;
