//! The one error type of the crate, classified the way the upstream API server answers.

/// Why a patch could not be applied.
///
/// The variants mirror how kube-apiserver classifies the failure, because clients (kubectl)
/// react differently to 400, 422 and 500 answers. Messages match upstream's wording where a
/// client can see them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The request body could not be decoded as a patch of this type.
    /// Upstream answers `400 BadRequest` with this message.
    #[error("{0}")]
    InvalidBody(String),
    /// A strategic-merge-patch directive (`$deleteFromPrimitiveList`, `$retainKeys`,
    /// `$setElementOrder`) is malformed. Upstream answers `400 BadRequest`.
    #[error("{0}")]
    BadDirective(String),
    /// The patch decoded fine but cannot be applied to this object (failed JSON-patch `test`,
    /// missing path, list of lists, ...). Upstream answers `422` with reason `Invalid`; the
    /// Status message is "the server rejected our request due to an error in our request"
    /// and this text is the detail.
    #[error("{0}")]
    NotApplicable(String),
    /// Strategic merge failed in a way upstream does not classify (missing merge key, unknown
    /// `$patch` value, ...). Upstream passes the raw error up, which becomes `500
    /// InternalError`.
    #[error("{0}")]
    Internal(String),
    /// The patch is larger than upstream accepts (JSON patch with more than 10000
    /// operations). Upstream answers `413 RequestEntityTooLarge`.
    #[error("{0}")]
    TooLarge(String),
}

impl PatchError {
    /// HTTP status code upstream answers this error with.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::InvalidBody(_) | PatchError::BadDirective(_) => 400,
            PatchError::NotApplicable(_) => 422,
            PatchError::Internal(_) => 500,
            PatchError::TooLarge(_) => 413,
        }
    }

    /// `Status.reason` upstream uses for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::InvalidBody(_) | PatchError::BadDirective(_) => "BadRequest",
            PatchError::NotApplicable(_) => "Invalid",
            PatchError::Internal(_) => "InternalError",
            PatchError::TooLarge(_) => "RequestEntityTooLarge",
        }
    }

    /// The error text without classification.
    pub fn message(&self) -> &str {
        match self {
            PatchError::InvalidBody(m)
            | PatchError::BadDirective(m)
            | PatchError::NotApplicable(m)
            | PatchError::Internal(m)
            | PatchError::TooLarge(m) => m,
        }
    }
}

/// Turns a serde_json decode error into text close to what Go's encoding/json reports, since
/// that text reaches the client in the 400 answer.
pub(crate) fn decode_error_text(err: &serde_json::Error) -> String {
    if err.is_eof() {
        "unexpected end of JSON input".to_string()
    } else {
        err.to_string()
    }
}
