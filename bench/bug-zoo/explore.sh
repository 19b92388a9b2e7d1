#!/usr/bin/env bash
# How many seeds `kafka-sim explore` needs to find each bug of the zoo from random faults
# alone. For each scenarios/bugs/NAME.json (or the NAMEs given) it writes an explore variant
# to target/bug-zoo/NAME.json (the switch on, no scripted faults, no expected violations
# and the file's `allowed` anomalies, those its configuration has without the bug, so that
# explore reports any other checker) and explores one seed at a time from each start until a seed finds
# the bug or the budget runs out. A finding counts as the bug only if the checker it
# minimised is one the scripted scenario expects and its minimised scenario, run on its seed
# with every sim.bug.* switch off, passes: random faults find other things too (a corrupted
# disk byte makes replicas differ, whatever the switch). Prints, per bug, the
# seeds needed from each start, their median, the checker found and the minimised scenario
# of the first start.
#
# Usage: bench/bug-zoo/explore.sh [NAME...]
#   STARTS="1 101 201" BUDGET=40 KAFKA_SIM=target/sim/release/kafka-sim
# Build first: cargo sim build --release --bin kafka-sim (or set KAFKA_SIM to a debug build).
set -euo pipefail
cd "$(dirname "$0")/../.."
STARTS=${STARTS:-"1 101 201"}
BUDGET=${BUDGET:-40}
KAFKA_SIM=${KAFKA_SIM:-target/sim/release/kafka-sim}
[ -x "$KAFKA_SIM" ] || { echo "no $KAFKA_SIM: build it or set KAFKA_SIM" >&2; exit 2; }
out=target/bug-zoo
mkdir -p "$out"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in scenarios/bugs/*.json; do names+=("$(basename "$f" .json)"); done
fi
for name in "${names[@]}"; do
  variant="$out/$name.json"
  python3 - "scenarios/bugs/$name.json" "$variant" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["faults"] = []
d["expect"]["violations"] = []  # explore reports what the file neither expects nor allows
d["description"] = "Explore variant of scenarios/bugs/%s.json: the switch on, no scripted faults." % d["name"]
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
  expected=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["expect"]["violations"]))' "scenarios/bugs/$name.json")
  needed=()
  first_min=""
  checker=""
  for start in $STARTS; do
    n=0
    found=""
    while [ "$n" -lt "$BUDGET" ]; do
      seed=$((start + n))
      n=$((n + 1))
      log=$("$KAFKA_SIM" explore "$variant" --seeds "$seed..$seed" --jobs 1 --out "$out/found" 2>/dev/null || true)
      if line=$(grep -m1 "^FAIL " <<<"$log"); then
        got=$(sed -E 's/.*: unexpected ([a-z-]+) .*/\1/' <<<"$line")
        if ! grep -qw -- "$got" <<<"$expected"; then
          echo "$name: seed $seed: found $got, not what the bug shows ($expected)"
          continue
        fi
        min="$out/found/$name-seed$seed-min.json"
        python3 - "$min" "$out/off.json" "scenarios/bugs/$name.json" <<'PY'
import json, re, sys
text = re.sub(r'("sim\.bug\.[a-z0-9-]+"\s*:\s*)true', r'\1false', open(sys.argv[1]).read())
d = json.loads(text)
# Without the bug nothing may fire but the anomalies the file's configuration has anyway
# (its `allowed`: an unclean election loses acks=1 writes whatever the switch says).
d["expect"]["violations"] = []
d["expect"]["allowed"] = json.load(open(sys.argv[3]))["expect"].get("allowed", [])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
        if ! "$KAFKA_SIM" run "$out/off.json" --seed "$seed" >/dev/null 2>&1; then
          echo "$name: seed $seed: $(cut -c1-160 <<<"$line")... fails with the switch off too: not the bug"
          continue
        fi
        found=$seed
        [ -n "$checker" ] || checker=$got
        [ -n "$first_min" ] || first_min="$out/found/$name-seed$seed-min.json"
        break
      fi
    done
    if [ -n "$found" ]; then needed+=("$n"); else needed+=(">$BUDGET"); fi
    echo "$name: from seed $start: ${found:+found at seed $found, }$n seed(s)"
  done
  median=$(printf '%s\n' "${needed[@]}" | tr -d '>' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "== $name: seeds needed ${needed[*]} (median $median), checker ${checker:-none}"
  if [ -n "$first_min" ]; then
    echo "   minimised: $first_min"
    python3 -c 'import json,sys; [print("     ", json.dumps(f)) for f in json.load(open(sys.argv[1]))["faults"]]' "$first_min"
  fi
done
