#!/usr/bin/env bash
# tests/build/test_symbols.sh — libsluice.so exports exactly the functions sluice.h declares:
# every defined dynamic symbol is sluice_*, carries version SLUICE_0.1, and is declared in the
# header with SLUICE_API; every function the header declares is exported.
set -u
cd "$(dirname "$0")/../.."
BUILD=${SLUICE_BUILD:-build}
TMP=${SLUICE_TMP:-$(mktemp -d)}
SO=$BUILD/libsluice.so
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$SO" ] || fail "$SO not built"
nm -D --defined-only "$SO" >"$TMP/nm" 2>&1 || fail "nm -D failed: $(head -3 "$TMP/nm")"
[ -s "$TMP/nm" ] || fail "nm -D listed no symbols"

# the version node itself is an absolute symbol named SLUICE_0.1; everything else must be versioned sluice_*
awk '!($2 == "A" && $3 == "SLUICE_0.1") { print $3 }' "$TMP/nm" | sort >"$TMP/exported"
grep -v '^sluice_[a-z0-9_]*@@SLUICE_0\.1$' "$TMP/exported" >"$TMP/stray" &&
    fail "exported symbols that are not sluice_*@@SLUICE_0.1:
$(head -20 "$TMP/stray")"
grep -q '^SLUICE_0.1$' <(awk '$2 == "A" { print $3 }' "$TMP/nm") || fail "no SLUICE_0.1 version node"

sed 's/@@SLUICE_0\.1$//' "$TMP/exported" | sort -u >"$TMP/names"
# functions the header declares: SLUICE_API <type> [*]sluice_name(
tr '\n' ' ' < runtime/include/sluice.h | grep -oE 'SLUICE_API[^;(]*\bsluice_[a-z0-9_]+ *\(' |
    grep -oE 'sluice_[a-z0-9_]+ *\($' | tr -d ' (' | sort -u >"$TMP/declared"
[ "$(wc -l <"$TMP/declared")" -ge 10 ] || fail "could not read the declarations in sluice.h"
missing=$(comm -23 "$TMP/declared" "$TMP/names")
[ -z "$missing" ] || fail "declared in sluice.h but not exported: $missing"
extra=$(comm -13 "$TMP/declared" "$TMP/names")
[ -z "$extra" ] || fail "exported but not declared in sluice.h: $extra"
# the static library's objects do not leak non-sluice globals into a program through the .so either
readelf -d "$SO" | grep -q 'SONAME.*libsluice\.so\.0' || fail "SONAME is not libsluice.so.0"
# the static library: every global it defines is sl_* or sluice_*, so linking it beside ggml (whose
# gguf_* functions share names with a reader's natural choice) or any other library cannot clash
A=$BUILD/libsluice.a
[ -f "$A" ] || fail "$A not built"
# (a sanitizer build adds its own globals, __odr_asan.<name> and the like: those are the compiler's)
nm -g --defined-only "$A" 2>/dev/null | awk 'NF == 3 { print $3 }' | grep -v '^sl_\|^sluice_' |
    grep -Ev '^__(odr_asan|asan|ubsan|tsan|msan|sancov)' | sort -u >"$TMP/astray"
[ -s "$TMP/astray" ] && fail "libsluice.a defines globals without the sl_/sluice_ prefix:
$(head -20 "$TMP/astray")"
echo "symbols: ok ($(wc -l <"$TMP/names") exported, all sluice_*@@SLUICE_0.1)"
