//! The kernel side: text and JSON commands for libnftables, and parsing what
//! `list set` prints.

use crate::blocks::NAT_BLOCKS4;
use crate::libnft::Nft;
use crate::ruleset::{Policy, AUTHORIZED4, AUTHORIZED6, BW_DOWN4, BW_UP4, DOWN4, GARDEN4, GARDEN6, LEASES4, TABLE};
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

/// The per-client limits in the kernel. Each distinct rate is a *tier*: a
/// chain `bw_u<kbps>` / `bw_d<kbps>` whose one rule keeps a token bucket per
/// address in a dynamic set (`update @bws_u<kbps> { ip saddr limit rate
/// over … } drop`). A guest's address is one element of the verdict maps
/// `bw_up4` / `bw_down4`, jumping to its tier. A packet costs a map lookup
/// and a set lookup whatever the number of guests; a login adds map
/// elements, never a rule (a tier's chain is made once, the first time its
/// rate is granted, and kept). IPv4 only.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shaper {
    /// Tiers made, by direction (`u`, `d`) and kbit/s.
    tiers: std::collections::BTreeSet<(char, u32)>,
    /// Each authorised IPv4 address's device and rate.
    by_ip: HashMap<Ipv4Addr, (crate::MacAddr, Rate)>,
}

/// Bytes a second of `kbps`, and the bucket's burst: a quarter second of
/// traffic (at least 16 KB), enough for TCP to keep its window open.
fn bucket(kbps: u32) -> (u64, u64) {
    let bytes = u64::from(kbps) * 125;
    (bytes.max(1), (bytes / 4).max(16 * 1024))
}

/// Elements to delete or add, by set or map, in a stable order.
type Elements = std::collections::BTreeMap<&'static str, Vec<String>>;

/// How long an idle address keeps its bucket in a tier's set.
const BUCKET_IDLE: &str = "1h";

impl Shaper {
    /// The commands that bring the kernel from this state to the final
    /// changes' per-address elements (rates; port blocks under `blocks`),
    /// and the state after them (kept only if they apply). The elements of
    /// an address are its holder's: revoking a device that no longer holds
    /// the address (another logged in on it since) leaves them alone.
    ///
    /// The commands go from the state before to the state after, not change
    /// by change: a set's or map's elements go in one command (a restore of
    /// 100,000 guests was 100,000 commands for libnftables to parse, seconds).
    pub(crate) fn commands(&self, changes: &[Change], blocks: Option<&crate::PortBlocks>) -> (String, Shaper) {
        let mut next = self.clone();
        let mut out = String::new();
        // Addresses whose final holder was authorised in this batch: their
        // download counter starts from zero.
        let mut renewed: std::collections::HashSet<Ipv4Addr> = std::collections::HashSet::new();
        let mut touched: Vec<Ipv4Addr> = Vec::new();
        for change in changes {
            let client = change.client();
            let IpAddr::V4(ip) = client.ip else { continue };
            let held = next.by_ip.get(&ip).copied();
            match change {
                Change::Authorize(_, _, rate) => {
                    for (way, field, kbps) in [('u', "saddr", rate.up_kbps), ('d', "daddr", rate.down_kbps)] {
                        if kbps > 0 && next.tiers.insert((way, kbps)) {
                            tier_commands(&mut out, way, field, kbps);
                        }
                    }
                    next.by_ip.insert(ip, (client.mac, *rate));
                    renewed.insert(ip);
                }
                Change::Revoke(_) if held.is_some_and(|(mac, _)| mac == client.mac) => {
                    next.by_ip.remove(&ip);
                    renewed.remove(&ip);
                }
                Change::Revoke(_) => continue,
            }
            touched.push(ip);
        }
        touched.sort_unstable();
        touched.dedup();
        let shaped = |r: Option<Rate>| r.filter(|r| !r.is_unlimited());
        let (mut gone, mut new): (Elements, Elements) = Default::default();
        for ip in touched {
            let (before, after) = (self.by_ip.get(&ip), next.by_ip.get(&ip));
            let (old, now) = (shaped(before.map(|(_, r)| *r)), shaped(after.map(|(_, r)| *r)));
            if old != now {
                if let Some(o) = old {
                    for (map, kbps) in [(BW_UP4, o.up_kbps), (BW_DOWN4, o.down_kbps)] {
                        if kbps > 0 {
                            gone.entry(map).or_default().push(ip.to_string());
                        }
                    }
                }
                if let Some(rate) = now {
                    for (way, map, kbps) in [('u', BW_UP4, rate.up_kbps), ('d', BW_DOWN4, rate.down_kbps)] {
                        if kbps > 0 {
                            new.entry(map).or_default().push(format!("{ip} : jump bw_{way}{kbps}"));
                        }
                    }
                }
            }
            // Its download counter: a new one with each authorisation (a new
            // session counts from zero), gone with the holder's logout.
            let fresh = renewed.contains(&ip);
            if before.is_some() && (fresh || after.is_none()) {
                gone.entry(DOWN4).or_default().push(ip.to_string());
            }
            if after.is_some() && (fresh || before.is_none()) {
                new.entry(DOWN4).or_default().push(ip.to_string());
            }
            // A login's port block goes in with its authorisation, a logout's out.
            if let Some(element) = blocks.and_then(|b| b.element(ip)) {
                match (before.is_some(), after.is_some()) {
                    (false, true) => new.entry(NAT_BLOCKS4).or_default().push(element),
                    (true, false) => gone.entry(NAT_BLOCKS4).or_default().push(ip.to_string()),
                    _ => {}
                }
            }
        }
        for (verb, lists) in [("delete", gone), ("add", new)] {
            for (set, elements) in lists {
                for chunk in elements.chunks(4096) {
                    let _ = writeln!(out, "{verb} element inet {TABLE} {set} {{ {} }}", chunk.join(", "));
                }
            }
        }
        (out, next)
    }

