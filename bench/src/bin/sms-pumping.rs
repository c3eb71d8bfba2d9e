//! SMS pumping, played: bots on the guest Wi-Fi ask the portal for codes to
//! many numbers (premium-rate ranges, the way pumping fraud pays) from many
//! devices (MAC randomisation makes one laptop look like hundreds), while a
//! few real diners ask for their own code. Prints what went out against the
//! site's budget, what stopped the rest, and what the real diners got.
//!
//! Runs the controller's own SMS method in-process, limits as configured by
//! default (3 a phone in 10 minutes, 10 a day, 5 a device an hour, 200 for the
//! site an hour), with a gateway that counts instead of sending.
//!
//! Each wave the bots come with new MACs (randomised), so the per-device
//! limit barely touches them: the number limits and the budget must.
//!
//! `cargo run --release --bin sms-pumping-bench -- [devices] [seconds]`

use controller::auth::sms::gateway::{Gateway, Sending};
use controller::auth::sms::{Limits, SendError, Sms};
use controller::auth::Bandwidth;
use controller::kit::signer::Signer;
use firewall::Client;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counting {
    sent: AtomicUsize,
}

impl Gateway for Counting {
    fn send<'a>(&'a self, _phone: &'a str, _code: &'a str, _text: &'a str) -> Sending<'a> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

fn device(n: u32) -> Client {
    let b = n.to_be_bytes();
    Client {
        mac: format!("02:{:02x}:{:02x}:{:02x}:{:02x}:01", b[0], b[1], b[2], b[3]).parse().unwrap(),
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, b[1], b[2], b[3])),
    }
}

/// One attack: where the bots' numbers come from.
#[derive(Clone, Copy)]
enum Numbers {
    /// The 170 virtual-operator range (the limits block it outright).
    Virtual,
    /// A few number blocks the ring owns.
    Blocks(u32),
    /// Anywhere in the mainland mobile space.
    Anywhere,
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let devices = args.first().copied().unwrap_or(500) as u32;
    let seconds = args.get(1).copied().unwrap_or(5);
    println!(
        "SMS pumping, {devices} bot devices asking every 200 ms for {seconds} s, 2 real diners arriving each 200 ms;"
    );
    println!("limits: 3 a phone in 10 min, 10 a day, 5 a device an hour, 20 a number block an hour, 200 for the site an hour,");
    println!("the 162/165/167/170/171 ranges blocked.");
    println!();
    println!(
        "{:<28} {:>9} {:>6} {:>8} {:>9} {:>8} {:>12}",
        "bots' numbers", "bot asks", "sent", "budget", "bad no.", "limited", "diners' codes"
    );
    for (name, numbers) in [
        ("170 virtual range", Numbers::Virtual),
        ("5 number blocks they own", Numbers::Blocks(5)),
        ("anywhere (random mobiles)", Numbers::Anywhere),
    ] {
        let r = attack(devices, seconds, numbers).await;
        println!(
            "{name:<28} {:>9} {:>6} {:>8} {:>9} {:>8} {:>6}/{:<5}",
            r.asks, r.sent, r.budget, r.bad, r.limited, r.diners_served, r.diners
        );
        assert!(r.sent <= r.budget + r.diners_served, "the budget held");
    }
}

struct Outcome {
    asks: usize,
    sent: usize,
    budget: usize,
    bad: usize,
    limited: usize,
    diners: usize,
    diners_served: usize,
}

async fn attack(devices: u32, seconds: u64, numbers: Numbers) -> Outcome {
    let limits = Limits {
        countries: vec!["86".into()],
        code_ttl: Duration::from_secs(300),
        resend: Duration::from_secs(60),
        tries: 5,
        per_phone_10min: 3,
        per_phone_day: 10,
        per_device_hour: 5,
        site_per_hour: 200,
        per_block_hour: 20,
        blocked_prefixes: ["86162", "86165", "86167", "86170", "86171"].iter().map(|p| p.to_string()).collect(),
        returning: None,
    };
    let budget = limits.site_per_hour;
    let gateway = Arc::new(Counting::default());
    let db = controller::store::memory().await.expect("in-memory store");
    let sms = Sms::new(
        db,
        gateway.clone(),
        limits,
        "{code}".into(),
        Signer::with_key([9; 32]),
        Duration::from_secs(3600),
        Bandwidth::default(),
    );
    let mut refusals: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut asks, mut diners, mut served) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    let mut rng = rand::rng();
    let mut wave = 0u32;
    while start.elapsed() < Duration::from_secs(seconds) {
        for d in 0..devices {
            let number = match numbers {
                Numbers::Virtual => format!("170{:08}", rng.random_range(0..100_000_000u32)),
                Numbers::Blocks(n) => format!("135123{}{:04}", rng.random_range(0..n), rng.random_range(0..10_000u32)),
                Numbers::Anywhere => {
                    format!("1{}{:09}", rng.random_range(3..10u32), rng.random_range(0..1_000_000_000u32))
                }
            };
            asks += 1;
            match sms.send(&number, device(wave * devices + d)).await {
                Ok(_) => {}
                Err(SendError::Refused(r)) => *refusals.entry(r.reason()).or_default() += 1,
                Err(other) => panic!("{other}"),
            }
        }
        // Two real diners arrive in each wave, each with a phone of their own.
        for _ in 0..2 {
            diners += 1;
            let phone = format!("1{}{:09}", rng.random_range(3..10u32), rng.random_range(0..1_000_000_000u32));
            if sms.send(&phone, device(10_000_000 + diners as u32)).await.is_ok() {
                served += 1;
            }
        }
        wave += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Outcome {
        asks,
        sent: gateway.sent.load(Ordering::Relaxed),
        budget,
        bad: refusals.get("bad_phone").copied().unwrap_or(0),
        limited: refusals.get("limited").copied().unwrap_or(0),
        diners,
        diners_served: served,
    }
}
