//! The `authorized` sets' elements with their counters and time left, read
//! straight from the kernel (an nf_tables set-element dump over netlink).
//! Going through libnftables instead builds its whole cache and a JSON tree
//! of every element: with 10,000 guests that doubled the daemon's peak
//! memory every idle sweep.

use crate::netlink::{attr, Attrs, Socket, NLM_F_DUMP, NLM_F_REQUEST};
use crate::ruleset::TABLE;
use crate::types::{Client, ClientCounters, MacAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFPROTO_INET: u8 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_SET_ELEM_EXPR: u16 = 7;
const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;
const NESTED: u16 = 0x8000;

/// Whether our table is in the kernel: one GETTABLE for it by name. (The
/// libnftables `list tables` reads the whole ruleset, every set element
/// included, which twice a second with 10,000 guests is real work.)
pub(crate) fn table_present() -> io::Result<bool> {
    const NFT_MSG_GETTABLE: u16 = 1;
    const NFTA_TABLE_NAME: u16 = 1;
    let mut sock = Socket::open(NETLINK_NETFILTER)?;
    let mut body = vec![NFPROTO_INET, 0, 0, 0];
    body.extend(attr(NFTA_TABLE_NAME, &nul_terminated(TABLE)));
    match sock.request((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, 0, &body) {
        Ok(()) => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Whether `client`'s element is in its `authorized` set: one GETSETELEM
/// for that key. (`nft get element` reads the whole set first: 2 s with
/// 100,000 guests.)
pub fn holds(client: Client) -> io::Result<bool> {
    let mut sock = Socket::open(NETLINK_NETFILTER)?;
    let mut body = set_request(crate::nft::set_of(client));
    let key = attr(NFTA_SET_ELEM_KEY | NESTED, &attr(NFTA_DATA_VALUE, &key_of(client)));
    body.extend(attr(NFTA_SET_ELEM_LIST_ELEMENTS | NESTED, &attr(NFTA_LIST_ELEM | NESTED, &key)));
    match sock.request((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, 0, &body) {
        Ok(()) => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(err) => Err(err),
    }
}

/// The set key of `client`: the MAC and the address, each padded to four bytes.
fn key_of(client: Client) -> Vec<u8> {
    let mut key = client.mac.0.to_vec();
    key.extend([0, 0]);
    match client.ip {
        IpAddr::V4(ip) => key.extend(ip.octets()),
        IpAddr::V6(ip) => key.extend(ip.octets()),
    }
    key
}

/// Every element of `set` (an `ether_addr . ipv4_addr` or `. ipv6_addr` set).
pub(crate) fn list(set: &str) -> io::Result<Vec<ClientCounters>> {
    dump(set, element)
}

/// Every element of an `ipv4_addr` set with its byte counter (`down4`).
pub(crate) fn bytes_by_address(set: &str) -> io::Result<Vec<(Ipv4Addr, u64)>> {
    dump(set, |attrs| {
        let (mut ip, mut bytes) = (None, 0);
        for (kind, payload, _) in Attrs(attrs) {
            match kind {
                NFTA_SET_ELEM_KEY => {
                    ip = Attrs(payload)
                        .find(|(k, _, _)| *k == NFTA_DATA_VALUE)
                        .and_then(|(_, key, _)| <[u8; 4]>::try_from(key).ok())
                        .map(Ipv4Addr::from);
                }
                NFTA_SET_ELEM_EXPR => bytes = counter_of(payload).map_or(bytes, |c| c.1),
                NFTA_SET_ELEM_EXPRESSIONS => {
                    if let Some(found) = Attrs(payload).filter_map(|(_, e, _)| counter_of(e)).next() {
                        bytes = found.1;
                    }
                }
                _ => {}
            }
        }
        Some((ip?, bytes))
    })
}

/// Every element of `set`, each read by `parse`.
fn dump<T>(set: &str, parse: impl Fn(&[u8]) -> Option<T>) -> io::Result<Vec<T>> {
    let mut sock = Socket::open(NETLINK_NETFILTER)?;
    let body = set_request(set);
    let seq = sock.send((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, NLM_F_REQUEST | NLM_F_DUMP, &body)?;
    let mut out = Vec::new();
    sock.replies(seq, |reply| {
        // After the nfgenmsg header: the list's attributes.
        let Some(attrs) = reply.get(4..) else { return };
        for (kind, elements, _) in Attrs(attrs) {
            if kind == NFTA_SET_ELEM_LIST_ELEMENTS {
                out.extend(Attrs(elements).filter(|(k, _, _)| *k == NFTA_LIST_ELEM).filter_map(|(_, e, _)| parse(e)));
            }
        }
    })?;
    Ok(out)
}

fn element(attrs: &[u8]) -> Option<ClientCounters> {
    let (mut client, mut expires_in, mut counter) = (None, None, (0, 0));
    for (kind, payload, _) in Attrs(attrs) {
        match kind {
            NFTA_SET_ELEM_KEY => {
                client = Attrs(payload).find(|(k, _, _)| *k == NFTA_DATA_VALUE).and_then(|(_, key, _)| concat_key(key));
            }
            NFTA_SET_ELEM_EXPIRATION => expires_in = be64(payload).map(Duration::from_millis),
            NFTA_SET_ELEM_EXPR => counter = counter_of(payload).unwrap_or(counter),
            NFTA_SET_ELEM_EXPRESSIONS => {
                if let Some(found) = Attrs(payload).filter_map(|(_, e, _)| counter_of(e)).next() {
                    counter = found;
                }
            }
            _ => {}
        }
    }
    let (packets, bytes) = counter;
    Some(ClientCounters { client: client?, packets, bytes, bytes_down: 0, expires_in })
}

/// The start of a request about our table's `set`: the header and the names.
fn set_request(set: &str) -> Vec<u8> {
    let mut body = vec![NFPROTO_INET, 0, 0, 0];
    body.extend(attr(NFTA_SET_ELEM_LIST_TABLE, &nul_terminated(TABLE)));
    body.extend(attr(NFTA_SET_ELEM_LIST_SET, &nul_terminated(set)));
    body
}

/// `ether_addr . ipv4_addr` (or ipv6): each part padded to four bytes.
fn concat_key(key: &[u8]) -> Option<Client> {
    let mac = MacAddr(key.get(..6)?.try_into().ok()?);
    let ip = match key.len() {
        12 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&key[8..12]).ok()?)),
        24 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&key[8..24]).ok()?)),
        _ => return None,
    };
    Some(Client { mac, ip })
}

