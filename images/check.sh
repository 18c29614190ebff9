#!/usr/bin/env bash
# Checks the image tarballs that build.sh wrote to OUT_DIR:
#  - OCI structure: every digest and size in index.json and the manifests
#    matches its blob, diff_ids match the uncompressed layers, the image names
#    are the expected ones, every ELF file is static (oci.py verify);
#  - behaviour: the bootcamp servers and curl taken out of the images answer
#    and log like the original app, pause stops on SIGTERM, and (as root) the
#    shells and tools run chrooted inside the unpacked rootfs with no host files.
# Exits non-zero with a message naming the first failure.
set -euo pipefail

out=${1:?usage: check.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "check.sh: FAIL: $*" >&2; exit 1; }
pass() { echo "check.sh: ok: $*"; }
command -v curl >/dev/null || fail "host curl not found (run images/install-deps.sh)"

# 1. Structure.
declare -A refs=(
  [pause-3.9.tar]="registry.k8s.io/pause:3.9 rkube.local/pause:3.9"
  [bootcamp-v1.tar]="gcr.io/google-samples/kubernetes-bootcamp:v1"
  [bootcamp-v2.tar]="docker.io/jocatalin/kubernetes-bootcamp:v2"
  [tools-1.tar]="rkube.local/tools:1"
)
for tarball in "${!refs[@]}"; do
  [ -f "$out/$tarball" ] || fail "$out/$tarball is missing"
  args=()
  for r in ${refs[$tarball]}; do args+=(--ref "$r"); done
  "$python" "$here/oci.py" verify "$out/$tarball" "${args[@]}" >"$work/verify.log" 2>&1 ||
    fail "$tarball: $(cat "$work/verify.log")"
  pass "$tarball structure (${refs[$tarball]})"
  name=${tarball%.tar}
  mkdir -p "$work/$name"
  "$python" "$here/oci.py" extract "$out/$tarball" "$work/$name" || fail "$tarball: cannot unpack"
done

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until something answers on 127.0.0.1:$1 (the server binds lazily).
wait_http() {
  local i
  for i in $(seq 1 50); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  return 1
}

# 2. The bootcamp servers, run from the unpacked images.
for v in 1 2; do
  root="$work/bootcamp-v$v"
  port=$(free_port)
  host="rkube-check-v$v"
  PORT=$port HOSTNAME=$host "$root/usr/local/bin/bootcamp" >"$work/server-v$v.log" 2>&1 &
  server=$!
  pids+=("$server")
  wait_http "$port" || fail "bootcamp v$v did not answer on port $port: $(cat "$work/server-v$v.log")"
  want="Hello Kubernetes bootcamp! | Running on: $host | v=$v"

  got=$(curl -s "http://127.0.0.1:$port/")
  [ "$got" = "$want" ] || fail "bootcamp v$v answered '$got', expected '$want'"
  # The image's own curl, run directly from the unpacked layer.
  got=$("$root/usr/bin/curl" "http://127.0.0.1:$port")
  [ "$got" = "$want" ] || fail "image curl (v$v) printed '$got', expected '$want'"
  got=$("$root/usr/bin/curl" -s "http://localhost:$port/some/path")
  [ "$got" = "$want" ] || fail "image curl -s localhost (v$v) printed '$got', expected '$want'"
  # Byte-exact body, trailing newline included.
  "$root/usr/bin/curl" -s -o "$work/body" "http://127.0.0.1:$port/"
  printf '%s\n' "$want" | cmp -s - "$work/body" || fail "bootcamp v$v body is not '$want\\n' byte for byte"
  headers=$("$root/usr/bin/curl" -sI "http://127.0.0.1:$port/")
  grep -q '^HTTP/1.1 200' <<<"$headers" || fail "HEAD: unexpected status: $headers"
  pass "bootcamp v$v answers host curl and image curl with '$want'"

  log="$work/server-v$v.log"
  grep -q "^Kubernetes Bootcamp App Started At: .* | Running On:  $host" "$log" ||
    fail "bootcamp v$v start line missing from its log: $(cat "$log")"
  grep -q "^Running On: $host | Total Requests: 5 | App Uptime: [0-9.]* seconds | Log Time: " "$log" ||
    fail "bootcamp v$v request lines missing from its log: $(cat "$log")"
  pass "bootcamp v$v logs a start line and one line per request"

  kill -TERM "$server"
  wait "$server" 2>/dev/null && status=0 || status=$?
  [ "$status" = 0 ] || fail "bootcamp v$v exited $status on SIGTERM, expected 0"
  if "$root/usr/bin/curl" -s "http://127.0.0.1:$port/" >/dev/null; then
    fail "image curl succeeded against a stopped server"
  else
    status=$?
  fi
  [ "$status" = 7 ] || fail "image curl exited $status on a refused connection, expected 7"
  pass "bootcamp v$v stops on SIGTERM; curl reports a refused connection with exit 7"
done

# 3. Pause: sleeps until SIGTERM, then exits 0.
"$work/pause-3.9/pause" 2>/dev/null &
pause_pid=$!
pids+=("$pause_pid")
sleep 0.3
kill -0 "$pause_pid" 2>/dev/null || fail "pause exited on its own"
kill -TERM "$pause_pid"
wait "$pause_pid" 2>/dev/null && status=0 || status=$?
[ "$status" = 0 ] || fail "pause exited $status on SIGTERM, expected 0"
pass "pause runs until SIGTERM and exits 0"

# 4. Inside the rootfs with nothing from the host: proves the binaries are
# self-contained and the applet links resolve. chroot needs root.
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  port=$(free_port)
  PORT=$port HOSTNAME=chrooted "$work/bootcamp-v1/usr/local/bin/bootcamp" >/dev/null 2>&1 &
  pids+=("$!")
  wait_http "$port" || fail "bootcamp for the chroot checks did not start"
  for image in bootcamp-v1 tools-1; do
    root="$work/$image"
    in_image() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=chrooted chroot "$root" "$@"; }
    got=$(in_image bash -c 'echo "bash $BASH_VERSION"') || fail "$image: bash does not run"
    [[ $got == "bash 5."* ]] || fail "$image: bash printed '$got'"
    got=$(in_image sh -c 'echo $((6*7))') || fail "$image: sh does not run"
    [ "$got" = 42 ] || fail "$image: sh printed '$got'"
    in_image env | grep -qx 'HOSTNAME=chrooted' || fail "$image: env does not list the environment"
    for tool in ls cat ps wget nslookup nc sleep grep hostname; do
      in_image sh -c "command -v $tool" >/dev/null || fail "$image: $tool is not on PATH"
    done
    got=$(in_image curl -s "http://localhost:$port") || fail "$image: curl inside the rootfs failed"
    [ "$got" = "Hello Kubernetes bootcamp! | Running on: chrooted | v=1" ] ||
      fail "$image: curl inside the rootfs printed '$got'"
    got=$(in_image wget -q -O - "http://127.0.0.1:$port/") || fail "$image: wget inside the rootfs failed"
    [ "$got" = "Hello Kubernetes bootcamp! | Running on: chrooted | v=1" ] ||
      fail "$image: wget inside the rootfs printed '$got'"
    pass "$image: bash, sh, env, busybox applets, curl and wget run inside the unpacked rootfs"
  done
else
  echo "check.sh: skipped: chroot checks need root"
fi

echo "check.sh: all image checks passed"
