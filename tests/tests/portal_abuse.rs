//! The portal tried the way diners' browsers and attackers use it: a socket
//! kept alive across the login, a crafted redirect link, a cross-site
//! logout, one guest holding 1,500 sockets, one guest with twenty addresses.

use e2e::{field, header, TestLab, PORTAL_HOST};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const UPSTREAM: &str = "203.0.113.10:80";

fn get(host: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n")
}

/// Reads one response's head (up to the blank line), lower-cased.
fn read_head(stream: &mut std::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[test]
fn a_socket_from_before_the_login_never_brings_the_guest_back_to_the_portal() {
    let Some(t) = TestLab::start("e2e-keepalive", 1, 3600, &[]) else {
        return;
    };
    let addr: SocketAddr = UPSTREAM.parse().unwrap();

    // The browser's first request is redirected, and the portal closes that socket.
    let mut kept = t.guest_socket(1, addr);
    kept.write_all(get("example.test").as_bytes()).unwrap();
    let head = read_head(&mut kept);
    assert!(head.starts_with("http/1.1 302"), "{head}");
    assert!(head.contains("connection: close"), "a redirect closes its socket: {head}");

    // A second socket is opened before the login and used only after it.
    let mut early = t.guest_socket(1, addr);
    t.login(1);
    early.write_all(get("example.test").as_bytes()).unwrap();
    let head = read_head(&mut early);
    assert!(head.starts_with("http/1.1 307"), "a logged-in guest goes on to the site: {head}");
    assert!(head.contains("location: http://example.test/"), "{head}");
    assert!(head.contains("connection: close"), "{head}");

    // Reusing the first socket at once gets no portal page: it was closed.
    let _ = kept.write_all(get("example.test").as_bytes());
    let mut rest = String::new();
    let _ = kept.read_to_string(&mut rest);
    assert!(!rest.contains("302") && !rest.contains(PORTAL_HOST), "{rest}");
    assert!(t.online(1), "a new socket reaches the site");
}

#[test]
fn a_crafted_portal_link_cannot_send_a_diner_elsewhere_and_logout_needs_the_device_token() {
    let Some(t) = TestLab::start("e2e-redirect-sign", 2, 3600, &[]) else {
        return;
    };
    // The attacker, on guest 1 before logging in, has our redirect sign a
    // link to a phishing page for its own device (to print as a QR sticker).
    let (code, minted) = t.curl(1, &["-H", "Host: phish.test", "http://203.0.113.10/login"]);
    assert_eq!(code, 302, "{minted}");
    let minted = header(&minted, "location").unwrap();

    // Our own redirect carries a signature and the URL survives the login.
    let (code, head) = t.curl(1, &["http://example.test/menu?table=7"]);
    assert_eq!(code, 302);
    let location = header(&head, "location").unwrap();
    assert!(location.contains("&sig="), "{location}");
    let ticket = t.ticket_from(1, &location);
    std::thread::sleep(Duration::from_millis(e2e::COUNTDOWN * 1000 + 100));
    let (code, page) = t.post_login(1, &ticket);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("http://example.test/menu?table=7"), "{page}");

    // A phishing link: no signature, the signature of another URL, or (a QR
    // sticker) a link our redirect signed for phish.test on the attacker's
    // own device, guest 1's.
    let phish = "url=http%3A%2F%2Fphish.test%2Flogin";
    let sig = location.split("&sig=").nth(1).unwrap();
    assert!(minted.contains("phish.test") && minted.contains("&sig="), "{minted}");
    for crafted in
        [format!("http://{PORTAL_HOST}/?{phish}"), format!("http://{PORTAL_HOST}/?{phish}&sig={sig}"), minted]
    {
        let ticket = t.ticket_from(2, &crafted);
        std::thread::sleep(Duration::from_millis(e2e::COUNTDOWN * 1000 + 100));
        let (code, page) = t.post_login(2, &ticket);
        assert_eq!(code, 200, "{page}");
        assert!(!page.contains("phish.test"), "the crafted URL is never followed: {page}");
        assert!(page.contains("http://garden.test/menu"), "the venue's page instead: {page}");
        let (_, online) = t.curl(2, &[&format!("http://{PORTAL_HOST}/")]);
        let token = field(&online, "token").expect("the online page has the logout token");
        // Log out properly so the next crafted link starts logged out.
        let (code, _) = t.curl(2, &["--data", &format!("token={token}"), &format!("http://{PORTAL_HOST}/logout")]);
        assert_eq!(code, 200);
    }

    // A cross-site logout (no token, or another device's) changes nothing.
    let (_, online) = t.curl(1, &[&format!("http://{PORTAL_HOST}/")]);
    let token1 = field(&online, "token").unwrap();
    t.login(2);
    let (_, online2) = t.curl(2, &[&format!("http://{PORTAL_HOST}/")]);
    let token2 = field(&online2, "token").unwrap();
    for form in ["x=1".to_string(), format!("token={token2}")] {
        let (code, page) = t.curl(1, &["--data", &form, &format!("http://{PORTAL_HOST}/logout")]);
        assert_eq!(code, 403, "{page}");
        assert!(page.contains("页面已过期"), "a translated refusal: {page}");
    }
    assert!(t.online(1), "still online after the forged logouts");
    let (code, _) = t.curl(1, &["--data", &format!("token={token1}"), &format!("http://{PORTAL_HOST}/logout")]);
    assert_eq!(code, 200);
    let (code, _) = t.curl(1, &["http://example.test/"]);
    assert_eq!(code, 302, "the guest's own logout works");
}

