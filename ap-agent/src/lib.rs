//! The AP agent: today, the hostapd side — rendering each radio's
//! `hostapd.conf` from the configuration the controller pushes. The
//! connection to the controller (adoption, mutual TLS, config push, station
//! events) is the next step of the AP issue.

pub mod hostapd;
