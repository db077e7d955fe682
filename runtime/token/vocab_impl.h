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
};

uint64_t sl_vocab_hash(const char *s, size_t len);

#endif
