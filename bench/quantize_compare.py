#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/quantize_compare.py SRC.gguf LLAMA.gguf SLUICE.gguf [LABEL] — compare two quantizations of
one F32 model tensor by tensor (bench/quantize-vs-llamacpp.sh): for the tensors both files hold in
the same quantized type, the share of blocks that are byte-identical and each file's RMS error
against the F32 source (dequantized by the gguf package).  Prints one line per type and a total;
tensors whose types differ are listed (a per-tensor rule that differs)."""
import sys
from collections import defaultdict

import numpy as np
import gguf
from gguf.quants import dequantize

src, lf, sf = (gguf.GGUFReader(p) for p in sys.argv[1:4])
label = sys.argv[4] if len(sys.argv) > 4 else ""
S = {t.name: t for t in src.tensors}
L = {t.name: t for t in lf.tensors}
per = defaultdict(lambda: [0, 0, 0.0, 0.0, 0])  # blocks, identical, sum sq err llama, sluice, elements
mismatch = []
for t in sf.tensors:
    l = L.get(t.name)
    if l is None:
        continue
    if l.tensor_type != t.tensor_type:
        mismatch.append(f"{t.name}: llama {l.tensor_type.name}, sluice {t.tensor_type.name}")
        continue
    q = t.tensor_type
    if q not in gguf.constants.GGML_QUANT_SIZES or q in (gguf.GGMLQuantizationType.F32,
                                                         gguf.GGMLQuantizationType.F16):
        continue
    bs, ts = gguf.constants.GGML_QUANT_SIZES[q]
    a = np.asarray(l.data).reshape(-1, ts)
    b = np.asarray(t.data).reshape(-1, ts)
    x = np.asarray(S[t.name].data, dtype=np.float64).reshape(-1)
    p = per[q.name]
    p[0] += a.shape[0]
    p[1] += int(np.all(a == b, axis=1).sum())
    p[2] += float(np.sum((dequantize(l.data, q).reshape(-1) - x) ** 2))
    p[3] += float(np.sum((dequantize(t.data, q).reshape(-1) - x) ** 2))
    p[4] += x.size
for name, (n, same, el, es, ne) in sorted(per.items()):
    print(f"{label:10s} {name:8s} blocks {n:7d}  identical {100.0 * same / n:7.3f}%  "
          f"RMSE llama {np.sqrt(el / ne):.6f}  sluice {np.sqrt(es / ne):.6f}")
for m in mismatch:
    print(f"{label:10s} type differs: {m}")
