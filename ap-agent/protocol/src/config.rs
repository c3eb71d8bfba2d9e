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
    /// The guest gateway's MAC address (the appliance's guest interface).
    /// On an SSID with a captive portal and client isolation, a guest's
    /// frames may go to it and to no other device on the wire (see the
    /// agent's bridge rules). None from a controller that does not send it.
    #[serde(default)]
    pub gateway_mac: Option<String>,
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

/// Why an SSID's settings cannot be used. The controller checks before it
/// stores an SSID, the agent before it renders one: the same rules, here once.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SsidError {
    /// The name is empty or longer than 32 bytes.
    #[error("SSID {0:?}: the name must be 1 to 32 bytes")]
    Name(String),
    /// No band chosen.
    #[error("SSID {0:?}: choose at least one band")]
    NoBand(String),
    /// A WPA2 passphrase is not 8-63 printable ASCII characters.
    #[error("SSID {0:?}: a WPA2 key is 8 to 63 printable ASCII characters")]
    Wpa2Key(String),
    /// A WPA3 password is empty or has control characters.
    #[error("SSID {0:?}: a WPA3 password is printable and not empty")]
    SaeKey(String),
    /// The VLAN is not 1-4094.
    #[error("SSID {0:?}: VLAN is 1 to 4094")]
    Vlan(String),
    /// Without the portal an SSID needs its own VLAN (else it lands on the
    /// guest network, behind the portal anyway).
    #[error("SSID {0:?}: an SSID without the captive portal needs its own VLAN")]
    PortalWithoutVlan(String),
}

impl Ssid {
    /// Checks every setting; nothing unchecked reaches a hostapd file.
    pub fn check(&self) -> Result<(), SsidError> {
        let name = || self.name.clone();
        if self.name.is_empty() || self.name.len() > 32 {
            return Err(SsidError::Name(name()));
        }
        if self.bands.is_empty() {
            return Err(SsidError::NoBand(name()));
        }
        let wpa2_ok = (8..=63).contains(&self.key.len()) && self.key.bytes().all(|b| (0x20..0x7f).contains(&b));
        let sae_ok = !self.key.is_empty() && !self.key.chars().any(char::is_control);
        match self.security {
            Security::Open | Security::OpenOwe => {}
            Security::Wpa2Psk | Security::Wpa2Wpa3 if !wpa2_ok => return Err(SsidError::Wpa2Key(name())),
            Security::Wpa3Sae if !sae_ok => return Err(SsidError::SaeKey(name())),
            _ => {}
        }
        if self.vlan.is_some_and(|v| !(1..=4094).contains(&v)) {
            return Err(SsidError::Vlan(name()));
        }
        if !self.captive_portal && self.vlan.is_none() {
            return Err(SsidError::PortalWithoutVlan(name()));
        }
        Ok(())
    }
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
    /// Open, in OWE transition mode (RFC 8110): old phones join the open
    /// network; phones that know OWE join its hidden twin, whose traffic is
    /// encrypted with no password. Either way the portal logs them in.
    OpenOwe,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ssid() -> Ssid {
        Ssid {
            name: "Staff".into(),
            security: Security::Wpa2Psk,
            key: "kitchen-2024!".into(),
            vlan: None,
            hidden: false,
            client_isolation: true,
            captive_portal: true,
            bands: vec![Band::G2_4],
        }
    }

    #[test]
    fn ssid_settings_are_checked() {
        assert!(Ssid::check(&ssid()).is_ok());
        let no_portal = Ssid { captive_portal: false, ..ssid() };
        assert!(Ssid::check(&no_portal).unwrap_err().to_string().contains("own VLAN"));
        assert!(Ssid::check(&Ssid { vlan: Some(20), ..no_portal }).is_ok());
        assert!(Ssid::check(&Ssid { key: "short".into(), ..ssid() }).is_err());
        assert!(Ssid::check(&Ssid { bands: vec![], ..ssid() }).is_err());
        assert!(Ssid::check(&Ssid { vlan: Some(5000), ..ssid() }).is_err());
        assert!(Ssid::check(&Ssid { name: "x".repeat(33), ..ssid() }).is_err());
    }
}
