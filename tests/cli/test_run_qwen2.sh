#!/usr/bin/env bash
# tests/cli/test_run_qwen2.sh — a generated qwen2 model (tests/ref/gen_qwen2.py: q/k/v biases,
# NeoX rope, byte-level BPE vocabulary with pre qwen2) runs from the CLI: the prompt (mixed
# scripts) is echoed, tokens are generated, greedy output does not depend on the thread count,
# and sampled runs (many byte-level tokens that split characters) finish cleanly.
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
python3 -c 'import numpy, gguf' 2>/dev/null || { echo "python3 with numpy and gguf is needed to write the model"; exit 77; }
M=$TMP/qwen2-cli.gguf
python3 tests/ref/gen_qwen2.py "$M" 3 || fail "gen_qwen2.py"

P='Hello 你好 مرحبا 12345'
timeout 20 "$BIN" run -m "$M" -p "$P" -n 24 --temp 0 -t 1 >"$TMP/a" 2>"$TMP/a.err" || { cat "$TMP/a.err"; fail "greedy -t 1"; }
timeout 20 "$BIN" run -m "$M" -p "$P" -n 24 --temp 0 -t 2 >"$TMP/b" 2>/dev/null || fail "greedy -t 2"
cmp -s "$TMP/a" "$TMP/b" || fail "greedy output depends on the thread count"
out=$(cat "$TMP/a")
[[ "$out" == "$P"* ]] || fail "stdout does not start with the prompt: $out"
grep -Eq 'generated [0-9]+ tok' "$TMP/a.err" || fail "no stats line: $(cat "$TMP/a.err")"
for s in 1 2 3 4 5; do
    timeout 20 "$BIN" run -m "$M" -p "$P" -n 32 --temp 1.0 --seed $s >"$TMP/s$s" 2>/dev/null || fail "run --seed $s"
done
echo "run qwen2 (generated): ok"
