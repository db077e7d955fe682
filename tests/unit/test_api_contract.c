/* The library contract of sluice.h (issue 9 item 8): every public function, called with each bad
 * argument (NULL handles, NULL out-pointers, values out of range, reserved fields set), returns
 * -EINVAL with a message where it has somewhere to put one, and never crashes; void functions do
 * nothing.  A model freed before its contexts stays alive until the last of them is freed (checked
 * for use-after-free and leaks under `make asan`). */
#include "helpers/testutil.h"
#include "model/synth.h"
#include "quant/quant.h"
#include "sluice.h"

#include <errno.h>
#include <math.h>
#include <unistd.h>

static const char *path;

static void expect_einval(const char *call, int line, int rc, const char *msg, const char *needle)
{
	if (rc != -EINVAL) {
		fprintf(stderr, "line %d: %s: %d, expected -EINVAL\n", line, call, rc);
		t_failures++;
	} else if (msg && needle && !strstr(msg, needle)) {
		fprintf(stderr, "line %d: %s: message '%s' lacks '%s'\n", line, call, msg, needle);
		t_failures++;
	}
}

/* Expect rc == -EINVAL and, when msg and needle are given, a message containing needle. */
#define EXPECT_EINVAL(call, msg, needle)                                 \
	do {                                                             \
		int rc_ = (call); /* before msg is read */               \
		expect_einval(#call, __LINE__, rc_, (msg), (needle));    \
	} while (0)

static void load_args(void)
{
	struct sluice_model_params mp;
	struct sluice_model *m = (struct sluice_model *)0x1;
	char err[512];

	sluice_model_params_init(NULL);
	EXPECT_EINVAL(sluice_model_load(NULL, NULL, &m, err, sizeof(err)), err, "path is NULL");
	CHECK(m == NULL);
	EXPECT_EINVAL(sluice_model_load(path, NULL, NULL, err, sizeof(err)), err, "out is NULL");
	EXPECT_EINVAL(sluice_model_load(NULL, NULL, NULL, NULL, 0), NULL, NULL);
	EXPECT_EINVAL(sluice_model_load(NULL, NULL, &m, NULL, 0), NULL, NULL);
	/* err_len 0: nothing written */
	err[0] = 'x';
	EXPECT_EINVAL(sluice_model_load(NULL, NULL, &m, err, 0), NULL, NULL);
	CHECK(err[0] == 'x');

	static const struct {
		const char *field;
		int v;
	} bad[] = {
		{ "flags", 1 }, { "reserved", 1 }, { "lookahead", -1 }, { "lookahead", SLUICE_MAX_LOOKAHEAD + 1 },
		{ "n_threads", -1 }, { "n_threads", SLUICE_MAX_THREADS + 1 }, { "n_threads", INT32_MIN },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sluice_model_params_init(&mp);
		if (!strcmp(bad[i].field, "flags"))
			mp.flags = (uint32_t)bad[i].v;
		else if (!strcmp(bad[i].field, "reserved"))
			mp.reserved = (uint32_t)bad[i].v;
		else if (!strcmp(bad[i].field, "lookahead"))
			mp.lookahead = bad[i].v;
		else
			mp.n_threads = bad[i].v;
		m = (struct sluice_model *)0x1;
		err[0] = 0;
		int rc = sluice_model_load(path, &mp, &m, err, sizeof(err));
		CHECK_MSG(rc == -EINVAL && m == NULL, "%s = %d: load gave %d", bad[i].field, bad[i].v, rc);
		CHECK_MSG(strstr(err, bad[i].field), "%s = %d: message '%s'", bad[i].field, bad[i].v, err);
		if (rc == 0)
			sluice_model_free(m);
	}
	/* The edges of the ranges are fine. */
	sluice_model_params_init(&mp);
	mp.lookahead = SLUICE_MAX_LOOKAHEAD;
	mp.n_threads = 1;
	mp.pressure = "none";
	CHECK_MSG(sluice_model_load(path, &mp, &m, err, sizeof(err)) == 0, "%s", err);
	sluice_model_free(m);

	CHECK(sluice_set_cpu_features("no-such-isa") == -EINVAL);
	CHECK(sluice_set_cpu_features(NULL) == 0);
	sluice_model_free(NULL);
	CHECK(sluice_model_error(NULL) != NULL);
	CHECK(sluice_version() != NULL);
}

static void model_args(struct sluice_model *m)
{
	struct sluice_model_info info;
	int32_t toks[8];
	size_t n = 0;
	char buf[16];

	EXPECT_EINVAL(sluice_model_get_info(NULL, &info), NULL, NULL);
	EXPECT_EINVAL(sluice_model_get_info(m, NULL), sluice_model_error(m), "out is NULL");
	CHECK(sluice_model_get_info(m, &info) == 0);

	EXPECT_EINVAL(sluice_tokenize(NULL, "a", 1, true, toks, 8, &n), NULL, NULL);
	EXPECT_EINVAL(sluice_tokenize(m, NULL, 5, true, toks, 8, &n), sluice_model_error(m), "text");
	EXPECT_EINVAL(sluice_tokenize(m, "a", 1, true, toks, 8, NULL), sluice_model_error(m), "n_out");
	EXPECT_EINVAL(sluice_tokenize(m, "a", 1, true, NULL, 8, &n), sluice_model_error(m), "tokens");
	EXPECT_EINVAL(sluice_tokenize(m, "a", (size_t)-1, true, toks, 8, &n), sluice_model_error(m), "too long");
	/* The documented ways of asking for the count. */
	CHECK(sluice_tokenize(m, "the dog", 7, true, NULL, 0, &n) == -ENOSPC && n > 0);
	CHECK(sluice_tokenize(m, NULL, 0, false, NULL, 0, &n) == 0 && n == 0);

	EXPECT_EINVAL(sluice_token_to_piece(NULL, 1, buf, sizeof(buf), &n), NULL, NULL);
	EXPECT_EINVAL(sluice_token_to_piece(m, 1, buf, sizeof(buf), NULL), sluice_model_error(m), "n_out");
	EXPECT_EINVAL(sluice_token_to_piece(m, 1, NULL, sizeof(buf), &n), sluice_model_error(m), "buf");
	EXPECT_EINVAL(sluice_token_to_piece(m, -1, buf, sizeof(buf), &n), sluice_model_error(m), "out of range");
	EXPECT_EINVAL(sluice_token_to_piece(m, (int32_t)info.n_vocab, buf, sizeof(buf), &n), sluice_model_error(m),
		      "out of range");
	EXPECT_EINVAL(sluice_token_to_piece(m, INT32_MAX, buf, sizeof(buf), &n), sluice_model_error(m), "out of range");
}

/* What the matmul observer saw: calls, rows, and whether every call named a weight. */
struct seen {
	int calls, rows, unnamed;
};

static void count_matmuls(void *user, const char *weight, int32_t expert, const float *x, size_t n, size_t cols)
{
	struct seen *s = user;
	s->calls++;
	s->rows += (int)n;
	s->unnamed += !weight || (strncmp(weight, "blk.", 4) && strcmp(weight, "output.weight") &&
					 strcmp(weight, "token_embd.weight"));
	s->unnamed += expert != -1 || !x || cols == 0;
}

static void ctx_args(struct sluice_model *m)
{
	struct sluice_ctx_params cp;
	struct sluice_ctx *c = (struct sluice_ctx *)0x1;
	char err[512];
	struct sluice_stats st;

	sluice_ctx_params_init(NULL);
	EXPECT_EINVAL(sluice_ctx_new(NULL, NULL, &c, err, sizeof(err)), err, "model is NULL");
	EXPECT_EINVAL(sluice_ctx_new(m, NULL, NULL, err, sizeof(err)), err, "out is NULL");
	EXPECT_EINVAL(sluice_ctx_new(NULL, NULL, NULL, NULL, 0), NULL, NULL);
	sluice_ctx_params_init(&cp);
	cp.flags = 4;
	c = (struct sluice_ctx *)0x1;
	EXPECT_EINVAL(sluice_ctx_new(m, &cp, &c, err, sizeof(err)), err, "flags");
	CHECK(c == NULL);

	sluice_ctx_params_init(&cp);
	cp.n_ctx = 8;
	CHECK_MSG(sluice_ctx_new(m, &cp, &c, err, sizeof(err)) == 0, "%s", err);
	if (!c)
		return;
	int32_t t[2] = { 1, 2 };
	EXPECT_EINVAL(sluice_decode(NULL, t, 1, NULL), NULL, NULL);
	EXPECT_EINVAL(sluice_decode(c, NULL, 1, NULL), sluice_ctx_error(c), "tokens is NULL");
	EXPECT_EINVAL(sluice_decode(c, t, 0, NULL), sluice_ctx_error(c), "no tokens");
	int32_t neg = -1, big = INT32_MAX;
	EXPECT_EINVAL(sluice_decode(c, &neg, 1, NULL), sluice_ctx_error(c), "out of range");
	EXPECT_EINVAL(sluice_decode(c, &big, 1, NULL), sluice_ctx_error(c), "out of range");
	/* n so large that pos + n wraps: the context is full, nothing is read past t[1]. */
	CHECK(sluice_decode(c, t, 2, NULL) == 0);
	CHECK(sluice_decode(c, t, (size_t)-1, NULL) == -ENOSPC);
	CHECK(sluice_decode(c, t, (size_t)-2, NULL) == -ENOSPC);
	CHECK(sluice_decode(c, t, 7, NULL) == -ENOSPC);
	CHECK(sluice_decode(c, t, 2, NULL) == 0); /* the failures changed nothing */

	EXPECT_EINVAL(sluice_ctx_get_stats(NULL, &st), NULL, NULL);
	EXPECT_EINVAL(sluice_ctx_get_stats(c, NULL), sluice_ctx_error(c), "out is NULL");
	CHECK(sluice_ctx_get_stats(c, &st) == 0 && st.prompt_tokens == 4);
	/* The observer: called before every matmul while set (n_layer * 7 per pass, and the classifier),
	 * never once cleared; it changes nothing the decode computes. */
	struct seen seen = { 0 };
	struct sluice_model_info mi;
	CHECK(sluice_model_get_info(m, &mi) == 0);
	EXPECT_EINVAL(sluice_ctx_set_matmul_observer(NULL, count_matmuls, &seen), NULL, NULL);
	const float *lg;
	float plain[8];
	sluice_ctx_reset(c);
	CHECK(sluice_decode(c, t, 2, &lg) == 0);
	memcpy(plain, lg, sizeof plain);
	CHECK(sluice_ctx_set_matmul_observer(c, count_matmuls, &seen) == 0);
	sluice_ctx_reset(c);
	CHECK(sluice_decode(c, t, 2, &lg) == 0);
	CHECK_MSG(seen.calls == (int)mi.n_layer * 7 + 1 && seen.rows == (int)mi.n_layer * 14 + 1 && !seen.unnamed,
		  "observer: %d calls, %d rows, %d unnamed (%u layers)", seen.calls, seen.rows, seen.unnamed, mi.n_layer);
	CHECK(!memcmp(plain, lg, sizeof plain));
	CHECK(sluice_ctx_set_matmul_observer(c, NULL, NULL) == 0);
	seen.calls = 0;
	sluice_ctx_reset(c);
	CHECK(sluice_decode(c, t, 2, NULL) == 0 && seen.calls == 0);
	sluice_ctx_reset(c);
	CHECK(sluice_decode(c, t, 2, NULL) == 0);

	sluice_ctx_reset(NULL);
	sluice_ctx_free(NULL);
	CHECK(sluice_ctx_error(NULL) != NULL);
	sluice_ctx_free(c);
}

static void sampler_args(void)
{
	struct sluice_sampler_params sp;
	struct sluice_sampler *s = (struct sluice_sampler *)0x1;
	char err[256];
	float lg[3] = { 0, 1, 2 };
	int32_t tok;

	sluice_sampler_params_init(NULL);
	EXPECT_EINVAL(sluice_sampler_new(NULL, NULL, err, sizeof(err)), err, "out is NULL");
	static const float temps[] = { -1.0f, NAN, INFINITY };
	for (int i = 0; i < 3; i++) {
		sluice_sampler_params_init(&sp);
		sp.temperature = temps[i];
		EXPECT_EINVAL(sluice_sampler_new(&sp, &s, err, sizeof(err)), err, "temperature");
		CHECK(s == NULL);
	}
	sluice_sampler_params_init(&sp);
	sp.top_k = -1;
	EXPECT_EINVAL(sluice_sampler_new(&sp, &s, err, sizeof(err)), err, "top_k");
	static const float tops[] = { 0.0f, 1.5f, NAN, -0.5f };
	for (int i = 0; i < 4; i++) {
		sluice_sampler_params_init(&sp);
		sp.top_p = tops[i];
		EXPECT_EINVAL(sluice_sampler_new(&sp, &s, err, sizeof(err)), err, "top_p");
	}
	CHECK(sluice_sampler_new(NULL, &s, err, sizeof(err)) == 0);
	EXPECT_EINVAL(sluice_sample(NULL, lg, 3, &tok), NULL, NULL);
	EXPECT_EINVAL(sluice_sample(s, NULL, 3, &tok), sluice_sampler_error(s), "logits");
	EXPECT_EINVAL(sluice_sample(s, lg, 3, NULL), sluice_sampler_error(s), "token");
	EXPECT_EINVAL(sluice_sample(s, lg, 0, &tok), sluice_sampler_error(s), "logits");
	EXPECT_EINVAL(sluice_sample(s, lg, (size_t)INT32_MAX + 1, &tok), sluice_sampler_error(s), "logits");
	CHECK(sluice_sample(s, lg, 3, &tok) == 0 && tok >= 0 && tok < 3);
	sluice_sampler_free(s);
	sluice_sampler_free(NULL);
	CHECK(sluice_sampler_error(NULL) != NULL);
}

/* Freeing the model before its contexts: they keep working, and the last one frees the model. */
static void free_order(void)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.n_threads = 1;
	mp.pressure = "none";
	struct sluice_model *m;
	struct sluice_ctx *a, *b, *c = NULL;
	char err[512];
	CHECK_MSG(sluice_model_load(path, &mp, &m, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(sluice_ctx_new(m, NULL, &a, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(sluice_ctx_new(m, NULL, &b, err, sizeof(err)) == 0, "%s", err);
	int32_t t[3] = { 1, 10, 20 };
	const float *la, *lb;
	CHECK(sluice_decode(a, t, 3, &la) == 0);
	sluice_model_free(m); /* two contexts live: deferred */
	/* No new context on a freed model (the handle is still there while contexts live). */
	EXPECT_EINVAL(sluice_ctx_new(m, NULL, &c, err, sizeof(err)), err, "freed");
	CHECK(c == NULL);
	CHECK(sluice_decode(b, t, 3, &lb) == 0);
	CHECK_MSG(memcmp(la, lb, sizeof(float) * 8) == 0, "the freed model's contexts disagree");
	sluice_ctx_free(a);
	CHECK(sluice_decode(b, t, 1, NULL) == 0);
	sluice_ctx_free(b); /* the model goes here; ASan's leak check sees that it does */
	printf("model freed before its contexts: they kept working, the last one freed it\n");
}

int main(void)
{
	struct sl_synth_params sp = { .size_bytes = 1u << 20, .type = SL_TYPE_F16, .seed = 3, .n_embd = 64 };
	struct sl_err e;
	path = t_tmp_path("contract.gguf");
	CHECK(sl_synth_plan(&sp, &e) == 0);
	CHECK_MSG(sl_synth_write(&sp, path, NULL, NULL, &e) == 0, "%s", e.msg);

	load_args();
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.n_threads = 1;
	mp.pressure = "none";
	struct sluice_model *m;
	char err[512];
	CHECK_MSG(sluice_model_load(path, &mp, &m, err, sizeof(err)) == 0, "%s", err);
	model_args(m);
	ctx_args(m);
	sluice_model_free(m);
	sampler_args();
	free_order();
	unlink(path);
	return t_done();
}
