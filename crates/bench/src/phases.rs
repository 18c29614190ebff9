//! The benchmark phases; each returns figures and prints them as soon as they exist.

use crate::error::{BenchError, Result};
use crate::load::{self, Op, CONFIGMAPS};
use crate::report::Figure;
use crate::server::{cpu_time, ServerProc};
use crate::stats::{median, mib, ms, thousands, Summary};
use crate::{store_bench, watch};
use http::Method;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Shared settings for the phases.
pub struct Ctx {
    pub rkube: PathBuf,
    pub work: PathBuf,
    pub command: String,
    pub objects: usize,
    pub watch_events: usize,
    pub figures: Vec<Figure>,
    /// Scheduler/controller figures, written to their own section of the docs.
    pub cp_figures: Vec<Figure>,
    /// Real-node (kubelet + containerd) figures, their own section too.
    pub node_figures: Vec<Figure>,
    /// Which section `record` files figures under.
    pub section: Section,
    pub nodes: usize,
    pub pods: usize,
    pub large_pods: usize,
    pub clients: usize,
    pub deploy_nodes: usize,
    pub deploy_replicas: u32,
    pub scale_pods: usize,
    pub scale_minutes: u64,
    /// Scale phase with scheduler and controller manager as separate processes.
    pub split: bool,
    /// Prebuilt images for the node phase (else images/build.sh builds them).
    pub node_images: Option<PathBuf>,
    /// Pods started one at a time in the node phase.
    pub node_pods: usize,
    /// Pods of the node phase's concurrent batch (and of its memory reading).
    pub node_batch: usize,
    /// Timed CRI floor runs.
    pub floor_runs: usize,
}

/// The docs section a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Api,
    ControlPlane,
    Node,
}

impl Ctx {
    pub fn record(&mut self, figure: Figure) {
        println!("{}: {}", figure.name, figure.ours);
        if let Some(met) = figure.met {
            println!(
                "    target {} ({}), reference {}",
                figure.target,
                if met { "met" } else { "MISSED" },
                figure.reference
            );
        }
        println!("    how: {}", figure.detail);
        println!("    command: {}", self.command);
        match self.section {
            Section::Api => self.figures.push(figure),
            Section::ControlPlane => self.cp_figures.push(figure),
            Section::Node => self.node_figures.push(figure),
        }
    }
}

/// Start-up to ready, median of five fresh data directories.
pub async fn startup(ctx: &mut Ctx) -> Result<()> {
    let mut ready = Vec::new();
    let mut listening = Vec::new();
    for i in 0..5 {
        let dir = ctx.work.join(format!("startup-{i}"));
        let server = ServerProc::start(&ctx.rkube, &dir).await?;
        ready.push(server.ready_after);
        listening.push(server.listening_after);
        server.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    let med = median(&ready);
    let all: Vec<String> = ready.iter().map(|d| ms(*d)).collect();
    ctx.record(
        Figure::new("start-up to ready (median of 5)", ms(med))
            .goal("< 100 ms", "150 ms", med < Duration::from_millis(100))
            .detail(format!(
                "spawn `rkube server --data-dir <fresh> --bind-address 127.0.0.1:0` until the first \
                 GET /readyz = 200 (polled every 1 ms after the listening line); runs: {}; \
                 listening line after {} (median)",
                all.join(", "),
                ms(median(&listening))
            )),
    );
    Ok(())
}

/// CPU readings of the server and of this client, to show who was busy.
struct CpuMark {
    server: Duration,
    client: Duration,
}

fn mark(server: &ServerProc) -> CpuMark {
    CpuMark {
        server: server.cpu().unwrap_or_default(),
        client: cpu_time("/proc/self/stat").unwrap_or_default(),
    }
}

fn cpu_per_op(server: &ServerProc, before: &CpuMark, ops: usize) -> String {
    let now = mark(server);
    if ops == 0 {
        return "CPU n/a".into();
    }
    let per = |a: Duration, b: Duration| a.saturating_sub(b).as_secs_f64() * 1e6 / ops as f64;
    format!(
        "CPU per op: server {:.0} µs, bench client {:.0} µs",
        per(now.server, before.server),
        per(now.client, before.client)
    )
}

async fn timed(
    server: &ServerProc,
    op: Op,
    clients: usize,
    max_ops: usize,
    max_time: Duration,
) -> Result<(Summary, String)> {
    let before = mark(server);
    let s = load::run(&server.tls, op, clients, max_ops, max_time).await?;
    let cpu = cpu_per_op(server, &before, s.ok + s.errors);
    Ok((s, cpu))
}

async fn names(server: &ServerProc) -> Result<Arc<Vec<String>>> {
    let mut conn = server.tls.connect().await?;
    let body = conn.expect_ok(Method::GET, CONFIGMAPS, None).await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| BenchError::Protocol(e.to_string()))?;
    let items = v["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(Arc::new(
        items
            .iter()
            .filter_map(|i| i["metadata"]["name"].as_str().map(String::from))
            .collect(),
    ))
}

