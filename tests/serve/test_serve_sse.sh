#!/usr/bin/env bash
# tests/serve/test_serve_sse.sh — the raw server-sent events as curl receives them: Content-Type
# text/event-stream, every event one "data: JSON" line and a blank line, the chat stream opening
# with the assistant role, a final chunk with finish_reason, the usage chunk (include_usage: empty
# choices), then "data: [DONE]"; the streamed text equals the non-streamed one.  A prompt longer than
# a step's prompt rows goes in over several steps beside short ones: each gets its tokens alone.
# Then SIGTERM with a long stream in flight: the stream still ends with [DONE] and its full length,
# and the server exits 0.
set -u
. "$(dirname "$0")/serve_lib.sh"
M=${SLUICE_MODELS:-../shared/models}/stories260K.gguf
if [ ! -f "$M" ]; then
    M=$TMP/serve-sse.gguf
    "$BIN" gen-model --size 4M --seed 3 -q -o "$M" 2>/dev/null || fail "gen-model"
fi
start_server "$TMP/serve-sse.log" -m "$M" --parallel 2 -t 2 --ctx 2048

body='{"prompt":"Once upon a time","max_tokens":40,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}'
curl -sN --max-time 60 -D "$TMP/h" -o "$TMP/sse" "$URL/v1/completions" -d "$body" || fail "curl stream"
grep -qi '^content-type: text/event-stream' "$TMP/h" || fail "content type: $(cat "$TMP/h")"
curl -s --max-time 60 -o "$TMP/whole" "$URL/v1/completions" -d "${body/\"stream\":true/\"stream\":false}" || fail "curl whole"
chatbody='{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"temperature":0,"stream":true}'
curl -sN --max-time 60 -o "$TMP/sse-chat" "$URL/v1/chat/completions" -d "$chatbody" || fail "curl chat stream"

timeout 60 python3 - "$TMP/sse" "$TMP/whole" "$TMP/sse-chat" <<'PY' || fail "SSE framing"
import json, sys
def events(path):
    raw = open(path, "rb").read().decode("utf-8")
    assert raw.endswith("data: [DONE]\n\n"), repr(raw[-60:])
    evs = raw.split("\n\n")
    assert evs[-1] == "", "trailing bytes after the last event"
    out = []
    for e in evs[:-1]:
        assert e.startswith("data: ") and "\n" not in e, "not one data line: %r" % e
        out.append(e[6:])
    assert out[-1] == "[DONE]" and out.count("[DONE]") == 1
    return [json.loads(x) for x in out[:-1]]
ev = events(sys.argv[1])
assert all(e["object"] == "text_completion" for e in ev)
assert ev[-1]["choices"] == [] and ev[-1]["usage"]["completion_tokens"] == 40, ev[-1]
assert ev[-2]["choices"][0]["finish_reason"] == "length", ev[-2]
assert all(e["choices"][0]["finish_reason"] is None for e in ev[:-2])
assert len({e["id"] for e in ev}) == 1
text = "".join(e["choices"][0]["text"] for e in ev[:-1])
whole = json.load(open(sys.argv[2]))
assert whole["choices"][0]["text"] == text, (whole, text)
assert whole["usage"] == ev[-1]["usage"], (whole["usage"], ev[-1]["usage"])
ch = events(sys.argv[3])
assert ch[0]["object"] == "chat.completion.chunk" and ch[0]["choices"][0]["delta"]["role"] == "assistant", ch[0]
assert ch[-1]["choices"][0]["finish_reason"] in ("stop", "length") and "usage" not in ch[-1]
print("SSE: %d + %d events, framing and text as expected" % (len(ev), len(ch)))
PY

# A prompt longer than a step's prompt rows (it goes in over several steps) beside short ones,
# concurrently: each gets the tokens it gets alone.
timeout 120 python3 - "$URL" <<'PY' || fail "long prompts in pieces"
import json, sys, threading, urllib.request
def req(p):
    r = urllib.request.Request(sys.argv[1] + "/v1/completions", json.dumps(
        {"prompt": p, "max_tokens": 10, "temperature": 0, "return_token_ids": True}).encode())
    return json.load(urllib.request.urlopen(r, timeout=60))
prompts = ["Once upon a time there was a little dog. " * 60, "Lily went to the park", "The sun was " * 30]
alone = [req(p)["choices"][0]["token_ids"] for p in prompts]
assert req(prompts[0])["usage"]["prompt_tokens"] > 600
res = {}
def go(k):
    res[k] = req(prompts[k % 3])["choices"][0]["token_ids"]
th = [threading.Thread(target=go, args=(k,)) for k in range(6)]
[t.start() for t in th]
[t.join() for t in th]
bad = [k for k in res if res[k] != alone[k % 3]]
assert not bad, [(res[k], alone[k % 3]) for k in bad]
print("long prompts in pieces beside short ones: the tokens alone")
PY

# SIGTERM drains: a long stream in flight is finished and answered in full.
long='{"prompt":"Once upon a time","max_tokens":1500,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}'
curl -sN --max-time 120 -o "$TMP/sse-long" "$URL/v1/completions" -d "$long" &
CURL=$!
for _ in $(seq 200); do grep -q '^data: {' "$TMP/sse-long" 2>/dev/null && break; sleep 0.05; done
grep -q '^data: {' "$TMP/sse-long" || fail "the long stream did not start"
stop_server
wait $CURL || fail "curl of the drained stream failed"
tail -c 15 "$TMP/sse-long" | grep -q 'data: \[DONE\]' || fail "the drained stream was cut: $(tail -c 200 "$TMP/sse-long")"
grep -q '"completion_tokens":1500' "$TMP/sse-long" || fail "the drained stream is short: $(tail -c 300 "$TMP/sse-long")"
grep -q 'draining 1 request' "$SRV_LOG" || echo "note: the stream had finished before SIGTERM ($(grep draining "$SRV_LOG"))"
echo "PASS"
