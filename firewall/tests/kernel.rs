//! The ruleset and client changes against the real kernel, in a throwaway
//! network namespace. Needs root; says so and skips without it.

use firewall::{Client, ClientFilter, Firewall, Policy, Rate};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

struct Netns(String);

impl Netns {
    fn new(name: &str) -> Option<Self> {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: nftables kernel tests need root");
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the kernel tests as root");
            }
            return None;
        }
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        assert!(Command::new("ip").args(["netns", "add", name]).status().unwrap().success());
        let ns = Netns(name.to_string());
        ns.ip(&["link", "add", "guest0", "type", "veth", "peer", "name", "guest0p"]);
        ns.ip(&["link", "set", "guest0", "up"]);
        Some(ns)
    }

    fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip").args(["-n", &self.0]).args(args).status().unwrap().success();
        assert!(ok, "ip {args:?}");
    }

    fn nft_list(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft", "list", "table", "inet", "guestwifi"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `f` on a thread that has entered the namespace (threads it starts
    /// inherit it), with its own tokio runtime.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(path).unwrap();
            assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

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
        allowed_destinations: vec![("10.9.8.7".parse().unwrap(), 32)],
        lease_check: true,
        dns_fallback: Some(Ipv4Addr::new(203, 0, 113, 53)),
    }
}

fn client(n: u8) -> Client {
    Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
}

#[test]
fn login_adds_one_element_and_reload_restores_sessions() {
    let Some(ns) = Netns::new("fwtest-elements") else {
        return;
    };
    let (rules_before, rules_after, listed, after_revoke, counted) = ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let fw = Firewall::start(policy(), &[], Vec::new()).unwrap();
            let list = || {
                String::from_utf8(
                    Command::new("nft")
                        .args(["list", "chain", "inet", "guestwifi", "guest_out"])
                        .output()
                        .unwrap()
                        .stdout,
                )
                .unwrap()
            };
            let before = list();
            let logins: Vec<_> =
                (10..20).map(|n| fw.authorize(client(n), Duration::from_secs(600), Rate::UNLIMITED)).collect();
            for r in futures_join(logins).await {
                r.unwrap();
            }
            let after = list();
            let listed = fw.list().await.unwrap();
            fw.revoke(client(10)).await.unwrap();
            fw.revoke(client(99)).await.expect("revoking an absent client is fine");
            let after_revoke = fw.list().await.unwrap();
            // Each logged-in address has its download counter; the logout's is gone.
            let counted = nft_set("down4");
            // nftables flushed behind our back: reload puts everything back.
            assert!(Command::new("nft").args(["flush", "ruleset"]).status().unwrap().success());
            fw.restore(after_revoke.iter().map(|c| (c.client, Duration::from_secs(300), Rate::UNLIMITED)).collect())
                .await
                .unwrap();
            assert_eq!(fw.list().await.unwrap().len(), 9);
            assert_eq!(nft_set("down4").matches("counter packets").count(), 9, "download counters restored too");
            assert!(fw.present().await.unwrap());
            Firewall::remove_table().unwrap();
            assert!(!fw.present().await.unwrap());
            (before, after, listed, after_revoke, counted)
        })
    });
    assert_eq!(counted.matches("counter packets 0 bytes 0").count(), 9, "{counted}");
    assert!(counted.contains("192.0.2.11 ") && !counted.contains("192.0.2.10 "), "{counted}");
    assert_eq!(rules_before, rules_after, "a login must not change any rule");
    assert_eq!(listed.len(), 10);
    assert!(listed.iter().all(|c| c.expires_in.unwrap() > Duration::from_secs(590)));
    assert_eq!(after_revoke.len(), 9);
    assert!(!after_revoke.iter().any(|c| c.client == client(10)));
    assert_eq!(ns.nft_list(), "", "firewall-remove takes the table out");
}

