#!/usr/bin/env bash
# Both budgets at once on a model of many small tensors (norms of a few hundred bytes): the host
# cache counts whole pool pages (a 512-byte read span still takes a 4 KiB page of a slab), so a
# cache a third of the model, with a third on the device, streams and gives exactly the
# unconstrained tokens (it once failed with "host cache placement failed", and then with "host cache
# too small" at 0.8 of 1.0 MiB in use), on the synchronous and the asynchronous backend.
set -uo pipefail
M=$SLUICE_TMP/small-units.gguf
"$SLUICE_BIN" gen-model --size 3M --type f16 --seed 5 -q -o "$M" || exit 1
S=$(stat -c %s "$M")
want=$("$SLUICE_BIN" run -m "$M" -p hi -n 12 --temp 0 2>/dev/null) || { echo "FAIL: unconstrained run"; exit 1; }
fail=0
for backend in cpu cpu-async; do
    for hc in $((S / 3)) $((S / 2)) $((S * 2 / 3)) unlimited; do
        args=(--vram $((S / 3)))
        [ $hc = unlimited ] || args+=(--host-cache $hc)
        got=$("$SLUICE_BIN" run -m "$M" -p hi -n 12 --temp 0 --backend $backend "${args[@]}" 2>"$SLUICE_TMP/err")
        rc=$?
        if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
            echo "FAIL ($backend ${args[*]}): exit $rc, '$got' != '$want': $(cat "$SLUICE_TMP/err")"; fail=1
        else
            echo "ok ($backend ${args[*]})"
        fi
    done
done
exit $fail
