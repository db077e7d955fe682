#!/usr/bin/env bash
# tests/cli/test_quantize.sh — `sluice quantize`: usage errors, the q4_k_m mix
# on a generated model and on a model whose rows fit no block size
# (llama-2-tiny-random: everything falls back to f16), and the quantized
# model still runs.
# sluice-timeout: 300
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
MODELS=${SLUICE_MODELS:-../shared/models}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" quantize --help | grep -q q4_k_m || fail "--help does not list q4_k_m"
"$BIN" quantize 2>/dev/null && fail "no arguments accepted"
"$BIN" quantize a.gguf b.gguf --type q9_9 2>/dev/null && fail "unknown type accepted"
"$BIN" quantize "$TMP/missing.gguf" "$TMP/x.gguf" --type q8_0 2>/dev/null && fail "missing input accepted"
[ -e "$TMP/x.gguf" ] && fail "output left behind after an error"

"$BIN" gen-model --size 8M --dim 256 --layers 6 --type f16 --seed 5 -q -o "$TMP/m.gguf" >/dev/null 2>&1 || fail "gen-model"
out=$("$BIN" quantize -v "$TMP/m.gguf" "$TMP/m-q4km.gguf" --type q4_k_m) || fail "quantize q4_k_m"
echo "$out" | grep -q '^output.weight .* q6_K' || fail "output.weight not q6_K"
echo "$out" | grep -q '^blk.2.attn_v.weight .* q6_K' || fail "blk.2.attn_v not q6_K (use_more_bits, 6 layers)"
echo "$out" | grep -q '^blk.1.attn_v.weight .* q4_K' || fail "blk.1.attn_v not q4_K"
echo "$out" | grep -q '^blk.0.attn_norm.weight .* f32 ' || fail "norm not kept f32"
echo "$out" | grep -q '^blk.0.attn_q.weight .* q4_K' || fail "attn_q not q4_K"
in_sz=$(stat -c %s "$TMP/m.gguf"); out_sz=$(stat -c %s "$TMP/m-q4km.gguf")
[ "$out_sz" -lt $((in_sz / 2)) ] || fail "q4_k_m file not smaller than half of f16 ($out_sz vs $in_sz)"
"$BIN" info "$TMP/m-q4km.gguf" | grep -q 'general.file_type *15' || fail "general.file_type != 15"
"$BIN" info "$TMP/m-q4km.gguf" | grep -q 'tokenizer.ggml.tokens' || fail "metadata not copied"

# same type in and out: tensors are copied verbatim
"$BIN" quantize -q "$TMP/m-q4km.gguf" "$TMP/again.gguf" --type q4_k_m >/dev/null || fail "requantize"
cmp -s <(tail -c 100000 "$TMP/m-q4km.gguf") <(tail -c 100000 "$TMP/again.gguf") || fail "same-type tensors changed"

# the quantized model runs (greedy, a few tokens)
timeout 30 "$BIN" run -m "$TMP/m-q4km.gguf" -p "hello" -n 4 --temp 0 -t 1 >/dev/null 2>&1 || fail "run on q4_k_m model"

if [ -f "$MODELS/llama-2-tiny-random.gguf" ]; then
    out=$("$BIN" quantize -v "$MODELS/llama-2-tiny-random.gguf" "$TMP/tiny.gguf" --type q4_k_m) || fail "quantize tiny"
    # rows of 8 and 32 elements fit no K block: llama.cpp's fallback chain ends at q5_0 / f16
    echo "$out" | grep -q '^blk.0.attn_q.weight .* f16' || fail "tiny: 8-wide rows not f16"
    echo "$out" | grep -q '^blk.0.ffn_down.weight .* q8_0' || fail "tiny: 32-wide ffn_down not q6_K->q8_0 fallback"
fi
echo "quantize: ok"
