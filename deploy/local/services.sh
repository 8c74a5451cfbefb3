#!/usr/bin/env bash
# Runs every service as a local process under honcho (deploy/local/Procfile), logs under .state/logs:
# each process its own <name>.log (as each pod has its own log), honcho's start and stop lines services.log.
# Usage: services.sh start|stop|status
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"
STATE="${FAKA_STATE_DIR:-$ROOT/.state}"
PID_FILE="$STATE/services.pid"
LOG="$STATE/logs/services.log"
# the Procfile as honcho runs it: each command's output appended to its own log. Relayed through honcho,
# every line cost honcho about 0.1 ms of CPU (1.3-1.6 ms a sale at 20-28 orders/s, 13 lines a sale)
RUN_PROCFILE="$STATE/Procfile"
PORTS=(8000 8001 8002 8003 8004 8005 8006 8007)

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

write_procfile() {
  local line
  while IFS= read -r line; do
    [[ "$line" =~ ^([A-Za-z0-9_-]+):[[:space:]]*(.+)$ ]] || continue
    # shellcheck disable=SC2016  # $FAKA_STATE_DIR is for the shell honcho runs the command in
    printf '%s: %s >>"$FAKA_STATE_DIR/logs/%s.log" 2>&1\n' \
      "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
  done <"$SCRIPT_DIR/Procfile" >"$RUN_PROCFILE"
}

show_logs() { # the last lines of honcho's log and of every process's
  local name
  tail -n 20 "$LOG" >&2
  for name in $(cut -d: -f1 "$RUN_PROCFILE"); do # what honcho was given to run
    [ -f "$STATE/logs/$name.log" ] && { echo "--- $name" >&2; tail -n 15 "$STATE/logs/$name.log" >&2; }
  done
  return 0
}

wait_ready() {
  local deadline=$((SECONDS + 120)) port
  for port in "${PORTS[@]}"; do
    until curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; do
      if ! running; then echo "services exited; see $STATE/logs" >&2; show_logs; exit 1; fi
      if (( SECONDS > deadline )); then
        echo "service on port $port not ready after 120 s; see $STATE/logs" >&2; show_logs; exit 1
      fi
      sleep 0.5
    done
  done
}

case "${1:-}" in
  start)
    mkdir -p "$STATE/logs" "$STATE/mailbox/tmp" "$STATE/mailbox/new" "$STATE/mailbox/cur"
    if running; then echo "services already running (pid $(cat "$PID_FILE"))"; exit 0; fi
    # each service defaults to its own database on the local server; a server-wide DATABASE_URL
    # exported for the tests must not leak into them
    unset DATABASE_URL
    export FAKA_STATE_DIR="$STATE" PATH="$ROOT/.venv/bin:$PATH"
    # the local platform runs on the published development secrets: say so, since a service left
    # without ENVIRONMENT is production and refuses them
    export ENVIRONMENT=development
    # uvicorn believes no X-Forwarded-For (--no-proxy-headers); the gateway believes it from these proxies
    # only: locally, whatever runs on this machine in front of it (the end-to-end benchmark's buyers too)
    export TRUSTED_PROXIES="${TRUSTED_PROXIES:-[\"127.0.0.1/32\"]}"
    cd "$ROOT"
    write_procfile
    setsid nohup honcho -f "$RUN_PROCFILE" -d "$ROOT" start >>"$LOG" 2>&1 &
    echo $! >"$PID_FILE"
    wait_ready
    echo "services ready (logs: $STATE/logs/<service>.log)"
    ;;
  stop)
    if running; then
      pid=$(cat "$PID_FILE")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      echo "services stopped"
    fi
    rm -f "$PID_FILE"
    ;;
  status)
    if running; then echo "services: up (pid $(cat "$PID_FILE"))"; else echo "services: down"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
