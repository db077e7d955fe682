/* SPDX-License-Identifier: MIT */
/*
 * runtime/token/bpe.c — GPT-2-style byte-level BPE (tokenizer.ggml.model =
 * "gpt2"), giving the ids llama.cpp's llm_tokenizer_bpe gives:
 *
 *   1. special-token partition, as for SPM (spm.c's sl_vocab_partition);
 *   2. each raw fragment, read as code points the way llama.cpp does (an
 *      invalid byte is U+FFFD, an overlong form its shortest form), is split by the pre-tokenizer regexes of
 *      tokenizer.ggml.pre, applied in turn: every regex cuts every piece into
 *      its matches and the gaps between them (PCRE2 with UTF + UCP, so \p{L},
 *      \p{N} and \s are Unicode's; no hand-written tables);
 *   3. each piece's bytes go through the GPT-2 byte -> code point mapping;
 *   4. the piece is split into characters; adjacent pairs found in the merge
 *      table go into a min-heap by merge rank (ties to the leftmost pair); the
 *      best pair is merged and its new neighbours pushed, until none is left;
 *   5. each final symbol is its token; a symbol that is no token gives the
 *      tokens of its single bytes where those exist (llama.cpp's fallback).
 *
 * With ignore_merges (llama-bpe), a piece that is a token as a whole is that
 * token.  Decoding maps a normal token's code points back to bytes.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "token/merge_heap.h"
#include "token/vocab_impl.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

/* ---- pre-tokenizer regexes: llama.cpp's (llama-vocab.cpp), by tokenizer.ggml.pre ---- */

#define RE_LLAMA3 \
	"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 \
	"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"

struct pre_type {
	const char *names[4];
	bool ignore_merges;
	bool add_bos; /* llama.cpp's default before tokenizer.ggml.add_bos_token */
	const char *re[6];
};

