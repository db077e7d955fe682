#!/usr/bin/env bash
# bench/cpu-paired.sh — decode GB/s as a fraction of memory bandwidth measured around it.
#
#   bench/cpu-paired.sh [PAIRS] [THREADS]     (defaults 5, 2)
#
# This machine's memory bandwidth moves with the host's load (membw at 2 threads has read
# 31–68 GB/s on the same day), so a bandwidth measured minutes apart from the decode is no
# baseline.  Each pair runs membw, then `sluice run` on the q8_0 and q4_K_M 1B models of
# bench/cpu-decode.sh (cached in /var/tmp/sluice-bench; run that first), then membw again,
# and divides the decode's weight bytes per second by the mean of the two readings.
set -eu
cd "$(dirname "$0")/.."
PAIRS=${1:-5}; T=${2:-2}; DIR=/var/tmp/sluice-bench
for m in q8_0 q4_k_m; do
    [ -f "$DIR/llama-1b-$m.gguf" ] || { echo "missing $DIR/llama-1b-$m.gguf: run bench/cpu-decode.sh first"; exit 1; }
done
make -s bench >/dev/null
bw() { build/bench/membw 1024 "$T" 3 | sed 's/.*: \([0-9.]*\) GB\/s.*/\1/'; }
decode() {  # decode MODEL -> "tok/s weight_bytes"
    local f=$DIR/llama-1b-$1.gguf
    local tps; tps=$(build/sluice run -m "$f" -p "the" -n 32 --temp 0 -t "$T" --no-echo 2>&1 | tail -1 |
        sed 's/.*generated [0-9]* tok, \([0-9.]*\) tok.*/\1/')
    local bytes; bytes=$(build/sluice info "$f" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tensor_bytes"])')
    echo "$tps $bytes"
}
echo "# $(date -u '+%F %T') load $(cut -d' ' -f1-3 /proc/loadavg), $T threads"
echo "membw_before membw_after | q8_0 tok/s GB/s % | q4_K_M tok/s GB/s %"
for i in $(seq "$PAIRS"); do
    a=$(bw); q8=$(decode q8_0); q4=$(decode q4_k_m); b=$(bw)
    echo "$a $b $q8 $q4" | awk '{bw=($1+$2)/2; g8=$3*$4/1e9; g4=$5*$6/1e9;
        printf "%.1f %.1f | %.1f %.1f %.0f%% | %.1f %.1f %.0f%%\n", $1, $2, $3, g8, 100*g8/bw, $5, g4, 100*g4/bw}'
done
