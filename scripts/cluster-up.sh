#!/usr/bin/env bash
# Builds rkube and starts a single-server cluster in the foreground.
# Extra arguments go to `rkube server` (see `rkube server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
cargo build --release -p rkube
exec target/release/rkube server "$@"
