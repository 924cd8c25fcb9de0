#!/usr/bin/env bash
# Creates the two Secrets a Switchboard release reads, with fresh random values, unless they
# already exist (never rotates silently):
#   switchboard-nats-credentials  one NATS password per user (keys: sfu-gateway, stt-adapter,
#                                 session-orchestrator, rag-worker, tts-streamer, provisioner);
#                                 read by the services AND by the NATS server (install NATS in the
#                                 same namespace, with deploy/helm/nats-auth-values.yaml)
#   switchboard-app               SIGNALING_SECRET (+ LLM_API_KEY when $LLM_API_KEY is set)
# Usage: deploy/scripts/create-secrets.sh <namespace>
#   DRY_RUN=1 prints the manifests instead of applying them (no cluster needed).
# Passwords are plain tokens starting with a letter: nats-server parses $VAR values as config.
set -euo pipefail
NS="${1:?usage: $0 <namespace>}"
KUBECTL="${KUBECTL:-kubectl}"
USERS=(sfu-gateway stt-adapter session-orchestrator rag-worker tts-streamer provisioner)

token() { # <length> random [A-Za-z0-9], prefixed with a letter
  local n="$1" s=""
  while [ ${#s} -lt "$n" ]; do s+=$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9'); done
  printf 'p%s' "${s:0:$n}"
}

exists() { [ "${DRY_RUN:-0}" != 1 ] && "$KUBECTL" -n "$NS" get secret "$1" >/dev/null 2>&1; }

emit() { # <name> <literal args...>
  local name="$1"; shift
  if [ "${DRY_RUN:-0}" = 1 ]; then
    "$KUBECTL" -n "$NS" create secret generic "$name" "$@" --dry-run=client -o yaml; echo '---'
  else
    "$KUBECTL" -n "$NS" create secret generic "$name" "$@"
  fi
}

if exists switchboard-nats-credentials; then
  echo "switchboard-nats-credentials exists in $NS: kept" >&2
else
  args=(); for u in "${USERS[@]}"; do args+=("--from-literal=$u=$(token 31)"); done
  emit switchboard-nats-credentials "${args[@]}"
fi
if exists switchboard-app; then
  echo "switchboard-app exists in $NS: kept" >&2
else
  args=("--from-literal=SIGNALING_SECRET=$(token 47)")
  [ -n "${LLM_API_KEY:-}" ] && args+=("--from-literal=LLM_API_KEY=$LLM_API_KEY")
  emit switchboard-app "${args[@]}"
fi
