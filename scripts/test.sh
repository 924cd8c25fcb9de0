#!/usr/bin/env bash
# The full test suite: installs what is missing, checks generated code, types and lint,
# then runs every test file with node's test runner (each test starts its own nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "[test] generated code is fresh"; bash scripts/gen-proto.sh --check
echo "[test] typecheck"; pnpm -s typecheck
echo "[test] lint"; pnpm -s lint
mapfile -t all < <(find libs services tools bench -path '*/node_modules' -prune -o -name '*.test.ts' -print 2>/dev/null | sort)
# Timing-sensitive files (they call exclusiveTestFile(): one at a time machine-wide) go last, so the
# light files run two at a time first and only the heavy phase is serialised.
light=(); heavy=()
for f in "${all[@]}"; do if grep -q 'await exclusiveTestFile()' "$f"; then heavy+=("$f"); else light+=("$f"); fi; done
files=("${light[@]}" "${heavy[@]}")
if [ $# -gt 0 ]; then files=("$@"); fi
echo "[test] ${#files[@]} test files (${#heavy[@]} timing-sensitive, run one at a time at the end)"
exec node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout="${TEST_TIMEOUT_MS:-600000}" "${files[@]}"
