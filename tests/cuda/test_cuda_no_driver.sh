#!/usr/bin/env bash
# Without libcuda.so.1: --backend cuda says "no CUDA driver" and exits 1; --backend auto (the default)
# runs on the CPU with the CPU's tokens and says nothing unless asked (-v); --stats names the backend.
set -uo pipefail
M=$SLUICE_MODELS/stories260K.gguf
fail=0
RUN=(run -m "$M" -p "Once upon a time" -n 12 --temp 0 --no-echo)
# No libcuda.so.1 anywhere on the path (this machine's own loader path has none either: the test
# hides the stand-in by not adding it).
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
    expect no-driver '^sluice run: no CUDA driver \(libcuda\.so\.1' "$SLUICE_BIN" "${RUN[@]}" --backend cuda
    # auto falls back to the CPU silently; -v says why
    cpu=$("$SLUICE_BIN" "${RUN[@]}" --backend cpu 2>/dev/null)
    out=$("$SLUICE_BIN" "${RUN[@]}" 2>"$SLUICE_TMP/err"); rc=$?
    if [ $rc -ne 0 ] || [ "$out" != "$cpu" ] || grep -qi cuda "$SLUICE_TMP/err"; then
        echo "FAIL (auto without a driver): exit $rc"; echo "$out"; cat "$SLUICE_TMP/err"; fail=1
    else
        echo "ok (auto without a driver): CPU tokens, nothing said"
    fi
    # --stats names the backend auto chose; with the stand-in driver on the path it is cuda
    st=$("$SLUICE_BIN" "${RUN[@]}" --stats 2>&1 >/dev/null)
    grep -q "| backend cpu$" <<<"$(grep 'cache hits' <<<"$st")" || { echo "FAIL: --stats does not say backend cpu: $st"; fail=1; }
    st=$(LD_LIBRARY_PATH=$SLUICE_BUILD/fakecuda "$SLUICE_BIN" "${RUN[@]}" --stats 2>&1 >/dev/null)
    grep -q "| backend cuda$" <<<"$(grep 'cache hits' <<<"$st")" || { echo "FAIL: --stats with a driver does not say backend cuda: $st"; fail=1; }
    v=$("$SLUICE_BIN" "${RUN[@]}" -v 2>&1 >/dev/null)
    grep -q "backend auto: no CUDA driver.*running on the CPU" <<<"$v" ||
        { echo "FAIL: -v does not say why auto ran on the CPU: $v"; fail=1; }
else
    echo "note: this machine has a real libcuda.so.1; the no-driver cases are not run"
fi
exit $fail