#[test]
fn one_guest_holding_1500_sockets_does_not_shut_the_portal_for_another() {
    let Some(t) = TestLab::start("e2e-sockets", 2, 3600, &[]) else {
        return;
    };
    // Guest 1 opens 1,500 connections to the portal and keeps them idle.
    let held = t.guest_sockets(1, "192.0.2.1:80".parse().unwrap(), 1500);
    assert!(held.len() > 1000, "only {} connected", held.len());

    // Guest 2 gets its redirect at once.
    let start = Instant::now();
    let (code, head) = t.curl(2, &["--max-time", "1", "http://example.test/"]);
    let took = start.elapsed();
    drop(held);
    assert_eq!(code, 302, "after {took:?}: {head}");
    assert!(t.log().contains("connection cap"), "the capped device is logged");
}

/// How many of `names_each` distinct DNS names guest `i` got answered
/// (anything but REFUSED) from every one of `sources` together (its own
/// address and its aliases). Runs in the guest's namespace.
fn names_answered(t: &TestLab, i: usize, sources: &[std::net::Ipv4Addr], names_each: usize) -> usize {
    let path = format!("/run/netns/{}", t.lab.guest(i));
    let sources = sources.to_vec();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let ns = std::fs::File::open(path).expect("guest namespace");
        // SAFETY: setns on this thread only, with a namespace fd we own.
        assert_eq!(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
        // One round asks one new name from every source, within the
        // per-second rate a device has; replies are gathered between rounds.
        let sockets: Vec<std::net::UdpSocket> = sources
            .iter()
            .map(|source| {
                let socket = std::net::UdpSocket::bind((*source, 0)).expect("bind to the address");
                socket.set_nonblocking(true).unwrap();
                socket
            })
            .collect();
        let mut answered = 0;
        let mut gather = |sockets: &[std::net::UdpSocket]| {
            for socket in sockets {
                let mut reply = [0u8; 512];
                while let Ok(len) = socket.recv(&mut reply) {
                    answered += usize::from(len >= 4 && reply[3] & 0x0f != 5);
                }
            }
        };
        for n in 0..names_each {
            for (k, socket) in sockets.iter().enumerate() {
                let query = dns_query((k * 1000 + n) as u16, &format!("a{k}n{n}.tunnel.example.test"));
                let _ = socket.send_to(&query, "192.0.2.1:53");
            }
            std::thread::sleep(Duration::from_millis(110));
            gather(&sockets);
        }
        std::thread::sleep(Duration::from_millis(500));
        gather(&sockets);
        answered
    })
    .join()
    .unwrap()
}

/// A DNS query for the A record of `name`.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}

#[test]
fn a_guest_with_twenty_addresses_is_one_device_to_dns_and_the_portal() {
    let Some(t) = TestLab::start("e2e-alias", 2, 3600, &[]) else {
        return;
    };
    let own = t.lab.address(1).expect("guest 1's lease");
    // Twenty more addresses on the same card (same MAC), none of them a lease.
    let aliases: Vec<std::net::Ipv4Addr> = (210..230).map(|n| std::net::Ipv4Addr::new(192, 0, 2, n)).collect();
    for alias in &aliases {
        let ok = std::process::Command::new("ip")
            .args(["-n", &t.lab.guest(1), "addr", "add", &format!("{alias}/24"), "dev", "eth0"])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let portal: SocketAddr = "192.0.2.1:80".parse().unwrap();
    let from_aliases = names_answered(&t, 1, &aliases, 40);
    let held_aliases = hold_from(&t.lab.guest(1), aliases, portal, 200);
    let from_own = names_answered(&t, 1, &[own], 60);
    let held_own = hold_from(&t.lab.guest(1), vec![own], portal, 200);
    let (sockets_from_aliases, sockets_from_own) = (held_aliases.len(), held_own.len());
    eprintln!(
        "alias attack: 20 aliases got {from_aliases} names answered and held {sockets_from_aliases} portal sockets; \
         the device's own address got {from_own} of 60 names and held {sockets_from_own} sockets"
    );
    assert_eq!(from_aliases, 0, "an address that is not the device's lease gets no answer");
    assert_eq!(sockets_from_aliases, 0, "nor a connection to the portal");
    assert!((30..=40).contains(&from_own), "the device's own budget of distinct names (40 a minute): {from_own}");
    assert!(sockets_from_own <= 64, "the device's own connection cap: {sockets_from_own}");
    // The other guest is served at once, and asks DNS as it likes.
    let (code, head) = t.curl(2, &["--max-time", "1", "http://example.test/"]);
    assert_eq!(code, 302, "{head}");
    drop((held_aliases, held_own));
    // The kernel counted what it dropped.
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &t.lab.appliance(), "nft", "list", "chain", "inet", "guestwifi", "lease_check"])
        .output()
        .unwrap();
    let chain = String::from_utf8_lossy(&out.stdout);
    let dropped: u64 = chain
        .split("counter packets ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped >= 800, "the aliases' queries and connects were dropped in the kernel: {chain}");
}

