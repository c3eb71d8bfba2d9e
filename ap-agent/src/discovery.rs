//! Finding the controller: a configured `host:port` (a DNS name works, as
//! for any address), or DHCP option 43 from the AP's lease, where sub-option
//! 1 carries the controller's IPv4 address(es), as thin-AP controllers do.

use std::net::Ipv4Addr;
use std::path::Path;

/// The AC port when option 43 names only an address.
pub const DEFAULT_PORT: u16 = 7443;

/// The controller addresses in the newest lease of a dhclient lease file
/// (`option vendor-encapsulated-options 1:4:c6:33:64:1;`).
pub fn from_lease_file(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|text| from_lease_text(&text)).unwrap_or_default()
}

fn from_lease_text(text: &str) -> Vec<String> {
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
    // Type-length-value sub-options; 1 = IPv4 addresses of the controller.
    while rest.len() >= 2 {
        let (kind, len) = (rest[0], usize::from(rest[1]));
        let Some(value) = rest.get(2..2 + len) else { break };
        if kind == 1 {
            out.extend(
                value.chunks_exact(4).map(|a| format!("{}:{DEFAULT_PORT}", Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            );
        }
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
}
