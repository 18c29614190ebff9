//! The API server: TLS, authentication, one generic REST handler over the kinds
//! registry, a watch cache in front of the store.
//!
//! A request flows: [`server`] (TLS, client certificate) → [`handler`] (authenticate,
//! route) → [`read`] / [`write`] / [`watch`] / [`subresources`] → [`state::Api`] (store
//! for writes, [`cache`] for reads).

pub mod admission;
pub mod alloc;
pub mod auth;
pub mod binding;
pub mod body;
pub mod cache;
pub mod cached;
pub mod convert;
pub mod discovery;
pub mod handler;
pub mod lifecycle;
pub mod namespaces;
pub mod pki;
pub mod proxy;
pub mod read;
pub mod request;
pub mod server;
pub mod state;
pub mod status;
pub mod stored;
pub mod subresources;
pub mod tokens;
pub mod watch;
pub mod write;

pub use server::{Config, Server};
