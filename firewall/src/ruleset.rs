//! The whole `inet guestwifi` table, built from a [`Policy`] with the
//! `nftables` crate's typed model and applied as one transaction.

use crate::types::Client;
use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, CT};
use nftables::schema::{Chain, NfListObject, Rule, Set, SetFlag, SetType, SetTypeValue, Table};
use nftables::stmt::{JumpTarget, Match, NATFamily, Operator, Reject, RejectType, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The one table this crate owns; nothing else edits it.
pub const TABLE: &str = "guestwifi";
pub(crate) const AUTHORIZED4: &str = "authorized";
pub(crate) const AUTHORIZED6: &str = "authorized6";
pub(crate) const GARDEN4: &str = "garden4";
pub(crate) const GARDEN6: &str = "garden6";
pub(crate) const BW_UP4: &str = "bw_up4";
pub(crate) const BW_DOWN4: &str = "bw_down4";
pub(crate) const LEASES4: &str = "leases4";
/// Each logged-in guest's IPv4 address, counting what reaches it (its
/// download: with its element in `authorized`, what its data allowance counts).
pub(crate) const DOWN4: &str = "down4";
const PREROUTING: &str = "prerouting";
const POSTROUTING: &str = "postrouting";
const FORWARD: &str = "forward";
const INPUT: &str = "input";
const GUEST_OUT: &str = "guest_out";
const GUEST_IN: &str = "guest_in";
const LEASE_CHECK: &str = "lease_check";
/// Before the portal's redirect (dstnat, -100): a packet that is not a lease's is gone before anything sees it.
const PRIO_LEASE_CHECK: i32 = -150;
const PRIO_DSTNAT: i32 = -100;
const PRIO_FILTER: i32 = 0;
const PRIO_SRCNAT: i32 = 100;

/// What the gateway enforces on the guest network. The daemon builds one from
/// its config; `Display` gives one readable log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The interface guests arrive on (a bridge or VLAN interface).
    pub guest_interface: String,
    /// The guest subnet, masqueraded towards the uplink when `masquerade` is on.
    pub guest_subnet: (Ipv4Addr, u8),
    /// The appliance's address on the guest network, where the portal listens.
    pub portal_ip: Ipv4Addr,
    /// Port of the portal's plain-HTTP listener (guests' port 80 goes there).
    pub portal_http_port: u16,
    /// Port of the portal's HTTPS listener (RFC 8908 API).
    pub portal_https_port: u16,
    /// Source-NAT guest traffic leaving by the uplink.
    pub masquerade: bool,
    /// With `masquerade`: each logged-in guest leaves from its own block of
    /// source ports on this uplink address (see [`crate::PortBlocks`]).
    pub port_blocks: Option<crate::PortBlocks>,
    /// The one interface guests' traffic may leave by; `None` means any
    /// interface but the guest one (a warning at start: the appliance's other
    /// networks are then reachable unless they use private addresses).
    pub uplink_interface: Option<String>,
    /// Private destinations logged-in guests may still reach (a menu
    /// printer): address and prefix length.
    pub allowed_destinations: Vec<(IpAddr, u8)>,
    /// Drop guest IPv4 whose (MAC, address) pair is not in the lease set
    /// (kept from our DHCP server's leases); off only when another server
    /// hands out the addresses and we cannot know its leases.
    pub lease_check: bool,
    /// Where logged-in guests' DNS to the portal address goes while no
    /// socket is bound there (the controller, their resolver, is down or
    /// restarting): an upstream resolver, reached as if they had asked it.
    pub dns_fallback: Option<Ipv4Addr>,
}

