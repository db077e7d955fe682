#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/gen_qwen2.py OUT.gguf [SEED [SCALING]] — a tiny random `qwen2` model for test_forward_ref
(SCALING: a qwen2.rope.scaling.type value to write, for the tests of its refusal).

Written with the PyPI `gguf` package alone, with llama.cpp's key and tensor names
for qwen2: q/k/v biases, rope.freq_base 1e6, rms eps 1e-6, GQA (4 heads, 2 kv
heads), f32 weights, an untied output, and a byte-level BPE vocabulary
(tokenizer.ggml.model gpt2, pre qwen2): the 256 GPT-2 byte characters, a
handful of merges, and <|im_start|> <|im_end|> <|endoftext|> as control tokens.
Exit 77 when numpy or gguf is missing.
"""
import sys

try:
    import numpy as np
    import gguf
except ImportError as e:  # pragma: no cover
    print(f"skip: python package missing ({e})")
    sys.exit(77)


def byte_chars():
    # GPT-2's bytes_to_unicode, written out from its definition
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def main():
    path = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    rng = np.random.default_rng(seed)
    tokens = byte_chars()
    merges = []
    sp = tokens[ord(" ")]
    for a, b in [(sp, "t"), ("h", "e"), (sp + "t", "he"), (sp, "a"), ("i", "n"), (sp, "w"), ("e", "r"),
                 ("o", "n"), (sp, "l"), ("i", "t"), ("a", "s"), (sp + "w", "as")]:
        merges.append(f"{a} {b}")
        if a + b not in tokens:
            tokens.append(a + b)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens += specials
    types = [1] * (len(tokens) - len(specials)) + [3] * len(specials)
    n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff = len(tokens), 64, 2, 4, 2, 160
    head_dim = n_embd // n_head

    w = gguf.GGUFWriter(path, "qwen2")
    w.add_name("qwen2-test")
    w.add_context_length(256)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_freq_base(1000000.0)
    if len(sys.argv) > 3:
        w.add_string("qwen2.rope.scaling.type", sys.argv[3])
        w.add_float32("qwen2.rope.scaling.factor", 4.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)

    def t(name, *shape, scale=0.2, base=0.0):
        w.add_tensor(name, (base + scale * rng.standard_normal(shape)).astype(np.float32))

    t("token_embd.weight", n_vocab, n_embd, scale=1.0)
    for i in range(n_layer):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", n_embd, scale=0.1, base=1.0)
        t(p + "attn_q.weight", n_embd, n_embd)
        t(p + "attn_q.bias", n_embd, scale=0.5)
        t(p + "attn_k.weight", n_head_kv * head_dim, n_embd)
        t(p + "attn_k.bias", n_head_kv * head_dim, scale=0.5)
        t(p + "attn_v.weight", n_head_kv * head_dim, n_embd)
        t(p + "attn_v.bias", n_head_kv * head_dim, scale=0.5)
        t(p + "attn_output.weight", n_embd, n_embd)
        t(p + "ffn_norm.weight", n_embd, scale=0.1, base=1.0)
        t(p + "ffn_gate.weight", n_ff, n_embd)
        t(p + "ffn_up.weight", n_ff, n_embd)
        t(p + "ffn_down.weight", n_embd, n_ff)
    t("output_norm.weight", n_embd, scale=0.1, base=1.0)
    t("output.weight", n_vocab, n_embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
