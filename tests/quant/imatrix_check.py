#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/quant/imatrix_check.py [--process-output] MODEL.gguf IMATRIX.gguf TOKENS.bin CHUNK [IMATRIX.dat]

Recompute llama.cpp's importance-matrix statistic for MODEL over the chunks in TOKENS (int32,
as `sluice imatrix --tokens-out` writes them: CHUNK tokens each, each chunk from an empty
context) with the independent numpy forward pass of tests/ref/llama_ref.py, and compare:

  * IMATRIX.gguf is llama.cpp's imatrix GGUF: general.type "imatrix", imatrix.chunk_count /
    chunk_size / datasets, and for every blk.* matmul weight NAME the f32 tensors
    NAME.in_sum2 [cols] = sum over all rows x multiplying NAME of x^2, NAME.counts [1] = rows;
  * every in_sum2 equals the reference (relative 1e-3 of the largest element: sluice computes
    the activations in float32, the reference in float64), every count exactly;
  * IMATRIX.dat (optional) is the legacy format of the same run: values / ncall = the mean;
  * --process-output: output.weight is there too, over every token.
Exit 0 ok, 1 mismatch, 77 if gguf/numpy are missing.
"""
import os
import struct
import sys

try:
    import numpy as np
    import gguf
except Exception as e:  # noqa: BLE001
    print(f"gguf python package unavailable: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import llama_ref  # noqa: E402


class Recorder(llama_ref.Model):
    """The reference forward pass, noting the sum of squares of each matmul's input by weight name."""

    def __init__(self, path, process_output):
        super().__init__(path, "exact")
        self.names = {}
        if process_output:
            self.names[id(self.output)] = "output.weight"
        for i, L in enumerate(self.layers):
            for n, wt in L.items():
                if isinstance(wt, tuple):
                    self.names[id(wt[0])] = f"blk.{i}.{n}.weight"
        self.sum2, self.count = {}, {}

    def mm(self, x, wt):
        name = self.names.get(id(wt[0]))
        if name is not None:
            self.sum2[name] = self.sum2.get(name, 0) + np.sum(x * x, axis=0)
            self.count[name] = self.count.get(name, 0) + x.shape[0]
        return super().mm(x, wt)


def main(argv):
    process_output = len(argv) > 1 and argv[1] == "--process-output"
    if process_output:
        argv = argv[:1] + argv[2:]
    if len(argv) < 5:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    model, imx, toks, chunk = argv[1], argv[2], argv[3], int(argv[4])
    ref = Recorder(model, process_output)
    tokens = np.fromfile(toks, dtype="<i4")
    n_chunks = len(tokens) // chunk
    for c in range(n_chunks):
        ref.forward([int(t) for t in tokens[c * chunk:(c + 1) * chunk]])

    r = gguf.GGUFReader(imx)
    bad = 0

    def fail(msg):
        nonlocal bad
        print("FAIL:", msg)
        bad += 1

    def fval(key):
        f = r.fields.get(key)
        if f is None:
            return None
        if f.types[0] == gguf.GGUFValueType.STRING:
            return bytes(f.parts[f.data[0]]).decode()
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            return [bytes(f.parts[i]).decode() for i in f.data]
        return int(f.parts[f.data[0]][0])

    if fval("general.type") != "imatrix":
        fail(f"general.type is {fval('general.type')!r}")
    if fval("imatrix.chunk_count") != n_chunks or fval("imatrix.chunk_size") != chunk:
        fail(f"chunk_count/size {fval('imatrix.chunk_count')}/{fval('imatrix.chunk_size')}, want {n_chunks}/{chunk}")
    if not isinstance(fval("imatrix.datasets"), list) or len(fval("imatrix.datasets")) != 1:
        fail(f"imatrix.datasets is {fval('imatrix.datasets')!r}")
    got = {t.name: t for t in r.tensors}
    for name in sorted(ref.sum2):
        s, c = got.get(name + ".in_sum2"), got.get(name + ".counts")
        if s is None or c is None:
            fail(f"{name}: missing in_sum2 or counts")
            continue
        if s.tensor_type != gguf.GGMLQuantizationType.F32 or c.tensor_type != gguf.GGMLQuantizationType.F32:
            fail(f"{name}: not f32")
        want = ref.sum2[name]
        gs = np.asarray(s.data, dtype=np.float64).reshape(-1)
        if list(s.shape) != [len(want)] or list(c.shape) != [1]:
            fail(f"{name}: shapes {list(s.shape)} {list(c.shape)}, want [{len(want)}] [1]")
            continue
        err = np.max(np.abs(gs - want)) / np.max(np.abs(want))
        if err > 1e-3:
            fail(f"{name}: in_sum2 differs from the reference by {err:.2e} of its largest element")
        if float(c.data[0]) != ref.count[name]:
            fail(f"{name}: counts {float(c.data[0])}, want {ref.count[name]}")
    extra = {t.name.rsplit(".", 1)[0] for t in r.tensors} - set(ref.sum2)
    if extra:
        fail(f"entries the reference has no matmul for: {sorted(extra)}")

    if len(argv) > 5:  # legacy .dat: i32 n; (i32 len, name, i32 ncall, i32 nval, f32[nval])*; i32 chunks; i32 len, name
        b = open(argv[5], "rb").read()
        (n,), o = struct.unpack_from("<i", b, 0), 4
        seen = set()
        for _ in range(n):
            (ln,) = struct.unpack_from("<i", b, o)
            name = b[o + 4:o + 4 + ln].decode()
            ncall, nval = struct.unpack_from("<ii", b, o + 4 + ln)
            o += 12 + ln
            v = np.frombuffer(b, dtype="<f4", count=nval, offset=o).astype(np.float64)
            o += 4 * nval
            seen.add(name)
            if name not in ref.sum2:
                fail(f"dat: unexpected entry {name}")
                continue
            want = ref.sum2[name] / ref.count[name]
            if ncall != -(-ref.count[name] // chunk):
                fail(f"dat {name}: ncall {ncall}, want {-(-ref.count[name] // chunk)}")
            err = np.max(np.abs(v / ncall - want)) / np.max(np.abs(want))
            if err > 1e-3:
                fail(f"dat {name}: values / ncall differ from the mean by {err:.2e}")
        (chunks,) = struct.unpack_from("<i", b, o)
        if chunks != n_chunks:
            fail(f"dat: chunk count {chunks}, want {n_chunks}")
        if seen != set(ref.sum2):
            fail(f"dat: entries {sorted(seen ^ set(ref.sum2))} differ")
    if bad:
        return 1
    print(f"imatrix: {len(ref.sum2)} weights over {n_chunks} chunks of {chunk} match the numpy reference")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
