//! The guests' resolver. dnsmasq keeps DHCP; the controller answers guests'
//! DNS itself because it knows who is logged in:
//!
//! - the portal's name is answered here, for everyone;
//! - a logged-in guest's queries are forwarded upstream without limits;
//! - before login, every query is within a per-device rate; the walled
//!   garden and the OS captive-probe hosts are then always answered;
//!   anything else must be A or AAAA (others are refused), within a small
//!   number of distinct names a minute: enough for a browser and the OS
//!   probes, far too few for a DNS tunnel (iodine and the like need
//!   thousands);
//! - every address a walled-garden name (or a subdomain of it) resolves to,
//!   CDN answers included, is let through the firewall for the answer's TTL.
//!
//! A device is the MAC behind the query's source address (the kernel's
//! neighbour table; the gateway drops an address that is not the MAC's
//! lease before it gets here), so twenty addresses on one card share one
//! budget. A logged-in guest's address is pinned to its MAC in the kernel,
//! so another device cannot borrow it and get the answers.

mod server;

pub use server::{serve_tcp, serve_udp};

use crate::kit::limits::Device;
use crate::kit::neighbours::Neighbours;
use crate::metrics::VerdictLabel;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The hosts the operating systems' captive-portal checks ask for: always
/// answered, so a phone notices the portal and opens its login window.
pub const PROBE_HOSTS: &[&str] = &[
    "captive.apple.com",
    "www.apple.com",
    "connectivitycheck.gstatic.com",
    "connectivitycheck.android.com",
    "clients3.google.com",
    "www.google.com",
    "www.msftconnecttest.com",
    "www.msftncsi.com",
    "dns.msftncsi.com",
    "detectportal.firefox.com",
    "connect.rom.miui.com",
    "connectivitycheck.platform.hicloud.com",
    "wifi.vivo.com.cn",
    "conn1.oppomobile.com",
];

/// TTL of the portal name's answer.
const PORTAL_TTL: u32 = 60;
/// How long the distinct names of a device are counted.
const NAME_WINDOW: Duration = Duration::from_secs(60);

/// Whether an address belongs to a logged-in guest.
pub trait Gate: Send + Sync {
    /// True when `ip` has a live session.
    fn logged_in(&self, ip: IpAddr) -> bool;
}

impl Gate for crate::sessions::Sessions {
    fn logged_in(&self, ip: IpAddr) -> bool {
        self.holder(ip).is_some()
    }
}

/// What [`GardenSink::add`] returns.
pub type Adding<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Where walled-garden addresses from answers go.
pub trait GardenSink: Send + Sync {
    /// Lets every guest reach `addresses`, each for its TTL; done when the
    /// kernel has them.
    fn add(&self, addresses: Vec<(IpAddr, Duration)>) -> Adding<'_>;
}

impl GardenSink for firewall::Firewall {
    fn add(&self, addresses: Vec<(IpAddr, Duration)>) -> Adding<'_> {
        Box::pin(async move {
            if let Err(err) = self.add_garden(addresses).await {
                tracing::warn!(error = %err, "walled-garden addresses from an answer not added");
            }
        })
    }
}

/// Longest an answer waits for its garden addresses to reach the kernel.
const GARDEN_WAIT: Duration = Duration::from_millis(500);

/// What the resolver enforces.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The portal's host name (answered here) and address.
    pub portal: Option<(String, Ipv4Addr)>,
    /// Walled-garden names; their subdomains count too.
    pub garden: Vec<String>,
    /// More names answered before login, besides [`PROBE_HOSTS`].
    pub always: Vec<String>,
    /// Distinct names a device may ask for in a minute before login.
    pub names_per_minute: u32,
    /// Queries per second a device may make before login, sustained.
    pub per_second: u32,
    /// ... and in a burst.
    pub burst: u32,
    /// Upstream resolvers, tried in order.
    pub upstream: Vec<SocketAddr>,
    /// How long an upstream has to answer before the next is tried.
    pub upstream_timeout: Duration,
}

/// Why a query was answered the way it was (the metrics' label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answered by the controller (the portal's name).
    Local,
    /// Forwarded for a logged-in guest.
    LoggedIn,
    /// Forwarded before login: walled garden or an OS probe host.
    Garden,
    /// Forwarded before login, within the limits.
    Allowed,
    /// Refused: a type other than A/AAAA before login.
    RefusedType,
    /// Refused: the device's query rate before login.
    RefusedRate,
    /// Refused: the device's distinct names a minute before login.
    RefusedNames,
    /// No upstream answered.
    Failed,
}

