//! rkube-bench: start-up, memory, request latency/throughput, commit rate and watch
//! delivery figures for the rkube API server, and (phases sched, deploy, scale)
//! scheduling throughput, Deployment roll-out time, memory and API latency of the whole
//! control plane on plain or simulated nodes, and (phase node) pod start-up latency and
//! kubelet memory on a real node; printed and written to docs/benchmarks.md (one marked
//! section each for the API server, the control plane and the node).

mod client;
mod cp_common;
mod cp_scale;
mod cp_sched;
mod error;
mod load;
mod node_floor;
mod node_host;
mod node_phase;
mod node_pods;
mod objects;
mod phases;
mod podwatch;
mod report;
mod server;
mod sideload;
mod stats;
mod store_bench;
mod watch;

use clap::{Parser, ValueEnum};
use phases::{Ctx, Section};
use server::ServerProc;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Phase {
    /// Start-up to ready, 5 fresh data dirs.
    Startup,
    /// RSS, creates, gets, LIST, API commit rate.
    Api,
    /// Watch delivery latency at 100 and 1,000 watchers.
    Watch,
    /// SqliteStore in-process and raw fdatasync.
    Store,
    /// Scheduling throughput (scheduler_perf SchedulingBasic shape) on plain Nodes.
    Sched,
    /// A 1,000-replica Deployment to fully Running on simulated nodes.
    Deploy,
    /// RSS and API latency with 5,000 simulated nodes and pods towards 150,000.
    Scale,
    /// A real node (kubelet + containerd + CNI, needs root): CRI floor, pod start-up
    /// latency alone and in a batch, kubelet RSS.
    Node,
}

#[derive(Parser)]
#[command(
    name = "rkube-bench",
    about = "Benchmarks the rkube API server and store"
)]
struct Args {
    /// The rkube binary to start (a release build).
    #[arg(long, default_value = "target/release/rkube")]
    rkube: PathBuf,
    /// Scratch directory for data dirs and the store/fdatasync probes (same disk matters).
    #[arg(long, default_value = "target/rkube-bench")]
    work_dir: PathBuf,
    /// Phases to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "startup,api,watch,store")]
    only: Vec<Phase>,
    /// Markdown file whose generated section receives the results.
    #[arg(long)]
    out: Option<PathBuf>,
    /// ConfigMaps to hold during the RSS, get and LIST figures.
    #[arg(long, default_value_t = 6000)]
    objects: usize,
    /// Events per watch round.
    #[arg(long, default_value_t = 200)]
    watch_events: usize,
    /// Nodes for the sched and scale phases.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods per sched batch (streamed, then as a backlog).
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Pods of the large streamed sched batch (0 skips it).
    #[arg(long, default_value_t = 50_000)]
    large_pods: usize,
    /// Connections creating nodes and pods in the control-plane phases.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Simulated nodes for the deploy phase.
    #[arg(long, default_value_t = 100)]
    deploy_nodes: usize,
    /// Replicas of the deploy phase's Deployment.
    #[arg(long, default_value_t = 1000)]
    deploy_replicas: u32,
    /// Pods the scale phase aims for.
    #[arg(long, default_value_t = 150_000)]
    scale_pods: usize,
    /// Time bound of the whole scale phase, in minutes.
    #[arg(long, default_value_t = 10)]
    scale_minutes: u64,
    /// Run the scale phase's scheduler and controller manager as separate processes
    /// (server with --disable-controllers) to read their memory apart.
    #[arg(long)]
    split: bool,
    /// Directory of prebuilt image tars (images/build.sh output) for the node phase;
    /// default: built into WORK_DIR/node-images.
    #[arg(long)]
    node_images: Option<PathBuf>,
    /// Pods started one at a time in the node phase.
    #[arg(long, default_value_t = 20)]
    node_pods: usize,
    /// Pods POSTed at once in the node phase (also the pods held for the kubelet RSS).
    #[arg(long, default_value_t = 30)]
    node_batch: usize,
    /// Timed CRI floor runs (sandbox + create + start) in the node phase.
    #[arg(long, default_value_t = 10)]
    floor_runs: usize,
}

