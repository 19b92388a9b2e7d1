#!/usr/bin/env bash
# Segments written by a real Apache Kafka broker, and Kafka's own DumpLogSegments output on
# them: the oracle sim-tests/kafka_oracle.rs holds `kafka-sim dump-log` and `Log::open` to.
#
#   bench/kafka/fixtures.sh [OUT]
#
# OUT defaults to sim-tests/fixtures/kafka-$VERSION (the checked-in copy: regenerate it
# with no argument). It receives:
#   data/TOPIC-0/    each partition directory as the broker left it after a clean stop
#                    (.log .index .timeindex .txnindex .snapshot, checkpoints), without the
#                    `.deleted` files the cleaner leaves for later deletion
#   data.txt         DumpLogSegments --deep-iteration --print-data-log --files (every
#                    .index, .log, .timeindex, sorted)
#   deep.txt         ... --deep-iteration         } only with OUT given (the live test):
#   dump.txt         ... with neither option      } the checked-in copy stays small
#   VERSION          the Kafka version that wrote and dumped them
# The dumps are run from data/, so the paths they print are relative (plain-0/...).
# FixtureWriter.java says what each topic holds. Needs Java 17+, Maven and Maven Central
# (kafka.sh fetch); exit 3 when one is missing, as kafka.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
KAFKA="$HERE/kafka.sh"
LIBS="$("$KAFKA" fetch)"
VERSION="$(basename "$LIBS")"
VERSION="${VERSION#libs-}"
OUT="${1:-$REPO/sim-tests/fixtures/kafka-$VERSION}"
ALL_MODES="${1:+yes}"
CACHE="${KAFKA_CACHE:-$REPO/target/kafka}"
export KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$CACHE/fixtures-run}"
export KAFKA_PORT="${KAFKA_PORT:-39092}"

if ! java --list-modules 2>/dev/null | grep -q '^jdk.compiler'; then
  echo "fixtures.sh: this Java has no compiler (a JRE): FixtureWriter.java runs as a source file and needs a JDK 17+ (apt-get install openjdk-17-jdk-headless)" >&2
  exit 3
fi

cleanup() { "$KAFKA" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

# A fresh single node; the cleaner wakes every half second so the compacted topic is
# cleaned while the writer waits.
"$KAFKA" format 1 log.cleaner.backoff.ms=500 >/dev/null
"$KAFKA" start 1 log.cleaner.backoff.ms=500 >/dev/null
DATA="$KAFKA_RUN_DIR/node-0/data"
java -Xmx256m -Dlog4j2.configurationFile="$HERE/log4j2.properties" -cp "$LIBS/*" \
  "$HERE/FixtureWriter.java" "127.0.0.1:$KAFKA_PORT" "$DATA"
"$KAFKA" stop >/dev/null

TOPICS=(plain gzip snappy lz4 zstd txn compacted)
rm -rf "$OUT"
mkdir -p "$OUT/data"
for t in "${TOPICS[@]}"; do
  mkdir -p "$OUT/data/$t-0"
  find "$DATA/$t-0" -maxdepth 1 -type f ! -name '*.deleted' -exec cp {} "$OUT/data/$t-0/" \;
done
echo "$VERSION" >"$OUT/VERSION"

cd "$OUT/data"
FILES="$(ls -d */*.index */*.log */*.timeindex | LC_ALL=C sort | paste -sd, -)"
dump() {
  "$KAFKA" tool org.apache.kafka.tools.DumpLogSegments "$@" --files "$FILES" 2>/dev/null
}
dump --deep-iteration --print-data-log >"$OUT/data.txt"
if [[ -n "$ALL_MODES" ]]; then
  dump --deep-iteration >"$OUT/deep.txt"
  dump >"$OUT/dump.txt"
fi
echo "fixtures of Apache Kafka $VERSION in $OUT ($(du -sk "$OUT" | cut -f1) KB)"
