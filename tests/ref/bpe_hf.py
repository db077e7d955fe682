#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/ref/bpe_hf.py OUTDIR — the independent side of test_tokenizer_bpe.

Trains a small byte-level BPE with Hugging Face `tokenizers` on a mixed-script
corpus, writes its vocabulary (tokens, token_type, merges, pre) into one GGUF
per pre-tokenizer type with the PyPI `gguf` package, then builds an HF
tokenizer from that GGUF's own vocab and merges with the pre-tokenizer of the
model family's tokenizer.json, and writes the ids it gives:

  OUTDIR/<pre>.gguf     the vocabulary
  OUTDIR/<pre>.expect   records "<byte length>\\n<text bytes>\\n<ids, space separated>\\n"

tests/ref/bpe_hf.py --expect MODEL.gguf OUT.expect — the same records for a model's
own vocabulary (sluice gen-model --arch qwen2 / --vocab bpe): the HF tokenizer is built
from MODEL's vocab, merges and tokenizer.ggml.pre.

Exit 77 when `tokenizers` or `gguf` is missing.
"""
import os
import random
import sys

try:
    import gguf
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from tokenizers import AddedToken
except ImportError as e:  # pragma: no cover
    print(f"skip: python package missing ({e})")
    sys.exit(77)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Pre-tokenizers as the models' own tokenizer.json files state them (the
# originals, with (?i:...), where llama.cpp has an adapted form), or as
# llama.cpp states them where there is no tokenizer.json ('default').
GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
PRE = {
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2_RE, r"\p{N}+", r"[0-9][0-9][0-9]"],
    "llama-bpe": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "qwen2": [r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
    "gpt-2": None,  # ByteLevel's own regex (use_regex=True)
    "deepseek-llm": ['[\r\n]', '\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+', '\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+', '\\s+$', '[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+', '\\p{N}+'],
    "deepseek-v3": ['\\p{N}{1,3}', '[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+', '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+'],
}

BASE = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "It's, they're, we've, I'm, you'll, he'd — IT'S THEY'RE WE'VE I'M YOU'LL HE'D",
    "你好，世界！我们今天学习中文。日本語のテキストとカタカナ、ひらがな。",
    "한국어 문장입니다. 안녕하세요!",
    "مرحبا بالعالم، هذا نص عربي للاختبار.",
    "नमस्ते दुनिया। यह हिंदी का एक वाक्य है।",
    "Emoji: 👨‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag, 😀😃😄 faces, ❤️ heart",
    "Numbers: 1 12 123 1234 12345 3.14159 2026-11-29 1,000,000 9876543210123456789",
    "def f(x):\n\tif x  >  0:\n\t\treturn x**2   # square\n\treturn -x\n\n\n",
    "    indented    with     runs   of spaces\t\t\ttabs\r\nand CRLF\r\n",
    "Ελληνικά κείμενα και Кириллица тоже, Ünïcödé ßtraße café naïve",
    "mixed中文and English混合text123数字",
    "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３！",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}} <html><body>&amp;</body></html>",
]

EXTRA = [
    "",
    " ",
    "   ",
    "\n",
    "\n\n\n",
    " \n ",
    "a",
    "  leading spaces",
    "trailing spaces   ",
    "x\u00a0y\u3000z",
    "'s's's",
    "don't stop",
    "1234567890123",
    "tab\tsep\tvalues\t\t",
    "👨‍👩‍👧",
    "<|im_start|>user\nHi there 你好<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text<|endoftext|>",
    "<|im_start|><|im_end|><|endoftext|>",
    "no special <|im_start but almost|>",
    "  <|im_end|>  spaces around  <|im_start|>  ",
]


def corpus_training():
    rnd = random.Random(11)
    out = list(BASE) * 20
    words = " ".join(BASE).split()
    for _ in range(400):
        out.append(" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 20))))
    # character soup of each script, so that merges cross scripts, digits and whitespace runs
    chars = "".join(BASE) + "\t\t    \n\n0123456789"
    for _ in range(1500):
        out.append("".join(rnd.choice(chars) for _ in range(rnd.randint(2, 12))))
    return out


def corpus_test():
    rnd = random.Random(1234)
    pieces = BASE + EXTRA + ["  ", "\t", "\n", "\r\n", " 42", "007", "👍", "‍", "。", "،", "।"] + SPECIALS
    out = BASE + EXTRA
    for _ in range(400):
        out.append("".join(rnd.choice(pieces)[: rnd.randint(1, 40)] for _ in range(rnd.randint(1, 6))))
    return out


def train():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=4000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=SPECIALS)
    tok.train_from_iterator(corpus_training(), trainer=trainer)
    import json
    model = json.loads(tok.to_str())["model"]
    vocab = model["vocab"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    return tokens, merges


def write_gguf(path, pre, tokens, merges):
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hf_from_gguf(path, pre):
    """The HF tokenizer built from what the GGUF file holds."""
    r = gguf.GGUFReader(path)

    def strs(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens = strs("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strs("tokenizer.ggml.merges")]
    types = r.fields["tokenizer.ggml.token_type"]
    types = [int(types.parts[i][0]) for i in types.data]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=(pre == "llama-bpe")))
    if PRE[pre] is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(rx), behavior="isolated") for rx in PRE[pre]]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    return tok


def write_expect(tok, texts, path):
    with open(path, "wb") as f:
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False).ids
            b = t.encode("utf-8")
            f.write(b"%d\n" % len(b) + b + b"\n" + " ".join(map(str, ids)).encode() + b"\n")


def expect_for_model(path, out):
    f = gguf.GGUFReader(path).fields["tokenizer.ggml.pre"]
    pre = bytes(f.parts[f.data[0]]).decode("utf-8")
    tok = hf_from_gguf(path, pre)
    texts = corpus_test()
    # the model family's own special tokens inside text, too
    specials = [t for t in tok.get_vocab() if t.startswith("<|") and t.endswith("|>")]
    rnd = random.Random(5)
    texts += ["".join(rnd.choice(specials + BASE + ["\n", " ", "hello world"])[: rnd.randint(1, 30)]
                      for _ in range(rnd.randint(1, 6))) for _ in range(100)]
    write_expect(tok, texts, out)
    print(f"{path}: pre {pre}, {len(texts)} texts")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--expect":
        expect_for_model(sys.argv[2], sys.argv[3])
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tokens, merges = train()
    texts = corpus_test()
    for pre in PRE:
        path = os.path.join(out, pre + ".gguf")
        write_gguf(path, pre, tokens, merges)
        tok = hf_from_gguf(path, pre)
        with open(os.path.join(out, pre + ".expect"), "wb") as f:
            for t in texts:
                ids = tok.encode(t, add_special_tokens=False).ids
                b = t.encode("utf-8")
                f.write(b"%d\n" % len(b) + b + b"\n" + " ".join(map(str, ids)).encode() + b"\n")
    print(f"{len(texts)} texts, {len(tokens)} tokens, {len(merges)} merges, pre: {' '.join(PRE)}")


if __name__ == "__main__":
    main()