impl Verdict {
    /// Every verdict, for the metrics.
    pub const ALL: [Verdict; 8] = [
        Verdict::Local,
        Verdict::LoggedIn,
        Verdict::Garden,
        Verdict::Allowed,
        Verdict::RefusedType,
        Verdict::RefusedRate,
        Verdict::RefusedNames,
        Verdict::Failed,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Local => "local",
            Verdict::LoggedIn => "logged_in",
            Verdict::Garden => "garden",
            Verdict::Allowed => "allowed",
            Verdict::RefusedType => "refused_type",
            Verdict::RefusedRate => "refused_rate",
            Verdict::RefusedNames => "refused_names",
            Verdict::Failed => "failed",
        }
    }
}

/// Where the names logged-in guests resolve are noted (the access log's
/// optional domain log): called on the query's path with the peer and the
/// normalised name, so it must not wait.
pub type Resolved = Arc<dyn Fn(IpAddr, &str) + Send + Sync>;

/// The resolver: decides, answers locally or forwards.
pub struct Resolver {
    settings: Settings,
    gate: Arc<dyn Gate>,
    garden_sink: Arc<dyn GardenSink>,
    always: HashSet<String>,
    neighbours: Option<Arc<dyn Neighbours>>,
    rate: DefaultKeyedRateLimiter<Device>,
    names: Mutex<HashMap<Device, NameWindow>>,
    counter: Family<VerdictLabel, Counter>,
    /// The domain log, when the site keeps one.
    resolved: std::sync::OnceLock<Resolved>,
}

struct NameWindow {
    started: Instant,
    names: HashSet<String>,
}

enum Decision {
    Answer(Vec<u8>),
    Forward { garden: bool },
}

