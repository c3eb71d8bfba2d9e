//! The guests' resolver under load, on loopback (no root needed): queries a
//! second it serves and the latency it adds over asking the upstream
//! directly. The upstream is a stub answering every A query at once, so what
//! is measured is the controller's own work: parse, decide, forward, relay.
//!
//! Run: `cargo run --release -p bench --bin dns-bench`.

use controller::dns::{self, GardenSink, Gate, Resolver, Settings};
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Clients asking at once: one (the latency a guest sees on a quiet
/// evening) and 64 (the most the appliance serves, both cores busy).
const LOADS: [usize; 2] = [1, 64];
/// How long each run lasts.
const RUN: Duration = Duration::from_secs(5);

struct Everyone(bool);
impl Gate for Everyone {
    fn logged_in(&self, _: IpAddr) -> bool {
        self.0
    }
}

struct Nowhere;
impl GardenSink for Nowhere {
    fn add(&self, _: Vec<(IpAddr, Duration)>) -> dns::Adding<'_> {
        Box::pin(async {})
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let upstream = stub().await;
        println!("# guests' resolver on loopback ({} cores), {RUN:?} a run", cores());
        for clients in LOADS {
            let direct = run(upstream, clients).await;
            println!("{clients} clients, upstream stub directly: {direct}");
            for (label, logged_in) in [("logged-in guests", true), ("before login (limits checked)", false)] {
                let settings = Settings {
                    portal: Some(("portal.guestwifi.test".into(), Ipv4Addr::new(192, 0, 2, 1))),
                    garden: vec!["garden.test".into()],
                    always: Vec::new(),
                    // One loopback address is every client here: limits that never bite.
                    names_per_minute: 1_000_000,
                    per_second: 1_000_000,
                    burst: 1_000_000,
                    upstream: vec![upstream],
                    upstream_timeout: Duration::from_secs(2),
                };
                let resolver =
                    Resolver::new(settings, Arc::new(Everyone(logged_in)), Arc::new(Nowhere), None, Default::default());
                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let addr = socket.local_addr().unwrap();
                let server = tokio::spawn(dns::serve_udp(socket, resolver));
                let via = run(addr, clients).await;
                server.abort();
                println!("{clients} clients, through the resolver, {label}: {via}");
                println!(
                    "  added latency: p50 {:.0} µs, p99 {:.0} µs",
                    (via.p50 - direct.p50).max(0.0),
                    (via.p99 - direct.p99).max(0.0)
                );
            }
        }
    });
}

struct Figures {
    qps: f64,
    p50: f64,
    p99: f64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0} queries/s, latency p50 {:.0} µs, p99 {:.0} µs", self.qps, self.p50, self.p99)
    }
}

/// `clients` clients asking `server` one query after another for `RUN`.
async fn run(server: SocketAddr, clients: usize) -> Figures {
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for c in 0..clients {
        tasks.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.connect(server).await.unwrap();
            let mut latencies = Vec::new();
            let mut buf = vec![0u8; 4096];
            let mut n = 0u32;
            while Instant::now() < deadline {
                n += 1;
                let query = query(n as u16, &format!("site{}.example.test.", (c as u32 * 7919 + n) % 500));
                let start = Instant::now();
                socket.send(&query).await.unwrap();
                match tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
                    Ok(Ok(_)) => latencies.push(start.elapsed().as_secs_f64() * 1e6),
                    _ => continue,
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    let pick =
        |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0.0);
    Figures { qps: all.len() as f64 / RUN.as_secs_f64(), p50: pick(0.50), p99: pick(0.99) }
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut msg = Message::new();
    msg.set_id(id).set_recursion_desired(true).add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
    msg.to_vec().unwrap()
}

/// An upstream that answers every query with 203.0.113.10 at once.
async fn stub() -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    for _ in 0..2 {
        let socket = socket.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..len]) else { continue };
                let mut reply = Message::new();
                reply.set_id(query.id()).set_message_type(MessageType::Response).add_queries(query.queries().to_vec());
                if let Some(q) = query.queries().first() {
                    let a = RData::A(A(Ipv4Addr::new(203, 0, 113, 10)));
                    reply.add_answer(Record::from_rdata(q.name().clone(), 300, a));
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
    }
    addr
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}
