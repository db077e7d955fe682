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
. "$(dirname "$0")/stream_lib.sh"
M=$TMP/r1mix.gguf
"$BIN" gen-model --size 24M --mix r1 --dim 512 --seed 7 -q -o "$M"
has_types "$M" iq4_xs q4_K q6_K
ARGS=(-m "$M" -p "Once upon a time" -n 6 --temp 0 -c 64 --stats -t 1)
same_when_streamed 4M 8M
echo ok
