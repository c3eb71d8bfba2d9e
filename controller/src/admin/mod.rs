//! Staff-side control of a running controller. For now the local control
//! socket behind `controller sessions ...` and `controller firewall-reload`;
//! the web UI and JSON API come with their issue.

pub mod control;