    /// How many addresses are shaped.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_ip.values().filter(|(_, r)| !r.is_unlimited()).count()
    }
}

/// A tier: its set of per-address buckets, its chain and the chain's rule.
fn tier_commands(out: &mut String, way: char, field: &str, kbps: u32) {
    let (bytes, burst) = bucket(kbps);
    let _ = writeln!(
        out,
        "add set inet {TABLE} bws_{way}{kbps} {{ type ipv4_addr; flags dynamic,timeout; timeout {BUCKET_IDLE}; }}"
    );
    let _ = writeln!(out, "add chain inet {TABLE} bw_{way}{kbps}");
    let _ = writeln!(
        out,
        "add rule inet {TABLE} bw_{way}{kbps} update @bws_{way}{kbps} {{ ip {field} limit rate over {bytes} bytes/second burst {burst} bytes }} drop"
    );
}

/// Installs the table from scratch with `clients` and `leases` already in
/// it, in one transaction (any earlier table of ours is replaced in the same one).
pub(crate) fn install(
    nft: &mut Nft,
    policy: &Policy,
    clients: &[(Client, Duration)],
    leases: &[(Client, Option<Duration>)],
) -> Result<(), FirewallError> {
    let exists = present()?;
    let text = policy.install_text(exists, clients, leases);
    nft.run(&text)?;
    // libnftables 1.0.6 cannot read the port blocks' map or its source NAT
    // from JSON (it crashes): they follow as text, at once; until then the
    // table's plain masquerade carries the guests.
    let blocks = policy.port_blocks_text(clients);
    if !blocks.is_empty() {
        nft.run(&blocks)?;
    }
    Ok(())
}

