//! Finding the controller: a configured `host:port` (a DNS name works, as
//! for any address), or DHCP option 43 from the AP's lease, where sub-option
//! 1 carries the controller's IPv4 address(es), as thin-AP controllers do,
//! and sub-option 2 the SHA-256 of the controller's CA certificate, so an AP
//! fresh out of the box trusts only that controller.

use std::net::Ipv4Addr;
use std::path::Path;

/// The AC port when option 43 names only an address.
pub const DEFAULT_PORT: u16 = 7443;

/// The controller addresses in the newest lease of a dhclient lease file
/// (`option vendor-encapsulated-options 1:4:c6:33:64:1;`).
pub fn from_lease_file(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|text| from_lease_text(&text)).unwrap_or_default()
}

/// The controller CA's fingerprint (sub-option 2, 32 bytes) in the newest lease.
pub fn ca_fingerprint_from_lease_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    sub_options(&text)
        .into_iter()
        .find(|(kind, v)| *kind == 2 && v.len() == 32)
        .map(|(_, v)| ap_protocol::hex::encode(&v))
}

fn from_lease_text(text: &str) -> Vec<String> {
    sub_options(text)
        .into_iter()
        .filter(|(kind, _)| *kind == 1)
        .flat_map(|(_, value)| {
            value
                .chunks_exact(4)
                .map(|a| format!("{}:{DEFAULT_PORT}", Ipv4Addr::new(a[0], a[1], a[2], a[3])))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Option 43's type-length-value sub-options in the newest lease.
fn sub_options(text: &str) -> Vec<(u8, Vec<u8>)> {
    let Some(value) = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("option vendor-encapsulated-options "))
        .map(|v| v.trim_end_matches(';').trim())
    else {
        return Vec::new();
    };
    let bytes: Option<Vec<u8>> = value.split(':').map(|b| u8::from_str_radix(b, 16).ok()).collect();
    let Some(bytes) = bytes else { return Vec::new() };
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 2 {
        let (kind, len) = (rest[0], usize::from(rest[1]));
        let Some(value) = rest.get(2..2 + len) else { break };
        out.push((kind, value.to_vec()));
        rest = &rest[2 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_43_names_the_controller_and_the_newest_lease_wins() {
        let leases = "lease {\n  option vendor-encapsulated-options 1:4:c6:33:64:9;\n}\n\
                      lease {\n  option vendor-encapsulated-options 2:1:0:1:8:c6:33:64:1:c6:33:64:2;\n}\n";
        assert_eq!(from_lease_text(leases), vec!["198.51.100.1:7443", "198.51.100.2:7443"]);
        assert!(from_lease_text("lease {\n}\n").is_empty());
        assert!(from_lease_text("option vendor-encapsulated-options 1:9:zz;").is_empty());
    }

    #[test]
    fn option_43_can_carry_the_controllers_ca_fingerprint() {
        let fp: Vec<String> = (0..32).map(|b| format!("{b:x}")).collect();
        let lease =
            format!("lease {{\n  option vendor-encapsulated-options 1:4:c6:33:64:1:2:20:{};\n}}\n", fp.join(":"));
        let dir = std::env::temp_dir().join(format!("opt43-{}", std::process::id()));
        std::fs::write(&dir, lease).unwrap();
        let got = ca_fingerprint_from_lease_file(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(got, (0u8..32).map(|b| format!("{b:02x}")).collect::<String>());
    }
}
