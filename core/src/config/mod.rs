//! The appliance's one TOML file. Every key is documented in
//! `image/controller.example.toml`; any key can be overridden by an
//! environment variable `GUESTWIFI_<SECTION>__<KEY>` (e.g.
//! `GUESTWIFI_SESSION__LENGTH_SECONDS=3600`). An unknown or bad key stops the
//! start with a message naming it.

mod auth;
mod members;
mod network;
mod site;
mod trail;

pub use auth::*;
pub use members::*;
pub use network::*;
pub use site::*;
pub use trail::*;

use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "GUESTWIFI_";
/// Variables with the prefix that are not config keys: a command's inputs
/// kept out of shell history (`ssids add` reads the passphrase from it), and
/// headquarters' own (`GUESTWIFI_HQ_*`, `guestwifi-hq`'s overrides).
pub const NOT_CONFIG: &[&str] = &["GUESTWIFI_SSID_KEY", "GUESTWIFI_HQ_"];
/// The control socket's file name in the data dir (`data.control_socket` overrides it).
pub const CONTROL_SOCKET: &str = "control.sock";
/// The settings the console saves, in the data dir, read over the file.
pub const SETTINGS_FILE: &str = "settings.toml";
/// The settings headquarters manages for the site (from its bundle), in the
/// data dir, read over the console's.
pub const HQ_SETTINGS_FILE: &str = "hq-settings.toml";
/// The 2.4 GHz channels a plan uses unless `ac.channels_2g` says otherwise: the three that do not overlap.
pub const CHANNELS_2G: &[u16] = &[1, 6, 11];
/// The 5 GHz channels a plan uses unless `ac.channels_5g` says otherwise: without DFS (radar
/// detection), as allowed in China and most places.
pub const CHANNELS_5G: &[u16] = &[36, 40, 44, 48, 149, 153, 157, 161, 165];

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key is unknown, misspelt or has the wrong type.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file or environment variable.
        origin: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The guest network.
    pub network: Network,
    /// The captive portal's listeners and limits.
    #[serde(default)]
    pub portal: Portal,
    /// Guest sessions.
    #[serde(default)]
    pub session: Session,
    /// The restaurant shown on the portal.
    #[serde(default)]
    pub venue: Venue,
    /// Names a guest may reach before logging in.
    #[serde(default)]
    pub walled_garden: WalledGarden,
    /// Where the appliance keeps its state.
    #[serde(default)]
    pub data: Data,
    /// The AC controller of the restaurant's APs.
    #[serde(default)]
    pub ac: AcSettings,
    /// The admin JSON API and metrics.
    #[serde(default)]
    pub admin: AdminSettings,
    /// The guests' resolver.
    #[serde(default)]
    pub dns: DnsSettings,
    /// The login methods.
    #[serde(default)]
    pub auth: AuthSettings,
    /// The shared member store and its feed.
    #[serde(default)]
    pub members: MembersSettings,
    /// The access log the police ask for.
    #[serde(default)]
    pub trail: Trail,
    /// The file it was read from (the console checks its settings over it).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// Reads `path`, then the settings the console saved in the data dir
    /// (`settings.toml`, over the file), then those headquarters manages
    /// for the site (`hq-settings.toml`, over both), applies `GUESTWIFI_*`
    /// overrides from `env` (over all), checks it.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let env: Vec<(String, String)> = env.into_iter().collect();
        let origin = path.display().to_string();
        let first = Self::parse(&text, &origin, env.clone())?;
        let mut overlays = Vec::new();
        for name in [SETTINGS_FILE, HQ_SETTINGS_FILE] {
            let overlay = first.data.dir.join(name);
            match std::fs::read_to_string(&overlay) {
                Ok(settings) => overlays.push((settings, overlay.display().to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ConfigError::Read { path: overlay, source }),
            }
        }
        let mut config = if overlays.is_empty() {
            first
        } else {
            let layers: Vec<(&str, &str)> = overlays.iter().map(|(t, o)| (t.as_str(), o.as_str())).collect();
            Self::parse_layers(&text, &origin, &layers, env)?
        };
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// The overlays a running site reads over its file, but `skip`: what
    /// `settings.toml` and `hq-settings.toml` in `dir` hold, in order.
    pub fn overlays_in(dir: &Path, skip: &str) -> Vec<(String, String)> {
        [SETTINGS_FILE, HQ_SETTINGS_FILE]
            .into_iter()
            .filter(|name| *name != skip)
            .filter_map(|name| {
                let path = dir.join(name);
                std::fs::read_to_string(&path).ok().map(|text| (text, path.display().to_string()))
            })
            .collect()
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::parse_layers(text, origin, &[], env)
    }

    /// Parses TOML text, then each of `overlays` (TOML text and its origin)
    /// over it in order, then the environment's overrides.
    pub fn parse_layers(
        text: &str,
        origin: &str,
        overlays: &[(&str, &str)],
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let invalid = |origin: &str, message: String| ConfigError::Invalid { origin: origin.to_string(), message };
        let mut root: toml::Table = toml::from_str(text).map_err(|e| invalid(origin, e.to_string()))?;
        for (settings, settings_origin) in overlays {
            let over: toml::Table = toml::from_str(settings).map_err(|e| invalid(settings_origin, e.to_string()))?;
            merge(&mut root, over);
        }
        // GUESTWIFI_SECTION__KEY, or deeper: GUESTWIFI_AUTH__VOUCHER__ENABLED.
        crate::kit::overrides::apply(&mut root, ENV_PREFIX, NOT_CONFIG, env)
            .map_err(|(name, message)| invalid(&name, message))?;
        let config: Config =
            toml::Value::Table(root).try_into().map_err(|e: toml::de::Error| invalid(origin, e.to_string()))?;
        config.check().map_err(|m| invalid(origin, m))?;
        Ok(config)
    }

    /// Each section's checks, then what spans sections.
    fn check(&self) -> Result<(), String> {
        self.network.check()?;
        self.session.check()?;
        self.portal.check()?;
        self.admin.check()?;
        self.ac.check()?;
        self.dns.check()?;
        self.auth.check()?;
        self.trail.check()?;
        self.members.check()
    }

    /// Every name guests reach before login: the walled garden, plus the
    /// hosts of the login methods that need theirs (WeChat).
    pub fn garden_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.walled_garden.names.iter().map(|n| n.trim_end_matches('.').to_ascii_lowercase()).collect();
        let mut extra: Vec<&String> = Vec::new();
        if self.auth.wechat.enabled {
            extra.extend(&self.auth.wechat.garden);
        }
        for provider in [&self.auth.qq, &self.auth.weibo].into_iter().filter(|p| p.enabled) {
            extra.extend(&provider.garden);
        }
        names.extend(extra.into_iter().map(|n| n.trim_end_matches('.').to_ascii_lowercase()));
        names.sort();
        names.dedup();
        names
    }

    /// The host name guests' browsers use for the portal.
    pub fn portal_host(&self) -> String {
        if self.portal.hostname.is_empty() {
            self.network.guest_address.addr.to_string()
        } else {
            self.portal.hostname.clone()
        }
    }

    /// Base URL of the portal's plain-HTTP pages.
    pub fn portal_url(&self) -> String {
        match self.portal.http_port {
            80 => format!("http://{}", self.portal_host()),
            port => format!("http://{}:{port}", self.portal_host()),
        }
    }

    /// URL of the RFC 8908 API (DHCP option 114).
    pub fn captive_api_url(&self) -> String {
        match self.portal.https_port {
            443 => format!("https://{}/api/captive", self.portal_host()),
            port => format!("https://{}:{port}/api/captive", self.portal_host()),
        }
    }

    /// The guests' port blocks: on the configured public address, else the
    /// uplink interface's own IPv4 address now (None: off, or no address
    /// to put them on; the guests then share the uplink by masquerade).
    pub fn port_blocks(&self) -> Option<firewall::PortBlocks> {
        if !self.trail.port_blocks || !self.network.masquerade {
            return None;
        }
        let public =
            self.trail.public_address.or_else(|| crate::kit::addrs::interface_ipv4(&self.network.uplink_interface))?;
        let net = self.network.guest_address;
        Some(firewall::PortBlocks::new(public, (net.network(), net.prefix)))
    }

    /// The firewall policy for this config.
    pub fn policy(&self) -> firewall::Policy {
        let net = self.network.guest_address;
        firewall::Policy {
            guest_interface: self.network.guest_interface.clone(),
            guest_subnet: (net.network(), net.prefix),
            portal_ip: net.addr,
            portal_http_port: self.portal.http_port,
            portal_https_port: self.portal.https_port,
            masquerade: self.network.masquerade,
            port_blocks: self.port_blocks(),
            uplink_interface: Some(self.network.uplink_interface.clone()).filter(|u| !u.is_empty()),
            allowed_destinations: self.network.allowed_destinations().expect("checked at load"),
            lease_check: self.network.run_dnsmasq,
            dns_fallback: self.upstream_resolvers().into_iter().find_map(|r| match r.ip() {
                // A forwarded packet cannot be sent to loopback (systemd-resolved's 127.0.0.53).
                IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
                _ => None,
            }),
        }
    }
}

