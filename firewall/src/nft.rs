//! The kernel side: text and JSON commands for libnftables, and parsing what
//! `list set` prints.

use crate::libnft::Nft;
use crate::ruleset::{Policy, AUTHORIZED4, AUTHORIZED6, BW_DOWN4, BW_UP4, GARDEN4, GARDEN6, TABLE};
use crate::types::{Client, ClientCounters, Rate};
use crate::FirewallError;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// One change to the `authorized` sets (and the client's rate).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change {
    Authorize(Client, Duration, Rate),
    Revoke(Client),
}

impl Change {
    fn client(&self) -> Client {
        match self {
            Change::Authorize(c, ..) | Change::Revoke(c) => *c,
        }
    }
}

/// Which limit objects a shaped address has: `bwu<id>` (from the guest)
/// and `bwd<id>` (to the guest), each present when that way is limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shaped {
    id: u64,
    up: bool,
    down: bool,
}

/// The per-client limits in the kernel: a named `limit` object a way and a
/// map from the address to it, so a packet costs one map lookup whatever
/// the number of guests, and no rule is ever added for a client. Each grant
/// gets objects of its own (a new id), so a new rate never has to change an
/// object a map element still points at. IPv4 only.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shaper {
    next: u64,
    by_ip: HashMap<Ipv4Addr, Shaped>,
}

/// Bytes a second of `kbps`, and the bucket's burst: a quarter second of
/// traffic (at least 16 KB), enough for TCP to keep its window open.
fn bucket(kbps: u32) -> (u64, u64) {
    let bytes = u64::from(kbps) * 125;
    (bytes.max(1), (bytes / 4).max(16 * 1024))
}

impl Shaper {
    /// The commands that bring the kernel from this state to the final
    /// changes' rates, and the state after them (kept only if they apply).
    pub(crate) fn commands(&self, changes: &[Change]) -> (String, Shaper) {
        let mut next = self.clone();
        let mut out = String::new();
        for change in changes {
            let IpAddr::V4(ip) = change.client().ip else { continue };
            if let Some(old) = next.by_ip.remove(&ip) {
                for (map, on) in [(BW_UP4, old.up), (BW_DOWN4, old.down)] {
                    if on {
                        let _ = writeln!(out, "delete element inet {TABLE} {map} {{ {ip} }}");
                    }
                }
                if old.up {
                    let _ = writeln!(out, "delete limit inet {TABLE} bwu{}", old.id);
                }
                if old.down {
                    let _ = writeln!(out, "delete limit inet {TABLE} bwd{}", old.id);
                }
            }
            let Change::Authorize(_, _, rate) = change else { continue };
            if rate.is_unlimited() {
                continue;
            }
            next.next += 1;
            let shaped = Shaped { id: next.next, up: rate.up_kbps > 0, down: rate.down_kbps > 0 };
            for (prefix, map, kbps) in [("bwu", BW_UP4, rate.up_kbps), ("bwd", BW_DOWN4, rate.down_kbps)] {
                if kbps == 0 {
                    continue;
                }
                let (bytes, burst) = bucket(kbps);
                let name = format!("{prefix}{}", shaped.id);
                let _ = writeln!(
                    out,
                    "add limit inet {TABLE} {name} {{ rate over {bytes} bytes/second burst {burst} bytes }}"
                );
                let _ = writeln!(out, "add element inet {TABLE} {map} {{ {ip} : \"{name}\" }}");
            }
            next.by_ip.insert(ip, shaped);
        }
        (out, next)
    }

    /// How many addresses are shaped.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_ip.len()
    }
}

/// Installs the table from scratch with `clients` already in it, in one
/// transaction (any earlier table of ours is replaced in the same one).
pub(crate) fn install(nft: &mut Nft, policy: &Policy, clients: &[(Client, Duration)]) -> Result<(), FirewallError> {
    let exists = present()?;
    let text = policy.install_text(exists, clients);
    nft.run(&text).map(drop)
}

/// Whether our table is in the kernel (see `elements::table_present`).
pub(crate) fn present() -> Result<bool, FirewallError> {
    crate::elements::table_present().map_err(FirewallError::Netlink)
}

/// Deletes the table; succeeds if it is already gone.
pub(crate) fn remove(nft: &mut Nft) -> Result<(), FirewallError> {
    if !present()? {
        return Ok(());
    }
    nft.run(&format!("delete table inet {TABLE}")).map(drop)
}

/// Every change in one transaction of at most five commands a set, however
/// many clients. Only each client's last change counts. An authorisation
/// replaces any earlier element (add, delete, add: the first add makes the
/// delete safe), so a re-login gets its new timeout; revoking an absent
/// client is no error.
pub(crate) fn changes_to_commands(changes: &[Change]) -> String {
    let finals = last_changes(changes);
    let mut out = String::new();
    for set in [AUTHORIZED4, AUTHORIZED6] {
        let (mut grant, mut grant_keys, mut stop, mut stop_keys) = (vec![], vec![], vec![], vec![]);
        for change in &finals {
            match *change {
                Change::Authorize(c, t, _) if set_of(c) == set => {
                    grant.push(with_timeout(c, t));
                    grant_keys.push(key(c));
                }
                Change::Revoke(c) if set_of(c) == set => {
                    stop.push(with_timeout(c, Duration::from_secs(1)));
                    stop_keys.push(key(c));
                }
                _ => {}
            }
        }
        if !grant.is_empty() {
            let (grant, keys) = (grant.join(", "), grant_keys.join(", "));
            let _ = writeln!(out, "add element inet {TABLE} {set} {{ {grant} }}");
            let _ = writeln!(out, "delete element inet {TABLE} {set} {{ {keys} }}");
            let _ = writeln!(out, "add element inet {TABLE} {set} {{ {grant} }}");
        }
        if !stop.is_empty() {
            let _ = writeln!(out, "add element inet {TABLE} {set} {{ {} }}", stop.join(", "));
            let _ = writeln!(out, "delete element inet {TABLE} {set} {{ {} }}", stop_keys.join(", "));
        }
    }
    out
}

