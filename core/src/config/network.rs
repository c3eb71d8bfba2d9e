//! `[network]`, `[portal]`, `[walled_garden]`, `[dns]`: the guest network, the
//! portal's listeners and limits, the names reached before login, the resolver.

use super::{valid_hostname, yes};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// `[dns]`: the guests' resolver (the controller's own; dnsmasq does DHCP).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSettings {
    /// Distinct names a device may look up in a minute before login.
    #[serde(default = "default_dns_names")]
    pub names_per_minute_before_login: u32,
    /// Queries a second a device may make before login, sustained.
    #[serde(default = "default_dns_rate")]
    pub queries_per_second_before_login: u32,
    /// ... and in a burst.
    #[serde(default = "default_dns_burst")]
    pub burst_before_login: u32,
    /// More names always answered before login (besides the portal, the
    /// walled garden and the OS captive probes).
    #[serde(default)]
    pub always_answer: Vec<String>,
}

/// An address with its network's prefix length, as in "192.0.2.1/24":
/// parsed once, when the config is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Ipv4Net {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length, 8 to 30.
    pub prefix: u8,
}

impl Ipv4Net {
    /// The network's mask.
    pub fn mask(self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0)
    }

    /// The network's own address (the host part zero).
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `ip` is on this network.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("{text:?} is not like 192.0.2.1/24 (prefix 8 to 30)");
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        Ok(Ipv4Net { addr, prefix })
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `[network]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Interface guests arrive on (bridge or VLAN interface).
    pub guest_interface: String,
    /// The appliance's address on the guest network with the prefix length,
    /// e.g. "192.0.2.1/24".
    pub guest_address: Ipv4Net,
    /// First and last address handed out by DHCP.
    pub dhcp_range: (Ipv4Addr, Ipv4Addr),
    /// DHCP lease time in minutes.
    #[serde(default = "default_lease_minutes")]
    pub dhcp_lease_minutes: u32,
    /// Upstream DNS servers the appliance's resolver forwards to.
    #[serde(default)]
    pub upstream_dns: Vec<IpAddr>,
    /// The one interface guests' traffic may leave by; empty: any but the
    /// guest interface.
    #[serde(default)]
    pub uplink_interface: String,
    /// Private destinations logged-in guests may reach ("192.168.1.50",
    /// "10.20.0.0/24").
    #[serde(default)]
    pub guest_allowed_destinations: Vec<String>,
    /// Source-NAT guest traffic leaving by the uplink.
    #[serde(default = "yes")]
    pub masquerade: bool,
    /// Run dnsmasq for guest DHCP (turn off only when another server does).
    /// Its leases are what the gateway lets in: a (MAC, address) pair that
    /// is not a current lease is dropped. Off, that check is off too.
    #[serde(default = "yes")]
    pub run_dnsmasq: bool,
    /// When the guest interface is a bridge, isolate its ports from each
    /// other (each AP's uplink, each wired guest port): guests behind two
    /// APs meet only the appliance, never each other. Off only when a device
    /// guests must reach by name on the wire sits on that bridge.
    #[serde(default = "yes")]
    pub isolate_guest_ports: bool,
}

/// `[portal]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// Name guests' browsers use for the portal (answered by our DNS);
    /// empty means the guest address itself.
    #[serde(default)]
    pub hostname: String,
    /// Plain-HTTP port; guests' port-80 traffic is redirected here.
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    /// HTTPS port of the RFC 8908 captive-portal API.
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// PEM certificate chain and key for HTTPS; when both are empty a
    /// self-signed certificate is generated into the data dir (lab use).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (mode 0600).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Most connections served at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections one guest device may hold open to the portal.
    #[serde(default = "default_per_device")]
    pub max_connections_per_device: usize,
    /// Requests per second one guest may make, sustained.
    #[serde(default = "default_rate")]
    pub requests_per_second: u32,
    /// Requests one guest may make in a burst.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Seconds a client has to send its request headers.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// The way to log in the login page offers first, as its one big
    /// button (`countdown`, `sms`, `wechat`, `qq`, `weibo`, `voucher`,
    /// `account`, `card`, `counter_qr`); the others are listed compactly
    /// below it. Empty: the first on in that order.
    #[serde(default)]
    pub first_method: String,
}

