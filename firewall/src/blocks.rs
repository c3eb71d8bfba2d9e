//! Per-guest source-port blocks (deterministic NAT in the spirit of RFC
//! 7422): a logged-in guest's connections leave by the uplink address from
//! a fixed range of source ports that is its own for its session, so "who
//! was 203.0.113.1:40123 at 14:02?" is answered by the session table alone,
//! with no per-connection log. The block of an address is fixed by its
//! place in the guest subnet; a login puts `address : public . block` into
//! the map `nat_blocks4` in the same transaction as its authorisation, a
//! logout takes it out. Traffic of an address without an element (the
//! walled garden before login) leaves from the ports below the first block.

use std::net::Ipv4Addr;

/// The map from a guest's address to its public address and port block.
pub(crate) const NAT_BLOCKS4: &str = "nat_blocks4";

/// The first port of the blocks: the ports below it are left to the
/// masquerade of guests without a block (walled garden, before login).
pub const FIRST_PORT: u16 = 4096;

/// How the guest subnet's addresses map to source-port blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBlocks {
    /// The uplink address guests' traffic leaves by.
    pub public: Ipv4Addr,
    /// The guest subnet.
    pub subnet: (Ipv4Addr, u8),
    /// Ports a block.
    pub size: u16,
}

impl PortBlocks {
    /// Blocks for every address of `subnet`, as large as the ports from
    /// [`FIRST_PORT`] allow (a /24: 240 ports each; a /22: 60).
    pub fn new(public: Ipv4Addr, subnet: (Ipv4Addr, u8)) -> PortBlocks {
        let addresses = 1u32 << (32 - u32::from(subnet.1.clamp(8, 30)));
        let ports = 65536 - u32::from(FIRST_PORT);
        PortBlocks { public, subnet, size: (ports / addresses).clamp(1, u32::from(u16::MAX)) as u16 }
    }

    /// The first and last port of `ip`'s block (None: not in the subnet).
    pub fn of(&self, ip: Ipv4Addr) -> Option<(u16, u16)> {
        let (base, len) = self.subnet;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
        if u32::from(ip) & mask != u32::from(base) & mask {
            return None;
        }
        let index = u32::from(ip) & !mask;
        let first = u32::from(FIRST_PORT) + index * u32::from(self.size);
        let last = first + u32::from(self.size) - 1;
        (last <= 65535).then_some((first as u16, last as u16))
    }

    /// The map element of `ip`, as nft's text syntax writes it.
    pub(crate) fn element(&self, ip: Ipv4Addr) -> Option<String> {
        self.of(ip).map(|(lo, hi)| format!("{ip} : {} . {lo}-{hi}", self.public))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_of_the_subnet_has_its_own_block_within_the_ports() {
        let b = PortBlocks::new(Ipv4Addr::new(203, 0, 113, 1), (Ipv4Addr::new(192, 0, 2, 0), 24));
        assert_eq!(b.size, 240);
        assert_eq!(b.of(Ipv4Addr::new(192, 0, 2, 0)), Some((4096, 4335)));
        assert_eq!(b.of(Ipv4Addr::new(192, 0, 2, 1)), Some((4336, 4575)));
        assert_eq!(b.of(Ipv4Addr::new(192, 0, 2, 255)), Some((65296, 65535)));
        assert_eq!(b.of(Ipv4Addr::new(192, 0, 3, 1)), None, "not a guest address");
        let wide = PortBlocks::new(Ipv4Addr::new(203, 0, 113, 1), (Ipv4Addr::new(10, 8, 0, 0), 20));
        assert_eq!(wide.size, 15);
        assert_eq!(wide.of(Ipv4Addr::new(10, 8, 15, 255)).unwrap().1, 65535);
        assert_eq!(b.element(Ipv4Addr::new(192, 0, 2, 10)).unwrap(), "192.0.2.10 : 203.0.113.1 . 6496-6735");
    }
}
