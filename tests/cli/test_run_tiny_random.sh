#!/usr/bin/env bash
# tests/cli/test_run_tiny_random.sh — llama-2-tiny-random (F16 matrices, separate output
# tensor, 32000-token Llama-2 vocabulary) loads and generates the tokens asked for.
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
MODELS=${SLUICE_MODELS:-../shared/models}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
M=$MODELS/llama-2-tiny-random.gguf
[ -d "$MODELS" ] || { echo "shared model folder absent ($MODELS)"; exit 77; }
[ -f "$M" ] || { echo "FAIL: $M missing from the shared model folder"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }

for args in "--temp 0" "--temp 0.8 --seed 7" "--temp 1.0 --top-k 0 --top-p 1 --seed 3"; do
    # shellcheck disable=SC2086
    timeout 20 "$BIN" run -m "$M" -p "Hello" -n 24 $args -t 2 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 0 ] || { cat "$TMP/err"; fail "run $args exited $rc"; }
    out=$(cat "$TMP/out")
    [[ "$out" == Hello* ]] || fail "run $args: stdout does not start with the prompt: $out"
    [ ${#out} -gt 5 ] || fail "run $args: nothing generated: '$out'"
    # random weights rarely pick EOS; unless it did, all 24 tokens were generated
    grep -Eq 'generated [0-9]+ tok' "$TMP/err" || fail "run $args: no stats line: $(cat "$TMP/err")"
    n=$(grep -Eo 'generated [0-9]+ tok' "$TMP/err" | grep -Eo '[0-9]+')
    [ "$n" -ge 1 ] && [ "$n" -le 24 ] || fail "run $args: generated $n tokens (asked 24)"
done
# greedy: deterministic, and all 24 tokens (greedy never picks EOS here)
timeout 20 "$BIN" run -m "$M" -p "Hello" -n 24 --temp 0 -t 1 >"$TMP/a" 2>"$TMP/a.err" || fail "greedy -t 1"
timeout 20 "$BIN" run -m "$M" -p "Hello" -n 24 --temp 0 -t 2 >"$TMP/b" 2>/dev/null || fail "greedy -t 2"
cmp -s "$TMP/a" "$TMP/b" || fail "greedy output depends on the thread count"
grep -q 'generated 24 tok' "$TMP/a.err" || fail "greedy did not generate 24 tokens: $(cat "$TMP/a.err")"
echo "run llama-2-tiny-random: ok"