/// Destinations no guest reaches, logged in or not: private (RFC 1918, ULA),
/// CGNAT, loopback, link-local, multicast and reserved space, where the
/// restaurant's LAN, POS, AP management and member database live.
const PRIVATE4: &[(&str, u32)] = &[
    ("0.0.0.0", 8),
    ("10.0.0.0", 8),
    ("100.64.0.0", 10),
    ("127.0.0.0", 8),
    ("169.254.0.0", 16),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("224.0.0.0", 4),
    ("240.0.0.0", 4),
];
const PRIVATE6: &[(&str, u32)] =
    &[("::", 127), ("::ffff:0:0", 96), ("64:ff9b:1::", 48), ("fc00::", 7), ("fe80::", 10), ("ff00::", 8)];

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guests on {} ({}/{}) -> portal {}:{} (https {}), out by {}, masquerade {}{}, {} private exceptions, lease check {}",
            self.guest_interface,
            self.guest_subnet.0,
            self.guest_subnet.1,
            self.portal_ip,
            self.portal_http_port,
            self.portal_https_port,
            self.uplink_interface.as_deref().unwrap_or("any other interface"),
            if self.masquerade { "on" } else { "off" },
            match (&self.port_blocks, self.masquerade) {
                (Some(b), true) => format!(" (port blocks of {} on {})", b.size, b.public),
                _ => String::new(),
            },
            self.allowed_destinations.len(),
            if self.lease_check { "on" } else { "off" },
        )
    }
}

impl Policy {
    /// The commands that create the table from nothing (after deleting any
    /// leftover of ours) with `clients` already authorised, as libnftables
    /// JSON text: one transaction, so there is no moment with the rules but
    /// without the guests. The clients are written straight into the text
    /// (no JSON tree of 10,000 elements next to libnftables' own), and so
    /// are the DHCP leases, each with its time left (None: no end).
    pub fn install_text(
        &self,
        table_exists: bool,
        clients: &[(Client, Duration)],
        leases: &[(Client, Option<Duration>)],
    ) -> String {
        let mut text = self.to_json(table_exists).to_string();
        let elements = client_commands(clients, leases);
        if !elements.is_empty() {
            // `{"nftables": [ ... ]}`: the elements go before the closing `]}`.
            let end = text.rfind(']').expect("a list of commands");
            text.insert_str(end, &elements);
        }
        text
    }

    /// The table, its sets, chains and rules, as libnftables JSON.
    pub fn to_json(&self, table_exists: bool) -> serde_json::Value {
        let mut batch = Batch::new();
        if table_exists {
            batch.delete(NfListObject::Table(table()));
        }
        batch.add(NfListObject::Table(table()));
        for (name, ty) in [
            (AUTHORIZED4, SetTypeValue::Concatenated(Cow::Owned(vec![SetType::EtherAddr, SetType::Ipv4Addr]))),
            (AUTHORIZED6, SetTypeValue::Concatenated(Cow::Owned(vec![SetType::EtherAddr, SetType::Ipv6Addr]))),
            (GARDEN4, SetTypeValue::Single(SetType::Ipv4Addr)),
            (GARDEN6, SetTypeValue::Single(SetType::Ipv6Addr)),
            (LEASES4, SetTypeValue::Concatenated(Cow::Owned(vec![SetType::EtherAddr, SetType::Ipv4Addr]))),
            (DOWN4, SetTypeValue::Single(SetType::Ipv4Addr)),
        ] {
            batch.add(NfListObject::Set(Box::new(Set {
                family: NfFamily::INet,
                table: TABLE.into(),
                name: name.into(),
                set_type: ty,
                flags: Some(HashSet::from([SetFlag::Timeout])),
                ..Default::default()
            })));
        }
        for (name, ty, hook, prio) in [
            (LEASE_CHECK, NfChainType::Filter, NfHook::Prerouting, PRIO_LEASE_CHECK),
            (PREROUTING, NfChainType::NAT, NfHook::Prerouting, PRIO_DSTNAT),
            (POSTROUTING, NfChainType::NAT, NfHook::Postrouting, PRIO_SRCNAT),
            (FORWARD, NfChainType::Filter, NfHook::Forward, PRIO_FILTER),
            (INPUT, NfChainType::Filter, NfHook::Input, PRIO_FILTER),
        ] {
            batch.add(NfListObject::Chain(Chain {
                family: NfFamily::INet,
                table: TABLE.into(),
                name: name.into(),
                _type: Some(ty),
                hook: Some(hook),
                prio: Some(prio),
                policy: Some(NfChainPolicy::Accept),
                ..Default::default()
            }));
        }
        for name in [GUEST_OUT, GUEST_IN] {
            batch.add(NfListObject::Chain(Chain {
                family: NfFamily::INet,
                table: TABLE.into(),
                name: name.into(),
                ..Default::default()
            }));
        }
        for (chain, stmts) in self.rules() {
            batch.add(NfListObject::Rule(Rule {
                family: NfFamily::INet,
                table: TABLE.into(),
                chain: chain.into(),
                expr: Cow::Owned(stmts),
                ..Default::default()
            }));
        }
        let mut json = serde_json::to_value(batch.to_nftables()).expect("ruleset serialises");
        add_per_element_counters(&mut json);
        add_shaping(&mut json, &self.guest_interface);
        if let Some(fallback) = self.dns_fallback {
            add_dns_fallback(&mut json, &self.guest_interface, self.portal_ip, fallback);
        }
        json
    }

