/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_tokenizer_synth.c — the SPM tokenizer on small vocabularies
 * written here with the GGUF writer: merge order and tie-breaking, byte and
 * unk fallback, user-defined and special tokens, flags, and every kind of
 * malformed vocabulary (each must be an error that names the key).  Needs no
 * model files, so it never skips.
 */
#include "helpers/testutil.h"
#include "gguf.h"
#include "token/vocab.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define SP "\xe2\x96\x81"

/* A vocabulary under construction; fields set to NULL/0 are left out of the file. */
struct spec {
	const char *model;
	const char *const *tokens;
	size_t n_tokens;
	const float *scores;
	size_t n_scores;
	const int32_t *types;
	size_t n_types;
	void (*extra)(struct gguf_writer *w); /* more keys */
};

static char tmp_path[4096];

static int load_spec(const struct spec *s, struct sl_vocab **v, struct sl_err *err)
{
	struct gguf_writer *w = sl_gguf_writer_new(0);
	if (s->model)
		sl_gguf_writer_set_str(w, "tokenizer.ggml.model", s->model);
	if (s->tokens)
		sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s->tokens, s->n_tokens);
	if (s->scores)
		sl_gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, s->scores, s->n_scores);
	if (s->types)
		sl_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, s->types, s->n_types);
	if (s->extra)
		s->extra(w);
	int fd = open(tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	struct sl_err werr;
	if (fd < 0 || sl_gguf_writer_write_header(w, fd, &werr) || sl_gguf_writer_finish(w, fd, &werr)) {
		fprintf(stderr, "cannot write %s\n", tmp_path);
		exit(1);
	}
	close(fd);
	sl_gguf_writer_free(w);
	struct gguf_file *f;
	int rc = sl_gguf_open(tmp_path, &f, err);
	if (rc) {
		fprintf(stderr, "sl_gguf_open: %s\n", err->msg);
		exit(1);
	}
	*v = NULL;
	rc = sl_vocab_load(f, v, err);
	sl_gguf_close(f);
	return rc;
}

/* A small vocab: specials, a few byte tokens, characters and merges. */
static const char *const base_tokens[] = {
	"<unk>", "<s>", "</s>", "<0x0A>", "<0xC3>", "<0xA9>",         /* 0..5 */
	SP, "a", "b", "c", "ab", "bc", SP "a", SP "ab", "<tool>",     /* 6..14 */
	SP SP, "d", "cd", "abcd",                                       /* 15..18 */
};
static const float base_scores[] = {
	0, 0, 0, 0, 0, 0,
	-100, -100, -100, -100, -5, -5, -3, -1, 0,
	-50, -100, -6, -0.5f,
};
static const int32_t base_types[] = {
	2, 3, 3, 6, 6, 6,
	1, 1, 1, 1, 1, 1, 1, 1, 4,
	1, 1, 1, 1,
};
#define N_BASE SL_ARRAY_SIZE(base_tokens)
_Static_assert(SL_ARRAY_SIZE(base_scores) == N_BASE && SL_ARRAY_SIZE(base_types) == N_BASE, "base vocab");

static struct spec base(void)
{
	return (struct spec){ "llama", base_tokens, N_BASE, base_scores, N_BASE, base_types, N_BASE, NULL };
}

static void no_prefix(struct gguf_writer *w)
{
	sl_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
}

static void expect(const struct sl_vocab *v, const char *text, unsigned flags, const int32_t *want, size_t n_want)
{
	int32_t got[64];
	size_t n;
	int rc = sl_tokenize_ex(v, text, strlen(text), flags, got, 64, &n);
	bool ok = rc == 0 && n == n_want && !memcmp(got, want, n * sizeof(*got));
	if (!ok) {
		fprintf(stderr, "  got:");
		for (size_t i = 0; i < SL_MIN(n, (size_t)64); i++)
			fprintf(stderr, " %d", got[i]);
		fprintf(stderr, "\n  want:");
		for (size_t i = 0; i < n_want; i++)
			fprintf(stderr, " %d", want[i]);
		fputc('\n', stderr);
	}
	CHECK_MSG(ok, "tokenize \"%s\" flags %u (rc %d)", text, flags, rc);
}

