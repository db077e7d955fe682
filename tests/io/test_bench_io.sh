#!/usr/bin/env bash
# tests/io/test_bench_io.sh — `sluice bench io` end to end on a small file: every engine and
# pattern produces sane JSON; SLUICE_IO_FAULT reaches the CLI and turns into a clear error;
# "auto" falling back to pread says so.
# sluice-timeout: 300
set -u
BIN=${SLUICE_BIN:-build/sluice}
[ -x "$BIN" ] || { echo "skip: $BIN not built"; exit 77; }
"$BIN" bench io --help >/dev/null 2>&1 || { echo "skip: sluice has no 'bench io'"; exit 77; }
DIR=${SLUICE_TMP:-/var/tmp}
[ "$(findmnt -no FSTYPE -T "$DIR" 2>/dev/null)" = tmpfs ] && DIR=/var/tmp
F=$DIR/bench-io-test.$$.bin
trap 'rm -f "$F"' EXIT
head -c 16M /dev/urandom > "$F"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

for e in uring pread mmap auto; do
    for p in seq rand tensors; do
        out=$("$BIN" bench io "$F" --engine $e --pattern $p --bs 256K --qd 8 --size 8M --json 2>&1)
        rc=$?
        check "$e/$p exit $rc: $out" '[ $rc -eq 0 ]'
        check "$e/$p json: $out" 'echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"bytes\"] > 0 and d[\"mib_per_s\"] > 0, d"'
    done
done

out=$(SLUICE_IO_FAULT=eio@3 "$BIN" bench io "$F" --engine pread --bs 64K 2>&1); rc=$?
check "eio@3 should fail (rc $rc): $out" '[ $rc -ne 0 ]'
check "eio@3 message should name the file: $out" 'echo "$out" | grep -q "$F.*Input/output error"'

out=$(SLUICE_IO_FAULT=short@2 "$BIN" bench io "$F" --bs 64K 2>&1); rc=$?
check "short@2 should fail (rc $rc): $out" '[ $rc -ne 0 ] && echo "$out" | grep -q "short read"'

# a GGUF whose tensors run past where the file (appears to) end
G=${SLUICE_MODELS:-../shared/models}/llama-2-tiny-random.gguf
if [ -f "$G" ]; then
    out=$("$BIN" bench io "$G" --pattern tensors --fault trunc@600K 2>&1); rc=$?
    check "trunc@600K should fail (rc $rc): $out" '[ $rc -ne 0 ] && echo "$out" | grep -q "ends at 614400"'
fi

out=$(SLUICE_IO_FAULT=nodirect "$BIN" bench io "$F" --bs 64K --json 2>&1); rc=$?
check "nodirect fallback (rc $rc): $out" '[ $rc -eq 0 ] && echo "$out" | grep -q "using pread"'

out=$("$BIN" bench io "$F" --pattern nope 2>&1); rc=$?
check "bad pattern should be a usage error: $out" '[ $rc -eq 1 ]'
out=$("$BIN" bench io /nonexistent/file 2>&1); rc=$?
check "missing file: $out" '[ $rc -ne 0 ] && echo "$out" | grep -q /nonexistent/file'

[ $fail -eq 0 ] && echo "ok"
exit $fail
