#!/usr/bin/env bash
# Starts the whole system locally: installs what is missing (scripts/bootstrap.sh), then runs
# every service (N replicas each: --replicas N, or --replicas-<service> N) against the local NATS
# server (started if none listens on 127.0.0.1:4222) and prints the call page link.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node --import tsx tools/dev/src/start.ts "$@"
