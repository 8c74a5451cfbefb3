#!/usr/bin/env bash
# Local infrastructure for development and CI, without Docker or systemd:
#   PostgreSQL  127.0.0.1:15432  (trust auth, superuser "postgres")
#   Redis       127.0.0.1:16379  (no persistence)
#   Kafka 3.9   127.0.0.1:19092  (single node, KRaft; controller on 19093)
#
# Usage: deploy/local/infra.sh COMMAND
#   install   apt-get install what is missing (postgresql, redis-server, chromium
#             for the browser tests, prometheus for promtool; java
#             and maven too if absent), fetch the Kafka jars with Maven and
#             axe-core with npm (into <state>/npm)
#   up        install, then start whatever is not running and wait until each
#             component really answers; writes <state>/env (source it)
#   down      stop what this script started (by pid files); keeps the data
#   status    one line per component; exit 0 only if all three are up
#   reset     down, then delete the state directory (clean slate)
#   env       print the path of the env file
#   kafka-run CLASS [ARGS...]
#             run a Kafka CLI class with the broker's classpath, e.g.
#             kafka-run org.apache.kafka.tools.TopicCommand \
#                 --bootstrap-server 127.0.0.1:19092 --list
#
# State lives in ${FAKA_STATE_DIR:-<repo root>/.state}: logs/, kafka/,
# redis/, postgres/ (or /var/tmp/faka-<hash>/postgres when the postgres OS
# user cannot reach the state directory), env. Everything binds 127.0.0.1.
# No passwords anywhere: local trust auth only.
set -euo pipefail
umask 022