#[test]
fn rates_are_tiers_and_map_elements_that_come_and_go_with_the_login() {
    let Some(ns) = Netns::new("fwtest-rates") else {
        return;
    };
    let (shaped, reshaped, revoked, restored, rules_same) = ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let nft =
                |args: &[&str]| String::from_utf8(Command::new("nft").args(args).output().unwrap().stdout).unwrap();
            // Shaped addresses: the elements of both verdict maps.
            let limits = || {
                ["bw_up4", "bw_down4"]
                    .iter()
                    .map(|m| nft(&["list", "map", "inet", "guestwifi", m]).matches("jump bw_").count())
                    .sum::<usize>()
            };
            let fw = Firewall::start(policy(), &[], Vec::new()).unwrap();
            let rate = Rate { down_kbps: 8000, up_kbps: 2000 };
            // The tiers a first grant makes; after it, no login changes a rule.
            fw.authorize(client(30), Duration::from_secs(600), rate).await.unwrap();
            fw.authorize(client(30), Duration::from_secs(600), Rate { down_kbps: 1000, up_kbps: 0 }).await.unwrap();
            fw.revoke(client(30)).await.unwrap();
            let rule_count = || nft(&["-j", "list", "ruleset"]).matches("{\"rule\": {").count();
            let rules = rule_count();
            assert!(rules > 20, "the table's rules and the tiers' are counted");
            let logins: Vec<_> = (10..20).map(|n| fw.authorize(client(n), Duration::from_secs(600), rate)).collect();
            for r in futures_join(logins).await {
                r.unwrap();
            }
            let shaped = limits();
            // A re-login at another rate replaces its objects; no leak.
            fw.authorize(client(10), Duration::from_secs(600), Rate { down_kbps: 1000, up_kbps: 0 }).await.unwrap();
            let reshaped = (limits(), nft(&["list", "map", "inet", "guestwifi", "bw_down4"]).contains("192.0.2.10"));
            fw.revoke(client(11)).await.unwrap();
            let revoked = limits();
            let rules_same = rules == rule_count();
            assert!(Command::new("nft").args(["flush", "ruleset"]).status().unwrap().success());
            let back = vec![
                (client(12), Duration::from_secs(60), rate),
                (client(13), Duration::from_secs(60), Rate::UNLIMITED),
            ];
            fw.restore(back).await.unwrap();
            let restored = limits();
            Firewall::remove_table().unwrap();
            (shaped, reshaped, revoked, restored, rules_same)
        })
    });
    assert_eq!(shaped, 20, "two map elements a client, no rule");
    assert_eq!(reshaped, (19, true), "the new grant has one way limited");
    assert_eq!(revoked, 17, "a logout takes its elements out");
    assert_eq!(restored, 2, "a restore puts back the limits of the sessions it restores");
    assert!(rules_same, "a login at a known rate changes no rule");
}

#[test]
fn ruleset_redirects_http_and_resets_https() {
    let Some(ns) = Netns::new("fwtest-rules") else {
        return;
    };
    ns.run(|| {
        let _fw = Firewall::start(policy(), &[], Vec::new()).unwrap();
    });
    let listing = ns.nft_list();
    for needle in [
        "type ether_addr . ipv4_addr",
        "counter",
        "tcp dport 80 dnat ip to 192.0.2.1:80",
        "tcp dport 443 reject with tcp reset",
        "ip saddr 192.0.2.0/24 oifname \"wan0\" masquerade",
        "ip daddr 10.9.8.7 ether saddr . ip saddr @authorized accept",
        "ip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/3 } reject with icmpx admin-prohibited",
        "oifname != \"wan0\" reject with icmpx admin-prohibited",
        "ip daddr != { 192.0.2.1, 255.255.255.255 } reject with icmpx admin-prohibited",
        "ip daddr 192.0.2.1 udp dport 53 socket transparent 0 return",
        "ip daddr 192.0.2.1 tcp dport 53 ether saddr . ip saddr @authorized dnat ip to 203.0.113.53",
        "ip daddr 203.0.113.53 udp dport 53 ct status dnat ether saddr . ip saddr @authorized accept",
    ] {
        assert!(listing.contains(needle), "missing {needle:?} in\n{listing}");
    }
}

