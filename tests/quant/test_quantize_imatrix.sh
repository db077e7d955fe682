#!/usr/bin/env bash
# tests/quant/test_quantize_imatrix.sh — `sluice quantize --imatrix`: with an importance matrix
# from `sluice imatrix`, the k-quant and iq4 mixes come out readable by the gguf package and by
# sluice, and their error weighted by the matrix is lower than without it
# (tests/quant/imatrix_quant_check.py); iq2_xxs, iq2_xs, iq1_s and iq1_m (which exist only with a matrix)
# likewise against a flat matrix (tests/quant/imatrix_edit.py), with llama.cpp's mixes around them; the legacy .dat
# matrix gives the same file as the GGUF one; a matrix of another model, a file that is not one,
# a matrix missing a tensor iq2_xxs needs, and the 1-3 bit i-quants without one are refused with
# messages that say so; the iq2_s, iq2_m, iq3_xxs, iq3_xs, iq3_s and iq3_m mixes pick llama.cpp's
# per-tensor types and dequantize (gguf package) within their bit rate's error.
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

"$BIN" gen-model --size 4M --type f32 --seed 5 --dim 256 --ff 512 --layers 2 -q -o "$TMP/w.gguf" >/dev/null 2>&1 ||
    { echo "FAIL: gen-model"; exit 1; }
head -c 20000 README.md >"$TMP/text.txt"
"$BIN" imatrix "$TMP/w.gguf" -f "$TMP/text.txt" -o "$TMP/imx.gguf" --chunk 64 --chunks 4 -t 2 >/dev/null 2>&1 ||
    { echo "FAIL: imatrix"; exit 1; }
"$BIN" imatrix "$TMP/w.gguf" -f "$TMP/text.txt" -o "$TMP/imx.dat" --chunk 64 --chunks 4 -t 2 >/dev/null 2>&1 ||
    { echo "FAIL: imatrix .dat"; exit 1; }

for mix in q2_k q3_k_m q4_k_m q5_k_s q6_k iq4_xs iq4_nl; do
    "$BIN" quantize -q "$TMP/w.gguf" "$TMP/p-$mix.gguf" --type $mix >/dev/null || { fail "quantize $mix"; continue; }
    "$BIN" quantize -q "$TMP/w.gguf" "$TMP/w-$mix.gguf" --type $mix --imatrix "$TMP/imx.gguf" >/dev/null ||
        { fail "quantize $mix --imatrix"; continue; }
    python3 tests/quant/imatrix_quant_check.py "$TMP/w.gguf" "$TMP/p-$mix.gguf" "$TMP/w-$mix.gguf" "$TMP/imx.gguf" \
        >"$TMP/check" || fail "check $mix: $(cat "$TMP/check")"
    tail -1 "$TMP/check" | sed "s/^/$mix: /"
    timeout 60 "$BIN" run -m "$TMP/w-$mix.gguf" -p "hello" -n 4 --temp 0 -t 1 >/dev/null 2>&1 || fail "sluice run $mix"
done
# iq2_xxs, iq2_xs, iq1_s, iq1_m: the baseline is a flat matrix (every column weighing 1), as they cannot be made
# without one.  Their mixes as llama.cpp's; the grid types dequantize within a relative RMS error
# of Gaussian weights at their bit rate (about 0.34 at 2.06 bpw, 0.29 at 2.31, 0.42 at 1.56,
# 0.40 at 1.75).
python3 tests/quant/imatrix_edit.py "$TMP/imx.gguf" "$TMP/flat.gguf" --flat || fail "imatrix_edit --flat"
for mix in iq2_xxs iq2_xs iq1_s iq1_m; do
    "$BIN" quantize -q "$TMP/w.gguf" "$TMP/f-$mix.gguf" --type $mix --imatrix "$TMP/flat.gguf" >/dev/null ||
        fail "quantize $mix (flat matrix)"
    "$BIN" quantize -v -q "$TMP/w.gguf" "$TMP/w-$mix.gguf" --type $mix --imatrix "$TMP/imx.gguf" >"$TMP/v" ||
        fail "quantize $mix"
    wants="blk.1.ffn_up.weight .* $mix .* imatrix\$|blk.0.attn_v.weight .* q4_K|output.weight .* q5_K|token_embd.weight .* q2_K"
    case $mix in iq1_*) wants="$wants|blk.1.attn_output.weight .* iq2_xxs" ;; esac
    IFS='|' read -ra want <<<"$wants"
    for w in "${want[@]}"; do
        grep -q "^$w" "$TMP/v" || fail "$mix mix: no line '$w' in: $(cat "$TMP/v")"
    done
    python3 tests/quant/imatrix_quant_check.py "$TMP/w.gguf" "$TMP/f-$mix.gguf" "$TMP/w-$mix.gguf" "$TMP/imx.gguf" \
        >"$TMP/check" || fail "check $mix: $(cat "$TMP/check")"
    tail -1 "$TMP/check" | sed "s/^/$mix: /"
    python3 tests/quant/dequant_error_check.py "$TMP/w.gguf" "$TMP/w-$mix.gguf" iq2_xxs=0.4 iq2_xs=0.37 iq1_s=0.48 iq1_m=0.46 ||
        fail "$mix dequantizes too far from the source"
    timeout 60 "$BIN" run -m "$TMP/w-$mix.gguf" -p "hello" -n 4 --temp 0 -t 1 >/dev/null 2>&1 || fail "sluice run $mix"