# a second installation (the chaos run's, which kills its servers) sets other ports with its own state dir
PG_PORT=${FAKA_PG_PORT:-15432}
REDIS_PORT=${FAKA_REDIS_PORT:-16379}
KAFKA_PORT=${FAKA_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${FAKA_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_START_TIMEOUT=90

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"
STATE="${FAKA_STATE_DIR:-$ROOT/.state}"
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac
STATE="${STATE%/}"
# Nothing below depends on the caller's cwd; "/" is also a directory the
# postgres OS user can always enter (runuser keeps the cwd).
cd /

LOGS="$STATE/logs"
ENV_FILE="$STATE/env"
PG_PATH_FILE="$STATE/postgres.path"   # records the chosen postgres base dir
KAFKA_SRC="$SCRIPT_DIR/kafka"
KAFKA_POM="$KAFKA_SRC/pom.xml"
KAFKA_DIR="$STATE/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j.properties"
KAFKA_PROBE_PROPS="$KAFKA_DIR/probe.properties"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_READY="$KAFKA_DIR/ready"        # holds the pid that passed the probe
KAFKA_LOG="$LOGS/kafka.log"           # log4j output of the broker
KAFKA_OUT="$LOGS/kafka.out"           # JVM stdout/stderr (crashes, GC errors)
REDIS_DIR="$STATE/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
NPM_DIR="$STATE/npm"
AXE_VERSION=4.10
AXE_JS="$NPM_DIR/node_modules/axe-core/axe.min.js"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Short-lived CLI JVMs: start fast, log warnings to stderr only.
JAVA_TOOL_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
  "-Dlog4j.configuration=file:$KAFKA_SRC/tools-log4j.properties")

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers --

ensure_state() {
  mkdir -p "$STATE" "$LOGS"
  [ -e "$STATE/.faka-state" ] || echo "state dir of $SCRIPT_DIR/infra.sh" >"$STATE/.faka-state"
  # The state dir ignores itself, whatever the repo's .gitignore says.
  [ -e "$STATE/.gitignore" ] || echo '*' >"$STATE/.gitignore"
}

# Serialise concurrent runs. fd 9 must not leak into the daemons we start
# (they would hold the lock forever), hence the `9>&-` on every launch.
lock_state() {
  ensure_state
  exec 9>"$STATE/.lock"
  flock -w 900 9 || die "another infra.sh holds $STATE/.lock"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

read_pid() { if [ -s "$1" ]; then tr -dc '0-9' <"$1"; fi; }

# pid_matches PID WORD...: the process' command line contains every WORD
# (guards against a stale pid file whose pid was reused).
pid_matches() {
  local pid="$1" cmd w
  shift
  pid_alive "$pid" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  for w in "$@"; do
    [[ "$cmd" == *"$w"* ]] || return 1
  done
}

port_open() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_port_free() { # PORT WHAT
  port_open "$1" || return 0
  local who=""
  if command -v ss >/dev/null 2>&1; then
    who="$(ss -Hltnp "sport = :$1" 2>/dev/null | head -3 || true)"
  fi
  die "port $1 (for $2) is already in use by something this state dir ($STATE) did not start${who:+:
$who}
Stop it (if it is another checkout's infra: FAKA_STATE_DIR=<its state> $0 down), then retry."
}

# wait_until SECONDS COMMAND...: poll until COMMAND succeeds
wait_until() {
  local timeout="$1" deadline
  shift
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

tail_log() { # FILE...
  local f
  for f in "$@"; do
    [ -e "$f" ] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
}

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

render() { # TEMPLATE OUT KEY=VALUE...
  local tmpl="$1" out="$2" expr=() kv
  shift 2
  for kv in "$@"; do
    expr+=(-e "s|@${kv%%=*}@|$(sed_escape "${kv#*=}")|g")
  done
  sed "${expr[@]}" "$tmpl" >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

# --------------------------------------------------------------- install --

pg_bindir() { # newest installed PostgreSQL server binaries
  local d
  # shellcheck disable=SC2012
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] || return 1
  printf '%s\n' "$d"
}

apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
  command -v apt-get >/dev/null || die "no apt-get: install $* by hand"
  log "apt-get install $* (log: $LOGS/apt.log)"
  {
    apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$@"
  } >>"$LOGS/apt.log" 2>&1 </dev/null || {
    tail_log "$LOGS/apt.log"
    die "apt-get install $* failed"
  }
}

install_packages() {
  local pkgs=()
  command -v "$JAVA" >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  pg_bindir >/dev/null || pkgs+=(postgresql)
  { command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || pkgs+=(redis-server)
  # the storefront's browser tests: Debian's Chromium (driven by Playwright, never a downloaded browser),
  # CJK fonts for the zh-CN pages' screenshots, npm for axe-core
  command -v chromium >/dev/null 2>&1 || pkgs+=(chromium fonts-noto-cjk)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  # promtool (checks and unit-tests deploy/prometheus/rules); the package's server is never started here
  command -v promtool >/dev/null 2>&1 || pkgs+=(prometheus)
  if ((${#pkgs[@]})); then
    apt_install "${pkgs[@]}"
  fi
  pg_bindir >/dev/null || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
  command -v redis-server >/dev/null || die "redis-server not found after install"
  id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (is the postgresql package installed?)"
}

fetch_kafka() {
  local want stamp="$KAFKA_LIBS/.complete"
  want="$(sha256sum <"$KAFKA_POM" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found"
  log "fetching Kafka jars with Maven into $KAFKA_LIBS (log: $LOGS/maven.log)"
  mkdir -p "$KAFKA_DIR"
  rm -rf "$KAFKA_LIBS.tmp"
  mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" \
    -Dmaven.wagon.http.retryHandler.count=3 \
    dependency:copy-dependencies \
    -DincludeScope=runtime \
    -DoutputDirectory="$KAFKA_LIBS.tmp" >"$LOGS/maven.log" 2>&1 </dev/null || {
    tail_log "$LOGS/maven.log"
    die "Maven could not fetch the Kafka jars"
  }
  ls "$KAFKA_LIBS.tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven ran but no kafka_2.13 jar in $KAFKA_LIBS.tmp"
  rm -rf "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  echo "$want" >"$stamp"
}

# axe-core (the browser tests' accessibility check) from the npm registry into the state dir.
fetch_axe() {
  [ -s "$AXE_JS" ] && return 0
  command -v npm >/dev/null || die "npm not found"
  log "fetching axe-core $AXE_VERSION with npm into $NPM_DIR (log: $LOGS/npm.log)"
  mkdir -p "$NPM_DIR"
  npm install --no-audit --no-fund --no-save --prefix "$NPM_DIR" "axe-core@$AXE_VERSION" \
    >"$LOGS/npm.log" 2>&1 </dev/null || {
    tail_log "$LOGS/npm.log"
    die "npm could not fetch axe-core"
  }
  [ -s "$AXE_JS" ] || die "npm ran but $AXE_JS is missing"
}

cmd_install() {
  lock_state
  install_packages
  fetch_kafka
  fetch_axe
}

# ------------------------------------------------------------- postgres --

as_pg() { runuser -u postgres -- "$@" 9>&-; }

pg_base() { # base dir holding data/ and postgres.log; chosen once, recorded
  if [ -s "$PG_PATH_FILE" ]; then
    cat "$PG_PATH_FILE"
    return 0
  fi
  local base
  if as_pg test -x "$STATE" 2>/dev/null; then
    base="$STATE/postgres"
  else
    # postgres refuses to run as root, and the postgres user cannot reach
    # the state dir (e.g. repo under /root): keep the cluster elsewhere.
    base="/var/tmp/faka-$(printf '%s' "$STATE" | sha256sum | cut -c1-10)/postgres"
    log "postgres user cannot traverse $STATE; using $base"
  fi
  echo "$base" >"$PG_PATH_FILE"
  echo "$base"
}

pg_vars() {
  PG_BASE="$(pg_base)"
  PG_DATA="$PG_BASE/data"
  PG_LOG="$PG_BASE/postgres.log"
  PG_BIN="$(pg_bindir)" || die "PostgreSQL binaries not found (run: $0 install)"
  # An existing cluster must be run by its own major version.
  if [ -s "$PG_DATA/PG_VERSION" ]; then
    local v
    v="$(cat "$PG_DATA/PG_VERSION")"
    [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ] ||
      die "cluster in $PG_DATA is PostgreSQL $v but only $PG_BIN is installed; run: $0 reset"
    PG_BIN="/usr/lib/postgresql/$v/bin"
  fi
}

# Our postmaster is alive. Checked by command line, not just by pid: after a
# reboot the pid in a stale postmaster.pid may belong to something else, and
# both `pg_ctl status` and the postmaster itself would then be fooled.
pg_running() {
  [ -f "$PG_DATA/postmaster.pid" ] &&
    pid_matches "$(head -1 "$PG_DATA/postmaster.pid" | tr -dc '0-9')" postgres "-D $PG_DATA"
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }

pg_up() {
  pg_vars
  if pg_running; then
    wait_until 30 pg_ready || die "postgres is running but not answering on 127.0.0.1:$PG_PORT"
    log "postgres already up (127.0.0.1:$PG_PORT)"
    return 0
  fi
  require_port_free "$PG_PORT" postgres
  rm -f "$PG_DATA/postmaster.pid" # stale (see pg_running)

  mkdir -p "$(dirname "$PG_BASE")"
  mkdir -p "$PG_BASE"
  chown postgres:postgres "$PG_BASE"
  chmod 700 "$PG_BASE"
  as_pg test -w "$PG_BASE" || die "postgres user cannot write $PG_BASE"
  ln -sfn "$PG_LOG" "$LOGS/postgres.log"

  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    log "initdb $PG_DATA"
    rm -rf "$PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" --username=postgres --auth=trust \
      --encoding=UTF8 --locale=C >"$LOGS/initdb.log" 2>&1 || {
      tail_log "$LOGS/initdb.log"
      die "initdb failed"
    }
    echo "include_if_exists = 'faka.conf'" >>"$PG_DATA/postgresql.conf"
  fi
  # Rewritten on every start, so edits here take effect on the next `up`.
  cat >"$PG_DATA/faka.conf" <<EOF
# Written by deploy/local/infra.sh: overwritten on every start.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 300
fsync = on
# a bulk import writes ~1.4 GB of WAL per million keys: let it finish before a forced checkpoint
max_wal_size = 4GB
shared_buffers = 512MB
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
# statements and transactions per query, as most installations keep them: the end-to-end benchmark
# reports a sale's round trips to each database from them (takes effect when Postgres starts)
shared_preload_libraries = 'pg_stat_statements'
EOF
  chown postgres:postgres "$PG_DATA/faka.conf"

  log "starting postgres on 127.0.0.1:$PG_PORT (log: $LOGS/postgres.log)"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null 2>&1 || {
    tail_log "$PG_LOG"
    die "postgres did not start"
  }
  wait_until 30 pg_ready || {
    tail_log "$PG_LOG"
    die "postgres started but does not answer on 127.0.0.1:$PG_PORT"
  }
}

pg_down() {
  [ -s "$PG_PATH_FILE" ] || return 0
  pg_vars
  if pg_running; then
    log "stopping postgres"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  fi
}

# ---------------------------------------------------------------- redis --

redis_running() { pid_matches "$(read_pid "$REDIS_PID")" redis-server ":$REDIS_PORT"; }

redis_ready() { [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_up() {
  if redis_running; then
    wait_until 30 redis_ready || die "redis is running but does not answer PING"
    log "redis already up (127.0.0.1:$REDIS_PORT)"
    return 0
  fi
  rm -f "$REDIS_PID"
  require_port_free "$REDIS_PORT" redis
  mkdir -p "$REDIS_DIR"
  cat >"$REDIS_CONF" <<EOF
# Written by deploy/local/infra.sh: overwritten on every start.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
supervised no
pidfile "$REDIS_PID"
logfile "$REDIS_LOG"
dir "$REDIS_DIR"
save ""
appendonly no
EOF
  log "starting redis on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
  redis-server "$REDIS_CONF" </dev/null >/dev/null 2>&1 9>&- || {
    tail_log "$REDIS_LOG"
    die "redis-server failed to start"
  }
  wait_until 30 redis_ready || {
    tail_log "$REDIS_LOG"
    die "redis does not answer PING on 127.0.0.1:$REDIS_PORT"
  }
}

redis_down() {
  local pid
  pid="$(read_pid "$REDIS_PID")"
  if pid_matches "$pid" redis-server ":$REDIS_PORT"; then
    log "stopping redis"
    timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    wait_until 10 eval '! pid_alive '"$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$REDIS_PID"
}

# ---------------------------------------------------------------- kafka --

kafka_java() { # CLASS ARGS...: run a Kafka CLI class
  "$JAVA" "${JAVA_TOOL_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$@"
}

kafka_running() { pid_matches "$(read_pid "$KAFKA_PID")" kafka.Kafka "$KAFKA_PROPS"; }

# Ready = a real metadata request (list topics) succeeds, not just a port.
kafka_ready() {
  port_open "$KAFKA_PORT" || return 1
  timeout 40 "$JAVA" "${JAVA_TOOL_OPTS[@]}" -cp "$KAFKA_LIBS/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --command-config "$KAFKA_PROBE_PROPS" --list </dev/null >/dev/null 2>&1
}

# Kafka loads every partition's log before it answers: a data directory that many test runs left with
# thousands of namespaced topics takes minutes, so the wait grows by a second per 100 partitions.
kafka_start_timeout() {
  local partitions
  partitions=$(find "$KAFKA_DATA" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
  echo $((KAFKA_START_TIMEOUT + partitions / 100))
}

kafka_wait_ready() {
  local pid="$1" limit
  limit=$(kafka_start_timeout)
  local deadline=$((SECONDS + limit))
  until kafka_ready; do
    if ! pid_alive "$pid"; then
      tail_log "$KAFKA_OUT" "$KAFKA_LOG"
      die "Kafka exited during startup (see $KAFKA_LOG and $KAFKA_OUT)"
    fi
    if ((SECONDS >= deadline)); then
      tail_log "$KAFKA_OUT" "$KAFKA_LOG"
      die "Kafka did not answer a metadata request on 127.0.0.1:$KAFKA_PORT within ${limit}s (pid $pid still running; see $KAFKA_LOG)"
    fi
    sleep 1
  done
  echo "$pid" >"$KAFKA_READY"
}

kafka_up() {
  local pid
  if kafka_running; then
    pid="$(read_pid "$KAFKA_PID")"
    if [ "$(read_pid "$KAFKA_READY")" = "$pid" ] && port_open "$KAFKA_PORT"; then
      log "kafka already up (127.0.0.1:$KAFKA_PORT)"
      return 0
    fi
    log "kafka running (pid $pid), waiting until it answers"
    kafka_wait_ready "$pid"
    return 0
  fi
  rm -f "$KAFKA_PID" "$KAFKA_READY"
  require_port_free "$KAFKA_PORT" "kafka broker"
  require_port_free "$KAFKA_CONTROLLER_PORT" "kafka controller"
  command -v "$JAVA" >/dev/null || die "java not found"
  [ -f "$KAFKA_LIBS/.complete" ] || die "Kafka jars missing (run: $0 install)"

  mkdir -p "$KAFKA_DIR"
  render "$KAFKA_SRC/server.properties.tmpl" "$KAFKA_PROPS" "KAFKA_DATA_DIR=$KAFKA_DATA" \
    "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT"
  render "$KAFKA_SRC/log4j.properties.tmpl" "$KAFKA_LOG4J" "KAFKA_LOG_FILE=$KAFKA_LOG"
  printf '%s\n' 'request.timeout.ms=5000' 'default.api.timeout.ms=10000' \
    'connections.max.idle.ms=10000' >"$KAFKA_PROBE_PROPS"

  if [ ! -s "$KAFKA_CLUSTER_ID_FILE" ]; then
    kafka_java kafka.tools.StorageTool random-uuid </dev/null 2>>"$KAFKA_OUT" |
      tr -d '[:space:]' >"$KAFKA_CLUSTER_ID_FILE.tmp"
    [ -s "$KAFKA_CLUSTER_ID_FILE.tmp" ] || die "kafka StorageTool random-uuid failed (see $KAFKA_OUT)"
    mv "$KAFKA_CLUSTER_ID_FILE.tmp" "$KAFKA_CLUSTER_ID_FILE"
  fi
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    log "formatting Kafka storage in $KAFKA_DATA"
    kafka_java kafka.tools.StorageTool format --ignore-formatted \
      -t "$(cat "$KAFKA_CLUSTER_ID_FILE")" -c "$KAFKA_PROPS" </dev/null >>"$KAFKA_OUT" 2>&1 || {
      tail_log "$KAFKA_OUT"
      die "kafka storage format failed"
    }
  fi

  log "starting kafka on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_LOG)"
  # setsid: own session, so a Ctrl-C or a process-group kill of the caller
  # does not take the broker down. The inner shell writes its own pid and
  # then becomes java (exec), so the pid file is exact.
  (
    cd "$KAFKA_DIR"
    # shellcheck disable=SC2016
    exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID" \
      "$JAVA" -Xmx512m -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      "-Dlog4j.configuration=file:$KAFKA_LOG4J" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS"
  ) </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
  wait_until 10 test -s "$KAFKA_PID" || die "kafka launcher did not write $KAFKA_PID"
  pid="$(read_pid "$KAFKA_PID")"
  kafka_wait_ready "$pid"
}

kafka_down() {
  local pid
  pid="$(read_pid "$KAFKA_PID")"
  if pid_matches "$pid" kafka.Kafka; then
    log "stopping kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until 60 eval '! pid_alive '"$pid"; then
      log "kafka did not stop within 60s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait_until 10 eval '! pid_alive '"$pid" || true
    fi
  fi
  rm -f "$KAFKA_PID" "$KAFKA_READY"
}

# ------------------------------------------------------------- commands --

write_env() {
  cat >"$ENV_FILE.tmp" <<EOF
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
export DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export FAKA_CHROMIUM=$(command -v chromium || true)
export FAKA_AXE_JS=$AXE_JS
EOF
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

# Fail before starting anything if a port we need is held by a stranger.
preflight_ports() {
  pg_vars
  pg_running || require_port_free "$PG_PORT" postgres
  redis_running || require_port_free "$REDIS_PORT" redis
  if ! kafka_running; then
    require_port_free "$KAFKA_PORT" "kafka broker"
    require_port_free "$KAFKA_CONTROLLER_PORT" "kafka controller"
  fi
}

cmd_up() {
  local t0=$SECONDS
  lock_state
  install_packages
  fetch_kafka
  fetch_axe
  preflight_ports
  pg_up
  redis_up
  kafka_up
  write_env
  log "all up in $((SECONDS - t0))s; use: source $ENV_FILE"
}

cmd_down() {
  [ -d "$STATE" ] || { log "nothing to stop (no $STATE)"; return 0; }
  lock_state
  kafka_down
  redis_down
  pg_down
  log "down (data kept in $STATE)"
}

cmd_status() {
  local all=0 pid
  if [ -s "$PG_PATH_FILE" ] && pg_bindir >/dev/null; then
    pg_vars
    if pg_running && pg_ready; then
      echo "postgres: up    127.0.0.1:$PG_PORT  pid $(head -1 "$PG_DATA/postmaster.pid")  data $PG_DATA"
    elif pg_running; then
      echo "postgres: running but not answering on 127.0.0.1:$PG_PORT"; all=1
    else
      echo "postgres: down"; all=1
    fi
  else
    echo "postgres: down"; all=1
  fi
  if redis_running && command -v redis-cli >/dev/null && redis_ready; then
    echo "redis:    up    127.0.0.1:$REDIS_PORT  pid $(read_pid "$REDIS_PID")"
  elif redis_running; then
    echo "redis:    running but not answering on 127.0.0.1:$REDIS_PORT"; all=1
  else
    echo "redis:    down"; all=1
  fi
  if kafka_running && port_open "$KAFKA_PORT"; then
    pid="$(read_pid "$KAFKA_PID")"
    if [ "$(read_pid "$KAFKA_READY")" = "$pid" ]; then
      echo "kafka:    up    127.0.0.1:$KAFKA_PORT  pid $pid"
    else
      echo "kafka:    starting (pid $pid)"; all=1
    fi
  elif kafka_running; then
    echo "kafka:    starting (pid $(read_pid "$KAFKA_PID")), port $KAFKA_PORT not open yet"; all=1
  else
    echo "kafka:    down"; all=1
  fi
  return "$all"
}

cmd_reset() {
  [ -d "$STATE" ] || { log "nothing to reset (no $STATE)"; return 0; }
  [ -e "$STATE/.faka-state" ] || die "$STATE does not look like an infra.sh state dir (no .faka-state); not deleting it"
  cmd_down
  local base=""
  [ -s "$PG_PATH_FILE" ] && base="$(cat "$PG_PATH_FILE")"
  case "$base" in
    /var/tmp/faka-*/postgres) rm -rf "$base"; rmdir "$(dirname "$base")" 2>/dev/null || true ;;
  esac
  rm -rf "$STATE"
  log "removed $STATE"
}

cmd_kafka_run() {
  [ $# -ge 1 ] || die "usage: $0 kafka-run CLASS [ARGS...]"
  [ -f "$KAFKA_LIBS/.complete" ] || die "Kafka jars missing (run: $0 install)"
  exec "$JAVA" "${JAVA_TOOL_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$@"
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  env) echo "$ENV_FILE" ;;
  kafka-run) shift; cmd_kafka_run "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
