#!/usr/bin/env bash
# Apache Kafka (its published jars from Maven Central) as the oracle kafka-sim is compared
# with (issue 13). Usage:
#
#   bench/kafka/kafka.sh fetch                  lay the jars in the cache (once; reused)
#   bench/kafka/kafka.sh classpath              print the classpath (fetching first)
#   bench/kafka/kafka.sh format N [KEY=VALUE]   fresh KRaft log dirs for N combined nodes
#   bench/kafka/kafka.sh start N [KEY=VALUE]    format if needed, start N nodes, wait ready
#   bench/kafka/kafka.sh stop                   SIGTERM the nodes started here, wait
#   bench/kafka/kafka.sh tool CLASS ARGS...     run a Kafka main class (e.g.
#                                               org.apache.kafka.tools.DumpLogSegments)
#
# KEY=VALUE pairs go into every node's server.properties (e.g. log.segment.bytes=4096).
# Environment:
#   KAFKA_VERSION    the Maven version of org.apache.kafka artifacts (default: pom.xml's)
#   KAFKA_CACHE      where jars and run dirs live (default: target/kafka in the repository)
#   KAFKA_RUN_DIR    the nodes' dirs (default: $KAFKA_CACHE/run)
#   KAFKA_PORT       node i listens for clients on KAFKA_PORT+i, for the controller quorum
#                    on KAFKA_PORT+100+i (default 29092)
#   KAFKA_HEAP_OPTS  the nodes' heap (default -Xms128m -Xmx512m)
#
# Exit codes: 0 done; 1 Kafka failed (the error says where its log is); 3 a prerequisite
# is missing (java, mvn, or Maven Central unreachable): callers that may skip look for 3.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
POM="$HERE/pom.xml"
DEFAULT_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
VERSION="${KAFKA_VERSION:-$DEFAULT_VERSION}"
CACHE="${KAFKA_CACHE:-$REPO/target/kafka}"
LIBS="$CACHE/libs-$VERSION"
RUN="${KAFKA_RUN_DIR:-$CACHE/run}"
PORT="${KAFKA_PORT:-29092}"
HEAP="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
LOG4J="$HERE/log4j2.properties"

missing() {
  echo "" >&2
  echo "=====================================================================" >&2
  echo "kafka.sh: $*" >&2
  echo "=====================================================================" >&2
  exit 3
}

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

need_java() {
  command -v java >/dev/null 2>&1 || missing "java not found: Apache Kafka $VERSION needs Java 17+ (apt-get install openjdk-17-jre-headless)"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${major%%.*}" -ge 17 ]] 2>/dev/null || missing "java $major found: Apache Kafka $VERSION needs Java 17+"
}

