//! `hostapd.conf` for one radio, rendered from the pushed [`ApConfig`]. The
//! first SSID on the radio's band is the main BSS, the others are `bss=`
//! sections. Every SSID gets 802.11r (FT over the air, one mobility domain,
//! wildcard key holders with the controller's key), 802.11k and 802.11v, so a
//! guest roams between the restaurant's APs without a new login.

use ap_protocol::{ApConfig, Band, Radio, Security, Ssid};
use std::fmt::Write;

/// Why a config cannot become a hostapd file. Checked before rendering so
/// no value can smuggle a line into the file.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// An SSID's settings are not acceptable (`Ssid::check`).
    #[error(transparent)]
    Ssid(#[from] ap_protocol::SsidError),
    /// The channel is not in the radio's band.
    #[error("channel {channel} is not a {band:?} channel")]
    Channel {
        /// The channel.
        channel: u16,
        /// The band.
        band: Band,
    },
    /// A country code is not two capital letters.
    #[error("country {0:?} is not an ISO 3166 code")]
    Country(String),
    /// The roaming key or mobility domain is not hex of the right length.
    #[error("roaming settings are malformed")]
    Roaming,
    /// A bad interface name.
    #[error("interface {0:?} is not a valid name")]
    Interface(String),
    /// No SSID is offered on this radio's band.
    #[error("no SSID on {0:?}")]
    NoSsid(Band),
}

/// Who this AP is, for the FT key holder names.
#[derive(Clone, Debug)]
pub struct ApIdentity {
    /// Base MAC address, e.g. `02:00:00:00:aa:01`.
    pub mac: String,
}

/// Renders the hostapd configuration of `radio`.
pub fn render(config: &ApConfig, radio: &Radio, ap: &ApIdentity) -> Result<String, RenderError> {
    check(config, radio)?;
    let ssids: Vec<&Ssid> = config.ssids.iter().filter(|s| s.bands.contains(&radio.band)).collect();
    if ssids.is_empty() {
        return Err(RenderError::NoSsid(radio.band));
    }
    let mut out = format!("# Written by ap-agent for config version {}; edits are lost.\n", config.version);
    let _ = writeln!(out, "interface={}", radio.interface);
    out.push_str("driver=nl80211\n");
    let _ = writeln!(out, "ctrl_interface=/run/hostapd");
    let _ = writeln!(out, "country_code={}", config.country);
    out.push_str("ieee80211d=1\n");
    let _ = writeln!(out, "hw_mode={}", if radio.band == Band::G2_4 { "g" } else { "a" });
    let _ = writeln!(out, "channel={}", radio.channel);
    out.push_str("ieee80211n=1\nwmm_enabled=1\n");
    if radio.width_mhz >= 40 {
        let plus =
            radio.band == Band::G2_4 && radio.channel <= 7 || radio.band == Band::G5 && (radio.channel / 4) % 2 == 1;
        let _ = writeln!(out, "ht_capab=[{}]", if plus { "HT40+" } else { "HT40-" });
    }
    if radio.band == Band::G5 {
        out.push_str("ieee80211ac=1\n");
        if radio.width_mhz >= 80 {
            let center = vht80_center(radio.channel);
            let _ = writeln!(out, "vht_oper_chwidth=1\nvht_oper_centr_freq_seg0_idx={center}");
        }
    }
    for (i, ssid) in ssids.iter().enumerate() {
        let ifname = bss_ifname(radio, i);
        if i > 0 {
            let _ = writeln!(out, "\nbss={ifname}");
        }
        bss(&mut out, ssid, config, ap, radio, i);
        if ssid.security == Security::OpenOwe {
            owe_twin(&mut out, ssid, radio, &ifname, i);
        }
    }
    Ok(out)
}

/// The interface of the radio's `index`th BSS: the radio's own for the
/// first, `bss=` names after it.
fn bss_ifname(radio: &Radio, index: usize) -> String {
    if index == 0 {
        radio.interface.clone()
    } else {
        format!("{}-{index}", radio.interface)
    }
}

/// The interface of the OWE twin of the radio's `index`th BSS.
fn owe_ifname(radio: &Radio, index: usize) -> String {
    format!("{}-owe{index}", radio.interface)
}

/// The interfaces `render` gives guests of SSIDs that are kept apart (a
/// captive portal and client isolation), OWE twins included: the ports the
/// agent's bridge rules hold to the gateway.
pub fn guest_interfaces(config: &ApConfig, radio: &Radio) -> Vec<String> {
    let ssids = config.ssids.iter().filter(|s| s.bands.contains(&radio.band));
    let mut out = Vec::new();
    for (i, ssid) in ssids.enumerate() {
        if ssid.captive_portal && ssid.client_isolation {
            out.push(bss_ifname(radio, i));
            if ssid.security == Security::OpenOwe {
                out.push(owe_ifname(radio, i));
            }
        }
    }
    out
}

