//! Conntrack clean-up over ctnetlink, in-process: one dump of the table per
//! batch of changes, then a delete per matching entry. Spawning the
//! `conntrack` tool per login cost the whole machine milliseconds each.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V6_SRC: u16 = 3;

/// Deletes every conntrack entry `targets` started (after a logout, so an
/// allowed connection does not outlive the session); returns how many went.
pub(crate) fn clear(targets: &HashSet<IpAddr>) -> io::Result<usize> {
    if targets.is_empty() {
        return Ok(0);
    }
    let sock = Socket::open()?;
    let mut doomed = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        if !targets.iter().any(|ip| ip.is_ipv4() == (family == libc::AF_INET as u8)) {
            continue;
        }
        sock.send(&message(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, family, &[]))?;
        sock.read_dump(|attrs| {
            let Some(entry) = Entry::parse(attrs) else {
                return;
            };
            if entry.source.is_some_and(|ip| targets.contains(&ip)) {
                doomed.push((family, entry.delete_attrs));
            }
        })?;
    }
    for (family, attrs) in &doomed {
        // No ack asked: an entry that vanished meanwhile is no error.
        sock.send(&message(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST, *family, attrs))?;
    }
    Ok(doomed.len())
}

struct Entry {
    source: Option<IpAddr>,
    /// CTA_TUPLE_ORIG (and CTA_ZONE) exactly as dumped: what identifies it.
    delete_attrs: Vec<u8>,
}

impl Entry {
    fn parse(attrs: &[u8]) -> Option<Entry> {
        let mut entry = Entry { source: None, delete_attrs: Vec::new() };
        for (kind, payload, raw) in Attrs(attrs) {
            match kind {
                CTA_TUPLE_ORIG => {
                    entry.delete_attrs.extend_from_slice(raw);
                    for (k, p, _) in Attrs(payload) {
                        if k == CTA_TUPLE_IP {
                            for (k, p, _) in Attrs(p) {
                                entry.source = match (k, p.len()) {
                                    (CTA_IP_V4_SRC, 4) => Some(IpAddr::from(<[u8; 4]>::try_from(p).ok()?)),
                                    (CTA_IP_V6_SRC, 16) => Some(IpAddr::from(<[u8; 16]>::try_from(p).ok()?)),
                                    _ => entry.source,
                                };
                            }
                        }
                    }
                }
                CTA_ZONE => entry.delete_attrs.extend_from_slice(raw),
                _ => {}
            }
        }
        Some(entry)
    }
}

/// Netlink attributes: (type, payload, the whole padded attribute).
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([self.0[0], self.0[1]]));
        let kind = u16::from_ne_bytes([self.0[2], self.0[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > self.0.len() {
            return None;
        }
        let padded = (len + 3) & !3;
        let item = (kind, &self.0[4..len], &self.0[..len]);
        self.0 = &self.0[padded.min(self.0.len())..];
        Some(item)
    }
}

fn message(msg: u16, flags: u16, family: u8, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | msg).to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // seq
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    out.extend_from_slice(&[family, 0, 0, 0]); // nfgenmsg: family, version 0, res_id 0
    out.extend_from_slice(attrs);
    out
}

struct Socket(i32);

impl Socket {
    fn open() -> io::Result<Socket> {
        // SAFETY: plain socket(2); the fd is owned by the returned value.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_NETFILTER) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket(fd))
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: a zeroed sockaddr_nl with the family set addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: msg and addr outlive the call; lengths are theirs.
        let n = unsafe {
            libc::sendto(
                self.0,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads a dump's replies, calling `each` with every entry's attributes.
    fn read_dump(&self, mut each: impl FnMut(&[u8])) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                if len < 16 || len > rest.len() {
                    return Ok(());
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(rest[16..20].try_into().expect("4 bytes"));
                        return if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-code)) };
                    }
                    _ if len >= 20 => each(&rest[20..len]),
                    _ => {}
                }
                rest = &rest[((len + 3) & !3).min(rest.len())..];
            }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NLA_F_NESTED: u16 = 0x8000;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(payload);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn dumped_entry_gives_its_source_and_identity() {
        let ip = attr(CTA_TUPLE_IP | NLA_F_NESTED, &attr(CTA_IP_V4_SRC, &[192, 0, 2, 7]));
        let orig = attr(CTA_TUPLE_ORIG | NLA_F_NESTED, &ip);
        let mut attrs = orig.clone();
        attrs.extend(attr(3, &[0, 0, 0, 32])); // CTA_STATUS: not part of the identity
        let entry = Entry::parse(&attrs).unwrap();
        assert_eq!(entry.source, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(entry.delete_attrs, orig);
    }
}