impl Config {
    /// Where the guests' resolver forwards: `network.upstream_dns`, else the
    /// appliance's own resolvers (`/etc/resolv.conf`).
    pub fn upstream_resolvers(&self) -> Vec<std::net::SocketAddr> {
        let servers: Vec<IpAddr> = if self.network.upstream_dns.is_empty() {
            std::fs::read_to_string("/etc/resolv.conf")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver")?.trim().parse().ok())
                .collect()
        } else {
            self.network.upstream_dns.clone()
        };
        servers.into_iter().map(|ip| std::net::SocketAddr::new(ip, 53)).collect()
    }
}

/// Puts `over`'s keys into `base`, table into table.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A host name as DNS takes it.
pub(crate) fn valid_hostname(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
        })
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const EXAMPLE: &str = include_str!("../../../image/controller.example.toml");

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn example_file_loads_with_every_key() {
        let config = Config::parse(EXAMPLE, "example", no_env()).unwrap();
        assert_eq!(config.auth.countdown.seconds, 6);
        assert!(config.auth.countdown.enabled && !config.auth.voucher.enabled);
        assert_eq!(config.policy().guest_subnet, (Ipv4Addr::new(192, 0, 2, 0), 24));
    }

    #[test]
    fn misspelt_key_is_named() {
        let text = EXAMPLE.replace("idle_timeout_seconds", "idle_timeout_secs");
        let err = Config::parse(&text, "site.toml", no_env()).unwrap_err().to_string();
        assert!(err.contains("site.toml") && err.contains("idle_timeout_secs"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let text = EXAMPLE.replace("length_seconds = 7200", "length_seconds = \"two hours\"");
        let err = Config::parse(&text, "site.toml", no_env()).unwrap_err().to_string();
        assert!(err.contains("length_seconds"), "{err}");
    }

    #[test]
    fn environment_overrides_and_unknown_env_key_is_an_error() {
        let env = vec![("GUESTWIFI_SESSION__LENGTH_SECONDS".to_string(), "60".to_string())];
        assert_eq!(Config::parse(EXAMPLE, "x", env).unwrap().session.length_seconds, 60);
        let env = vec![("GUESTWIFI_SESSION__LENGHT_SECONDS".to_string(), "60".to_string())];
        let err = Config::parse(EXAMPLE, "x", env).unwrap_err().to_string();
        assert!(err.contains("lenght_seconds"), "{err}");
        let env = vec![("GUESTWIFI_AUTH__VOUCHER__ENABLED".to_string(), "true".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).unwrap().auth.voucher.enabled, "a nested section");
        let env = vec![("GUESTWIFI_AUTH__VOUCHER__ENABLD".to_string(), "true".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).unwrap_err().to_string().contains("enabld"));
    }

    #[test]
    fn every_method_off_is_refused() {
        let env = vec![("GUESTWIFI_AUTH__COUNTDOWN__ENABLED".to_string(), "false".to_string())];
        let err = Config::parse(EXAMPLE, "x", env).unwrap_err().to_string();
        assert!(err.contains("every login method is off"), "{err}");
    }

    #[test]
    fn allowed_destinations_are_parsed_and_a_bad_one_is_named() {
        let text = EXAMPLE.replace(
            "guest_allowed_destinations = []",
            "guest_allowed_destinations = [\"192.168.1.50\", \"10.20.0.0/24\"]",
        );
        let policy = Config::parse(&text, "x", no_env()).unwrap().policy();
        assert_eq!(
            policy.allowed_destinations,
            vec![("192.168.1.50".parse().unwrap(), 32), ("10.20.0.0".parse().unwrap(), 24)]
        );
        assert_eq!(policy.uplink_interface.as_deref(), Some("wan0"));
        let text = EXAMPLE.replace("guest_allowed_destinations = []", "guest_allowed_destinations = [\"printer\"]");
        let err = Config::parse(&text, "x", no_env()).unwrap_err().to_string();
        assert!(err.contains("guest_allowed_destinations") && err.contains("printer"), "{err}");
    }

    #[test]
    fn the_ssid_key_variable_is_not_taken_for_a_config_key() {
        let env = vec![("GUESTWIFI_SSID_KEY".to_string(), "kitchen-2024!".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).is_ok());
        let env = vec![("GUESTWIFI_SSID_KEYS".to_string(), "x".to_string())];
        assert!(Config::parse(EXAMPLE, "x", env).is_err(), "a near miss is still named");
    }

    #[test]
    fn listeners_are_addresses_or_off_and_a_bad_one_is_named() {
        let config = Config::parse(EXAMPLE, "x", no_env()).unwrap();
        assert_eq!(config.ac.listen, Some("0.0.0.0:7443".parse().unwrap()));
        let env = vec![("GUESTWIFI_ADMIN__LISTEN".to_string(), "".to_string())];
        assert_eq!(Config::parse(EXAMPLE, "x", env).unwrap().admin.listen, None);
        let env = vec![("GUESTWIFI_AC__LISTEN".to_string(), "port 7443".to_string())];
        let err = Config::parse(EXAMPLE, "x", env).unwrap_err().to_string();
        assert!(err.contains("listen") && err.contains("port 7443"), "{err}");
        let text = EXAMPLE.replace("\"192.0.2.1/24\"", "\"192.0.2.1/33\"");
        let err = Config::parse(&text, "x", no_env()).unwrap_err().to_string();
        assert!(err.contains("guest_address") && err.contains("192.0.2.1/33"), "{err}");
    }

    #[test]
    fn dhcp_range_outside_the_subnet_is_refused() {
        let text = EXAMPLE.replace("\"192.0.2.250\"", "\"198.51.100.9\"");
        let err = Config::parse(&text, "x", no_env()).unwrap_err().to_string();
        assert!(err.contains("dhcp_range"), "{err}");
    }
}
