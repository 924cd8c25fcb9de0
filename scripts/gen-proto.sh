#!/usr/bin/env bash
# Generates TypeScript from proto/ (buf + ts-proto, offline). --check fails if the
# checked-in code under libs/contracts/src/gen is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=libs/contracts/src/gen
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  sed "s#out: $OUT#out: $tmp/gen#" buf.gen.yaml > "$tmp/buf.gen.yaml"
  pnpm exec buf generate --template "$tmp/buf.gen.yaml"
  if ! diff -ru "$OUT" "$tmp/gen"; then
    echo "generated code is stale: run 'pnpm gen' and commit $OUT" >&2; exit 1
  fi
  echo "generated code is fresh"
else
  rm -rf "$OUT"; pnpm exec buf generate; echo "generated $OUT"
fi
