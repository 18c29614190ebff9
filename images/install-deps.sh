#!/usr/bin/env bash
# Installs what images/build.sh and images/check.sh need, from Debian 12 packages only:
# a C compiler with static libc, the static busybox and bash that go into the images,
# python3 for the OCI packer and curl for the checks.
set -euo pipefail

need=()
command -v gcc >/dev/null || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
# busybox-static and bash-static ship fully static binaries; the dynamic busybox
# package would also provide /bin/busybox, so check the package, not the path.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
dpkg -s bash-static >/dev/null 2>&1 || need+=(bash-static)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)

if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
