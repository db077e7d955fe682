#!/usr/bin/env bash
# tests/build/test_clang.sh — the whole tree (library, CLI, test programs) builds with clang
# without a single warning (the Makefile's -Werror turns one into a failure; the log is also
# searched, since a warning flag could be missing from -Werror's reach).
# sluice-timeout: 600
set -u
cd "$(dirname "$0")/../.."
TMP=${SLUICE_TMP:-$(mktemp -d)}
fail() { echo "FAIL: $*"; exit 1; }
command -v clang >/dev/null || fail "clang not installed (scripts/deps.sh installs it)"
OUT=$TMP/clang-build
make -C "$PWD" CC=clang BUILD="$OUT" -j2 all >"$TMP/clang.log" 2>&1
rc=$?
[ $rc -eq 0 ] || { grep -E 'error|warning' "$TMP/clang.log" | head -30; fail "make CC=clang exited $rc"; }
if grep -E '(warning|error):' "$TMP/clang.log" >"$TMP/warn"; then
    head -30 "$TMP/warn"
    fail "clang printed $(wc -l <"$TMP/warn") warning(s)"
fi
[ -x "$OUT/sluice" ] && [ -f "$OUT/libsluice.so" ] && [ -f "$OUT/libsluice.a" ] || fail "clang build incomplete"
"$OUT/sluice" version | grep -q '^sluice ' || fail "the clang-built CLI does not run"
rm -rf "$OUT"
echo "clang: ok"
