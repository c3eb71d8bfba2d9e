//! Neighbour pins: while a guest's session lives, the kernel's neighbour
//! entry for its address is fixed to its MAC (NUD_PERMANENT), so another
//! device announcing the same address (a gratuitous ARP) can neither take
//! the guest's replies nor talk to the portal as that guest. A pin goes when
//! the session does. Permanent entries on the guest interface are ours: a
//! reset removes any that no live session explains.

use crate::netlink::{attr, Attrs, Socket, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST};
use crate::types::{Client, MacAddr};
use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

const NETLINK_ROUTE: i32 = 0;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTM_GETNEIGH: u16 = 30;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NUD_PERMANENT: u16 = 0x80;

/// The pins on one interface.
pub(crate) struct Pins {
    sock: Socket,
    ifindex: i32,
    pinned: HashMap<Ipv4Addr, MacAddr>,
}

impl Pins {
    pub(crate) fn open(interface: &str) -> io::Result<Pins> {
        let name = CString::new(interface).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a valid NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pins { sock: Socket::open(NETLINK_ROUTE)?, ifindex: ifindex as i32, pinned: HashMap::new() })
    }

    /// Pins exactly `clients`: permanent entries on the interface that no
    /// client explains (sessions that ended while the daemon was down) go.
    pub(crate) fn reset(&mut self, clients: &[Client]) -> io::Result<()> {
        let wanted: HashMap<Ipv4Addr, MacAddr> = clients.iter().filter_map(|c| Some((v4(c.ip)?, c.mac))).collect();
        let (mut stale, mut held) = (Vec::new(), HashMap::new());
        let seq = self.sock.send(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, &ndmsg(0, 0))?;
        let ifindex = self.ifindex;
        self.sock.replies(seq, |reply| {
            if let Some((ip, mac)) = parse_permanent(reply, ifindex) {
                if wanted.get(&ip) == Some(&mac) {
                    held.insert(ip, mac);
                } else {
                    stale.push(ip);
                }
            }
        })?;
        for ip in stale {
            self.delete(ip)?;
        }
        // Pins already right stay as they are: after `nft flush ruleset`
        // that is every one, and re-pinning 100,000 took 0.45 s of the
        // restore.
        self.pinned = held;
        for (ip, mac) in wanted {
            if !self.pinned.contains_key(&ip) {
                self.pin(Client { mac, ip: IpAddr::V4(ip) })?;
            }
        }
        Ok(())
    }

    /// Fixes the client's address to its MAC.
    pub(crate) fn pin(&mut self, client: Client) -> io::Result<()> {
        let Some(ip) = v4(client.ip) else { return Ok(()) };
        let mut body = ndmsg(self.ifindex, NUD_PERMANENT);
        body.extend(attr(NDA_DST, &ip.octets()));
        body.extend(attr(NDA_LLADDR, &client.mac.0));
        self.sock.request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &body)?;
        self.pinned.insert(ip, client.mac);
        Ok(())
    }

    /// Lets the address go, unless another device has been pinned to it since.
    pub(crate) fn unpin(&mut self, client: Client) -> io::Result<()> {
        let Some(ip) = v4(client.ip) else { return Ok(()) };
        if self.pinned.get(&ip) != Some(&client.mac) {
            return Ok(());
        }
        self.pinned.remove(&ip);
        self.delete(ip)
    }

    fn delete(&mut self, ip: Ipv4Addr) -> io::Result<()> {
        let mut body = ndmsg(self.ifindex, 0);
        body.extend(attr(NDA_DST, &ip.octets()));
        match self.sock.request(RTM_DELNEIGH, 0, &body) {
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }
}

/// Entry states whose link-layer address can be trusted (NUD_VALID): not
/// INCOMPLETE, FAILED or NONE.
const NUD_VALID: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | NUD_PERMANENT;

/// Asks the kernel's neighbour table of this namespace who is at an address
/// on one interface (RTM_GETNEIGH for that address): how the portal knows a
/// guest's MAC from the socket's peer address, never from a header.
pub struct NeighbourTable {
    sock: std::sync::Mutex<Socket>,
    ifindex: i32,
}

impl NeighbourTable {
    /// The table of `interface`.
    pub fn open(interface: &str) -> io::Result<Self> {
        let name = CString::new(interface).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a valid NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NeighbourTable { sock: std::sync::Mutex::new(Socket::open(NETLINK_ROUTE)?), ifindex: ifindex as i32 })
    }

    /// The MAC of a resolved entry for `ip` on the interface; None when the
    /// kernel has none (or only an unresolved one).
    pub fn lookup(&self, ip: Ipv4Addr) -> io::Result<Option<MacAddr>> {
        let mut body = ndmsg(self.ifindex, 0);
        body.extend(attr(NDA_DST, &ip.octets()));
        let mut sock = self.sock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = sock.send(RTM_GETNEIGH, NLM_F_REQUEST | crate::netlink::NLM_F_ACK, &body)?;
        let mut found = None;
        let ifindex = self.ifindex;
        match sock.replies(seq, |reply| found = found.or(parse_valid(reply, ifindex, ip))) {
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(err) => Err(err),
            Ok(()) => Ok(found),
        }
    }
}

