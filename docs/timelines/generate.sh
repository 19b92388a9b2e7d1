#!/usr/bin/env bash
# Regenerates docs/timelines/: each scenario the docs use, run once on the seed below, as a
# page to explore (NAME.html, `kafka-sim timeline --format html`). Runs are deterministic, so
# the pages only change when the simulated cluster, the checkers or the renderers do;
# sim-tests/docs_timelines.rs fails when the committed pages are not what this script makes.
#
# Usage: bash docs/timelines/generate.sh [OUT_DIR]    (default: docs/timelines)
#   KAFKA_SIM=path/to/kafka-sim   a simulation-build binary to use (default: builds one with
#                                 `cargo sim build --bin kafka-sim`)
# Add a scenario: a line "NAME SCENARIO_FILE SEED" below. Keep each page under 1 MiB: a
# scenario too long for that gets a shorter copy in docs/timelines/scenarios/ (same faults,
# fewer messages), still written to NAME.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs/timelines}"
bin="${KAFKA_SIM:-}"
if [ -z "$bin" ]; then
  cargo sim build --quiet --bin kafka-sim >&2
  bin=target/sim/debug/kafka-sim
fi
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
while read -r name scenario seed; do
  rm -f "$tmp"/*.jsonl
  code=0
  "$bin" run "$scenario" --seed "$seed" --trace "$tmp" >"$tmp/run.out" || code=$?
  if [ "$code" -eq 2 ]; then
    cat "$tmp/run.out" >&2
    exit 2
  fi
  [ "$code" -eq 0 ] || echo "warning: $scenario seed $seed did not meet its expectations" >&2
  "$bin" timeline "$(ls "$tmp"/*.jsonl)" --format html >"$out/$name.html"
done <<'SCENARIOS'
quickstart scenarios/quickstart.json 1
acks1-leader-isolated-lost-write scenarios/acks1-leader-isolated-lost-write.json 1
unclean-leader-election scenarios/unclean-leader-election.json 1
consumer-group-member-crash docs/timelines/scenarios/consumer-group-member-crash.json 1
transactions-aborts scenarios/transactions-aborts.json 1
partitioner scenarios/partitioner.json 1
acks0-leader-isolated scenarios/acks0-leader-isolated.json 1
acksall-leader-isolated scenarios/acksall-leader-isolated.json 1
producer-retries-no-loss scenarios/producer-retries-no-loss.json 1
isr-shrink-then-leader-crash scenarios/isr-shrink-then-leader-crash.json 1
clean-election-waits scenarios/clean-election-waits.json 1
group-rebalance-triggers scenarios/group-rebalance-triggers.json 1
transactions-zombie-fenced scenarios/transactions-zombie-fenced.json 1
SCENARIOS
