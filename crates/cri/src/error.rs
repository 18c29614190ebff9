use std::path::PathBuf;
use std::time::Duration;

/// Errors of the CRI client and the containerd supervisor.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("cannot connect to CRI endpoint {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    /// The runtime answered with a gRPC error; the status carries its code and
    /// message, which the kubelet surfaces in events (e.g. image pull failures).
    #[error("CRI {call} failed: {}: {}", .status.code(), .status.message())]
    Status {
        call: &'static str,
        status: Box<tonic::Status>,
    },
    #[error("CRI {call} timed out after {timeout:?}")]
    Timeout {
        call: &'static str,
        timeout: Duration,
    },
    #[error("CRI {call}: the runtime's answer lacks {what}")]
    Missing {
        call: &'static str,
        what: &'static str,
    },
    #[error("{program} not found: run scripts/install-runtime.sh to install containerd, runc and the CNI plugins")]
    NotInstalled { program: String },
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("containerd did not become ready within {timeout:?}: {last_error}")]
    NotReady {
        timeout: Duration,
        last_error: String,
    },
    #[error("containerd exited during start-up ({status}); see {}", .log.display())]
    Exited { status: String, log: PathBuf },
    #[error("{command} failed: {message}")]
    Command { command: String, message: String },
    #[error("invalid option {name}: {message}")]
    InvalidOption { name: &'static str, message: String },
}

impl CriError {
    /// The gRPC code when the runtime answered with an error status.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            CriError::Status { status, .. } => Some(status.code()),
            _ => None,
        }
    }

    /// True when the runtime reported that the object does not exist, which
    /// the kubelet treats as "already gone" during clean-up.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(tonic::Code::NotFound)
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CriError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = CriError> = std::result::Result<T, E>;
