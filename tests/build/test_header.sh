#!/usr/bin/env bash
# tests/build/test_header.sh — runtime/include/sluice.h stands alone: it compiles by itself as
# strict C11 and C99 (gcc and clang, -pedantic -Wall -Wextra -Werror) and as C++ (g++ and
# clang++), twice in one unit (include guard), and declares nothing outside sluice_/SLUICE_.
set -u
cd "$(dirname "$0")/../.."
TMP=${SLUICE_TMP:-$(mktemp -d)}
H=$PWD/runtime/include/sluice.h
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$H" ] || fail "$H missing"
printf '#include <sluice.h>\n#include <sluice.h>\nint main(void) { return sluice_version() == 0; }\n' >"$TMP/h.c"
cp "$TMP/h.c" "$TMP/h.cc"
ok=0
try() {  # try COMPILER ARGS...
    command -v "$1" >/dev/null || return 0
    "$@" >"$TMP/err" 2>&1 || fail "$*:
$(head -20 "$TMP/err")"
    ok=$((ok + 1))
}
for cc in gcc clang; do
    for std in c11 c99; do
        try $cc -std=$std -pedantic -Wall -Wextra -Werror -fsyntax-only -x c "$H"
        try $cc -std=$std -pedantic -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
            -I"$(dirname "$H")" -fsyntax-only "$TMP/h.c"
    done
done
for cxx in g++ clang++; do
    for std in c++11 c++17; do
        try $cxx -std=$std -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ "$H"
        try $cxx -std=$std -pedantic -Wall -Wextra -Werror -I"$(dirname "$H")" -fsyntax-only "$TMP/h.cc"
    done
done
command -v gcc >/dev/null && command -v g++ >/dev/null || fail "gcc and g++ are needed (scripts/deps.sh)"
# macros it adds to those of the standard headers it includes are all SLUICE_*
printf '#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n' >"$TMP/base.h"
gcc -std=c11 -E -dM -x c "$H" | sort -u >"$TMP/all" && gcc -std=c11 -E -dM -x c "$TMP/base.h" | sort -u >"$TMP/base" ||
    fail "gcc -E -dM"
stray=$(comm -23 "$TMP/all" "$TMP/base" | awk '{print $2}' | sed 's/(.*//' | grep -v '^SLUICE_')
[ -z "$stray" ] || fail "sluice.h defines macros outside SLUICE_: $stray"
echo "header: ok ($ok compiles)"