#define EXPECT(v, text, flags, ...)                                       \
	do {                                                              \
		static const int32_t w_[] = { __VA_ARGS__ };              \
		expect(v, text, flags, w_, SL_ARRAY_SIZE(w_));            \
	} while (0)

static void test_merges(void)
{
	struct sl_err err = { { 0 } };
	struct sl_vocab *v;
	struct spec s = base();
	CHECK_MSG(load_spec(&s, &v, &err) == 0, "%s", err.msg);
	/* "▁abc": ▁a(-3) and ab(-5), bc(-5): ▁a first, then ▁ab(-1) is available, then c alone. */
	EXPECT(v, "abc", 0, 13, 9);
	/* "abcd" with prefix: ▁a, ▁ab, then cd(-6): [▁ab, cd]; the better "abcd" never forms. */
	EXPECT(v, "abcd", SL_TOKENIZE_ADD_BOS, 1, 13, 17);
	/* BOS, EOS flags. */
	EXPECT(v, "a", SL_TOKENIZE_ADD_BOS | SL_TOKENIZE_ADD_EOS, 1, 12, 2);
	/* Byte fallback: é is <0xC3><0xA9>; '\n' is <0x0A>; 'z' has no byte token: unk. */
	EXPECT(v, "\xc3\xa9\nz", 0, 6, 4, 5, 3, 0);
	/* User-defined tokens are cut out first; the text after them gets the prefix again. */
	EXPECT(v, "a<tool>b", 0, 12, 14, 6, 8);
	EXPECT(v, "<tool>", 0, 14);
	/* Control tokens only with PARSE_SPECIAL. */
	EXPECT(v, "<s>a", SL_TOKENIZE_PARSE_SPECIAL, 1, 12);
	/* "▁▁a": ▁a (-3) beats ▁▁ (-50), and "▁▁a" is no token. */
	EXPECT(v, " a", 0, 6, 12);
	EXPECT(v, " ", 0, 15);
	/* Pieces and detokenize: user-defined text as stored, the first text token loses its space. */
	{
		static const int32_t t[] = { 1, 12, 14, 6, 8, 2 };
		char b[64];
		size_t n;
		CHECK_MSG(sl_detokenize(v, t, 6, b, sizeof(b), &n) == 0 && n == 9 && !memcmp(b, "a<tool> b", 9),
		      "detok %zu \"%.*s\"", n, (int)n, b);
	}
	sl_vocab_free(v);

	/* Ties go to the leftmost pair: ab and bc both -5 without ▁a competing. */
	s.extra = no_prefix;
	CHECK_MSG(load_spec(&s, &v, &err) == 0, "%s", err.msg);
	EXPECT(v, "abc", 0, 10, 9);
	EXPECT(v, "a b", 0, 7, 6, 8);
	{
		static const int32_t t[] = { 6, 7 };
		char b[16];
		size_t n;
		CHECK_MSG(sl_detokenize(v, t, 2, b, sizeof(b), &n) == 0 && n == 2 && !memcmp(b, " a", 2),
		      "no strip without add_space_prefix");
	}
	sl_vocab_free(v);

	/* A higher score on the right pair wins over leftmost. */
	float sc[N_BASE];
	memcpy(sc, base_scores, sizeof(sc));
	sc[11] = -4; /* bc */
	s.scores = sc;
	CHECK_MSG(load_spec(&s, &v, &err) == 0, "%s", err.msg);
	EXPECT(v, "abc", 0, 7, 11);
	sl_vocab_free(v);
}

static void unk_none(struct gguf_writer *w)
{
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0xFFFFFFFFu);
	sl_gguf_writer_set_i32(w, "tokenizer.ggml.bos_token_id", -1);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", 0);
}

