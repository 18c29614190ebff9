//! End-to-end tests (see the file owner in the issue 3 work split).

mod common;