impl Resolver {
    /// A resolver with `settings`, asking `gate` who is logged in and
    /// `neighbours` (the guest network's table) which device an address is.
    /// Queries are counted in `counter` (the metrics' family, or a fresh one).
    pub fn new(
        settings: Settings,
        gate: Arc<dyn Gate>,
        garden_sink: Arc<dyn GardenSink>,
        neighbours: Option<Arc<dyn Neighbours>>,
        counter: Family<VerdictLabel, Counter>,
    ) -> Arc<Self> {
        let quota = Quota::per_second(NonZeroU32::new(settings.per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN));
        let always =
            PROBE_HOSTS.iter().map(|h| h.to_string()).chain(settings.always.iter().map(|n| normalise(n))).collect();
        let resolver = Arc::new(Resolver {
            settings,
            gate,
            garden_sink,
            always,
            neighbours,
            rate: RateLimiter::keyed(quota),
            names: Mutex::default(),
            counter,
            resolved: std::sync::OnceLock::new(),
        });
        // Forget devices that went quiet, so memory stays bounded.
        let weak = Arc::downgrade(&resolver);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(NAME_WINDOW).await;
                let Some(r) = weak.upgrade() else { break };
                r.rate.retain_recent();
                r.names.lock().unwrap().retain(|_, w| w.started.elapsed() < NAME_WINDOW);
            }
        });
        resolver
    }

    /// Notes each name a logged-in guest resolves in `log` from now on (set once).
    pub fn log_names(&self, log: Resolved) {
        let _ = self.resolved.set(log);
    }

    /// The device behind a peer address, as every per-device limit counts it.
    pub fn device(&self, ip: IpAddr) -> Device {
        Device::of(self.neighbours.as_deref(), ip)
    }

    /// Queries answered so far, by verdict.
    pub fn counts(&self) -> Vec<(Verdict, u64)> {
        Verdict::ALL.iter().map(|v| (*v, self.counter.get_or_create(&label(*v)).get())).collect()
    }

    /// The answer to `query` from `peer`; None for something that is not a
    /// DNS query at all (dropped).
    pub async fn answer(&self, peer: IpAddr, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let msg = Message::from_vec(query).ok()?;
        if msg.message_type() != MessageType::Query {
            return None;
        }
        let (verdict, decision) = self.decide(peer, &msg);
        let reply = match decision {
            Decision::Answer(bytes) => Some(bytes),
            Decision::Forward { garden } => match server::forward(&self.settings, query, tcp).await {
                Some(bytes) => {
                    if garden {
                        // The answer goes out once the kernel lets guests reach
                        // its addresses: the app's first connection must not
                        // land on the portal.
                        let _ = tokio::time::timeout(GARDEN_WAIT, self.learn_garden(&bytes)).await;
                    }
                    Some(bytes)
                }
                None => {
                    self.count(Verdict::Failed);
                    return error(&msg, ResponseCode::ServFail);
                }
            },
        };
        self.count(verdict);
        reply
    }

    fn count(&self, verdict: Verdict) {
        self.counter.get_or_create(&label(verdict)).inc();
    }

    fn decide(&self, peer: IpAddr, msg: &Message) -> (Verdict, Decision) {
        let refuse = |v: Verdict| (v, Decision::Answer(error(msg, ResponseCode::Refused).unwrap_or_default()));
        let Some(question) = msg.queries().first().filter(|_| msg.op_code() == OpCode::Query) else {
            return refuse(Verdict::RefusedType);
        };
        let name = normalise(&question.name().to_ascii());
        let qtype = question.query_type();
        if let Some((host, ip)) = &self.settings.portal {
            if name == *host {
                return (Verdict::Local, Decision::Answer(portal_answer(msg, qtype, *ip)));
            }
        }
        let garden = self.in_garden(&name);
        if self.gate.logged_in(peer) {
            if let Some(log) = self.resolved.get() {
                log(peer, &name);
            }
            return (Verdict::LoggedIn, Decision::Forward { garden });
        }
        // The rate holds for the garden and the probes too: a flood of
        // garden names is still a flood (and each answer costs a firewall
        // transaction).
        let device = self.device(peer);
        if self.rate.check_key(&device).is_err() {
            return refuse(Verdict::RefusedRate);
        }
        if garden || self.always.contains(&name) {
            return (Verdict::Garden, Decision::Forward { garden });
        }
        if !matches!(qtype, RecordType::A | RecordType::AAAA) {
            return refuse(Verdict::RefusedType);
        }
        let mut names = self.names.lock().unwrap();
        let window =
            names.entry(device).or_insert_with(|| NameWindow { started: Instant::now(), names: HashSet::new() });
        if window.started.elapsed() >= NAME_WINDOW {
            *window = NameWindow { started: Instant::now(), names: HashSet::new() };
        }
        if !window.names.contains(&name) {
            if window.names.len() >= self.settings.names_per_minute as usize {
                return refuse(Verdict::RefusedNames);
            }
            window.names.insert(name);
        }
        (Verdict::Allowed, Decision::Forward { garden: false })
    }

    fn in_garden(&self, name: &str) -> bool {
        self.settings
            .garden
            .iter()
            .any(|g| name == g || name.strip_suffix(g.as_str()).is_some_and(|p| p.ends_with('.')))
    }

    /// Every A/AAAA in a garden name's answer goes into the garden sets.
    async fn learn_garden(&self, response: &[u8]) {
        let Ok(msg) = Message::from_vec(response) else { return };
        let addresses: Vec<(IpAddr, Duration)> = msg
            .answers()
            .iter()
            .filter_map(|r| {
                let ttl = Duration::from_secs(u64::from(r.ttl()).clamp(30, 86_400));
                match r.data() {
                    RData::A(a) => Some((IpAddr::V4(a.0), ttl)),
                    RData::AAAA(a) => Some((IpAddr::V6(a.0), ttl)),
                    _ => None,
                }
            })
            .collect();
        if !addresses.is_empty() {
            self.garden_sink.add(addresses).await;
        }
    }
}

fn label(verdict: Verdict) -> VerdictLabel {
    VerdictLabel { verdict: verdict.as_str().to_string() }
}

/// Lower case, no trailing dot.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn error(query: &Message, code: ResponseCode) -> Option<Vec<u8>> {
    let mut reply = Message::error_msg(query.id(), query.op_code(), code);
    reply.add_queries(query.queries().iter().cloned());
    reply.set_recursion_desired(query.recursion_desired()).set_recursion_available(true);
    reply.to_vec().ok()
}

fn portal_answer(query: &Message, qtype: RecordType, ip: Ipv4Addr) -> Vec<u8> {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .add_queries(query.queries().iter().cloned());
    if let Some(q) = query.queries().first() {
        match qtype {
            RecordType::A | RecordType::ANY => {
                reply.add_answer(Record::from_rdata(q.name().clone(), PORTAL_TTL, RData::A(A(ip))));
            }
            // The portal has no IPv6 address: an empty answer, not an error.
            _ => {}
        }
    }
    reply.to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests;
