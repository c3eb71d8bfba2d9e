//! Chain vouchers' costs, on this machine (no network, no root):
//!
//! 1. A card's key (argon2id, 2 MiB, one pass): what a site pays for every
//!    try of a code with a live batch's tag, and HQ for every card it makes.
//! 2. HQ making a batch of `--cards` (default 1,000) cards: codes, keys and
//!    the signed manifest.
//! 3. A site's store (SQLite on disk, WAL, as the appliance opens it)
//!    taking `--batches` (default 20) such batches from one bundle, then a
//!    bundle whose batches are unchanged but whose `--uses` (default 5,000)
//!    used cards' first use and devices it carries (what every site of the
//!    scope pays each time a card is used anywhere); and the bundle's size.
//! 4. A guest's login with a right code (key, checks, the device's place,
//!    one write transaction) and a try of a wrong code with a live tag.
//!
//! `chain-vouchers-bench [--cards 1000] [--batches 20] [--uses 5000] [--tries 200]`

use controller::auth::voucher::Vouchers;
use controller::auth::Bandwidth;
use controller::hq::protocol::Scope;
use controller::hq::vouchers::{self as chain, CardUse};
use controller::kit::time::now_ms;
use std::time::Instant;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).saturating_sub(1).min(ms.len() - 1)];
    format!("p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms", at(0.5), at(0.95), at(1.0))
}

fn client(n: u32) -> firewall::Client {
    let mac = format!("02:00:00:{:02x}:{:02x}:{:02x}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    firewall::Client { mac: mac.parse().unwrap(), ip: std::net::Ipv4Addr::from(0x0a00_0000 + n).into() }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (cards, batches, uses, tries) =
        (arg("--cards", 1000), arg("--batches", 20), arg("--uses", 5000), arg("--tries", 200));

    // 1. One key.
    let salt = chain::new_salt();
    let keys: Vec<f64> = (0..tries)
        .map(|_| {
            let code = chain::new_code(&chain::new_tag());
            let start = Instant::now();
            std::hint::black_box(chain::card_key(&salt, &code));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("a card's key (argon2id 2 MiB, 1 pass), {tries} keys: {}", percentiles(keys));

    // 2. HQ makes the batches.
    let key = controller::hq::tickets::new_key();
    let mut made = Vec::new();
    let mut make_ms = Vec::new();
    for _ in 0..batches {
        let batch = guestwifi_hq::vouchers::NewBatch {
            scope: Scope::Brand,
            count: cards as u32,
            duration_seconds: 7200,
            valid_days: 30,
            devices: 1,
            down_kbps: 0,
            up_kbps: 0,
            offline_hours: 12,
            note: String::new(),
            once: String::new(),
        };
        let start = Instant::now();
        let prepared = guestwifi_hq::vouchers::prepare(&key, "chain", &batch).await.map_err(anyhow::Error::msg)?;
        make_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        made.push(prepared);
    }
    println!("HQ makes a batch of {cards} cards (codes, keys, signature), {batches} batches: {}", percentiles(make_ms));

    // 3. A site takes them.
    let dir = std::env::temp_dir().join(format!("chain-vouchers-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = controller::store::open(&dir).await?;
    let vouchers = Vouchers::new(db, Bandwidth::default());
    let public = key.verifying_key();
    let signed: Vec<_> = made.iter().map(|p| p.signed().clone()).collect();
    let checked = |signed: &[chain::SignedBatch]| -> anyhow::Result<Vec<(chain::Manifest, String)>> {
        signed.iter().map(|s| Ok((chain::verify(&public, s, "chain", "s1", "east")?, s.signature.clone()))).collect()
    };
    let start = Instant::now();
    let manifests = checked(&signed)?;
    let verify_ms = start.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    vouchers.apply_chain(&manifests, &[]).await?;
    println!(
        "a site takes {batches} new batches ({} cards): signatures checked in {verify_ms:.1} ms, stored in {:.1} ms",
        batches * cards,
        start.elapsed().as_secs_f64() * 1000.0
    );
    let used: Vec<CardUse> = (0..uses as usize)
        .map(|i| {
            let m = &manifests[i % manifests.len()].0;
            CardUse {
                batch: m.batch.clone(),
                key: m.keys[(i / manifests.len()) % m.keys.len()].clone(),
                first_used_at: now_ms() - 60_000,
                devices: vec![chain::device_key("chain", &client(i as u32 + 100_000).mac.to_string())],
            }
        })
        .collect();
    let bundle_bytes = serde_json::to_vec(&(&signed, &used))?.len();
    let start = Instant::now();
    vouchers.apply_chain(&checked(&signed)?, &used).await?;
    let first_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut again = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        vouchers.apply_chain(&checked(&signed)?, &used).await?;
        again.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "a bundle with the same {batches} batches and {uses} used cards: {} KiB of JSON; the uses new here: {first_ms:.1} ms; \
         the same bundle again (a use elsewhere): {}",
        bundle_bytes / 1024,
        percentiles(again)
    );

    // 4. Logins.
    vouchers.heard_from_hq(now_ms()).await?;
    let codes: Vec<&String> = made.iter().flat_map(|p| p.codes().iter().skip(uses as usize / made.len() + 1)).collect();
    let mut right = Vec::new();
    for (n, code) in codes.iter().take(tries as usize).enumerate() {
        let start = Instant::now();
        vouchers.claim(code, client(n as u32)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        right.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!("a login with a right code, {} logins: {}", right.len(), percentiles(right));
    let mut wrong = Vec::new();
    for n in 0..tries {
        let code = chain::new_code(&made[n as usize % made.len()].codes()[0][..chain::TAG_LEN]);
        let start = Instant::now();
        let refused = vouchers.claim(&code, client(50_000 + n as u32)).await.is_err();
        wrong.push(start.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(refused, "a made-up code logged in");
    }
    println!("a wrong code with a live batch's tag, {tries} tries: {}", percentiles(wrong));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
