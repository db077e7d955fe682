/* SPDX-License-Identifier: MIT */
/*
 * runtime/token/vocab.c — loading a "llama" (SentencePiece) vocabulary from
 * GGUF metadata, the text→id hash table, and token → bytes.
 *
 * Everything the tokenizer needs is copied out of the gguf_file into one
 * allocation of text plus a table of ids, so the vocab outlives the file and
 * lookups touch little memory.  Load is a single pass over the tokens plus a
 * hash insert each: a 32000-token vocab loads in about a millisecond.
 */
#include "token/vocab_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"

/* FNV-1a, 64-bit: short strings, no alignment needs, good enough spread. */
uint64_t sl_vocab_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int32_t sl_vocab_find(const struct sl_vocab *v, const char *s, size_t len)
{
	uint32_t i = (uint32_t)sl_vocab_hash(s, len) & v->mask;
	for (;; i = (i + 1) & v->mask) {
		int32_t id = v->table[i];
		if (id < 0)
			return -1;
		const struct sl_vocab_tok *t = &v->toks[id];
		if (t->len == len && !memcmp(v->text + t->off, s, len))
			return id;
	}
}

static void table_insert(struct sl_vocab *v, int32_t id)
{
	const struct sl_vocab_tok *t = &v->toks[id];
	const char *s = v->text + t->off;
	uint32_t i = (uint32_t)sl_vocab_hash(s, t->len) & v->mask;
	for (;; i = (i + 1) & v->mask) {
		int32_t o = v->table[i];
		if (o < 0 || (v->toks[o].len == t->len && !memcmp(v->text + v->toks[o].off, s, t->len))) {
			v->table[i] = id; /* a later duplicate wins, like llama.cpp */
			return;
		}
	}
}

/*
 * A token-id key: absent gives def (or none when def is not a valid id);
 * 0xFFFFFFFF, UINT64_MAX or a negative signed value mean "none"; any other
 * value must be a valid id.
 */
static int read_id(const struct gguf_file *f, const char *key, int32_t def, uint32_t n, int32_t *out,
		   struct sl_err *err)
{
	const struct gguf_kv *kv = sl_gguf_find_kv(f, key);
	if (!kv) {
		*out = (def >= 0 && (uint32_t)def < n) ? def : -1;
		return 0;
	}
	int64_t id;
	switch (kv->val.type) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
		if (kv->val.u64 == UINT32_MAX || kv->val.u64 == UINT64_MAX) {
			*out = -1;
			return 0;
		}
		if (kv->val.u64 >= n)
			return sl_errf(err, EINVAL, "%s: metadata '%s' = %llu is not a token id (vocabulary has %u tokens)",
				       f->path, key, (unsigned long long)kv->val.u64, n);
		id = (int64_t)kv->val.u64;
		break;
	case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
		if (kv->val.i64 < 0) {
			*out = -1;
			return 0;
		}
		if (kv->val.i64 >= (int64_t)n)
			return sl_errf(err, EINVAL, "%s: metadata '%s' = %lld is not a token id (vocabulary has %u tokens)",
				       f->path, key, (long long)kv->val.i64, n);
		id = kv->val.i64;
		break;
	default:
		return sl_errf(err, EINVAL, "%s: metadata '%s' has type %s, expected an integer token id", f->path,
			       key, sl_gguf_vtype_name(kv->val.type));
	}
	*out = (int32_t)id;
	return 0;
}

