#!/usr/bin/env bash
# A long sweep of every bundled scenario, in chunks (CHUNK seeds, 1,000 by default) so that
# a sweep stopped part way keeps what it finished: each chunk writes target/sweep/seeds-A-B.out (the run's
# summary, failing seeds with their reproduce commands) and .time (`/usr/bin/time -v`: CPU
# seconds and peak RSS). Chunks already done are skipped, so the same command resumes.
#
# Usage: bench/sweep.sh FROM TO      (e.g. bench/sweep.sh 3001 10000)
#   KAFKA_SIM=target/sim/sweep/kafka-sim JOBS=1 (one job leaves a core for other work)
#   CHUNK=1000 (smaller chunks lose less when the machine stops mid-chunk)
# Build first: cargo sim build --profile sweep --bin kafka-sim (Cargo.toml's `sweep` profile:
# the release build with fat LTO and one codegen unit, the same traces for about 10% less
# CPU; `KAFKA_SIM=target/sim/release/kafka-sim` runs the plain release build instead)
set -euo pipefail
cd "$(dirname "$0")/.."
from=${1:?usage: bench/sweep.sh FROM TO}
to=${2:?usage: bench/sweep.sh FROM TO}
KAFKA_SIM=${KAFKA_SIM:-target/sim/sweep/kafka-sim}
JOBS=${JOBS:-1}
CHUNK=${CHUNK:-1000}
[ -x "$KAFKA_SIM" ] || {
  echo "no $KAFKA_SIM: build it (cargo sim build --profile sweep --bin kafka-sim) or set KAFKA_SIM" >&2
  exit 2
}
out=target/sweep
mkdir -p "$out"
failed=0
for ((a = from; a <= to; a += CHUNK)); do
  b=$((a + CHUNK - 1 < to ? a + CHUNK - 1 : to))
  stem="$out/seeds-$a-$b"
  if [ -f "$stem.done" ]; then
    tail -1 "$stem.out"
    continue
  fi
  rc=0
  /usr/bin/time -v -o "$stem.time" nice -n 19 "$KAFKA_SIM" run scenarios/*.json \
    --seeds "$a..$b" --jobs "$JOBS" > "$stem.out" 2> /dev/null || rc=$?
  grep '^FAIL' "$stem.out" || true
  tail -1 "$stem.out"
  grep -E 'User time|Maximum resident' "$stem.time" | sed 's/^\s*/  /'
  [ "$rc" -eq 0 ] || failed=1
  touch "$stem.done"
done
exit "$failed"
