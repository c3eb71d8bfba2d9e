//! The site's side of headquarters: what the site and HQ say
//! ([`protocol`]), the enrolment kept in the data dir ([`site`]), the join
//! ([`join`]) and the mutual-TLS client ([`client`]); the member feed
//! delivers through it. The tasks an enrolled site runs (the bundle
//! long-poll, the heartbeat) are the controller's (`controller::hq`), above
//! the one door they read from. HQ itself is the `guestwifi-hq` crate,
//! which uses the same protocol types.

pub mod client;
pub mod join;
pub mod protocol;
pub mod settings;
pub mod site;
pub mod tickets;
pub mod vouchers;