    fn rules(&self) -> Vec<(&'static str, Vec<Statement<'static>>)> {
        let guest_in = || eq(meta(MetaKey::Iifname), s(self.guest_interface.clone()));
        let guest_out_if = || eq(meta(MetaKey::Oifname), s(self.guest_interface.clone()));
        let authorized4 =
            || eq(concat(vec![payload("ether", "saddr"), payload("ip", "saddr")]), s(format!("@{AUTHORIZED4}")));
        let authorized6 =
            || eq(concat(vec![payload("ether", "saddr"), payload("ip6", "saddr")]), s(format!("@{AUTHORIZED6}")));
        let garden4 = || eq(payload("ip", "daddr"), s(format!("@{GARDEN4}")));
        let garden6 = || eq(payload("ip6", "daddr"), s(format!("@{GARDEN6}")));
        let reject_icmp =
            || Statement::Reject(Some(Reject::new(Some(RejectType::ICMPX), Some(RejectCode::AdminProhibited))));
        let subnet = Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(s(self.guest_subnet.0.to_string())),
            len: u32::from(self.guest_subnet.1),
        }));
        let established = || {
            Statement::Match(Match {
                left: Expression::Named(NamedExpression::CT(CT { key: "state".into(), family: None, dir: None })),
                right: Expression::List(vec![s("established"), s("related")]),
                op: Operator::IN,
            })
        };
        let ports = |ports: Vec<u16>| {
            Expression::Named(NamedExpression::Set(
                ports.into_iter().map(|p| nftables::expr::SetItem::Element(Expression::Number(u32::from(p)))).collect(),
            ))
        };

        let prefixes = |list: &[(&'static str, u32)]| {
            Expression::Named(NamedExpression::Set(
                list.iter()
                    .map(|(addr, len)| nftables::expr::SetItem::Element(prefix(addr.to_string(), *len)))
                    .collect(),
            ))
        };
        let allowed = |v4: bool| {
            let items: Vec<_> = self
                .allowed_destinations
                .iter()
                .filter(|(a, _)| a.is_ipv4() == v4)
                .map(|(a, len)| nftables::expr::SetItem::Element(prefix(a.to_string(), u32::from(*len))))
                .collect();
            (!items.is_empty()).then(|| Expression::Named(NamedExpression::Set(items)))
        };

        let mut rules = vec![
            // Authorised clients and the walled garden keep their destination.
            (PREROUTING, vec![guest_in(), authorized4(), Statement::Return(None)]),
            (PREROUTING, vec![guest_in(), authorized6(), Statement::Return(None)]),
            (PREROUTING, vec![guest_in(), garden4(), Statement::Return(None)]),
            // Everyone else's plain HTTP goes to the portal.
            (
                PREROUTING,
                vec![
                    guest_in(),
                    neq(payload("ip", "daddr"), s(self.portal_ip.to_string())),
                    eq(payload("tcp", "dport"), Expression::Number(80)),
                    Statement::DNAT(Some(NAT {
                        addr: Some(s(self.portal_ip.to_string())),
                        family: Some(NATFamily::IP),
                        port: Some(Expression::Number(u32::from(self.portal_http_port))),
                        flags: None,
                    })),
                ],
            ),
            (FORWARD, vec![guest_in(), jump(GUEST_OUT)]),
            // What reaches a logged-in guest is counted on its address's
            // element by the rule that lets it through (one rule a packet, as
            // before); the walled garden's replies take the next.
            (
                FORWARD,
                vec![
                    guest_out_if(),
                    eq(payload("ip", "daddr"), s(format!("@{DOWN4}"))),
                    established(),
                    Statement::Accept(None),
                ],
            ),
            (FORWARD, vec![guest_out_if(), established(), Statement::Accept(None)]),
            (FORWARD, vec![guest_out_if(), Statement::Drop(None)]),
        ];
        // A device is its MAC and its DHCP lease: IPv4 from any other pair
        // (an alias, a copied address, a static IP) is dropped before the
        // portal, the resolver or forwarding see it. DHCP itself always
        // passes (that is how a lease is had).
        if self.lease_check {
            rules.insert(
                0,
                (
                    LEASE_CHECK,
                    vec![guest_in(), eq(payload("udp", "dport"), Expression::Number(67)), Statement::Accept(None)],
                ),
            );
            rules.insert(
                1,
                (
                    LEASE_CHECK,
                    vec![
                        guest_in(),
                        neq(concat(vec![payload("ether", "saddr"), payload("ip", "saddr")]), s(format!("@{LEASES4}"))),
                        Statement::Counter(nftables::stmt::Counter::Anonymous(None)),
                        Statement::Drop(None),
                    ],
                ),
            );
        }
        // The allow-list first (logged-in guests only), then no private
        // destination and no interface but the uplink, logged in or not.
        if let Some(set) = allowed(true) {
            rules.push((GUEST_OUT, vec![eq(payload("ip", "daddr"), set), authorized4(), Statement::Accept(None)]));
        }
        if let Some(set) = allowed(false) {
            rules.push((GUEST_OUT, vec![eq(payload("ip6", "daddr"), set), authorized6(), Statement::Accept(None)]));
        }
        rules.push((GUEST_OUT, vec![eq(payload("ip", "daddr"), prefixes(PRIVATE4)), reject_icmp()]));
        rules.push((GUEST_OUT, vec![eq(payload("ip6", "daddr"), prefixes(PRIVATE6)), reject_icmp()]));
        match &self.uplink_interface {
            Some(uplink) => {
                rules.push((GUEST_OUT, vec![neq(meta(MetaKey::Oifname), s(uplink.clone())), reject_icmp()]))
            }
            None => rules.push((GUEST_OUT, vec![guest_out_if(), reject_icmp()])),
        }
        rules.extend([
            (GUEST_OUT, vec![authorized4(), Statement::Accept(None)]),
            (GUEST_OUT, vec![authorized6(), Statement::Accept(None)]),
            (GUEST_OUT, vec![garden4(), Statement::Accept(None)]),
            (GUEST_OUT, vec![garden6(), Statement::Accept(None)]),
            (
                GUEST_OUT,
                vec![
                    eq(payload("tcp", "dport"), Expression::Number(443)),
                    Statement::Reject(Some(Reject::new(Some(RejectType::TCPReset), None))),
                ],
            ),
            (GUEST_OUT, vec![reject_icmp()]),
            (INPUT, vec![guest_in(), jump(GUEST_IN)]),
            (GUEST_IN, vec![established(), Statement::Accept(None)]),
            // The appliance's other addresses (LAN, AP management) are not the guests' business.
            (
                GUEST_IN,
                vec![
                    neq(
                        payload("ip", "daddr"),
                        Expression::Named(NamedExpression::Set(vec![
                            nftables::expr::SetItem::Element(s(self.portal_ip.to_string())),
                            nftables::expr::SetItem::Element(s("255.255.255.255")),
                        ])),
                    ),
                    reject_icmp(),
                ],
            ),
            (GUEST_IN, vec![eq(payload("udp", "dport"), ports(vec![53, 67, 547])), Statement::Accept(None)]),
            (
                GUEST_IN,
                vec![
                    eq(payload("tcp", "dport"), ports(vec![53, self.portal_http_port, self.portal_https_port])),
                    Statement::Accept(None),
                ],
            ),
            (GUEST_IN, vec![eq(meta(MetaKey::L4proto), s("icmp")), Statement::Accept(None)]),
            (GUEST_IN, vec![eq(meta(MetaKey::L4proto), s("ipv6-icmp")), Statement::Accept(None)]),
            (GUEST_IN, vec![reject_icmp()]),
        ]);
        if self.masquerade {
            let out = match &self.uplink_interface {
                Some(uplink) => eq(meta(MetaKey::Oifname), s(uplink.clone())),
                None => neq(meta(MetaKey::Oifname), s(self.guest_interface.clone())),
            };
            rules.push((POSTROUTING, vec![eq(payload("ip", "saddr"), subnet), out, Statement::Masquerade(None)]));
        }
        rules
    }
}

