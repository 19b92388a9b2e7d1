#!/usr/bin/env bash
# The partition cost curve (issues 15 and 16): one seed of bench/partitions/parts-N.json at
# 100, 1,000 and 10,000 partitions, with the CPU seconds and peak memory of each run.
# Usage: bash bench/partitions/run.sh [N...]     (default: 100 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo sim build --release --quiet --bin kafka-sim
bin=target/sim/release/kafka-sim
for n in "${@:-100 1000 10000}"; do
  for m in $n; do
    /usr/bin/time -f "parts-$m: %e s wall, %U s CPU (user), %M KB peak RSS" \
      "$bin" run "bench/partitions/parts-$m.json" --seed 1 | tail -n 1
  done
done
