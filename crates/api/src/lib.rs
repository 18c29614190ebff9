//! What the API serves: the kinds registry and the selector languages. Pure, no I/O.
//!
//! Adding a built-in kind means adding one [`ResourceInfo`] row to [`registry::RESOURCES`]
//! (and its defaulting/validation/printing in the crates that own those jobs); the server's
//! generic handler picks it up.

pub mod quantity;
pub mod registry;
pub mod selectors;

pub use registry::{find_resource, resources, ResourceInfo, Subresource};
