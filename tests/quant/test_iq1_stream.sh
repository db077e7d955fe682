#!/usr/bin/env bash
# tests/quant/test_iq1_stream.sh — the 1.58-bit path of DeepSeek-R1's small files end to end:
# `sluice imatrix` on a generated f32 model, `sluice quantize --type iq1_s --imatrix` (iq1_s
# weights, iq2_xxs attn_output, q4_K/q2_K attn_v, q2_K token_embd, q5_K output), and the result
# streamed through budgets far below its size prints exactly the tokens of its unconstrained
# run, on the CPU backend and on the asynchronous test backends (the device path: weights
# uploaded into a window, buffers poisoned when released).
# sluice-timeout: 600
set -euo pipefail
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
. "$(dirname "$0")/stream_lib.sh"
"$BIN" gen-model --size 12M --type f32 --dim 512 --ff 1024 --layers 4 --seed 11 -q -o "$TMP/f32.gguf" >/dev/null 2>&1
head -c 20000 README.md >"$TMP/text.txt"
"$BIN" imatrix "$TMP/f32.gguf" -f "$TMP/text.txt" -o "$TMP/imx.gguf" --chunk 64 --chunks 2 -t 1 >/dev/null
M=$TMP/iq1s.gguf
"$BIN" quantize -q "$TMP/f32.gguf" "$M" --type iq1_s --imatrix "$TMP/imx.gguf" >/dev/null
has_types "$M" iq1_s iq2_xxs q5_K q2_K
ARGS=(-m "$M" -p "Once upon a time" -n 6 --temp 0 -c 64 --stats -t 1)
same_when_streamed 800K 1M
echo ok
