#!/usr/bin/env bash
# tests/quant/test_iq_tables.sh — runtime/quant/iq_tables.c is what
# scripts/gen_iq_tables.py makes from the gguf package's published grids
# (so the committed tables are the format's, not hand edits).
set -u
cd "$(dirname "$0")/../.."
command -v python3 >/dev/null || { echo "python3 not found"; exit 77; }
python3 -c 'import gguf.quants, numpy' 2>/dev/null || { echo "gguf python package not installed"; exit 77; }
TMP=${SLUICE_TMP:-$(mktemp -d)}
python3 scripts/gen_iq_tables.py "$TMP/iq_tables.c" || { echo "FAIL: gen_iq_tables.py"; exit 1; }
if ! cmp -s "$TMP/iq_tables.c" runtime/quant/iq_tables.c; then
    echo "FAIL: runtime/quant/iq_tables.c differs from a fresh scripts/gen_iq_tables.py run:"
    diff "$TMP/iq_tables.c" runtime/quant/iq_tables.c | head -20
    exit 1
fi
echo "iq_tables.c matches the generator"
