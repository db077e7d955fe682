#!/usr/bin/env python3
"""Plot one token of a sluice trace as parallel lanes: reads, copies, compute, waits.

    scripts/trace_plot.py TRACE.json OUT.png [--token K]

TRACE.json is what `sluice run --trace` or `sluice profile --trace` writes (Chrome JSON).  The
plot covers the K-th decode token (default: the last one; 0 is the first): its time runs left to
right in milliseconds, and each lane is one kind of work, so what overlaps and what waits shows at
a glance:

  reads          each I/O request, submit to completion (several in flight overlap: drawn translucent)
  copy queue     host-to-device copies as the device ran them (GPU / asynchronous backends)
  compute queue  kernels as the device ran them (asynchronous backends)
  model: ops     the model thread's ops, coloured by op (on the CPU backend: the kernels themselves)
  model: io wait where the model thread waited for a weight that had not arrived

Dotted vertical lines mark where each layer's first op starts (labelled every few layers).
Needs matplotlib (scripts/deps.sh installs it).
"""
import argparse
import json
import sys


def spans(events):
    """Pair B/E per thread and b/e per (cat, name, id); yield (tid, cat, name, t0, t1, args)."""
    stacks, open_async = {}, {}
    for e in events:
        ph = e.get("ph")
        if ph == "B":
            stacks.setdefault(e["tid"], []).append(e)
        elif ph == "E":
            st = stacks.get(e["tid"])
            if st:
                b = st.pop()
                yield e["tid"], b.get("cat"), b.get("name"), b["ts"], e["ts"], b.get("args", {})
        elif ph == "b":
            open_async[(e.get("cat"), e.get("name"), e.get("id"))] = e
        elif ph == "e":
            b = open_async.pop((e.get("cat"), e.get("name"), e.get("id")), None)
            if b:
                yield b["tid"], b.get("cat"), b.get("name"), b["ts"], e["ts"], b.get("args", {})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--token", type=int, default=-1, help="which decode token (default: the last)")
    a = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("trace_plot.py: needs matplotlib (pip install matplotlib, or scripts/deps.sh)")
    try:
        with open(a.trace) as f:
            events = json.load(f)["traceEvents"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit("trace_plot.py: %s: not a sluice trace: %s" % (a.trace, e))
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
    events = sorted((e for e in events if e.get("ph") != "M"), key=lambda e: e["ts"])
    all_spans = list(spans(events))
    tokens = [s for s in all_spans if s[1] == "token" and s[2] == "token"]
    if not tokens:
        sys.exit("trace_plot.py: %s has no decode token spans (decode at least one token with tracing on)" % a.trace)
    try:
        tok = tokens[a.token]
    except IndexError:
        sys.exit("trace_plot.py: --token %d: the trace has %d decode tokens" % (a.token, len(tokens)))
    t0, t1 = tok[3], tok[4]
    model_tid = tok[0]

    lanes = ["reads", "copy queue", "compute queue", "model: ops", "model: io wait"]
    colours = {"matmul": "#1f77b4", "attention": "#d62728", "rmsnorm": "#2ca02c", "rope": "#9467bd",
               "silu_mul": "#8c564b", "add": "#e377c2", "get_rows": "#7f7f7f", "sync": "#bcbd22"}
    bars = {l: [] for l in lanes}
    layer_starts = {}
    for tid, cat, name, b, e, args in all_spans:
        if e < t0 or b > t1:
            continue
        b, e = max(b, t0), min(e, t1)
        x, w = (b - t0) / 1e3, max((e - b) / 1e3, 1e-4)
        if cat == "io" and name == "read":
            bars["reads"].append((x, w, "#ff7f0e", 0.35))
        elif cat == "device" and name == "copy queue job":
            bars["copy queue"].append((x, w, "#17becf", 0.8))
        elif cat == "device" and name == "compute queue job":
            bars["compute queue"].append((x, w, "#1f77b4", 0.8))
        elif tid == model_tid and cat == "compute":
            bars["model: ops"].append((x, w, colours.get(name, "#333333"), 0.9))
            layer = args.get("layer")
            if isinstance(layer, int) and layer >= 0 and layer not in layer_starts:
                layer_starts[layer] = x
        elif tid == model_tid and cat == "cache" and name == "io wait":
            bars["model: io wait"].append((x, w, "#d62728", 0.8))
    used = [l for l in lanes if bars[l]]
    fig, ax = plt.subplots(figsize=(14, 1.0 + 0.6 * len(used)))
    for i, lane in enumerate(used):
        for x, w, c, alpha in bars[lane]:
            ax.broken_barh([(x, w)], (i - 0.4, 0.8), facecolors=c, alpha=alpha, linewidth=0)
    span_ms = (t1 - t0) / 1e3
    step = max(1, len(layer_starts) // 12)
    for layer, x in sorted(layer_starts.items()):
        ax.axvline(x, color="#999999", linestyle=":", linewidth=0.6)
        if layer % step == 0:
            ax.text(x, len(used) - 0.45, "L%d" % layer, fontsize=7, color="#555555")
    ax.set_yticks(range(len(used)))
    ax.set_yticklabels(used)
    ax.set_ylim(-0.6, len(used) - 0.1)
    ax.invert_yaxis()
    ax.set_xlim(0, span_ms)
    ax.set_xlabel("ms into the token")
    threads = ", ".join(sorted(set(names.values())))
    ax.set_title("sluice: token %d of %d, %.2f ms (tracks: %s)" % (tokens.index(tok), len(tokens), span_ms, threads),
                 fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, list(colours), loc="upper right", fontsize=7, ncol=4, bbox_to_anchor=(1.0, -0.25))
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print("%s: token %d, %.2f ms, %s" % (a.out, tokens.index(tok), span_ms,
                                         ", ".join("%s %d" % (l, len(bars[l])) for l in used)))


if __name__ == "__main__":
    main()
