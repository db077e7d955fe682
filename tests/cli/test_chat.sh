#!/usr/bin/env bash
# tests/cli/test_chat.sh — `sluice run --chat` and `sluice chat` with piped input, on generated
# Llama-3-style and qwen2 models (their chat templates are recognised from the files): one turn
# prints the reply alone; replies end at the template's end-of-turn token (<|eot_id|>, which is
# not the file's eos); a second turn evaluates only the new tokens; /reset starts over;
# --chat-template overrides; the same seed gives the same transcript; bad options are refused.
# (tests/cli/test_chat_tmux.sh drives the same in a real terminal, with Ctrl-C.)
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
L=$TMP/chat-l3.gguf Q=$TMP/chat-q.gguf S=$TMP/chat-spm.gguf
"$BIN" gen-model --vocab bpe --size 4M --seed 1 -q -o "$L" 2>/dev/null || fail "gen-model llama3"
"$BIN" gen-model --arch qwen2 --size 4M --seed 1 -q -o "$Q" 2>/dev/null || fail "gen-model qwen2"
"$BIN" gen-model --size 4M --seed 1 -q -o "$S" 2>/dev/null || fail "gen-model spm"

# one turn: the reply alone, ended by <|eot_id|> (eos of the file is <|end_of_text|>)
timeout 30 "$BIN" run --chat -m "$L" -p "Hello there" -n 200 --temp 0.8 --seed 1 -v >"$TMP/o" 2>"$TMP/e" ||
    { cat "$TMP/e"; fail "run --chat"; }
grep -q 'template llama3 (recognised from tokenizer.chat_template)' "$TMP/e" || fail "llama3 not recognised: $(cat "$TMP/e")"
grep -q 'end of turn' "$TMP/e" || fail "the reply did not end at <|eot_id|>: $(cat "$TMP/e")"
grep -q '<|' "$TMP/o" && fail "special tokens printed: $(cat "$TMP/o")"
grep -q 'Hello there' "$TMP/o" && fail "run --chat echoed the prompt"
timeout 30 "$BIN" run --chat -m "$L" -p "Hello there" -n 200 --temp 0.8 --seed 1 >"$TMP/o2" 2>/dev/null || fail "run --chat again"
cmp -s "$TMP/o" "$TMP/o2" || fail "the same seed gave another reply"

# qwen2: ChatML recognised; a reply cut at -n
timeout 30 "$BIN" run --chat -m "$Q" -p "你好" -n 16 --temp 0 -v >"$TMP/o" 2>"$TMP/e" || { cat "$TMP/e"; fail "run --chat qwen2"; }
grep -q 'template chatml' "$TMP/e" || fail "chatml not recognised: $(cat "$TMP/e")"
grep -q '\[chat: 16 tokens' "$TMP/e" || fail "qwen2 reply not 16 tokens: $(cat "$TMP/e")"

# a SentencePiece model without a template: plain; --chat-template overrides
timeout 30 "$BIN" run --chat -m "$S" -p "Once upon a time" -n 8 --temp 0 -v >"$TMP/o" 2>"$TMP/e" || { cat "$TMP/e"; fail "plain"; }
grep -q 'template plain (no template in the model)' "$TMP/e" || fail "plain: $(cat "$TMP/e")"
timeout 30 "$BIN" run --chat -m "$L" --chat-template chatml -p "hi" -n 4 -v >/dev/null 2>"$TMP/e" &&
    fail "chatml on a vocabulary without <|im_end|> accepted"
grep -q "end-of-turn token (<|im_end|>) is not in the vocabulary" "$TMP/e" || fail "chatml on llama3: $(cat "$TMP/e")"
timeout 30 "$BIN" run --chat -m "$L" --chat-template plain -p "hi" -n 4 -v >/dev/null 2>"$TMP/e" || fail "--chat-template plain"
grep -q 'template plain (--chat-template)' "$TMP/e" || fail "override: $(cat "$TMP/e")"

# several turns: the second keeps the cache; /reset starts over
printf 'Hello there\nAnd then?\n/reset\nHello there\n/quit\nnever read\n' |
    timeout 60 "$BIN" chat -m "$L" -n 64 --temp 0.8 --seed 3 -v >"$TMP/o" 2>"$TMP/e" || { cat "$TMP/e"; fail "chat"; }
[ "$(grep -c 'new tokens evaluated' "$TMP/e")" = 3 ] || fail "not three turns: $(cat "$TMP/e")"
sed -n 2p <(grep 'new tokens evaluated' "$TMP/e") | grep -q 'earlier turns kept' || fail "turn 2 re-evaluated everything: $(cat "$TMP/e")"
sed -n 3p <(grep 'new tokens evaluated' "$TMP/e") | grep -q 'earlier turns kept' && fail "turn 3 kept the cache after /reset"
n1=$(grep 'new tokens evaluated' "$TMP/e" | sed -n 1p | grep -o '[0-9]* new' | cut -d' ' -f1)
n2=$(grep 'new tokens evaluated' "$TMP/e" | sed -n 2p | grep -o '[0-9]* new' | cut -d' ' -f1)
n3=$(grep 'new tokens evaluated' "$TMP/e" | sed -n 3p | grep -o '[0-9]* new' | cut -d' ' -f1)
[ "$n3" = "$n1" ] || fail "after /reset the first turn's $n1 tokens became $n3"
grep -q '\[conversation reset\]' "$TMP/o" || fail "no reset message"
grep -q 'never read' "$TMP/o" && fail "input after /quit was read"
grep -q '> And then?' "$TMP/o" || fail "transcript lacks the user's lines: $(cat "$TMP/o")"

# errors
"$BIN" run --chat -m "$L" -n 4 2>"$TMP/e" && fail "run --chat without -p accepted"
grep -q -- '-p' "$TMP/e" || fail "run --chat without -p: $(cat "$TMP/e")"
"$BIN" chat -m "$L" --chat-template jinja 2>"$TMP/e" </dev/null && fail "unknown template accepted"
grep -q "unknown template 'jinja'" "$TMP/e" || fail "unknown template: $(cat "$TMP/e")"
"$BIN" chat 2>"$TMP/e" </dev/null && fail "chat without -m accepted"
"$BIN" chat -m "$TMP/none.gguf" 2>"$TMP/e" </dev/null && fail "missing model accepted"
echo "chat ($n1 tokens, then $n2 new): ok"
