#!/usr/bin/env bash
# tests/cli/test_perplexity.sh — `sluice perplexity` on a generated f16 model: a finite
# perplexity; the model against its own saved reference has KL 0, 100% top-1 agreement and no
# change of perplexity; its q8_0 quantization a small KL, q4_K_M a larger one; a reference of
# another text or length is refused; bad options are refused.
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
M=$TMP/ppl-f16.gguf
"$BIN" gen-model --size 6M --type f16 --dim 256 --layers 4 --seed 2 -q -o "$M" 2>/dev/null || fail "gen-model"
"$BIN" quantize "$M" "$TMP/ppl-q8.gguf" --type q8_0 -q 2>/dev/null || fail "quantize q8_0"
"$BIN" quantize "$M" "$TMP/ppl-q4.gguf" --type q4_k_m -q 2>/dev/null || fail "quantize q4_k_m"
T=$TMP/ppl.txt
for i in $(seq 1 40); do
    echo "Once upon a time there was a little girl named Lily. She loved to play in the park with her dog and her friend Ben. One day they saw a big red ball under a tree."
done >"$T"
P=(-c 64 --chunks 3 -t 2)
"$BIN" perplexity -m "$M" -f "$T" "${P[@]}" --kl-base-out "$TMP/base.kl" >"$TMP/o" 2>"$TMP/e" || { cat "$TMP/e"; fail "reference run"; }
grep -Eq '^perplexity: [0-9.]+ over 93 tokens' "$TMP/o" || fail "reference: $(cat "$TMP/o")"
grep -q 'reference saved' "$TMP/o" || fail "no reference saved"
kl() { # model -> "mean top1 dppl"
    "$BIN" perplexity -m "$1" -f "$T" "${P[@]}" --kl-base "$TMP/base.kl" >"$TMP/o" 2>"$TMP/e" || { cat "$TMP/e"; fail "kl run $1"; }
    cat "$TMP/o" >&2
    awk '/^kl divergence/ {m=$4} /^top-1/ {t=$3} /^reference perplexity/ {d=$5} END {gsub(",", "", m); gsub("%", "", t); print m, t, d}' "$TMP/o"
}
read -r kl16 top16 d16 < <(kl "$M")
read -r kl8 top8 _ < <(kl "$TMP/ppl-q8.gguf")
read -r kl4 top4 _ < <(kl "$TMP/ppl-q4.gguf")
echo "KL mean: f16 $kl16 (top-1 $top16%), q8_0 $kl8 (top-1 $top8%), q4_K_M $kl4 (top-1 $top4%)"
awk -v a="$kl16" 'BEGIN { exit !(a < 1e-6) }' || fail "f16 against itself: KL $kl16"
[ "$top16" = "100.00" ] || fail "f16 against itself: top-1 $top16%"
awk -v d="$d16" 'BEGIN { exit !(d + 0 == 0) }' || fail "f16 against itself: perplexity changed by $d16"
awk -v a="$kl16" -v b="$kl8" -v c="$kl4" 'BEGIN { exit !(b > a && c > b && b < 0.05) }' ||
    fail "KL not ordered f16 < q8_0 < q4_K_M (q8_0 small): $kl16 $kl8 $kl4"
# a reference of another run is refused
"$BIN" perplexity -m "$M" -f "$T" -c 32 --chunks 3 --kl-base "$TMP/base.kl" >/dev/null 2>"$TMP/e" && fail "-c 32 against -c 64 accepted"
grep -q 'a reference of another run' "$TMP/e" || fail "other run: $(cat "$TMP/e")"
"$BIN" perplexity -m "$M" -f "$T" --kl-base "$T" >/dev/null 2>"$TMP/e" && fail "a text as reference accepted"
grep -q 'not a sluice perplexity reference' "$TMP/e" || fail "bad reference: $(cat "$TMP/e")"
echo "short" >"$TMP/short.txt"
"$BIN" perplexity -m "$M" -f "$TMP/short.txt" -c 64 >/dev/null 2>"$TMP/e" && fail "a text shorter than a chunk accepted"
grep -q 'fewer than one chunk' "$TMP/e" || fail "short text: $(cat "$TMP/e")"
"$BIN" perplexity -m "$M" >/dev/null 2>&1 && fail "no -f accepted"
"$BIN" perplexity -m "$M" -f "$T" --kl-base a --kl-base-out b >/dev/null 2>&1 && fail "both kl options accepted"
echo "perplexity: ok"
