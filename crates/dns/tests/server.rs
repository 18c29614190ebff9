//! The DNS server over real sockets on loopback: zone answers over UDP and TCP, and
//! forwarding to a fake upstream started here.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rkube_dns::fixtures::{external, headless, service, slice};
use rkube_dns::{Forwarder, Server, Zone};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn query(id: u16, qname: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.queries
        .push(Query::query(Name::from_ascii(qname).unwrap(), qtype));
    m
}

async fn ask_udp(server: SocketAddr, msg: &Message) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&msg.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
        .await
        .expect("udp answer in time")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

async fn ask_tcp(server: SocketAddr, msg: &Message) -> Message {
    let mut s = TcpStream::connect(server).await.unwrap();
    let bytes = msg.to_vec().unwrap();
    s.write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .unwrap();
    s.write_all(&bytes).await.unwrap();
    let len = s.read_u16().await.unwrap();
    let mut buf = vec![0u8; len as usize];
    s.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn texts(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

fn filled_zone() -> Zone {
    let zone = Zone::new("cluster.local", 30).unwrap();
    zone.update(|i| {
        i.apply_service(&service(
            "default",
            "kubernetes",
            &["10.96.0.1"],
            &[("https", "TCP", 443)],
        ));
        i.apply_service(&headless("default", "db", &[("pg", "TCP", 5432)], false));
        let eps: Vec<(String, Option<&str>, bool)> = (1..=200)
            .map(|n| (format!("10.1.{}.{}", n / 250, n % 250 + 1), None, true))
            .collect();
        let eps: Vec<_> = eps.iter().map(|(ip, h, r)| (ip.as_str(), *h, *r)).collect();
        i.apply_slice(&slice(
            "default",
            "db",
            "db-1",
            "IPv4",
            &eps,
            &[("pg", "TCP", 5432)],
        ));
        i.apply_service(&external("default", "ext", "outside.example."));
    });
    zone
}

/// A fake upstream: answers A 192.0.2.<n> on UDP (or only TC when `truncate`) and the
/// full answer on TCP; counts the questions it gets.
struct FakeUpstream {
    addr: SocketAddr,
    seen: Arc<AtomicUsize>,
}

fn upstream_answer(req: &Message, truncated: bool) -> Vec<u8> {
    let mut resp = Message::response(req.metadata.id, OpCode::Query);
    resp.metadata.recursion_available = true;
    resp.queries = req.queries.clone();
    if truncated {
        resp.metadata.truncation = true;
    } else if let Some(q) = req.queries.first() {
        for n in 1..=3 {
            resp.answers.push(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, n))),
            ));
        }
    }
    resp.to_vec().unwrap()
}

async fn fake_upstream(truncate: bool) -> FakeUpstream {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
            s.fetch_add(1, Ordering::SeqCst);
            let req = Message::from_vec(&buf[..n]).unwrap();
            udp.send_to(&upstream_answer(&req, truncate), peer)
                .await
                .unwrap();
        }
    });
    tokio::spawn(async move {
        loop {
            let (mut c, _) = tcp.accept().await.unwrap();
            let len = c.read_u16().await.unwrap();
            let mut buf = vec![0u8; len as usize];
            c.read_exact(&mut buf).await.unwrap();
            let req = Message::from_vec(&buf).unwrap();
            let resp = upstream_answer(&req, false);
            c.write_all(&(resp.len() as u16).to_be_bytes())
                .await
                .unwrap();
            c.write_all(&resp).await.unwrap();
        }
    });
    FakeUpstream { addr, seen }
}

async fn start(zone: Zone, upstreams: Vec<SocketAddr>) -> Server {
    let fwd = Forwarder::new(upstreams).with_timeout(Duration::from_millis(300));
    Server::start(zone, fwd, &["127.0.0.1:0".parse().unwrap()])
        .await
        .unwrap()
}

