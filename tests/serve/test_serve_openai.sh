#!/usr/bin/env bash
# tests/serve/test_serve_openai.sh — PyPI's `openai` client against `sluice serve` (with --api-key):
# /v1/models; a chat completion non-streaming and streaming (greedy: the streamed deltas join to the
# same reply, the last chunk carries usage); a text completion; errors as the client sees them: a
# context overflow is a BadRequestError (400, code context_length_exceeded), a wrong key an
# AuthenticationError (401).  stories260K when the shared models are there, else a generated model.
set -u
. "$(dirname "$0")/serve_lib.sh"
python3 -c 'import openai' 2>/dev/null || { echo "SKIP: python3 openai package not installed (scripts/deps.sh installs it)"; exit 77; }
M=${SLUICE_MODELS:-../shared/models}/stories260K.gguf
if [ ! -f "$M" ]; then
    M=$TMP/serve-openai.gguf
    "$BIN" gen-model --size 4M --seed 3 -q -o "$M" 2>/dev/null || fail "gen-model"
fi
start_server "$TMP/serve-openai.log" -m "$M" --parallel 4 -t 2 --ctx 256 --api-key sekrit --model-id tiny

timeout 120 python3 - "$URL" <<'PY' || fail "openai client checks"
import sys, openai
url = sys.argv[1] + "/v1"
c = openai.OpenAI(base_url=url, api_key="sekrit", timeout=60, max_retries=0)
ids = [m.id for m in c.models.list().data]
assert ids == ["tiny"], ids
msgs = [{"role": "system", "content": "You tell stories."}, {"role": "user", "content": "Tell me about a cat."}]
r = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=24, temperature=0)
txt = r.choices[0].message.content
assert r.object == "chat.completion" and r.choices[0].message.role == "assistant", r
assert isinstance(txt, str) and r.choices[0].finish_reason in ("stop", "length"), r
assert r.usage.completion_tokens <= 24 and r.usage.prompt_tokens > 0, r.usage
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
parts, usage, finish = [], None, None
for ch in c.chat.completions.create(model="tiny", messages=msgs, max_tokens=24, temperature=0, stream=True,
                                    stream_options={"include_usage": True}):
    assert ch.object == "chat.completion.chunk", ch
    if ch.usage:
        usage = ch.usage
    for ck in ch.choices:
        if ck.delta.content:
            parts.append(ck.delta.content)
        if ck.finish_reason:
            finish = ck.finish_reason
assert "".join(parts) == txt, ("streamed", "".join(parts), "whole", txt)
assert finish == r.choices[0].finish_reason and usage and usage.completion_tokens == r.usage.completion_tokens, usage
t = c.completions.create(model="tiny", prompt="Once upon a time", max_tokens=12, temperature=0.7, seed=5)
t2 = c.completions.create(model="tiny", prompt="Once upon a time", max_tokens=12, temperature=0.7, seed=5)
assert t.object == "text_completion" and t.choices[0].text == t2.choices[0].text, (t, t2)
assert t.usage.completion_tokens <= 12
try:
    c.chat.completions.create(model="tiny", messages=msgs, max_tokens=100000)
    raise SystemExit("context overflow accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400 and e.code == "context_length_exceeded", (e.status_code, e.code, e.body)
try:
    c.chat.completions.create(model="tiny", messages=[{"role": "wizard", "content": "x"}], max_tokens=4)
    raise SystemExit("bad role accepted")
except openai.BadRequestError as e:
    assert "role" in str(e), e
try:
    openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
    raise SystemExit("wrong key accepted")
except openai.AuthenticationError as e:
    assert e.status_code == 401
print("openai client: models, chat (whole and streamed alike), completion, 400 and 401 as the client expects")
PY
stop_server
echo "PASS"
