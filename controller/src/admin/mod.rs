//! The staff's doors onto a running controller: the JSON API with
//! Prometheus metrics, the staff web console, and HTTPS for both. Every
//! staff action goes through `control` (the core
//! crate), whichever door it comes by.

pub mod api;
pub mod console;
pub mod https;