/// Puts more of a restore's `clients` into the table [`install`] made: their
/// elements in the `authorized` sets, and their port blocks.
pub(crate) fn restore_commands(policy: &Policy, clients: &[(Client, Duration)]) -> String {
    let mut out = String::new();
    for set in [AUTHORIZED4, AUTHORIZED6] {
        let elements: Vec<String> =
            clients.iter().filter(|(c, _)| set_of(*c) == set).map(|(c, t)| with_timeout(*c, *t)).collect();
        if !elements.is_empty() {
            let _ = writeln!(out, "add element inet {TABLE} {set} {{ {} }}", elements.join(", "));
        }
    }
    out.push_str(&policy.port_block_elements(clients));
    out
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

pub(crate) fn set_of(client: Client) -> &'static str {
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
/// Two names may share an address (a provider's login hosts often do): it is
/// kept once, with the longest time, since a second `delete` of the same
/// element fails and takes the whole transaction with it.
pub(crate) fn garden_commands(addresses: &[(IpAddr, Duration)]) -> String {
    let mut longest: std::collections::BTreeMap<IpAddr, Duration> = std::collections::BTreeMap::new();
    for (address, time) in addresses {
        let kept = longest.entry(*address).or_default();
        *kept = (*kept).max(*time);
    }
    let mut out = String::new();
    for set in [GARDEN4, GARDEN6] {
        let mine: Vec<_> = longest.iter().filter(|(a, _)| a.is_ipv4() == (set == GARDEN4)).collect();
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

/// The lease set's changes: `changed` pairs get their new time (None: no
/// end; add, delete, add as for a login), `gone` ones leave (add first, so
/// the delete of one that timed out by itself is no error). IPv4 only.
pub(crate) fn lease_commands(changed: &[(Client, Option<Duration>)], gone: &[Client]) -> String {
    let timed = |(c, t): &(Client, Option<Duration>)| match t {
        Some(t) => with_timeout(*c, *t),
        None => key(*c),
    };
    let changed: Vec<_> = changed.iter().filter(|(c, _)| c.ip.is_ipv4()).collect();
    let gone: Vec<_> = gone.iter().filter(|c| c.ip.is_ipv4()).collect();
    let mut out = String::new();
    if !changed.is_empty() {
        let grant = changed.iter().map(|e| timed(e)).collect::<Vec<_>>().join(", ");
        let keys = changed.iter().map(|(c, _)| key(*c)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "add element inet {TABLE} {LEASES4} {{ {grant} }}");
        let _ = writeln!(out, "delete element inet {TABLE} {LEASES4} {{ {keys} }}");
        let _ = writeln!(out, "add element inet {TABLE} {LEASES4} {{ {grant} }}");
    }
    if !gone.is_empty() {
        let short = gone.iter().map(|c| with_timeout(**c, Duration::from_secs(1))).collect::<Vec<_>>().join(", ");
        let keys = gone.iter().map(|c| key(**c)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "add element inet {TABLE} {LEASES4} {{ {short} }}");
        let _ = writeln!(out, "delete element inet {TABLE} {LEASES4} {{ {keys} }}");
    }
    out
}

/// Both `authorized` sets with their per-element counters, and each IPv4
/// address's download from `down4`, read over netlink (see `elements`):
/// libnftables' listing costs far more memory.
pub(crate) fn list() -> Result<Vec<ClientCounters>, FirewallError> {
    let mut out = Vec::new();
    for set in [AUTHORIZED4, AUTHORIZED6] {
        out.extend(crate::elements::list(set).map_err(FirewallError::Netlink)?);
    }
    let down: HashMap<Ipv4Addr, u64> =
        crate::elements::bytes_by_address(DOWN4).map_err(FirewallError::Netlink)?.into_iter().collect();
    for c in &mut out {
        if let IpAddr::V4(ip) = c.client.ip {
            c.bytes_down = down.get(&ip).copied().unwrap_or(0);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_two_garden_names_share_is_kept_once_with_the_longest_time() {
        let shared: IpAddr = "198.51.100.7".parse().unwrap();
        let cmds = garden_commands(&[
            (shared, Duration::from_secs(60)),
            ("198.51.100.8".parse().unwrap(), Duration::from_secs(30)),
            (shared, Duration::from_secs(300)),
        ]);
        let delete = cmds.lines().nth(1).unwrap();
        assert_eq!(delete.matches("198.51.100.7").count(), 1, "{cmds}");
        assert!(cmds.contains("198.51.100.7 timeout 300s") && !cmds.contains("198.51.100.7 timeout 60s"), "{cmds}");
    }

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
    fn a_rate_is_a_tier_made_once_and_a_map_element_a_way() {
        let c = |n: u8| Client {
            mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(),
            ip: format!("192.0.2.{n}").parse().unwrap(),
        };
        let rate = Rate { down_kbps: 8000, up_kbps: 2000 };
        let (cmds, state) = Shaper::default().commands(&[Change::Authorize(c(5), Duration::from_secs(60), rate)], None);
        assert!(cmds.contains("add rule inet guestwifi bw_d8000 update @bws_d8000 { ip daddr limit rate over 1000000 bytes/second burst 250000 bytes } drop"), "{cmds}");
        assert!(cmds.contains("add element inet guestwifi bw_up4 { 192.0.2.5 : jump bw_u2000 }"));
        assert!(cmds.ends_with("add element inet guestwifi down4 { 192.0.2.5 }\n"), "its download counter: {cmds}");
        // A second guest at the same rate: map elements and its counter only.
        let (cmds, state) = state.commands(&[Change::Authorize(c(6), Duration::from_secs(60), rate)], None);
        assert_eq!(cmds.lines().count(), 3, "{cmds}");
        assert!(cmds.lines().all(|l| l.starts_with("add element")));
        // A new grant at another rate: the old elements go, a new tier comes once.
        let only_down = Rate { down_kbps: 512, up_kbps: 0 };
        let (cmds, state) = state.commands(&[Change::Authorize(c(5), Duration::from_secs(60), only_down)], None);
        let at = |line: &str| cmds.find(line).unwrap_or_else(|| panic!("{line} in {cmds}"));
        assert!(at("add set inet guestwifi bws_d512") < at("delete element inet guestwifi bw_up4 { 192.0.2.5 }"));
        assert!(at("delete element inet guestwifi bw_down4 { 192.0.2.5 }") < at("add element inet guestwifi bw_down4"));
        assert!(cmds.contains("bw_d512") && !cmds.contains("bw_u0"), "{cmds}");
        assert!(at("delete element inet guestwifi down4 { 192.0.2.5 }") < at("add element inet guestwifi down4"));
        let (cmds, state) = state.commands(&[Change::Revoke(c(5))], None);
        assert_eq!(cmds.lines().count(), 2, "its rate element and its counter: {cmds}");
        assert_eq!(state.len(), 1);
        let (cmds, _) = state.commands(&[Change::Authorize(c(5), Duration::from_secs(60), Rate::UNLIMITED)], None);
        assert_eq!(cmds, "add element inet guestwifi down4 { 192.0.2.5 }\n", "no limit: its counter only");
    }

    #[test]
    fn revoking_a_device_that_no_longer_holds_its_address_leaves_the_new_holder_s_rate_and_port_block() {
        let blocks = crate::PortBlocks::new(Ipv4Addr::new(203, 0, 113, 1), (Ipv4Addr::new(192, 0, 2, 0), 24));
        let at = |mac: u8| Client {
            mac: format!("02:00:00:00:00:{mac:02x}").parse().unwrap(),
            ip: "192.0.2.10".parse().unwrap(),
        };
        let rate = Rate { down_kbps: 8000, up_kbps: 2000 };
        let login = |mac| Change::Authorize(at(mac), Duration::from_secs(60), rate);
        let (cmds, state) = Shaper::default().commands(&[login(1)], Some(&blocks));
        assert!(cmds.contains("add element inet guestwifi nat_blocks4 { 192.0.2.10 : 203.0.113.1 . 6496-6735 }"));
        // Another device takes the address (the session code revokes the old one after).
        let (cmds, state) = state.commands(&[login(2)], Some(&blocks));
        let fresh_counter =
            "delete element inet guestwifi down4 { 192.0.2.10 }\nadd element inet guestwifi down4 { 192.0.2.10 }\n";
        assert_eq!(cmds, fresh_counter, "same rate, same block; its own download counter from zero");
        let (cmds, state) = state.commands(&[Change::Revoke(at(1))], Some(&blocks));
        assert!(cmds.is_empty(), "the old holder's logout takes nothing of the new one's: {cmds}");
        assert_eq!(state.len(), 1);
        // In one batch, whichever order: the address stays the new holder's.
        let (cmds, state) = state.commands(&[Change::Revoke(at(2)), login(3)], Some(&blocks));
        assert_eq!(cmds, fresh_counter, "same rate, same block: a fresh counter only");
        let (cmds, _) = state.commands(&[login(4), Change::Revoke(at(3))], Some(&blocks));
        assert_eq!(cmds, fresh_counter);
        // Its own logout does take them.
        let (cmds, _) = state.commands(&[Change::Revoke(at(3))], Some(&blocks));
        assert!(
            cmds.contains("delete element inet guestwifi bw_up4 { 192.0.2.10 }")
                && cmds.contains("nat_blocks4 { 192.0.2.10 }")
        );
    }
}
