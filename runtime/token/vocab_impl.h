/* SPDX-License-Identifier: MIT */
/*
 * runtime/token/vocab_impl.h — the layout of struct sl_vocab, shared by
 * vocab.c (loading, lookup, pieces) and spm.c (tokenizing); nothing else
 * includes it.
 */
#ifndef SLUICE_TOKEN_VOCAB_IMPL_H
#define SLUICE_TOKEN_VOCAB_IMPL_H

#include "token/vocab.h"

struct sl_vocab_tok {
	size_t off;    /* into sl_vocab.text; the text is also NUL-terminated there */
	uint32_t len;
	float score;
	uint8_t type;  /* enum sl_tok_type */
};

struct sl_vocab {
	uint32_t n;
	struct sl_vocab_tok *toks;
	char *text;            /* every token's bytes, one arena */

	/* Open-addressing hash table from text to id (-1 = empty slot); a
	 * duplicate text maps to its last id, as llama.cpp's token_to_id does. */
	int32_t *table;
	uint32_t mask;

	int32_t bos, eos, unk, pad, eot, eom; /* -1 = none */
	bool add_bos, add_eos, add_space_prefix;

	/* byte_tok[b]: the token for byte b in byte fallback ("<0xXX>", else the
	 * one-byte text, else unk), or -1 when there is none at all. */
	int32_t byte_tok[256];

	/* Tokens matched in raw text before SPM (control, unknown, user-defined),
	 * longest text first, as llama.cpp's cache_special_tokens. */
	int32_t *special;
	uint32_t n_special;

	/* ---- tokenizer.ggml.model = "gpt2" (byte-level BPE, bpe.c) ---- */
	bool bpe;
	bool ignore_merges;    /* a pre-token that is a whole token skips merging (llama-bpe) */
	int n_re;
	void *re[8];           /* pcre2_code *: the pre-tokenizer regexes, applied in turn */
	char pre[32];          /* tokenizer.ggml.pre as read ("default" when absent) */
	/* Merges: rank r joins merge_text[m.off .. +l) and [m.off+l .. +r); a hash table of ranks. */
	struct sl_bpe_merge { size_t off; uint32_t l, r; } *merges;
	uint32_t n_merges;
	char *merge_text;
	int32_t *merge_table;  /* rank, -1 = empty */
	uint32_t merge_mask;
	/* The GPT-2 byte <-> unicode mapping: byte b is the UTF-8 of code point byte_cp[b]. */
	uint16_t byte_cp[256];
	int16_t cp_byte[512];  /* inverse for code points < 512, -1 = none */
};

/* spm.c: special tokens cut out of text, as llama.cpp's tokenizer_st_partition. */
struct frag {
	size_t off, len;
	int32_t tok; /* -1: raw text */
};
struct frags {
	struct frag *a;
	size_t n, cap;
};
int sl_vocab_partition(const struct sl_vocab *v, const char *text, size_t len, bool parse_special,
		       struct frags *out);

/* bpe.c */
int sl_bpe_load(const struct gguf_file *f, struct sl_vocab *v, struct sl_err *err);
void sl_bpe_free(struct sl_vocab *v);
int sl_bpe_tokenize(const struct sl_vocab *v, const char *text, size_t len, unsigned flags, int32_t *out,
		    size_t cap, size_t *n_out);
/* The bytes a normal BPE token stands for (its text through the byte mapping). */
int sl_bpe_piece(const struct sl_vocab *v, const char *s, size_t len, bool lstrip, char *buf, size_t cap,
		 size_t *n_out);

uint64_t sl_vocab_hash(const char *s, size_t len);

#endif
