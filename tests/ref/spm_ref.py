#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/spm_ref.py — an independent reference for the "llama" (SPM) tokenizer.

It reads the vocabulary of a GGUF file with the PyPI `gguf` package and encodes
text the slow, obvious way: after the dummy prefix and the space escape, split
into UTF-8 characters, then repeatedly merge the adjacent pair whose
concatenation is the highest-scoring token (leftmost on ties) — a full rescan per
merge, O(n^2), no heap, no stale entries — then byte fallback.  That is the
result llama.cpp's priority-queue version computes, written differently, so
comparing the two checks runtime/token/spm.c.

With --sentencepiece it instead builds a SentencePiece BPE model from the same
vocabulary (pieces, scores, types, byte fallback, identity normalizer, dummy
prefix, no whitespace folding: Llama's tokenizer.model settings) and encodes
with the real `sentencepiece` library: a check of this reference itself.  Only
for valid UTF-8 (SentencePiece replaces invalid bytes with U+FFFD).

Special-token partition (user-defined tokens) is not modelled: the Llama-2 and
stories vocabularies have none.

Usage: spm_ref.py MODEL.gguf [--bos] [--sentencepiece] [--decode]
  stdin: one input per line, as hex of its bytes ("" = empty input)
  stdout: one line per input, the token ids separated by spaces
  --decode: stdin lines are token ids, stdout lines the hex of the text
"""
import sys


def load_vocab(path):
    import gguf  # PyPI package 'gguf'

    r = gguf.GGUFReader(path)

    def field(name):
        return r.fields.get(name)

    def scalar(name, default):
        f = field(name)
        if f is None:
            return default
        return f.parts[f.data[0]][0].item()

    model = field("tokenizer.ggml.model")
    if model is None or bytes(model.parts[model.data[0]]) != b"llama":
        sys.exit("spm_ref: not a 'llama' tokenizer")
    toks = field("tokenizer.ggml.tokens")
    texts = [bytes(toks.parts[i]) for i in toks.data]
    sf = field("tokenizer.ggml.scores")
    scores = [float(sf.parts[i][0]) for i in sf.data] if sf else [0.0] * len(texts)
    tf = field("tokenizer.ggml.token_type")
    types = [int(tf.parts[i][0]) for i in tf.data] if tf else [1] * len(texts)
    return {
        "texts": texts,
        "scores": scores,
        "types": types,
        "ids": {t: i for i, t in enumerate(texts)},  # later duplicates win
        "bos": scalar("tokenizer.ggml.bos_token_id", 1),
        "unk": scalar("tokenizer.ggml.unknown_token_id", 0),
        "prefix": bool(scalar("tokenizer.ggml.add_space_prefix", True)),
    }


def utf8_chars(b):
    """Split by the lead byte's high nibble, like llama.cpp (not a validating decoder)."""
    lens = [1] * 12 + [2, 2, 3, 4]
    out, i = [], 0
    while i < len(b):
        n = min(lens[b[i] >> 4], len(b) - i)
        out.append(b[i:i + n])
        i += n
    return out


def encode(v, data, bos):
    out = [v["bos"]] if bos else []
    if not data:
        return out
    text = ((b" " if v["prefix"] else b"") + data).replace(b" ", "\u2581".encode())
    syms = utf8_chars(text)
    ids, scores = v["ids"], v["scores"]
    while True:
        best = None
        for i in range(len(syms) - 1):
            t = ids.get(syms[i] + syms[i + 1])
            if t is not None and (best is None or scores[t] > best[0]):
                best = (scores[t], i)
        if best is None:
            break
        i = best[1]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    for s in syms:
        t = ids.get(s)
        if t is not None:
            out.append(t)
            continue
        for byte in s:
            t = ids.get(b"<0x%02X>" % byte)
            if t is None:
                t = ids.get(bytes([byte]), v["unk"])
            out.append(t)
    return out


def decode(v, toks):
    """Pieces concatenated; the first text token loses the dummy-prefix space."""
    out, first = b"", True
    for t in toks:
        ty, s = v["types"][t], v["texts"][t]
        if ty == 6:
            piece = bytes([int(s[3:5], 16)])
        elif ty == 1:
            piece = s.replace("\u2581".encode(), b" ")
        elif ty == 4:
            piece = s
        else:
            continue
        if first and v["prefix"] and piece.startswith(b" "):
            piece = piece[1:]
        first = False
        out += piece
    return out


def sentencepiece_encoder(v):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(v["texts"])
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.unk_id = v["unk"]
    m.trainer_spec.bos_id = v["bos"]
    m.trainer_spec.eos_id = 2
    m.trainer_spec.pad_id = -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = v["prefix"]
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    for t, s, ty in zip(v["texts"], v["scores"], v["types"]):
        p = m.pieces.add()
        p.piece = t.decode("utf-8")
        p.score = s
        p.type = ty
    sp = spm.SentencePieceProcessor(model_proto=m.SerializeToString())
    return lambda data, bos: ([v["bos"]] if bos else []) + sp.encode(data.decode("utf-8"))


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    v = load_vocab(args[0])
    bos = "--bos" in args
    if "--decode" in args:
        for line in sys.stdin:
            toks = [int(x) for x in line.split()]
            print(decode(v, toks).hex(), flush=True)
        return
    enc = sentencepiece_encoder(v) if "--sentencepiece" in args else (lambda d, b: encode(v, d, b))
    for line in sys.stdin:
        data = bytes.fromhex(line.strip())
        print(" ".join(str(t) for t in enc(data, bos)), flush=True)


if __name__ == "__main__":
    main()
