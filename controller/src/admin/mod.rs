//! Staff-side control of a running controller: the local control socket
//! behind the CLI, and the same requests as an HTTP JSON API with
//! Prometheus metrics (the admin web UI comes with its issue).

pub mod api;
pub mod control;
pub mod print;
