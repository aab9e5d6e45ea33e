#!/usr/bin/env bash
# Resolve the Apache Kafka jars (broker, controller, StorageTool, kafka-tools) from Maven Central into a cache dir
# and print that libs directory on stdout. Resolves once per version; later calls just print the path.
#
#   KAFKA_VERSION     Kafka version to resolve (default 3.9.2, the latest 3.9 patch)
#   STOCKBRIDGE_CACHE cache root (default $HOME/.cache/stockbridge); jars go to $STOCKBRIDGE_CACHE/kafka-<v>/libs
#   MAVEN_REPO        optional Maven local repository (default: Maven's own, ~/.m2/repository)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
CACHE="${STOCKBRIDGE_CACHE:-$HOME/.cache/stockbridge}"
DEST="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$DEST/libs"

log() { echo "[kafka-resolve] $*" >&2; }

if [[ -f "$DEST/.complete" && -d "$LIBS" ]]; then
  echo "$LIBS"
  exit 0
fi

command -v mvn >/dev/null || { log "mvn not found on PATH (apt-get install -y maven)"; exit 1; }
command -v java >/dev/null || { log "java not found on PATH (Java 17+ needed)"; exit 1; }

mkdir -p "$CACHE"
# Two shells (or two engineers) resolving at once must not interleave their copies.
exec 9>"$CACHE/.kafka-$KAFKA_VERSION.lock"
flock 9
if [[ -f "$DEST/.complete" && -d "$LIBS" ]]; then
  echo "$LIBS"
  exit 0
fi

case "$KAFKA_VERSION" in
  3.*) logging=reload4j ;;
  *) logging=log4j2 ;;
esac

tmp="$DEST/libs.tmp.$$"
rm -rf "$tmp"
mkdir -p "$DEST"
log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION + kafka-tools ($logging) into $LIBS"
start=$(date +%s)
mvn_args=(-B -q --no-transfer-progress -Dstyle.color=never -f "$HERE/pom.xml"
  "-Dkafka.version=$KAFKA_VERSION" "-Dkafka.logging=$logging" "-Dlibs.dir=$tmp")
[[ -n "${MAVEN_REPO:-}" ]] && mvn_args+=("-Dmaven.repo.local=$MAVEN_REPO")
# (Maven 3.8 still prints ANSI resets in batch mode: strip them.)
if ! mvn "${mvn_args[@]}" dependency:copy-dependencies 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
  rm -rf "$tmp"
  log "Maven could not resolve Kafka $KAFKA_VERSION (is Maven Central reachable? is the version published?)"
  exit 1
fi
for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar"; do
  [[ -f "$tmp/$jar" ]] || { rm -rf "$tmp"; log "missing $jar after resolution"; exit 1; }
done
rm -rf "$LIBS"
mv "$tmp" "$LIBS"
rm -rf "$HERE/target"
ls "$LIBS" >"$DEST/.complete"
log "resolved $(wc -l <"$DEST/.complete") jars ($(du -sh "$LIBS" | cut -f1)) in $(($(date +%s) - start))s"
echo "$LIBS"