/// The hidden OWE twin of an open SSID in transition mode: its own BSS,
/// named after the open one (the open BSS's beacons point phones at it), on
/// the same bridge, with the same isolation.
fn owe_twin(out: &mut String, ssid: &Ssid, radio: &Radio, open_ifname: &str, index: usize) {
    let twin = owe_ifname(radio, index);
    let _ = writeln!(out, "owe_transition_ifname={twin}");
    let _ = writeln!(out, "\nbss={twin}");
    // A name of its own (an old phone probing for the open name must not
    // be answered by a network it cannot join), short enough for any name.
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in ssid.name.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let _ = writeln!(out, "ssid2={}", ap_protocol::hex::encode(format!("OWE-{:08x}", hash as u32).as_bytes()));
    out.push_str("ignore_broadcast_ssid=1\n");
    isolation_bridge_and_roaming(out, ssid);
    out.push_str("wpa=2\nwpa_key_mgmt=OWE\nrsn_pairwise=CCMP\nieee80211w=2\n");
    let _ = writeln!(out, "owe_transition_ifname={open_ifname}");
}

/// A BSS's client isolation, its VLAN's bridge, and 802.11k and 802.11v
/// (neighbour reports and BSS transition management).
fn isolation_bridge_and_roaming(out: &mut String, ssid: &Ssid) {
    if ssid.client_isolation {
        out.push_str("ap_isolate=1\n");
    }
    if let Some(vlan) = ssid.vlan {
        let _ = writeln!(out, "bridge=br-vlan{vlan}");
    }
    out.push_str("rrm_neighbor_report=1\nrrm_beacon_report=1\nbss_transition=1\n");
}

fn bss(out: &mut String, ssid: &Ssid, config: &ApConfig, ap: &ApIdentity, radio: &Radio, index: usize) {
    // Hex, so any name (Chinese included) is one safe line.
    let hex = ap_protocol::hex::encode(ssid.name.as_bytes());
    let _ = writeln!(out, "ssid2={hex}");
    out.push_str("utf8_ssid=1\n");
    if ssid.hidden {
        out.push_str("ignore_broadcast_ssid=1\n");
    }
    isolation_bridge_and_roaming(out, ssid);
    let (key_mgmt, mfp) = match ssid.security {
        Security::Open | Security::OpenOwe => {
            return;
        }
        Security::Wpa2Psk => ("WPA-PSK FT-PSK", 0),
        Security::Wpa3Sae => ("SAE FT-SAE", 2),
        Security::Wpa2Wpa3 => ("WPA-PSK FT-PSK SAE FT-SAE", 1),
    };
    out.push_str("wpa=2\nrsn_pairwise=CCMP\n");
    let _ = writeln!(out, "wpa_key_mgmt={key_mgmt}");
    let _ = writeln!(out, "ieee80211w={mfp}");
    if matches!(ssid.security, Security::Wpa2Psk | Security::Wpa2Wpa3) {
        let _ = writeln!(out, "wpa_passphrase={}", ssid.key);
    }
    if matches!(ssid.security, Security::Wpa3Sae | Security::Wpa2Wpa3) {
        let _ = writeln!(out, "sae_password={}", ssid.key);
        out.push_str("sae_require_mfp=1\n");
    }
    // 802.11r: FT over the air in one mobility domain; every AP holds the
    // same wildcard key-holder key, so no AP needs a list of the others.
    let holder: String = ap.mac.chars().filter(|c| *c != ':').collect();
    let _ = writeln!(out, "mobility_domain={}", config.roaming.mobility_domain);
    out.push_str("ft_over_ds=0\n");
    let _ = writeln!(out, "nas_identifier={holder}-{}-{index}", radio.interface);
    if matches!(ssid.security, Security::Wpa2Psk) {
        out.push_str("ft_psk_generate_local=1\n");
    }
    let _ = writeln!(out, "r0kh=ff:ff:ff:ff:ff:ff * {}", config.roaming.ft_key);
    let _ = writeln!(out, "r1kh=00:00:00:00:00:00 00:00:00:00:00:00 {}", config.roaming.ft_key);
    out.push_str("pmk_r1_push=1\n");
}

fn check(config: &ApConfig, radio: &Radio) -> Result<(), RenderError> {
    let c = &config.country;
    if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(RenderError::Country(c.clone()));
    }
    let r = &config.roaming;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&r.mobility_domain, 4) || !hex(&r.ft_key, 64) {
        return Err(RenderError::Roaming);
    }
    let name_ok = !radio.interface.is_empty()
        && radio.interface.len() <= 13
        && radio.interface.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(RenderError::Interface(radio.interface.clone()));
    }
    let valid_channel = match radio.band {
        Band::G2_4 => (1..=13).contains(&radio.channel),
        Band::G5 => [
            36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140, 144, 149, 153, 157,
            161, 165,
        ]
        .contains(&radio.channel),
    };
    if !valid_channel {
        return Err(RenderError::Channel { channel: radio.channel, band: radio.band });
    }
    for ssid in &config.ssids {
        ssid.check()?;
    }
    Ok(())
}

