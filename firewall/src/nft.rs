//! The kernel side: text and JSON commands for libnftables, and parsing what
//! `list set` prints.

use crate::libnft::Nft;
use crate::ruleset::{Policy, AUTHORIZED4, AUTHORIZED6, GARDEN4, GARDEN6, TABLE};
use crate::types::{Client, ClientCounters};
use crate::FirewallError;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::time::Duration;

/// One change to the `authorized` sets.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change {
    Authorize(Client, Duration),
    Revoke(Client),
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
    let mut last: HashMap<Client, Change> = HashMap::new();
    for change in changes {
        let client = match change {
            Change::Authorize(c, _) | Change::Revoke(c) => *c,
        };
        last.insert(client, *change);
    }
    let mut finals: Vec<Change> = last.into_values().collect();
    finals.sort_by_key(|c| match c {
        Change::Authorize(c, _) | Change::Revoke(c) => *c,
    });
    let mut out = String::new();
    for set in [AUTHORIZED4, AUTHORIZED6] {
        let (mut grant, mut grant_keys, mut stop, mut stop_keys) = (vec![], vec![], vec![], vec![]);
        for change in &finals {
            match *change {
                Change::Authorize(c, t) if set_of(c) == set => {
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
        let cmds = changes_to_commands(&[Change::Authorize(client, Duration::from_secs(60))]);
        assert_eq!(cmds.lines().count(), 3);
        assert!(cmds.lines().last().unwrap().ends_with("timeout 60000ms }"));
    }

    #[test]
    fn a_batch_is_a_few_commands_and_the_last_change_of_a_client_wins() {
        let c = |n: u8| Client {
            mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(),
            ip: format!("192.0.2.{n}").parse().unwrap(),
        };
        let mut changes: Vec<Change> = (1..=200).map(|n| Change::Authorize(c(n), Duration::from_secs(60))).collect();
        changes.push(Change::Revoke(c(7)));
        let cmds = changes_to_commands(&changes);
        assert_eq!(cmds.lines().count(), 5);
        let grant = cmds.lines().next().unwrap();
        assert!(!grant.contains("02:00:00:00:00:07 ."), "revoked after its authorisation: {grant}");
        assert!(cmds.lines().nth(4).unwrap().contains("02:00:00:00:00:07 . 192.0.2.7"));
    }
}
