//! SPDY/3.1 as kubectl's spdystream client speaks it.

pub mod conn;
pub mod dictionary;
pub mod frame;
pub mod headers;
pub mod stream;
pub mod upgrade;

pub use conn::SpdyConnection;
pub use frame::Frame;
pub use headers::{HeaderCompressor, HeaderDecompressor, Headers};
pub use stream::{SpdyReadHalf, SpdyStream, SpdyWriteHalf};
