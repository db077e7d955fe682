#!/usr/bin/env bash
# tests/cli/test_gen_model.sh — `sluice gen-model`: deterministic for a seed, the seed matters,
# every byte is written (no sparse holes), the size is near the one asked for, each weight type
# loads and runs, dimension overrides are honoured, and bad options are refused.
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
nfail=0
bad() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
gen() { timeout 30 "$BIN" gen-model -q "$@" 2>"$TMP/gen.err" || { bad "gen-model $* exited $?: $(cat "$TMP/gen.err")"; return 1; }; }

# the same seed gives the same bytes; another seed does not
gen --size 8M --type q8_0 --seed 3 -o "$TMP/a.gguf"
gen --size 8M --type q8_0 --seed 3 -o "$TMP/b.gguf"
gen --size 8M --type q8_0 --seed 4 -o "$TMP/c.gguf"
cmp -s "$TMP/a.gguf" "$TMP/b.gguf" || bad "--seed 3 twice gave different files"
cmp -s "$TMP/a.gguf" "$TMP/c.gguf" && bad "--seed 3 and --seed 4 gave the same file"
[ "$(stat -c %s "$TMP/a.gguf")" = "$(stat -c %s "$TMP/c.gguf")" ] || bad "the seed changed the file size"
# writing over an existing file gives the same bytes again
gen --size 8M --type q8_0 --seed 3 -o "$TMP/b.gguf"
cmp -s "$TMP/a.gguf" "$TMP/b.gguf" || bad "regenerating over an existing file changed it"
rm -f "$TMP/b.gguf" "$TMP/c.gguf"

for t in f32 f16 bf16 q8_0; do
    f=$TMP/m-$t.gguf
    gen --size 8M --type $t --seed 1 -o "$f" || continue
    size=$(stat -c %s "$f")
    # near the size asked for (the planner rounds to whole layers)
    [ "$size" -gt $((4 << 20)) ] && [ "$size" -lt $((12 << 20)) ] || bad "$t: 8M model is $size bytes"
    # every block allocated: no sparse holes
    alloc=$(du -B1 "$f" | cut -f1)
    [ $((alloc * 100)) -ge $((size * 95)) ] || bad "$t: only $alloc of $size bytes allocated (sparse file)"
    # the type is what was asked for (1-D norms stay f32)
    "$BIN" info "$f" >"$TMP/info" 2>&1 || bad "$t: info exited $?"
    grep -Eq "^types: .*f32×[0-9]+" "$TMP/info" || bad "$t: no f32 norms: $(grep types "$TMP/info")"
    [ $t = f32 ] || grep -Eq "^types: .*$t×[0-9]+" "$TMP/info" || bad "$t: matrices not $t: $(grep types "$TMP/info")"
    grep -Eq "sluice.synthetic_seed +1$" "$TMP/info" || bad "$t: seed not recorded in the metadata"
    # loads and runs; greedy output is deterministic
    timeout 30 "$BIN" run -m "$f" -p "once upon a time" -n 8 --temp 0 -t 2 >"$TMP/r1" 2>"$TMP/r1.err"
    rc=$?
    [ $rc -eq 0 ] || { bad "$t: run exited $rc: $(tail -2 "$TMP/r1.err")"; continue; }
    grep -Eq 'generated [0-9]+ tok' "$TMP/r1.err" || bad "$t: no stats from run"
    [[ "$(cat "$TMP/r1")" == "once upon a time"* ]] || bad "$t: output does not start with the prompt"
    timeout 30 "$BIN" run -m "$f" -p "once upon a time" -n 8 --temp 0 -t 1 >"$TMP/r2" 2>/dev/null
    cmp -s "$TMP/r1" "$TMP/r2" || bad "$t: greedy output differs between -t 2 and -t 1"
    rm -f "$f"
done

# explicit dimensions
gen --size 1M --type f16 --dim 64 --layers 2 --ff 128 --ctx 256 -o "$TMP/d.gguf" && {
    "$BIN" info "$TMP/d.gguf" >"$TMP/info"
    for kv in "llama.embedding_length +64" "llama.block_count +2" "llama.feed_forward_length +128" \
              "llama.context_length +256"; do
        grep -Eq "$kv$" "$TMP/info" || bad "--dim/--layers/--ff/--ctx: no '$kv' in info"
    done
    timeout 30 "$BIN" run -m "$TMP/d.gguf" -p "hello" -n 4 --temp 0 >/dev/null 2>&1 || bad "run on --dim 64 --layers 2 model"
}

# refused, with a message, and nothing left behind
for args in "--type q9_9" "--type Q8_K" "--type" "--size 12Q" "--size -5M" "--dim 100000000" "--layers 0" "--arch gpt2" \
            "--seed x" "--frob"; do
    # shellcheck disable=SC2086
    timeout 10 "$BIN" gen-model $args -o "$TMP/x.gguf" >/dev/null 2>"$TMP/err"
    rc=$?
    [ $rc -eq 1 ] || bad "gen-model $args: exit $rc, expected 1"
    [ -s "$TMP/err" ] || bad "gen-model $args: no message"
    [ -e "$TMP/x.gguf" ] && { bad "gen-model $args left $TMP/x.gguf"; rm -f "$TMP/x.gguf"; }
done
timeout 10 "$BIN" gen-model --type q9_9 -o "$TMP/x.gguf" 2>&1 | grep -q "q9_9" || bad "bad --type: message does not name the type"

[ $nfail -eq 0 ] || { echo "$nfail problem(s)"; exit 1; }
echo "gen-model: ok"
