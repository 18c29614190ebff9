//! Wire protocols that kubectl and the Python client speak for `exec`, `attach` and
//! `port-forward`: the Kubernetes WebSocket channel protocols (`v5.channel.k8s.io` and older),
//! SPDY/3.1 with the `streamtype` stream conventions, and SPDY tunnelled inside a WebSocket.
//!
//! Everything here is transport-agnostic: connections are generic over
//! `AsyncRead + AsyncWrite`, so a hyper upgraded connection, a TLS stream or an in-memory
//! duplex all work.

pub mod client;
pub mod error;
pub mod exec;
pub mod portforward;
pub mod spdy;
pub mod status;
pub mod ws;

pub use error::Error;
pub use exec::{ExecOptions, ExecStreams, OutputSender, TerminalSize};
pub use status::ExitStatus;
