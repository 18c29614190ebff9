#!/usr/bin/env bash
# Installs what rkube needs on Debian 12, from Debian's packages and PyPI only.
#   install-deps.sh run   what `rkube server` needs
#   install-deps.sh test  plus what the test suite drives (curl, the Python client)
set -euo pipefail
mode=${1:-run}

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
if [ "$mode" = test ] && ! command -v pip >/dev/null && ! python3 -m pip --version >/dev/null 2>&1; then
  need_apt+=(python3-pip)
fi
# containerd, runc, the CNI plugins, nftables, and protoc (the CRI stubs are generated at
# build time).
"$(dirname "$0")/install-runtime.sh"

if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# The images the node runs are built from static binaries (images/README.md).
"$(dirname "$0")/../images/install-deps.sh"

if [ "$mode" = test ]; then
  # A local registry proves the image pull path (tests/kubelet.rs). Installing it must not
  # start the packaged service: the test runs its own on loopback.
  if ! command -v docker-registry >/dev/null; then
    policy=/usr/sbin/policy-rc.d
    ours=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      ours=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry
    [ -n "$ours" ] && rm -f "$policy"
  fi
  if ! python3 -c 'import kubernetes' 2>/dev/null; then
    python3 -m pip install -q kubernetes || python3 -m pip install -q --break-system-packages kubernetes
  fi
  if ! command -v kubectl >/dev/null; then
    echo "kubectl is not on PATH: the end-to-end tests drive the real kubectl (1.32 and 1.33)" >&2
    exit 1
  fi
fi
