//! Cluster DNS benchmark: queries per second answered from the index for Service names.
//!
//! Fills a zone with `--services N` ClusterIP Services (no API server), then measures
//! 1. the handler alone (decode, lookup, encode; no sockets) on one thread;
//! 2. UDP on loopback with the server on one thread (current-thread runtime) and
//!    `--clients C` client tasks on another runtime, plus the server thread's CPU time per
//!    query (the one-core capacity is 1 / that);
//! 3. UDP on loopback with the server on a multi-thread runtime.
//!
//! Prints a markdown table. Usage:
//! `dns-bench [--services 1000] [--clients 16] [--seconds 5]`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use rkube_dns::fixtures::service;
use rkube_dns::{Forwarder, Handler, Server, Zone};
use tokio::net::UdpSocket;

struct Args {
    services: usize,
    clients: usize,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        services: 1000,
        clients: 16,
        seconds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let n: u64 = value.parse().map_err(|e| format!("{flag} {value}: {e}"))?;
        match flag.as_str() {
            "--services" => args.services = n.max(1) as usize,
            "--clients" => args.clients = n.max(1) as usize,
            "--seconds" => args.seconds = n.max(1),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn zone(services: usize) -> Zone {
    let zone = Zone::new("cluster.local", 30).expect("valid domain");
    zone.update(|idx| {
        for i in 0..services {
            let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
            let ns = format!("ns-{}", i % 20);
            idx.apply_service(&service(
                &ns,
                &format!("svc-{i}"),
                &[&ip],
                &[("http", "TCP", 80)],
            ));
        }
    });
    zone
}

/// Encoded A queries for every Service name.
fn queries(services: usize) -> Vec<Vec<u8>> {
    (0..services)
        .map(|i| {
            let name = format!("svc-{i}.ns-{}.svc.cluster.local.", i % 20);
            let mut m = Message::new(0, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = true;
            m.queries.push(Query::query(
                Name::from_ascii(name).expect("valid name"),
                RecordType::A,
            ));
            m.to_vec().expect("encodable")
        })
        .collect()
}

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn bench_handler(zone: &Zone, qs: &[Vec<u8>], seconds: u64, cached: bool) -> (u64, Duration) {
    let mut handler = Handler::new(zone.clone(), Forwarder::new(Vec::new()));
    if !cached {
        handler = handler.without_cache();
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut n = 0u64;
    while Instant::now() < deadline {
        for q in qs.iter().take(1000) {
            let reply = futures::executor::block_on(handler.respond(q, true));
            assert!(reply.is_some_and(|r| r.len() > q.len()), "no answer");
            n += 1;
        }
    }
    (n, start.elapsed())
}

/// Client tasks each asking one question at a time until `stop`; returns answers.
async fn clients(
    addr: SocketAddr,
    qs: Arc<Vec<Vec<u8>>>,
    count: usize,
    stop: Arc<AtomicBool>,
) -> u64 {
    let total = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..count {
        let (qs, stop, total) = (qs.clone(), stop.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let sock = UdpSocket::bind("127.0.0.1:0").await.expect("client socket");
            sock.connect(addr).await.expect("connect");
            let mut buf = vec![0u8; 1500];
            let mut i = c * 7919;
            let mut answered = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut q = qs[i % qs.len()].clone();
                let id = (i & 0xffff) as u16;
                q[..2].copy_from_slice(&id.to_be_bytes());
                i += 1;
                if sock.send(&q).await.is_err() {
                    continue;
                }
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await
                {
                    if n > 12 && buf[..2] == id.to_be_bytes() {
                        answered += 1;
                    }
                }
            }
            total.fetch_add(answered, Ordering::Relaxed);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    total.load(Ordering::Relaxed)
}

/// Sends every datagram straight back: the socket and runtime cost with no DNS work.
async fn echo_loop(sock: UdpSocket) {
    let mut buf = vec![0u8; 1500];
    while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
        let _ = sock.send_to(&buf[..n], peer).await;
    }
}

struct UdpResult {
    answered: u64,
    elapsed: Duration,
    server_cpu: Duration,
}

/// Server on its own thread (`server_threads` = 1: current-thread runtime), clients on
/// a separate two-thread runtime.
fn bench_udp(
    zone: &Zone,
    qs: &[Vec<u8>],
    args: &Args,
    server_threads: usize,
    echo: bool,
) -> UdpResult {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let server_stop = stop.clone();
    let zone = zone.clone();
    let server = std::thread::spawn(move || {
        let rt = if server_threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(server_threads)
                .enable_all()
                .build()
        }
        .expect("runtime");
        let cpu0 = thread_cpu();
        rt.block_on(async move {
            let handler = Handler::new(zone, Forwarder::new(Vec::new()));
            let listen: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().expect("addr")];
            let mut _server = None;
            if echo {
                let sock = UdpSocket::bind(listen[0]).await.expect("echo binds");
                let _ = addr_tx.send(sock.local_addr().expect("bound"));
                tokio::spawn(echo_loop(sock));
            } else {
                let server = Server::start_with(handler, &listen, server_threads.max(1) * 2)
                    .await
                    .expect("server binds");
                let _ = addr_tx.send(server.local_addrs()[0]);
                _server = Some(server);
            }
            while !server_stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        thread_cpu().saturating_sub(cpu0)
    });
    let addr = addr_rx.recv().expect("server address");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let qs = Arc::new(qs.to_vec());
    let start = Instant::now();
    let timer_stop = stop.clone();
    let seconds = args.seconds;
    let answered = rt.block_on(async move {
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            timer_stop.store(true, Ordering::Relaxed);
        });
        let n = clients(addr, qs, args.clients, stop).await;
        let _ = timer.await;
        n
    });
    let elapsed = start.elapsed();
    let server_cpu = server.join().unwrap_or(Duration::ZERO);
    UdpResult {
        answered,
        elapsed,
        server_cpu,
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "dns-bench: {e}\nusage: dns-bench [--services N] [--clients C] [--seconds S]"
            );
            std::process::exit(2);
        }
    };
    let zone = zone(args.services);
    let qs = queries(args.services);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let command: Vec<String> = std::env::args().collect();

