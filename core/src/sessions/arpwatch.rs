//! Watches ARP on the guest interface for a device claiming an address that
//! another device's live session holds (an IP clone, a poisoning attempt):
//! the kernel already ignores it (the session's neighbour entry is pinned),
//! this tells staff it happened.

use super::Sessions;
use firewall::MacAddr;
use std::collections::HashMap;
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const ETH_P_ARP: u16 = 0x0806;
/// One log line per address and claimant this often, however many packets.
const QUIET: Duration = Duration::from_secs(30);

/// Starts the watcher on `interface`; it runs for the life of the process.
pub fn spawn(interface: &str, sessions: Sessions) -> std::io::Result<()> {
    let fd = open(interface)?;
    std::thread::Builder::new().name("arpwatch".into()).spawn(move || watch(fd, sessions))?;
    Ok(())
}

fn open(interface: &str) -> std::io::Result<i32> {
    let name = CString::new(interface).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: plain socket(2); the fd lives as long as the watcher.
    let fd =
        unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, i32::from(ETH_P_ARP.to_be())) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: zeroed sockaddr_ll with family, protocol and interface set.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ARP.to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: addr outlives the call; the length is its own.
    let rc = unsafe {
        libc::bind(fd, (&addr as *const libc::sockaddr_ll).cast(), std::mem::size_of::<libc::sockaddr_ll>() as u32)
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
        return Err(err);
    }
    Ok(fd)
}

fn watch(fd: i32, sessions: Sessions) {
    let mut buf = [0u8; 128];
    let mut logged: HashMap<(Ipv4Addr, MacAddr), Instant> = HashMap::new();
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            tracing::warn!(err = %std::io::Error::last_os_error(), "ARP watcher stopped");
            return;
        }
        let Some((mac, ip)) = sender(&buf[..n as usize]) else { continue };
        let Some(holder) = sessions.holder(IpAddr::V4(ip)) else { continue };
        if holder == mac {
            continue;
        }
        let now = Instant::now();
        if logged.get(&(ip, mac)).is_some_and(|at| now.duration_since(*at) < QUIET) {
            continue;
        }
        logged.retain(|_, at| now.duration_since(*at) < QUIET);
        logged.insert((ip, mac), now);
        tracing::warn!(%ip, claimant = %mac, %holder, "address conflict: a device claims a logged-in guest's address");
    }
}

/// The sender of an Ethernet/IPv4 ARP packet: (MAC, address).
fn sender(arp: &[u8]) -> Option<(MacAddr, Ipv4Addr)> {
    if arp.len() < 28 || arp[0..2] != [0, 1] || arp[2..4] != [8, 0] || arp[4] != 6 || arp[5] != 4 {
        return None;
    }
    let mac = MacAddr(arp[8..14].try_into().ok()?);
    let ip = Ipv4Addr::from(<[u8; 4]>::try_from(&arp[14..18]).ok()?);
    Some((mac, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_of_an_arp_packet_is_read() {
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
        arp.extend([2, 0, 0, 0, 0, 2, 192, 0, 2, 101]);
        arp.extend([2, 0, 0, 0, 0, 1, 192, 0, 2, 1]);
        let (mac, ip) = sender(&arp).unwrap();
        assert_eq!((mac.to_string(), ip.to_string()), ("02:00:00:00:00:02".into(), "192.0.2.101".into()));
        assert_eq!(sender(&arp[..20]), None, "truncated");
    }
}
