#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, idempotently:
# Debian packages (nats-server, chromium, speech engines, mediasoup build deps), pnpm,
# npm dependencies, generated code, and the mediasoup worker (built once, cached).
# Each step says what it does; a second run skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
step() { printf '\n\033[1m[bootstrap] %s\033[0m\n' "$*"; }
SUDO=""; if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  nats-server chromium sox flite espeak-ng
  libpocketsphinx3 pocketsphinx-en-us libsphinxbase3 festival festvox-us-slt-hts
  meson ninja-build pkg-config g++ patch python3 libuv1-dev libssl-dev libsrtp2-dev
  libusrsctp-dev libabsl-dev libflatbuffers-dev flatbuffers-compiler unzip
)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "Debian packages: all ${#DEBIAN_PACKAGES[@]} present"
fi

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null || [ "$(pnpm -v)" != "$PNPM_VERSION" ]; then
  step "installing pnpm@$PNPM_VERSION from the npm registry"
  npm i -g "pnpm@$PNPM_VERSION" --no-fund --no-audit
else
  step "pnpm $PNPM_VERSION present"
fi

LOCK_HASH=$( (cat pnpm-lock.yaml 2>/dev/null; cat package.json */*/package.json 2>/dev/null) | sha256sum | cut -c1-16)
if [ ! -f node_modules/.switchboard-install ] || [ "$(cat node_modules/.switchboard-install)" != "$LOCK_HASH" ]; then
  step "installing npm dependencies (pnpm install)"
  pnpm install --frozen-lockfile=false --reporter=append-only
  echo "$LOCK_HASH" > node_modules/.switchboard-install
else
  step "npm dependencies up to date"
fi

if [ -x scripts/mediasoup/build-worker.sh ]; then
  step "mediasoup worker (built from source once, then cached)"
  bash scripts/mediasoup/build-worker.sh
fi
step "done"
