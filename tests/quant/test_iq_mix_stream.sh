#!/usr/bin/env bash
# tests/quant/test_iq_mix_stream.sh — an R1-like mixed-type model (`gen-model
# --mix r1`: ffn iq4_xs, attention q4_K, output q6_K) streamed through budgets
# far below its size prints exactly the tokens of its unconstrained run, on the
# CPU backend and on the asynchronous test backends (which take the device
# path: weights uploaded into a window, buffers poisoned when released).
# sluice-timeout: 600
set -euo pipefail
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
M=$TMP/r1mix.gguf
"$BIN" gen-model --size 24M --mix r1 --dim 512 --seed 7 -q -o "$M"
types=$("$BIN" info "$M" | sed -n 's/^types: *//p')
model_mib=$("$BIN" info "$M" | awk '/^tensor bytes:/ {printf "%.1f", $3 / 1048576}')
echo "types: $types"
for t in iq4_xs q4_K q6_K; do
    case "$types" in *"$t"*) ;; *) echo "FAIL: no $t tensors in the r1 mix"; exit 1 ;; esac
done
ARGS=(-m "$M" -p "Once upon a time" -n 6 --temp 0 -c 64 --stats -t 1)
"$BIN" run "${ARGS[@]}" >"$TMP/full.out" 2>"$TMP/full.err"
for b in cpu cpu-async cpu-async-zc; do
    "$BIN" run "${ARGS[@]}" --vram 4M --host-cache 8M --backend "$b" >"$TMP/$b.out" 2>"$TMP/$b.err" ||
        { cat "$TMP/$b.err"; echo "FAIL: --backend $b under budgets"; exit 1; }
    cmp "$TMP/full.out" "$TMP/$b.out" || { echo "FAIL: --backend $b: streamed output differs"; exit 1; }
    read_mib=$(sed -n 's/.*weights read \([0-9.]*\) MiB.*/\1/p' "$TMP/$b.err")
    echo "$b: weights read ${read_mib} MiB"
    # It really streamed: more than twice the bytes the model holds were read.
    awk -v r="$read_mib" -v m="$model_mib" 'BEGIN{exit !(r > 2 * m)}' ||
        { echo "FAIL: $b: only ${read_mib} MiB read for a ${model_mib} MiB model"; exit 1; }
done
echo ok
