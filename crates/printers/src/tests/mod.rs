//! Table tests: realistic objects in, upstream-shaped cells out.

use chrono::{DateTime, Utc};

mod columns;

pub(crate) fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}
mod core_kinds;
mod pods;
mod workloads;
