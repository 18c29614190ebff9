//! Scheduling throughput like upstream scheduler_perf SchedulingBasic: an API server
//! without controllers, plain Ready Node objects, and `rkube scheduler` as its own
//! process, so its CPU and the server's are told apart.

use crate::cp_common::{self as cp, CpuMark, RssPeak};
use crate::error::{BenchError, Result};
use crate::objects;
use crate::phases::Ctx;
use crate::podwatch::PodWatch;
use crate::report::Figure;
use crate::server::{Proc, ServerProc};
use crate::sideload;
use crate::stats::{mib, ms, thousands, Summary};
use crate::store_bench;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bound for waiting on one batch of pods to be bound.
const BIND_TIMEOUT: Duration = Duration::from_secs(300);
const SIDE_RATE: u32 = 20;

pub async fn sched(ctx: &mut Ctx) -> Result<()> {
    let dir = ctx.work.join("sched");
    let _ = std::fs::remove_dir_all(&dir);
    let server = ServerProc::start_with(&ctx.rkube, &dir, &["--disable-controllers"]).await?;
    println!("sched: server pid {} on {}", server.pid, server.tls.addr);
    let result = run(ctx, &server, &dir).await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One streamed batch: pods created while the scheduler runs.
struct Batch {
    created: Summary,
    first_create: Instant,
    last_bound: Option<Instant>,
    bound: usize,
    side: Summary,
    cpu_us: Vec<f64>,
    rss_peak: u64,
}

async fn stream_batch(
    ctx: &Ctx,
    server: &ServerProc,
    scheduler: &Proc,
    ns: &str,
    count: usize,
) -> Result<Batch> {
    cp::create_namespace(&server.tls, ns).await?;
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let watch = PodWatch::start(&server.tls, &path).await?;
    let side = sideload::start(&server.tls, SIDE_RATE, ns).await?;
    let peak = RssPeak::start(&[server.pid]);
    let cpu = CpuMark::new(server, &[scheduler]);
    let bulk = objects::create_all(&server.tls, &path, ctx.clients, count, BIND_TIMEOUT, |i| {
        objects::pod(&format!("p-{i}"), "100m", "500Mi")
    })
    .await?;
    let created = bulk.summary.ok;
    watch.wait(BIND_TIMEOUT, |p| p.bound >= created).await;
    let cpu_us = cpu.per_unit(server, &[scheduler], created);
    let side = side.finish().await;
    let rss_peak = peak.stop().first().copied().unwrap_or(0);
    let p = watch.progress();
    Ok(Batch {
        created: bulk.summary,
        first_create: bulk.started,
        last_bound: p.last_bound,
        bound: p.bound,
        side,
        cpu_us,
        rss_peak,
    })
}

fn rate_from(batch_n: usize, from: Instant, to: Option<Instant>) -> f64 {
    to.map_or(0.0, |t| {
        cp::per_second(batch_n, t.saturating_duration_since(from))
    })
}

fn record_batch(ctx: &mut Ctx, b: &Batch, nodes: usize, reference: &str) -> f64 {
    let n = b.created.ok;
    let rate = if b.bound >= n {
        rate_from(n, b.first_create, b.last_bound)
    } else {
        0.0
    };
    let window = b
        .last_bound
        .map(|t| t.saturating_duration_since(b.first_create))
        .unwrap_or_default();
    ctx.record(
        Figure::new(
            format!(
                "scheduled + bound, {} pods streamed onto {} nodes",
                thousands(n as f64),
                thousands(nodes as f64)
            ),
            format!("{} pods/s", thousands(rate)),
        )
        .goal(">= 5,000 pods/s", reference, rate >= 5000.0)
        .detail(format!(
            "{n} pods (100m CPU, 500Mi) POSTed by {} connections while `rkube scheduler` runs; \
             first create to last pod seen bound on a pod watch: {:.2} s; {} of {n} bound; \
             pod creates {}; CPU per pod: server {:.0} µs, scheduler {:.0} µs; server RSS peak {}",
            ctx.clients,
            window.as_secs_f64(),
            b.bound,
            b.created.describe(),
            b.cpu_us.first().copied().unwrap_or(0.0),
            b.cpu_us.get(1).copied().unwrap_or(0.0),
            mib(b.rss_peak)
        )),
    );
    let worst = b.side.p99.max(b.created.p99);
    ctx.record(
        Figure::new(
            format!(
                "mutating API p99 while streaming {} pods",
                thousands(n as f64)
            ),
            format!(
                "ConfigMap creates {} / pod creates {}",
                ms(b.side.p99),
                ms(b.created.p99)
            ),
        )
        .goal(
            "< 1 s",
            "1 s (upstream SLO, mutating)",
            worst < Duration::from_secs(1) && b.side.errors == 0,
        )
        .detail(format!(
            "side load of {SIDE_RATE} ConfigMap POSTs/s on one connection during the batch: {}",
            b.side.describe()
        )),
    );
    rate
}

async fn run(ctx: &mut Ctx, server: &ServerProc, dir: &Path) -> Result<()> {
    let nodes = objects::create_all(
        &server.tls,
        "/api/v1/nodes",
        ctx.clients,
        ctx.nodes,
        Duration::from_secs(120),
        |i| objects::node(&format!("node-{i}")),
    )
    .await?;
    ctx.record(
        Figure::new(
            format!("create {} Nodes", thousands(ctx.nodes as f64)),
            nodes.summary.describe(),
        )
        .detail(format!(
            "POST /api/v1/nodes (4 CPU, 32Gi, 110 pods, Ready), {} connections; server \
             `--disable-controllers` so nothing else writes",
            ctx.clients
        )),
    );
    if nodes.summary.ok < ctx.nodes {
        return Err(BenchError::Protocol(format!(
            "only {} nodes created",
            nodes.summary.ok
        )));
    }

    // The store alone on the same disk, for the bindings ÷ writes ratio.
    let store_dir = dir.join("store-probe");
    let store = store_bench::open_store(&store_dir)?;
    let mut store_rates = Vec::new();
    for writers in [16usize, 256] {
        let s = store_bench::commits(
            store.clone(),
            writers,
            Duration::from_secs(2),
            1_000_000,
            &format!("w{writers}"),
        )
        .await;
        store_rates.push(s.rate());
        ctx.record(
            Figure::new(
                format!("SqliteStore creates/s, {writers} writers (same machine)"),
                s.describe(),
            )
            .detail("rkube_store::sqlite::SqliteStore::create, 400 B values, in-process, 2 s, before the scheduler runs"),
        );
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&store_dir);

    // Scheduler start-up with 5,000 nodes: spawn until a first pod is bound.
    cp::create_namespace(&server.tls, "warm").await?;
    let warm_path = "/api/v1/namespaces/warm/pods";
    let watch = PodWatch::start(&server.tls, warm_path).await?;
    let spawned = Instant::now();
    let mut scheduler = cp::scheduler(&ctx.rkube, dir, "scheduler-1.log")?;
    objects::create_all(
        &server.tls,
        warm_path,
        1,
        1,
        Duration::from_secs(10),
        |_| objects::pod("warm-0", "100m", "500Mi"),
    )
    .await?;
    if !watch.wait(Duration::from_secs(60), |p| p.bound >= 1).await {
        return Err(BenchError::Timeout(
            "first binding by rkube scheduler".into(),
        ));
    }
    ctx.record(
        Figure::new(
            format!(
                "scheduler start to first binding ({} nodes)",
                thousands(ctx.nodes as f64)
            ),
            ms(spawned.elapsed()),
        )
        .detail("spawn `rkube scheduler --kubeconfig scheduler.kubeconfig` until one pod created after the spawn is bound (includes its informers' initial LIST)"),
    );
    drop(watch);

    // Upstream's SchedulingBasic sizes, each streamed and then as a backlog.
    let node_count = ctx.nodes;
    let mut best = 0.0f64;
    let mut held = 1; // the warm-up pod
    let rounds = [
        (
            ctx.pods,
            "680 pods/s",
            ["sched-a", "sched-b"],
            "scheduler-2.log",
        ),
        (
            ctx.large_pods,
            "810 pods/s",
            ["sched-c", "sched-d"],
            "scheduler-3.log",
        ),
    ];
    for (n, threshold, [streamed, queued], log) in rounds {
        if n == 0 {
            continue;
        }
        let b = stream_batch(ctx, server, &scheduler, streamed, n).await?;
        let reference = format!("{threshold} (upstream threshold)");
        best = best.max(record_batch(ctx, &b, node_count, &reference));
        held += n;
        let reference = format!(
            "{threshold} (upstream threshold, {} pods)",
            thousands(n as f64)
        );
        let (steady, next) = backlog(
            ctx,
            server,
            dir,
            scheduler,
            (queued, n, log),
            held,
            &reference,
        )
        .await?;
        scheduler = next;
        held += n;
        best = best.max(steady);
    }
    scheduler.stop().await;

    if let Some(&store256) = store_rates.last() {
        let store16 = store_rates.first().copied().unwrap_or(0.0);
        ctx.record(
            Figure::new(
                "bindings/s ÷ store creates/s",
                format!(
                    "{:.2} (of 256 writers) / {:.2} (of 16 writers)",
                    best / store256.max(1e-9),
                    best / store16.max(1e-9)
                ),
            )
            .detail(format!(
                "best scheduling rate above ({} pods/s; each binding is one store write) over \
                 the SqliteStore create rates measured in this run ({} and {}/s)",
                thousands(best),
                thousands(store256),
                thousands(store16)
            )),
        );
    }
    Ok(())
}

/// Backlog: `n` pods that all exist before a new scheduler starts; returns the rate from
/// the first binding to the last. The running scheduler is stopped and its leader Lease
/// deleted, so the new one need not wait for it to expire.
async fn backlog(
    ctx: &mut Ctx,
    server: &ServerProc,
    dir: &Path,
    scheduler: Proc,
    (ns, n, log): (&str, usize, &str),
    held: usize,
    reference: &str,
) -> Result<(f64, Proc)> {
    scheduler.stop().await;
    let lease = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler";
    let _ = server
        .tls
        .connect()
        .await?
        .request(http::Method::DELETE, lease, None)
        .await;
    cp::create_namespace(&server.tls, ns).await?;
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let watch = PodWatch::start(&server.tls, &path).await?;
    let created = objects::create_all(&server.tls, &path, ctx.clients, n, BIND_TIMEOUT, |i| {
        objects::pod(&format!("q-{i}"), "100m", "500Mi")
    })
    .await?;
    ctx.record(
        Figure::new(
            format!(
                "pod creates, no scheduler running ({} pods)",
                thousands(n as f64)
            ),
            created.summary.describe(),
        )
        .detail(format!(
            "POST {path}, {} connections, into a server holding {} nodes and {held} pods",
            ctx.clients, ctx.nodes
        )),
    );
    let n = created.summary.ok;
    let spawned = Instant::now();
    let scheduler = cp::scheduler(&ctx.rkube, dir, log)?;
    let cpu = CpuMark::new(server, &[&scheduler]);
    let done = watch.wait(BIND_TIMEOUT, |p| p.bound >= n).await;
    let cpu_us = cpu.per_unit(server, &[&scheduler], n);
    let (first, last, bound) = {
        let p = watch.progress();
        (p.first_bound, p.last_bound, p.bound)
    };
    let from_spawn = if done {
        rate_from(n, spawned, last)
    } else {
        0.0
    };
    let steady = match (done, first) {
        (true, Some(f)) => rate_from(n, f, last),
        _ => 0.0,
    };
    ctx.record(
        Figure::new(
            format!(
                "scheduled + bound, backlog of {} pods",
                thousands(n as f64)
            ),
            format!("{} pods/s", thousands(steady)),
        )
        .goal(">= 5,000 pods/s", reference, steady >= 5000.0)
        .detail(format!(
            "{n} pending pods created first, then `rkube scheduler` started: first to last \
             binding seen on a pod watch; {} pods/s counting from the spawn (includes its start-up, \
             leader election after its predecessor's Lease was deleted, and initial LIST); {bound} of {n} bound; CPU per pod: server {:.0} µs, scheduler {:.0} µs",
            thousands(from_spawn),
            cpu_us.first().copied().unwrap_or(0.0),
            cpu_us.get(1).copied().unwrap_or(0.0),
        )),
    );
    Ok((steady, scheduler))
}
