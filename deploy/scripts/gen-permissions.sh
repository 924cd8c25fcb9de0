#!/usr/bin/env bash
# Regenerates deploy/helm/switchboard/files/permissions.json and deploy/helm/nats-auth-values.yaml
# from libs/contracts/src/permissions.ts (the one permission matrix).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx tools/deploy-check/src/gen-permissions.ts
