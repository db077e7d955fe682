#!/usr/bin/env bash
# I/O faults while streaming (EIO, short reads, a file that ends early, a queue that stays full) each give a
# clear error and exit 1, and what was printed before the error is a prefix of the correct output (never a
# wrong token).  A queue that is full only once is retried and the output is exact.
set -uo pipefail
M=$SLUICE_TMP/faults.gguf
"$SLUICE_BIN" gen-model --size 24M --dim 256 --type f16 --seed 4 -q -o "$M" || exit 1
ARGS=(run -m "$M" -p "the dog" -n 12 --temp 0 --vram 2M --host-cache 3M --no-echo -t 1)
good=$("$SLUICE_BIN" "${ARGS[@]}" 2>/dev/null) || { echo "clean run failed"; exit 1; }
size=$(stat -c %s "$M")
fail=0
for spec in eio@40 short@40 "trunc@$((size - 4096))" busy@1+ again@1+ eio@1+; do
    out=$(SLUICE_IO_FAULT=$spec "$SLUICE_BIN" "${ARGS[@]}" 2>"$SLUICE_TMP/err"); rc=$?
    msg=$(grep -m1 'sluice run:' "$SLUICE_TMP/err")
    if [ $rc -ne 1 ] || [ -z "$msg" ]; then
        echo "FAIL: $spec: exit $rc, stderr: $(head -c 300 "$SLUICE_TMP/err")"; fail=1; continue
    fi
    out=${out%$'\n'}
    if [ "${good#"$out"}" = "$good" ] && [ -n "$out" ]; then
        echo "FAIL: $spec: output before the error is not a prefix of the correct output"; fail=1; continue
    fi
    echo "ok: $spec -> $msg"
done
for spec in busy@5 again@7; do
    out=$(SLUICE_IO_FAULT=$spec "$SLUICE_BIN" "${ARGS[@]}" 2>"$SLUICE_TMP/err"); rc=$?
    if [ $rc -ne 0 ] || [ "$out" != "$good" ]; then
        echo "FAIL: $spec: a transient full queue should be retried (exit $rc)"; cat "$SLUICE_TMP/err"; fail=1
    else
        echo "ok: $spec retried, output exact"
    fi
done
exit $fail
