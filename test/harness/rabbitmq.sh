#!/usr/bin/env bash
# Real RabbitMQ (Debian package rabbitmq-server, 3.10) with its AMQP 1.0 plugin, for the AMQP transport tests of the
# ibm-mq source. Random free port on 127.0.0.1, own node name, data, logs and Erlang cookie per instance.
#
#   rabbitmq.sh start   [name]   launch (same port again if the instance existed), wait until the broker runs
#   rabbitmq.sh stop    [name]   rabbitmqctl stop, SIGTERM/SIGKILL after a grace period; logs kept
#   rabbitmq.sh restart [name]   stop + start on the same port
#   rabbitmq.sh status  [name]   exit 0 if running (prints pid/url), 3 if not
#   rabbitmq.sh ctl     [name] ARGS...   rabbitmqctl against the instance (e.g. list_queues name messages)
#   rabbitmq.sh clean   [name]   stop and delete the instance directory
#
# Instance name defaults to $RABBITMQ_INSTANCE or "rabbitmq"; files in test/harness/.run/<name>/: url
# (amqp://guest:guest@127.0.0.1:P), ports, rabbitmq.pid, logs/, data/.
set -euo pipefail
HARNESS_TAG=rabbitmq
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"
name="${2:-${RABBITMQ_INSTANCE:-rabbitmq}}"
check_name "$name"
DIR="$RUN_ROOT/$name"
PIDFILE="$DIR/rabbitmq.pid"
LOG="$DIR/logs/stdout.log"
RMQ_BIN="${RABBITMQ_BIN_DIR:-/usr/lib/rabbitmq/bin}"

find_rabbitmq() {
  [[ -x "$RMQ_BIN/rabbitmq-server" ]] || die "rabbitmq-server not found in $RMQ_BIN (Debian: apt-get install -y rabbitmq-server)"
}

# Per-instance environment: node name, ports, data, logs, plugins, cookie (HOME).
instance_env() {
  # shellcheck disable=SC1091
  source "$DIR/ports"
  export HOME="$DIR/home"
  export RABBITMQ_NODENAME="sb-${name//[^A-Za-z0-9_-]/_}@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$RABBITMQ_PORT"
  export RABBITMQ_DIST_PORT="$RABBITMQ_DIST_PORT"
  export RABBITMQ_MNESIA_BASE="$DIR/data"
  export RABBITMQ_LOG_BASE="$DIR/logs"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/advanced.config"
  export RABBITMQ_PID_FILE="$PIDFILE"
}

current_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ -n "$pid" && -f "$DIR/ports" ]] || return 0
  if pid_matches "$pid" "beam" && pid_matches "$pid" "-home $DIR/home"; then echo "$pid"; fi
}

do_start() {
  local pid deadline
  find_rabbitmq
  pid="$(current_pid)"
  if [[ -n "$pid" ]]; then
    say "instance '$name' already running (pid $pid) at $(cat "$DIR/url")"
    return 0
  fi
  mkdir -p "$DIR/logs" "$DIR/data" "$DIR/home"
  if [[ -f "$DIR/ports" ]]; then
    # shellcheck disable=SC1091
    source "$DIR/ports"
    wait_port_free "$RABBITMQ_PORT" 10 || die "port $RABBITMQ_PORT of instance '$name' is taken by another process"
  else
    ports_lock
    mapfile -t p < <(pick_free_ports 2)
    printf 'RABBITMQ_PORT=%s\nRABBITMQ_DIST_PORT=%s\n' "${p[0]}" "${p[1]}" >"$DIR/ports"
    ports_unlock
  fi
  instance_env
  echo '[rabbitmq_amqp1_0].' >"$DIR/enabled_plugins"
  cat >"$DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$RABBITMQ_PORT
loopback_users = none
default_user = guest
default_pass = guest
log.console = false
log.file.level = info
EOF
  echo "[]." >"$DIR/advanced.config"
  echo "amqp://guest:guest@127.0.0.1:$RABBITMQ_PORT" >"$DIR/url"
  rm -f "$PIDFILE"
  (setsid "$RMQ_BIN/rabbitmq-server" >"$LOG" 2>&1 </dev/null &)
  deadline=$((SECONDS + ${RABBITMQ_START_TIMEOUT:-150}))
  until [[ -s "$PIDFILE" ]]; do
    if ((SECONDS >= deadline)); then
      tail_log "$LOG"
      die "rabbitmq-server wrote no pid file within the start timeout"
    fi
    sleep 0.2
  done
  if ! timeout $((deadline - SECONDS + 1)) "$RMQ_BIN/rabbitmqctl" wait "$PIDFILE" --timeout $((deadline - SECONDS)) >/dev/null 2>&1; then
    tail_log "$LOG"
    tail_log "$(ls "$DIR"/logs/*.log 2>/dev/null | grep -v stdout | head -1)"
    die "rabbitmq-server did not start on port $RABBITMQ_PORT"
  fi
  until port_listening "$RABBITMQ_PORT"; do
    ((SECONDS < deadline)) || die "rabbitmq-server is up but port $RABBITMQ_PORT does not listen"
    sleep 0.2
  done
  say "ready at $(cat "$DIR/url") (pid $(cat "$PIDFILE"), AMQP 1.0 plugin on the same port)"
}

do_stop() {
  local pid
  pid="$(current_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PIDFILE"
    say "instance '$name' not running"
    return 0
  fi
  instance_env
  timeout 30 "$RMQ_BIN/rabbitmqctl" stop "$PIDFILE" >/dev/null 2>&1 || true
  kill_gracefully "$pid" 15 TERM
  rm -f "$PIDFILE"
  wait_port_free "$RABBITMQ_PORT" 10 || die "port $RABBITMQ_PORT still in use after rabbitmq-server exited"
  say "stopped"
}

do_status() {
  local pid
  pid="$(current_pid)"
  if [[ -n "$pid" ]]; then
    echo "running pid=$pid url=$(cat "$DIR/url") dir=$DIR"
    return 0
  fi
  echo "stopped dir=$DIR"
  return 3
}

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  restart)
    do_stop
    do_start
    ;;
  status) do_status ;;
  ctl)
    shift 2 || true
    [[ -n "$(current_pid)" ]] || die "instance '$name' is not running"
    instance_env
    exec "$RMQ_BIN/rabbitmqctl" -q "$@"
    ;;
  clean)
    do_stop
    rm -rf "$DIR"
    say "removed $DIR"
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