static int read_flag(const struct gguf_file *f, const char *key, bool def, bool *out, struct sl_err *err)
{
	int rc = sl_gguf_get_bool(f, key, out, err);
	if (rc == -ENOENT) {
		*out = def;
		return 0;
	}
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "<0xAB>" -> 0xAB, else -1. */
static int byte_of_text(const char *s, size_t len)
{
	if (len != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
		return -1;
	int hi = hexval(s[3]), lo = hexval(s[4]);
	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int cmp_special(const void *a, const void *b, void *arg)
{
	const struct sl_vocab *v = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	if (v->toks[x].len != v->toks[y].len)
		return v->toks[x].len > v->toks[y].len ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Tokens, scores and types into v (v->n set by the caller). */
static int load_tokens(const struct gguf_file *f, struct sl_vocab *v, const struct gguf_str *strs,
		       struct sl_err *err)
{
	uint64_t n_scores = 0, n_types = 0;
	const void *scores = NULL, *types = NULL;
	int rc = sl_gguf_get_arr(f, KEY_SCORES, GGUF_TYPE_FLOAT32, &n_scores, &scores, err);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && n_scores != v->n)
		return sl_errf(err, EINVAL, "%s: metadata '%s' has %llu entries, expected %u (one per token)", f->path,
			       KEY_SCORES, (unsigned long long)n_scores, v->n);
	rc = sl_gguf_get_arr(f, KEY_TYPES, GGUF_TYPE_INT32, &n_types, &types, err);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && n_types != v->n)
		return sl_errf(err, EINVAL, "%s: metadata '%s' has %llu entries, expected %u (one per token)", f->path,
			       KEY_TYPES, (unsigned long long)n_types, v->n);

	size_t total = 0;
	for (uint32_t i = 0; i < v->n; i++) {
		if (strs[i].len > UINT32_MAX / 2)
			return sl_errf(err, EINVAL, "%s: metadata '%s': token %u is %llu bytes long", f->path,
				       KEY_TOKENS, i, (unsigned long long)strs[i].len);
		total += strs[i].len + 1;
	}
	v->toks = calloc(v->n, sizeof(*v->toks));
	v->text = malloc(total);
	if (!v->toks || !v->text)
		return sl_errf(err, ENOMEM, "%s: out of memory for a %u-token vocabulary", f->path, v->n);

	size_t off = 0;
	for (uint32_t i = 0; i < v->n; i++) {
		struct sl_vocab_tok *t = &v->toks[i];
		t->off = off;
		t->len = (uint32_t)strs[i].len;
		memcpy(v->text + off, strs[i].s, t->len);
		v->text[off + t->len] = 0;
		off += t->len + 1;
		if (scores) {
			float s;
			memcpy(&s, (const char *)scores + 4 * (size_t)i, 4);
			if (isnan(s))
				return sl_errf(err, EINVAL, "%s: metadata '%s': score of token %u is NaN", f->path,
					       KEY_SCORES, i);
			t->score = s;
		}
		int32_t ty = SL_TOK_NORMAL;
		if (types)
			memcpy(&ty, (const char *)types + 4 * (size_t)i, 4);
		if (ty < SL_TOK_UNDEFINED || ty > SL_TOK_BYTE)
			return sl_errf(err, EINVAL, "%s: metadata '%s': token %u has type %d (expected 0..6)", f->path,
				       KEY_TYPES, i, ty);
		if (ty == SL_TOK_BYTE && byte_of_text(v->text + t->off, t->len) < 0)
			return sl_errf(err, EINVAL, "%s: metadata '%s': token %u is a byte token but its text is not <0xXX>",
				       f->path, KEY_TOKENS, i);
		t->type = (uint8_t)ty;
	}
	return 0;
}

static int build_tables(const struct gguf_file *f, struct sl_vocab *v, struct sl_err *err)
{
	uint32_t size = 16;
	while (size < 2 * (uint64_t)v->n)
		size *= 2;
	v->mask = size - 1;
	v->table = malloc((size_t)size * sizeof(*v->table));
	v->special = malloc((size_t)v->n * sizeof(*v->special));
	if (!v->table || !v->special)
		return sl_errf(err, ENOMEM, "%s: out of memory for a %u-token vocabulary", f->path, v->n);
	memset(v->table, 0xff, (size_t)size * sizeof(*v->table));
	for (uint32_t i = 0; i < v->n; i++) {
		table_insert(v, (int32_t)i);
		uint8_t ty = v->toks[i].type;
		if ((ty == SL_TOK_CONTROL || ty == SL_TOK_UNKNOWN || ty == SL_TOK_USER_DEFINED) && v->toks[i].len)
			v->special[v->n_special++] = (int32_t)i;
	}
	qsort_r(v->special, v->n_special, sizeof(*v->special), cmp_special, v);

	for (int b = 0; b < 256; b++) {
		static const char hex[] = "0123456789ABCDEF";
		char s[7] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0 };
		char c = (char)b;
		int32_t id = sl_vocab_find(v, s, 6);
		if (id < 0)
			id = sl_vocab_find(v, &c, 1);
		v->byte_tok[b] = id >= 0 ? id : v->unk;
	}
	return 0;
}

int sl_vocab_load(const struct gguf_file *f, struct sl_vocab **out, struct sl_err *err)
{
	*out = NULL;
	const char *model;
	int rc = sl_gguf_get_str(f, KEY_MODEL, &model, err);
	if (rc == -ENOENT)
		return sl_errf(err, ENOENT, "%s: no tokenizer (metadata '%s' is missing)", f->path, KEY_MODEL);
	if (rc)
		return rc;
	bool bpe = !strcmp(model, "gpt2");
	if (strcmp(model, "llama") != 0 && !bpe)
		return sl_errf(err, ENOTSUP, "%s: tokenizer model '%s' is not supported (metadata '%s'; 'llama' and 'gpt2' are)",
			       f->path, model, KEY_MODEL);

	uint64_t n;
	const void *data;
	rc = sl_gguf_get_arr(f, KEY_TOKENS, GGUF_TYPE_STRING, &n, &data, err);
	if (rc == -ENOENT)
		return sl_errf(err, EINVAL, "%s: metadata '%s' is missing", f->path, KEY_TOKENS);
	if (rc)
		return rc;
	if (n == 0 || n > INT32_MAX)
		return sl_errf(err, EINVAL, "%s: metadata '%s' has %llu tokens (expected 1..%d)", f->path, KEY_TOKENS,
			       (unsigned long long)n, INT32_MAX);

	struct sl_vocab *v = calloc(1, sizeof(*v));
	if (!v)
		return sl_errf(err, ENOMEM, "%s: out of memory", f->path);
	v->n = (uint32_t)n;
	v->unk = -1;
	v->bpe = bpe;
	if ((rc = load_tokens(f, v, data, err)))
		goto fail;
	if (bpe && (rc = sl_bpe_load(f, v, err))) /* sets add_bos's default by tokenizer.ggml.pre */
		goto fail;
	/* Defaults are llama.cpp's: SPM bos 1, eos 2, unk 0; BPE bos = eos = 11, no unk. */
	if ((rc = read_id(f, "tokenizer.ggml.bos_token_id", bpe ? 11 : 1, v->n, &v->bos, err)) ||
	    (rc = read_id(f, "tokenizer.ggml.eos_token_id", bpe ? 11 : 2, v->n, &v->eos, err)) ||
	    (rc = read_id(f, "tokenizer.ggml.unknown_token_id", bpe ? -1 : 0, v->n, &v->unk, err)) ||
	    (rc = read_id(f, "tokenizer.ggml.padding_token_id", -1, v->n, &v->pad, err)) ||
	    (rc = read_id(f, "tokenizer.ggml.eot_token_id", -1, v->n, &v->eot, err)) ||
	    (rc = read_id(f, "tokenizer.ggml.eom_token_id", -1, v->n, &v->eom, err)) ||
	    (rc = read_flag(f, "tokenizer.ggml.add_bos_token", bpe ? v->add_bos : true, &v->add_bos, err)) ||
	    (rc = read_flag(f, "tokenizer.ggml.add_eos_token", false, &v->add_eos, err)) ||
	    (rc = read_flag(f, "tokenizer.ggml.add_space_prefix", !bpe, &v->add_space_prefix, err)))
		goto fail;
	if ((rc = build_tables(f, v, err)))
		goto fail;
	/* As llama.cpp: without eot/eom ids, the tokens that end a turn in the chat formats
	 * are found by their text (a Llama-3 instruct file whose eos is <|end_of_text|> still
	 * ends a reply at <|eot_id|>). */
	static const char *const eot_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
						 "<EOT>", "_<EOT>", ("<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>") };
	for (size_t i = 0; i < SL_ARRAY_SIZE(eot_texts) && v->eot < 0; i++)
		v->eot = sl_vocab_find(v, eot_texts[i], strlen(eot_texts[i]));
	if (v->eom < 0)
		v->eom = sl_vocab_find(v, "<|eom_id|>", 10);
	*out = v;
	return 0;
fail:
	sl_vocab_free(v);
	return rc;
}