static const struct pre_type pre_types[] = {
	{ { "default" }, false, false,
	  { "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" } },
	{ { "llama-bpe", "llama3", "llama-v3" }, true, true, { RE_LLAMA3 } },
	{ { "qwen2", "deepseek-r1-qwen" }, false, false, { RE_QWEN2 } },
	{ { "gpt-2", "gpt2" }, false, false, { RE_GPT2 } },
	{ { "deepseek-llm" }, false, false,
	  { "[\r\n]",
	    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
	    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
	    "\\s+$",
	    "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
	    "\\p{N}+" } },
	{ { "deepseek-v3" }, false, false,
	  { "\\p{N}{1,3}",
	    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
	    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+" } },
};

/* ---- the merge table ---- */

static uint64_t pair_hash(const char *l, size_t ll, const char *r, size_t rl)
{
	uint64_t h = sl_vocab_hash(l, ll);
	h ^= 0xff;
	h *= 0x100000001b3ull;
	for (size_t i = 0; i < rl; i++) {
		h ^= (uint8_t)r[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The rank of merging l and r (adjacent in memory: r = l + ll), or -1. */
static int32_t find_rank(const struct sl_vocab *v, const char *l, uint32_t ll, uint32_t rl)
{
	uint32_t i = (uint32_t)pair_hash(l, ll, l + ll, rl) & v->merge_mask;
	for (;; i = (i + 1) & v->merge_mask) {
		int32_t k = v->merge_table[i];
		if (k < 0)
			return -1;
		const struct sl_bpe_merge *m = &v->merges[k];
		if (m->l == ll && m->r == rl && !memcmp(v->merge_text + m->off, l, (size_t)ll + rl))
			return k;
	}
}

static void merge_insert(struct sl_vocab *v, int32_t k)
{
	const struct sl_bpe_merge *m = &v->merges[k];
	const char *s = v->merge_text + m->off;
	uint32_t i = (uint32_t)pair_hash(s, m->l, s + m->l, m->r) & v->merge_mask;
	for (;; i = (i + 1) & v->merge_mask) {
		int32_t o = v->merge_table[i];
		if (o < 0) {
			v->merge_table[i] = k;
			return;
		}
		const struct sl_bpe_merge *q = &v->merges[o];
		if (q->l == m->l && q->r == m->r && !memcmp(v->merge_text + q->off, s, (size_t)m->l + m->r))
			return; /* a duplicate keeps its first (lowest) rank, as llama.cpp's emplace */
	}
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	o[0] = (char)(0xC0 | (cp >> 6));
	o[1] = (char)(0x80 | (cp & 0x3F));
	return 2; /* the byte mapping stays below U+0800 */
}

int sl_bpe_load(const struct gguf_file *f, struct sl_vocab *v, struct sl_err *err)
{
	/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256.. */
	int extra = 0;
	for (int i = 0; i < 512; i++)
		v->cp_byte[i] = -1;
	for (int b = 0; b < 256; b++) {
		bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
		v->byte_cp[b] = (uint16_t)(keep ? b : 256 + extra++);
		v->cp_byte[v->byte_cp[b]] = (int16_t)b;
	}

	const char *pre = "default";
	int rc = sl_gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);
	if (rc == -ENOENT)
		pre = "default";
	else if (rc)
		return rc;
	const struct pre_type *pt = NULL;
	for (size_t i = 0; i < SL_ARRAY_SIZE(pre_types) && !pt; i++)
		for (int j = 0; j < 4 && pre_types[i].names[j]; j++)
			if (!strcmp(pre, pre_types[i].names[j]))
				pt = &pre_types[i];
	if (!pt)
		return sl_errf(err, ENOTSUP,
			       "%s: pre-tokenizer '%s' is not supported (metadata 'tokenizer.ggml.pre'; known: default, llama-bpe, qwen2, gpt-2, deepseek-llm, deepseek-v3)",
			       f->path, pre);
	snprintf(v->pre, sizeof(v->pre), "%s", pre);
	v->ignore_merges = pt->ignore_merges;
	v->add_bos = pt->add_bos;
	for (int i = 0; i < 6 && pt->re[i]; i++) {
		int ec;
		PCRE2_SIZE eo;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)pt->re[i], PCRE2_ZERO_TERMINATED,
					       PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
					       &ec, &eo, NULL);
		if (!re) {
			PCRE2_UCHAR msg[160];
			pcre2_get_error_message(ec, msg, sizeof(msg));
			return sl_errf(err, EINVAL, "%s: pre-tokenizer '%s': regex %d does not compile: %s", f->path,
				       pre, i, (const char *)msg);
		}
		pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
		v->re[v->n_re++] = re;
	}

	uint64_t n;
	const void *data;
	rc = sl_gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &n, &data, err);
	if (rc == -ENOENT)
		return sl_errf(err, EINVAL, "%s: metadata 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs it)",
			       f->path);
	if (rc)
		return rc;
	if (n > INT32_MAX / 2)
		return sl_errf(err, EINVAL, "%s: metadata 'tokenizer.ggml.merges' has %llu entries", f->path,
			       (unsigned long long)n);
	const struct gguf_str *strs = data;
	size_t total = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (strs[i].len > UINT32_MAX / 2)
			return sl_errf(err, EINVAL, "%s: metadata 'tokenizer.ggml.merges': merge %llu is too long", f->path,
				       (unsigned long long)i);
		total += strs[i].len;
	}
	v->n_merges = (uint32_t)n;
	uint32_t size = 16;
	while (size < 2 * (uint64_t)n)
		size *= 2;
	v->merge_mask = size - 1;
	v->merges = malloc((n ? n : 1) * sizeof(*v->merges));
	v->merge_text = malloc(total + 1);
	v->merge_table = malloc((size_t)size * sizeof(*v->merge_table));
	if (!v->merges || !v->merge_text || !v->merge_table)
		return sl_errf(err, ENOMEM, "%s: out of memory for %llu merges", f->path, (unsigned long long)n);
	memset(v->merge_table, 0xff, (size_t)size * sizeof(*v->merge_table));
	size_t off = 0;
	for (uint32_t i = 0; i < v->n_merges; i++) {
		/* "first second", split at the first space after the first byte (llama.cpp's find(' ', 1));
		 * without one the merge is of two empty strings and never applies. */
		const char *s = strs[i].s;
		size_t len = strs[i].len;
		const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
		struct sl_bpe_merge *m = &v->merges[i];
		m->off = off;
		if (!sp) {
			m->l = m->r = 0;
		} else {
			m->l = (uint32_t)(sp - s);
			m->r = (uint32_t)(len - m->l - 1);
			memcpy(v->merge_text + off, s, m->l);
			memcpy(v->merge_text + off + m->l, sp + 1, m->r);
			off += (size_t)m->l + m->r;
		}
		merge_insert(v, (int32_t)i);
	}
	return 0;
}

void sl_bpe_free(struct sl_vocab *v)
{
	for (int i = 0; i < v->n_re; i++)
		pcre2_code_free(v->re[i]);
	free(v->merges);
	free(v->merge_text);
	free(v->merge_table);
}

/* ---- tokenizing ---- */