/// Each client's last change, in a stable order.
pub(crate) fn last_changes(changes: &[Change]) -> Vec<Change> {
    let mut last: HashMap<Client, Change> = HashMap::new();
    for change in changes {
        last.insert(change.client(), *change);
    }
    let mut finals: Vec<Change> = last.into_values().collect();
    finals.sort_by_key(Change::client);
    finals
}

fn set_of(client: Client) -> &'static str {
    if client.ip.is_ipv4() {
        AUTHORIZED4
    } else {
        AUTHORIZED6
    }
}

fn key(client: Client) -> String {
    format!("{} . {}", client.mac, client.ip)
}

fn with_timeout(client: Client, timeout: Duration) -> String {
    format!("{} timeout {}ms", key(client), timeout.as_millis().max(1))
}

/// Adds walled-garden addresses, each with its time; one already there gets
/// the new time (add, delete, add: the first add makes the delete safe).
pub(crate) fn garden_commands(addresses: &[(IpAddr, Duration)]) -> String {
    let mut out = String::new();
    for set in [GARDEN4, GARDEN6] {
        let mine: Vec<_> = addresses.iter().filter(|(a, _)| a.is_ipv4() == (set == GARDEN4)).collect();
        if mine.is_empty() {
            continue;
        }
        let timed: Vec<String> = mine.iter().map(|(a, t)| format!("{a} timeout {}s", t.as_secs().max(1))).collect();
        let keys: Vec<String> = mine.iter().map(|(a, _)| a.to_string()).collect();
        let (timed, keys) = (timed.join(", "), keys.join(", "));
        let _ = writeln!(out, "add element inet {TABLE} {set} {{ {timed} }}");
        let _ = writeln!(out, "delete element inet {TABLE} {set} {{ {keys} }}");
        let _ = writeln!(out, "add element inet {TABLE} {set} {{ {timed} }}");
    }
    out
}

/// Both `authorized` sets with their per-element counters, read over
/// netlink (see `elements`): libnftables' listing costs far more memory.
pub(crate) fn list() -> Result<Vec<ClientCounters>, FirewallError> {
    let mut out = Vec::new();
    for set in [AUTHORIZED4, AUTHORIZED6] {
        out.extend(crate::elements::list(set).map_err(FirewallError::Netlink)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reauthorising_replaces_the_timeout_in_one_transaction() {
        let client = Client { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "192.0.2.5".parse().unwrap() };
        let cmds = changes_to_commands(&[Change::Authorize(client, Duration::from_secs(60), Rate::UNLIMITED)]);
        assert_eq!(cmds.lines().count(), 3);
        assert!(cmds.lines().last().unwrap().ends_with("timeout 60000ms }"));
    }

    #[test]
    fn a_batch_is_a_few_commands_and_the_last_change_of_a_client_wins() {
        let c = |n: u8| Client {
            mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(),
            ip: format!("192.0.2.{n}").parse().unwrap(),
        };
        let mut changes: Vec<Change> =
            (1..=200).map(|n| Change::Authorize(c(n), Duration::from_secs(60), Rate::UNLIMITED)).collect();
        changes.push(Change::Revoke(c(7)));
        let cmds = changes_to_commands(&changes);
        assert_eq!(cmds.lines().count(), 5);
        let grant = cmds.lines().next().unwrap();
        assert!(!grant.contains("02:00:00:00:00:07 ."), "revoked after its authorisation: {grant}");
        assert!(cmds.lines().nth(4).unwrap().contains("02:00:00:00:00:07 . 192.0.2.7"));
    }

    #[test]
    fn a_rate_is_a_limit_object_a_way_and_a_new_grant_gets_new_ones() {
        let client = Client { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "192.0.2.5".parse().unwrap() };
        let rate = Rate { down_kbps: 8000, up_kbps: 2000 };
        let (cmds, state) = Shaper::default().commands(&[Change::Authorize(client, Duration::from_secs(60), rate)]);
        assert!(cmds.contains("add limit inet guestwifi bwd1 { rate over 1000000 bytes/second burst 250000 bytes }"));
        assert!(cmds.contains("add limit inet guestwifi bwu1 { rate over 250000 bytes/second burst 62500 bytes }"));
        assert!(cmds.contains("add element inet guestwifi bw_up4 { 192.0.2.5 : \"bwu1\" }"));
        // A new grant: the old objects go after their map elements, new ones come.
        let only_down = Rate { down_kbps: 512, up_kbps: 0 };
        let (cmds, state) = state.commands(&[Change::Authorize(client, Duration::from_secs(60), only_down)]);
        let lines: Vec<&str> = cmds.lines().collect();
        assert_eq!(lines[0], "delete element inet guestwifi bw_up4 { 192.0.2.5 }");
        assert!(
            lines.contains(&"delete limit inet guestwifi bwu1") && lines.contains(&"delete limit inet guestwifi bwd1")
        );
        assert!(cmds.contains("bwd2") && !cmds.contains("bwu2"), "{cmds}");
        let (cmds, state) = state.commands(&[Change::Revoke(client)]);
        assert_eq!(cmds.lines().count(), 2, "{cmds}");
        assert_eq!(state.len(), 0);
        let (cmds, _) = state.commands(&[Change::Authorize(client, Duration::from_secs(60), Rate::UNLIMITED)]);
        assert!(cmds.is_empty(), "no limit, no object");
    }
}
