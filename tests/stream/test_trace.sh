#!/usr/bin/env bash
# `sluice run --trace`: a streamed run (and one on the asynchronous backend, which uploads) writes a
# Chrome JSON trace (and with .perfetto-trace, Perfetto's protobuf) that parses strictly, whose spans pair and nest on each thread, whose I/O
# request spans add up to the bytes the run read (--stats) and whose token spans cover the tokens
# decoded; a trace that cannot be written is an error that names the file.
set -uo pipefail
M=$SLUICE_TMP/trace.gguf
T=$SLUICE_TMP/t.json
"$SLUICE_BIN" gen-model --size 64M --dim 256 --type q8_0 -q -o "$M" || exit 1
fail=0
for backend in cpu cpu-async; do
    rm -f "$T"
    err=$("$SLUICE_BIN" run -m "$M" --vram 8M --host-cache 16M --backend $backend --trace "$T" -n 4 --temp 0 \
          -p hello --stats 2>&1 >/dev/null) || { echo "FAIL: run ($backend): $err"; fail=1; continue; }
    read -r bytes prompt gen < <(sed -n 's/.*exact: bytes_read \([0-9]*\) prompt_tokens \([0-9]*\) gen_tokens \([0-9]*\).*/\1 \2 \3/p' <<<"$err")
    if [ -z "${bytes:-}" ]; then echo "FAIL: no exact stats line ($backend): $err"; fail=1; continue; fi
    extra=; [ $backend = cpu-async ] && extra=uploads
    if out=$(python3 "$(dirname "$0")/trace_check.py" "$T" "$bytes" $((prompt + gen)) $extra 2>&1); then
        echo "$backend: $out"
    else
        echo "FAIL ($backend): $out"; fail=1
    fi
done
# the same runs in Perfetto's protobuf format (.perfetto-trace), decoded by Perfetto's own bindings
P=$SLUICE_TMP/t.perfetto-trace
for backend in cpu cpu-async; do
    rm -f "$P"
    err=$("$SLUICE_BIN" run -m "$M" --vram 8M --host-cache 16M --backend $backend --trace "$P" -n 4 --temp 0 \
          -p hello --stats 2>&1 >/dev/null) || { echo "FAIL: run ($backend, perfetto): $err"; fail=1; continue; }
    read -r bytes prompt gen < <(sed -n 's/.*exact: bytes_read \([0-9]*\) prompt_tokens \([0-9]*\) gen_tokens \([0-9]*\).*/\1 \2 \3/p' <<<"$err")
    extra=; [ $backend = cpu-async ] && extra=uploads
    if out=$(python3 "$(dirname "$0")/trace_check_perfetto.py" "$P" "$bytes" $((prompt + gen)) $extra 2>&1); then
        echo "$backend (perfetto): $out"
    else
        echo "FAIL ($backend, perfetto): $out"; fail=1
    fi
done
# tracing off: no file, and the same text as with it on
a=$("$SLUICE_BIN" run -m "$M" --vram 8M --host-cache 16M -n 4 --temp 0 -p hello 2>/dev/null)
b=$("$SLUICE_BIN" run -m "$M" --vram 8M --host-cache 16M -n 4 --temp 0 -p hello --trace "$T" 2>/dev/null)
[ "$a" = "$b" ] || { echo "FAIL: text differs with --trace: '$a' vs '$b'"; fail=1; }
# an unwritable trace is refused before the model loads, naming the path
out=$("$SLUICE_BIN" run -m "$M" -n 1 --trace "$SLUICE_TMP/no/such/dir/t.json" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 1 ] || ! grep -q "no/such/dir" <<<"$out"; then
    echo "FAIL: unwritable trace: exit $rc, '$out'"; fail=1
else
    echo "ok: $out"
fi
[ -z "$(ls -A "$SLUICE_TMP" | grep sluice-tmp)" ] || { echo "FAIL: temporary file left"; fail=1; }
exit $fail
