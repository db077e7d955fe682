#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/quant/check_iq_quantized.py SRC.gguf OUT.gguf MIX — check an iq4_nl /
iq4_xs / q2_k file from `sluice quantize` with the gguf package:

  * the package reads it, and general.file_type is llama.cpp's (25, 30, 10);
  * tensor types follow llama_tensor_get_type without an imatrix: norms stay
    f32; output.weight q6_K (q8_0 when the rows are not a multiple of 256);
    attn_v q5_K when n_head/n_head_kv >= 4 (q2_k: q4_K, else q3_K); ffn_down q5_K in the first eighth
    of the layers (q2_k: q3_K everywhere); rows that no 256-block divides fall back to iq4_nl
    (q2_K/q3_K/iq4_xs), q5_1 (q5_K), q8_0 (q6_K);
  * every quantized tensor dequantizes (with gguf's numpy code) close to SRC.
Exit 0 ok, 1 mismatch, 77 if gguf/numpy are missing.
"""
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize
except Exception as e:  # noqa: BLE001
    print(f"gguf python package unavailable: {e}")
    sys.exit(77)

T = gguf.GGMLQuantizationType
FTYPE = {"iq4_nl": 25, "iq4_xs": 30, "q2_k": 10}
BASE = {"iq4_nl": T.IQ4_NL, "iq4_xs": T.IQ4_XS, "q2_k": T.Q2_K}
FALLBACK = {T.Q2_K: T.IQ4_NL, T.Q3_K: T.IQ4_NL, T.IQ4_XS: T.IQ4_NL, T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1,
            T.Q6_K: T.Q8_0}
TOL = {T.F32: 0, T.Q8_0: 1e-2, T.Q6_K: 3e-2, T.Q5_1: 6e-2, T.Q5_K: 6e-2, T.IQ4_NL: 0.12, T.IQ4_XS: 0.12,
       T.Q3_K: 0.25, T.Q2_K: 0.45}


def u32(reader, key):
    f = reader.fields.get(key)
    return None if f is None else int(f.parts[f.data[0]][0])


def expected(mix, name, nx, n_layer, n_gqa):
    ft = FTYPE[mix]
    t = BASE[mix]
    layer = int(name.split(".")[1]) if name.startswith("blk.") else -1
    if name == "output.weight":
        t = T.Q6_K
    elif ".attn_v." in name:
        if ft == 10:
            t = T.Q4_K if n_gqa >= 4 else T.Q3_K
        elif n_gqa >= 4:
            t = T.Q5_K
    elif ".ffn_down" in name:
        if ft == 10:
            t = T.Q3_K
        elif ft in (25, 30) and layer < n_layer // 8:
            t = T.Q5_K
    elif ".attn_output." in name and ft == 10:
        t = T.Q3_K
    block = gguf.GGML_QUANT_SIZES[t][0]
    if nx % block:
        t = FALLBACK.get(t, t)
        if nx % gguf.GGML_QUANT_SIZES[t][0]:
            t = T.F16
    return t


def main():
    src_path, out_path, mix = sys.argv[1], sys.argv[2], sys.argv[3].lower()
    src, out = gguf.GGUFReader(src_path), gguf.GGUFReader(out_path)
    bad = 0

    def fail(msg):
        nonlocal bad
        bad += 1
        print("FAIL:", msg)

    if u32(out, "general.file_type") != FTYPE[mix]:
        fail(f"general.file_type is not {FTYPE[mix]}")
    nh, nkv = u32(src, "llama.attention.head_count"), u32(src, "llama.attention.head_count_kv")
    n_gqa = nh // nkv if nh and nkv else 1
    stensors = {t.name: t for t in src.tensors}
    n_layer = 1 + max(int(t.name.split(".")[1]) for t in src.tensors if t.name.startswith("blk."))
    seen = {}
    for t in out.tensors:
        s = stensors[t.name]
        if len(t.shape) == 1 or t.name.endswith("_norm.weight"):
            if t.tensor_type != s.tensor_type:
                fail(f"{t.name}: 1-D tensor converted to {t.tensor_type.name}")
            continue
        want = expected(mix, t.name, int(t.shape[0]), n_layer, n_gqa)
        if t.tensor_type != want:
            fail(f"{t.name}: {t.tensor_type.name}, llama.cpp would use {want.name}")
        seen[t.tensor_type.name] = seen.get(t.tensor_type.name, 0) + 1
        x = dequantize(s.data, s.tensor_type).astype(np.float32).reshape(-1, int(s.shape[0]))
        y = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(x.shape)
        err = float(np.sqrt(np.mean((x - y) ** 2) / max(np.mean(x * x), 1e-30)))
        if err > TOL.get(t.tensor_type, 0.5):
            fail(f"{t.name}: {t.tensor_type.name} relative rmse {err:.4f}")
    print(f"check_iq_quantized {mix}: {len(out.tensors)} tensors, types {seen}, {bad} failure(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
