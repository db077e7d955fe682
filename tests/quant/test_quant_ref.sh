#!/usr/bin/env bash
# tests/quant/test_quant_ref.sh — `sluice quantize` checked against the gguf
# python package: byte-exact for the types it can quantize, metadata copied,
# llama.cpp's tensor-type choices, dequantized error bounds
# (tests/ref/check_quantized.py).  The per-block cross-check of every type
# is the unit test test_quant_ref.
# sluice-timeout: 300
set -u
cd "$(dirname "$0")/../.."
command -v python3 >/dev/null || { echo "python3 not found"; exit 77; }
python3 -c 'import gguf.quants, numpy' 2>/dev/null || { echo "gguf python package not installed"; exit 77; }
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }

"$BIN" gen-model --size 6M --type f32 --seed 3 -q -o "$TMP/src.gguf" >/dev/null 2>&1 || { echo "FAIL: gen-model"; exit 1; }
rc=0
for mix in q8_0 q4_0 q5_1 q4_k_m q6_k; do
    "$BIN" quantize -q "$TMP/src.gguf" "$TMP/$mix.gguf" --type $mix >/dev/null || { echo "FAIL: quantize $mix"; rc=1; continue; }
    python3 tests/ref/check_quantized.py "$TMP/src.gguf" "$TMP/$mix.gguf" $mix || rc=1
done
exit $rc
