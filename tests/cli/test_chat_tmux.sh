#!/usr/bin/env bash
# tests/cli/test_chat_tmux.sh — `sluice chat` in a real terminal (tmux, a private server): two
# turns of a conversation, the second evaluating only its new tokens; then, on a model whose
# replies do not end by themselves, Ctrl-C stops a reply and the session goes on (the prompt
# comes back and a further message is answered); /quit leaves.  The screen is read with
# capture-pane.  Skips (77) only when tmux is not installed (scripts/deps.sh installs it).
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
command -v tmux >/dev/null || { echo "tmux is not installed (scripts/deps.sh installs it)"; exit 77; }
SOCK=sluice-chat-test-$$
T() { tmux -L "$SOCK" "$@"; }
cleanup() { T kill-server 2>/dev/null; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- screen:"; T capture-pane -p -t chat 2>/dev/null; exit 1; }
screen() { T capture-pane -p -J -S -5000 -t chat; } # deep history: a fast reply can scroll far
# wait until the screen matches a regex (grep -E), or fail after ~60 s of polling
wait_for() {
    local what=$1 i
    for ((i = 0; i < 600; i++)); do
        screen | grep -Eq -- "$what" && return 0
        sleep 0.1
    done
    fail "the screen never showed /$what/"
}
count() { screen | grep -Ec -- "$1"; }

L=$TMP/tmux-l3.gguf Q=$TMP/tmux-q.gguf
"$BIN" gen-model --vocab bpe --size 4M --seed 1 -q -o "$L" 2>/dev/null || fail "gen-model llama3"
"$BIN" gen-model --arch qwen2 --size 4M --seed 1 -q -o "$Q" 2>/dev/null || fail "gen-model qwen2"

# 1. two turns on a Llama-3-style model (replies end at <|eot_id|>)
T new-session -d -s chat -x 160 -y 50 "$BIN chat -m $L -n 200 --temp 0.8 --seed 3 -v; echo '[session ended]'; sleep 60"
wait_for '^> $'
T send-keys -t chat 'Hello there' Enter
wait_for 'tokens, .*tok/s'
wait_for '^> $'
T send-keys -t chat 'Tell me more' Enter
wait_for 'earlier turns kept'
for ((i = 0; i < 600 && $(count 'tokens, .*tok/s') < 2; i++)); do sleep 0.1; done
[ "$(count 'tokens, .*tok/s')" -ge 2 ] || fail "the second reply did not finish"
T send-keys -t chat '/quit' Enter
wait_for '\[session ended\]'
T kill-session -t chat

# 2. Ctrl-C stops a long reply without leaving (qwen2: replies run to -n)
T new-session -d -s chat -x 160 -y 50 "$BIN chat -m $Q -n 1000000 -c 40000 --temp 0.8 --seed 1 -v; echo '[session ended]'; sleep 60"
wait_for '^> $'
T send-keys -t chat 'Write a long story' Enter
wait_for 'new tokens evaluated'
sleep 0.5
T send-keys -t chat C-c
wait_for '\[stopped\]'
wait_for '^> $'
screen | grep -q '\[session ended\]' && fail "Ctrl-C ended the session"
T send-keys -t chat 'Still there?' Enter
wait_for 'earlier turns kept'
sleep 0.3
T send-keys -t chat C-c
for ((i = 0; i < 600 && $(count '\[stopped\]') < 2; i++)); do sleep 0.1; done
[ "$(count '\[stopped\]')" -ge 2 ] || fail "the second Ctrl-C did not stop the reply"
wait_for '^> $'
T send-keys -t chat C-c # at the prompt: a fresh line, still running
sleep 0.3
screen | grep -q '\[session ended\]' && fail "Ctrl-C at the prompt ended the session"
T send-keys -t chat '/quit' Enter
wait_for '\[session ended\]'
echo "chat in tmux: two turns, Ctrl-C twice, /quit: ok"
screen | grep -E 'tokens|stopped' | head -8
