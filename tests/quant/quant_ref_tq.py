#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/quant/quant_ref_tq.py DIR — the gguf package's quantization of the
types it can quantize that tests/ref/quant_ref.py leaves out (tq1_0, tq2_0):
for DIR/<type>.in.f32 (rows of DIR/<type>.cols floats) writes DIR/<type>.py.q.
Used by test_quant_iq_ref.  Exit 77 if numpy/gguf are missing.
"""
import os
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import quantize
except Exception as e:  # noqa: BLE001
    print(f"gguf python package unavailable: {e}")
    sys.exit(77)

TYPES = {"tq1_0": gguf.GGMLQuantizationType.TQ1_0, "tq2_0": gguf.GGMLQuantizationType.TQ2_0}


def main():
    d = sys.argv[1]
    for name, qt in TYPES.items():
        path = os.path.join(d, name + ".in.f32")
        if not os.path.exists(path):
            continue
        cols = int(open(os.path.join(d, name + ".cols")).read())
        x = np.fromfile(path, dtype=np.float32).reshape(-1, cols)
        np.ascontiguousarray(quantize(x, qt)).view(np.uint8).tofile(os.path.join(d, name + ".py.q"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
