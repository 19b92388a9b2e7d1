#!/usr/bin/env bash
# The same workload against Apache Kafka and against `kafka-sim serve`, one after the other
# in one invocation (issue 13, "Speed, in one run"):
#
#   bench/kafka/speed.sh [RECORDS]        (default 1000000)
#
# For (1 broker, RF=1, acks=1) and (3 brokers, RF=3, acks=all), on a fresh 3-partition topic:
# Kafka's ProducerPerformance (kafka-tools) sends RECORDS records of 100 bytes as fast as it
# can; then Perf.java reads them all back from the start (assigned partitions: the fetch
# path alone, no group protocol; Kafka's ConsumerPerformance joins a group). Peak RSS is the sum
# of VmHWM over the broker processes (Kafka's JVMs; serve's one process), read before they
# stop. Kafka runs with its scripts' default heap (-Xms1G -Xmx1G). Prints one Markdown table.
# Needs Java 17+ and Maven (kafka.sh fetch) and builds `kafka-sim` in release mode
# (KAFKA_SIM_BIN=PATH uses that binary instead). SYSTEMS=kafka-sim runs only serve (to
# compare two builds back to back).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
KAFKA="$HERE/kafka.sh"
RECORDS="${1:-1000000}"
LIBS="$("$KAFKA" fetch)"
WORK="$REPO/target/kafka/speed"
export KAFKA_RUN_DIR="$WORK/kafka-run" KAFKA_PORT=29300
export KAFKA_HEAP_OPTS="-Xms1G -Xmx1G"
SERVE_PORT=29400
JAVA=(java -Xmx512m -Dlog4j2.configurationFile="$HERE/log4j2.properties" -cp "$LIBS/*")

# KAFKA_SIM_BIN: another kafka-sim binary (e.g. a debug one, to try this script quickly).
BIN="${KAFKA_SIM_BIN:-$REPO/target/release/kafka-sim}"
if [[ -z "${KAFKA_SIM_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release --quiet --bin kafka-sim)
fi

SERVE_PID=""
cleanup() {
  "$KAFKA" stop >/dev/null 2>&1 || true
  if [[ -n "$SERVE_PID" ]]; then kill -TERM "$SERVE_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

peak_rss_mb() { # PID... -> the sum of their VmHWM, in MB
  local kb=0 pid v
  for pid in "$@"; do
    v="$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status")"
    kb=$((kb + v))
  done
  echo $((kb / 1024))
}

# run SYSTEM BROKERS RF ACKS: one table row.
run() {
  local system="$1" brokers="$2" rf="$3" acks="$4" bootstrap pids=()
  rm -rf "$WORK/$system"
  mkdir -p "$WORK/$system"
  if [[ "$system" == kafka ]]; then
    "$KAFKA" format "$brokers" >/dev/null
    "$KAFKA" start "$brokers" >/dev/null
    bootstrap="127.0.0.1:$KAFKA_PORT"
    local i
    for ((i = 0; i < brokers; i++)); do pids+=("$(cat "$KAFKA_RUN_DIR/node-$i/pid")"); done
  else
    "$BIN" serve --brokers "$brokers" --listen "127.0.0.1:$SERVE_PORT" \
      --data-dir "$WORK/$system/data" >"$WORK/$system/serve.out" 2>"$WORK/$system/serve.err" &
    SERVE_PID=$!
    until grep -q '^ready$' "$WORK/$system/serve.out" 2>/dev/null; do
      kill -0 "$SERVE_PID" || { cat "$WORK/$system/serve.err" >&2; exit 1; }
      sleep 0.2
    done
    bootstrap="127.0.0.1:$SERVE_PORT"
    pids=("$SERVE_PID")
  fi
  "${JAVA[@]}" "$HERE/Perf.java" create "$bootstrap" perf 3 "$rf" 2>>"$WORK/$system/java.err"
  local produced consumed
  produced="$("${JAVA[@]}" org.apache.kafka.tools.ProducerPerformance --topic perf \
    --num-records "$RECORDS" --record-size 100 --throughput -1 \
    --producer-props bootstrap.servers="$bootstrap" acks="$acks" 2>>"$WORK/$system/java.err" | tail -n 1)"
  consumed="$("${JAVA[@]}" "$HERE/Perf.java" consume "$bootstrap" perf "$RECORDS" 2>>"$WORK/$system/java.err" | tail -n 1)"
  local rss
  rss="$(peak_rss_mb "${pids[@]}")"
  if [[ "$system" == kafka ]]; then
    "$KAFKA" stop >/dev/null
  else
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID" || true
    SERVE_PID=""
  fi
  echo "$system|$brokers|$acks|$produced|$consumed|$rss" >>"$WORK/results"
  # "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency,
  #  P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th."
  local p_rate p_mb p50 p99 c_rate c_mb
  p_rate="$(sed -n 's/.* sent, \([0-9.]*\) records\/sec (\([0-9.]*\) MB\/sec).*/\1/p' <<<"$produced")"
  p_mb="$(sed -n 's/.* sent, \([0-9.]*\) records\/sec (\([0-9.]*\) MB\/sec).*/\2/p' <<<"$produced")"
  p50="$(sed -n 's/.*, \([0-9.]*\) ms 50th.*/\1/p' <<<"$produced")"
  p99="$(sed -n 's/.*, \([0-9.]*\) ms 99th.*/\1/p' <<<"$produced")"
  c_rate="$(sed -n 's/.*s, \([0-9.]*\) records\/sec (\([0-9.]*\) MB\/sec).*/\1/p' <<<"$consumed")"
  c_mb="$(sed -n 's/.*s, \([0-9.]*\) records\/sec (\([0-9.]*\) MB\/sec).*/\2/p' <<<"$consumed")"
  printf '| %s | %s broker(s), RF=%s, acks=%s | %.0f | %s | %s | %s | %.0f | %s | %s |\n' \
    "$system" "$brokers" "$rf" "$acks" "${p_rate:-0}" "${p_mb:-?}" "${p50:-?}" "${p99:-?}" \
    "${c_rate:-0}" "${c_mb:-?}" "$rss"
}

mkdir -p "$WORK"
: >"$WORK/results"
echo "Apache Kafka $(basename "$LIBS" | sed 's/^libs-//') vs kafka-sim serve (${KAFKA_SIM_BIN:-release build}), $RECORDS records of 100 bytes, 3 partitions; $(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1 /proc/loadavg) at the start"
echo
echo "| system | setup | produce records/s | produce MB/s | p50 ms | p99 ms | consume records/s | consume MB/s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|"
for setup in "1 1 1" "3 3 all"; do
  read -r brokers rf acks <<<"$setup"
  for system in ${SYSTEMS:-kafka kafka-sim}; do
    run "$system" "$brokers" "$rf" "$acks"
  done
done
echo
echo "(raw lines in $WORK/results)"