/// RSS, create, get and LIST figures on one server; leaves `objects` ConfigMaps behind.
pub async fn api(ctx: &mut Ctx, server: &ServerProc) -> Result<()> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.rss_kib()?;
    ctx.record(
        Figure::new("idle RSS", mib(idle))
            .goal("< 24 MiB", "32 MB", idle < 24 * 1024)
            .detail(format!(
                "VmRSS 0.5 s after ready, fresh data dir (pid {})",
                server.pid
            )),
    );

    // A sixth at one client, so the 16-client run always has the larger share of work.
    let n1 = (ctx.objects / 6).clamp(1, 1000);
    let (c1, cpu) = timed(
        server,
        Op::Create {
            prefix: "c1".into(),
        },
        1,
        n1,
        Duration::from_secs(3),
    )
    .await?;
    ctx.record(
        Figure::new("creates, 1 client", c1.describe()).detail(format!(
            "POST {CONFIGMAPS} (~200 B data), 1 kept-open HTTP/1.1 TLS connection, \
         up to {n1} or 3 s; {cpu}"
        )),
    );
    let n16 = ctx.objects.saturating_sub(c1.ok);
    let (c16, cpu) = timed(
        server,
        Op::Create {
            prefix: "c16".into(),
        },
        16,
        n16,
        Duration::from_secs(60),
    )
    .await?;
    ctx.record(
        Figure::new("creates, 16 clients", c16.describe())
            .goal(
                ">= 5,000/s, p99 < 10 ms",
                "468/s, p99 61 ms",
                c16.rate() >= 5000.0 && c16.p99 < Duration::from_millis(10),
            )
            .detail(format!(
                "POST {CONFIGMAPS}, 16 connections, the {n16} creates that fill the namespace \
                 to {} (cap 60 s); {cpu}",
                ctx.objects
            )),
    );

    let names = names(server).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let full = server.rss_kib()?;
    let hwm = server.hwm_kib().unwrap_or(0);
    ctx.record(
        Figure::new(
            format!("RSS holding {} ConfigMaps", thousands(ctx.objects as f64)),
            mib(full),
        )
        .goal(
            "< 60 MiB",
            "215 MB",
            full < 60 * 1024 && names.len() >= ctx.objects,
        )
        .detail(format!(
            "VmRSS 0.5 s after the creates; {} ConfigMaps listed; peak VmHWM so far {}",
            names.len(),
            mib(hwm)
        )),
    );

    let (g1, cpu) = timed(
        server,
        Op::Get {
            names: names.clone(),
        },
        1,
        200_000,
        Duration::from_secs(3),
    )
    .await?;
    ctx.record(Figure::new("gets, 1 client", g1.describe()).detail(format!(
        "GET {CONFIGMAPS}/<name> over all {} names, 1 connection, 3 s; {cpu}",
        names.len()
    )));
    let (g16, cpu) = timed(
        server,
        Op::Get {
            names: names.clone(),
        },
        16,
        500_000,
        Duration::from_secs(3),
    )
    .await?;
    ctx.record(
        Figure::new("gets, 16 clients", g16.describe())
            .goal(
                ">= 15,000/s, p99 < 2 ms",
                "1,825/s, p99 14 ms",
                g16.rate() >= 15000.0 && g16.p99 < Duration::from_millis(2),
            )
            .detail(format!(
                "GET {CONFIGMAPS}/<name>, 16 connections, 3 s; {cpu}"
            )),
    );

    let (list, cpu) = timed(server, Op::List, 1, 30, Duration::from_secs(20)).await?;
    let size = server
        .tls
        .connect()
        .await?
        .expect_ok(Method::GET, CONFIGMAPS, None)
        .await?
        .len();
    ctx.record(
        Figure::new(
            format!(
                "LIST {} ConfigMaps p50 / p99",
                thousands(names.len() as f64)
            ),
            format!("{} / {}", ms(list.p50), ms(list.p99)),
        )
        .goal(
            "p50 < 30 ms",
            "p50 230 ms",
            list.p50 < Duration::from_millis(30),
        )
        .detail(format!(
            "GET {CONFIGMAPS} (JSON, {} KiB body), 1 connection, {} runs{}; {cpu}",
            size / 1024,
            list.ok,
            if list.errors > 0 {
                format!(", {} errors", list.errors)
            } else {
                String::new()
            }
        )),
    );
    Ok(())
}