/// Centre channel of the 80 MHz block a 5 GHz channel is in.
fn vht80_center(channel: u16) -> u16 {
    match channel {
        36..=48 => 42,
        52..=64 => 58,
        100..=112 => 106,
        116..=128 => 122,
        132..=144 => 138,
        _ => 155,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ap_protocol::Roaming;

    pub(crate) fn sample() -> ApConfig {
        let ssid = |name: &str, security, key: &str, bands: Vec<Band>| Ssid {
            name: name.into(),
            security,
            key: key.into(),
            vlan: None,
            hidden: false,
            client_isolation: true,
            captive_portal: true,
            bands,
        };
        ApConfig {
            version: 7,
            country: "CN".into(),
            ssids: vec![
                ssid("老王饭店-免费WiFi", Security::Open, "", vec![Band::G2_4, Band::G5]),
                ssid("LaoWang-Staff", Security::Wpa2Psk, "kitchen-2024!", vec![Band::G2_4, Band::G5]),
                ssid("LaoWang-VIP", Security::Wpa3Sae, "会员专享 password", vec![Band::G5]),
                ssid("LaoWang-Mixed", Security::Wpa2Wpa3, "mixedmode123", vec![Band::G2_4]),
            ],
            radios: vec![
                Radio { interface: "wlan0".into(), band: Band::G2_4, channel: 6, width_mhz: 20, tx_power_dbm: None },
                Radio { interface: "wlan1".into(), band: Band::G5, channel: 44, width_mhz: 80, tx_power_dbm: Some(17) },
            ],
            roaming: Roaming { mobility_domain: "a1b2".into(), ft_key: "0f".repeat(32) },
            gateway_mac: Some("02:00:00:00:00:01".into()),
        }
    }

    fn ap() -> ApIdentity {
        ApIdentity { mac: "02:00:00:00:aa:01".into() }
    }

    #[test]
    fn every_ssid_on_the_band_becomes_a_bss_with_fast_roaming() {
        let config = sample();
        let conf = render(&config, &config.radios[1], &ap()).unwrap();
        assert_eq!(conf.matches("ssid2=").count(), 3, "{conf}");
        assert_eq!(conf.matches("\nbss=wlan1-").count(), 2);
        assert!(conf.contains("wpa_key_mgmt=SAE FT-SAE\nieee80211w=2"));
        assert_eq!(conf.matches("mobility_domain=a1b2").count(), 2, "open SSIDs need no FT");
        assert!(conf.contains("vht_oper_centr_freq_seg0_idx=42"));
    }

    #[test]
    fn a_newline_in_a_name_or_key_cannot_add_a_line() {
        let mut config = sample();
        config.ssids[0].name = "Free\nwpa=0".into();
        let conf = render(&config, &config.radios[0], &ap()).unwrap();
        assert!(!conf.lines().any(|l| l == "wpa=0"));
        config.ssids[1].key = "goodkey1\nwpa=0".into();
        assert_eq!(
            render(&config, &config.radios[0], &ap()),
            Err(RenderError::Ssid(ap_protocol::SsidError::Wpa2Key("LaoWang-Staff".into())))
        );
    }

    #[test]
    fn impossible_settings_are_refused() {
        let mut config = sample();
        config.radios[0].channel = 36;
        assert!(matches!(render(&config, &config.radios[0], &ap()), Err(RenderError::Channel { .. })));
        let mut config = sample();
        config.ssids[1].key = "short".into();
        assert!(matches!(
            render(&config, &config.radios[0], &ap()),
            Err(RenderError::Ssid(ap_protocol::SsidError::Wpa2Key(_)))
        ));
    }

    #[test]
    fn an_open_ssid_in_owe_transition_has_a_hidden_encrypted_twin_each_pointing_at_the_other() {
        let mut config = sample();
        config.ssids[0].security = Security::OpenOwe;
        let conf = render(&config, &config.radios[0], &ApIdentity { mac: "02:00:00:00:aa:01".into() }).unwrap();
        let (open, rest) = conf.split_once("\nbss=wlan0-owe0\n").expect("the twin's section");
        assert!(open.contains("owe_transition_ifname=wlan0-owe0"), "{conf}");
        assert!(!open.contains("wpa="), "the open BSS stays open: {conf}");
        let twin = rest.split("\nbss=").next().unwrap();
        for line in [
            "ignore_broadcast_ssid=1",
            "wpa_key_mgmt=OWE",
            "ieee80211w=2",
            "owe_transition_ifname=wlan0",
            "ap_isolate=1",
        ] {
            assert!(twin.lines().any(|l| l == line), "{line} in the twin: {twin}");
        }
    }
}
