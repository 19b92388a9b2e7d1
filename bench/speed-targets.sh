#!/usr/bin/env bash
# Issue 15's four simulation-speed targets, measured in one go (a benchmark, not a test):
#   1. the cluster bench (`cargo sim bench --bench cluster`): >= 1,000x real time per CPU
#      second, peak RSS <= 100 MB;
#   2. bench/group-cluster/group-cluster.json (5 brokers, RF=5, min.insync.replicas=3, six
#      partitions, a three-member group; two broker crashes, a leader isolated, a member
#      crash; 45 simulated s): >= 500x per CPU second;
#   3. the partition curve (bench/partitions/run.sh): 10,000 partitions cost <= 10x 1,000;
#   4. every bundled scenario x 100 seeds: < 60 s wall on two cores.
# CPU seconds are the figures to read on a shared machine. Usage: bash bench/speed-targets.sh
#   SEEDS=20 (cluster and group-cluster seeds)  SUITE_SEEDS=100  SKIP_PARTITIONS=1
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-20}
SUITE_SEEDS=${SUITE_SEEDS:-100}
cargo sim build --release --quiet --bin kafka-sim
bin=target/sim/release/kafka-sim

echo "== 1. cluster bench ($SEEDS seeds)"
SEEDS=$SEEDS cargo sim bench --quiet --bench cluster 2>/dev/null | grep -E "CPU|resident|digest"

echo "== 2. group cluster ($SEEDS seeds, one job)"
/usr/bin/time -f "%U %S %M" -o target/group-cluster.time \
  "$bin" run bench/group-cluster/group-cluster.json --seeds "1..$SEEDS" --jobs 1 | tail -n 1
read -r user sys rss < target/group-cluster.time
awk -v u="$user" -v s="$sys" -v n="$SEEDS" -v rss="$rss" 'BEGIN {
  cpu = u + s; x = 45 * n / cpu
  printf "%.2f CPU s per seed, %.0fx simulated s per CPU s (target >= 500x: %s), peak RSS %.1f MB\n",
    cpu / n, x, (x >= 500 ? "met" : "not met"), rss / 1024 }'

if [ -z "${SKIP_PARTITIONS:-}" ]; then
  echo "== 3. partitions (one seed each)"
  bash bench/partitions/run.sh
fi

echo "== 4. every scenario x $SUITE_SEEDS seeds, two jobs"
/usr/bin/time -f "%e %U %S %M" -o target/suite.time \
  "$bin" run scenarios/*.json --seeds "1..$SUITE_SEEDS" --jobs 2 | tail -n 1
read -r wall user sys rss < target/suite.time
awk -v w="$wall" -v u="$user" -v s="$sys" -v rss="$rss" 'BEGIN {
  printf "%.1f s wall, %.1f CPU s (target < 60 s wall: %s), peak RSS %.1f MB\n",
    w, u + s, (w < 60 ? "met" : "not met"), rss / 1024 }'
