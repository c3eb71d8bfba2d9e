//! The configuration the controller pushes to every AP. The same SSIDs and
//! keys go to every AP, so a guest roams without logging in again.

use serde::{Deserialize, Serialize};

/// Everything an AP runs. `version` grows with every change; the agent acks
/// the version it applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApConfig {
    /// Config version.
    pub version: u64,
    /// Regulatory country (ISO 3166-1 alpha-2), e.g. "CN".
    pub country: String,
    /// The restaurant's SSIDs.
    pub ssids: Vec<Ssid>,
    /// This AP's radios (per-AP overrides already applied).
    pub radios: Vec<Radio>,
    /// Fast roaming between the restaurant's APs.
    pub roaming: Roaming,
}

/// One SSID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ssid {
    /// Network name as guests see it (UTF-8, at most 32 bytes).
    pub name: String,
    /// How guests authenticate to the radio.
    pub security: Security,
    /// Passphrase (WPA2: 8-63 printable ASCII; SAE: any printable).
    #[serde(default)]
    pub key: String,
    /// VLAN the SSID's traffic is bridged to (None: the AP's guest bridge).
    #[serde(default)]
    pub vlan: Option<u16>,
    /// Not broadcast in beacons.
    #[serde(default)]
    pub hidden: bool,
    /// Guests on this SSID cannot reach each other.
    #[serde(default = "yes")]
    pub client_isolation: bool,
    /// Guests must pass the captive portal (the controller's gateway does it).
    #[serde(default = "yes")]
    pub captive_portal: bool,
    /// Bands the SSID is offered on.
    pub bands: Vec<Band>,
}

/// Radio security.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// No encryption (the usual guest network, behind the portal).
    Open,
    /// WPA2-Personal.
    Wpa2Psk,
    /// WPA3-Personal (SAE), management frame protection required.
    Wpa3Sae,
    /// WPA2/WPA3 transition mode.
    Wpa2Wpa3,
}

/// A Wi-Fi band.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Band {
    /// 2.4 GHz.
    #[serde(rename = "2.4")]
    G2_4,
    /// 5 GHz.
    #[serde(rename = "5")]
    G5,
}

/// One radio's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Radio {
    /// Interface name, e.g. `wlan0`.
    pub interface: String,
    /// Its band.
    pub band: Band,
    /// Channel (the controller's plan or the admin's fixed choice).
    pub channel: u16,
    /// Channel width, MHz (20, 40, 80).
    #[serde(default = "default_width")]
    pub width_mhz: u16,
    /// TX power, dBm (None: the radio's maximum).
    #[serde(default)]
    pub tx_power_dbm: Option<u8>,
}

/// 802.11r/k/v settings shared by every AP of the restaurant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roaming {
    /// 802.11r mobility domain, 4 hex digits.
    pub mobility_domain: String,
    /// Key shared by every AP for FT key holders (64 hex digits), made by the controller.
    pub ft_key: String,
}

fn yes() -> bool {
    true
}

fn default_width() -> u16 {
    20
}
