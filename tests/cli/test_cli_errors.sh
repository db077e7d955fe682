#!/usr/bin/env bash
# tests/cli/test_cli_errors.sh — every bad input gets a message on stderr that names the
# problem and exit status 1: never a crash (>= 128), never silence, never success.
set -u
. "$(dirname "$0")/cli_lib.sh"
V1=$MODELS/tinyllamas-stories-260k-f32.gguf
cli_model "$TMP"   # everything but the GGUF v1 case runs on a generated model without the folder

head -c 600000 "$M" > "$TMP/truncated.gguf"
echo "this is not a model" > "$TMP/text.gguf"
: > "$TMP/empty.gguf"
mkdir -p "$TMP/dir.gguf"

for cmd in run info; do
    if [ $cmd = run ]; then m=(-m); else m=(); fi
    expect_error "missing\.gguf.*(no such file|cannot open)" $cmd "${m[@]}" "$TMP/missing.gguf"
    expect_error "dir\.gguf.*directory" $cmd "${m[@]}" "$TMP/dir.gguf"
    [ -d "$MODELS" ] && expect_error "version 1" $cmd "${m[@]}" "$V1"
    expect_error "truncated\.gguf.*(past the end|truncated)" $cmd "${m[@]}" "$TMP/truncated.gguf"
    expect_error "text\.gguf.*not a GGUF file" $cmd "${m[@]}" "$TMP/text.gguf"
    expect_error "empty\.gguf.*(not a GGUF|0 bytes|empty)" $cmd "${m[@]}" "$TMP/empty.gguf"
    expect_error "unknown option.*--bogus" $cmd --bogus "${m[@]}" "$M"
done
# a model cut at many points: always a clean error
for n in 0 3 4 8 16 24 100 1000 5000 14000 14176 14200 100000 $(($(stat -c %s "$M") - 1)); do
    head -c $n "$M" > "$TMP/cut.gguf"
    expect_error "cut\.gguf" run -m "$TMP/cut.gguf" -n 1
done

# run: options and values
expect_error "no model" run
expect_error "no model" run -p hello
expect_error "'-m'.*needs a value" run -m
expect_error "'-n'.*needs a value|-n.*value" run -m "$M" -n
expect_error "--temp.*needs a value" run -m "$M" --temp
expect_error "-n.*'abc'.*not a whole number" run -m "$M" -n abc
expect_error "-n.*'-3'" run -m "$M" -n -3
expect_error "-n.*'1.5'" run -m "$M" -n 1.5
expect_error "--temp.*'-1'" run -m "$M" --temp -1
expect_error "--temp.*'hot'" run -m "$M" --temp hot
expect_error "--temp.*'nan'" run -m "$M" --temp nan
expect_error "--top-p.*'2'" run -m "$M" --top-p 2
expect_error "--top-p.*'0'" run -m "$M" --top-p 0
expect_error "--top-k.*'-1'" run -m "$M" --top-k -1
expect_error "--seed.*'-5'" run -m "$M" --seed -5
expect_error "-t.*'0'" run -m "$M" -t 0
expect_error "-c.*'x'" run -m "$M" -c x
expect_error "--vram.*'lots'.*size" run -m "$M" --vram lots
expect_error "--io.*'floppy'" run -m "$M" --io floppy
expect_error "--expert-policy.*'mru'.*lfru, lru" run -m "$M" --expert-policy mru
expect_error "--expert-policy.*needs a value" run -m "$M" --expert-policy
expect_error "--pregate.*'x'" run -m "$M" --pregate x
expect_error "--pregate.*'0'" run -m "$M" --pregate 0
expect_error "--pregate.*'100000'" run -m "$M" --pregate 100000
expect_error "--trace-experts.*empty" run -m "$M" --trace-experts ""
expect_error "routing trace.*no routed experts" run -m "$M" -n 1 --trace-experts "$TMP/dense.trace"
expect_error "--expert-policy.*'mru'" chat -m "$M" --expert-policy mru
expect_error "--pregate.*'-2'" run --chat -m "$M" -p hi --pregate -2
expect_error "unexpected argument 'extra'" run -m "$M" extra
expect_error "prompt\.txt" run -m "$M" -f "$TMP/no-such-prompt.txt"

# info
expect_error "no model" info
expect_error "one model" info "$M" "$M"

# gen-model
expect_error "--type.*'q9_9'" gen-model --type q9_9 -o "$TMP/g.gguf"
expect_error "--type.*'q8_k'" gen-model --type q8_K -o "$TMP/g.gguf"
expect_error "--size.*'abc'.*size" gen-model --size abc -o "$TMP/g.gguf"
expect_error "no output" gen-model --size 1M
expect_error "nonexistent.*(no such file|cannot create)" gen-model --size 1M -o "$TMP/nonexistent/g.gguf"
expect_error "--arch.*'gpt2'" gen-model --arch gpt2 -o "$TMP/g.gguf"
expect_error "unknown option.*--bogus" gen-model --bogus
[ -e "$TMP/g.gguf" ] && bad "gen-model left an output file behind after an error"

# the command itself
expect_error "unknown command 'frobnicate'" frobnicate
expect_error "unknown command '--bogus'" --bogus
timeout 10 "$BIN" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] || bad "sluice with no arguments: exit $rc, expected 1"
grep -q "usage" "$TMP/err" || bad "sluice with no arguments: no usage on stderr"

# --help: exit 0, usage on stdout, for the command and every subcommand
for sub in "" run info gen-model quantize bench topo; do
    # shellcheck disable=SC2086
    timeout 10 "$BIN" $sub --help >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 0 ] || bad "sluice $sub --help: exit $rc"
    grep -q "usage" "$TMP/out" || bad "sluice $sub --help: no usage on stdout"
done
timeout 10 "$BIN" version | grep -Eq '^sluice [0-9]+\.[0-9]+\.[0-9]+$' || bad "sluice version"

# environment variables the command maps to library parameters: a bad value is an error, not ignored
SLUICE_SIMD=bogus expect_error "SLUICE_SIMD=bogus.*(auto, avx512, avx2, scalar)" version
SLUICE_SIMD=avx3 expect_error "SLUICE_SIMD=avx3" run -m "$M" -n 1
# ... and a good one takes effect (the library logs the kernels it uses at load, -v)
for lv in scalar avx2 auto; do
    SLUICE_SIMD=$lv timeout 20 "$BIN" run -m "$M" -n 1 --temp 0 -v >"$TMP/out" 2>"$TMP/err" </dev/null ||
        bad "SLUICE_SIMD=$lv run: exit $? ($(head -c 200 "$TMP/err"))"
    grep -q "CPU kernels: " "$TMP/err" || bad "SLUICE_SIMD=$lv run -v: no 'CPU kernels' line"
    [ $lv = scalar ] && ! grep -q "CPU kernels: scalar" "$TMP/err" && bad "SLUICE_SIMD=scalar: $(grep 'CPU kernels' "$TMP/err")"
done
SLUICE_NO_SIMD=1 timeout 20 "$BIN" run -m "$M" -n 1 --temp 0 -v 2>&1 >/dev/null | grep -q "CPU kernels: scalar" ||
    bad "SLUICE_NO_SIMD=1 does not select the scalar kernels"
SLUICE_NO_SIMD=1 SLUICE_SIMD=bogus timeout 10 "$BIN" version >/dev/null 2>&1 ||
    bad "SLUICE_NO_SIMD=1 should win over SLUICE_SIMD"

[ $nfail -eq 0 ] || { echo "$nfail problem(s)"; exit 1; }
echo "cli errors: ok"
