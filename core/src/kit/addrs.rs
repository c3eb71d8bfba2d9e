//! The addresses this machine has, for telling staff where a listener on
//! the unspecified address can actually be opened.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Every IPv4 and IPv6 address of this machine's interfaces that are up
/// (loopback last, link-local IPv6 left out: a browser cannot open it bare).
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return out;
    }
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs gave; its fields are valid until freeifaddrs.
        let entry = unsafe { &*cur };
        cur = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_flags & libc::IFF_UP as u32 == 0 {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr whose family says which struct it is.
        let family = unsafe { (*entry.ifa_addr).sa_family } as i32;
        let ip = match family {
            libc::AF_INET => {
                // SAFETY: AF_INET: a sockaddr_in.
                let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            libc::AF_INET6 => {
                // SAFETY: AF_INET6: a sockaddr_in6.
                let sin6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        let link_local = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if !link_local && !out.contains(&ip) {
            out.push(ip);
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    out.sort_by_key(|ip| ip.is_loopback());
    out
}

/// The first IPv4 address of the interface `name`, if it is up and has one.
pub fn interface_ipv4(name: &str) -> Option<Ipv4Addr> {
    if name.is_empty() {
        return None;
    }
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = list;
    while !cur.is_null() && found.is_none() {
        // SAFETY: `cur` is a node of the list getifaddrs gave; its fields are valid until freeifaddrs.
        let entry = unsafe { &*cur };
        cur = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) };
        // SAFETY: ifa_addr points at a sockaddr whose family says which struct it is.
        if ifname.to_bytes() != name.as_bytes() || unsafe { (*entry.ifa_addr).sa_family } as i32 != libc::AF_INET {
            continue;
        }
        // SAFETY: AF_INET: a sockaddr_in.
        let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
        found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// The URLs `scheme://ADDRESS:PORT/path` a listener on `listen` answers at:
/// each of this machine's addresses when it listens on all of them.
pub fn urls(scheme: &str, listen: SocketAddr, path: &str) -> Vec<String> {
    let url = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{}{path}", listen.port()),
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{}{path}", listen.port()),
    };
    if !listen.ip().is_unspecified() {
        return vec![url(listen.ip())];
    }
    local_addresses().into_iter().filter(|ip| ip.is_ipv4() || listen.is_ipv6()).map(url).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_every_address_is_told_by_each_address_and_never_as_0_0_0_0() {
        let all = urls("https", "0.0.0.0:8080".parse().unwrap(), "/console/");
        assert!(all.contains(&"https://127.0.0.1:8080/console/".to_string()), "{all:?}");
        assert!(all.iter().all(|u| !u.contains("0.0.0.0")));
        assert_eq!(urls("http", "192.0.2.1:80".parse().unwrap(), "/"), ["http://192.0.2.1:80/"]);
    }
}
