//! The scheduler: a queue of unscheduled pods, a framework of filter and score plugins,
//! and a binder writing pods/binding.

/// Settings; defaults are upstream's.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pods with this spec.schedulerName are ours.
    pub scheduler_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scheduler_name: "default-scheduler".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Schedules pods until the process ends (not written yet: returns at once).
pub async fn run(_client: kube::Client, _options: Options) -> Result<(), Error> {
    Ok(())
}