/// (packets, bytes) of a `counter` expression.
fn counter_of(expr: &[u8]) -> Option<(u64, u64)> {
    let mut is_counter = false;
    let mut data = None;
    for (kind, payload, _) in Attrs(expr) {
        match kind {
            NFTA_EXPR_NAME => is_counter = payload.split(|b| *b == 0).next() == Some(b"counter"),
            NFTA_EXPR_DATA => data = Some(payload),
            _ => {}
        }
    }
    let data = data.filter(|_| is_counter)?;
    let (mut packets, mut bytes) = (0, 0);
    for (kind, payload, _) in Attrs(data) {
        match kind {
            NFTA_COUNTER_PACKETS => packets = be64(payload)?,
            NFTA_COUNTER_BYTES => bytes = be64(payload)?,
            _ => {}
        }
    }
    Some((packets, bytes))
}

fn be64(payload: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(payload.get(..8)?.try_into().ok()?))
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut out = s.as_bytes().to_vec();
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dumped_element_gives_its_client_counter_and_time_left() {
        let key = [2, 0, 0, 0, 0, 7, 0, 0, 192, 0, 2, 7];
        let counter =
            [attr(NFTA_COUNTER_BYTES, &180u64.to_be_bytes()), attr(NFTA_COUNTER_PACKETS, &3u64.to_be_bytes())].concat();
        let expr = [attr(NFTA_EXPR_NAME, b"counter\0"), attr(NFTA_EXPR_DATA | NESTED, &counter)].concat();
        let elem = [
            attr(NFTA_SET_ELEM_KEY | NESTED, &attr(NFTA_DATA_VALUE, &key)),
            attr(NFTA_SET_ELEM_EXPIRATION, &59_000u64.to_be_bytes()),
            attr(NFTA_SET_ELEM_EXPR | NESTED, &expr),
        ]
        .concat();
        let got = element(&elem).unwrap();
        assert_eq!(got.client.to_string(), "02:00:00:00:00:07 . 192.0.2.7");
        assert_eq!((got.packets, got.bytes), (3, 180));
        assert_eq!(got.expires_in, Some(Duration::from_secs(59)));
        assert!(element(&attr(NFTA_SET_ELEM_EXPIRATION, &1u64.to_be_bytes())).is_none(), "no key, no client");
    }

    #[test]
    fn a_key_reads_back_as_its_client() {
        for text in ["02:00:00:00:00:07 . 192.0.2.7", "02:00:00:00:00:07 . 2001:db8::7"] {
            let (mac, ip) = text.split_once(" . ").unwrap();
            let client = Client { mac: mac.parse().unwrap(), ip: ip.parse().unwrap() };
            assert_eq!(concat_key(&key_of(client)), Some(client));
        }
    }
}
