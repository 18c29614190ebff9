#!/usr/bin/env bash
# Installs the container runtime rkube's kubelet drives, from Debian's packages:
# containerd (with ctr), runc, the CNI plugins (/usr/lib/cni), protoc (the CRI
# stubs are generated at build time), nftables, iproute2 and conntrack.
#
# rkube runs its own containerd with its own config, socket, root and state under
# its data dir, so a distribution containerd service (if one is running) never
# shares anything with it. This script does not enable or start that service.
set -euo pipefail

need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v modprobe >/dev/null || need+=(kmod)
# kube-proxy flushes conntrack entries of removed UDP endpoints with it.
command -v conntrack >/dev/null || need+=(conntrack)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

# Keep maintainer scripts from starting the packaged containerd service: invoke-rc.d
# consults policy-rc.d, and 101 means "action forbidden". Only ours is removed again.
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  ours=$policy
fi
trap '[ -n "$ours" ] && rm -f "$ours"' EXIT

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