#[tokio::test]
async fn answers_zone_names_over_udp_and_tcp() {
    let up = fake_upstream(false).await;
    let server = start(filled_zone(), vec![up.addr]).await;
    let addr = server.local_addrs()[0];

    let r = ask_udp(
        addr,
        &query(7, "Kubernetes.Default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(r.metadata.id, 7);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert!(r.metadata.recursion_desired);
    assert_eq!(texts(&r), vec!["10.96.0.1"]);
    assert_eq!(
        r.queries,
        query(7, "Kubernetes.Default.svc.cluster.local.", RecordType::A).queries
    );

    let r = ask_tcp(
        addr,
        &query(
            8,
            "_https._tcp.kubernetes.default.svc.cluster.local.",
            RecordType::SRV,
        ),
    )
    .await;
    assert_eq!(
        texts(&r),
        vec!["0 100 443 kubernetes.default.svc.cluster.local."]
    );
    assert_eq!(r.additionals.len(), 1);

    let r = ask_udp(
        addr,
        &query(9, "missing.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(r.authorities[0].record_type(), RecordType::SOA);

    let r = ask_udp(
        addr,
        &query(10, "kubernetes.default.svc.cluster.local.", RecordType::MX),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities[0].record_type(), RecordType::SOA);

    let r = ask_udp(addr, &query(11, "1.0.96.10.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(texts(&r), vec!["kubernetes.default.svc.cluster.local."]);

    // Nothing of the zone ever reached the upstream.
    assert_eq!(up.seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn large_answers_truncate_on_udp_and_come_whole_over_tcp() {
    let server = start(filled_zone(), vec![]).await;
    let addr = server.local_addrs()[0];
    let q = query(21, "db.default.svc.cluster.local.", RecordType::A);
    let r = ask_udp(addr, &q).await;
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    let r = ask_tcp(addr, &q).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 200);

    // With EDNS the client takes up to 1232 bytes: still too small for 200 records.
    let mut q = query(22, "db.default.svc.cluster.local.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.edns = Some(edns);
    let r = ask_udp(addr, &q).await;
    assert!(r.metadata.truncation);
    assert!(r.edns.is_some());
}

#[tokio::test]
async fn forwards_other_names_upstream() {
    let up = fake_upstream(false).await;
    let server = start(filled_zone(), vec![up.addr]).await;
    let addr = server.local_addrs()[0];
    let r = ask_udp(addr, &query(0x4242, "www.example.org.", RecordType::A)).await;
    assert_eq!(r.metadata.id, 0x4242);
    assert_eq!(texts(&r), vec!["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
    assert_eq!(up.seen.load(Ordering::SeqCst), 1);

    let r = ask_tcp(addr, &query(0x4343, "www.example.org.", RecordType::A)).await;
    assert_eq!(r.metadata.id, 0x4343);
    assert_eq!(r.answers.len(), 3);

    // An ExternalName's target outside the zone is resolved upstream and appended.
    let r = ask_udp(
        addr,
        &query(5, "ext.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        texts(&r),
        vec!["outside.example.", "192.0.2.1", "192.0.2.2", "192.0.2.3"]
    );
}

#[tokio::test]
async fn truncated_upstream_answer_is_retried_over_tcp() {
    let up = fake_upstream(true).await;
    let server = start(filled_zone(), vec![up.addr]).await;
    let addr = server.local_addrs()[0];
    let r = ask_udp(addr, &query(77, "big.example.org.", RecordType::A)).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.metadata.id, 77);
    assert_eq!(r.answers.len(), 3);
}

#[tokio::test]
async fn servfail_when_no_upstream_answers() {
    // A bound socket that never replies, then nothing at all.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = start(filled_zone(), vec![silent.local_addr().unwrap()]).await;
    let addr = server.local_addrs()[0];
    let r = ask_udp(addr, &query(99, "www.example.org.", RecordType::A)).await;
    assert_eq!(r.metadata.id, 99);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);

    let server = start(filled_zone(), vec![]).await;
    let r = ask_udp(
        server.local_addrs()[0],
        &query(98, "www.example.org.", RecordType::A),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn garbage_gets_formerr_and_responses_are_ignored() {
    let server = start(filled_zone(), vec![]).await;
    let addr = server.local_addrs()[0];
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A header claiming one question, then nothing.
    sock.send_to(&[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff], addr)
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(r.metadata.id, 0x1234);
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);

    // A response sent to us gets no reply (no reflection loops); the next query still works.
    let mut resp = query(1, "x.example.", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    sock.send_to(&resp.to_vec().unwrap(), addr).await.unwrap();
    let q = query(2, "kubernetes.default.svc.cluster.local.", RecordType::A);
    sock.send_to(&q.to_vec().unwrap(), addr).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Message::from_vec(&buf[..n]).unwrap().metadata.id, 2);
}

#[tokio::test]
async fn watcher_updates_reach_repeated_questions() {
    let zone = filled_zone();
    let server = start(zone.clone(), vec![]).await;
    let addr = server.local_addrs()[0];
    let q = query(31, "late.default.svc.cluster.local.", RecordType::A);
    for _ in 0..2 {
        let r = ask_udp(addr, &q).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    }
    zone.update(|i| i.apply_service(&service("default", "late", &["10.96.7.7"], &[])));
    let r = ask_udp(addr, &q).await;
    assert_eq!(texts(&r), vec!["10.96.7.7"]);
    // Same question, new id: the id is the asker's, not the first asker's.
    let r = ask_tcp(
        addr,
        &query(32, "late.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(r.metadata.id, 32);
    assert_eq!(texts(&r), vec!["10.96.7.7"]);
    zone.update(|i| i.delete_service(&service("default", "late", &[], &[])));
    let r = ask_udp(addr, &q).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
}
