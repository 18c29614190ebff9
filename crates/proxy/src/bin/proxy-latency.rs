//! Network programming latency end to end: an EndpointSlice change written to the API
//! server → the running proxy's rules live, as the proxy itself records it (from the
//! slice's `endpoints.kubernetes.io/last-change-trigger-time`, set here to the moment just
//! before the write, to the end of the `nft` transaction that carries it).
//!
//! Usage (as root, KUBECONFIG pointing at a server, e.g. `rkube server --disable-agent
//! --disable-controllers --store memory`): proxy-latency [SERVICES] [ROUNDS]
//! (default 1000 services × 10 endpoints, 30 changes). Uses its own namespace and nft
//! table and removes both at the end. Prints a markdown table.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use rkube_proxy::{ProxyConfig, ProxyMetrics, Summary};

const ENDPOINTS: usize = 10;
const TRIGGER: &str = "endpoints.kubernetes.io/last-change-trigger-time";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn pod_ip(service: usize, slot: usize) -> String {
    let base = u32::from(Ipv4Addr::new(10, 128, 0, 0));
    Ipv4Addr::from(base + (service * 64 + slot % 64) as u32).to_string()
}

fn slice(ns: &str, i: usize, slots: &[usize]) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("svc-{i}-a")),
            namespace: Some(ns.to_string()),
            labels: Some(BTreeMap::from([(
                "kubernetes.io/service-name".to_string(),
                format!("svc-{i}"),
            )])),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: slots
            .iter()
            .map(|s| Endpoint {
                addresses: vec![pod_ip(i, *s)],
                conditions: Some(EndpointConditions {
                    ready: Some(true),
                    serving: Some(true),
                    terminating: Some(false),
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    }
}

fn service(ns: &str, i: usize) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(format!("svc-{i}")),
            namespace: Some(ns.to_string()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080),
                ),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn wait_for(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn measure(
    client: kube::Client,
    ns: &str,
    table: &str,
    services: usize,
    rounds: usize,
) -> Result<(Summary, Summary, Duration), BoxError> {
    let svc_api: Api<Service> = Api::namespaced(client.clone(), ns);
    let slice_api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let started = Instant::now();
    stream::iter(0..services)
        .map(|i| {
            let (svc_api, slice_api) = (svc_api.clone(), slice_api.clone());
            async move {
                svc_api
                    .create(&PostParams::default(), &service(ns, i))
                    .await?;
                let slots: Vec<usize> = (0..ENDPOINTS).collect();
                slice_api
                    .create(&PostParams::default(), &slice(ns, i, &slots))
                    .await?;
                Ok::<_, kube::Error>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let created = started.elapsed();
    let metrics = ProxyMetrics::new();
    let config = ProxyConfig {
        node_name: "latency-bench".into(),
        node_ips: vec![IpAddr::from([127, 0, 0, 1])],
        table: table.to_string(),
        nodeport_addresses_localhost: false,
        metrics: metrics.clone(),
        ..Default::default()
    };
    let proxy = tokio::spawn(rkube_proxy::run(client.clone(), config));
    wait_for("the first full sync", Duration::from_secs(300), || {
        metrics.sync_duration().count >= 1
    })
    .await?;
    let full = metrics.sync_duration().max;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for r in 0..rounds {
        let i = (r * 7919) % services;
        // Replace endpoint 0 by a new address, as a pod replacement would.
        let mut slots: Vec<usize> = (1..ENDPOINTS).collect();
        slots.push(ENDPOINTS + r);
        let mut body = slice(ns, i, &slots);
        let trigger = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        body.metadata.annotations = Some(BTreeMap::from([(TRIGGER.to_string(), trigger)]));
        slice_api
            .patch(
                &format!("svc-{i}-a"),
                &PatchParams::default(),
                &Patch::Merge(&body),
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_for("every change to be live", Duration::from_secs(60), || {
        metrics.programming_latency().count >= rounds as u64
    })
    .await?;
    proxy.abort();
    eprintln!("created {services} services and slices in {created:?}");
    Ok((metrics.programming_latency(), metrics.sync_duration(), full))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let services = args.first().copied().unwrap_or(1000);
    let rounds = args.get(1).copied().unwrap_or(30);
    let client = kube::Client::try_default().await?;
    let pid = std::process::id();
    let ns = format!("proxy-latency-{pid}");
    let table = format!("rkube-latency-{pid}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    let result = measure(client.clone(), &ns, &table, services, rounds).await;
    let _ = rkube_proxy::cleanup(&table);
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    let (latency, syncs, full) = result?;
    println!("| services × {ENDPOINTS} endpoints | changes | programming latency p50 / p90 / p99 / max | first full sync | syncs p50 / p99 |");
    println!("|---|---|---|---|---|");
    println!(
        "| {services} | {} | {} / {} / {} / {} | {} | {} / {} |",
        latency.count,
        ms(latency.p50),
        ms(latency.p90),
        ms(latency.p99),
        ms(latency.max),
        ms(full),
        ms(syncs.p50),
        ms(syncs.p99)
    );
    Ok(())
}