impl Policy {
    /// The port blocks' map and rules, ahead of the plain masquerade (text:
    /// libnftables 1.0.6 reads neither a map of concatenated ranges nor a
    /// source NAT through one from JSON): a guest with a block leaves from it; a TCP or UDP flow of an address without one
    /// (the walled garden before login) from the ports below the first
    /// block; and `clients`' blocks. Text, for libnftables' text parser.
    pub(crate) fn port_blocks_text(&self, clients: &[(Client, Duration)]) -> String {
        if self.port_blocks.is_none() || !self.masquerade {
            return String::new();
        }
        let (net, len) = self.guest_subnet;
        let out = match &self.uplink_interface {
            Some(uplink) => format!("oifname \"{uplink}\""),
            None => format!("oifname != \"{}\"", self.guest_interface),
        };
        let head = format!("ip saddr {net}/{len} {out} meta l4proto {{ tcp, udp }}");
        let last = crate::blocks::FIRST_PORT - 1;
        let mut text = String::new();
        let _ = writeln!(
            text,
            // No `flags interval` on the key (one address each): with it,
            // libnftables reads the whole map back on every change (46 ms a
            // login at 10,000 guests); without, a login's element costs what
            // the set's does.
            "add map inet {TABLE} {} {{ type ipv4_addr : interval ipv4_addr . inet_service; }}",
            crate::blocks::NAT_BLOCKS4
        );
        // `insert` puts a rule first: the fallback, then the map's rule before it.
        let _ = writeln!(text, "insert rule inet {TABLE} {POSTROUTING} {head} masquerade to :1024-{last}");
        let _ = writeln!(
            text,
            "insert rule inet {TABLE} {POSTROUTING} {head} snat ip to ip saddr map @{}",
            crate::blocks::NAT_BLOCKS4
        );
        text.push_str(&self.port_block_elements(clients));
        text
    }

