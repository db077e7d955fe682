#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/data/quant-vectors/make_vectors.py LLAMA_BIN_DIR — regenerate the test vectors of this
directory from a llama.cpp build (see README.md): input rows and importance weights from a fixed
numpy seed, quantized by ggml's own ggml_quantize_chunk (the call llama-quantize makes for each
chunk of rows, here on all rows at once with the weights as its imatrix row) and dequantized by
ggml's to_float, both through ctypes on that build's libggml-base.so."""
import ctypes
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
lib = ctypes.CDLL(os.path.join(sys.argv[1], "libggml-base.so"))

# ggml's type numbers (sluice uses the same)
TYPES = {"iq2_xxs": 16, "iq2_xs": 17, "iq3_xxs": 18, "iq1_s": 19, "iq3_s": 21, "iq2_s": 22, "iq1_m": 29}
NO_IMATRIX = ("iq3_xxs", "iq3_s")  # ggml quantizes these without weights too (quantize_row_*_ref)
ROWS, COLS = 6, 256


class Traits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p), ("from_float_ref", ctypes.c_void_p)]


lib.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
lib.ggml_quantize_chunk.restype = ctypes.c_size_t
lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                    ctypes.c_int64, ctypes.c_void_p]
TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def inputs():
    rng = np.random.default_rng(20261130)
    x = np.empty((ROWS, COLS), np.float32)
    x[0] = rng.standard_normal(COLS)
    x[1] = rng.standard_normal(COLS) * 0.02                      # a typical weight scale
    x[2] = rng.standard_t(3, COLS)                                # heavy tails
    x[3] = rng.standard_normal(COLS) * 0.1
    x[3, rng.choice(COLS, 6, replace=False)] *= 40                # a few outliers
    x[4] = np.abs(rng.standard_normal(COLS)) + 0.5                # all positive, far from zero
    x[5] = rng.standard_normal(COLS) * (rng.random(COLS) < 0.3)   # mostly zeros ...
    x[5, 224:] = 0                                                # ... and a last sub-block of 32 all zero
    w = np.exp(2.0 * rng.standard_normal(COLS)).astype(np.float32)  # log-normal, like real activations
    w[rng.choice(COLS, 8, replace=False)] = 0                     # columns never used
    return x, w


def main():
    x, w = inputs()
    x.tofile(os.path.join(HERE, "input.f32"))
    w.tofile(os.path.join(HERE, "weights.f32"))
    for name, t in TYPES.items():
        tr = lib.ggml_get_type_traits(t).contents
        for imx in (True, False):
            if not imx and name not in NO_IMATRIX:
                continue
            out = ctypes.create_string_buffer(ROWS * COLS // tr.blck_size * tr.type_size)
            n = lib.ggml_quantize_chunk(t, x.ctypes.data, out, 0, ROWS, COLS, w.ctypes.data if imx else None)
            assert n == len(out.raw)
            y = np.zeros(ROWS * COLS, np.float32)
            TO_FLOAT(tr.to_float)(out, y.ctypes.data, ROWS * COLS)
            base = name if imx else name + "-noimatrix"
            open(os.path.join(HERE, base + ".q"), "wb").write(out.raw)
            y.tofile(os.path.join(HERE, base + ".deq.f32"))
            print(f"{base}: {n} bytes, relative RMS error "
                  f"{np.sqrt(np.mean((y - x.reshape(-1)) ** 2) / np.mean(x.astype(np.float64) ** 2)):.3f}")


main()