/// `[walled_garden]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalledGarden {
    /// Domain names reachable before login (resolved, refreshed on TTL).
    #[serde(default)]
    pub names: Vec<String>,
}

impl Network {
    /// The DHCP range inside the guest subnet, destinations that parse, an
    /// uplink that is not the guest side.
    pub(super) fn check(&self) -> Result<(), String> {
        let net = self.guest_address;
        let (first, last) = self.dhcp_range;
        for addr in [first, last] {
            if !net.contains(addr) {
                return Err(format!("network.dhcp_range: {addr} is outside {net}"));
            }
        }
        if u32::from(first) > u32::from(last) {
            return Err("network.dhcp_range: first address is after the last".into());
        }
        self.allowed_destinations()?;
        if self.uplink_interface == self.guest_interface {
            return Err("network.uplink_interface must not be the guest interface".into());
        }
        Ok(())
    }

    /// `guest_allowed_destinations` parsed: (address, prefix length).
    pub fn allowed_destinations(&self) -> Result<Vec<(IpAddr, u8)>, String> {
        self.guest_allowed_destinations
            .iter()
            .map(|entry| {
                let bad = || format!("network.guest_allowed_destinations: {entry:?} is not an address or prefix");
                let (addr, len) = entry.split_once('/').unwrap_or((entry, ""));
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let len = if len.is_empty() { max } else { len.parse::<u8>().map_err(|_| bad())? };
                if len > max {
                    return Err(bad());
                }
                Ok((addr, len))
            })
            .collect()
    }
}

impl Default for Portal {
    fn default() -> Self {
        toml::from_str("").expect("portal defaults")
    }
}

impl Default for DnsSettings {
    fn default() -> Self {
        toml::from_str("").expect("dns defaults")
    }
}

fn default_lease_minutes() -> u32 {
    720
}

fn default_http_port() -> u16 {
    80
}

fn default_https_port() -> u16 {
    443
}

fn default_max_connections() -> usize {
    1024
}

fn default_dns_names() -> u32 {
    40
}

fn default_dns_rate() -> u32 {
    10
}

fn default_dns_burst() -> u32 {
    40
}

fn default_per_device() -> usize {
    32
}

fn default_rate() -> u32 {
    20
}

fn default_burst() -> u32 {
    60
}

fn default_header_timeout() -> u64 {
    10
}

impl Portal {
    /// Limits of at least one, certificates in pairs, a host name.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.max_connections_per_device == 0 {
            return Err("portal.max_connections_per_device must be at least 1".into());
        }
        if self.requests_per_second == 0 || self.burst == 0 {
            return Err("portal.requests_per_second and portal.burst must be at least 1".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("portal.tls_cert and portal.tls_key go together".into());
        }
        if !self.first_method.is_empty() && !super::METHODS.contains(&self.first_method.as_str()) {
            return Err(format!("portal.first_method: one of {} (or empty)", super::METHODS.join(", ")));
        }
        if !self.hostname.is_empty() && !valid_hostname(&self.hostname) {
            return Err(format!("portal.hostname: {:?} is not a host name", self.hostname));
        }
        Ok(())
    }
}

impl DnsSettings {
    /// Before-login limits of at least one; names that are host names.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.names_per_minute_before_login == 0
            || self.queries_per_second_before_login == 0
            || self.burst_before_login == 0
        {
            return Err("dns: the before-login limits must be at least 1".into());
        }
        if let Some(bad) = self.always_answer.iter().find(|n| !valid_hostname(n)) {
            return Err(format!("dns.always_answer: {bad:?} is not a host name"));
        }
        Ok(())
    }
}
