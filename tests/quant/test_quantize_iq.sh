#!/usr/bin/env bash
# tests/quant/test_quantize_iq.sh — `sluice quantize --type iq4_nl | iq4_xs`:
# the files are accepted by the gguf python package with llama.cpp's tensor
# types and dequantize close to the source (tests/quant/check_iq_quantized.py);
# sluice reads them back and generates from them; q2_k falls back to iq4_nl
# (as llama.cpp) where a row fits no 256-block; the 1-2 bit i-quants are
# refused with a message naming the missing importance matrix.
# sluice-timeout: 600
set -u
cd "$(dirname "$0")/../.."
command -v python3 >/dev/null || { echo "python3 not found"; exit 77; }
python3 -c 'import gguf.quants, numpy' 2>/dev/null || { echo "gguf python package not installed"; exit 77; }
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# 256-wide rows (iq4_xs blocks fit; 8 layers so ffn_down of layer 0 gets q5_K), and 64-wide (fallbacks).
"$BIN" gen-model --size 6M --type f32 --seed 5 --dim 256 --ff 512 --layers 8 -q -o "$TMP/w.gguf" >/dev/null 2>&1 ||
    { echo "FAIL: gen-model"; exit 1; }
"$BIN" gen-model --size 6M --type f32 --seed 3 --layers 8 -q -o "$TMP/n.gguf" >/dev/null 2>&1 || { echo "FAIL: gen-model"; exit 1; }
for src in w n; do
    for mix in iq4_nl iq4_xs q2_k; do
        out="$TMP/$src-$mix.gguf"
        "$BIN" quantize -q "$TMP/$src.gguf" "$out" --type $mix >/dev/null || { fail "quantize $src $mix"; continue; }
        python3 tests/quant/check_iq_quantized.py "$TMP/$src.gguf" "$out" $mix || fail "check $src $mix"
        "$BIN" info "$out" >/dev/null || fail "sluice info $src $mix"
        timeout 60 "$BIN" run -m "$out" -p "hello" -n 4 --temp 0 -t 1 >/dev/null 2>&1 || fail "sluice run $src $mix"
    done
done
"$BIN" quantize -v -q "$TMP/w.gguf" "$TMP/w-xs2.gguf" --type iq4_xs | grep -q '^blk.1.ffn_up.weight .* iq4_xs' ||
    fail "iq4_xs mix: ffn_up not iq4_xs"
"$BIN" quantize -v -q "$TMP/n.gguf" "$TMP/n-q2.gguf" --type q2_k | grep -q '^blk.1.ffn_up.weight .* iq4_nl' ||
    fail "q2_k on 64-wide rows: not the iq4_nl fallback"
msg=$("$BIN" quantize "$TMP/n.gguf" "$TMP/x.gguf" --type iq2_xxs 2>&1) && fail "iq2_xxs without an imatrix accepted"
echo "$msg" | grep -q 'importance matrix' || fail "iq2_xxs refusal does not name the importance matrix: $msg"
[ $rc = 0 ] && echo "quantize iq4: ok"
exit $rc
