//! Measures full and incremental syncs for large service counts in a table of its own
//! (`rkube-proxy-bench-<pid>`, deleted at the end). Needs root and nft.
//!
//! Usage: proxy-bench [SERVICES...]   (default: 1000 10000), 10 endpoints each;
//!        proxy-bench --dump N           prints the full script for N services.
//! Prints a markdown table.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rkube_proxy::{
    build, cleanup, Endpoint, Protocol, Proxier, ProxyMetrics, ServicePort, Snapshot,
};

const ENDPOINTS: usize = 10;
const INCREMENTAL_ROUNDS: usize = 30;

fn service(i: usize, generation: usize) -> ServicePort {
    let ip = |base: u32, n: u32| Ipv4Addr::from(base + n);
    let cluster = u32::from(Ipv4Addr::new(10, 96, 0, 0));
    let pods = u32::from(Ipv4Addr::new(10, 128, 0, 0));
    ServicePort {
        namespace: "bench".into(),
        name: format!("svc-{i}"),
        port_name: "http".into(),
        protocol: Protocol::Tcp,
        cluster_ip: ip(cluster, i as u32 + 1),
        port: 80,
        node_port: Some(30000 + (i % 2768) as u16).filter(|_| i < 2768),
        external_ips: vec![],
        affinity_timeout: None,
        external_local: false,
        internal_local: false,
        endpoints: (0..ENDPOINTS)
            .map(|e| {
                // Every generation moves one endpoint, like a pod being replaced.
                let slot = if e == 0 { generation } else { e };
                Endpoint::ready(ip(pods, (i * 64 + slot % 64) as u32), 8080)
            })
            .collect(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn percentile(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    let rank = (p * v.len()).div_ceil(100).max(1);
    v[rank - 1]
}

struct Row {
    services: usize,
    full_render: Duration,
    full_sync: Duration,
    full_bytes: usize,
    incr_render: Vec<Duration>,
    incr_sync: Vec<Duration>,
}

fn bench(table: &str, n: usize) -> Result<Row, rkube_proxy::ProxyError> {
    let mut snap = Snapshot {
        cluster_cidr: Some("10.128.0.0/9".into()),
        node_ips: vec![Ipv4Addr::new(10, 252, 0, 1)],
        services: (0..n).map(|i| service(i, 0)).collect(),
        ..Snapshot::new(table)
    };
    let start = Instant::now();
    let full_bytes = build(&snap).full_script().len();
    let full_render = start.elapsed();

    let mut proxier = Proxier::new(ProxyMetrics::new());
    let full_sync = proxier.sync(&snap)?.duration;

    let mut incr_render = Vec::new();
    let mut incr_sync = Vec::new();
    let mut applied = build(&snap);
    for round in 1..=INCREMENTAL_ROUNDS {
        let i = (round * 7919) % n;
        snap.services[i] = service(i, ENDPOINTS + round);
        let start = Instant::now();
        let next = build(&snap);
        let _script = next.update_script(&applied);
        incr_render.push(start.elapsed());
        applied = next;
        incr_sync.push(proxier.sync(&snap)?.duration);
    }
    Ok(Row {
        services: n,
        full_render,
        full_sync,
        full_bytes,
        incr_render,
        incr_sync,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--dump") {
        // The full script for N services, for looking at nft's own cost.
        let n = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
        let snap = Snapshot {
            services: (0..n).map(|i| service(i, 0)).collect(),
            ..Snapshot::new("rkube-proxy-bench")
        };
        print!("{}", build(&snap).full_script());
        return;
    }
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1000, 10000]
    } else {
        counts
    };
    let table = format!("rkube-proxy-bench-{}", std::process::id());
    let mut rows = Vec::new();
    for n in counts {
        match bench(&table, n) {
            Ok(r) => rows.push(r),
            Err(e) => {
                eprintln!("benchmark with {n} services failed: {e}");
                let _ = cleanup(&table);
                std::process::exit(1);
            }
        }
        // Start each size from an empty table.
        if let Err(e) = cleanup(&table) {
            eprintln!("cleanup of {table} failed: {e}");
        }
    }
    println!("| services × {ENDPOINTS} endpoints | full render | full sync (render + nft -f) | script size | incremental render p50 / p99 | incremental sync p50 / p99 |");
    println!("|---|---|---|---|---|---|");
    for mut r in rows {
        let (rp50, rp99) = (
            percentile(&mut r.incr_render, 50),
            percentile(&mut r.incr_render, 99),
        );
        let (sp50, sp99) = (
            percentile(&mut r.incr_sync, 50),
            percentile(&mut r.incr_sync, 99),
        );
        println!(
            "| {} | {} ms | {} ms | {:.1} MB | {} / {} ms | {} / {} ms |",
            r.services,
            ms(r.full_render),
            ms(r.full_sync),
            r.full_bytes as f64 / 1e6,
            ms(rp50),
            ms(rp99),
            ms(sp50),
            ms(sp99)
        );
    }
    println!(
        "\nIncremental: one service's endpoint replaced per sync, {INCREMENTAL_ROUNDS} rounds."
    );
}
