#!/usr/bin/env bash
# Real redis-server (Debian package) for integration tests, on a random free port, no persistence by default.
#
#   redis.sh start   [name]   launch (same port again if the instance existed), wait for PING; prints nothing on stdout
#   redis.sh stop    [name]   SHUTDOWN NOSAVE / SIGTERM, SIGKILL after a grace period; logs kept
#   redis.sh restart [name]   stop + start on the same port
#   redis.sh status  [name]   exit 0 if running (prints pid/url), 3 if not
#   redis.sh clean   [name]   stop and delete the instance directory
#
# Instance name defaults to $REDIS_INSTANCE or "redis"; files in test/harness/.run/<name>/: url (redis://127.0.0.1:P),
# ports, redis.pid, logs/redis.log, data/.
# Env: REDIS_PERSIST=1 turns on appendonly (AOF) persistence; REDIS_EXTRA_ARGS are appended to the command line.
set -euo pipefail
HARNESS_TAG=redis
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"
name="${2:-${REDIS_INSTANCE:-redis}}"
check_name "$name"
DIR="$RUN_ROOT/$name"
PIDFILE="$DIR/redis.pid"
LOG="$DIR/logs/redis.log"

find_redis() {
  REDIS_SERVER="$(command -v redis-server || true)"
  [[ -n "$REDIS_SERVER" ]] || die "redis-server not found (Debian: apt-get install -y redis-server)"
  REDIS_CLI="$(command -v redis-cli || true)"
}

current_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ -n "$pid" && -f "$DIR/ports" ]] || return 0
  # shellcheck disable=SC1091
  source "$DIR/ports"
  # redis-server rewrites its title to "redis-server 127.0.0.1:PORT".
  if pid_matches "$pid" "redis-server" && pid_matches "$pid" ":$REDIS_PORT"; then echo "$pid"; fi
}

ping() {
  if [[ -n "$REDIS_CLI" ]]; then
    [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null)" == "PONG" ]]
  else
    local reply
    exec 5<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || return 1
    printf 'PING\r\n' >&5
    read -r -t 2 reply <&5 || true
    exec 5>&-
    [[ "$reply" == "+PONG"* ]]
  fi
}

do_start() {
  local pid deadline persist_args
  find_redis
  pid="$(current_pid)"
  if [[ -n "$pid" ]]; then
    say "instance '$name' already running (pid $pid) at $(cat "$DIR/url")"
    return 0
  fi
  mkdir -p "$DIR/logs" "$DIR/data"
  if [[ -f "$DIR/ports" ]]; then
    # shellcheck disable=SC1091
    source "$DIR/ports"
    wait_port_free "$REDIS_PORT" 10 || die "port $REDIS_PORT of instance '$name' is taken by another process"
  else
    ports_lock
    REDIS_PORT="$(pick_free_ports 1)"
    echo "REDIS_PORT=$REDIS_PORT" >"$DIR/ports"
    ports_unlock
  fi
  echo "redis://127.0.0.1:$REDIS_PORT" >"$DIR/url"
  if [[ "${REDIS_PERSIST:-0}" == 1 ]]; then
    persist_args=(--appendonly yes --save '')
  else
    persist_args=(--appendonly no --save '')
  fi
  # shellcheck disable=SC2206
  local extra=(${REDIS_EXTRA_ARGS:-})
  "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode no \
    --daemonize yes --pidfile "$PIDFILE" --logfile "$LOG" --dir "$DIR/data" \
    "${persist_args[@]}" --maxmemory 512mb --maxmemory-policy noeviction "${extra[@]}" ||
    {
      tail_log "$LOG"
      die "redis-server failed to start"
    }
  deadline=$((SECONDS + 20))
  until ping; do
    if ((SECONDS >= deadline)); then
      tail_log "$LOG"
      die "redis-server did not answer PING on port $REDIS_PORT within 20s"
    fi
    sleep 0.1
  done
  say "ready at $(cat "$DIR/url") (pid $(cat "$PIDFILE"))"
}

do_stop() {
  local pid
  pid="$(current_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PIDFILE"
    say "instance '$name' not running"
    return 0
  fi
  # shellcheck disable=SC1091
  source "$DIR/ports"
  kill_gracefully "$pid" 10 TERM
  rm -f "$PIDFILE"
  wait_port_free "$REDIS_PORT" 10 || die "port $REDIS_PORT still in use after redis-server exited"
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
  clean)
    do_stop
    rm -rf "$DIR"
    say "removed $DIR"
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
