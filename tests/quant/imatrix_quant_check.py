#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/quant/imatrix_quant_check.py SRC.gguf PLAIN.gguf WEIGHTED.gguf IMATRIX.gguf

Compare two quantizations of SRC (f32) made with the same --type, PLAIN without and WEIGHTED with
`--imatrix IMATRIX`, dequantized with the gguf package's numpy code:

  * both files are read by the package, with the same tensor types;
  * for every tensor the importance matrix covers, the error weighted by it,
    sum over rows and columns j of imatrix_mean[j] * (src - dequantized)^2, is what the
    imatrix quantizer minimises: summed over all those tensors it must be lower with the matrix
    than without, and lower for most tensors one by one (the quantizers' searches are heuristics,
    so a single tensor may come out a little worse);
  * the plain (unweighted) error stays within 1.5x of the plain file's: the weights trade some
    error on unimportant columns, not accuracy overall.
Exit 0 ok, 1 failure, 77 if gguf/numpy are missing.
"""
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize
except Exception as e:  # noqa: BLE001
    print(f"gguf python package unavailable: {e}")
    sys.exit(77)


def tensors(path):
    return {t.name: t for t in gguf.GGUFReader(path).tensors}


def values(t):
    return dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1, int(t.shape[0]))


def main(argv):
    if len(argv) != 5:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    src, plain, wtd, imx = (tensors(p) for p in argv[1:])
    bad = 0
    n = better = 0
    tot_p = tot_w = abs_p = abs_w = 0.0
    for name, t in sorted(src.items()):
        s2, c = imx.get(name + ".in_sum2"), imx.get(name + ".counts")
        if s2 is None or name not in plain or name not in wtd:
            continue
        if plain[name].tensor_type != wtd[name].tensor_type:
            print(f"FAIL: {name}: {plain[name].tensor_type.name} without the matrix, {wtd[name].tensor_type.name} with")
            bad += 1
            continue
        if plain[name].tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            continue
        x = values(t)
        m = np.asarray(s2.data, dtype=np.float64).reshape(-1) / float(c.data[0])
        dp, dw = (values(plain[name]) - x) ** 2, (values(wtd[name]) - x) ** 2
        ep, ew = float((dp * m).sum()), float((dw * m).sum())
        n += 1
        better += ew < ep
        tot_p, tot_w = tot_p + ep, tot_w + ew
        abs_p, abs_w = abs_p + float(dp.sum()), abs_w + float(dw.sum())
        print(f"  {name:28s} {plain[name].tensor_type.name:7s} weighted error {ep:.4e} -> {ew:.4e} ({ew / ep - 1:+.1%})")
    if n == 0:
        print("FAIL: no tensor of the importance matrix was quantized")
        return 1
    print(f"weighted error over {n} tensors: {tot_p:.4e} without the matrix, {tot_w:.4e} with "
          f"({tot_w / tot_p - 1:+.1%}); lower for {better} of {n}; plain error {abs_w / abs_p - 1:+.1%}")
    if not tot_w < tot_p:
        print("FAIL: the importance matrix did not lower the weighted error")
        bad += 1
    if better * 4 < n * 3:
        print(f"FAIL: lower for only {better} of {n} tensors")
        bad += 1
    if abs_w > 1.5 * abs_p:
        print("FAIL: the plain error grew more than 1.5x")
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
