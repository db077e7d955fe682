#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/check_quantized.py SRC.gguf OUT.gguf MIX — check `sluice quantize`
output with the gguf package (independent reader and numpy quantizers):

  * metadata: every key of SRC is in OUT with the same value, except
    general.file_type, which must be llama.cpp's number for MIX;
  * tensor types follow llama.cpp's rules for MIX (norms stay f32,
    output.weight q6_K for K mixes, attn_v/ffn_down use_more_bits for _M);
  * where gguf can quantize the chosen type (q4_0 q4_1 q5_0 q5_1 q8_0 f16
    bf16), OUT's bytes equal gguf's quantization of SRC's tensor;
  * every quantized tensor dequantizes (with gguf) close to SRC.
Exit 0 ok, 1 mismatch, 77 if gguf/numpy are missing.
"""
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import quantize, dequantize
except Exception as e:  # noqa: BLE001
    print(f"gguf python package unavailable: {e}")
    sys.exit(77)

T = gguf.GGMLQuantizationType
FTYPE = {"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q2_k": 10, "q4_k_m": 15, "q4_k_s": 14,
         "q5_k_m": 17, "q6_k": 18, "f16": 1, "bf16": 32}
NUMPY_QUANT = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.F16, T.BF16}
# relative RMS error allowed after dequantization, per type
TOL = {T.F32: 0, T.F16: 1e-3, T.BF16: 5e-3, T.Q8_0: 1e-2, T.Q6_K: 3e-2, T.Q5_0: 6e-2, T.Q5_1: 6e-2,
       T.Q5_K: 6e-2, T.Q4_0: 0.13, T.Q4_1: 0.13, T.Q4_K: 0.13, T.Q3_K: 0.25, T.Q2_K: 0.45}


def field_value(f):
    if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
        return [bytes(f.parts[i]).hex() for i in f.data]
    return [bytes(f.parts[i]).hex() for i in f.data]


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def main():
    src_path, out_path, mix = sys.argv[1], sys.argv[2], sys.argv[3].lower()
    src, out = gguf.GGUFReader(src_path), gguf.GGUFReader(out_path)
    bad = 0

    def fail(msg):
        nonlocal bad
        bad += 1
        print("FAIL:", msg)

    for k, f in src.fields.items():
        if k.startswith("GGUF.") or k in ("general.file_type", "general.quantization_version"):
            continue
        g = out.fields.get(k)
        if g is None:
            fail(f"metadata {k} missing")
        elif field_value(f) != field_value(g):
            fail(f"metadata {k} differs")
    ft = out.fields.get("general.file_type")
    if ft is None or int(ft.parts[ft.data[0]][0]) != FTYPE[mix]:
        fail(f"general.file_type is not {FTYPE[mix]}")

    stensors = {t.name: t for t in src.tensors}
    n_layer = 1 + max(int(t.name.split(".")[1]) for t in src.tensors if t.name.startswith("blk."))
    checked_exact = 0
    for t in out.tensors:
        s = stensors[t.name]
        if [int(x) for x in t.shape] != [int(x) for x in s.shape]:
            fail(f"{t.name}: shape changed")
            continue
        if len(t.shape) == 1 or t.name.endswith("_norm.weight"):
            if t.tensor_type != s.tensor_type:
                fail(f"{t.name}: 1-D tensor converted to {t.tensor_type.name}")
            continue
        if mix == "q4_k_m" and t.shape[0] % 256 == 0:
            layer = int(t.name.split(".")[1]) if t.name.startswith("blk.") else -1
            want = T.Q4_K
            if t.name == "output.weight":
                want = T.Q6_K
            elif (".attn_v." in t.name or ".ffn_down." in t.name) and use_more_bits(layer, n_layer):
                want = T.Q6_K
            if t.tensor_type != want:
                fail(f"{t.name}: {t.tensor_type.name}, llama.cpp would use {want.name}")
        x = dequantize(s.data, s.tensor_type).astype(np.float32).reshape(-1, int(s.shape[0]))
        y = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(x.shape)
        if t.tensor_type in NUMPY_QUANT and s.tensor_type == T.F32:
            ref = quantize(x, t.tensor_type)
            if not np.array_equal(np.ascontiguousarray(ref).view(np.uint8).ravel(),
                                  np.ascontiguousarray(t.data).view(np.uint8).ravel()):
                fail(f"{t.name}: {t.tensor_type.name} bytes differ from gguf's quantization")
            checked_exact += 1
        err = float(np.sqrt(np.mean((x - y) ** 2) / max(np.mean(x * x), 1e-30)))
        if err > TOL.get(t.tensor_type, 0.5):
            fail(f"{t.name}: {t.tensor_type.name} relative rmse {err:.4f}")
    print(f"check_quantized {mix}: {len(out.tensors)} tensors, {checked_exact} byte-exact vs gguf, {bad} failure(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