    /// The port blocks of `clients`, into the map [`Policy::port_blocks_text`] made.
    pub(crate) fn port_block_elements(&self, clients: &[(Client, Duration)]) -> String {
        let mut text = String::new();
        let Some(blocks) = self.port_blocks.filter(|_| self.masquerade) else {
            return text;
        };
        let elements: Vec<String> = clients
            .iter()
            .filter_map(|(c, _)| match c.ip {
                IpAddr::V4(ip) => blocks.element(ip),
                IpAddr::V6(_) => None,
            })
            .collect();
        for chunk in elements.chunks(1024) {
            let _ =
                writeln!(text, "add element inet {TABLE} {} {{ {} }}", crate::blocks::NAT_BLOCKS4, chunk.join(", "));
        }
        text
    }
}

/// The typed model has no per-set statements; libnftables takes
/// `"stmt": [{"counter": null}]` on a set to keep a counter per element.
fn add_per_element_counters(json: &mut serde_json::Value) {
    let Some(cmds) = json.get_mut("nftables").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for cmd in cmds {
        if let Some(set) = cmd.pointer_mut("/add/set") {
            let name = set.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            if name == AUTHORIZED4 || name == AUTHORIZED6 || name == DOWN4 {
                set["stmt"] = serde_json::json!([{ "counter": null }]);
            }
        }
    }
}

