#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/quant/imatrix_edit.py IN.gguf OUT.gguf (--flat | --drop NAME)

Write a variant of an imatrix GGUF for tests, with the gguf package's writer:
  --flat       every weight's importance 1 (in_sum2 = counts): the matrix that changes
               nothing, so quantizing with it is the baseline of the weighted quantizers;
  --drop NAME  the same matrix without NAME's entry.
Exit 77 if gguf/numpy are missing.
"""
import sys

try:
    import numpy as np
    import gguf
except Exception as e:  # noqa: BLE001
    print(f"gguf python package unavailable: {e}")
    sys.exit(77)


def main(argv):
    if len(argv) < 4 or argv[3] not in ("--flat", "--drop") or (argv[3] == "--drop" and len(argv) != 5):
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    r = gguf.GGUFReader(argv[1])
    w = gguf.GGUFWriter(argv[2], "imatrix")
    w.add_string("general.type", "imatrix")
    for key in ("imatrix.chunk_count", "imatrix.chunk_size"):
        f = r.fields[key]
        w.add_uint32(key, int(f.parts[f.data[0]][0]))
    w.add_array("imatrix.datasets", ["edited"])
    t = {x.name: x for x in r.tensors}
    for name in sorted(t):
        if not name.endswith(".in_sum2"):
            continue
        base = name[: -len(".in_sum2")]
        if argv[3] == "--drop" and base == argv[4]:
            continue
        s2 = np.array(t[name].data, dtype=np.float32).reshape(-1)
        c = np.array(t[base + ".counts"].data, dtype=np.float32).reshape(-1)
        if argv[3] == "--flat":
            s2 = np.full_like(s2, c[0])
        w.add_tensor(name, s2)
        w.add_tensor(base + ".counts", c)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
