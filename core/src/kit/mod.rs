//! The leaf kit: small tools every concern shares. It imports nothing of
//! the controller, so nothing that uses it can make an import circle.

pub mod addrs;
pub mod csv;
pub mod http;
pub mod limits;
pub mod memory;
pub mod neighbours;
pub mod overrides;
pub mod passwords;
pub mod phones;
pub mod secrets;
pub mod signer;
pub mod time;
pub mod totp;
