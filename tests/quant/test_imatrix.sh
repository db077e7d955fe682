#!/usr/bin/env bash
# tests/quant/test_imatrix.sh — `sluice imatrix`: on a generated 2-layer model, the importance
# matrix in llama.cpp's GGUF format and in its legacy .dat format equals the statistic recomputed
# by an independent numpy forward pass (tests/quant/imatrix_check.py); the same under a streaming
# weight budget and on the deferred cpu-async backend; bad input is refused with a message.
# sluice-timeout: 300
set -u
cd "$(dirname "$0")/../.."
command -v python3 >/dev/null || { echo "python3 not found"; exit 77; }
python3 -c 'import gguf, numpy' 2>/dev/null || { echo "gguf python package not installed"; exit 77; }
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
rc=0
fail() { echo "FAIL: $*"; rc=1; }

"$BIN" gen-model --size 1M --type f32 --seed 7 --layers 2 -q -o "$TMP/m.gguf" >/dev/null 2>&1 || { echo "FAIL: gen-model"; exit 1; }
head -c 20000 README.md >"$TMP/text.txt"

# 3 chunks of 80 tokens: each runs as a pass of 64 and one of 16
"$BIN" imatrix "$TMP/m.gguf" -f "$TMP/text.txt" -o "$TMP/a.gguf" --chunk 80 --chunks 3 --tokens-out "$TMP/toks" -t 1 \
    >"$TMP/out" 2>&1 || fail "imatrix gguf: $(tail -2 "$TMP/out")"
"$BIN" imatrix -m "$TMP/m.gguf" -f "$TMP/text.txt" -o "$TMP/a.dat" --chunk 80 --chunks 3 -t 1 >"$TMP/out" 2>&1 ||
    fail "imatrix dat: $(tail -2 "$TMP/out")"
python3 tests/quant/imatrix_check.py "$TMP/m.gguf" "$TMP/a.gguf" "$TMP/toks" 80 "$TMP/a.dat" || fail "check"
# streamed (weights under a budget): the same statistic
"$BIN" imatrix "$TMP/m.gguf" -f "$TMP/text.txt" -o "$TMP/s.gguf" --chunk 80 --chunks 3 --vram 300K -t 1 \
    >"$TMP/out" 2>&1 || fail "imatrix --vram: $(tail -2 "$TMP/out")"
python3 tests/quant/imatrix_check.py "$TMP/m.gguf" "$TMP/s.gguf" "$TMP/toks" 80 || fail "check streamed"

# --process-output: output.weight too, over every token (each runs as its own pass)
"$BIN" imatrix "$TMP/m.gguf" -f "$TMP/text.txt" -o "$TMP/o.gguf" --chunk 80 --chunks 2 --process-output \
    --tokens-out "$TMP/toks2" -t 1 >"$TMP/out" 2>&1 || fail "imatrix --process-output: $(tail -2 "$TMP/out")"
python3 tests/quant/imatrix_check.py --process-output "$TMP/m.gguf" "$TMP/o.gguf" "$TMP/toks2" 80 ||
    fail "check --process-output"

# the deferred backend (kernels queued on a worker, as a GPU would run them): the observer must copy
# activations only after they are computed, so the file is byte-identical
"$BIN" imatrix "$TMP/m.gguf" -f "$TMP/text.txt" -o "$TMP/q.gguf" --chunk 80 --chunks 3 --backend cpu-async -t 1 \
    >"$TMP/out" 2>&1 || fail "imatrix --backend cpu-async: $(tail -2 "$TMP/out")"
cmp -s "$TMP/a.gguf" "$TMP/q.gguf" || fail "--backend cpu-async gave another matrix"

# refusals: each names the problem
expect_fail() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2; shift 2
    local msg
    msg=$("$BIN" imatrix "$@" 2>&1) && { fail "$what accepted"; return; }
    echo "$msg" | grep -qi -- "$pat" || fail "$what: message does not say '$pat': $msg"
}
expect_fail "no text" "need a model and a text" "$TMP/m.gguf"
expect_fail "short text" "fewer than one chunk" "$TMP/m.gguf" -f tests/quant/test_imatrix.sh --chunk 100000 -o "$TMP/x.gguf"
expect_fail "bad format" "gguf or dat" "$TMP/m.gguf" -f "$TMP/text.txt" --output-format csv
expect_fail "missing model" "no such file" "$TMP/none.gguf" -f "$TMP/text.txt"
[ -e "$TMP/x.gguf" ] && fail "a failed run left $TMP/x.gguf"
[ $rc = 0 ] && echo "imatrix: ok"
exit $rc
