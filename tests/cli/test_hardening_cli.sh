#!/usr/bin/env bash
# tests/cli/test_hardening_cli.sh — the command as a hostile user meets it (issue 9: items 1, 3, 4,
# 7 and the CLI side of 5 and 6):
#   - a write never loses a file: quantize refuses OUT = IN by any path (same name, symlink,
#     hard link), refuses to replace a directory or a device, and a SIGTERM during quantize or
#     gen-model leaves the old output as it was and no temporary file;
#   - every JSON the tools print parses under a strict parser (UTF-8 decoded strictly, NaN and
#     Infinity refused): a crafted model with NaN/Inf floats, invalid UTF-8, NUL, ESC, quotes;
#   - metadata on a terminal: no raw control byte from the file reaches the output (info text,
#     error messages naming an architecture);
#   - output that cannot be written (> /dev/full) is exit 1 with "writing output: No space left
#     on device", for info, info --json, topo, run, quantize -v and version;
#   - prompt files: a directory, a NUL byte, /dev/zero (size cap) are errors; a FIFO given as a
#     model is refused at once, never read (it would block forever).
# sluice-timeout: 150
set -u
. "$(dirname "$0")/cli_lib.sh"
TMP=$TMP/hardening
mkdir -p "$TMP"
cli_model "$TMP"
no_tmp_left() {  # no_tmp_left DIR WHAT
    local left
    left=$(find "$1" -maxdepth 1 -name '.*sluice-tmp*' | head -3)
    [ -z "$left" ] || bad "$2: temporary file left behind: $left"
}

# ---- 1. writers never lose a file ----
W=$TMP/w
mkdir -p "$W"
cp "$M" "$W/x.gguf"
sum=$(cksum <"$W/x.gguf")
expect_error "same file|is the input" quantize -q "$W/x.gguf" "$W/x.gguf" --type q8_0
[ -f "$W/x.gguf" ] && [ "$(cksum <"$W/x.gguf")" = "$sum" ] || bad "quantize x x: the input was changed or deleted"
ln -s x.gguf "$W/link.gguf"
expect_error "same file|is the input" quantize -q "$W/x.gguf" "$W/link.gguf" --type q8_0
expect_error "same file|is the input" quantize -q "$W/link.gguf" "$W/x.gguf" --type q8_0
ln "$W/x.gguf" "$W/hard.gguf"
expect_error "same file|is the input" quantize -q "$W/x.gguf" "$W/hard.gguf" --type q8_0
expect_error "same file|is the input" quantize -q "$W/x.gguf" "$W/../w/./x.gguf" --type q8_0
[ "$(cksum <"$W/x.gguf")" = "$sum" ] || bad "quantize through a link: the input was changed"
[ -L "$W/link.gguf" ] || bad "the symlink was replaced"
mkdir -p "$W/adir"
expect_error "adir.*directory" quantize -q "$W/x.gguf" "$W/adir" --type q8_0
# (a FIFO of our own stands for /dev/null: the old code, run as root, unlinked /dev/null)
mkfifo "$W/pipe.gguf"
expect_error "pipe\.gguf.*FIFO" gen-model --size 2M -q -o "$W/pipe.gguf"
[ -p "$W/pipe.gguf" ] || bad "gen-model replaced or removed a FIFO given as output"
rm -f "$W/pipe.gguf"
no_tmp_left "$W" "refused writes"

# A good output through a symlink: the file it names is replaced, the link stays.
ln -s out.gguf "$W/outlink.gguf"
"$BIN" quantize -q "$W/x.gguf" "$W/outlink.gguf" --type q8_0 >/dev/null 2>"$TMP/err" || bad "quantize to a symlink: $(cat "$TMP/err")"
[ -L "$W/outlink.gguf" ] && [ -f "$W/out.gguf" ] || bad "quantize to a symlink: link replaced or target missing"
"$BIN" info "$W/out.gguf" | grep -q 'general.file_type *7' || bad "quantize to a symlink: output is not q8_0"
no_tmp_left "$W" "quantize"