void sl_vocab_free(struct sl_vocab *v)
{
	if (!v)
		return;
	if (v->bpe)
		sl_bpe_free(v);
	free(v->toks);
	free(v->text);
	free(v->table);
	free(v->special);
	free(v);
}

uint32_t sl_vocab_size(const struct sl_vocab *v) { return v->n; }
int32_t sl_vocab_bos(const struct sl_vocab *v) { return v->bos; }
int32_t sl_vocab_eos(const struct sl_vocab *v) { return v->eos; }
int32_t sl_vocab_unk(const struct sl_vocab *v) { return v->unk; }
bool sl_vocab_add_bos(const struct sl_vocab *v) { return v->add_bos; }
bool sl_vocab_add_eos(const struct sl_vocab *v) { return v->add_eos; }
bool sl_vocab_add_space_prefix(const struct sl_vocab *v) { return v->add_space_prefix; }

bool sl_vocab_is_eog(const struct sl_vocab *v, int32_t tok)
{
	return tok >= 0 && (tok == v->eos || tok == v->eot || tok == v->eom);
}

static bool in_range(const struct sl_vocab *v, int32_t tok)
{
	return tok >= 0 && (uint32_t)tok < v->n;
}

int sl_vocab_type(const struct sl_vocab *v, int32_t tok)
{
	return in_range(v, tok) ? v->toks[tok].type : SL_TOK_UNDEFINED;
}

