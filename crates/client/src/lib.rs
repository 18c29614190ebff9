//! What every control loop shares: a kube-rs client from a kubeconfig, leader election
//! over Leases, an event recorder, and small helpers for owner references and selectors.
//!
//! Informers, work queues and retries come from kube-rs's runtime (`kube::runtime`:
//! `watcher`, `reflector`, `Controller`); this crate adds only what it lacks.

pub mod events;
pub mod leader;
pub mod objects;

pub use k8s_openapi;
pub use kube;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// A client authenticated by the kubeconfig at `path` (its current context).
pub async fn from_kubeconfig(path: &Path) -> Result<kube::Client, ClientError> {
    let err = |e: &dyn std::fmt::Display| ClientError::Kubeconfig {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| err(&e))?;
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| err(&e))?;
    // Control loops hold long watches; the default read timeout would cut them.
    config.read_timeout = None;
    Ok(kube::Client::try_from(config)?)
}