#[test]
fn restart_installs_rules_and_live_sessions_in_one_transaction() {
    let Some(ns) = Netns::new("fwtest-restart") else {
        return;
    };
    let listed = ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clients: Vec<_> = (1..=3).map(|n| (client(n), Duration::from_secs(600), Rate::UNLIMITED)).collect();
            let fw = Firewall::start(policy(), &clients, Vec::new()).unwrap();
            // Started again over its own table (a restart): exactly the sessions still live.
            let again = Firewall::start(policy(), &clients[..2], Vec::new()).unwrap();
            let listed = again.list().await.unwrap();
            drop(fw);
            listed
        })
    });
    assert_eq!(listed.len(), 2, "a restart replaces the table with exactly the live sessions");
    assert!(listed.iter().all(|c| c.expires_in.unwrap() > Duration::from_secs(590)));
}

#[test]
fn two_garden_names_on_one_address_fill_the_garden_and_refresh() {
    let Some(ns) = Netns::new("fwtest-garden") else {
        return;
    };
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let fw = Firewall::start(policy(), &[], Vec::new()).unwrap();
            let shared: std::net::IpAddr = "198.51.100.7".parse().unwrap();
            let other: std::net::IpAddr = "198.51.100.8".parse().unwrap();
            let resolved = vec![
                (shared, Duration::from_secs(60)),
                (other, Duration::from_secs(60)),
                (shared, Duration::from_secs(90)),
            ];
            fw.add_garden(resolved.clone()).await.expect("first fill");
            fw.add_garden(resolved).await.expect("a refresh of the same names");
        })
    });
    let listing = ns.nft_list();
    let garden = listing.split("set garden4").nth(1).unwrap().split('}').take(2).collect::<String>();
    assert!(garden.contains("198.51.100.7") && garden.contains("198.51.100.8"), "{garden}");
}

#[test]
fn leases_are_the_only_pairs_let_in_and_follow_renewals_restores_and_releases() {
    let Some(ns) = Netns::new("fwtest-leases") else {
        return;
    };
    let (at_start, after_changes, after_restore) = ns.run(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let fw =
                Firewall::start(policy(), &[], vec![(client(1), Some(Duration::from_secs(600))), (client(2), None)])
                    .unwrap();
            let at_start = nft_set("leases4");
            // A renewal (client 1's time moves), a new lease (3), a release (2).
            fw.set_leases(vec![
                (client(1), Some(Duration::from_secs(3600))),
                (client(3), Some(Duration::from_secs(60))),
            ])
            .await
            .expect("changes apply");
            // The same list again changes nothing and is no error.
            fw.set_leases(vec![
                (client(1), Some(Duration::from_secs(3600))),
                (client(3), Some(Duration::from_secs(60))),
            ])
            .await
            .expect("a repeat is no error");
            let after_changes = nft_set("leases4");
            // nftables flushed under us: the restore puts the leases back.
            assert!(Command::new("nft").args(["flush", "ruleset"]).status().unwrap().success());
            fw.restore(Vec::new()).await.unwrap();
            (at_start, after_changes, nft_set("leases4"))
        })
    });
    assert!(
        at_start.contains("02:00:00:00:00:01 . 192.0.2.1") && at_start.contains("02:00:00:00:00:02 . 192.0.2.2"),
        "{at_start}"
    );
    assert!(after_changes.contains("02:00:00:00:00:03 . 192.0.2.3"), "{after_changes}");
    assert!(!after_changes.contains("02:00:00:00:00:02"), "a released lease leaves: {after_changes}");
    let renewed = after_changes.split("02:00:00:00:00:01 . 192.0.2.1").nth(1).unwrap();
    assert!(renewed.contains("expires 59m") || renewed.contains("expires 1h"), "the renewal's time: {after_changes}");
    assert!(
        after_restore.contains("02:00:00:00:00:01 . 192.0.2.1") && after_restore.contains("02:00:00:00:00:03"),
        "{after_restore}"
    );
    // And the rule that drops every other pair is there.
    let listing = ns.nft_list();
    assert!(listing.contains("ether saddr . ip saddr != @leases4 counter packets"), "{listing}");
    assert!(listing.contains("udp dport 67 accept"), "DHCP always passes: {listing}");
}