# SIGTERM in the middle: the old output stays as it was, no temporary file.
# kill_during DESC OUTFILE CMD...: start CMD, wait until it writes (a temporary file appears, or
# OUTFILE itself changes, as the old O_TRUNC did), SIGTERM it.
kill_during() {
    local desc=$1 out=$2; shift 2
    local dir; dir=$(dirname "$out")
    local before; before=$(cksum <"$out")
    local st0; st0=$(stat -c '%s %Y %i' "$out")
    "$@" >/dev/null 2>&1 &
    local pid=$! seen=0
    for _ in $(seq 1 400); do
        if [ -n "$(find "$dir" -maxdepth 1 -name '.*sluice-tmp*' -size +0 | head -1)" ] ||
           [ "$(stat -c '%s %Y %i' "$out" 2>/dev/null)" != "$st0" ]; then seen=1; break; fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.02
    done
    kill -TERM $pid 2>/dev/null
    wait $pid
    local rc=$?
    if [ $seen = 0 ] || [ $rc = 0 ]; then
        echo "note: $desc finished before it could be interrupted (rc $rc): interruption not checked"
    elif [ $rc -ne 143 ]; then
        bad "$desc: SIGTERM gave exit $rc, expected 143 (killed by SIGTERM)"
    fi
    [ "$(cksum <"$out")" = "$before" ] || [ $rc = 0 ] || bad "$desc: the old output changed after SIGTERM"
    no_tmp_left "$dir" "$desc after SIGTERM"
}
cp "$M" "$W/old.gguf"
kill_during "gen-model" "$W/old.gguf" "$BIN" gen-model --size 768M --type f32 -q -o "$W/old.gguf"
"$BIN" info "$W/old.gguf" >/dev/null || bad "gen-model after SIGTERM: the old output no longer loads"
"$BIN" gen-model --size 48M --dim 512 --type f32 -q -o "$W/big.gguf" 2>/dev/null || bad "gen-model 48M"
cp "$M" "$W/old.gguf"
kill_during "quantize" "$W/old.gguf" "$BIN" quantize -q -t 1 "$W/big.gguf" "$W/old.gguf" --type q4_k_m
rm -f "$W/big.gguf"

# ---- 3. strict JSON, 7. terminal-safe text: a crafted model ----
python3 - "$TMP/evil.gguf" "$TMP/evilarch.gguf" <<'PY' || bad "cannot write the crafted GGUF files"
import struct, sys
def s(b):
    return struct.pack("<Q", len(b)) + b
def kv_str(k, v): return s(k) + struct.pack("<I", 8) + s(v)
def kv_f32(k, v): return s(k) + struct.pack("<If", 6, v)
def kv_f64(k, v): return s(k) + struct.pack("<Id", 12, v)
def gguf(path, kvs):
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs)
    out += s(b"t.weight") + struct.pack("<IQIQ", 1, 4, 0, 0)   # one f32 tensor of 4 at offset 0
    out += b"\0" * (-len(out) % 32) + struct.pack("<4f", 1, 2, 3, 4)
    open(path, "wb").write(out)
gguf(sys.argv[1], [
    kv_str(b"general.architecture", b"llama"),
    kv_str(b"general.name", b"evil\x1b]0;pwned\x07\x1b[2J\nsecond line\r\x7f \"q\" \\ \xff\xfe \xc3\x28 \xc2\x9b \xed\xa0\x80 nul\x00end \xe2\x96\x81ok"),
    kv_f32(b"x.nan", float("nan")),
    kv_f32(b"x.inf", float("inf")),
    kv_f64(b"x.ninf", float("-inf")),
    kv_f32(b"x.one", 1.5),
    kv_str(b"bad.\xc3\x28.key\x1b", b"v"),
])
gguf(sys.argv[2], [kv_str(b"general.architecture", b"lla\x1b[31mma\nx")])
PY
E=$TMP/evil.gguf
cat >"$TMP/strict.py" <<'PY'
import json, sys
def no_constant(name):
    raise ValueError("non-standard JSON constant " + name)
raw = open(sys.argv[1], "rb").read()
j = json.loads(raw.decode("utf-8", errors="strict"), parse_constant=no_constant)
if len(sys.argv) > 2 and sys.argv[2] == "evil":
    md = j["metadata"]
    assert md["x.nan"] is None and md["x.inf"] is None and md["x.ninf"] is None, md
    assert md["x.one"] == 1.5, md["x.one"]
    name = md["general.name"]
    assert name.startswith("evil\x1b]0;pwned\x07\x1b[2J\nsecond line\r\x7f \"q\" \\ \ufffd\ufffd \ufffd( \x9b "), repr(name)
    assert "\ufffd\ufffd\ufffd nul\x00end \u2581ok" in name, repr(name)
    assert "bad.\ufffd(.key\x1b" in md, list(md)
PY
for opt in "--json" "--json --tensors"; do
    # shellcheck disable=SC2086
    "$BIN" info $opt "$E" >"$TMP/j" 2>"$TMP/err" || bad "info $opt evil.gguf: exit $?: $(cat "$TMP/err")"
    python3 "$TMP/strict.py" "$TMP/j" evil 2>"$TMP/perr" || bad "info $opt evil.gguf: not strict JSON: $(tail -2 "$TMP/perr")"
done
"$BIN" info --json "$M" >"$TMP/j" && python3 "$TMP/strict.py" "$TMP/j" || bad "info --json $M: not strict JSON"
if "$BIN" topo --json >"$TMP/j" 2>/dev/null; then
    python3 "$TMP/strict.py" "$TMP/j" || bad "topo --json: not strict JSON"
