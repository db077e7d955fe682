#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/chat_jinja.py MODEL.gguf — the independent side of test_chat_template's rendering check.

Renders a fixed conversation with the model's own tokenizer.chat_template (its Jinja source)
the way Hugging Face transformers does (jinja2 sandbox, trim_blocks, lstrip_blocks; bos_token
and eos_token the texts of the vocabulary's ids; add_generation_prompt) and writes the text to
stdout.  Exit 77 when jinja2 or gguf is missing.
"""
import sys

try:
    import gguf
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as e:  # pragma: no cover
    print(f"skip: python package missing ({e})")
    sys.exit(77)

CONV = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "<think>\nhm\n</think>\n\n Hello! "},
    {"role": "user", "content": "2+2?"},
]


def main():
    r = gguf.GGUFReader(sys.argv[1])

    def s(key):
        f = r.fields[key]
        return bytes(f.parts[f.data[0]]).decode("utf-8")

    def u(key):
        f = r.fields[key]
        return int(f.parts[f.data[0]][0])

    toks = r.fields["tokenizer.ggml.tokens"]
    text = lambda i: bytes(toks.parts[toks.data[i]]).decode("utf-8")
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    t = env.from_string(s("tokenizer.chat_template"))
    out = t.render(messages=CONV, add_generation_prompt=True, bos_token=text(u("tokenizer.ggml.bos_token_id")),
                   eos_token=text(u("tokenizer.ggml.eos_token_id")))
    sys.stdout.write(out)


if __name__ == "__main__":
    main()
