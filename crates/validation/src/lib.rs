//! rkube-validation: upstream (kube-apiserver 1.33) defaulting and validation
//! for the kinds rkube serves, over objects in their Kubernetes JSON form.
//!
//! Objects stay `serde_json::Value` throughout so unknown fields survive
//! defaulting untouched.

mod defaults;
mod errors;
mod meta;
mod names;
mod prepare;
mod quantity;
mod selector;
mod validate;
mod value;

pub use errors::{ErrorType, FieldError};
use serde_json::Value;

/// Apply upstream defaults in place (the object has apiVersion/kind/metadata/spec as sent).
///
/// Also performs the registry's create-time additions that clients observe:
/// Secret `stringData` folded into `data`, Namespace `spec.finalizers`
/// (only when the object has no resourceVersion yet), Service IP family
/// fields, and Job selector/label generation when `metadata.uid` is set.
pub fn apply_defaults(group: &str, resource: &str, obj: &mut Value) {
    defaults::apply(group, resource, obj);
}

/// Validate a new object (after defaulting), including metadata.
///
/// Name generation must already have happened: an object with only
/// `generateName` reports `metadata.name: Required value`.
pub fn validate_create(group: &str, resource: &str, obj: &Value) -> Vec<FieldError> {
    validate::validate_create(group, resource, obj)
}

/// Validate an update: everything validate_create checks plus immutable fields.
pub fn validate_update(group: &str, resource: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    validate::validate_update(group, resource, new, old)
}

/// Update-time carry-over upstream does before validating (rest.BeforeUpdate
/// and strategies): keeps the stored uid, creationTimestamp, deletion fields
/// and generation (never decremented); a Service update that omits its
/// allocated clusterIP(s), IP families or nodePorts keeps the stored values;
/// a Namespace keeps its spec.finalizers. Call after `apply_defaults` and
/// before `validate_update`.
pub fn prepare_update(group: &str, resource: &str, new: &mut Value, old: &Value) {
    prepare::prepare_update(group, resource, new, old);
}

/// Generates the Job selector and pod-template labels from `metadata.uid`
/// (upstream's job registry does this on create). `apply_defaults` already
/// calls it; exposed for callers that assign the uid afterwards.
pub fn generate_job_selector(job: &mut Value) {
    defaults::generate_job_selector(job);
}
