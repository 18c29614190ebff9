#!/usr/bin/env bash
# Builds rkube and its offline images and starts a single-server cluster (control plane
# plus this machine as a node running containerd) in the foreground.
# The data dir is $RKUBE_DATA_DIR (default /var/lib/rkube); extra arguments go to
# `rkube server` (see `rkube server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
cargo build --release -p rkube
export RKUBE_DATA_DIR=${RKUBE_DATA_DIR:-/var/lib/rkube}
# Like kind, a development node shares its disk with everything else on the machine: it
# reports no disk pressure (which would keep new pods off it) unless asked to
# (RKUBE_EVICTION_HARD or --eviction-hard; see docs/getting-started.md).
export RKUBE_EVICTION_HARD=${RKUBE_EVICTION_HARD:-memory.available<100Mi,nodefs.available<0%,nodefs.inodesFree<0%}
# The node imports every image tarball in DATA_DIR/images when it starts.
images/build.sh "$RKUBE_DATA_DIR/images" >/dev/null
exec target/release/rkube server "$@"
