//! Conntrack clean-up over ctnetlink, in-process: one dump of the table per
//! batch of changes, then a delete per matching entry. Spawning the
//! `conntrack` tool per login cost the whole machine milliseconds each.

use crate::netlink::{Attrs, Socket, NLM_F_DUMP, NLM_F_REQUEST};
use std::collections::HashSet;
use std::io;
use std::net::IpAddr;

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
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
    let mut sock = Socket::open(NETLINK_NETFILTER)?;
    let mut doomed = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        if !targets.iter().any(|ip| ip.is_ipv4() == (family == libc::AF_INET as u8)) {
            continue;
        }
        let seq = sock.send(kind(IPCTNL_MSG_CT_GET), NLM_F_REQUEST | NLM_F_DUMP, &body(family, &[]))?;
        sock.replies(seq, |reply| {
            // After the nfgenmsg header: the entry's attributes.
            let Some(entry) = reply.get(4..).and_then(Entry::parse) else {
                return;
            };
            if entry.source.is_some_and(|ip| targets.contains(&ip)) {
                doomed.push((family, entry.delete_attrs));
            }
        })?;
    }
    let mut deleted = 0;
    for (family, attrs) in &doomed {
        match sock.request(kind(IPCTNL_MSG_CT_DELETE), 0, &body(*family, attrs)) {
            Ok(()) => deleted += 1,
            // Gone meanwhile (it ended by itself): nothing to do.
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(deleted)
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

fn kind(msg: u16) -> u16 {
    (NFNL_SUBSYS_CTNETLINK << 8) | msg
}

/// nfgenmsg (family, version 0, resource id 0) and the attributes.
fn body(family: u8, attrs: &[u8]) -> Vec<u8> {
    let mut out = vec![family, 0, 0, 0];
    out.extend_from_slice(attrs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::netlink::attr;

    const NLA_F_NESTED: u16 = 0x8000;

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
