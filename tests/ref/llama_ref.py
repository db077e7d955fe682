#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/llama_ref.py — an independent llama forward pass, the other side of test_forward_ref.

usage: llama_ref.py [--act ggml|exact] MODEL.gguf OUT.f32 TOKEN...

Reads MODEL with the gguf package's GGUFReader (weights dequantized by gguf.quants),
runs the whole token sequence through the model in float64 numpy with a causal mask,
and writes the logits of every position to OUT as len(TOKENS) x n_vocab little-endian
float32.  It shares no code with sluice: only the GGUF file and the llama definition.

The model, as llama.cpp defines the `llama` architecture:
  x = token_embd[tok]
  per layer:  h = rmsnorm(x) * attn_norm
              q, k, v = Wq h, Wk h, Wv h            (n_head, n_head_kv heads of head_dim)
              RoPE "norm" mode on the first n_rot dims of each q/k head: adjacent pairs
              (x[2i], x[2i+1]) rotated by theta = pos * base^(-2i/n_rot)
              attention, causal, softmax(q.k / sqrt(head_dim)); q head h reads kv head
              h // (n_head / n_head_kv)  (GQA)
              x += Wo attn
              h = rmsnorm(x) * ffn_norm;  x += Wdown (silu(Wgate h) * Wup h)   (SwiGLU)
  logits = Woutput (rmsnorm(x) * output_norm)   (Woutput = token_embd when output.weight is absent)
  rmsnorm(x) = x / sqrt(mean(x^2) + eps);  defaults: rope.freq_base 10000, eps 1e-5, n_rot head_dim.
Llama-3.1 files carry rope_freqs.weight [n_rot/2], the "llama3" rope scaling as per-pair
factors (Meta's apply_scaling divides the frequencies; llama.cpp's ggml_rope_ext divides the
angle by freq_factors[i]): theta_i = pos * base^(-2i/n_rot) / rope_freqs[i].
`qwen2` (Hugging Face's Qwen2 definition) differs in two places: q, k, v get their biases
(blk.N.attn_{q,k,v}.bias) added, and RoPE is rotate_half: dims i and i + n_rot/2 of a head
are the rotated pair.

--act ggml (default) reproduces the one deliberate rounding that ggml-style engines do in a
matrix product: the activation row is first converted to the weight's "vec_dot type" (f16
weights -> activations rounded to f16; bf16 -> bf16; q4_0/q5_0/q8_0 -> quantized to q8_0 and
back; q4_1/q5_1 -> q8_1; K-quants -> q8_K), then the product is taken exactly.  With that,
an engine computing in float32 agrees with this reference to ~1e-5 of the logit scale,
whatever the weight type, so a tight tolerance catches real mistakes.
--act exact skips that rounding (the mathematically exact product of the dequantized weights).

