//! Whole control plane on simulated nodes: a 1,000-replica Deployment to fully Running,
//! and memory/latency with 5,000 nodes and as many pods as fit a bounded time.

use crate::cp_common::{self as cp, CpuMark, RssPeak};
use crate::error::{BenchError, Result};
use crate::objects;
use crate::phases::Ctx;
use crate::podwatch::PodWatch;
use crate::report::Figure;
use crate::server::ServerProc;
use crate::sideload;
use crate::stats::{mib, ms, thousands};
use std::time::{Duration, Instant};

const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);

/// A 1,000-replica Deployment on `rkube server --sim-nodes 100`, until readyReplicas
/// reaches the replica count.
pub async fn deploy(ctx: &mut Ctx) -> Result<()> {
    let dir = ctx.work.join("deploy");
    let _ = std::fs::remove_dir_all(&dir);
    let sim = ctx.deploy_nodes.to_string();
    let server = ServerProc::start_with(&ctx.rkube, &dir, &["--sim-nodes", &sim]).await?;
    println!("deploy: server pid {} on {}", server.pid, server.tls.addr);
    let result = deploy_on(ctx, &server).await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn deploy_on(ctx: &mut Ctx, server: &ServerProc) -> Result<()> {
    let tls = &server.tls;
    let registered = cp::wait_nodes(tls, ctx.deploy_nodes, Duration::from_secs(120)).await?;
    let replicas = ctx.deploy_replicas;
    let name = "bench-deploy";
    let cpu = CpuMark::new(server, &[]);
    let started = Instant::now();
    objects::create_all(
        tls,
        "/apis/apps/v1/namespaces/default/deployments",
        1,
        1,
        Duration::from_secs(10),
        move |_| objects::deployment(name, replicas),
    )
    .await
    .and_then(|b| match b.summary.first_error {
        Some(e) if b.summary.ok == 0 => Err(BenchError::Protocol(e)),
        _ => Ok(()),
    })?;
    let path = format!("/apis/apps/v1/namespaces/default/deployments/{name}");
    let (mut all_created, mut ready) = (None, 0u64);
    while started.elapsed() < DEPLOY_TIMEOUT {
        if let Ok(d) = cp::get_json(tls, &path).await {
            let status = &d["status"];
            if all_created.is_none() && status["replicas"].as_u64() >= Some(u64::from(replicas)) {
                all_created = Some(started.elapsed());
            }
            ready = status["readyReplicas"].as_u64().unwrap_or(0);
            if ready >= u64::from(replicas) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let done = ready >= u64::from(replicas);
    let cpu_us = cpu.per_unit(server, &[], replicas as usize);
    ctx.record(
        Figure::new(
            format!(
                "{}-replica Deployment to readyReplicas = {}",
                thousands(replicas as f64),
                thousands(replicas as f64)
            ),
            if done {
                ms(took)
            } else {
                format!("not reached: {ready} ready after {}", ms(took))
            },
        )
        .goal(
            &format!("all Ready within {} s", DEPLOY_TIMEOUT.as_secs()),
            "—",
            done,
        )
        .detail(format!(
            "POST a Deployment of pause pods (no requests) to `rkube server --sim-nodes {}` \
             (scheduler, controllers and simulated nodes in one process), poll it every 100 ms; \
             status.replicas reached {} after {}; nodes registered in {}; server CPU per pod {:.0} µs; \
             server RSS after {}",
            ctx.deploy_nodes,
            replicas,
            all_created.map_or("—".into(), ms),
            ms(registered),
            cpu_us.first().copied().unwrap_or(0.0),
            server.rss_kib().map_or("?".into(), mib)
        )),
    );
    Ok(())
}

fn peaks_now(peak: &RssPeak, i: usize) -> u64 {
    peak.current(i)
}

/// 5,000 simulated nodes in their own process and pods towards `scale_pods`.
pub async fn scale(ctx: &mut Ctx) -> Result<()> {
    let dir = ctx.work.join("scale");
    let _ = std::fs::remove_dir_all(&dir);
    let extra: &[&str] = if ctx.split {
        &["--disable-controllers"]
    } else {
        &[]
    };
    let server = ServerProc::start_with(&ctx.rkube, &dir, extra).await?;
    println!("scale: server pid {} on {}", server.pid, server.tls.addr);
    let result = scale_on(ctx, &server, &dir).await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn scale_on(ctx: &mut Ctx, server: &ServerProc, dir: &std::path::Path) -> Result<()> {
    let budget = Duration::from_secs(ctx.scale_minutes * 60);
    let phase_start = Instant::now();
    let tls = &server.tls;
    let sim = cp::sim_nodes(&ctx.rkube, dir, ctx.nodes)?;
    // With --split the scheduler and controller manager run as their own processes, so
    // each one's memory and CPU can be read apart.
    let parts = if ctx.split {
        vec![
            cp::scheduler(&ctx.rkube, dir, "scheduler.log")?,
            cp::controller_manager(&ctx.rkube, dir)?,
        ]
    } else {
        Vec::new()
    };
    let registered = cp::wait_nodes(tls, ctx.nodes, budget / 3).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_nodes = server.rss_kib().unwrap_or(0);
    let sim_rss_nodes = sim.rss_kib().unwrap_or(0);

    let ns = "scale";
    cp::create_namespace(tls, ns).await?;
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let watch = PodWatch::start(tls, &path).await?;
    let side = sideload::start(tls, 20, ns).await?;
    let mut pids = vec![server.pid, sim.pid];
    pids.extend(parts.iter().map(|p| p.pid));
    let peak = RssPeak::start(&pids);
    let mut others = vec![&sim];
    others.extend(parts.iter());
    let cpu = CpuMark::new(server, &others);
    // Creation gets the first two thirds of what is left, the rest is for catching up.
    let create_cap = budget.saturating_sub(phase_start.elapsed()) * 2 / 3;
    let bulk = objects::create_all(tls, &path, ctx.clients, ctx.scale_pods, create_cap, |i| {
        objects::pod(&format!("s-{i}"), "10m", "16Mi")
    })
    .await?;
    let created = bulk.summary.ok;
    let create_window = bulk.started.elapsed();
    let left = budget.saturating_sub(phase_start.elapsed());
    watch.wait(left, |p| p.running >= created).await;
    let side = side.finish().await;
    let cpu_us = cpu.per_unit(server, &others, created);
    let split_note = parts
        .iter()
        .zip(["scheduler", "controller-manager"])
        .enumerate()
        .map(|(i, (p, name))| {
            format!(
                "; {name} RSS {} (peak {}), CPU per pod {:.0} µs",
                p.rss_kib().map_or("?".into(), mib),
                mib(peaks_now(&peak, i + 2)),
                cpu_us.get(i + 2).copied().unwrap_or(0.0)
            )
        })
        .collect::<String>();
    let (bound, running, last_running) = {
        let p = watch.progress();
        (p.bound, p.running, p.last_running)
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = server.rss_kib().unwrap_or(0);
    let sim_rss = sim.rss_kib().unwrap_or(0);
    let hwm = server.hwm_kib().unwrap_or(0);
    let peaks = peak.stop();
    drop(others);
    sim.stop().await;
    for p in parts {
        p.stop().await;
    }

    let target_pods = ctx.scale_pods;
    let reached = running >= target_pods;
    ctx.record(
        Figure::new(
            format!(
                "server RSS, {} nodes + {} pods Running",
                thousands(ctx.nodes as f64),
                thousands(running as f64)
            ),
            mib(rss),
        )
        .goal(
            &format!("< 2 GiB at {} pods", thousands(target_pods as f64)),
            "k0s 2.3 GB at 100 nodes / 10,000 pods",
            reached && rss < 2 * 1024 * 1024,
        )
        .detail(format!(
            "{} and `rkube sim-nodes --count {}` as separate processes; {} nodes registered in {}; server RSS with nodes only {}; \
             then pods (10m CPU, 16Mi) POSTed by {} connections for {:.0} s (cap {:.0} s): {created} created \
             ({}), {bound} bound, {running} Running when the {}-minute budget or the last pod ended; \
             server VmHWM {}, sampled peak {}; sim-nodes RSS {} (nodes only {}, peak {}); \
             CPU per pod: server {:.0} µs, sim {:.0} µs{split_note}",
            if ctx.split {
                "`rkube server --disable-controllers`, `rkube scheduler`, `rkube controller-manager`"
            } else {
                "`rkube server` (API server + scheduler + controllers)"
            },
            ctx.nodes,
            ctx.nodes,
            ms(registered),
            mib(rss_nodes),
            ctx.clients,
            create_window.as_secs_f64(),
            create_cap.as_secs_f64(),
            bulk.summary.describe(),
            ctx.scale_minutes,
            mib(hwm),
            mib(peaks.first().copied().unwrap_or(0)),
            mib(sim_rss),
            mib(sim_rss_nodes),
            mib(peaks.get(1).copied().unwrap_or(0)),
            cpu_us.first().copied().unwrap_or(0.0),
            cpu_us.get(1).copied().unwrap_or(0.0),
        )),
    );
    let to_running = last_running.map(|t| t.saturating_duration_since(bulk.started));
    ctx.record(
        Figure::new(
            format!(
                "pods created → Running, {} sim nodes",
                thousands(ctx.nodes as f64)
            ),
            format!(
                "{} pods/s",
                thousands(to_running.map_or(0.0, |d| cp::per_second(running, d)))
            ),
        )
        .detail(format!(
            "{running} pods from first create to the last seen Running ({}); each pod is a create, \
             a binding, a Scheduled event and a status update",
            to_running.map_or("—".into(), ms)
        )),
    );
    let worst = side.p99.max(bulk.summary.p99);
    ctx.record(
        Figure::new(
            format!(
                "mutating API p99 during the {}-node pod churn",
                thousands(ctx.nodes as f64)
            ),
            format!(
                "ConfigMap creates {} / pod creates {}",
                ms(side.p99),
                ms(bulk.summary.p99)
            ),
        )
        .goal(
            "< 1 s",
            "1 s (upstream SLO, mutating)",
            worst < Duration::from_secs(1) && side.errors == 0,
        )
        .detail(format!(
            "20 ConfigMap POSTs/s on one connection while pods were created and run: {}",
            side.describe()
        )),
    );
    Ok(())
}