fetch() {
  need_java
  if [[ -e "$LIBS/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || missing "mvn not found: it fetches Apache Kafka $VERSION from Maven Central (apt-get install maven)"
  echo "kafka.sh: fetching Apache Kafka $VERSION (kafka_2.13, kafka-tools, kafka-clients) from Maven Central into $LIBS" >&2
  rm -rf "$LIBS.tmp"
  mkdir -p "$CACHE"
  if ! mvn -q -B -f "$POM" -Dkafka.version="$VERSION" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >"$CACHE/fetch.log" 2>&1; then
    tail -n 20 "$CACHE/fetch.log" >&2
    missing "mvn could not fetch Apache Kafka $VERSION (is Maven Central reachable?); the whole log is $CACHE/fetch.log"
  fi
  ls "$LIBS.tmp"/kafka_2.13-"$VERSION".jar "$LIBS.tmp"/kafka-tools-"$VERSION".jar >/dev/null \
    || die "the fetched jars lack kafka_2.13 or kafka-tools $VERSION (see $LIBS.tmp)"
  touch "$LIBS.tmp/.complete"
  rm -rf "$LIBS"
  mv "$LIBS.tmp" "$LIBS"
}

run_java() {
  # HEAP_OR_TOOL: JVM options, word-split on purpose.
  # shellcheck disable=SC2086
  java $HEAP_OR_TOOL -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*" "$@"
}

tool() {
  fetch
  [[ $# -ge 1 ]] || die "tool needs a main class, e.g. org.apache.kafka.tools.DumpLogSegments"
  HEAP_OR_TOOL="-Xmx512m" run_java "$@"
}

node_dir() { echo "$RUN/node-$1"; }

write_properties() {
  # write_properties N I KEY=VALUE...: node I of N, combined broker and controller.
  local n="$1" i="$2"
  shift 2
  local dir voters="" j
  dir="$(node_dir "$i")"
  for ((j = 0; j < n; j++)); do
    voters="${voters:+$voters,}$((j + 1))@127.0.0.1:$((PORT + 100 + j))"
  done
  mkdir -p "$dir"
  {
    echo "# Written by bench/kafka/kafka.sh: node $i of $n, KRaft combined mode, loopback only."
    echo "process.roles=broker,controller"
    echo "node.id=$((i + 1))"
    echo "controller.quorum.voters=$voters"
    echo "listeners=PLAINTEXT://127.0.0.1:$((PORT + i)),CONTROLLER://127.0.0.1:$((PORT + 100 + i))"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$((PORT + i))"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    echo "log.dirs=$dir/data"
    echo "num.partitions=1"
    echo "default.replication.factor=$n"
    echo "offsets.topic.replication.factor=$n"
    echo "offsets.topic.num.partitions=1"
    echo "transaction.state.log.replication.factor=$n"
    echo "transaction.state.log.min.isr=1"
    echo "transaction.state.log.num.partitions=1"
    echo "group.initial.rebalance.delay.ms=0"
    local kv
    for kv in "$@"; do
      [[ "$kv" == *=* ]] || die "not KEY=VALUE: $kv"
      echo "$kv"
    done
  } >"$dir/server.properties"
}

format() {
  local n="${1:?format needs the number of nodes}"
  shift
  fetch
  stop_nodes quiet
  rm -rf "$RUN"
  mkdir -p "$RUN"
  local cluster_id i
  cluster_id="$(HEAP_OR_TOOL="-Xmx256m" run_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [[ -n "$cluster_id" ]] || die "kafka.tools.StorageTool random-uuid printed nothing"
  for ((i = 0; i < n; i++)); do
    write_properties "$n" "$i" "$@"
    HEAP_OR_TOOL="-Xmx256m" run_java kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$(node_dir "$i")/server.properties" >"$(node_dir "$i")/format.log" 2>&1 \
      || { cat "$(node_dir "$i")/format.log" >&2; die "formatting node $i failed"; }
  done
  echo "$n" >"$RUN/nodes"
}

start() {
  local n="${1:?start needs the number of nodes}"
  shift
  fetch
  # Formatted dirs are reused (a restart recovers its logs); the properties are rewritten,
  # so a restart may change configs.
  if [[ ! -e "$RUN/nodes" || "$(cat "$RUN/nodes")" != "$n" ]]; then
    format "$n" "$@"
  fi
  local i dir
  for ((i = 0; i < n; i++)); do
    write_properties "$n" "$i" "$@"
  done
  for ((i = 0; i < n; i++)); do
    dir="$(node_dir "$i")"
    if [[ -e "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      die "node $i is already running (pid $(cat "$dir/pid")); run: $0 stop"
    fi
    # Emptied here, not by the background job's redirection: that runs in the forked child,
    # maybe after the wait below has already found a restarted node's previous "started".
    : >"$dir/kafka.log"
    # java itself in the background (not a function's subshell), so $! is the JVM's pid.
    # shellcheck disable=SC2086
    java $HEAP -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*" kafka.Kafka \
      "$dir/server.properties" >>"$dir/kafka.log" 2>&1 &
    echo $! >"$dir/pid"
  done
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
  for ((i = 0; i < n; i++)); do
    dir="$(node_dir "$i")"
    until grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null; do
      if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        tail -n 30 "$dir/kafka.log" >&2
        die "node $i exited during startup; its log is $dir/kafka.log"
      fi
      if ((SECONDS > deadline)); then
        tail -n 30 "$dir/kafka.log" >&2
        die "node $i not ready after ${KAFKA_START_TIMEOUT:-120}s; its log is $dir/kafka.log"
      fi
      sleep 0.5
    done
    echo "broker $i at 127.0.0.1:$((PORT + i)) (log dir $dir/data)"
  done
  echo "ready"
}

stop_nodes() {
  # SIGTERM every node first, then wait: stopped one by one, the last of a 3-node quorum
  # would wait for controllers that are gone.
  local quiet="${1:-}" dir pid
  [[ -d "$RUN" ]] || return 0
  local -a dirs=() pids=()
  for dir in "$RUN"/node-*; do
    [[ -e "$dir/pid" ]] || continue
    pid="$(cat "$dir/pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      dirs+=("$dir")
      pids+=("$pid")
    else
      rm -f "$dir/pid"
    fi
  done
  local i deadline=$((SECONDS + 30))
  for i in "${!pids[@]}"; do
    pid="${pids[$i]}"
    dir="${dirs[$i]}"
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS > deadline)); then
        echo "kafka.sh: $dir (pid $pid) ignored SIGTERM for 30s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    [[ -n "$quiet" ]] || echo "stopped $(basename "$dir") (pid $pid)"
    rm -f "$dir/pid"
  done
}

cmd="${1:-}"
shift || true
case "$cmd" in
  fetch) fetch && echo "$LIBS" ;;
  classpath) fetch && echo "$LIBS/*" ;;
  format) format "$@" ;;
  start) start "$@" ;;
  stop) stop_nodes ;;
  tool) tool "$@" ;;
  *)
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