static void test_ids(void)
{
	struct sl_err err = { { 0 } };
	struct sl_vocab *v;
	struct spec s = base();
	s.extra = unk_none;
	CHECK_MSG(load_spec(&s, &v, &err) == 0, "%s", err.msg);
	CHECK_MSG(sl_vocab_unk(v) == -1 && sl_vocab_bos(v) == -1 && sl_vocab_eos(v) == 2, "ids");
	CHECK_MSG(sl_vocab_is_eog(v, 0) && sl_vocab_is_eog(v, 2) && !sl_vocab_is_eog(v, 1), "eot is eog");
	size_t n;
	int32_t t[8];
	CHECK_MSG(sl_tokenize(v, "z", 1, true, t, 8, &n) == -EINVAL, "no byte token and no unk: -EINVAL");
	CHECK_MSG(sl_tokenize(v, "a", 1, true, t, 8, &n) == 0 && n == 1 && t[0] == 12, "no BOS to add");
	sl_vocab_free(v);

	/* Tokens only: scores 0, all normal; later duplicates win. */
	static const char *const dup[] = { "<unk>", "<s>", "</s>", "x", "x" };
	struct spec d = { "llama", dup, 5, NULL, 0, NULL, 0, NULL };
	CHECK_MSG(load_spec(&d, &v, &err) == 0, "%s", err.msg);
	CHECK_MSG(sl_vocab_find(v, "x", 1) == 4 && sl_vocab_type(v, 1) == SL_TOK_NORMAL, "duplicates");
	CHECK_MSG(sl_vocab_score(v, 3) == 0.0f, "no scores: 0");
	sl_vocab_free(v);
}

/* ---- malformed vocabularies ---- */

static void bad_bos(struct gguf_writer *w) { sl_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 99); }
static void bad_eos_type(struct gguf_writer *w) { sl_gguf_writer_set_str(w, "tokenizer.ggml.eos_token_id", "2"); }
static void bad_flag(struct gguf_writer *w) { sl_gguf_writer_set_u32(w, "tokenizer.ggml.add_bos_token", 1); }
static void bad_tokens_type(struct gguf_writer *w)
{
	int32_t x[3] = { 1, 2, 3 };
	sl_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, x, 3);
}

static void expect_error(const char *what, struct spec s, int want_rc, const char *want_msg)
{
	struct sl_err err = { { 0 } };
	struct sl_vocab *v = (struct sl_vocab *)1;
	int rc = load_spec(&s, &v, &err);
	CHECK_MSG(rc == want_rc && v == NULL && strstr(err.msg, want_msg), "%s: rc %d (want %d), message \"%s\" (want \"%s\")",
	      what, rc, want_rc, err.msg, want_msg);
	if (rc == 0)
		sl_vocab_free(v);
}

static void pre_unknown(struct gguf_writer *w)
{
	static const char *const merges[] = { "a b" };
	sl_gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre");
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1);
}

static void pre_llama_bpe(struct gguf_writer *w)
{
	static const char *const merges[] = { "b c", "a b" };
	sl_gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 2);
}

static void pre_qwen2_ab_first(struct gguf_writer *w)
{
	static const char *const merges[] = { "a b", "b c" };
	sl_gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2");
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 2);
	sl_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true);
}