/// The per-client limits: two verdict maps from a guest's address to its
/// rate's chain (one a way; see `nft::Shaper`) and, first in the forward
/// chain, the two rules that look them up. Written as libnftables JSON.
fn add_shaping(json: &mut serde_json::Value, guest_interface: &str) {
    let Some(cmds) = json.get_mut("nftables").and_then(|v| v.as_array_mut()) else {
        return;
    };
    let after_table = cmds.iter().position(|c| c.pointer("/add/table").is_some()).map_or(0, |i| i + 1);
    for name in [BW_DOWN4, BW_UP4] {
        let map = serde_json::json!({"add": {"map": {
            "family": "inet", "table": TABLE, "name": name, "type": "ipv4_addr", "map": "verdict"
        }}});
        cmds.insert(after_table, map);
    }
    let first_forward = cmds
        .iter()
        .position(|c| c.pointer("/add/rule/chain").and_then(|v| v.as_str()) == Some(FORWARD))
        .unwrap_or(cmds.len());
    for (iface_key, addr, map) in [("oifname", "daddr", BW_DOWN4), ("iifname", "saddr", BW_UP4)] {
        let rule = serde_json::json!({"add": {"rule": {
            "family": "inet", "table": TABLE, "chain": FORWARD,
            "expr": [
                {"match": {"op": "==", "left": {"meta": {"key": iface_key}}, "right": guest_interface}},
                {"vmap": {"key": {"payload": {"protocol": "ip", "field": addr}}, "data": format!("@{map}")}}
            ]
        }}});
        cmds.insert(first_forward, rule);
    }
}

