#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the end-to-end tests that drive
# real kubectl and the official Python client against real `rkube server` processes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast
