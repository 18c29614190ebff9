use std::path::PathBuf;

/// Everything that can stop a benchmark phase.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("network: {0}")]
    Net(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("building request: {0}")]
    Request(#[from] http::Error),
    #[error("bad PEM in {0}")]
    Pem(PathBuf),
    #[error("{method} {path} answered {status}: {body}")]
    Status {
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    #[error("server: {0}")]
    Server(String),
    #[error("store: {0}")]
    Store(#[from] rkube_store::StoreError),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl BenchError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, BenchError>;