const char *sl_vocab_text(const struct sl_vocab *v, int32_t tok, size_t *len)
{
	if (!in_range(v, tok))
		return NULL;
	if (len)
		*len = v->toks[tok].len;
	return v->text + v->toks[tok].off;
}

float sl_vocab_score(const struct sl_vocab *v, int32_t tok)
{
	return in_range(v, tok) ? v->toks[tok].score : 0.0f;
}

/* ---- token -> bytes ---- */

static int put(const char *src, size_t len, bool lstrip, char *buf, size_t cap, size_t *n_out)
{
	if (lstrip && len && src[0] == ' ') {
		src++;
		len--;
	}
	*n_out = len;
	if (len > cap)
		return -ENOSPC;
	if (len)
		memcpy(buf, src, len);
	return 0;
}

/*
 * Pieces follow llama.cpp's token_to_piece with special = false: control and
 * unknown tokens print nothing, normal tokens turn U+2581 into spaces,
 * user-defined tokens print their text as it is, byte tokens their byte.
 */
int sl_token_to_piece_ex(const struct sl_vocab *v, int32_t tok, bool lstrip, char *buf, size_t cap,
			 size_t *n_out)
{
	*n_out = 0;
	if (!in_range(v, tok))
		return -EINVAL;
	const struct sl_vocab_tok *t = &v->toks[tok];
	const char *s = v->text + t->off;
	switch (t->type) {
	case SL_TOK_USER_DEFINED:
		return put(s, t->len, lstrip, buf, cap, n_out);
	case SL_TOK_BYTE: {
		char c = (char)byte_of_text(s, t->len);
		return put(&c, 1, lstrip, buf, cap, n_out);
	}
	case SL_TOK_NORMAL: {
		if (v->bpe)
			return sl_bpe_piece(v, s, t->len, lstrip, buf, cap, n_out);
		/* Unescape in one pass, counting all bytes even past cap. */
		size_t o = 0, i = 0;
		if (lstrip) {
			if (t->len >= 3 && !memcmp(s, "\xe2\x96\x81", 3))
				i = 3;
			else if (t->len && s[0] == ' ')
				i = 1;
		}
		while (i < t->len) {
			char c;
			if (i + 3 <= t->len && !memcmp(s + i, "\xe2\x96\x81", 3)) {
				c = ' ';
				i += 3;
			} else {
				c = s[i++];
			}
			if (o < cap)
				buf[o] = c;
			o++;
		}
		*n_out = o;
		return o > cap ? -ENOSPC : 0;
	}
	default: /* control, unknown, unused, undefined */
		return 0;
	}
}

