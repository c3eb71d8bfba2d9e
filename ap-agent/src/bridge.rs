//! Guests kept apart on the wire. hostapd's `ap_isolate` stops guests of one
//! BSS reaching each other inside the radio, but frames between two BSSes of
//! this AP, and between guests of two APs over the switch, cross the AP's
//! bridge. For SSIDs with a captive portal and client isolation the agent
//! keeps an nftables bridge table (`guestwifi_ap`) on the guests' ports:
//! - a guest's frames go only to the gateway's MAC, plus broadcast ARP
//!   requests and DHCP requests, and IPv6's router and neighbour
//!   solicitations, neighbour adverts and DHCPv6 to multicast;
//! - a frame to a guest must come from the gateway (another AP's guest's
//!   broadcast, an ARP lie, never reaches it);
//! - guest to guest on this AP is dropped, and no guest reaches the AP itself
//!   by IP or ARP (EAPOL and other link control still reach hostapd).
//!
//! The whole table is replaced in one `nft -f` transaction.

use ap_protocol::ApConfig;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The agent's table (bridge family).
pub const TABLE: &str = "guestwifi_ap";

/// Why the bridge rules cannot be rendered or installed.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The gateway's MAC is not a unicast MAC address.
    #[error("the gateway's MAC {0:?} is not a unicast MAC address")]
    GatewayMac(String),
    /// A port name is not an interface name.
    #[error("{0:?} is not an interface name")]
    Port(String),
    /// nft could not be run or refused the table.
    #[error("cannot keep guests apart on the wire (nft): {0}")]
    Nft(String),
}

/// The table keeping the guests on `ports` (interface names, `*` a
/// trailing wildcard) to the gateway at `gateway_mac`.
pub fn render(gateway_mac: &str, ports: &[String]) -> Result<String, BridgeError> {
    let gw = unicast_mac(gateway_mac).ok_or_else(|| BridgeError::GatewayMac(gateway_mac.to_string()))?;
    if let Some(bad) = ports.iter().find(|p| !interface_pattern(p)) {
        return Err(BridgeError::Port(bad.clone()));
    }
    let set = format!("{{ {} }}", ports.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", "));
    let mut out = removal();
    let _ = writeln!(out, "table bridge {TABLE} {{");
    out.push_str("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
    let _ = writeln!(out, "\t\tiifname {set} oifname {set} drop");
    let _ = writeln!(out, "\t\tiifname {set} jump from_guest");
    let _ = writeln!(out, "\t\toifname {set} ether saddr != {gw} drop");
    out.push_str("\t}\n\tchain from_guest {\n");
    let _ = writeln!(out, "\t\tether daddr {gw} accept");
    out.push_str("\t\tether daddr ff:ff:ff:ff:ff:ff arp operation request accept\n");
    out.push_str("\t\tether daddr ff:ff:ff:ff:ff:ff udp sport 68 udp dport 67 accept\n");
    out.push_str(
        "\t\tether daddr & ff:ff:00:00:00:00 == 33:33:00:00:00:00 icmpv6 type \
         { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept\n",
    );
    out.push_str("\t\tether daddr & ff:ff:00:00:00:00 == 33:33:00:00:00:00 udp sport 546 udp dport 547 accept\n");
    out.push_str("\t\tdrop\n\t}\n");
    out.push_str("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
    let _ = writeln!(out, "\t\tiifname {set} ether type {{ ip, ip6, arp }} drop");
    out.push_str("\t}\n}\n");
    Ok(out)
}

/// Takes the table out (and does nothing when there is none).
pub fn removal() -> String {
    format!("table bridge {TABLE}\ndelete table bridge {TABLE}\n")
}

/// The guests' ports for `config`: a real AP's guest BSS interfaces (as
/// `hostapd::render` names them), or the simulated radio's station ports.
pub fn guest_ports(config: &ApConfig, simulated: bool) -> Vec<String> {
    let guests = config.ssids.iter().any(|s| s.captive_portal && s.client_isolation);
    if simulated {
        // The lab's stations are the simulated bridge's `st*` ports (see `stations`).
        return if guests { vec!["st*".to_string()] } else { Vec::new() };
    }
    config.radios.iter().flat_map(|r| crate::hostapd::guest_interfaces(config, r)).collect()
}

/// A new configuration and the check that puts the table back never
/// interleave (the check could otherwise put back a table just replaced).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where the installed table's script is kept (to put it back if it vanishes).
pub fn script_path(hostapd_dir: &Path) -> PathBuf {
    hostapd_dir.join("bridge.nft")
}

/// Installs the rules `config` asks for, or takes out ones installed before
/// when it asks for none (no gateway MAC, no isolated guest SSID).
pub async fn apply(hostapd_dir: &Path, config: &ApConfig, simulated: bool) -> Result<(), BridgeError> {
    let _one = ONE_AT_A_TIME.lock().await;
    let ports = guest_ports(config, simulated);
    let path = script_path(hostapd_dir);
    match &config.gateway_mac {
        Some(mac) if !ports.is_empty() => {
            let script = render(mac, &ports)?;
            nft(&script).await?;
            crate::files::write_private(&path, script.as_bytes()).map_err(|e| BridgeError::Nft(e.to_string()))?;
            tracing::info!(gateway = %mac, ports = ?ports, "guests kept to the gateway on the wire");
        }
        _ if path.exists() => {
            nft(&removal()).await?;
            let _ = std::fs::remove_file(&path);
            tracing::info!("no isolated guest SSID or no gateway MAC: bridge rules removed");
        }
        _ => {}
    }
    Ok(())
}

/// Puts the table back when it vanished (`nft flush ruleset`, a firewall
/// reload); true when it did.
pub async fn keep(hostapd_dir: &Path) -> Result<bool, BridgeError> {
    let _one = ONE_AT_A_TIME.lock().await;
    let Ok(script) = std::fs::read_to_string(script_path(hostapd_dir)) else {
        return Ok(false);
    };
    let listed = tokio::process::Command::new("nft")
        .args(["list", "table", "bridge", TABLE])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| BridgeError::Nft(e.to_string()))?;
    if listed.success() {
        return Ok(false);
    }
    nft(&script).await?;
    Ok(true)
}