/// One of our sets as `nft` lists it, from the namespace this thread is in.
fn nft_set(name: &str) -> String {
    let out = Command::new("nft").args(["list", "set", "inet", "guestwifi", name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let handles: Vec<_> = fs.into_iter().collect();
    for f in handles {
        out.push(f.await);
    }
    out
}

#[test]
fn a_login_puts_its_port_block_in_the_map_with_its_authorisation_and_a_logout_takes_it_out() {
    let Some(ns) = Netns::new("fwtest-blocks") else {
        return;
    };
    let listed = ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let public = Ipv4Addr::new(203, 0, 113, 1);
            let policy = Policy {
                port_blocks: Some(firewall::PortBlocks::new(public, (Ipv4Addr::new(192, 0, 2, 0), 24))),
                ..policy()
            };
            let restored = [(client(5), Duration::from_secs(600), Rate::UNLIMITED)];
            let fw = Firewall::start(policy, &restored, Vec::new()).unwrap();
            let map = || {
                let out =
                    Command::new("nft").args(["list", "map", "inet", "guestwifi", "nat_blocks4"]).output().unwrap();
                String::from_utf8(out.stdout).unwrap()
            };
            let restored = map();
            fw.authorize(client(10), Duration::from_secs(600), Rate::UNLIMITED).await.unwrap();
            fw.authorize(client(10), Duration::from_secs(900), Rate::UNLIMITED)
                .await
                .expect("a re-login keeps its block");
            let after_login = map();
            // Another device takes the address; the old one's logout leaves its block.
            let other = Client { mac: "02:00:00:00:00:aa".parse().unwrap(), ip: client(10).ip };
            fw.authorize(other, Duration::from_secs(600), Rate::UNLIMITED).await.unwrap();
            fw.revoke(client(10)).await.unwrap();
            let taken_over = map();
            fw.revoke(other).await.unwrap();
            let after_logout = map();
            let chain =
                Command::new("nft").args(["list", "chain", "inet", "guestwifi", "postrouting"]).output().unwrap();
            (restored, after_login, taken_over, after_logout, String::from_utf8(chain.stdout).unwrap())
        })
    });
    let (restored, after_login, taken_over, after_logout, chain) = listed;
    assert!(taken_over.contains("192.0.2.10 : 203.0.113.1 . 6496-6735"), "the new holder keeps it: {taken_over}");
    assert!(restored.contains("192.0.2.5 : 203.0.113.1 . 5296-5535"), "{restored}");
    assert!(after_login.contains("192.0.2.10 : 203.0.113.1 . 6496-6735"), "{after_login}");
    assert!(!after_logout.contains("192.0.2.10 ") && after_logout.contains("192.0.2.5 "), "{after_logout}");
    let snat = chain.find("snat ip to ip saddr map @nat_blocks4").expect("the map's rule");
    let fallback = chain.find("masquerade to :1024-4095").expect("the fallback for guests without a block");
    let plain = chain.rfind("masquerade").unwrap();
    assert!(snat < fallback && fallback < plain, "{chain}");
}