done

# The legacy format holds mean * ncall; with 4 chunks (ncall 4, a power of two) that scaling is exact,
# so the same means come back and the same file comes out.
"$BIN" quantize -q "$TMP/w.gguf" "$TMP/d-q4_k_m.gguf" --type q4_k_m --imatrix "$TMP/imx.dat" >/dev/null ||
    fail "quantize --imatrix .dat"
cmp -s "$TMP/d-q4_k_m.gguf" "$TMP/w-q4_k_m.gguf" || fail "the .dat and .gguf matrices gave different files"
"$BIN" quantize -v -q "$TMP/w.gguf" "$TMP/v.gguf" --type q4_k_m --imatrix "$TMP/imx.gguf" |
    grep -q '^blk.0.ffn_up.weight .* q4_K .* imatrix$' || fail "-v does not mark blk.0.ffn_up as quantized with the matrix"

expect_fail() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2; shift 2
    local msg
    msg=$("$BIN" quantize "$@" 2>&1) && { fail "$what accepted"; return; }
    echo "$msg" | grep -qi -- "$pat" || fail "$what: message does not say '$pat': $msg"
}
"$BIN" gen-model --size 1M --type f32 --seed 7 --layers 2 -q -o "$TMP/small.gguf" >/dev/null 2>&1
"$BIN" imatrix "$TMP/small.gguf" -f "$TMP/text.txt" -o "$TMP/small-imx.gguf" --chunk 64 --chunks 1 >/dev/null 2>&1
expect_fail "another model's matrix" "columns" "$TMP/w.gguf" "$TMP/x.gguf" --type q4_k_m --imatrix "$TMP/small-imx.gguf"
expect_fail "a model as the matrix" "not an importance matrix" "$TMP/w.gguf" "$TMP/x.gguf" --type q4_k_m --imatrix "$TMP/w.gguf"
expect_fail "text as the matrix" "not an importance matrix" "$TMP/w.gguf" "$TMP/x.gguf" --type q4_k_m --imatrix "$TMP/text.txt"
# damaged legacy files: truncated, an absurd value count, a negative entry count
head -c 100 "$TMP/imx.dat" >"$TMP/t1.dat"
python3 -c 'import struct, sys; open(sys.argv[1], "wb").write(struct.pack("<i", 1) + struct.pack("<i", 5) + b"abcde" + struct.pack("<ii", 1, 1 << 30))' "$TMP/t2.dat"
python3 -c 'import struct, sys; open(sys.argv[1], "wb").write(struct.pack("<i", -3))' "$TMP/t3.dat"
expect_fail "a truncated .dat" "truncated" "$TMP/w.gguf" "$TMP/x.gguf" --type q4_k_m --imatrix "$TMP/t1.dat"
expect_fail "a .dat with 2^30 values" "bad or truncated header" "$TMP/w.gguf" "$TMP/x.gguf" --type q4_k_m --imatrix "$TMP/t2.dat"
expect_fail "a .dat of -3 entries" "not an importance matrix" "$TMP/w.gguf" "$TMP/x.gguf" --type q4_k_m --imatrix "$TMP/t3.dat"
expect_fail "missing matrix" "no such file" "$TMP/w.gguf" "$TMP/x.gguf" --type q4_k_m --imatrix "$TMP/none.gguf"
for t in iq1_s iq1_m iq2_xxs iq2_xs; do
    expect_fail "$t without a matrix" "need an importance matrix" "$TMP/w.gguf" "$TMP/x.gguf" --type $t
done
# llama-quantize wants a matrix for iq2_s (its mix is mostly iq2_xs), iq2_m and iq3_xxs, and for the
# iq3_xxs that iq3_xs puts on attn_q/attn_k; iq3_s and iq3_m take none.
for t in iq2_s iq2_m iq3_xxs; do
    expect_fail "$t without a matrix" "need an importance matrix" "$TMP/w.gguf" "$TMP/x.gguf" --type $t
done
expect_fail "iq3_xs without a matrix" "attn_q.weight would be iq3_xxs, which needs an importance matrix" \
    "$TMP/w.gguf" "$TMP/x.gguf" --type iq3_xs