/// Idle TCP connections to `to` from namespace `ns`, up to `each` from
/// every one of `sources`, held by the caller; a connect that fails or is
/// closed at once does not count, and three failures in a row end a source.
fn hold_from(ns: &str, sources: Vec<std::net::Ipv4Addr>, to: SocketAddr, each: usize) -> Vec<tokio::net::TcpStream> {
    let path = format!("/run/netns/{ns}");
    let limit = libc::rlimit { rlim_cur: 16384, rlim_max: 16384 };
    // SAFETY: setrlimit with a valid struct; root may raise its own limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let ns = std::fs::File::open(path).expect("namespace");
        // SAFETY: setns on this thread only, with a namespace fd we own.
        assert_eq!(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut held = Vec::new();
            for source in &sources {
                let mut failed = 0;
                for _ in 0..each {
                    let socket = tokio::net::TcpSocket::new_v4().unwrap();
                    socket.bind(SocketAddr::from((*source, 0))).unwrap();
                    match tokio::time::timeout(Duration::from_millis(200), socket.connect(to)).await {
                        Ok(Ok(stream)) => {
                            held.push(stream);
                            failed = 0;
                        }
                        _ if failed == 2 => break,
                        _ => failed += 1,
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut open = Vec::new();
            for stream in held {
                let mut byte = [0u8; 1];
                match tokio::time::timeout(Duration::from_millis(1), stream.peek(&mut byte)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => {}
                    _ => open.push(stream),
                }
            }
            open
        })
    })
    .join()
    .unwrap()
}

#[test]
fn idle_sockets_on_the_wechat_port_cannot_take_the_daemon_down() {
    let Some(t) = TestLab::start("e2e-fds", 2, 3600, &[]) else {
        return;
    };
    let pid = t.controller_pid().unwrap();
    let open = || std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let limit_to = |limit: usize| {
        let set = std::process::Command::new("prlimit")
            .args(["--pid", &pid.to_string(), &format!("--nofile={limit}:")])
            .status()
            .unwrap();
        assert!(set.success());
    };
    // Ten addresses on the uplink side, 20 idle sockets each.
    let upstream = t.lab.upstream();
    let sources: Vec<std::net::Ipv4Addr> = (100..110).map(|n| std::net::Ipv4Addr::new(203, 0, 113, n)).collect();
    for source in &sources {
        let ok = std::process::Command::new("ip")
            .args(["-n", &upstream, "addr", "add", &format!("{source}/24"), "dev", "eth0"])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let wechat: SocketAddr = (lab::APPLIANCE_WAN, 8081).into();

    // Held until the cap (128 served at once, 16 an address): the daemon
    // takes no more descriptors than that, and a guest logs in meanwhile.
    let before = open();
    limit_to(before + 128 + 64);
    let held = hold_from(&upstream, sources.clone(), wechat, 20);
    let during = open();
    eprintln!("descriptor attack, at the cap: {} sockets held by the uplink side; the daemon went from {before} to {during} descriptors (limit {})", held.len(), before + 192);
    assert!(during <= before + 128 + 8, "the WeChat port's cap bounds its descriptors: {before} -> {during}");
    t.login(1);
    assert!(t.online(1), "a guest logs in while the WeChat port is held\n{}", t.log());

    // A limit just above what they hold, and a guest opening portal sockets
    // past it: accept fails (out of descriptors); the accept loop logs it
    // and goes on, the daemon stays up.
    limit_to(open() + 4);
    let more = t.guest_sockets(2, "192.0.2.1:80".parse().unwrap(), 30);
    std::thread::sleep(Duration::from_secs(1));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the daemon is up\n{}", t.log());
    drop((held, more));
    limit_to(before + 128 + 64);
    // Once the sockets are gone, everything serves again: the control socket, the portal.
    t.until("the daemon serves again", 20, || t.cli(&["sessions", "list"]).status.success());
    t.until("the portal serves again", 20, || t.curl(2, &["--max-time", "2", "http://example.test/"]).0 == 302);
    assert!(t.log().contains("accept failed"), "the failed accepts are logged");
    t.login(2);
    assert!(t.online(2));
}