fn shell_words(args: impl Iterator<Item = String>) -> String {
    args.map(|a| {
        if a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:".contains(c))
        {
            a
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    })
    .collect::<Vec<_>>()
    .join(" ")
}

/// CPU the benchmark itself and its reaped servers used.
fn own_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(close) = text.rfind(')') else {
        return Duration::ZERO;
    };
    let f: Vec<u64> = text[close + 1..]
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

async fn run(args: &Args, ctx: &mut Ctx) -> error::Result<()> {
    if args.only.contains(&Phase::Startup) {
        phases::startup(ctx).await?;
    }
    if args.only.contains(&Phase::Api) || args.only.contains(&Phase::Watch) {
        let dir = ctx.work.join("server");
        let _ = std::fs::remove_dir_all(&dir);
        let server = ServerProc::start(&ctx.rkube, &dir).await?;
        println!("server pid {} on {}", server.pid, server.tls.addr);
        let result = async {
            if args.only.contains(&Phase::Api) {
                phases::api(ctx, &server).await?;
            }
            if args.only.contains(&Phase::Watch) {
                phases::watches(ctx, &server).await?;
            }
            if args.only.contains(&Phase::Api) {
                phases::api_commits(ctx, &server).await?;
            }
            Ok::<_, error::BenchError>(())
        }
        .await;
        server.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    if args.only.contains(&Phase::Store) {
        phases::store(ctx).await?;
    }
    ctx.section = Section::ControlPlane;
    if args.only.contains(&Phase::Sched) {
        cp_sched::sched(ctx).await?;
    }
    if args.only.contains(&Phase::Deploy) {
        cp_scale::deploy(ctx).await?;
    }
    if args.only.contains(&Phase::Scale) {
        cp_scale::scale(ctx).await?;
    }
    ctx.section = Section::Node;
    if args.only.contains(&Phase::Node) {
        node_phase::node(ctx).await?;
    }
    Ok(())
}

/// The same allocator as the `rkube` binary, so the client's share of the cores is
/// comparable.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let command = shell_words(std::env::args());

    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu_before = report::machine_cpu();
    let own_before = own_cpu();
    let started = Instant::now();
    if let Err(e) = std::fs::create_dir_all(&args.work_dir) {
        eprintln!("rkube-bench: creating {}: {e}", args.work_dir.display());
        return std::process::ExitCode::FAILURE;
    }
    let machine = report::Machine::probe(&args.work_dir);
    let mut ctx = Ctx {
        rkube: args.rkube.clone(),
        work: args.work_dir.clone(),
        command: command.clone(),
        objects: args.objects,
        watch_events: args.watch_events,
        figures: Vec::new(),
        cp_figures: Vec::new(),
        node_figures: Vec::new(),
        section: Section::Api,
        nodes: args.nodes,
        pods: args.pods,
        large_pods: args.large_pods,
        clients: args.clients,
        deploy_nodes: args.deploy_nodes,
        deploy_replicas: args.deploy_replicas,
        scale_pods: args.scale_pods,
        scale_minutes: args.scale_minutes,
        split: args.split,
        node_images: args.node_images.clone(),
        node_pods: args.node_pods,
        node_batch: args.node_batch,
        floor_runs: args.floor_runs,
    };
    println!(
        "machine: {} cores, {}, {} RAM, disk {}",
        machine.nproc, machine.cpu, machine.memory, machine.disk
    );
    let outcome = run(&args, &mut ctx).await;
    let wall = started.elapsed();
    let sharing = match (cpu_before, report::machine_cpu()) {
        (Some((busy0, total0)), Some((busy1, total1))) => {
            let ours = own_cpu().saturating_sub(own_before);
            let others = (busy1.saturating_sub(busy0)).saturating_sub(ours);
            let capacity = total1.saturating_sub(total0);
            format!(
                "load average before {} / after {}; during the run this benchmark and its servers used \
                 {:.1} CPU-s and other processes {:.1} CPU-s of {:.1} CPU-s available ({:.0}% taken by others)",
                load_before.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
                std::fs::read_to_string("/proc/loadavg")
                    .unwrap_or_default()
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" "),
                ours.as_secs_f64(),
                others.as_secs_f64(),
                capacity.as_secs_f64(),
                100.0 * others.as_secs_f64() / capacity.as_secs_f64().max(1e-9)
            )
        }
        _ => "unknown".into(),
    };
    println!("sharing: {sharing}");
    if let Err(e) = &outcome {
        eprintln!("rkube-bench: {e}");
    }
    if let Some(out) = &args.out {
        // Only sections this run measured are rewritten, so `--only sched` keeps the
        // API-server results and vice versa.
        for (figures, markers) in [
            (&ctx.figures, report::API),
            (&ctx.cp_figures, report::CONTROL_PLANE),
            (&ctx.node_figures, report::NODE),
        ] {
            if figures.is_empty() {
                continue;
            }
            let md = report::markdown(&report::Run {
                date: date.clone(),
                command: command.clone(),
                machine: &machine,
                figures,
                sharing: sharing.clone(),
                wall,
            });
            if let Err(e) = report::write_section(out, &md, markers) {
                eprintln!("rkube-bench: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        println!("wrote {}", out.display());
    }
    if outcome.is_err() {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_quoted_only_when_needed() {
        let words = ["target/release/rkube-bench", "--only", "api,watch", "a b"];
        assert_eq!(
            shell_words(words.iter().map(|s| s.to_string())),
            "target/release/rkube-bench --only api,watch 'a b'"
        );
    }
}
