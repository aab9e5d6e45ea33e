#!/usr/bin/env bash
# Start/stop the real Kafka broker and redis-server together (instances "kafka" and "redis" unless KAFKA_INSTANCE /
# REDIS_INSTANCE say otherwise). Keeps them running between test runs:
#
#   npm run services:start                       # or: bash test/harness/services.sh start
#   eval "$(bash test/harness/services.sh env)"  # exports KAFKA_BROKERS and REDIS_URL into this shell
#   npx vitest run --project integration         # global setup reuses the running services
#   npm run services:stop
#
#   services.sh start|stop|restart|status|env|clean
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_ROOT="${STOCKBRIDGE_RUN_DIR:-$HERE/.run}"
kafka_name="${KAFKA_INSTANCE:-kafka}"
redis_name="${REDIS_INSTANCE:-redis}"

print_env() {
  echo "export KAFKA_BROKERS=$(cat "$RUN_ROOT/$kafka_name/bootstrap")"
  echo "export REDIS_URL=$(cat "$RUN_ROOT/$redis_name/url")"
  echo "export STOCKBRIDGE_KAFKA_INSTANCE=$kafka_name"
  echo "export STOCKBRIDGE_REDIS_INSTANCE=$redis_name"
}

case "${1:-}" in
  start)
    bash "$HERE/redis.sh" start "$redis_name"
    bash "$HERE/kafka.sh" start "$kafka_name"
    print_env
    echo "# services running; to use them from this shell: eval \"\$(bash test/harness/services.sh env)\"" >&2
    ;;
  stop)
    rc=0
    bash "$HERE/kafka.sh" stop "$kafka_name" || rc=$?
    bash "$HERE/redis.sh" stop "$redis_name" || rc=$?
    exit "$rc"
    ;;
  restart)
    bash "$HERE/redis.sh" restart "$redis_name"
    bash "$HERE/kafka.sh" restart "$kafka_name"
    print_env
    ;;
  status)
    rc=0
    k="$(bash "$HERE/kafka.sh" status "$kafka_name")" || rc=$?
    r="$(bash "$HERE/redis.sh" status "$redis_name")" || rc=$?
    echo "kafka: $k"
    echo "redis: $r"
    exit "$rc"
    ;;
  env) print_env ;;
  clean)
    bash "$HERE/kafka.sh" clean "$kafka_name"
    bash "$HERE/redis.sh" clean "$redis_name"
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