/// Logged-in guests keep resolving while the controller is down: their DNS
/// to the portal address, when the kernel finds no socket bound there, is
/// sent to `fallback` (first in the prerouting chain, before the rule that
/// lets authorised clients keep their destination), and the forward chain
/// lets exactly those translated flows through even to a private resolver
/// (the restaurant's router, often). The typed model has no socket
/// expression; written as libnftables JSON.
fn add_dns_fallback(json: &mut serde_json::Value, guest_interface: &str, portal: Ipv4Addr, fallback: Ipv4Addr) {
    let Some(cmds) = json.get_mut("nftables").and_then(|v| v.as_array_mut()) else {
        return;
    };
    let first_in = |cmds: &Vec<serde_json::Value>, chain: &str| {
        cmds.iter()
            .position(|c| c.pointer("/add/rule/chain").and_then(|v| v.as_str()) == Some(chain))
            .unwrap_or(cmds.len())
    };
    let m = |left: serde_json::Value, right: serde_json::Value| serde_json::json!({"match": {"op": "==", "left": left, "right": right}});
    let guest = m(serde_json::json!({"meta": {"key": "iifname"}}), serde_json::json!(guest_interface));
    let logged_in = m(
        serde_json::json!({"concat": [{"payload": {"protocol": "ether", "field": "saddr"}}, {"payload": {"protocol": "ip", "field": "saddr"}}]}),
        serde_json::json!(format!("@{AUTHORIZED4}")),
    );
    let dns =
        |proto: &str| m(serde_json::json!({"payload": {"protocol": proto, "field": "dport"}}), serde_json::json!(53));
    let rule = |chain: &str, expr: Vec<serde_json::Value>| serde_json::json!({"add": {"rule": {"family": "inet", "table": TABLE, "chain": chain, "expr": expr}}});
    let to_portal =
        m(serde_json::json!({"payload": {"protocol": "ip", "field": "daddr"}}), serde_json::json!(portal.to_string()));
    let at = first_in(cmds, PREROUTING);
    let mut rules = Vec::new();
    for proto in ["udp", "tcp"] {
        // A socket is there (the controller runs): the packet stays ours.
        let bound = m(serde_json::json!({"socket": {"key": "transparent"}}), serde_json::json!(0));
        rules.push(rule(
            PREROUTING,
            vec![guest.clone(), to_portal.clone(), dns(proto), bound, serde_json::json!({"return": null})],
        ));
        rules.push(rule(
            PREROUTING,
            vec![
                guest.clone(),
                to_portal.clone(),
                dns(proto),
                logged_in.clone(),
                serde_json::json!({"dnat": {"family": "ip", "addr": fallback.to_string()}}),
            ],
        ));
    }
    for (i, r) in rules.into_iter().enumerate() {
        cmds.insert(at + i, r);
    }
    let at = first_in(cmds, GUEST_OUT);
    let translated = serde_json::json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}});
    let to_fallback = m(
        serde_json::json!({"payload": {"protocol": "ip", "field": "daddr"}}),
        serde_json::json!(fallback.to_string()),
    );
    for (i, proto) in ["udp", "tcp"].into_iter().enumerate() {
        let expr = vec![
            to_fallback.clone(),
            dns(proto),
            translated.clone(),
            logged_in.clone(),
            serde_json::json!({"accept": null}),
        ];
        cmds.insert(at + i, rule(GUEST_OUT, expr));
    }
}

/// `,{"add": {"element": ...}}` for each set with clients, and for the
/// leases (a lease of no end has no timeout); the typed model has no set
/// elements with timeouts, so they are written as JSON text.
fn client_commands(clients: &[(Client, Duration)], leases: &[(Client, Option<Duration>)]) -> String {
    let mut out = String::new();
    for set in [AUTHORIZED4, AUTHORIZED6] {
        let elems: Vec<(Client, Option<Duration>)> = clients
            .iter()
            .filter(|(c, _)| c.ip.is_ipv4() == (set == AUTHORIZED4))
            .map(|(c, t)| (*c, Some(*t)))
            .collect();
        element_commands(&mut out, set, &elems);
    }
    let leases: Vec<(Client, Option<Duration>)> = leases.iter().filter(|(c, _)| c.ip.is_ipv4()).copied().collect();
    element_commands(&mut out, LEASES4, &leases);
    out
}

fn element_commands(out: &mut String, set: &str, elems: &[(Client, Option<Duration>)]) {
    if elems.is_empty() {
        return;
    }
    let _ = write!(out, r#",{{"add":{{"element":{{"family":"inet","table":"{TABLE}","name":"{set}","elem":["#);
    for (i, (c, t)) in elems.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        // MAC and IP text is hex, digits, '.' and ':' only: nothing to escape.
        match t {
            Some(t) => {
                let _ = write!(
                    out,
                    r#"{comma}{{"elem":{{"val":{{"concat":["{}","{}"]}},"timeout":{}}}}}"#,
                    c.mac,
                    c.ip,
                    t.as_secs().max(1)
                );
            }
            None => {
                let _ = write!(out, r#"{comma}{{"concat":["{}","{}"]}}"#, c.mac, c.ip);
            }
        }
    }
    out.push_str("]}}}");
}

fn prefix(addr: String, len: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix { addr: Box::new(s(addr)), len }))
}

