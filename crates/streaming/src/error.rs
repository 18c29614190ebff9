/// Errors raised by the streaming protocols.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket protocol error: {0}")]
    WebSocket(String),
    #[error("spdy protocol error: {0}")]
    Spdy(String),
    #[error("spdy header compression error: {0}")]
    Compression(String),
    #[error("upgrade handshake rejected: {0}")]
    Handshake(String),
    #[error("connection closed")]
    Closed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
