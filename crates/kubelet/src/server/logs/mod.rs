//! `GET /containerLogs/{ns}/{pod}/{container}`: container output read from the CRI log
//! files (containerd has no log RPC), with upstream's options and error messages.

pub mod parse;
mod reader;

use bytes::Bytes;
use http::{Response, StatusCode};
use rkube_cri::api;
use rkube_cri::RuntimeClient;
use tokio::sync::mpsc;

use super::lookup;
use super::response::{self, Body};
use super::route::{PodRef, Query};
use parse::LogOptions;
pub use reader::stream_log;

pub async fn handle(
    runtime: &RuntimeClient,
    pod: &PodRef,
    container: &str,
    query: &Query,
) -> Response<Body> {
    let opts = match LogOptions::from_query(query, chrono::Utc::now()) {
        Ok(o) => o,
        Err(e) => return response::error(StatusCode::BAD_REQUEST, e),
    };
    let (id, log_path, running) = match find(runtime, pod, container, opts.previous).await {
        Ok(found) => found,
        Err((code, msg)) => return response::error(code, msg),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let follow = opts.follow && running;
    let runtime = runtime.clone();
    tokio::spawn(async move {
        let alive = || {
            let runtime = runtime.clone();
            let id = id.clone();
            async move { container_running(&runtime, &id).await }
        };
        stream_log(log_path.into(), opts, follow, alive, tx).await;
    });
    response::stream(rx)
}

type Failure = (StatusCode, String);

/// Picks the container attempt whose log is wanted: (id, log path, running).
async fn find(
    runtime: &RuntimeClient,
    pod: &PodRef,
    container: &str,
    previous: bool,
) -> Result<(String, String, bool), Failure> {
    let internal = |e: crate::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let attempts = lookup::containers(runtime, pod, container)
        .await
        .map_err(internal)?;
    let name = &pod.name;
    if attempts.is_empty() {
        let sandboxes = lookup::sandboxes(runtime, pod).await.map_err(internal)?;
        if sandboxes.is_empty() {
            return Err((
                StatusCode::NOT_FOUND,
                format!("pod {name:?} does not exist"),
            ));
        }
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
            ),
        ));
    }
    let chosen = if previous {
        attempts.get(1).ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("previous terminated container {container:?} in pod {name:?} not found"),
            )
        })?
    } else {
        &attempts[0]
    };
    let status = runtime
        .container_status(&chosen.id, false)
        .await
        .map_err(|e| internal(e.into()))?
        .status
        .unwrap_or_default();
    if !previous && status.state == api::ContainerState::ContainerCreated as i32 {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
            ),
        ));
    }
    if status.log_path.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("container {container:?} in pod {name:?} has no log file"),
        ));
    }
    let running = status.state == api::ContainerState::ContainerRunning as i32;
    Ok((chosen.id.clone(), status.log_path, running))
}

/// Whether a followed container still runs; errors count as gone so a follow never hangs
/// on a container the runtime forgot.
async fn container_running(runtime: &RuntimeClient, id: &str) -> bool {
    match runtime.container_status(id, false).await {
        Ok(r) => r
            .status
            .is_some_and(|s| s.state == api::ContainerState::ContainerRunning as i32),
        Err(_) => false,
    }
}
