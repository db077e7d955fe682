#!/usr/bin/env bash
# sluice-timeout: 900  (the stand-in driver runs every kernel on CPU fibers: minutes under ASan)
# Launches per matrix product on --backend cuda (the stand-in driver's FAKECUDA_LOG: one line per
# executed operation), a count, never a time: decode of a q4_k_m model launches one kernel per
# matmul (sl_mmv_conv_T converts its activations itself) and no conversion kernel at all; a prompt
# whose activations exceed the folded kernel's shared memory (n * 292 bytes a token > 16 KiB at
# dim 256: 57 tokens and up) still converts once per distinct input (q/k/v and gate/up share one
# conversion) and gives the CPU's tokens.  Prints the launches per decoded token by kernel.
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
skip_without_firmware
fail=0
M=$SLUICE_TMP/q4km.gguf
"$SLUICE_BIN" gen-model --size 2M --type f16 --dim 256 --layers 4 --ff 512 -q -o "$SLUICE_TMP/f16.gguf" >/dev/null &&
    "$SLUICE_BIN" quantize -q "$SLUICE_TMP/f16.gguf" "$M" --type q4_k_m >/dev/null || { echo "FAIL: making the q4_k_m model"; exit 1; }
# launches N PROMPT: run -n N and leave "kernel count" lines in $SLUICE_TMP/c.N
launches() {
    rm -f "$SLUICE_TMP/log"
    fake_run FAKECUDA_LOG="$SLUICE_TMP/log" -- run -m "$M" --backend cuda --temp 0 --no-echo -p "$2" -n "$1" \
        >"$SLUICE_TMP/out.$1" 2>"$SLUICE_TMP/err" || { echo "FAIL: run -n $1"; cat "$SLUICE_TMP/err"; exit 1; }
    grep -o 'op=launch .*kernel=[A-Za-z0-9_]*' "$SLUICE_TMP/log" | sed 's/.*kernel=//' | sort | uniq -c |
        awk '{print $2, $1}' | sort >"$SLUICE_TMP/c.$1"
}
launches 2 hi
launches 12 hi
# per decoded token: (launches of -n 12 - launches of -n 2) / 10
join -a1 -a2 -e0 -o 0,1.2,2.2 "$SLUICE_TMP/c.2" "$SLUICE_TMP/c.12" |
    awk '{d = ($3 - $2) / 10; t += d; printf "  %-22s %5.1f\n", $1, d} END {printf "  %-22s %5.1f\n", "total", t}' \
    >"$SLUICE_TMP/per_token"
echo "launches per decoded token (4 layers, q4_K/q6_K):"; cat "$SLUICE_TMP/per_token"
# 4 layers x 7 matmuls + the output = 29, each one launch, and no conversion kernel
mm=$(awk '$1 ~ /^sl_mmv/ {s += $2} END {print s + 0}' "$SLUICE_TMP/per_token")
conv=$(awk '$1 ~ /^sl_(quantize|convert)_/ {s += $2} END {print s + 0}' "$SLUICE_TMP/per_token")
two=$(awk '$1 ~ /^sl_mmv_(q|f|b)/ {s += $2} END {print s + 0}' "$SLUICE_TMP/per_token")
if [ "$mm" != 29 ] || [ "$conv" != 0 ] || [ "$two" != 0 ]; then
    echo "FAIL: decode: $mm mmv launches per token (want 29), $conv conversions (want 0), $two two-launch mmv (want 0)"
    fail=1
else
    echo "ok (decode): 29 matmuls a token, 29 launches"
fi
# A prompt of 5 sentences (over 57 tokens): the two-launch path with its reuse, and the CPU's tokens.
P="$(printf 'Once upon a time there was a little dog. %.0s' 1 2 3 4 5)"
launches 4 "$P"
cpu=$("$SLUICE_BIN" run -m "$M" --backend cpu --temp 0 --no-echo -p "$P" -n 4 2>/dev/null)
q=$(awk '$1 == "sl_quantize_q8_K" {print $2}' "$SLUICE_TMP/c.4")
if [ -z "$cpu" ] || [ "$cpu" != "$(cat "$SLUICE_TMP/out.4")" ]; then
    echo "FAIL (long prompt): tokens differ"; echo "cpu:  $cpu"; echo "cuda: $(cat "$SLUICE_TMP/out.4")"; fail=1
elif [ -z "$q" ] || [ "$q" -lt 1 ]; then
    echo "FAIL (long prompt): no conversion kernel for a prompt past the folded kernel's limit"; cat "$SLUICE_TMP/c.4"; fail=1
else
    echo "ok (long prompt): the CPU's tokens; $q conversion launches (the prompt's chunks, inputs shared)"
fi
exit $fail
