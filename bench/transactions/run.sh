#!/usr/bin/env bash
# Transaction figures (issue 12): transactions per simulated second and per CPU second of
# one transactional producer, and the CPU cost of a read_committed consumer against a
# read_uncommitted one on the same workload. Seeds run one at a time (--jobs 1) so that
# user+sys CPU is the simulation's alone.
# Usage: bash bench/transactions/run.sh [SEEDS]      (default 1..10)
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-1..10}
cargo sim build --release --quiet --bin kafka-sim
bin=target/sim/release/kafka-sim
traces=$(mktemp -d)
trap 'rm -rf "$traces"' EXIT
n_seeds=$(( ${seeds#*..} - ${seeds%..*} + 1 ))
for s in scenarios/transactions-aborts.json bench/transactions/txn-throughput.json \
         bench/transactions/isolation-read-committed.json \
         bench/transactions/isolation-read-uncommitted.json \
         bench/transactions/isolation-no-consumer.json; do
  name=$(basename "$s" .json)
  # CPU (user, sys) and peak RSS of the sweep, without writing traces.
  /usr/bin/time -o "$traces/time" -f '%U %S %M' \
    "$bin" run "$s" --seeds "$seeds" --jobs 1 >/dev/null 2>&1
  read -r user sys rss < "$traces/time"
  # Transactions ended (commit or abort) and the simulated span they took, from the traces.
  "$bin" run "$s" --seeds "$seeds" --jobs 1 --trace "$traces/$name" >/dev/null 2>&1
  for f in "$traces/$name"/*.jsonl; do
    grep '"kind":"transaction"' "$f" \
      | sed -E 's/^\{"t_us":([0-9]+),.*"outcome":"([a-z]+)".*/\1 \2/' \
      | awk '{ if (NR == 1) first = $1; last = $1; if ($2 == "commit") c++; else a++ }
             END { print c + 0, a + 0, (last - first) / 1e6 }'
  done | awk -v name="$name" -v n="$n_seeds" -v u="$user" -v s="$sys" -v rss="$rss" '
      { c += $1; a += $2; span += $3 }
      END {
        cpu = u + s; total = c + a
        printf "%s: %d seeds, %d transactions (%d committed, %d aborted), %.1f per seed, ", name, n, total, c, a, total / n
        printf "%.2f per simulated s (first to last end); ", total / span
        printf "%.3f CPU s per seed (user %.2f + sys %.2f), %.0f transactions per CPU s, peak RSS %d KB\n", cpu / n, u, s, total / cpu, rss
      }'
done