/* gpt2 vocabularies: llama.cpp's defaults, merge ranks, BOS/EOS flags. */
static void test_bpe_basics(void)
{
	struct spec s = base();
	struct sl_vocab *v;
	struct sl_err err = { { 0 } };
	int32_t t[8];
	size_t n;

	s.model = "gpt2";
	s.extra = pre_llama_bpe;
	CHECK_MSG(load_spec(&s, &v, &err) == 0, "gpt2/llama-bpe: %s", err.msg);
	if (v) {
		CHECK(sl_vocab_add_bos(v) && !sl_vocab_add_eos(v) && !sl_vocab_add_space_prefix(v));
		CHECK(sl_vocab_bos(v) == 11 && sl_vocab_eos(v) == 11 && sl_vocab_unk(v) == -1);
		/* "b c" ranks first: abc = a + bc, and a + bc is no merge */
		CHECK(sl_tokenize_ex(v, "abc", 3, 0, t, 8, &n) == 0 && n == 2 && t[0] == 7 && t[1] == 11);
		CHECK(sl_tokenize_ex(v, "abc", 3, SL_TOKENIZE_ADD_BOS | SL_TOKENIZE_ADD_EOS, t, 8, &n) == 0 && n == 4 &&
		      t[0] == 11 && t[3] == 11);
		sl_vocab_free(v);
	}
	s.extra = pre_qwen2_ab_first;
	CHECK_MSG(load_spec(&s, &v, &err) == 0, "gpt2/qwen2: %s", err.msg);
	if (v) {
		CHECK(!sl_vocab_add_bos(v) && sl_vocab_add_eos(v));
		/* "a b" ranks first: abc = ab + c */
		CHECK(sl_tokenize_ex(v, "abc", 3, 0, t, 8, &n) == 0 && n == 2 && t[0] == 10 && t[1] == 9);
		/* the user-defined token is cut out whole before BPE */
		CHECK(sl_tokenize_ex(v, "ab<tool>c", 9, 0, t, 8, &n) == 0 && n == 3 && t[0] == 10 && t[1] == 14 &&
		      t[2] == 9);
		sl_vocab_free(v);
	}
}

static void test_errors(void)
{
	struct spec s;

	s = base();
	s.model = "bert";
	expect_error("bert", s, -ENOTSUP, "tokenizer model 'bert' is not supported");
	s.model = "gpt2";
	expect_error("gpt2 without merges", s, -EINVAL, "'tokenizer.ggml.merges' is missing");
	s.extra = pre_unknown;
	expect_error("gpt2 unknown pre", s, -ENOTSUP, "pre-tokenizer 'no-such-pre' is not supported");
	s.model = NULL;
	expect_error("no model", s, -ENOENT, "tokenizer.ggml.model");

	s = base();
	s.tokens = NULL;
	expect_error("no tokens", s, -EINVAL, "'tokenizer.ggml.tokens' is missing");
	s.extra = bad_tokens_type;
	s.scores = NULL;
	s.types = NULL;
	expect_error("tokens not strings", s, -EINVAL, "tokenizer.ggml.tokens");

	s = base();
	s.n_tokens = 0;
	s.n_scores = s.n_types = 0;
	expect_error("empty tokens", s, -EINVAL, "tokenizer.ggml.tokens");

	s = base();
	s.n_scores = N_BASE - 1;
	expect_error("short scores", s, -EINVAL, "'tokenizer.ggml.scores' has 18 entries, expected 19");

	s = base();
	s.n_types = N_BASE + 0 - 2;
	expect_error("short types", s, -EINVAL, "'tokenizer.ggml.token_type' has 17 entries");

	int32_t ty[N_BASE];
	memcpy(ty, base_types, sizeof(ty));
	ty[7] = 9;
	s = base();
	s.types = ty;
	expect_error("type 9", s, -EINVAL, "token 7 has type 9");
	ty[7] = 6; /* "a" claims to be a byte token */
	expect_error("bad byte text", s, -EINVAL, "token 7 is a byte token");

	float sc[N_BASE];
	memcpy(sc, base_scores, sizeof(sc));
	sc[3] = NAN;
	s = base();
	s.scores = sc;
	expect_error("NaN score", s, -EINVAL, "score of token 3 is NaN");

	s = base();
	s.extra = bad_bos;
	expect_error("bos out of range", s, -EINVAL, "'tokenizer.ggml.bos_token_id' = 99 is not a token id");
	s.extra = bad_eos_type;
	expect_error("eos as string", s, -EINVAL, "tokenizer.ggml.eos_token_id");
	s.extra = bad_flag;
	expect_error("add_bos as u32", s, -EINVAL, "tokenizer.ggml.add_bos_token");
}

int main(void)
{
	const char *dir = getenv("SLUICE_TMP");
	snprintf(tmp_path, sizeof(tmp_path), "%s/tok-synth-%d.gguf", dir && *dir ? dir : "/tmp", (int)getpid());
	test_merges();
	test_ids();
	test_errors();
	test_bpe_basics();
	unlink(tmp_path);
	return t_done();
}