int sl_token_to_piece(const struct sl_vocab *v, int32_t tok, char *buf, size_t cap, size_t *n_out)
{
	return sl_token_to_piece_ex(v, tok, false, buf, cap, n_out);
}

/* Tokens that stand for text of the input (as opposed to BOS/EOS & co.). */
static bool is_text(int ty)
{
	return ty == SL_TOK_NORMAL || ty == SL_TOK_USER_DEFINED || ty == SL_TOK_BYTE;
}

/*
 * The dummy prefix is part of the first text token (it may be that token's
 * only byte: "▁" alone), so the first text token loses a leading space and
 * clears the flag even when nothing of it is left to print.
 */
int sl_token_to_piece_stream(const struct sl_vocab *v, int32_t tok, bool *first_text, char *buf, size_t cap,
			     size_t *n_out)
{
	*n_out = 0;
	if (!in_range(v, tok))
		return -EINVAL;
	bool text = is_text(v->toks[tok].type);
	int rc = sl_token_to_piece_ex(v, tok, *first_text && text && v->add_space_prefix, buf, cap, n_out);
	if (text)
		*first_text = false;
	return rc;
}

int sl_detokenize(const struct sl_vocab *v, const int32_t *toks, size_t n, char *buf, size_t cap,
		  size_t *n_out)
{
	size_t total = 0;
	bool first = true;
	*n_out = 0;
	for (size_t i = 0; i < n; i++) {
		size_t got;
		bool room = total < cap;
		int rc = sl_token_to_piece_stream(v, toks[i], &first, room ? buf + total : NULL,
						  room ? cap - total : 0, &got);
		if (rc == -EINVAL)
			return rc;
		total += got; /* on -ENOSPC got is what the piece needs: keep counting */
	}
	*n_out = total;
	return total > cap ? -ENOSPC : 0;
}

/* ---- streaming without half characters ---- */

void sl_detok_stream_init(struct sl_detok_stream *st)
{
	memset(st, 0, sizeof(*st));
	st->first_text = true;
}

/* How many bytes at the end of s[0..n) are an incomplete UTF-8 character. */
static size_t incomplete_tail(const char *s, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		uint8_t c = (uint8_t)s[n - back];
		if ((c & 0xC0) == 0x80)
			continue; /* a continuation byte: look further back for its lead */
		size_t want = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
		return want > back ? back : 0;
	}
	return 0;
}

int sl_detok_stream_push(const struct sl_vocab *v, struct sl_detok_stream *st, int32_t tok, char *buf, size_t cap,
			 size_t *n_out)
{
	*n_out = 0;
	bool first = st->first_text;
	size_t np = st->n_pend, m;
	int rc = sl_token_to_piece_stream(v, tok, &first, cap > np ? buf + np : NULL, cap > np ? cap - np : 0, &m);
	if (rc == -EINVAL)
		return rc;
	if (rc || np + m > cap) {
		*n_out = np + m;
		return -ENOSPC;
	}
	st->first_text = first;
	if (np)
		memcpy(buf, st->pend, np);
	size_t total = np + m, hold = incomplete_tail(buf, total);
	memcpy(st->pend, buf + total - hold, hold);
	st->n_pend = (uint8_t)hold;
	*n_out = total - hold;
	return 0;
}

int sl_detok_stream_flush(struct sl_detok_stream *st, char *buf, size_t cap, size_t *n_out)
{
	*n_out = st->n_pend;
	if (st->n_pend > cap)
		return -ENOSPC;
	memcpy(buf, st->pend, st->n_pend);
	st->n_pend = 0;
	return 0;
}