/// Watch delivery latency at 100 and 1,000 watchers.
pub async fn watches(ctx: &mut Ctx, server: &ServerProc) -> Result<()> {
    for (watchers, limit) in [(100usize, 20u64), (1000, 50)] {
        let before = mark(server);
        let r = watch::run(
            &server.tls,
            watchers,
            ctx.watch_events,
            Duration::from_millis(5),
            &watchers.to_string(),
        )
        .await?;
        let cpu = cpu_per_op(server, &before, r.latency.ok);
        let l = &r.latency;
        ctx.record(
            Figure::new(
                format!("watch delivery p99, {} watchers", thousands(watchers as f64)),
                ms(l.p99),
            )
            .goal(
                &format!("< {limit} ms"),
                "1,057 ms (watcher count not stated)",
                l.p99 < Duration::from_millis(limit) && r.missing == 0,
            )
            .detail(format!(
                "{watchers} × GET {CONFIGMAPS}?watch=true&resourceVersion=<list rv>, {} creates 5 ms \
                 apart carrying their send time; p50 {}, max {}, {} deliveries, {} missing; \
                 opening the watchers took {}; {cpu} (per delivered event, incl. the creates)",
                r.events,
                ms(l.p50),
                ms(l.max),
                l.ok,
                r.missing,
                ms(r.open_time)
            )),
        );
    }
    Ok(())
}

/// Committed creates per second through the API at 1, 16 and 256 writers.
pub async fn api_commits(ctx: &mut Ctx, server: &ServerProc) -> Result<()> {
    for writers in [1usize, 16, 256] {
        let op = Op::Create {
            prefix: format!("w{writers}"),
        };
        let (s, cpu) = timed(server, op, writers, 200_000, Duration::from_secs(2)).await?;
        let mut f = Figure::new(format!("API commits/s, {writers} writers"), s.describe()).detail(
            format!("POST {CONFIGMAPS} from {writers} connections for 2 s (each 2xx = one committed write); {cpu}"),
        );
        if writers == 256 {
            f = f.goal(">= 20,000/s", "—", s.rate() >= 20000.0);
        }
        ctx.record(f);
    }
    Ok(())
}

/// The store alone and the disk's fdatasync rate, in the same work directory.
pub async fn store(ctx: &mut Ctx) -> Result<()> {
    let dir = ctx.work.join("store");
    let _ = std::fs::remove_dir_all(&dir);
    let store = store_bench::open_store(&dir)?;
    for writers in [1usize, 16, 256] {
        let s = store_bench::commits(
            store.clone(),
            writers,
            Duration::from_secs(2),
            1_000_000,
            &format!("w{writers}"),
        )
        .await;
        ctx.record(Figure::new(format!("SqliteStore commits/s, {writers} writers"), s.describe()).detail(format!(
            "rkube_store::sqlite::SqliteStore::create (400 B values) from {writers} tasks in-process for 2 s, \
             synchronous=FULL"
        )));
    }
    drop(store);
    let probe_dir: &Path = &dir;
    let s = store_bench::fdatasync_rate(probe_dir, Duration::from_secs(2), 1_000_000)?;
    ctx.record(
        Figure::new("raw write+fdatasync/s", s.describe()).detail(format!(
            "pwrite 4 KiB at offset 0 + fdatasync in a loop for 2 s, file in {}",
            dir.display()
        )),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
