#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/deepseek2_ref.py — an independent deepseek2 forward pass (DeepSeek-V2/V3/R1), the other
side of tests/unit/test_deepseek2_ref.c.

usage: deepseek2_ref.py [--act ggml|exact] [--experts FILE] MODEL.gguf OUT.f32 TOKEN...

Reads MODEL with the gguf package's GGUFReader, runs the token sequence in float64 numpy with a
causal mask, and writes the logits of every position to OUT (len(TOKENS) x n_vocab float32).
--experts FILE also writes the routed experts, one line per (layer, token): "layer token e1 ... ek".

Written from Hugging Face's modeling_deepseek.py (DeepseekV3ForCausalLM), not from sluice's code:
  - attention (DeepseekV3Attention), *not* absorbed: q = q_b(rmsnorm(q_a h)) (q LoRA) or q_proj h,
    per head [q_nope | q_pe]; kv_a_proj_with_mqa h = [compressed_kv | k_pe] (k_pe shared by the
    heads); kv = kv_b(rmsnorm(compressed_kv)) per head [k_nope | v]; k = [k_nope | rope(k_pe)];
    scores = q.k * softmax_scale, softmax_scale = q_head_dim^-0.5 * mscale^2 with yarn
    (mscale = 1 + yarn_log_multiplier * ln(factor): GGUF's multiplier is 0.1 * mscale_all_dim).
    Files with the split attn_k_b [d_nope, kv_lora, H] / attn_v_b [kv_lora, d_v, H] give kv_b back
    per head as [k_b[h]^T ; v_b[h]] (llama.cpp's converter split it so); attn_kv_b is kv_b itself.
  - rope on q_pe and k_pe: HF de-interleaves then rotates halves, i.e. adjacent pairs (2i, 2i+1) of
    the stored order are rotated by pos * inv_freq[i]; YaRN (DeepseekV3YarnRotaryEmbedding):
    inv_freq = freq_inter * (1 - mask) + freq_extra * mask, mask = 1 - linear_ramp(low, high),
    low/high from yarn_find_correction_range(beta_fast 32, beta_slow 1, dim, base, original ctx);
    cos/sin scaled by mscale/mscale_all_dim = 1.
  - MoE (DeepseekV3MoE, MoEGate "noaux_tc"): scores = sigmoid(router h) (or softmax for
    expert_gating_func 1); choice scores = scores + e_score_correction_bias (exp_probs_b); groups:
    each scores the sum of its top 2, the top topk_group groups stay and the others are masked
    (to -inf, as llama.cpp does; HF fills 0.0, which differs only when kept scores are negative);
    top-k; weights = scores of the chosen (no bias), / sum if norm_topk_prob, * routed_scaling;
    out = sum w_i * down_i(silu(gate_i h) * up_i h) + shared_experts(h) (an MLP of
    moe_intermediate_size * n_shared_experts).  Layers < first_k_dense_replace are a dense MLP.
--act ggml (default) rounds activations to each matmul weight's vec_dot type (as tests/ref/llama_ref.py
explains) for the matmuls a ggml-style engine does as matmuls; the MLA k/v projections (which the
engine computes absorbed, from dequantized weights) and the f32 router are exact.

Exit 77 (with a one-line reason) when numpy or gguf are missing.
"""
import math
import os
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize
except Exception as e:  # noqa: BLE001
    print(f"numpy/gguf python packages unavailable: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import field, to_vec_dot  # noqa: E402  (GGUF field reading, the ggml activation rounding)

T = gguf.GGMLQuantizationType


def tensor(r, name):
    """(float64 array in numpy order [ne2, ne1, ne0] / [ne1, ne0] / [ne0], type) or (None, None)."""
    t = next((t for t in r.tensors if t.name == name), None)
    if t is None:
        return None, None
    ne = [int(x) for x in t.shape]
    if t.tensor_type in (T.F32, T.F16):
        w = np.asarray(t.data, dtype=np.float64)
    else:
        w = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64)
    return w.reshape(list(reversed(ne))), t.tensor_type


class Model:
    def __init__(self, path, act):
        r = gguf.GGUFReader(path)
        self.act = act
        if field(r, "general.architecture") != "deepseek2":
            raise SystemExit(f"{path}: not a deepseek2 model")
        a = "deepseek2."
        g = lambda k, d=None: field(r, a + k, d)  # noqa: E731
        self.n_embd, self.n_layer, self.n_head = g("embedding_length"), g("block_count"), g("attention.head_count")
        self.eps = float(g("attention.layer_norm_rms_epsilon", 1e-6))
        self.base = float(g("rope.freq_base", 10000.0))
        self.rope = g("rope.dimension_count")
        self.q_lora = g("attention.q_lora_rank", 0) or 0
        self.kv_lora = g("attention.kv_lora_rank")
        qk = g("attention.key_length_mla", None) or g("attention.key_length")
        self.v_dim = g("attention.value_length_mla", None) or g("attention.value_length")
        self.q_head = qk
        self.nope = qk - self.rope
        self.n_dense = g("leading_dense_block_count", 0)
        self.n_expert, self.n_used = g("expert_count", 0), g("expert_used_count", 0)
        self.routed_scale = float(g("expert_weights_scale", 0.0))
        self.norm_topk = bool(g("expert_weights_norm", False))
        self.gating = g("expert_gating_func", 1)
        self.n_group, self.topk_group = g("expert_group_count", 1) or 1, g("expert_group_used_count", 1) or 1
        self.softmax_scale = qk ** -0.5
        self.inv_freq = 1.0 / (self.base ** (np.arange(0, self.rope, 2, dtype=np.float64) / self.rope))
        if g("rope.scaling.type", "none") == "yarn":
            factor = float(g("rope.scaling.factor"))
            orig = g("rope.scaling.original_context_length")
            log_mul = float(g("rope.scaling.yarn_log_multiplier", 0.0))
            dim = self.rope

            def corr_dim(num_rot):
                return (dim * math.log(orig / (num_rot * 2 * math.pi))) / (2 * math.log(self.base))

            low = max(math.floor(corr_dim(32)), 0)
            high = min(math.ceil(corr_dim(1)), dim - 1)
            if low == high:
                high += 0.001
            ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
            mask = 1.0 - ramp
            freq_extra = self.inv_freq
            freq_inter = self.inv_freq / factor
            self.inv_freq = freq_inter * (1 - mask) + freq_extra * mask
            mscale = 0.1 * (log_mul / 0.1) * math.log(factor) + 1.0 if factor > 1 else 1.0
            self.softmax_scale *= mscale * mscale
        W = lambda n: tensor(r, n)  # noqa: E731
        self.tok_embd = W("token_embd.weight")[0]
        self.output_norm = W("output_norm.weight")[0]
        self.output = W("output.weight")
        if self.output[0] is None:
            self.output = W("token_embd.weight")
        H, Dn, Dv = self.n_head, self.nope, self.v_dim
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            L = {n: W(p + n + ".weight") for n in ("attn_norm", "attn_q_a", "attn_q_a_norm", "attn_q_b", "attn_q",
                                                  "attn_kv_a_mqa", "attn_kv_a_norm", "attn_output", "ffn_norm",
                                                  "ffn_gate", "ffn_up", "ffn_down", "ffn_gate_inp",
                                                  "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp",
                                                  "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")}
            kvb, _ = W(p + "attn_kv_b.weight")
            if kvb is None:  # split form: kv_b's head h = [k_b[h]^T ; v_b[h]]
                kb, _ = W(p + "attn_k_b.weight")  # [H, kv_lora, Dn]
                vb, _ = W(p + "attn_v_b.weight")  # [H, Dv, kv_lora]
                kvb = np.concatenate([kb.transpose(0, 2, 1), vb], axis=1).reshape(H * (Dn + Dv), self.kv_lora)
            L["kv_b"] = kvb
            L["bias"] = W(p + "exp_probs_b.bias")[0]
            self.layers.append(L)

    def mm(self, x, wt):
        w, t = wt
        if self.act == "ggml":
            x = to_vec_dot(x, t)
        return x @ w.T

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w.reshape(-1)

    def rope_pairs(self, x, pos):
        # x [..., n_tok, rope] with tokens on axis -2; adjacent pairs rotated
        theta = pos[:, None] * self.inv_freq[None, :]
        c, s = np.cos(theta), np.sin(theta)
        a, b = x[..., 0::2].copy(), x[..., 1::2].copy()
        y = np.empty_like(x)
        y[..., 0::2] = a * c - b * s
        y[..., 1::2] = a * s + b * c
        return y

    def mlp(self, h, g, u, d):
        gg, uu = self.mm(h, g), self.mm(h, u)
        return self.mm(gg / (1 + np.exp(-gg)) * uu, d)

    def attention(self, L, h):
        n, H, Dn, Dr, Dv = h.shape[0], self.n_head, self.nope, self.rope, self.v_dim
        if self.q_lora:
            q = self.mm(self.rmsnorm(self.mm(h, L["attn_q_a"]), L["attn_q_a_norm"][0]), L["attn_q_b"])
        else:
            q = self.mm(h, L["attn_q"])
        q = q.reshape(n, H, Dn + Dr).transpose(1, 0, 2)  # [H, n, qk]
        ckv = self.mm(h, L["attn_kv_a_mqa"])
        c, k_pe = ckv[:, :self.kv_lora], ckv[:, self.kv_lora:]
        kv = (self.rmsnorm(c, L["attn_kv_a_norm"][0]) @ L["kv_b"].T).reshape(n, H, Dn + Dv).transpose(1, 0, 2)
        k_nope, v = kv[:, :, :Dn], kv[:, :, Dn:]
        pos = np.arange(n, dtype=np.float64)
        q_pe = self.rope_pairs(q[:, :, Dn:], pos)
        k_pe = self.rope_pairs(k_pe, pos)  # [n, Dr], shared by the heads
        mask = np.triu(np.full((n, n), -np.inf), 1)
        out = np.empty((n, H, Dv))
        for hd in range(H):
            s = (q[hd, :, :Dn] @ k_nope[hd].T + q_pe[hd] @ k_pe.T) * self.softmax_scale + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, hd, :] = s @ v[hd]
        return self.mm(out.reshape(n, H * Dv), L["attn_output"])

    def route(self, L, h):
        logits = h @ L["ffn_gate_inp"][0].T
        if self.gating == 2:
            scores = 1 / (1 + np.exp(-logits))
        else:
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            scores = e / e.sum(axis=1, keepdims=True)
        choice = scores + (L["bias"].reshape(1, -1) if L["bias"] is not None else 0)
        n = h.shape[0]
        if self.n_group > 1 and self.topk_group < self.n_group:
            grouped = choice.reshape(n, self.n_group, -1)
            top2 = -np.sort(-grouped, axis=-1)[:, :, :2].sum(-1)  # [n, groups]
            keep = np.argsort(-top2, axis=1, kind="stable")[:, :self.topk_group]
            gmask = np.zeros((n, self.n_group), dtype=bool)
            np.put_along_axis(gmask, keep, True, axis=1)
            choice = np.where(np.repeat(gmask, self.n_expert // self.n_group, axis=1), choice, -np.inf)
        idx = np.argsort(-choice, axis=1, kind="stable")[:, :self.n_used]
        w = np.take_along_axis(scores, idx, axis=1)
        if self.norm_topk:
            w = w / (w.sum(axis=1, keepdims=True) + 1e-20)
        if self.routed_scale:
            w = w * self.routed_scale
        return idx, w

    def moe(self, L, h, li, log):
        idx, w = self.route(L, h)
        y = self.mlp(h, L["ffn_gate_shexp"], L["ffn_up_shexp"], L["ffn_down_shexp"])
        ge, gt = L["ffn_gate_exps"]
        ue, ut = L["ffn_up_exps"]
        de, dt = L["ffn_down_exps"]
        for t in range(h.shape[0]):
            log.append((li, t, [int(e) for e in idx[t]]))
            for j in range(self.n_used):
                e = idx[t, j]
                y[t] += w[t, j] * self.mlp(h[t:t + 1], (ge[e], gt), (ue[e], ut), (de[e], dt))[0]
        return y

    def forward(self, tokens, log):
        x = self.tok_embd[np.asarray(tokens)].copy()
        for li, L in enumerate(self.layers):
            x = x + self.attention(L, self.rmsnorm(x, L["attn_norm"][0]))
            h = self.rmsnorm(x, L["ffn_norm"][0])
            if li < self.n_dense:
                x = x + self.mlp(h, L["ffn_gate"], L["ffn_up"], L["ffn_down"])
            else:
                x = x + self.moe(L, h, li, log)
        return self.mm(self.rmsnorm(x, self.output_norm), self.output)


def main(argv):
    act, experts = "ggml", None
    args = argv[1:]
    while args and args[0].startswith("--"):
        if args[0] == "--act" and len(args) > 1:
            act, args = args[1], args[2:]
        elif args[0] == "--experts" and len(args) > 1:
            experts, args = args[1], args[2:]
        else:
            break
    if act not in ("ggml", "exact") or len(args) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    m = Model(args[0], act)
    tokens = [int(t) for t in args[2:]]
    log = []
    logits = m.forward(tokens, log)
    logits.astype("<f4").tofile(args[1])
    if experts:
        with open(experts, "w") as f:
            for li, t, es in sorted(log):
                f.write(f"{li} {t} {' '.join(map(str, es))}\n")
    print(f"deepseek2_ref: {len(tokens)} tokens x {logits.shape[1]} logits, act={act}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