struct sym {
	uint32_t off, n; /* into the encoded word; n = 0 once merged into its left neighbour */
	int32_t prev, next;
};

struct work {
	char *enc;         /* the byte-encoded word (at most 2 bytes per input byte) */
	struct sym *syms;
	struct sl_bigram_heap heap;
	size_t cap;        /* bytes of input the buffers hold */
	pcre2_match_data *md;
};

static int add_bigram(const struct sl_vocab *v, struct work *w, int32_t left, int32_t right)
{
	if (left < 0 || right < 0)
		return 0;
	const struct sym *l = &w->syms[left], *r = &w->syms[right];
	int32_t rank = find_rank(v, w->enc + l->off, l->n, r->n);
	if (rank < 0)
		return 0;
	return sl_bigram_push(&w->heap, (struct sl_bigram){ left, right, rank, l->n + r->n });
}

/* One pre-tokenized word: byte-encode, merge, emit. */
static int bpe_word(const struct sl_vocab *v, struct work *w, const char *text, size_t len, struct sl_tok_out *e)
{
	if (len == 0)
		return 0;
	size_t m = 0;
	int32_t ns = 0;
	for (size_t i = 0; i < len; i++) {
		size_t k = put_utf8(w->enc + m, v->byte_cp[(uint8_t)text[i]]);
		w->syms[ns] = (struct sym){ (uint32_t)m, (uint32_t)k, ns - 1, ns + 1 };
		m += k;
		ns++;
	}
	w->syms[ns - 1].next = -1;

	if (v->ignore_merges) {
		int32_t id = sl_vocab_find(v, w->enc, m);
		if (id >= 0) {
			sl_tok_emit(e, id);
			return 0;
		}
	}
	w->heap.n = 0;
	int rc = 0;
	for (int32_t i = 1; i < ns && !rc; i++)
		rc = add_bigram(v, w, i - 1, i);
	while (!rc && w->heap.n) {
		struct sl_bigram b = sl_bigram_pop(&w->heap);
		struct sym *l = &w->syms[b.left], *r = &w->syms[b.right];
		/* Stale: one side was merged away or grew since the pair was pushed. */
		if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->syms[r->next].prev = b.left;
		rc = add_bigram(v, w, l->prev, b.left);
		if (!rc)
			rc = add_bigram(v, w, b.left, l->next);
	}
	if (rc)
		return rc;
	for (int32_t i = 0; i != -1; i = w->syms[i].next) {
		const struct sym *s = &w->syms[i];
		int32_t id = sl_vocab_find(v, w->enc + s->off, s->n);
		if (id >= 0) {
			sl_tok_emit(e, id);
			continue;
		}
		/* llama.cpp: each byte of the symbol's text as a one-byte token, where there is one. */
		for (uint32_t j = 0; j < s->n; j++) {
			int32_t bt = sl_vocab_find(v, w->enc + s->off + j, 1);
			if (bt >= 0)
				sl_tok_emit(e, bt);
		}
	}
	return 0;
}

/* Split [off, off+len) of text by regex k and on, then tokenize the words. */
static int split(const struct sl_vocab *v, struct work *w, int k, const char *text, size_t len, struct sl_tok_out *e)
{
	if (len == 0)
		return 0;
	if (k == v->n_re)
		return bpe_word(v, w, text, len, e);
	const pcre2_code *re = v->re[k];
	size_t at = 0, gap = 0;
	while (at <= len) {
		int n = pcre2_match(re, (PCRE2_SPTR)text, len, at, 0, w->md, NULL);
		if (n == PCRE2_ERROR_NOMATCH)
			break;
		if (n < 0)
			return -EINVAL;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
		size_t s = ov[0], t = ov[1];
		if (t == s) { /* an empty match: none of these regexes make one that matters */
			at = s + 1;
			continue;
		}
		int rc = split(v, w, k + 1, text + gap, s - gap, e);
		if (!rc)
			rc = split(v, w, k + 1, text + s, t - s, e);
		if (rc)
			return rc;
		gap = at = t;
	}
	return split(v, w, k + 1, text + gap, len - gap, e);
}

/*
 * llama.cpp's reading of the text as code points (unicode_cpts_from_utf8) and
 * back to UTF-8 (unicode_cpt_to_utf8): a lead byte with the continuation bytes
 * it announces is one code point, not checked further, so an overlong form
 * comes back in its shortest form ("\xc0\xb5" is "5") and a surrogate as it
 * is; any other byte is U+FFFD, and so is a code point past U+10FFFF (where
 * llama.cpp throws).  out needs 3 * n bytes; returns its length.
 */
