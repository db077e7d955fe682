#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/quantize-vs-llamacpp.sh [LLAMA_BIN_DIR] — sluice quantize against llama-quantize, byte for byte.
#
# One F32 llama model from `sluice gen-model` (rows multiples of 256), one importance matrix from
# `sluice imatrix` (llama.cpp reads its GGUF format), then each type both ways with --pure (the
# type on every weight; token_embd/output q8_0 on both sides, since llama-quantize aborts on an
# iq2_xxs/iq2_xs/iq1_s token_embd without importance data) and a few of llama.cpp's default mixes,
# compared tensor by tensor by bench/quantize_compare.py: share of byte-identical blocks and each
# side's RMS error against the F32 source.  Needs a llama.cpp build (default /work/llamacpp-build/bin);
# never part of `make check`.  About 5 minutes on 2 cores.  Results: Documentation/performance.md,
# "Quantizers vs llama-quantize".
set -u
cd "$(dirname "$0")/.."
LB=${1:-${LLAMA_BIN:-/work/llamacpp-build/bin}}
BIN=${SLUICE_BIN:-build/sluice}
NTH=${NTH:-2}
[ -x "$LB/llama-quantize" ] || { echo "no llama-quantize in $LB"; exit 77; }
[ -x "$BIN" ] || { echo "$BIN not built"; exit 1; }
python3 -c 'import gguf.quants, numpy' 2>/dev/null || { echo "gguf python package not installed"; exit 77; }
LQ() { LD_LIBRARY_PATH="$LB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$LB/llama-quantize" "$@"; }
TMP=${TMP_DIR:-$(mktemp -d)}
set -e
"$BIN" gen-model --size 16M --type f32 --seed 3 --dim 512 --ff 1024 --layers 4 -q -o "$TMP/m.gguf" >/dev/null
head -c 40000 README.md >"$TMP/text.txt"
"$BIN" imatrix "$TMP/m.gguf" -f "$TMP/text.txt" -o "$TMP/imx.gguf" --chunk 64 --chunks 8 -t "$NTH" >/dev/null 2>&1
set +e
echo "model: dim 512, ff 1024, 4 layers, heads 8/2, vocab 452, f32; imatrix: 8 chunks of 64 tokens"

# label  llama-quantize ftype  sluice --type  (llama.cpp's IQ2_M / IQ3_S / Q3_K_M ... are iq2_s / iq3_s / q3_K with --pure)
pure="iq4_nl:IQ4_NL:iq4_nl iq4_xs:IQ4_XS:iq4_xs iq3_s:IQ3_S:iq3_s iq3_xxs:IQ3_XXS:iq3_xxs iq2_s:IQ2_M:iq2_m
      iq2_xs:IQ2_XS:iq2_xs iq2_xxs:IQ2_XXS:iq2_xxs iq1_m:IQ1_M:iq1_m iq1_s:IQ1_S:iq1_s q2_K:Q2_K:q2_k
      q3_K:Q3_K_M:q3_k_m q4_K:Q4_K_M:q4_k_m q5_K:Q5_K_M:q5_k_m q6_K:Q6_K:q6_k"
for spec in $pure; do
    IFS=: read -r label lt st <<<"$spec"
    for im in imatrix none; do
        a=(); [ $im = imatrix ] && a=(--imatrix "$TMP/imx.gguf")
        case $st in iq2_*|iq1_*|iq3_xxs) [ $im = none ] && continue ;; esac
        LQ "${a[@]}" --pure --token-embedding-type q8_0 --output-tensor-type q8_0 "$TMP/m.gguf" "$TMP/l.gguf" "$lt" "$NTH" \
            >"$TMP/l.log" 2>&1 || { echo "$label: llama-quantize failed: $(tail -3 "$TMP/l.log")"; continue; }
        "$BIN" quantize -q "${a[@]}" --pure --token-embedding-type q8_0 --output-tensor-type q8_0 -t "$NTH" \
            "$TMP/m.gguf" "$TMP/s.gguf" --type "$st" >/dev/null || { echo "$label: sluice quantize failed"; continue; }
        python3 bench/quantize_compare.py "$TMP/m.gguf" "$TMP/l.gguf" "$TMP/s.gguf" "$label/$im" | grep -v ' Q8_0 '
    done
