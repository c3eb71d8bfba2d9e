//! The resolver in-process, with an upstream stub on loopback that answers
//! every A query with 203.0.113.10 (TTL 300) and everything else with an
//! empty NOERROR, and a gate that says who is logged in.

use super::*;
use hickory_proto::op::Query;
use hickory_proto::rr::Name;
use std::str::FromStr;

const GUEST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
const ONLINE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101));

struct OneOnline;
impl Gate for OneOnline {
    fn logged_in(&self, ip: IpAddr) -> bool {
        ip == ONLINE
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(IpAddr, Duration)>>);
impl GardenSink for Recorder {
    fn add(&self, addresses: Vec<(IpAddr, Duration)>) -> crate::dns::Adding<'_> {
        self.0.lock().unwrap().extend(addresses);
        Box::pin(async {})
    }
}

async fn upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            let query = Message::from_vec(&buf[..len]).unwrap();
            let mut reply = Message::new();
            reply.set_id(query.id()).set_message_type(MessageType::Response).add_queries(query.queries().to_vec());
            let q = &query.queries()[0];
            if q.query_type() == RecordType::A {
                let ip = Ipv4Addr::new(203, 0, 113, 10);
                reply.add_answer(Record::from_rdata(q.name().clone(), 300, RData::A(A(ip))));
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
        }
    });
    addr
}
use tokio::net::UdpSocket;

/// The MAC of [`GUEST`] and of its aliases 192.0.2.210 onwards.
const GUEST_MAC: &str = "02:00:00:00:00:64";

fn table() -> Arc<crate::kit::neighbours::FixedNeighbours> {
    let table = Arc::new(crate::kit::neighbours::FixedNeighbours::default());
    let mac = GUEST_MAC.parse().unwrap();
    table.insert(Ipv4Addr::new(192, 0, 2, 100), mac);
    for n in 210..230 {
        table.insert(Ipv4Addr::new(192, 0, 2, n), mac);
    }
    table
}

async fn resolver(names_per_minute: u32) -> (Arc<Resolver>, Arc<Recorder>) {
    resolver_with(names_per_minute, 1000, 1000).await
}

async fn resolver_with(names_per_minute: u32, per_second: u32, burst: u32) -> (Arc<Resolver>, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let settings = Settings {
        portal: Some(("portal.guestwifi.test".into(), Ipv4Addr::new(192, 0, 2, 1))),
        garden: vec!["garden.test".into()],
        always: vec![],
        names_per_minute,
        per_second,
        burst,
        upstream: vec![upstream().await],
        upstream_timeout: Duration::from_secs(2),
    };
    (Resolver::new(settings, Arc::new(OneOnline), recorder.clone(), Some(table()), Family::default()), recorder)
}

fn query(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut msg = Message::new();
    msg.set_id(7).set_recursion_desired(true).add_query(Query::query(Name::from_str(name).unwrap(), qtype));
    msg.to_vec().unwrap()
}

async fn ask(r: &Resolver, peer: IpAddr, name: &str, qtype: RecordType) -> Message {
    Message::from_vec(&r.answer(peer, &query(name, qtype), false).await.unwrap()).unwrap()
}

fn first_a(msg: &Message) -> Option<Ipv4Addr> {
    msg.answers().iter().find_map(|r| match r.data() {
        RData::A(a) => Some(a.0),
        _ => None,
    })
}

