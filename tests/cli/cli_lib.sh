# tests/cli/cli_lib.sh — sourced by the CLI tests (not a test itself): the binary, scratch space,
# a model (stories260K, or a generated one when the shared folder is absent) and the checks.
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
MODELS=${SLUICE_MODELS:-../shared/models}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
nfail=0
bad() { echo "FAIL: $*"; nfail=$((nfail + 1)); }

# cli_model DIR: set M to stories260K, or to a model generated into DIR when the folder is absent
cli_model() {
    M=$MODELS/stories260K.gguf
    if [ ! -f "$M" ]; then
        echo "note: shared model folder absent ($MODELS): using a generated model"
        M=$1/gen.gguf
        "$BIN" gen-model --size 2M --type f16 -q -o "$M" 2>/dev/null || { echo "FAIL: gen-model"; exit 1; }
    fi
}

# expect_error "PATTERN" CMD...: exit exactly 1, stderr matches PATTERN (grep -Ei)
expect_error() {
    local pat=$1; shift
    timeout 20 "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local rc=$?
    if [ $rc -ne 1 ]; then
        bad "sluice $*: exit $rc, expected 1 ($(head -c 200 "$TMP/err"))"
    elif ! grep -Eiq -- "$pat" "$TMP/err"; then
        bad "sluice $*: stderr does not match /$pat/: $(head -c 300 "$TMP/err")"
    fi
}
