#!/usr/bin/env bash
# bench/trace-cost.sh — the cost of `sluice run --trace`: alternating runs without and with it, on
# a resident model (no budgets) and a streamed one (--vram 8M --host-cache 16M), median tok/s each.
#   RUNS=7 N=32 THREADS=1 bench/trace-cost.sh [build/sluice]
set -euo pipefail
S=${1:-build/sluice}
RUNS=${RUNS:-7}
N=${N:-32}
THREADS=${THREADS:-1}
TMP=$(mktemp -d /var/tmp/sluice-trace-cost.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
"$S" gen-model --size 64M --dim 256 --type q8_0 -q -o "$TMP/m.gguf"
tps() { "$S" run -m "$TMP/m.gguf" "$@" -t "$THREADS" -n "$N" --temp 0 -p hello 2>&1 >/dev/null |
        sed -n 's/.*generated [0-9]* tok, \([0-9.]*\) tok\/s.*/\1/p'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "# $(date -u '+%F %H:%M UTC') $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs of -n $N -t $THREADS"
for mode in resident streamed; do
    budget=(); [ $mode = streamed ] && budget=(--vram 8M --host-cache 16M)
    off=; on=; size=0
    for _ in $(seq "$RUNS"); do
        off="$off $(tps "${budget[@]}")"
        on="$on $(tps "${budget[@]}" --trace "$TMP/t.json")"
        size=$(stat -c %s "$TMP/t.json")
    done
    mo=$(echo "$off" | median); mn=$(echo "$on" | median)
    echo "$mode: off tok/s:$off -> median $mo | on:$on -> median $mn | cost $(awk -v a="$mo" -v b="$mn" 'BEGIN { printf "%.1f%%", 100 * (a - b) / a }') | trace $((size / 1024)) KiB"
done