#[tokio::test]
async fn the_portal_name_is_answered_here_for_everyone() {
    let (r, _) = resolver(5).await;
    let reply = ask(&r, GUEST, "Portal.GuestWifi.test.", RecordType::A).await;
    assert_eq!(first_a(&reply), Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert!(reply.authoritative() && reply.id() == 7);
    let v6 = ask(&r, GUEST, "portal.guestwifi.test.", RecordType::AAAA).await;
    assert_eq!((v6.response_code(), v6.answers().len()), (ResponseCode::NoError, 0));
}

#[tokio::test]
async fn before_login_only_a_and_aaaa_and_a_few_names_a_minute() {
    let (r, _) = resolver(5).await;
    let txt = ask(&r, GUEST, "tunnel.example.test.", RecordType::TXT).await;
    assert_eq!(txt.response_code(), ResponseCode::Refused, "TXT is a tunnel's favourite");
    for i in 0..5 {
        let reply = ask(&r, GUEST, &format!("site{i}.example.test."), RecordType::A).await;
        assert_eq!(first_a(&reply), Some(Ipv4Addr::new(203, 0, 113, 10)), "name {i}");
    }
    let again = ask(&r, GUEST, "site0.example.test.", RecordType::AAAA).await;
    assert_eq!(again.response_code(), ResponseCode::NoError, "a name already counted is answered again");
    let sixth = ask(&r, GUEST, "x9f3a.t.example.test.", RecordType::A).await;
    assert_eq!(sixth.response_code(), ResponseCode::Refused, "the sixth distinct name this minute");
    // The OS probes and the walled garden are answered whatever the count.
    let probe = ask(&r, GUEST, "captive.apple.com.", RecordType::A).await;
    assert_eq!(probe.response_code(), ResponseCode::NoError);
    let garden = ask(&r, GUEST, "cdn.garden.test.", RecordType::A).await;
    assert_eq!(first_a(&garden), Some(Ipv4Addr::new(203, 0, 113, 10)));
    let counts: HashMap<&str, u64> = r.counts().into_iter().map(|(v, n)| (v.as_str(), n)).collect();
    assert_eq!((counts["refused_type"], counts["refused_names"], counts["garden"]), (1, 1, 2));
}

#[tokio::test]
async fn twenty_addresses_on_one_card_share_one_budget_of_names() {
    let (r, _) = resolver(5).await;
    let mut answered = 0;
    for n in 210..230u8 {
        for k in 0..5 {
            let alias = IpAddr::V4(Ipv4Addr::new(192, 0, 2, n));
            let reply = ask(&r, alias, &format!("a{n}n{k}.t.example.test."), RecordType::A).await;
            answered += usize::from(reply.response_code() == ResponseCode::NoError);
        }
    }
    assert_eq!(answered, 5, "one device, one budget, whichever address it asks from");
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 150));
    let reply = ask(&r, other, "mine.example.test.", RecordType::A).await;
    assert_eq!(reply.response_code(), ResponseCode::NoError, "another device has its own");
}

#[tokio::test]
async fn garden_and_probe_names_are_within_the_rate_too() {
    let (r, _) = resolver_with(40, 1, 3).await;
    let mut codes = Vec::new();
    for i in 0..10 {
        let name = if i % 2 == 0 { "captive.apple.com.".to_string() } else { format!("c{i}.garden.test.") };
        codes.push(ask(&r, GUEST, &name, RecordType::A).await.response_code());
    }
    let refused = codes.iter().filter(|c| **c == ResponseCode::Refused).count();
    assert_eq!(refused, 7, "a burst of 3, then refused: {codes:?}");
    let counts: HashMap<&str, u64> = r.counts().into_iter().map(|(v, n)| (v.as_str(), n)).collect();
    assert_eq!((counts["garden"], counts["refused_rate"]), (3, 7));
}

#[tokio::test]
async fn after_login_there_is_no_limit() {
    let (r, _) = resolver(1).await;
    let txt = ask(&r, ONLINE, "anything.example.test.", RecordType::TXT).await;
    assert_eq!(txt.response_code(), ResponseCode::NoError);
    for i in 0..20 {
        let reply = ask(&r, ONLINE, &format!("n{i}.example.test."), RecordType::A).await;
        assert_eq!(reply.response_code(), ResponseCode::NoError);
    }
}

#[tokio::test]
async fn a_garden_names_answers_open_the_garden_for_their_ttl() {
    let (r, recorder) = resolver(5).await;
    ask(&r, GUEST, "img.cdn.garden.test.", RecordType::A).await;
    ask(&r, GUEST, "notgarden.test.", RecordType::A).await;
    let got = recorder.0.lock().unwrap().clone();
    assert_eq!(got, vec![(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)), Duration::from_secs(300))]);
}

#[tokio::test]
async fn garbage_is_dropped_and_a_dead_upstream_is_a_servfail() {
    let (r, _) = resolver(5).await;
    assert_eq!(r.answer(GUEST, b"\x00\x01garbage", false).await, None);
    let dead = Settings {
        upstream: vec!["127.0.0.1:9".parse().unwrap()],
        upstream_timeout: Duration::from_millis(200),
        ..r.settings.clone()
    };
    let r = Resolver::new(dead, Arc::new(OneOnline), Arc::new(Recorder::default()), None, Family::default());
    let reply = ask(&r, ONLINE, "example.test.", RecordType::A).await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
}