Exit 77 (with a one-line reason) when numpy or gguf are missing.
"""
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize, quantize
except Exception as e:  # noqa: BLE001
    print(f"numpy/gguf python packages unavailable: {e}")
    sys.exit(77)

T = gguf.GGMLQuantizationType


def field(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    v = f.parts[f.data[0]]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(v).decode("utf-8")
    return v[0].item()


def weight(r, name):
    """(matrix as float64 [rows, cols], ggml type) or (None, None)."""
    t = next((t for t in r.tensors if t.name == name), None)
    if t is None:
        return None, None
    cols = int(t.shape[0])
    if t.tensor_type in (T.F32, T.F16):
        w = np.asarray(t.data, dtype=np.float64)
    else:
        w = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64)
    return w.reshape(-1, cols), t.tensor_type


def vec_dot_type(wt):
    if wt in (T.F32, T.F16, T.BF16):
        return wt
    if wt in (T.Q4_0, T.Q5_0, T.Q8_0):
        return T.Q8_0
    if wt in (T.Q4_1, T.Q5_1):
        return T.Q8_1
    return T.Q8_K


def to_vec_dot(x, wt):
    """Round activation rows x [n, cols] the way a ggml-style matmul does before the dot."""
    vt = vec_dot_type(wt)
    if vt == T.F32:
        return x
    if vt == T.F16:
        return x.astype(np.float32).astype(np.float16).astype(np.float64)
    if vt == T.BF16:
        # round to nearest even on the top 16 bits of the float32 (as ggml's fp32_to_bf16)
        u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        u = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16) << 16
        return u.astype(np.uint32).view(np.float32).astype(np.float64)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    return dequantize(quantize(x32, vt), vt).astype(np.float64).reshape(x.shape)


class Model:
    def __init__(self, path, act):
        r = gguf.GGUFReader(path)
        self.act = act
        arch = field(r, "general.architecture")
        if arch not in ("llama", "qwen2"):
            raise SystemExit(f"{path}: architecture {arch!r}, this reference knows llama and qwen2 only")
        # qwen2 (Hugging Face's Qwen2 definition): q_proj/k_proj/v_proj have biases, and RoPE is
        # rotate_half: dims i and i + n_rot/2 of a head are rotated together (llama.cpp's NeoX mode).
        self.qwen2 = arch == "qwen2"
        a = arch + "."
        self.n_embd = field(r, a + "embedding_length")
        self.n_layer = field(r, a + "block_count")
        self.n_head = field(r, a + "attention.head_count")
        self.n_head_kv = field(r, a + "attention.head_count_kv", self.n_head)
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = field(r, a + "rope.dimension_count", self.head_dim)
        self.base = float(field(r, a + "rope.freq_base", 10000.0))
        self.eps = float(field(r, a + "attention.layer_norm_rms_epsilon", 1e-5))
        ff, _ = weight(r, "rope_freqs.weight")
        self.rope_ff = None if ff is None else ff.reshape(-1)
        self.tok_embd, _ = weight(r, "token_embd.weight")
        self.output_norm, _ = weight(r, "output_norm.weight")
        self.output, self.output_t = weight(r, "output.weight")
        if self.output is None:  # tied classifier
            self.output, self.output_t = weight(r, "token_embd.weight")
        self.layers = []
        names = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                 "ffn_down"]
        for i in range(self.n_layer):
            self.layers.append({n: weight(r, f"blk.{i}.{n}.weight") for n in names})
            if self.qwen2:
                for n in ("attn_q", "attn_k", "attn_v"):
                    b, _ = weight(r, f"blk.{i}.{n}.bias")
                    if b is None:
                        raise SystemExit(f"{path}: qwen2 without blk.{i}.{n}.bias")
                    self.layers[i][n + "_b"] = b.reshape(-1)

    def mm(self, x, wt):
        w, t = wt
        if self.act == "ggml":
            x = to_vec_dot(x, t)
        return x @ w.T

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w.reshape(-1)

    def rope(self, x, n_heads):
        # x [n_tok, n_heads * head_dim]; adjacent pairs of the first n_rot dims of each head
        n = x.shape[0]
        x = x.reshape(n, n_heads, self.head_dim).copy()
        pos = np.arange(n, dtype=np.float64)[:, None]
        i = np.arange(self.n_rot // 2, dtype=np.float64)[None, :]
        theta = pos * self.base ** (-2.0 * i / self.n_rot)  # [n, n_rot/2]
        if self.rope_ff is not None:
            theta = theta / self.rope_ff[None, :]
        c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        if self.qwen2:  # rotate_half: x * cos + cat(-x2, x1) * sin over the first n_rot dims
            h = self.n_rot // 2
            a, b = x[:, :, 0:h].copy(), x[:, :, h:self.n_rot].copy()
            x[:, :, 0:h] = a * c - b * s
            x[:, :, h:self.n_rot] = b * c + a * s
            return x
        a, b = x[:, :, 0:self.n_rot:2].copy(), x[:, :, 1:self.n_rot:2].copy()
        x[:, :, 0:self.n_rot:2] = a * c - b * s
        x[:, :, 1:self.n_rot:2] = a * s + b * c
        return x

    def forward(self, tokens):
        n = len(tokens)
        x = self.tok_embd[np.asarray(tokens)].copy()
        group = self.n_head // self.n_head_kv
        mask = np.triu(np.full((n, n), -np.inf), 1)
        for L in self.layers:
            h = self.rmsnorm(x, L["attn_norm"][0])
            q, k, v = self.mm(h, L["attn_q"]), self.mm(h, L["attn_k"]), self.mm(h, L["attn_v"])
            if self.qwen2:
                q, k, v = q + L["attn_q_b"], k + L["attn_k_b"], v + L["attn_v_b"]
            q = self.rope(q, self.n_head)
            k = self.rope(k, self.n_head_kv)
            v = v.reshape(n, self.n_head_kv, self.head_dim)
            out = np.empty((n, self.n_head, self.head_dim))
            for hd in range(self.n_head):
                kv = hd // group
                s = q[:, hd, :] @ k[:, kv, :].T / np.sqrt(self.head_dim) + mask
                s = np.exp(s - s.max(axis=1, keepdims=True))
                s /= s.sum(axis=1, keepdims=True)
                out[:, hd, :] = s @ v[:, kv, :]
            x = x + self.mm(out.reshape(n, -1), L["attn_output"])
            h = self.rmsnorm(x, L["ffn_norm"][0])
            g = self.mm(h, L["ffn_gate"])
            u = self.mm(h, L["ffn_up"])
            x = x + self.mm(g / (1.0 + np.exp(-g)) * u, L["ffn_down"])
        return self.mm(self.rmsnorm(x, self.output_norm), (self.output, self.output_t))


def main(argv):
    act = "ggml"
    if len(argv) > 2 and argv[1] == "--act":
        act, argv = argv[2], argv[:1] + argv[3:]
    elif len(argv) > 1 and argv[1].startswith("--act="):
        act, argv = argv[1][6:], argv[:1] + argv[2:]
    if act not in ("ggml", "exact") or len(argv) < 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    m = Model(argv[1], act)
    tokens = [int(t) for t in argv[3:]]
    logits = m.forward(tokens)
    logits.astype("<f4").tofile(argv[2])
    print(f"llama_ref: {len(tokens)} tokens x {logits.shape[1]} logits, act={act}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
