//! Why the appliance could not start, or stopped on its own: one typed
//! error for the daemon and the object graph it builds (`app`).

use crate::{store, tls};
use std::net::SocketAddr;

/// Why the daemon could not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A file or directory of the data dir.
    #[error("{what} {}", path.display())]
    File {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another controller holds the data dir.
    #[error("another controller (pid {pid}) is running with data dir {}; stop it first (nothing was changed)", dir.display())]
    Locked {
        /// The data dir.
        dir: std::path::PathBuf,
        /// The other controller's pid, as its lock file says.
        pid: String,
    },
    /// The marketing blocks could not be read.
    #[error("cannot read the portal's marketing blocks")]
    Marketing(#[source] crate::marketing::MarketingError),
    /// The key access-log exports are signed with (`trail.key`).
    #[error("cannot use the access log's signing key: {0}")]
    TrailKey(String),
    /// The enrolment with headquarters (`hq/` in the data dir) is not usable.
    #[error("cannot use the enrolment with headquarters: {0}")]
    Hq(String),
    /// The member store's settings are not usable.
    #[error("cannot use the member store")]
    Members(#[source] crate::members::MembersError),
    /// The database could not be opened.
    #[error("cannot open the database")]
    Store(#[source] store::StoreError),
    /// The store failed while reading the sessions to restore.
    #[error("cannot read the live sessions")]
    Sessions(#[source] crate::sessions::SessionError),
    /// A listener could not be bound (port in use, address not here).
    #[error("cannot listen for {what} on {addr}")]
    Listen {
        /// What would have listened.
        what: &'static str,
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// dnsmasq refused its configuration or is missing.
    #[error("cannot start dnsmasq")]
    Dnsmasq(#[source] crate::dhcp::DhcpError),
    /// The kernel's packet filter refused the table, or is missing.
    #[error("cannot install the guest firewall")]
    Firewall(#[source] firewall::FirewallError),
    /// The portal's HTTPS, its signing key or the admin token.
    #[error("cannot set up {what}")]
    Secret {
        /// Which.
        what: &'static str,
        /// Why.
        #[source]
        source: tls::TlsError,
    },
    /// The AC's registry.
    #[error("cannot start the AC")]
    Registry(#[source] crate::ac::registry::RegistryError),
    /// The AC's CA.
    #[error("cannot set up the AP CA")]
    Ca(#[source] crate::ac::ca::CaError),
    /// A QQ or Weibo app's settings or secrets are wrong.
    #[error("cannot set up QQ/Weibo login: {0}")]
    OAuth(String),
    /// The WeChat account's settings or secrets are wrong.
    #[error("cannot set up WeChat: {0}")]
    WeChat(String),
    /// The SMS gateway's settings or secrets are wrong.
    #[error("cannot set up the SMS gateway: {0}")]
    SmsGateway(String),
    /// Signals could not be watched.
    #[error("cannot watch for SIGTERM and SIGINT")]
    Signals(#[source] std::io::Error),
    /// A long-running task ended; the daemon stopped for systemd to restart it.
    #[error("{name} stopped: {why}")]
    TaskStopped {
        /// The task.
        name: &'static str,
        /// Why.
        why: String,
    },
}
