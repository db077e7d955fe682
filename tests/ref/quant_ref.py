#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/quant_ref.py DIR — the independent side of test_quant_ref.

For every DIR/<type>.blocks (raw GGUF blocks) writes DIR/<type>.py.f32, the
gguf package's dequantization; for every DIR/<type>.in.f32 (rows of floats,
row length in DIR/<type>.cols) writes DIR/<type>.py.q, its quantization, when
the package can quantize to that type.  Exit 77 if numpy/gguf are missing.
"""
import os
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import quantize, dequantize
except Exception as e:  # noqa: BLE001
    print(f"gguf python package unavailable: {e}")
    sys.exit(77)

T = gguf.GGMLQuantizationType
QUANTIZABLE = {"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"}


def qtype(name):
    return T[name.upper()]


def main():
    d = sys.argv[1]
    for fn in sorted(os.listdir(d)):
        path = os.path.join(d, fn)
        if fn.endswith(".blocks"):
            name = fn[: -len(".blocks")]
            raw = np.fromfile(path, dtype=np.uint8)
            out = dequantize(raw, qtype(name)).astype(np.float32)
            out.tofile(os.path.join(d, name + ".py.f32"))
        elif fn.endswith(".in.f32"):
            name = fn[: -len(".in.f32")]
            if name not in QUANTIZABLE:
                continue
            cols = int(open(os.path.join(d, name + ".cols")).read())
            x = np.fromfile(path, dtype=np.float32).reshape(-1, cols)
            q = quantize(x, qtype(name))
            np.ascontiguousarray(q).view(np.uint8).tofile(os.path.join(d, name + ".py.q"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
