#!/usr/bin/env bash
# tests/cli/test_info.sh — `sluice info`: text, --json (valid JSON, consistent numbers) and
# --tensors on stories260K (F32), llama-2-tiny-random (F16 + F32) and a generated q8_0 model.
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
MODELS=${SLUICE_MODELS:-../shared/models}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
[ -d "$MODELS" ] || { echo "shared model folder absent ($MODELS)"; exit 77; }
M=$MODELS/stories260K.gguf
T=$MODELS/llama-2-tiny-random.gguf
nfail=0
bad() { echo "FAIL: $*"; nfail=$((nfail + 1)); }
has() { grep -Eq -- "$2" "$1" || bad "$3: no line matching /$2/ in: $(head -c 400 "$1")"; }

# text
"$BIN" info "$M" >"$TMP/info" 2>"$TMP/err" || bad "info exited $?: $(cat "$TMP/err")"
has "$TMP/info" '^architecture: +llama$' "stories text"
has "$TMP/info" '^tensors: +48$' "stories text"
has "$TMP/info" '^gguf version: +3$' "stories text"
has "$TMP/info" '^file bytes: +1185376$' "stories text"
has "$TMP/info" '^types: .*f32×48' "stories text"
has "$TMP/info" 'llama\.block_count +5$' "stories text"
has "$TMP/info" 'llama\.embedding_length +64$' "stories text"
has "$TMP/info" 'llama\.attention\.head_count_kv +4$' "stories text"
grep -q 'blk\.0\.attn_q\.weight' "$TMP/info" && bad "tensors listed without --tensors"
[ -s "$TMP/err" ] && bad "info wrote to stderr: $(cat "$TMP/err")"

"$BIN" info --tensors "$M" >"$TMP/tensors" || bad "info --tensors exited $?"
has "$TMP/tensors" '^ +blk\.0\.attn_q\.weight +f32 +\[64, 64\]' "stories --tensors"
has "$TMP/tensors" '^ +blk\.0\.attn_k\.weight +f32 +\[64, 32\]' "stories --tensors"
has "$TMP/tensors" '^ +blk\.4\.ffn_down\.weight +f32 +\[172, 64\]' "stories --tensors"
n=$(grep -Ec '^ +(token_embd|output|output_norm|blk\.[0-9]+\.[a-z_]+)\.weight ' "$TMP/tensors")
[ "$n" -eq 48 ] || bad "stories --tensors lists $n tensors, expected 48"

"$BIN" info "$T" >"$TMP/tiny" || bad "info tiny exited $?"
has "$TMP/tiny" '^types: .*f32×3 .*f16×9|^types: .*f16×9' "tiny text"
has "$TMP/tiny" '^tensors: +12$' "tiny text"

# json: valid, and the numbers agree with each other and with the file
"$BIN" gen-model --size 2M --type q8_0 --seed 9 -q -o "$TMP/q8.gguf" 2>/dev/null || bad "gen-model q8_0"
for f in "$M" "$T" "$TMP/q8.gguf"; do
    for opt in "--json" "--json --tensors"; do
        # shellcheck disable=SC2086
        "$BIN" info $opt "$f" >"$TMP/j" 2>"$TMP/err" || { bad "info $opt $f exited $?"; continue; }
        python3 -m json.tool "$TMP/j" >/dev/null 2>"$TMP/jerr" || bad "info $opt $f: invalid JSON: $(head -3 "$TMP/jerr")"
    done
done
python3 - "$TMP" "$BIN" "$M" "$T" "$TMP/q8.gguf" <<'PY' || nfail=$((nfail + 1))
import json, math, os, subprocess, sys
tmp, binp, stories, tiny, q8 = sys.argv[1:]
def info(path):
    return json.loads(subprocess.run([binp, "info", "--json", "--tensors", path], check=True,
                                     capture_output=True, text=True).stdout)
errs = []
def want(cond, msg):
    if not cond:
        errs.append(msg)
for path, n, types in ((stories, 48, {"f32": 48}), (tiny, 12, {"f16": 9, "f32": 3}), (q8, None, None)):
    j = info(path)
    name = os.path.basename(path)
    want(j["architecture"] == "llama", f"{name}: architecture {j['architecture']!r}")
    want(j["file_bytes"] == os.path.getsize(path), f"{name}: file_bytes {j['file_bytes']}")
    want(j["tensor_count"] == len(j["tensors"]), f"{name}: tensor_count {j['tensor_count']} vs {len(j['tensors'])} listed")
    if n is not None:
        want(j["tensor_count"] == n, f"{name}: tensor_count {j['tensor_count']}, expected {n}")
    if types is not None:
        want({t: v["tensors"] for t, v in j["types"].items()} == types, f"{name}: types {j['types']}")
    want(sum(t["bytes"] for t in j["tensors"]) == j["tensor_bytes"], f"{name}: tensor bytes do not add up")
    want(sum(v["bytes"] for v in j["types"].values()) == j["tensor_bytes"], f"{name}: per-type bytes do not add up")
    want(all(j["data_offset"] <= t["offset"] and t["offset"] + t["bytes"] <= j["file_bytes"] for t in j["tensors"]),
         f"{name}: a tensor lies outside the data section")
    want(all(t["offset"] % j["alignment"] == 0 for t in j["tensors"]), f"{name}: a tensor is not aligned")
    want(j["parameters"] == sum(math.prod(t["shape"]) for t in j["tensors"]),
         f"{name}: parameters {j['parameters']}")
j = info(stories)
want(j["metadata"].get("llama.block_count") == 5, "stories: llama.block_count")
want(j["metadata"].get("general.architecture") == "llama", "stories: general.architecture")
want(j["metadata"].get("tokenizer.ggml.tokens") == {"array": "string", "n": 512}, "stories: tokenizer.ggml.tokens")
q = {t["name"]: t for t in j["tensors"]}
want(q.get("blk.0.attn_q.weight", {}).get("shape") == [64, 64], "stories: blk.0.attn_q.weight shape")
want(q.get("blk.0.attn_q.weight", {}).get("type") == "f32", "stories: blk.0.attn_q.weight type")
want(q.get("output_norm.weight", {}).get("shape") == [64], "stories: output_norm.weight shape")
j = info(q8)
want("q8_0" in j["types"] and j["types"].get("f32", {}).get("tensors", 0) > 0, f"q8: types {j['types']}")
want(j["metadata"].get("sluice.synthetic_seed") == 9, "q8: sluice.synthetic_seed")
for e in errs:
    print("FAIL:", e)
sys.exit(1 if errs else 0)
PY

[ $nfail -eq 0 ] || { echo "$nfail problem(s)"; exit 1; }
echo "info: ok"