static size_t fix_utf8(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		uint8_t c = (uint8_t)s[i];
		size_t k = c < 0x80 ? 1 : c < 0xC0 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 0;
		uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1Fu : k == 3 ? c & 0x0Fu : c & 0x07u;
		for (size_t j = 1; k && j < k; j++) {
			if (i + j >= n || ((uint8_t)s[i + j] & 0xC0) != 0x80)
				k = 0;
			else
				cp = cp << 6 | ((uint8_t)s[i + j] & 0x3Fu);
		}
		i += k ? k : 1;
		if (k == 0 || cp > 0x10FFFF)
			cp = 0xFFFD;
		if (cp < 0x80) {
			out[o++] = (char)cp;
		} else if (cp < 0x800) {
			out[o++] = (char)(0xC0 | cp >> 6);
			out[o++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out[o++] = (char)(0xE0 | cp >> 12);
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			out[o++] = (char)(0x80 | (cp & 0x3F));
		} else {
			out[o++] = (char)(0xF0 | cp >> 18);
			out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			out[o++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return o;
}

int sl_bpe_tokenize(const struct sl_vocab *v, const char *text, size_t len, unsigned flags, int32_t *out,
		    size_t cap, size_t *n_out)
{
	*n_out = 0;
	if ((!text && len) || len > (INT32_MAX - 3) / 6)
		return -EINVAL;
	struct sl_tok_out e = { out, out ? cap : 0, 0 };
	struct frags fr = { 0 };
	struct work w = { 0 };
	char *fixed = NULL;
	int rc = 0;

	if ((flags & SL_TOKENIZE_ADD_BOS) && v->bos >= 0)
		sl_tok_emit(&e, v->bos);
	if (len) {
		/* A fragment grows by at most 3x (invalid bytes -> U+FFFD) plus a space prefix;
		 * its byte encoding doubles that. */
		size_t most = 3 * len + 1;
		fixed = malloc(most);
		w.enc = malloc(2 * most);
		w.syms = malloc(most * sizeof(*w.syms));
		w.md = pcre2_match_data_create(4, NULL);
		if (!fixed || !w.enc || !w.syms || !w.md) {
			rc = -ENOMEM;
			goto out;
		}
		if ((rc = sl_vocab_partition(v, text, len, flags & SL_TOKENIZE_PARSE_SPECIAL, &fr)))
			goto out;
		for (size_t i = 0; i < fr.n; i++) {
			if (fr.a[i].tok >= 0) {
				sl_tok_emit(&e, fr.a[i].tok);
				continue;
			}
			size_t n = 0;
			/* tokenizer.ggml.add_space_prefix (which llama.cpp ignores for BPE): a space
			 * before the text's start. */
			if (i == 0 && v->add_space_prefix)
				fixed[n++] = ' ';
			n += fix_utf8(text + fr.a[i].off, fr.a[i].len, fixed + n);
			if ((rc = split(v, &w, 0, fixed, n, &e)))
				goto out;
		}
	}
	if ((flags & SL_TOKENIZE_ADD_EOS) && v->eos >= 0)
		sl_tok_emit(&e, v->eos);
	*n_out = e.n;
	rc = e.n > e.cap ? -ENOSPC : 0;
out:
	free(fixed);
	free(fr.a);
	free(w.enc);
	free(w.syms);
	free(w.heap.a);
	pcre2_match_data_free(w.md);
	return rc;
}

/* ---- decoding ---- */

int sl_bpe_piece(const struct sl_vocab *v, const char *s, size_t len, bool lstrip, char *buf, size_t cap,
		 size_t *n_out)
{
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		uint8_t c = (uint8_t)s[i];
		uint32_t cp;
		size_t k;
		if (c < 0x80) {
			cp = c;
			k = 1;
		} else if ((c & 0xE0) == 0xC0 && i + 1 < len) {
			cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
			k = 2;
		} else {
			cp = 0xFFFF;
			k = 1;
		}
		int b = cp < 512 ? v->cp_byte[cp] : -1;
		/* A code point outside the mapping: its bytes as stored (llama.cpp gives U+FFFD-ish text). */
		for (size_t j = 0; j < (b >= 0 ? 1 : k); j++) {
			char ch = b >= 0 ? (char)b : s[i + j];
			if (lstrip && o == 0 && ch == ' ') {
				lstrip = false;
				continue;
			}
			lstrip = false;
			if (o < cap)
				buf[o] = ch;
			o++;
		}
		i += k;
	}
	*n_out = o;
	return o > cap ? -ENOSPC : 0;
}
