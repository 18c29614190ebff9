//! The node agent (kubelet): registers this machine as a Node, runs the pods bound to it
//! in containerd through CRI v1, reports their status, and serves the node API on 10250
//! (container logs, exec, attach, port-forward) that the API server proxies to.
//!
//! Map of the crate:
//! - `config`: what a kubelet is told (node name and IP, directories, cluster DNS, TLS).
//! - `meta`: the CRI labels, annotations and paths that tie runtime objects to pods; the
//!   kubelet, its server and a restarted kubelet all find containers through them.
//! - `node`: Node registration from the host's facts, Lease renewal, status and conditions.
//! - `pods`: the pod manager (a watch on pods bound to this node) and one worker per pod
//!   that drives the sandbox and containers towards the spec and writes pods/status.
//! - `volumes`, `env`, `probes`: what a worker needs to start containers and keep them
//!   healthy.
//! - `server`: the HTTPS node API.
//! - `agent`: start-up order for a whole node (register, wait for a podCIDR, containerd,
//!   pod workers, server).

pub mod agent;
pub mod config;
pub mod env;
pub mod error;
pub mod meta;
pub mod node;
pub mod pods;
pub mod probes;
pub mod server;
pub mod volumes;

pub use config::{KubeletConfig, ServerTls};
pub use error::{Error, Result};