fi
"$BIN" bench io "$M" --engine pread --bs 64K --qd 2 --json >"$TMP/j" 2>"$TMP/err" || bad "bench io --json: $(cat "$TMP/err")"
python3 "$TMP/strict.py" "$TMP/j" || bad "bench io --json: not strict JSON: $(head -c 300 "$TMP/j")"
# a file name that is not UTF-8 and holds a quote and a newline
Q=$TMP/$'we\xffird"\nname.gguf'
cp "$M" "$Q"
"$BIN" info --json "$Q" >"$TMP/j" && python3 "$TMP/strict.py" "$TMP/j" || bad "info --json with an odd file name: not strict JSON"
"$BIN" bench io "$Q" --engine pread --bs 64K --qd 2 --json >"$TMP/j" 2>/dev/null &&
    python3 "$TMP/strict.py" "$TMP/j" || bad "bench io --json with an odd file name: not strict JSON"
rm -f "$Q"

# text: no byte of the file's control characters reaches the terminal
"$BIN" info "$E" >"$TMP/t" 2>"$TMP/err" || bad "info evil.gguf: exit $?"
if LC_ALL=C grep -q $'\x1b\|\x07\|\x7f\|\r' "$TMP/t"; then bad "info text: a raw control byte from the metadata"; fi
grep -q 'general.name .*evil\\x1b]0;pwned\\x07\\x1b\[2J\\x0asecond line' "$TMP/t" || bad "info text: name not escaped as \\xNN: $(grep general.name "$TMP/t" | head -c 300)"
grep -q '^second line' "$TMP/t" && bad "info text: a newline in general.name starts a new line"
python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$TMP/t" || bad "info text: not valid UTF-8"
expect_error "architecture 'lla\\\\x1b\[31mma\\\\x0ax' is not supported" run -m "$TMP/evilarch.gguf" -n 1
if LC_ALL=C grep -q $'\x1b' "$TMP/err"; then bad "run error message: a raw ESC from the metadata"; fi

# ---- 4. output that cannot be written is a failure ----
if [ -w /dev/full ]; then
    full() {  # full DESC CMD...: stdout to /dev/full -> exit 1 and the reason
        local desc=$1; shift
        timeout 60 "$BIN" "$@" >/dev/full 2>"$TMP/err" </dev/null
        local rc=$?
        [ $rc = 1 ] || bad "$desc > /dev/full: exit $rc, expected 1"
        grep -q "writing output: No space left on device" "$TMP/err" || bad "$desc > /dev/full: message: $(head -c 300 "$TMP/err")"
    }
    full "info" info "$M"
    full "info --json" info --json --tensors "$M"
    full "topo" topo
    full "topo --json" topo --json
    full "run" run -m "$M" -p "Once upon a time" -n 8 --temp 0 -t 1
    full "run --no-echo" run -m "$M" -n 8 --temp 0 -t 1 --no-echo
    full "version" version
    full "quantize -v" quantize -v -q "$M" "$W/full.gguf" --type q8_0
    full "bench io" bench io "$M" --engine pread --bs 64K --qd 2
else
    echo "note: no writable /dev/full: output failure cases not run"
fi

# ---- 5/6. prompt files and inputs that are not files ----
mkdir -p "$TMP/pdir"
expect_error "pdir.*directory" run -m "$M" -f "$TMP/pdir" -n 1
printf 'hello\0world' >"$TMP/nul.txt"
expect_error "NUL byte at offset 5" run -m "$M" -f "$TMP/nul.txt" -n 1
expect_error "larger than the limit of 64 MiB" run -m "$M" -f /dev/zero -n 1
printf 'Once upon' >"$TMP/ok.txt"
timeout 30 "$BIN" run -m "$M" -f "$TMP/ok.txt" -n 2 --temp 0 -t 1 >"$TMP/out" 2>"$TMP/err" || bad "run -f a good prompt file: $(cat "$TMP/err")"
# process substitution: a pipe is a fine prompt file
timeout 30 "$BIN" run -m "$M" -f <(printf 'Once upon') -n 2 --temp 0 -t 1 >/dev/null 2>"$TMP/err" || bad "run -f <(pipe): $(cat "$TMP/err")"
mkfifo "$TMP/fifo.gguf"
expect_error "fifo\.gguf.*FIFO" info "$TMP/fifo.gguf"
expect_error "fifo\.gguf.*FIFO" run -m "$TMP/fifo.gguf" -n 1
expect_error "fifo\.gguf.*FIFO" quantize "$TMP/fifo.gguf" "$W/f.gguf" --type q8_0
expect_error "fifo\.gguf.*FIFO" bench io "$TMP/fifo.gguf"
expect_error "character device" info /dev/zero
rm -f "$TMP/fifo.gguf"

[ $nfail = 0 ] || { echo "$nfail failure(s)"; exit 1; }
echo "hardening: ok"
