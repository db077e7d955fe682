#!/usr/bin/env bash
# tests/build/test_api_example.sh — the example of Documentation/api.md, taken from the document
# as it is, built against an installed libsluice with `pkg-config --cflags --libs sluice` and run on
# stories260K (or a generated model): two prompts decoded together with sluice_decode_batch give
# the tokens each gives alone.
# sluice-timeout: 180
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${SLUICE_BUILD:-$ROOT/build}
BIN=${SLUICE_BIN:-$BUILD/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$BUILD/libsluice.so" ] || fail "$BUILD/libsluice.so not built"
command -v pkg-config >/dev/null || fail "pkg-config not installed (scripts/deps.sh installs it)"
P=$TMP/api-prefix
make -s -C "$ROOT" BUILD="$BUILD" PREFIX="$P" -o lib -o cli install >"$TMP/api-install.log" 2>&1 ||
    { tail -20 "$TMP/api-install.log"; fail "make install"; }
sed -n '/<!-- example: batch.c -->/,$p' Documentation/api.md | sed -n '/^```c$/,/^```$/p' | sed '1d;$d' >"$TMP/batch.c"
grep -q 'sluice_decode_batch' "$TMP/batch.c" || fail "no example found in Documentation/api.md"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
# A sanitizer build (make asan) needs the same runtime in the program that links it.
SAN=
nm "$BUILD/libsluice.a" 2>/dev/null | grep -q '__asan_' && SAN="-fsanitize=address,undefined"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -Wall -Wextra -Werror $SAN -o "$TMP/batch" "$TMP/batch.c" $(pkg-config --cflags --libs sluice) ||
    fail "the example does not build against pkg-config sluice"
M=${SLUICE_MODELS:-../shared/models}/stories260K.gguf
if [ ! -f "$M" ]; then
    M=$TMP/api.gguf
    "$BIN" gen-model --size 4M --seed 2 -q -o "$M" 2>/dev/null || fail "gen-model"
fi
LD_LIBRARY_PATH=$P/lib timeout 60 "$TMP/batch" "$M" "Once upon a time" "The little dog" >"$TMP/batch.out" 2>&1 ||
    { cat "$TMP/batch.out"; fail "the example failed"; }
cat "$TMP/batch.out"
grep -q '^batched and alone agree$' "$TMP/batch.out" || fail "unexpected output"
[ "$(grep -c '^\[[01]\] ' "$TMP/batch.out")" = 2 ] || fail "expected two continuations"
echo "PASS"
