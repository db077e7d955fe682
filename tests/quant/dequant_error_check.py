#!/usr/bin/env python3
"""tests/quant/dequant_error_check.py SRC.gguf QUANT.gguf TYPE=LIMIT... — every tensor of QUANT.gguf
whose type is named dequantizes (the gguf package's numpy dequantizers, an independent reference)
to within LIMIT relative RMS error of the same tensor in SRC.gguf; exit 1 naming each that does not."""
import sys

import gguf
import numpy as np
from gguf.quants import dequantize

T = gguf.GGMLQuantizationType
limit = {T[k.upper()]: float(v) for k, v in (a.split("=") for a in sys.argv[3:])}
src = {t.name: t for t in gguf.GGUFReader(sys.argv[1]).tensors}
bad = 0
for t in gguf.GGUFReader(sys.argv[2]).tensors:
    if t.tensor_type not in limit:
        continue
    a = np.asarray(src[t.name].data, dtype=np.float64).reshape(-1)
    e = np.sqrt(np.mean((dequantize(t.data, t.tensor_type).reshape(-1) - a) ** 2) / np.mean(a * a))
    if not e < limit[t.tensor_type]:
        print(f"{t.name} ({t.tensor_type.name}): relative RMS error {e:.3f}")
        bad += 1
sys.exit(1 if bad else 0)