fn table() -> Table<'static> {
    Table { family: NfFamily::INet, name: TABLE.into(), handle: None }
}

fn s(v: impl Into<Cow<'static, str>>) -> Expression<'static> {
    Expression::String(v.into())
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: field.into(),
    })))
}

fn concat(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(items))
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn neq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::NEQ })
}

fn jump(target: &'static str) -> Statement<'static> {
    Statement::Jump(JumpTarget { target: target.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            guest_interface: "guest0".into(),
            guest_subnet: (Ipv4Addr::new(192, 0, 2, 0), 24),
            portal_ip: Ipv4Addr::new(192, 0, 2, 1),
            portal_http_port: 80,
            portal_https_port: 8443,
            masquerade: true,
            port_blocks: None,
            uplink_interface: Some("wan0".into()),
            allowed_destinations: vec![("10.1.2.3".parse().unwrap(), 32)],
            lease_check: true,
            dns_fallback: Some(Ipv4Addr::new(203, 0, 113, 53)),
        }
    }

    #[test]
    fn authorized_and_download_sets_count_per_element_and_gardens_do_not() {
        let json = policy().to_json(false);
        let sets: Vec<_> = json["nftables"].as_array().unwrap().iter().filter_map(|c| c.pointer("/add/set")).collect();
        assert_eq!(sets.len(), 6);
        for set in sets {
            let counted = set.get("stmt").is_some();
            let name = set["name"].as_str().unwrap();
            assert_eq!(counted, name.starts_with("authorized") || name == DOWN4, "{name}");
        }
    }

    #[test]
    fn reinstall_deletes_our_table_first_and_nothing_else() {
        let json = policy().to_json(true);
        let first = &json["nftables"][0];
        assert_eq!(first["delete"]["table"]["name"], TABLE);
        let deletes = json["nftables"].as_array().unwrap().iter().filter(|c| c.get("delete").is_some()).count();
        assert_eq!(deletes, 1);
    }

    #[test]
    fn restored_clients_ride_in_the_same_transaction_as_the_table() {
        let c = |n: u8| Client {
            mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(),
            ip: format!("192.0.2.{n}").parse().unwrap(),
        };
        let text =
            policy().install_text(false, &[(c(1), Duration::from_secs(60)), (c(2), Duration::from_millis(10))], &[]);
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let cmds = json["nftables"].as_array().unwrap();
        let elements: Vec<_> = cmds.iter().filter_map(|c| c.pointer("/add/element")).collect();
        assert_eq!(elements.len(), 1, "one command for the IPv4 set");
        assert_eq!(elements[0]["name"], AUTHORIZED4);
        assert_eq!(elements[0]["elem"][0]["elem"]["val"]["concat"][1], "192.0.2.1");
        assert_eq!(elements[0]["elem"][1]["elem"]["timeout"], 1, "never a zero timeout");
        assert!(cmds.last().unwrap().pointer("/add/element").is_some(), "after the sets they go into");
    }

    #[test]
    fn shaping_maps_come_before_rules_and_its_rules_first_in_forward() {
        let json = policy().to_json(false);
        let cmds = json["nftables"].as_array().unwrap();
        let map_at = cmds.iter().position(|c| c.pointer("/add/map/name") == Some(&serde_json::json!(BW_UP4))).unwrap();
        let first_rule = cmds.iter().position(|c| c.pointer("/add/rule").is_some()).unwrap();
        assert!(map_at < first_rule);
        let forward: Vec<_> =
            cmds.iter().filter(|c| c.pointer("/add/rule/chain") == Some(&serde_json::json!(FORWARD))).collect();
        assert_eq!(forward[0].pointer("/add/rule/expr/1/vmap/data").unwrap(), "@bw_up4");
        assert_eq!(forward[1].pointer("/add/rule/expr/1/vmap/data").unwrap(), "@bw_down4");
    }
}
