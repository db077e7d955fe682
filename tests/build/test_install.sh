#!/usr/bin/env bash
# tests/build/test_install.sh — `make install PREFIX=...` puts the library (static and shared,
# with soname links), the header, sluice.pc and the CLI in place, and a program built with
# `pkg-config --cflags --libs sluice` (shared) and `pkg-config --static` (static) runs
# stories260K for 8 greedy tokens and prints what `sluice run` prints.
# sluice-timeout: 180
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${SLUICE_BUILD:-$ROOT/build}
TMP=${SLUICE_TMP:-$(mktemp -d)}
MODELS=${SLUICE_MODELS:-../shared/models}
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$BUILD/libsluice.a" ] || fail "$BUILD/libsluice.a not built"
command -v pkg-config >/dev/null || fail "pkg-config not installed (scripts/deps.sh installs it)"
P=$TMP/prefix
# The version is written once, in the Makefile; everything installed must agree with it.
V=$(make -s --no-print-directory -C "$ROOT" print-version) && [ -n "$V" ] || fail "make print-version"
dup=$(grep -rnF "\"$V\"" runtime tools | head -5)
[ -z "$dup" ] || fail "the version is written in the sources too (use SLUICE_VERSION from the Makefile):
$dup"

# Install what the build folder under test holds: `-o lib -o cli` stops make from rebuilding it
# (with other flags than it was built with, e.g. a `make asan` build) or into another folder.
make -s -C "$ROOT" BUILD="$BUILD" PREFIX="$P" -o lib -o cli install >"$TMP/install.log" 2>&1 ||
    { tail -20 "$TMP/install.log"; fail "make install exited non-zero"; }

for f in lib/libsluice.a lib/libsluice.so.$V include/sluice.h lib/pkgconfig/sluice.pc bin/sluice; do
    [ -f "$P/$f" ] || fail "$f not installed"
done
[ "$(readlink "$P/lib/libsluice.so")" = libsluice.so.$V ] || fail "lib/libsluice.so is not a link to libsluice.so.$V"
[ "$(readlink "$P/lib/libsluice.so.0")" = libsluice.so.$V ] || fail "lib/libsluice.so.0 is not a link to libsluice.so.$V"
[ -x "$P/bin/sluice" ] || fail "bin/sluice not executable"
soname=$(readelf -d "$P/lib/libsluice.so.$V" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libsluice.so.0 ] || fail "SONAME is '$soname', expected libsluice.so.0"
cmp -s "$P/include/sluice.h" runtime/include/sluice.h || fail "installed sluice.h differs from runtime/include/sluice.h"
[ "$("$P/bin/sluice" version 2>&1)" = "sluice $V" ] || fail "installed sluice version: $("$P/bin/sluice" version 2>&1), Makefile: $V"
[ "$("$P/bin/sluice" --version 2>&1)" = "sluice $V" ] || fail "installed sluice --version: $("$P/bin/sluice" --version 2>&1)"

export PKG_CONFIG_PATH=$P/lib/pkgconfig
[ "$(pkg-config --variable=prefix sluice)" = "$P" ] ||
    fail "sluice.pc says prefix=$(pkg-config --variable=prefix sluice), installed to $P"
[ "$(pkg-config --modversion sluice)" = "$V" ] || fail "pkg-config --modversion: $(pkg-config --modversion sluice)"

