//! rkube's container runtime layer: a CRI v1 client (`RuntimeClient`) and a
//! supervisor that runs rkube's own containerd with its config, socket and
//! state under the data dir (`Containerd`).

mod client;
mod config;
mod error;
pub mod host;
mod image;
mod streams;
mod supervisor;

/// The generated CRI v1 messages, for building sandbox and container configs.
pub use k8s_cri::v1 as api;

pub use client::{socket_from_endpoint, RuntimeClient, DEFAULT_PULL_TIMEOUT, DEFAULT_TIMEOUT};
pub use config::{cni_conflist, containerd_config, Paths};
pub use error::{CriError, Result};
pub use supervisor::{import_image, Containerd, ContainerdOptions};
