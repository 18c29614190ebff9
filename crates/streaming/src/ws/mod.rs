//! A small RFC 6455 WebSocket implementation (both roles) plus the Kubernetes channel
//! protocols layered on it.

pub mod channel;
pub mod conn;
pub mod frame;
pub mod handshake;

pub use channel::{ChannelCodec, ChannelProtocol};
pub use conn::{Message, Role, WsReceiver, WsSender, WsStream};