# The iq2_s / iq3 mixes: llama.cpp's per-tensor types (n_gqa 4 here: attn_v q4_K; 2 layers: no
# ffn_down in the first eighth; iq3_xs: iq3_xxs on ffn_up/gate of layer 0 = [n/8, 7n/8)), readable by the gguf package
# within the error of their bit rate, and sluice runs them.
for spec in "iq2_s imx blk.1.ffn_up.weight .* iq2_xs |blk.0.ffn_down.weight .* iq2_xs |blk.0.attn_v.weight .* q4_K |blk.0.attn_output.weight .* iq3_s |token_embd.weight .* iq3_s |output.weight .* q5_K " \
            "iq2_m imx blk.1.ffn_up.weight .* iq2_s .* imatrix\$|blk.0.attn_q.weight .* iq2_s " \
            "iq3_xxs imx blk.1.ffn_up.weight .* iq3_xxs |blk.0.attn_q.weight .* iq2_s |blk.0.attn_v.weight .* q4_K |blk.0.attn_output.weight .* iq3_s |output.weight .* q5_K " \
            "iq3_xs imx blk.0.ffn_up.weight .* iq3_xxs |blk.1.ffn_up.weight .* iq3_s |blk.0.attn_k.weight .* iq3_xxs |output.weight .* q6_K " \
            "iq3_s none blk.1.ffn_up.weight .* iq3_s |blk.0.attn_v.weight .* q4_K |output.weight .* q6_K " \
            "iq3_m none blk.0.attn_v.weight .* q4_K |blk.0.ffn_down.weight .* iq3_s |blk.0.attn_output.weight .* q4_K |blk.1.ffn_up.weight .* iq3_s "; do
    read -r mix im wants <<<"$spec"
    args=()
    [ "$im" = imx ] && args=(--imatrix "$TMP/imx.gguf")
    "$BIN" quantize -v -q "$TMP/w.gguf" "$TMP/m-$mix.gguf" --type $mix "${args[@]}" >"$TMP/v" ||
        { fail "quantize $mix"; continue; }
    IFS='|' read -ra want <<<"$wants"
    for w in "${want[@]}"; do
        grep -q "^$w" "$TMP/v" || fail "$mix mix: no line '$w' in: $(cat "$TMP/v")"
    done
    python3 tests/quant/dequant_error_check.py "$TMP/w.gguf" "$TMP/m-$mix.gguf" iq2_xs=0.37 iq2_s=0.33 iq3_xxs=0.25 iq3_s=0.22 ||
        fail "$mix dequantizes too far from the source"
    timeout 60 "$BIN" run -m "$TMP/m-$mix.gguf" -p "hello" -n 4 --temp 0 -t 1 >/dev/null 2>&1 || fail "sluice run $mix"
done
# --pure: the type on every weight; token_embd/output (no matrix entry) made without weights where
# ggml can (iq2_s), refused where it cannot (iq2_xxs; llama-quantize aborts there); the overrides.
"$BIN" quantize -v -q --pure "$TMP/w.gguf" "$TMP/pure.gguf" --type iq2_m --imatrix "$TMP/imx.gguf" >"$TMP/v" ||
    fail "--pure iq2_m"
for w in "token_embd.weight .* iq2_s " "output.weight .* iq2_s " "blk.0.attn_v.weight .* iq2_s .* imatrix\$"; do
    grep -q "^$w" "$TMP/v" || fail "--pure iq2_m: no line '$w' in: $(cat "$TMP/v")"
done
expect_fail "--pure iq2_xxs (token_embd without importance data)" "no entry for token_embd.weight" \
    "$TMP/w.gguf" "$TMP/x.gguf" --pure --type iq2_xxs --imatrix "$TMP/imx.gguf"
"$BIN" quantize -v -q --pure --token-embedding-type q8_0 --output-tensor-type f16 "$TMP/w.gguf" "$TMP/pure.gguf" \
    --type iq2_xxs --imatrix "$TMP/imx.gguf" >"$TMP/v" || fail "--pure iq2_xxs with overrides"
for w in "token_embd.weight .* q8_0 " "output.weight .* f16 " "blk.1.ffn_down.weight .* iq2_xxs "; do
    grep -q "^$w" "$TMP/v" || fail "--pure iq2_xxs + overrides: no line '$w' in: $(cat "$TMP/v")"
done
expect_fail "--output-tensor-type bogus" "unknown type 'bogus'" "$TMP/w.gguf" "$TMP/x.gguf" --type q8_0 --output-tensor-type bogus
python3 tests/quant/imatrix_edit.py "$TMP/imx.gguf" "$TMP/drop.gguf" --drop blk.1.ffn_up.weight || fail "imatrix_edit --drop"
expect_fail "iq2_xxs, a tensor missing from the matrix" "no entry for blk.1.ffn_up.weight" \
    "$TMP/w.gguf" "$TMP/x.gguf" --type iq2_xxs --imatrix "$TMP/drop.gguf"
[ -e "$TMP/x.gguf" ] && fail "a refused run left $TMP/x.gguf"
[ $rc = 0 ] && echo "quantize --imatrix: ok"
exit $rc
