#!/usr/bin/env bash
# Builds mediasoup 3.19.3's worker from the npm package's C++ sources against Debian 12
# libraries (mediasoup's own build downloads prebuilt binaries or subprojects; no internet here).
# Caches the binary at $SWITCHBOARD_CACHE/mediasoup-worker/<version>-<patch hash>/mediasoup-worker;
# a second run only prints "cached".
#
#   build-worker.sh               build (or reuse) the worker, print its path last
#   build-worker.sh --print-path  print where the binary is (or will be); exit 1 if not built
#
# Self-contained (usable from a Dockerfile: COPY scripts/mediasoup/ and run it): it needs only
# node/npm (for `npm pack`), python3 and the Debian build packages, which it apt-get installs
# when missing. It installs nothing else. Env: MEDIASOUP_VERSION (default 3.19.3),
# SWITCHBOARD_CACHE, BUILD_JOBS (default: nproc), KEEP_BUILD_DIR=1 (keep sources for debugging).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=${MEDIASOUP_VERSION:-3.19.3}
CACHE_ROOT=${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}
PATCH_SCRIPT="$HERE/patch-worker.py"
# Everything that changes the binary goes into the key: the patch and the meson options below.
MESON_OPTS=(--buildtype=release -Db_ndebug=true --wrap-mode=nodownload -Dms_disable_liburing=false)
PATCH_HASH=$( (cat "$PATCH_SCRIPT"; echo "${MESON_OPTS[*]}") | sha256sum | cut -c1-12)
OUT_DIR="$CACHE_ROOT/mediasoup-worker/$VERSION-$PATCH_HASH"
BIN="$OUT_DIR/mediasoup-worker"

step() { printf '[build-worker] %s\n' "$*" >&2; }

if [ "${1:-}" = "--print-path" ]; then
  echo "$BIN"
  [ -x "$BIN" ] || { step "not built yet: run $0"; exit 1; }
  exit 0
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--print-path]" >&2; exit 2
fi

cached() {
  if [ -x "$BIN" ] && [ -s "$BIN" ]; then
    step "cached: mediasoup $VERSION worker at $BIN"
    echo "$BIN"
    exit 0
  fi
}
cached
# One build at a time per cache (bootstrap and test files may ask concurrently): wait for the
# other build, then reuse its result.
mkdir -p "$CACHE_ROOT/mediasoup-worker"
exec 9>"$CACHE_ROOT/mediasoup-worker/.build.lock"
if ! flock -n 9; then
  step "another build is running; waiting for it"
  flock 9
fi
cached

# Debian packages needed to build (same list as scripts/bootstrap.sh's mediasoup part).
DEPS=(meson ninja-build pkg-config g++ patch python3 libuv1-dev libssl-dev libsrtp2-dev
  libusrsctp-dev libabsl-dev libflatbuffers-dev flatbuffers-compiler)
missing=()
for p in "${DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  step "installing missing Debian build packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v npm >/dev/null || { step "npm is required (for npm pack mediasoup@$VERSION)"; exit 1; }

START=$(date +%s)
mkdir -p "$CACHE_ROOT/mediasoup-worker"
WORK=$(mktemp -d "$CACHE_ROOT/mediasoup-worker/.build-$VERSION.XXXXXX")
cleanup() { if [ "${KEEP_BUILD_DIR:-0}" != 1 ]; then rm -rf "$WORK"; else step "kept $WORK"; fi; }
trap cleanup EXIT

step "1/5 fetching sources: npm pack mediasoup@$VERSION"
(cd "$WORK" && npm pack "mediasoup@$VERSION" --silent >/dev/null)
tar -xzf "$WORK/mediasoup-$VERSION.tgz" -C "$WORK"
[ -f "$WORK/package/worker/meson.build" ] || { step "no worker/ sources in the package"; exit 1; }

step "2/5 patching for Debian 12 libraries ($PATCH_SCRIPT, hash $PATCH_HASH)"
python3 "$PATCH_SCRIPT" "$WORK/package"

JOBS=${BUILD_JOBS:-$(nproc)}
step "3/5 meson setup (${MESON_OPTS[*]})"
meson setup "$WORK/build" "$WORK/package/worker" "${MESON_OPTS[@]}"

# flatc from Debian (2.0.8) must generate the FBS headers first: the worker's sources include
# them, and meson's dependency graph does not order that for every source on a clean build.
step "4/5 generating FlatBuffers headers (flatbuffers-generator)"
meson compile -C "$WORK/build" -j "$JOBS" flatbuffers-generator

step "5/5 compiling mediasoup-worker with $JOBS jobs (~4 min on 2 cores)"
meson compile -C "$WORK/build" -j "$JOBS" mediasoup-worker

mkdir -p "$OUT_DIR"
install -m 0755 "$WORK/build/mediasoup-worker" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"  # atomic: a concurrent reader sees either nothing or the whole binary
echo "mediasoup $VERSION, patch $PATCH_HASH, built $(date -u +%FT%TZ) in $(( $(date +%s) - START )) s" > "$OUT_DIR/BUILD_INFO"
step "built in $(( $(date +%s) - START )) s: $BIN ($(du -h "$BIN" | cut -f1))"
echo "$BIN"
