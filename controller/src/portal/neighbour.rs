//! Who a guest is: the socket's peer address and the MAC the kernel's
//! neighbour table holds for it on the guest interface. Never a header.

use firewall::{Client, MacAddr};
use std::net::IpAddr;

/// ATF_COM: the entry is resolved.
const ATF_COM: u32 = 0x2;

/// Reads the kernel's IPv4 neighbour table of this network namespace.
#[derive(Clone, Debug)]
pub struct Neighbours {
    interface: String,
    table: std::path::PathBuf,
}

impl Neighbours {
    /// Entries on `interface` only: a peer elsewhere is not a guest.
    pub fn new(interface: &str) -> Self {
        Neighbours { interface: interface.to_string(), table: "/proc/net/arp".into() }
    }

    /// The guest at `ip`, or None when the kernel has no resolved entry.
    pub fn client(&self, ip: IpAddr) -> Option<Client> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4)?,
            v4 => v4,
        };
        let text = std::fs::read_to_string(&self.table).ok()?;
        parse_arp(&text, ip, &self.interface).map(|mac| Client { mac, ip })
    }
}

fn parse_arp(text: &str, ip: IpAddr, interface: &str) -> Option<MacAddr> {
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [addr, _hw, flags, mac, _mask, device] = f.as_slice() else {
            return None;
        };
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
        let mac: MacAddr = mac.parse().ok()?;
        (addr.parse::<IpAddr>().ok()? == ip && *device == interface && flags & ATF_COM != 0 && !mac.is_zero())
            .then_some(mac)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "IP address       HW type     Flags       HW address            Mask     Device
192.0.2.100      0x1         0x2         02:00:00:00:00:64     *        br-guest
192.0.2.101      0x1         0x0         00:00:00:00:00:00     *        br-guest
203.0.113.10     0x1         0x2         02:00:00:00:00:0a     *        wan0
";

    #[test]
    fn resolved_entry_on_the_guest_interface_is_the_guest() {
        let mac = parse_arp(TABLE, "192.0.2.100".parse().unwrap(), "br-guest").unwrap();
        assert_eq!(mac.to_string(), "02:00:00:00:00:64");
    }

    #[test]
    fn incomplete_entries_and_other_interfaces_are_nobody() {
        assert_eq!(parse_arp(TABLE, "192.0.2.101".parse().unwrap(), "br-guest"), None);
        assert_eq!(parse_arp(TABLE, "203.0.113.10".parse().unwrap(), "br-guest"), None);
        assert_eq!(parse_arp(TABLE, "192.0.2.200".parse().unwrap(), "br-guest"), None);
    }
}
