#!/usr/bin/env bash
# A real Kafka broker with a SASL_PLAINTEXT listener (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) beside the usual
# PLAINTEXT one, for authentication tests. Built on kafka.sh (same instance layout under test/harness/.run/<name>/).
#
#   kafka-sasl.sh start [name]   start (first time: start, add the SASL listener, restart, create the SCRAM user)
#   kafka-sasl.sh stop  [name]   stop (data kept)
#   kafka-sasl.sh clean [name]   stop and delete the instance
#
# Files: <dir>/sasl-bootstrap (host:port of the SASL listener), <dir>/bootstrap (PLAINTEXT, for admin work).
# Credentials (test only): user `alice`, password `alice-secret`, for all three mechanisms.
set -euo pipefail
HARNESS_TAG=kafka-sasl
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"
name="${2:-${KAFKA_SASL_INSTANCE:-kafka-sasl}}"
check_name "$name"
DIR="$RUN_ROOT/$name"
PROPS="$DIR/server.properties"
USER_NAME=alice
USER_PASSWORD=alice-secret

jaas_props() {
  cat <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${USER_NAME}="${USER_PASSWORD}";
EOF
}

do_start() {
  if [[ -f "$DIR/sasl-bootstrap" ]]; then
    bash "$HARNESS_DIR/kafka.sh" start "$name"
    say "SASL listener at $(cat "$DIR/sasl-bootstrap")"
    return 0
  fi
  if ! grep -q '^SASL_PORT=' "$DIR/ports" 2>/dev/null; then
    KAFKA_EXTRA_PROPERTIES="$(jaas_props)" bash "$HARNESS_DIR/kafka.sh" start "$name"
    bash "$HARNESS_DIR/kafka.sh" stop "$name"
    # shellcheck disable=SC1091
    source "$DIR/ports"
    ports_lock
    sport="$(pick_free_ports 1)"
    echo "SASL_PORT=$sport" >>"$DIR/ports"
    ports_unlock
    # Later keys win in a Java properties file: redefine the listeners with the SASL one added.
    cat >>"$PROPS" <<EOF

# kafka-sasl.sh: SASL_PLAINTEXT listener for authentication tests
listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT,SASL_PLAINTEXT://127.0.0.1:$sport
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
EOF
  fi
  # shellcheck disable=SC1091
  source "$DIR/ports"
  sport="$SASL_PORT"
  bash "$HARNESS_DIR/kafka.sh" start "$name"
  libs="$(KAFKA_VERSION="$(cat "$DIR/version")" bash "$HARNESS_DIR/kafka/resolve.sh")"
  # One mechanism per request (the broker refuses two alterations of one user in a request).
  for mech in "SCRAM-SHA-256=[iterations=4096,password=$USER_PASSWORD]" "SCRAM-SHA-512=[password=$USER_PASSWORD]"; do
    java -Xmx128m -cp "$libs/*" kafka.admin.ConfigCommand --bootstrap-server "$(cat "$DIR/bootstrap")" --alter \
      --add-config "$mech" --entity-type users --entity-name "$USER_NAME" >>"$DIR/logs/scram.log" 2>&1 || {
      tail_log "$DIR/logs/scram.log"
      die "could not create the SCRAM user"
    }
  done
  echo "127.0.0.1:$sport" >"$DIR/sasl-bootstrap"
  say "SASL listener at 127.0.0.1:$sport (user $USER_NAME)"
}

case "$cmd" in
  start) do_start ;;
  stop) bash "$HARNESS_DIR/kafka.sh" stop "$name" ;;
  clean) bash "$HARNESS_DIR/kafka.sh" clean "$name" ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