async fn nft(script: &str) -> Result<(), BridgeError> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| BridgeError::Nft(e.to_string()))?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(script.as_bytes()).await.map_err(|e| BridgeError::Nft(e.to_string()))?;
    drop(stdin);
    let out = child.wait_with_output().await.map_err(|e| BridgeError::Nft(e.to_string()))?;
    if !out.status.success() {
        return Err(BridgeError::Nft(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}

/// `aa:bb:cc:dd:ee:ff`, lower case, not multicast and not all zero.
fn unicast_mac(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split(':').collect();
    let bytes: Vec<u8> = parts.iter().filter(|p| p.len() == 2).filter_map(|p| u8::from_str_radix(p, 16).ok()).collect();
    (parts.len() == 6 && bytes.len() == 6 && bytes[0] & 1 == 0 && bytes.iter().any(|b| *b != 0))
        .then(|| text.to_ascii_lowercase())
}

/// An interface name (at most 15 bytes of letters, digits, `-_.`), or one
/// ending in the `*` wildcard.
fn interface_pattern(name: &str) -> bool {
    let stem = name.strip_suffix('*').unwrap_or(name);
    !stem.is_empty()
        && name.len() <= 15
        && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use ap_protocol::Security;

    #[test]
    fn guests_go_only_to_the_gateway_and_only_the_gateway_comes_to_them() {
        let script = render("02:AB:00:00:00:01", &["wlan0".into(), "wlan1-1".into()]).unwrap();
        let set = r#"{ "wlan0", "wlan1-1" }"#;
        for line in [
            format!("iifname {set} oifname {set} drop"),
            format!("iifname {set} jump from_guest"),
            format!("oifname {set} ether saddr != 02:ab:00:00:00:01 drop"),
            "ether daddr 02:ab:00:00:00:01 accept".to_string(),
            format!("iifname {set} ether type {{ ip, ip6, arp }} drop"),
        ] {
            assert!(script.lines().any(|l| l.trim() == line), "{line} in:\n{script}");
        }
        let from_guest = script.split("chain from_guest {").nth(1).unwrap().split("\n\t}").next().unwrap();
        assert_eq!(from_guest.trim().lines().last().map(str::trim), Some("drop"), "anything else is dropped");
        assert!(script.starts_with(&removal()), "one transaction replaces the table");
    }

    #[test]
    fn a_bad_gateway_mac_or_port_name_is_refused_before_nft_sees_it() {
        for mac in
            ["01:00:5e:00:00:01", "00:00:00:00:00:00", "02:00:00:00:00", "02:00:00:00:00:0g", "02:00:00:00:00:01\""]
        {
            assert!(matches!(render(mac, &["wlan0".into()]), Err(BridgeError::GatewayMac(_))), "{mac}");
        }
        for port in ["wlan0\" accept", "", "*", "a-very-long-interface-name"] {
            assert!(matches!(render("02:00:00:00:00:01", &[port.into()]), Err(BridgeError::Port(_))), "{port:?}");
        }
    }

    #[test]
    fn the_ports_are_the_isolated_guest_ssids_interfaces_owe_twins_included() {
        let mut config = crate::hostapd::tests::sample();
        config.ssids[0].security = Security::OpenOwe;
        // The staff SSID keeps no portal: its BSS is not a guest port.
        config.ssids[1].captive_portal = false;
        config.ssids[2].client_isolation = false;
        let ports = guest_ports(&config, false);
        assert_eq!(ports, ["wlan0", "wlan0-owe0", "wlan0-2", "wlan1", "wlan1-owe0"]);
        assert_eq!(guest_ports(&config, true), ["st*"]);
        for ssid in &mut config.ssids {
            ssid.client_isolation = false;
        }
        assert!(guest_ports(&config, false).is_empty() && guest_ports(&config, true).is_empty());
    }
}
