//! `[session]`, `[venue]`, `[data]`, `[admin]`, `[ac]`: guest sessions, the
//! restaurant, where state lives, the staff's listener, the AP controller.

use super::{CHANNELS_2G, CHANNELS_5G, CONTROL_SOCKET};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// A listener that can be turned off: `""` is off, else `address:port`.
fn optional_listener<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an address:port (or \"\" for off)")))
}

/// `[admin]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Where the admin JSON API and `/metrics` listen; None (`""`) turns them off.
    #[serde(default = "default_admin_listen", deserialize_with = "optional_listener")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve the console and the API over HTTPS (console cookies are then
    /// `Secure`): with `tls_cert`/`tls_key`, or a self-signed certificate
    /// made in the data dir.
    #[serde(default)]
    pub https: bool,
    /// PEM certificate chain for HTTPS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (keep it mode 0600).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

/// `[ac]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcSettings {
    /// Where AP agents connect (TLS 1.3); None (`""`) turns the AC off.
    #[serde(default = "default_ac_listen", deserialize_with = "optional_listener")]
    pub listen: Option<std::net::SocketAddr>,
    /// Seconds between echoes; an AP is offline after three missed.
    #[serde(default = "default_echo")]
    pub echo_seconds: u64,
    /// ed25519 public key (hex) firmware images must be signed with.
    #[serde(default)]
    pub firmware_public_key: String,
    /// Minutes an AP has to come back with new firmware before a rollout halts.
    #[serde(default = "default_rejoin")]
    pub firmware_rejoin_minutes: u64,
    /// APs upgraded at once after the canary.
    #[serde(default = "default_batch")]
    pub firmware_batch: usize,
    /// Connections one address may hold to the AP port.
    #[serde(default = "default_ap_conns")]
    pub max_connections_per_address: usize,
    /// Channels the planner may give 2.4 GHz radios.
    #[serde(default = "default_channels_2g")]
    pub channels_2g: Vec<u16>,
    /// Channels the planner may give 5 GHz radios (non-DFS by default).
    #[serde(default = "default_channels_5g")]
    pub channels_5g: Vec<u16>,
}

/// `[session]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// How long a login lasts.
    #[serde(default = "default_session_seconds")]
    pub length_seconds: u64,
    /// A session with no traffic for this long ends (0: never).
    #[serde(default = "default_idle_seconds")]
    pub idle_timeout_seconds: u64,
    /// Days an ended session is kept (for statistics); 0 keeps them for ever.
    #[serde(default = "default_keep_days")]
    pub keep_ended_days: u64,
}

/// `[venue]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Venue {
    /// The restaurant's name, shown on every page.
    #[serde(default = "default_venue_name")]
    pub name: String,
    /// A line under the name (zh-CN).
    #[serde(default)]
    pub tagline_zh: String,
    /// A line under the name (English).
    #[serde(default)]
    pub tagline_en: String,
    /// The restaurant's page (menu, hours); RFC 8908 `venue-info-url`.
    #[serde(default)]
    pub info_url: String,
    /// The site's time zone, for times shown to people.
    #[serde(default = "default_zone")]
    pub time_zone: String,
}

/// `[data]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Directory for the database, generated keys and dnsmasq files.
    #[serde(default = "default_data_dir")]
    pub dir: PathBuf,
    /// The control socket the CLI talks to (root only); default:
    /// `control.sock` in the data dir. The packaged unit keeps it under /run.
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
}

impl Data {
    /// Where the control socket is.
    pub fn control_socket(&self) -> PathBuf {
        self.control_socket.clone().unwrap_or_else(|| self.dir.join(CONTROL_SOCKET))
    }
}

impl Session {
    /// A session of a second at least.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.length_seconds == 0 {
            return Err("session.length_seconds must be at least 1".into());
        }
        Ok(())
    }

    /// Session length.
    pub fn length(&self) -> Duration {
        Duration::from_secs(self.length_seconds)
    }

    /// A method's session length: its own minutes, else the default.
    pub fn length_or(&self, minutes: u64) -> Duration {
        if minutes > 0 {
            Duration::from_secs(minutes * 60)
        } else {
            self.length()
        }
    }
}

impl Default for Session {
    fn default() -> Self {
        toml::from_str("").expect("session defaults")
    }
}

impl Default for Venue {
    fn default() -> Self {
        toml::from_str("").expect("venue defaults")
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        toml::from_str("").expect("admin defaults")
    }
}

impl Default for AcSettings {
    fn default() -> Self {
        toml::from_str("").expect("ac defaults")
    }
}

impl Default for Data {
    fn default() -> Self {
        toml::from_str("").expect("data defaults")
    }
}

fn default_session_seconds() -> u64 {
    2 * 3600
}

fn default_idle_seconds() -> u64 {
    15 * 60
}

fn default_keep_days() -> u64 {
    90
}

fn default_venue_name() -> String {
    "欢迎光临".into()
}

fn default_zone() -> String {
    "Asia/Shanghai".into()
}

fn default_admin_listen() -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))
}

fn default_ac_listen() -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::from(([0, 0, 0, 0], 7443)))
}

fn default_echo() -> u64 {
    10
}

fn default_ap_conns() -> usize {
    4
}

fn default_rejoin() -> u64 {
    10
}

fn default_batch() -> usize {
    10
}

fn default_channels_2g() -> Vec<u16> {
    CHANNELS_2G.to_vec()
}

fn default_channels_5g() -> Vec<u16> {
    CHANNELS_5G.to_vec()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/guestwifi")
}

impl AdminSettings {
    /// Certificates in pairs, and only with HTTPS on.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("admin.tls_cert and admin.tls_key go together".into());
        }
        if self.tls_cert.is_some() && !self.https {
            return Err("admin.tls_cert is set but admin.https is off".into());
        }
        Ok(())
    }
}

impl AcSettings {
    /// Channels of their bands, an echo of a second at least.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.channels_2g.is_empty() || self.channels_2g.iter().any(|c| !(1..=14).contains(c)) {
            return Err("ac.channels_2g: give 2.4 GHz channels 1 to 14".into());
        }
        if self.channels_5g.is_empty() || self.channels_5g.iter().any(|c| !(32..=177).contains(c)) {
            return Err("ac.channels_5g: give 5 GHz channels 32 to 177".into());
        }
        if self.echo_seconds == 0 {
            return Err("ac.echo_seconds must be at least 1".into());
        }
        Ok(())
    }
}
