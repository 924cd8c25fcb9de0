#!/bin/sh
# Starts the service named by $SERVICE (or the first argument) with tsx; exec so the process
# gets SIGTERM directly (tini is PID 1 and forwards it) and can drain.
set -eu
svc="${1:-${SERVICE:-}}"
case "$svc" in
  sfu-gateway|stt-adapter|session-orchestrator|rag-worker|tts-streamer)
    [ $# -gt 0 ] && shift
    exec node --import tsx "services/$svc/src/main.ts" "$@" ;;
  provision)
    [ $# -gt 0 ] && shift
    exec node --import tsx tools/provision/src/main.ts "$@" ;;
  "")
    echo "switchboard: set SERVICE to one of sfu-gateway, stt-adapter, session-orchestrator, rag-worker, tts-streamer, provision" >&2
    exit 64 ;;
  *)
    exec "$@" ;;
esac