cat > "$TMP/prog.c" <<'C'
#include <sluice.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	struct sluice_model *m;
	struct sluice_ctx *c;
	struct sluice_sampler *s;
	char err[256];
	if (argc != 3) {
		fprintf(stderr, "usage: prog MODEL PROMPT\n");
		return 2;
	}
	if (sluice_model_load(argv[1], NULL, &m, err, sizeof(err))) {
		fprintf(stderr, "load: %s\n", err);
		return 1;
	}
	if (sluice_ctx_new(m, NULL, &c, err, sizeof(err))) {
		fprintf(stderr, "ctx: %s\n", err);
		return 1;
	}
	struct sluice_sampler_params sp;
	sluice_sampler_params_init(&sp);
	sp.temperature = 0;
	if (sluice_sampler_new(&sp, &s, err, sizeof(err))) {
		fprintf(stderr, "sampler: %s\n", err);
		return 1;
	}
	struct sluice_model_info info;
	sluice_model_get_info(m, &info);
	const char *prompt = argv[2];
	int32_t toks[64];
	size_t n;
	if (sluice_tokenize(m, prompt, strlen(prompt), true, toks, 64, &n))
		return 1;
	const float *lg;
	fputs(prompt, stdout);
	if (sluice_decode(c, toks, n, &lg))
		return 1;
	for (int i = 0; i < 8; i++) {
		int32_t t;
		if (sluice_sample(s, lg, info.n_vocab, &t)) {
			fprintf(stderr, "sample: %s\n", sluice_sampler_error(s));
			return 1;
		}
		char piece[64];
		size_t len;
		if (sluice_token_to_piece(m, t, piece, sizeof(piece), &len))
			return 1;
		fwrite(piece, 1, len, stdout);
		if (sluice_decode(c, &t, 1, &lg))
			return 1;
	}
	fputc('\n', stdout);
	printf("libsluice %s\n", sluice_version());
	sluice_sampler_free(s);
	sluice_ctx_free(c);
	sluice_model_free(m);
	return 0;
}
C
# A sanitizer build (make asan) needs the same runtime in the program that links it.
SAN=
nm "$BUILD/libsluice.a" 2>/dev/null | grep -q '__asan_' && SAN="-fsanitize=address,undefined"
CC=${CC:-cc}
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror $SAN -o "$TMP/prog-shared" "$TMP/prog.c" $(pkg-config --cflags --libs sluice) \
    2>"$TMP/cc.err" || { cat "$TMP/cc.err"; fail "shared link with pkg-config --cflags --libs sluice"; }
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror $SAN -static-libgcc -o "$TMP/prog-static" "$TMP/prog.c" \
    -Wl,-Bstatic $(pkg-config --cflags --libs --static sluice | sed 's/-lsluice/-lsluice -Wl,-Bdynamic/') \
    2>"$TMP/cc.err" || { cat "$TMP/cc.err"; fail "static link with pkg-config --static --libs sluice"; }
readelf -d "$TMP/prog-shared" | grep -q 'NEEDED.*libsluice\.so\.0' || fail "shared program does not need libsluice.so.0"
readelf -d "$TMP/prog-static" | grep -q 'libsluice' && fail "static program still needs libsluice.so"

[ -f "$MODELS/stories260K.gguf" ] || { echo "shared model folder absent: installed, linked; not run"; exit 0; }
want="Once upon a time, there was a little girl"
LD_LIBRARY_PATH=$P/lib "$TMP/prog-shared" "$MODELS/stories260K.gguf" "Once upon a time" >"$TMP/shared.out" 2>&1 ||
    { cat "$TMP/shared.out"; fail "shared program exited non-zero"; }
"$TMP/prog-static" "$MODELS/stories260K.gguf" "Once upon a time" >"$TMP/static.out" 2>&1 ||
    { cat "$TMP/static.out"; fail "static program exited non-zero"; }
for k in shared static; do
    head -1 "$TMP/$k.out" | grep -qF "$want" || fail "$k program printed: $(cat "$TMP/$k.out")"
    grep -qxF "libsluice $V" "$TMP/$k.out" || fail "$k program: sluice_version() is not the Makefile's $V"
done
# the shared program really used the installed library
LD_LIBRARY_PATH=$P/lib LD_DEBUG=libs "$TMP/prog-shared" "$MODELS/stories260K.gguf" "Once" 2>&1 >/dev/null |
    grep -q "$P/lib/libsluice.so.0" || fail "the shared program did not load $P/lib/libsluice.so.0"
# the installed CLI agrees
"$P/bin/sluice" run -m "$MODELS/stories260K.gguf" -p "Once upon a time" -n 8 --temp 0 2>/dev/null >"$TMP/cli.out"
[ "$(head -1 "$TMP/cli.out")" = "$(head -1 "$TMP/shared.out")" ] ||
    fail "library program and installed CLI differ: '$(head -1 "$TMP/shared.out")' vs '$(cat "$TMP/cli.out")'"
echo "install: ok ($(head -1 "$TMP/shared.out"))"