    let (n, t) = bench_handler(&zone, &qs, args.seconds, true);
    let handler_qps = n as f64 / t.as_secs_f64();
    let (un, ut) = bench_handler(&zone, &qs, args.seconds, false);
    let uncached_qps = un as f64 / ut.as_secs_f64();
    let echo = bench_udp(&zone, &qs, &args, 1, true);
    let one = bench_udp(&zone, &qs, &args, 1, false);
    let multi = bench_udp(&zone, &qs, &args, cores.clamp(2, 4), false);

    let qps = |r: &UdpResult| r.answered as f64 / r.elapsed.as_secs_f64();
    let cpu_us = |r: &UdpResult| r.server_cpu.as_secs_f64() * 1e6 / (r.answered.max(1) as f64);

    println!("## Cluster DNS benchmark\n");
    println!("- machine: {} ({cores} cores visible), Linux", cpu_model());
    println!("- build: {profile}");
    println!("- command: `{}`", command.join(" "));
    println!(
        "- zone: {} ClusterIP Services in 20 namespaces; A queries for `svc-N.ns-M.svc.cluster.local`, {} client tasks, {} s per row\n",
        args.services, args.clients, args.seconds
    );
    println!(
        "| mode | answered | qps | server CPU per query | one-core capacity (1 / CPU per query) |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| handler only, answer cache hit (one thread, no sockets) | {n} | {handler_qps:.0} | {:.2} µs | {handler_qps:.0} qps |",
        1e6 / handler_qps
    );
    println!(
        "| handler only, uncached: decode + index lookup + encode (one thread, no sockets) | {un} | {uncached_qps:.0} | {:.2} µs | {uncached_qps:.0} qps |",
        1e6 / uncached_qps
    );
    let echo_cpu = cpu_us(&echo);
    println!(
        "| baseline: UDP echo (no DNS work), one thread | {} | {:.0} | {echo_cpu:.2} µs | {:.0} qps |",
        echo.answered,
        qps(&echo),
        1e6 / echo_cpu.max(0.001)
    );
    let one_cpu = cpu_us(&one);
    println!(
        "| UDP loopback, server on one thread (current-thread runtime) | {} | {:.0} | {one_cpu:.2} µs | {:.0} qps |",
        one.answered,
        qps(&one),
        1e6 / one_cpu.max(0.001)
    );
    println!(
        "| UDP loopback, server on {}-thread runtime | {} | {:.0} | – | – |",
        cores.clamp(2, 4),
        multi.answered,
        qps(&multi)
    );
}
