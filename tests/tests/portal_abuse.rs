//! The portal tried the way diners' browsers and attackers use it: a socket
//! kept alive across the login, a crafted redirect link, a cross-site
//! logout, one guest holding 1,500 sockets.

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
