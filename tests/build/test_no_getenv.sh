#!/usr/bin/env bash
# tests/build/test_no_getenv.sh — the library reads no environment: no source under runtime/ calls
# getenv or secure_getenv (nor touches environ).  Configuration comes in as parameters; the sluice
# command (tools/sluice) maps its SLUICE_* variables to them.  Comments are ignored.
set -u
cd "$(dirname "$0")/../.."
TMP=${SLUICE_TMP:-$(mktemp -d)}
fail() { echo "FAIL: $*"; exit 1; }
[ -d runtime ] || fail "runtime/ missing"
RE='\b(secure_)?getenv[[:space:]]*\(|\benviron\b'
: >"$TMP/getenv.hits"
while IFS= read -r -d '' f; do
    # look in the text without comments (gcc -fpreprocessed drops them, expands nothing); report the file's lines
    gcc -fpreprocessed -dD -E -P -x c "$f" 2>/dev/null | grep -qE "$RE" &&
        grep -nE "$RE" "$f" | sed "s|^|$f:|" >>"$TMP/getenv.hits"
done < <(find runtime -name '*.[ch]' -print0)
# without gcc the loop finds nothing: check plainly then (comments may give false alarms, never misses)
command -v gcc >/dev/null || grep -rnE "$RE" runtime >"$TMP/getenv.hits"
[ -s "$TMP/getenv.hits" ] && fail "runtime/ reads the environment (pass a parameter instead):
$(head -20 "$TMP/getenv.hits")"
n=$(find runtime -name '*.[ch]' | wc -l)
[ "$n" -gt 10 ] || fail "only $n sources under runtime/"
echo "no getenv: ok ($n files)"
