#!/usr/bin/env bash
# Builds rkube's offline images as OCI image layout tarballs in OUT_DIR:
#   pause-3.9.tar      registry.k8s.io/pause:3.9, rkube.local/pause:3.9
#   bootcamp-v1.tar    gcr.io/google-samples/kubernetes-bootcamp:v1
#   bootcamp-v2.tar    docker.io/jocatalin/kubernetes-bootcamp:v2
#   tools-1.tar        rkube.local/tools:1
# plus images.txt (one line per tarball: file name, then its image names).
# Needs gcc with static glibc, busybox-static, bash-static and python3
# (images/install-deps.sh installs them). No network access.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}
bash_static=${BASH_STATIC:-/bin/bash-static}
python=${PYTHON:-python3}

for need in gcc "$python"; do
  command -v "$need" >/dev/null || { echo "build.sh: $need not found; run images/install-deps.sh" >&2; exit 1; }
done
for f in "$busybox" "$bash_static"; do
  [ -x "$f" ] || { echo "build.sh: $f not found; run images/install-deps.sh" >&2; exit 1; }
done
# The dynamic busybox package also installs /bin/busybox; it would not run in an image.
if "$python" - "$busybox" "$bash_static" <<'PY'
import sys
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    phoff = int.from_bytes(data[0x20:0x28], "little")
    size = int.from_bytes(data[0x36:0x38], "little")
    for k in range(int.from_bytes(data[0x38:0x3A], "little")):
        if int.from_bytes(data[phoff + k * size:phoff + k * size + 4], "little") == 3:
            sys.exit(0)
sys.exit(1)
PY
then
  echo "build.sh: $busybox or $bash_static is dynamically linked; install busybox-static and bash-static" >&2
  exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc() { gcc -static -O2 -s -Wall -Wextra -o "$@" 2>"$work/cc.log" || { cat "$work/cc.log" >&2; return 1; }; }
cc "$work/pause" "$here/src/pause.c"
cc "$work/bootcamp-v1" -DAPP_VERSION=1 -pthread "$here/src/bootcamp.c"
cc "$work/bootcamp-v2" -DAPP_VERSION=2 -pthread "$here/src/bootcamp.c"
# getaddrinfo in static glibc warns at link time; files and dns lookups are built
# into glibc >= 2.34, so it resolves without shared NSS modules at run time.
cc "$work/curl" "$here/src/curl.c"
cc "$work/nslookup" "$here/src/nslookup.c"

# A small userland: busybox applets, bash, curl, and the files shells expect.
userland() {
  local root=$1
  mkdir -p "$root"/{bin,etc,root,tmp,proc,sys,dev,var,usr/bin,usr/local/bin}
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  local applet
  for applet in $("$busybox" --list); do
    case $applet in busybox | bash) continue ;; esac
    ln -s busybox "$root/bin/$applet"
  done
  cp "$bash_static" "$root/bin/bash"
  cp "$work/curl" "$root/usr/bin/curl"
  # Ahead of busybox's applet on PATH: resolves with the search list (src/nslookup.c).
  cp "$work/nslookup" "$root/usr/bin/nslookup"
  # Scripts start with #!/usr/bin/env; relative links keep the tree usable when unpacked anywhere.
  ln -s ../../bin/busybox "$root/usr/bin/env"
  printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

pack() { "$python" "$here/oci.py" pack "$@"; }
path_env='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

mkdir -p "$work/pause-root"
cp "$work/pause" "$work/pause-root/pause"
pack --rootfs "$work/pause-root" --out "$out/pause-3.9.tar" \
  --ref registry.k8s.io/pause:3.9 --ref rkube.local/pause:3.9 \
  --entrypoint '["/pause"]' --env "$path_env" --workdir /

for v in 1 2; do
  root="$work/bootcamp-v$v-root"
  userland "$root"
  cp "$work/bootcamp-v$v" "$root/usr/local/bin/bootcamp"
  ref=gcr.io/google-samples/kubernetes-bootcamp:v1
  [ "$v" = 2 ] && ref=docker.io/jocatalin/kubernetes-bootcamp:v2
  pack --rootfs "$root" --out "$out/bootcamp-v$v.tar" --ref "$ref" \
    --entrypoint '["/usr/local/bin/bootcamp"]' --env "$path_env" \
    --port 8080/tcp --workdir /
done

# Cmd rather than Entrypoint, like the busybox image: `kubectl run ... -- sleep 3600`
# replaces the command instead of becoming arguments to sh.
userland "$work/tools-root"
pack --rootfs "$work/tools-root" --out "$out/tools-1.tar" --ref rkube.local/tools:1 \
  --cmd '["sh"]' --env "$path_env" --workdir /

cat >"$out/images.txt" <<TXT
pause-3.9.tar registry.k8s.io/pause:3.9 rkube.local/pause:3.9
bootcamp-v1.tar gcr.io/google-samples/kubernetes-bootcamp:v1
bootcamp-v2.tar docker.io/jocatalin/kubernetes-bootcamp:v2
tools-1.tar rkube.local/tools:1
TXT
