//! Simulated nodes: register nodes, renew their Leases and play the kubelet's part for
//! pods bound to them. The control plane's scale harness, like KWOK.

/// How many nodes and what they look like.
#[derive(Debug, Clone)]
pub struct Options {
    pub count: usize,
    pub name_prefix: String,
    pub cpu: String,
    pub memory: String,
    pub max_pods: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            count: 3,
            name_prefix: "sim-node-".into(),
            cpu: "4".into(),
            memory: "16Gi".into(),
            max_pods: 110,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Runs the simulated nodes until the process ends (not written yet: returns at once).
pub async fn run(_client: kube::Client, _options: Options) -> Result<(), Error> {
    Ok(())
}