/// A restore bigger than one transaction's chunk (the first chunk goes in
/// with the table, the rest after it): every client is back with its
/// element, download counter, rate and port block.
#[test]
fn a_restore_of_more_clients_than_one_transaction_takes_puts_every_one_back_whole() {
    let Some(ns) = Netns::new("fwtest-big-restore") else {
        return;
    };
    const N: u32 = 12_000;
    let (listed, down, blocks, rated) = ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let subnet = (Ipv4Addr::new(192, 0, 0, 0), 18);
            let policy = Policy {
                guest_subnet: subnet,
                port_blocks: Some(firewall::PortBlocks::new(Ipv4Addr::new(203, 0, 113, 1), subnet)),
                ..policy()
            };
            let rate = Rate { down_kbps: 8000, up_kbps: 2000 };
            let clients: Vec<(Client, Duration, Rate)> = (0..N)
                .map(|i| {
                    let client = Client {
                        mac: format!("02:20:00:00:{:02x}:{:02x}", i >> 8, i & 0xff).parse().unwrap(),
                        ip: Ipv4Addr::new(192, 0, 8 + (i >> 8) as u8, i as u8).into(),
                    };
                    (client, Duration::from_secs(600), rate)
                })
                .collect();
            let fw = Firewall::start(policy, &[], Vec::new()).unwrap();
            // nftables flushed under it: everyone comes back.
            assert!(Command::new("nft").args(["flush", "ruleset"]).status().unwrap().success());
            fw.restore(clients).await.unwrap();
            let listed = fw.list().await.unwrap().len();
            let count = |set: &str, what: &str| nft_set(set).matches(what).count();
            let out = (
                listed,
                count("down4", "counter packets"),
                nft_map("nat_blocks4").matches(" : 203.0.113.1 . ").count(),
                nft_map("bw_up4").matches("jump bw_u2000").count(),
            );
            Firewall::remove_table().unwrap();
            out
        })
    });
    assert_eq!(listed, N as usize, "every client's element");
    assert_eq!(down, N as usize, "every client's download counter");
    assert_eq!(blocks, N as usize, "every client's port block");
    assert_eq!(rated, N as usize, "every client's rate");
}

/// One of our maps as `nft` lists it, from the namespace this thread is in.
fn nft_map(name: &str) -> String {
    let out = Command::new("nft").args(["list", "map", "inet", "guestwifi", name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_restore_keeps_right_pins_mends_a_wrong_one_and_drops_a_stale_one() {
    let Some(ns) = Netns::new("fwtest-pins") else {
        return;
    };
    let neighbours = || {
        let out = Command::new("ip").args(["neigh", "show", "dev", "guest0", "nud", "permanent"]).output().unwrap();
        let mut lines: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).collect();
        lines.sort();
        lines
    };
    let (pinned, tampered, restored, held) = ns.run(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let fw = Firewall::start(policy(), &[], Vec::new()).unwrap();
            for n in [11, 12] {
                fw.authorize(client(n), Duration::from_secs(600), Rate::UNLIMITED).await.unwrap();
            }
            let held_before = [11, 12, 13].map(|n| firewall::holds(client(n)).unwrap());
            let pinned = neighbours();
            // Behind our back: one pin pointed elsewhere, one nobody explains, the table gone.
            for args in [
                ["neigh", "replace", "192.0.2.12", "lladdr", "02:00:00:00:00:99", "dev", "guest0", "nud", "permanent"],
                ["neigh", "replace", "192.0.2.14", "lladdr", "02:00:00:00:00:14", "dev", "guest0", "nud", "permanent"],
            ] {
                assert!(Command::new("ip").args(args).status().unwrap().success());
            }
            let tampered = neighbours();
            assert!(Command::new("nft").args(["flush", "ruleset"]).status().unwrap().success());
            assert!(!firewall::holds(client(11)).unwrap(), "no table, no element");
            let sessions = [11, 12].map(|n| (client(n), Duration::from_secs(300), Rate::UNLIMITED)).to_vec();
            fw.restore(sessions).await.unwrap();
            let held_after = [11, 12, 13].map(|n| firewall::holds(client(n)).unwrap());
            (pinned, tampered, neighbours(), (held_before, held_after))
        })
    });
    let expected = vec![
        "192.0.2.11 lladdr 02:00:00:00:00:0b PERMANENT".to_string(),
        "192.0.2.12 lladdr 02:00:00:00:00:0c PERMANENT".to_string(),
    ];
    assert_eq!(pinned, expected, "a login pins its address to its MAC");
    assert_eq!(tampered.len(), 3, "the test changed the table: {tampered:?}");
    assert_eq!(restored, expected, "the right pin stays, the wrong one is mended, the stale one goes");
    assert_eq!(held, ([true, true, false], [true, true, false]), "holds() asks the kernel for one element");
}
