//! Reading kube-rs errors the way the controllers need to.

use crate::Error;

fn status(e: &Error) -> Option<&kube::core::Status> {
    match e {
        Error::Kube(kube::Error::Api(s)) => Some(s),
        _ => None,
    }
}

pub fn is_not_found(e: &Error) -> bool {
    status(e).is_some_and(|s| s.code == 404)
}

pub fn is_already_exists(e: &Error) -> bool {
    status(e).is_some_and(|s| s.code == 409 && s.reason == "AlreadyExists")
}

pub fn is_conflict(e: &Error) -> bool {
    status(e).is_some_and(|s| s.code == 409)
}

/// What the API server said, as events quote it.
pub fn message(e: &Error) -> String {
    match status(e) {
        Some(s) if !s.message.is_empty() => s.message.clone(),
        _ => e.to_string(),
    }
}
