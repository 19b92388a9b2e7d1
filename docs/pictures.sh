#!/usr/bin/env bash
# Regenerates the space-time diagrams the chapters show: docs/pictures/NAME-seedN.svg is
# `kafka-sim timeline --format svg` of scenarios/NAME.json run on seed N. Only small runs are
# drawn here (each picture must stay under LIMIT bytes, so that the repository stays small);
# the chapters give the command that draws a larger run into lab/.
#
#   bash docs/pictures.sh           write the pictures
#   bash docs/pictures.sh --check   exit 1 if a committed picture is missing, stale or extra
#
# Needs `kafka-sim` (the simulation build) on PATH, as docs/README.md sets it up.
set -euo pipefail
cd "$(dirname "$0")/.."
PICTURES=(
  partitioner:1
)
LIMIT=100000
check=false
[[ "${1:-}" == "--check" ]] && check=true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
wanted=()
for p in "${PICTURES[@]}"; do
  name=${p%:*} seed=${p#*:}
  svg="$name-seed$seed.svg"
  wanted+=("$svg")
  kafka-sim run "scenarios/$name.json" --seed "$seed" --trace "$tmp" >/dev/null 2>&1
  kafka-sim timeline --format svg "$tmp/$name-seed$seed.jsonl" >"$tmp/$svg"
  size=$(wc -c <"$tmp/$svg")
  if ((size > LIMIT)); then
    echo "docs/pictures/$svg: $size bytes, over the $LIMIT-byte limit: draw a smaller run" >&2
    status=1
  elif $check; then
    if ! cmp -s "$tmp/$svg" "docs/pictures/$svg"; then
      echo "docs/pictures/$svg is missing or stale: run bash docs/pictures.sh" >&2
      status=1
    fi
  else
    cp "$tmp/$svg" "docs/pictures/$svg"
  fi
done
for f in docs/pictures/*.svg; do
  [[ -e "$f" ]] || continue
  if [[ ! " ${wanted[*]} " == *" $(basename "$f") "* ]]; then
    echo "$f is not drawn by docs/pictures.sh: remove it or add it to PICTURES" >&2
    status=1
  fi
done
exit $status