/// A neighbour reply, if it is a resolved IPv4 entry for `ip` on `ifindex`.
fn parse_valid(reply: &[u8], ifindex: i32, ip: Ipv4Addr) -> Option<MacAddr> {
    parse_entry(reply, ifindex, NUD_VALID).filter(|(dst, mac)| *dst == ip && !mac.is_zero()).map(|(_, mac)| mac)
}

fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    }
}

/// struct ndmsg: family, padding, ifindex, state, flags, type.
fn ndmsg(ifindex: i32, state: u16) -> Vec<u8> {
    let mut out = vec![libc::AF_INET as u8, 0, 0, 0];
    out.extend_from_slice(&ifindex.to_ne_bytes());
    out.extend_from_slice(&state.to_ne_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A dumped neighbour, if it is a permanent IPv4 entry on `ifindex`.
fn parse_permanent(reply: &[u8], ifindex: i32) -> Option<(Ipv4Addr, MacAddr)> {
    parse_entry(reply, ifindex, NUD_PERMANENT)
}

/// A neighbour message's address and MAC, if it is IPv4, on `ifindex`, in
/// one of the `states`.
fn parse_entry(reply: &[u8], ifindex: i32, states: u16) -> Option<(Ipv4Addr, MacAddr)> {
    let header = reply.get(..12)?;
    let their_index = i32::from_ne_bytes(header[4..8].try_into().ok()?);
    let state = u16::from_ne_bytes(header[8..10].try_into().ok()?);
    if header[0] != libc::AF_INET as u8 || their_index != ifindex || state & states == 0 {
        return None;
    }
    let (mut ip, mut mac) = (None, None);
    for (kind, payload, _) in Attrs(&reply[12..]) {
        match kind {
            NDA_DST => ip = <[u8; 4]>::try_from(payload).ok().map(Ipv4Addr::from),
            NDA_LLADDR => mac = <[u8; 6]>::try_from(payload).ok().map(MacAddr),
            _ => {}
        }
    }
    Some((ip?, mac?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dumped_permanent_entry_on_our_interface_is_read_and_others_are_not() {
        let mut reply = ndmsg(7, NUD_PERMANENT);
        reply.extend(attr(NDA_DST, &[192, 0, 2, 9]));
        reply.extend(attr(NDA_LLADDR, &[2, 0, 0, 0, 0, 9]));
        let (ip, mac) = parse_permanent(&reply, 7).unwrap();
        assert_eq!((ip.to_string(), mac.to_string()), ("192.0.2.9".into(), "02:00:00:00:00:09".into()));
        assert_eq!(parse_permanent(&reply, 8), None, "another interface");
        let mut learnt = ndmsg(7, 0x02); // NUD_REACHABLE: learnt by ARP, not ours
        learnt.extend(attr(NDA_DST, &[192, 0, 2, 9]));
        learnt.extend(attr(NDA_LLADDR, &[2, 0, 0, 0, 0, 9]));
        assert_eq!(parse_permanent(&learnt, 7), None);
    }

    #[test]
    fn a_looked_up_entry_counts_only_when_resolved_and_ours() {
        let ip = Ipv4Addr::new(192, 0, 2, 9);
        let entry = |state: u16, index: i32| {
            let mut reply = ndmsg(index, state);
            reply.extend(attr(NDA_DST, &ip.octets()));
            reply.extend(attr(NDA_LLADDR, &[2, 0, 0, 0, 0, 9]));
            reply
        };
        assert_eq!(parse_valid(&entry(0x02, 7), 7, ip).map(|m| m.to_string()), Some("02:00:00:00:00:09".into()));
        assert!(parse_valid(&entry(0x04, 7), 7, ip).is_some(), "stale still names the device");
        assert_eq!(parse_valid(&entry(0x01, 7), 7, ip), None, "incomplete");
        assert_eq!(parse_valid(&entry(0x20, 7), 7, ip), None, "failed");
        assert_eq!(parse_valid(&entry(0x02, 8), 7, ip), None, "another interface");
        assert_eq!(parse_valid(&entry(0x02, 7), 7, Ipv4Addr::new(192, 0, 2, 10)), None, "another address");
    }
}