done
# --pure without the q8_0 overrides, for the types llama.cpp also makes token_embd/output of without
# importance data (no matrix entry for them): iq2_s and iq3_xxs through ggml's reference quantizers
for spec in iq2_s:IQ2_M:iq2_m iq3_xxs:IQ3_XXS:iq3_xxs; do
    IFS=: read -r label lt st <<<"$spec"
    LQ --imatrix "$TMP/imx.gguf" --pure "$TMP/m.gguf" "$TMP/l.gguf" "$lt" "$NTH" >"$TMP/l.log" 2>&1 ||
        { echo "$label: llama-quantize failed: $(tail -3 "$TMP/l.log")"; continue; }
    "$BIN" quantize -q --imatrix "$TMP/imx.gguf" --pure -t "$NTH" "$TMP/m.gguf" "$TMP/s.gguf" --type "$st" >/dev/null ||
        { echo "$label: sluice quantize failed"; continue; }
    python3 bench/quantize_compare.py "$TMP/m.gguf" "$TMP/l.gguf" "$TMP/s.gguf" "$label/all"
done
# llama.cpp's mixes as they are (per-tensor types by llama_tensor_get_type), with the matrix
mixes() { # MODEL IMATRIX PREFIX SPECS...
    local m=$1 imx=$2 pre=$3; shift 3
    for spec in "$@"; do
        IFS=: read -r lt st <<<"$spec"
        LQ --imatrix "$imx" "$m" "$TMP/l.gguf" "$lt" "$NTH" >"$TMP/l.log" 2>&1 ||
            { echo "$pre$st: llama-quantize failed: $(tail -3 "$TMP/l.log")"; continue; }
        "$BIN" quantize -q --imatrix "$imx" -t "$NTH" "$m" "$TMP/s.gguf" --type "$st" >/dev/null ||
            { echo "$pre$st: sluice quantize failed"; continue; }
        python3 bench/quantize_compare.py "$m" "$TMP/l.gguf" "$TMP/s.gguf" "$pre$st" | awk '
            / type differs/ { print; next } { n += $4; s += $4 * $6 / 100; t = t " " $2 }
            END { if (n) printf "%-14s all tensors: blocks %d identical %.3f%% (%s )\n", "'"$pre$st"'", n, 100 * s / n, t }'
    done
}
mixes "$TMP/m.gguf" "$TMP/imx.gguf" mix: IQ2_S:iq2_s IQ2_M:iq2_m IQ3_XXS:iq3_xxs IQ3_XS:iq3_xs IQ3_S:iq3_s IQ3_M:iq3_m \
    IQ1_S:iq1_s IQ1_M:iq1_m IQ2_XXS:iq2_xxs IQ4_XS:iq4_xs Q2_K:q2_k Q3_K_M:q3_k_m Q4_K_M:q4_k_m Q4_0:q4_0
# A trained model: stories260K (f32, dim 64, tied embeddings): every 256-block type falls back to
# iq4_nl / q5_0 / q5_1 / q8_0, token_embd takes the output's rule.
S260=${S260:-/work/shared/models/stories260K.gguf}
if [ -f "$S260" ]; then
    "$BIN" imatrix "$S260" -f "$TMP/text.txt" -o "$TMP/simx.gguf" --chunk 64 --chunks 4 -t "$NTH" >/dev/null 2>&1
    mixes "$S260" "$TMP/simx.gguf" 260K: IQ2_M:iq2_m IQ3_XXS:iq3_xxs IQ3_S:iq3_s Q4_K_M:q4_k_m Q5_K_M:q5_k_m Q4_0:q4_0 Q4_1:q4_1
fi
[ -n "${TMP_DIR:-}" ] || rm -rf "$TMP"
