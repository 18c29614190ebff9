//! Phase `node`: a real node (kubelet + containerd + CNI). The CRI floor, pod start-up
//! latency one at a time and as a batch of 30 with `rkube server` running its agent,
//! then the kubelet's memory as its own `rkube kubelet` process next to a server with
//! `--disable-agent`.

use crate::error::{BenchError, Result};
use crate::node_floor::{self, FloorRun};
use crate::node_host::{build_images, wait_node_ready, NodeHost, CLUSTER_CIDR};
use crate::node_pods::{self, makespan, Startup};
use crate::phases::Ctx;
use crate::podwatch::PodWatch;
use crate::report::Figure;
use crate::server::{proc_status_kib, Proc, ServerProc};
use crate::stats::{median, mib, ms, percentile};
use std::path::{Path, PathBuf};
use std::time::Duration;

const NODE_READY_TIMEOUT: Duration = Duration::from_secs(180);
/// A SIGTERMed node stops its pod workers and containerd; bounded before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(25);

/// p50 and p99 of the samples `f` picks (pods where it is None are left out).
fn p50_p99(starts: &[Startup], f: impl Fn(&Startup) -> Option<Duration>) -> (Duration, Duration) {
    let mut v: Vec<Duration> = starts.iter().filter_map(f).collect();
    v.sort_unstable();
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

fn pair(d: (Duration, Duration)) -> String {
    format!("{} / {}", ms(d.0), ms(d.1))
}

/// `a − b` with its sign (a pod can start faster than the floor's tail).
fn signed_gap(a: Duration, b: Duration) -> String {
    if a >= b {
        ms(a - b)
    } else {
        format!("−{}", ms(b - a))
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

pub async fn node(ctx: &mut Ctx) -> Result<()> {
    let images = match &ctx.node_images {
        Some(dir) => dir.clone(),
        None => {
            let dir = ctx.work.join("node-images");
            println!("building images into {}", dir.display());
            build_images(&dir)?;
            dir.canonicalize().map_err(|e| BenchError::io(&dir, e))?
        }
    };
    let dir = ctx.work.join("node");
    let _ = std::fs::remove_dir_all(&dir);
    let result = with_agent(ctx, &dir, &images).await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    let dir = ctx.work.join("node-split");
    let _ = std::fs::remove_dir_all(&dir);
    let result = split_kubelet(ctx, &dir, &images).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `rkube server` with its agent: node Ready, the CRI floor, single pods, a batch.
async fn with_agent(ctx: &mut Ctx, dir: &Path, images: &Path) -> Result<()> {
    let host = NodeHost::new(dir, images, 0)?;
    let mut flags = host.node_flags();
    // Pod start-up only: no cluster DNS on 127.0.0.1:53 (the host's may be there).
    flags.extend([
        "--cluster-cidr".to_string(),
        CLUSTER_CIDR.to_string(),
        "--disable-dns".to_string(),
    ]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = ServerProc::start_full(&ctx.rkube, &host.data, &flags, true).await?;
    println!(
        "server (with agent) pid {} on {}",
        server.pid, server.tls.addr
    );
    let result = agent_runs(ctx, &server, &host).await;
    server.terminate(STOP_GRACE).await;
    host.cleanup();
    result
}

async fn agent_runs(ctx: &mut Ctx, server: &ServerProc, host: &NodeHost) -> Result<()> {
    let ready = wait_node_ready(&server.tls, NODE_READY_TIMEOUT).await?;
    ctx.record(Figure::new("node Ready after server start", ms(ready + server.ready_after)).detail(
        format!(
            "`rkube server` with its agent (containerd started, {} imported, CNI written) until the \
             Node reports Ready with a podCIDR; API /readyz after {}",
            images_listed(&host.images),
            ms(server.ready_after)
        ),
    ));

    let floor = node_floor::measure(
        &host.socket(),
        &host.data.join("bench-floor"),
        &host.cgroup_root,
        1,
        ctx.floor_runs,
    )
    .await?;
    let floor_med = median(&floor.iter().map(FloorRun::total).collect::<Vec<_>>());
    let floor_p99 = {
        let mut v: Vec<Duration> = floor.iter().map(FloorRun::total).collect();
        v.sort_unstable();
        percentile(&v, 99.0)
    };
    let part = |f: fn(&FloorRun) -> Duration| ms(median(&floor.iter().map(f).collect::<Vec<_>>()));
    ctx.record(
        Figure::new(
            format!(
                "CRI floor: sandbox + create + start, median / p99 of {}",
                floor.len()
            ),
            format!("{} / {}", ms(floor_med), ms(floor_p99)),
        )
        .detail(format!(
            "RunPodSandbox (CNI bridge) + CreateContainer + StartContainer of {} straight to the \
             node's containerd ({}) after the Node was Ready, 1 untimed warm-up, each pod removed \
             before the next; medians: sandbox {}, create {}, start {}; stop + remove {}",
            node_floor::BOOTCAMP,
            host.socket().display(),
            part(|r| r.sandbox),
            part(|r| r.create),
            part(|r| r.start),
            part(|r| r.teardown),
        )),
    );

    let (totals, all_started) = node_floor::measure_batch(
        &host.socket(),
        &host.data.join("bench-floor"),
        &host.cgroup_root,
        ctx.node_batch,
    )
    .await?;
    let mut sorted = totals.clone();
    sorted.sort_unstable();
    ctx.record(
        Figure::new(
            format!("CRI floor, batch of {}: all started", totals.len()),
            ms(all_started),
        )
        .detail(format!(
            "the floor's three CRI calls for {} pods at once (one task each, one gRPC channel) \
             to the same containerd; per pod p50 / p99 {} / {}",
            totals.len(),
            ms(percentile(&sorted, 50.0)),
            ms(percentile(&sorted, 99.0)),
        )),
    );

    node_pods::prepare(&server.tls).await?;
    let watch = node_pods::watch(&server.tls).await?;
    let (warm, _) = node_pods::sequential(&server.tls, &watch, "warm", 1).await?;
    let (single, deletes) =
        node_pods::sequential(&server.tls, &watch, "single", ctx.node_pods).await?;
    let ready = p50_p99(&single, Startup::until_ready);
    let running = p50_p99(&single, Startup::until_running);
    let bound = p50_p99(&single, Startup::until_bound);
    let gap = ready.1.saturating_sub(floor_med);
    ctx.record(
        Figure::new(
            format!(
                "1 pod at a time, create → Running + Ready p50 / p99 ({} pods)",
                single.len()
            ),
            pair(ready),
        )
        .goal(
            "p99 within 150 ms of the floor",
            &format!("floor median {} (this run)", ms(floor_med)),
            gap <= Duration::from_millis(150),
        )
        .detail(format!(
            "POST a bootcamp pod, watch the namespace until status.phase=Running and Ready=True, \
             DELETE it and wait for its DELETED event, then the next; p99 − floor median = {}, \
             p99 − floor p99 = {}; create → bound p50/p99 {}, → Running {}; delete → gone \
             median {}; untimed warm-up pod took {}",
            signed_gap(ready.1, floor_med),
            signed_gap(ready.1, floor_p99),
            pair(bound),
            pair(running),
            ms(median(&deletes)),
            warm.first()
                .and_then(Startup::until_ready)
                .map_or_else(|| "?".into(), ms),
        )),
    );

    batch(
        ctx,
        &server.tls,
        &watch,
        "batch",
        "with the agent inside `rkube server`",
        true,
    )
    .await
}

/// `ctx.node_batch` pods POSTed concurrently; records per-pod and makespan figures.
async fn batch(
    ctx: &mut Ctx,
    tls: &crate::client::Tls,
    watch: &PodWatch,
    prefix: &str,
    setting: &str,
    with_goal: bool,
) -> Result<()> {
    let names = names(prefix, ctx.node_batch);
    let starts = node_pods::start_all(tls, watch, &names).await?;
    let all_running = makespan(&starts, |t| t.running);
    let all_ready = makespan(&starts, |t| t.ready);
    let all_bound = makespan(&starts, |t| t.bound);
    let running = p50_p99(&starts, Startup::until_running);
    let deleted = node_pods::delete_all(tls, watch, &names).await?;
    let mut f = Figure::new(
        format!("batch of {}: all Running ({setting})", names.len()),
        ms(all_running),
    )
    .detail(format!(
        "{} bootcamp pods POSTed at once on {} open connections; first POST → last pod seen \
         Running {}, Running + Ready {}, bound {}; per pod create → Running p50/p99 {}, → Ready \
         {}, → bound {}; deleting all and waiting for every DELETED event took {}",
        names.len(),
        names.len(),
        ms(all_running),
        ms(all_ready),
        ms(all_bound),
        pair(running),
        pair(p50_p99(&starts, Startup::until_ready)),
        pair(p50_p99(&starts, Startup::until_bound)),
        ms(deleted),
    ));
    if with_goal {
        f = f.goal(
            "< 2 s",
            "5 s (upstream pod start-up SLO, p99)",
            all_running < Duration::from_secs(2),
        );
    }
    ctx.record(f);
    Ok(())
}

fn images_listed(dir: &Path) -> String {
    let mut tars: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.ends_with(".tar"))
                .collect()
        })
        .unwrap_or_default();
    tars.sort();
    tars.join(", ")
}

fn kubelet_args(kubeconfig: &Path, host: &NodeHost) -> Vec<String> {
    let mut args = vec![
        "kubelet".to_string(),
        "--kubeconfig".to_string(),
        kubeconfig.display().to_string(),
        "--data-dir".to_string(),
        host.data.display().to_string(),
    ];
    args.extend(host.node_flags());
    args
}

/// Control plane with `--disable-agent` and the node as `rkube kubelet`, so the
/// kubelet's RSS is its own.
async fn split_kubelet(ctx: &mut Ctx, dir: &Path, images: &Path) -> Result<()> {
    let server_dir: PathBuf = dir.join("server");
    let host = NodeHost::new(&dir.join("kubelet"), images, 1)?;
    let server =
        ServerProc::start_with(&ctx.rkube, &server_dir, &["--cluster-cidr", CLUSTER_CIDR]).await?;
    let kubelet = match Proc::spawn(
        &ctx.rkube,
        &kubelet_args(&server_dir.join("admin.kubeconfig"), &host),
        &dir.join("kubelet.log"),
    ) {
        Ok(k) => k,
        Err(e) => {
            server.stop().await;
            return Err(e);
        }
    };
    println!("server pid {}, kubelet pid {}", server.pid, kubelet.pid);
    let result = kubelet_memory(ctx, &server, &kubelet, &host).await;
    kubelet.terminate(STOP_GRACE).await;
    server.stop().await;
    host.cleanup();
    result
}

async fn kubelet_memory(
    ctx: &mut Ctx,
    server: &ServerProc,
    kubelet: &Proc,
    host: &NodeHost,
) -> Result<()> {
    let ready = wait_node_ready(&server.tls, NODE_READY_TIMEOUT).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = kubelet.rss_kib()?;
    node_pods::prepare(&server.tls).await?;
    let watch = node_pods::watch(&server.tls).await?;
    let names = names("mem", ctx.node_batch);
    let starts = node_pods::start_all(&server.tls, &watch, &names).await?;
    let all_running = makespan(&starts, |t| t.running);
    // Let probes, status updates and the relist settle into their steady state.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = kubelet.rss_kib()?;
    let hwm = kubelet.hwm_kib()?;
    let containerd = host
        .containerd_pid()
        .and_then(|pid| proc_status_kib(pid, "VmRSS").ok());
    let shims: Vec<u64> = crate::node_host::pids_mentioning(&host.socket().to_string_lossy())
        .into_iter()
        .filter(|pid| Some(*pid) != host.containerd_pid())
        .filter_map(|pid| proc_status_kib(pid, "VmRSS").ok())
        .collect();
    let cpu = kubelet.cpu().unwrap_or_default();
    ctx.record(
        Figure::new(
            format!("kubelet RSS with {} pods Running", names.len()),
            mib(rss),
        )
        .goal(
            "< 30 MiB",
            "50 MiB (upstream node resource-usage test)",
            rss < 30 * 1024,
        )
        .detail(format!(
            "VmRSS of the `rkube kubelet` process alone (containerd, shims and containers \
                 excluded) 5 s after all {} bootcamp pods were Running; peak VmHWM {}; idle \
                 (Node Ready, no pods) {}; for scale: containerd {}, {} shims {} in total; \
                 kubelet CPU so far {:.1} s; Node Ready {} after spawn; the {} pods were all \
                 Running {} after the first POST (server `--disable-agent`, kubelet separate)",
            names.len(),
            mib(hwm),
            mib(idle),
            containerd.map_or_else(|| "?".into(), mib),
            shims.len(),
            mib(shims.iter().sum()),
            cpu.as_secs_f64(),
            ms(ready),
            names.len(),
            ms(all_running),
        )),
    );
    node_pods::delete_all(&server.tls, &watch, &names).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podwatch::PodTimes;
    use std::time::Instant;

    #[test]
    fn gaps_keep_their_sign() {
        let (a, b) = (Duration::from_millis(451), Duration::from_millis(507));
        assert_eq!(signed_gap(b, a), "56.0 ms");
        assert_eq!(signed_gap(a, b), "−56.0 ms");
    }

    #[test]
    fn percentiles_skip_pods_without_the_state() {
        let t0 = Instant::now();
        let mk = |ready: Option<u64>| Startup {
            posted: t0,
            times: PodTimes {
                ready: ready.map(|ms| t0 + Duration::from_millis(ms)),
                ..Default::default()
            },
        };
        let starts: Vec<Startup> = [Some(300), None, Some(100), Some(200)]
            .into_iter()
            .map(mk)
            .collect();
        let (p50, p99) = p50_p99(&starts, Startup::until_ready);
        assert_eq!(p50, Duration::from_millis(200));
        assert_eq!(p99, Duration::from_millis(300));
    }

    #[test]
    fn kubelet_gets_our_kubeconfig_data_dir_and_node_flags() {
        let dir = std::env::temp_dir().join(format!("rkb-args-{}", std::process::id()));
        let host = NodeHost::new(&dir, Path::new("/imgs"), 9).unwrap();
        let args = kubelet_args(Path::new("/s/admin.kubeconfig"), &host);
        assert_eq!(
            args[..3],
            ["kubelet", "--kubeconfig", "/s/admin.kubeconfig"]
        );
        assert_eq!(args[4], host.data.display().to_string());
        assert!(args.contains(&host.bridge));
        drop(host);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
