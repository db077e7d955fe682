/* Silent garbage and unbounded contexts (issue 9 items 5 and 6).  A synthetic model is rewritten
 * with one defect at a time, and each must be refused with a clear message instead of running:
 *   - NaN or Inf in a weight: sluice_decode returns -ERANGE ("non-finite logits at position N")
 *     instead of logits that sample as token 0 forever;
 *   - block_count smaller than the layers present: the load fails naming the extra layer;
 *   - a 3-D tensor (same element count) where a 2-D one is expected, a 2-D one where a 1-D norm is:
 *     the load fails naming the shape;
 *   - context_length 0: the load fails (it used to fail only at the first decode);
 *   - a context whose KV cache exceeds the memory the machine has: sluice_ctx_new refuses it up
 *     front with the size it needs (it used to succeed on overcommitted memory). */
#include "helpers/testutil.h"
#include "gguf.h"
#include "gguf_copy.h"
#include "model/synth.h"
#include "quant/quant.h"
#include "sluice.h"
#include "sys/pressure.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

struct defect {
	const char *key;     /* a u32 metadata value to set */
	uint32_t val;
	const char *tensor;  /* a tensor to change */
	int reshape;         /* 1: 2-D [a, b] -> 3-D [a, b/2, 2]; 2: 1-D [a] -> 2-D [a/2, 2] */
	float poke;          /* else: the first float of an f32 tensor becomes this */
};

/* Copy src to dst with the defect. */
static int rewrite(const char *src, const char *dst, const struct defect *d)
{
	struct sl_err err;
	struct gguf_file *f;
	int rc = sl_gguf_open(src, &f, &err);
	CHECK_MSG(rc == 0, "%s", err.msg);
	if (rc)
		return rc;
	struct gguf_writer *w = sl_gguf_writer_new((uint32_t)f->alignment);
	for (uint64_t i = 0; i < f->n_kv; i++) {
		if (d->key && !strcmp(f->kv[i].key.s, d->key))
			sl_gguf_writer_set_u32(w, d->key, d->val);
		else
			CHECK(sl_gguf_writer_copy_kv(w, &f->kv[i]) >= 0);
	}
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		int64_t ne[4] = { t->ne[0], t->ne[1], t->ne[2], t->ne[3] };
		uint32_t nd = t->n_dims;
		if (d->tensor && d->reshape == 1 && !strcmp(t->name.s, d->tensor)) {
			ne[1] = t->ne[1] / 2, ne[2] = 2, nd = 3;
		} else if (d->tensor && d->reshape == 2 && !strcmp(t->name.s, d->tensor)) {
			ne[0] = t->ne[0] / 2, ne[1] = 2, nd = 2;
		}
		CHECK(sl_gguf_writer_add_tensor(w, t->name.s, t->type, nd, ne) == (int)i);
	}
	int fd = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	rc = sl_gguf_writer_write_header(w, fd, &err);
	for (uint64_t i = 0; !rc && i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		char *buf = malloc(t->size);
		CHECK(pread(f->fd, buf, t->size, (off_t)t->file_offset) == (ssize_t)t->size);
		if (d->tensor && !d->reshape && !strcmp(t->name.s, d->tensor)) {
			CHECK(t->type == SL_TYPE_F32);
			memcpy(buf, &d->poke, sizeof(float));
		}
		rc = sl_gguf_writer_write_data(w, fd, (int)i, 0, buf, t->size, &err);
		free(buf);
	}
	if (!rc)
		rc = sl_gguf_writer_finish(w, fd, &err);
	CHECK_MSG(rc == 0, "%s", err.msg);
	close(fd);
	sl_gguf_writer_free(w);
	sl_gguf_close(f);
	return rc;
}

static struct sluice_model *load(const char *path, char *err, size_t len, int *rc)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.n_threads = 1;
	mp.pressure = "none";
	struct sluice_model *m = NULL;
	*rc = sluice_model_load(path, &mp, &m, err, len);
	return m;
}

/* The load must fail with -EINVAL and a message holding every needle. */
static void expect_refused(const char *src, const struct defect *d, const char *what, const char *n1, const char *n2)
{
	const char *path = t_tmp_path("defect.gguf");
	char err[512] = "";
	int rc;
	if (rewrite(src, path, d))
		return;
	struct sluice_model *m = load(path, err, sizeof(err), &rc);
	CHECK_MSG(rc == -EINVAL && !m, "%s: load gave %d (%s)", what, rc, err);
	CHECK_MSG(strstr(err, n1) && (!n2 || strstr(err, n2)), "%s: message '%s' lacks '%s'/'%s'", what, err, n1,
		  n2 ? n2 : "");
	if (rc == -EINVAL)
		printf("%s: refused: %s\n", what, err);
	sluice_model_free(m);
	unlink(path);
}

/* A weight made non-finite: the load succeeds, the first decode fails with -ERANGE. */
static void expect_nonfinite(const char *src, float poke)
{
	const char *path = t_tmp_path("nonfinite.gguf");
	struct defect d = { .tensor = "output_norm.weight", .poke = poke };
	char err[512] = "";
	int rc;
	if (rewrite(src, path, &d))
		return;
	struct sluice_model *m = load(path, err, sizeof(err), &rc);
	CHECK_MSG(rc == 0, "load: %s", err);
	if (!m)
		return;
	struct sluice_ctx *c;
	CHECK_MSG(sluice_ctx_new(m, NULL, &c, err, sizeof(err)) == 0, "%s", err);
	int32_t prompt[3] = { 1, 20, 30 };
	const float *lg = NULL;
	rc = sluice_decode(c, prompt, 3, &lg);
	CHECK_MSG(rc == -ERANGE, "%g in a weight: decode gave %d", (double)poke, rc);
	CHECK_MSG(strstr(sluice_ctx_error(c), "non-finite logits at position 2"), "message '%s'", sluice_ctx_error(c));
	if (rc == -ERANGE)
		printf("%g in output_norm: %s\n", (double)poke, sluice_ctx_error(c));
	/* The failed call left the position where it was: the same call fails the same way. */
	CHECK(sluice_decode(c, prompt, 3, &lg) == -ERANGE);
	CHECK(strstr(sluice_ctx_error(c), "position 2"));
	sluice_ctx_free(c);
	sluice_model_free(m);
	unlink(path);
}

/* A context bigger than the machine's available memory is refused up front, with its size. */
static void kv_over_memory(const char *path)
{
	uint64_t avail_pages, total_pages;
	if (sl_meminfo_pages(&avail_pages, &total_pages)) {
		printf("no /proc/meminfo: KV check not tested\n");
		return;
	}
	uint64_t avail = avail_pages * (uint64_t)sysconf(_SC_PAGESIZE);
	char err[512] = "";
	int rc;
	struct sluice_model *m = load(path, err, sizeof(err), &rc);
	CHECK_MSG(rc == 0, "load: %s", err);
	if (!m)
		return;
	struct sluice_model_info info;
	CHECK(sluice_model_get_info(m, &info) == 0);
	uint64_t per_tok = 2ull * info.n_layer * info.n_head_kv * (info.n_embd / info.n_head) * sizeof(float);
	/* Twice what is available (each layer's allocation alone may still pass overcommit). */
	uint64_t n = 2 * avail / per_tok;
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = (uint32_t)SL_MIN(n, (uint64_t)UINT32_MAX);
	struct sluice_ctx *c = NULL;
	rc = sluice_ctx_new(m, &cp, &c, err, sizeof(err));
	CHECK_MSG(rc == -ENOMEM && !c, "n_ctx %u (KV %.1f GiB, %.1f GiB available): ctx_new gave %d (%s)", cp.n_ctx,
		  (double)cp.n_ctx * (double)per_tok / 1073741824.0, avail / 1073741824.0, rc, err);
	CHECK_MSG(strstr(err, "KV cache") && strstr(err, "GiB") && strstr(err, "available"), "message '%s'", err);
	if (rc == -ENOMEM)
		printf("n_ctx %u: %s\n", cp.n_ctx, err);
	sluice_ctx_free(c);
	/* The largest n_ctx there is: refused, not overflowed. */
	cp.n_ctx = UINT32_MAX;
	c = NULL;
	rc = sluice_ctx_new(m, &cp, &c, err, sizeof(err));
	CHECK_MSG(rc == -ENOMEM && !c && strstr(err, "KV cache"), "n_ctx UINT32_MAX: %d (%s)", rc, err);
	sluice_ctx_free(c);
	/* An ordinary one still works. */
	cp.n_ctx = 256;
	CHECK_MSG(sluice_ctx_new(m, &cp, &c, err, sizeof(err)) == 0, "%s", err);
	sluice_ctx_free(c);
	sluice_model_free(m);
}

int main(void)
{
	struct sl_synth_params sp = { .size_bytes = 2u << 20, .type = SL_TYPE_F16, .seed = 5, .n_embd = 128 };
	struct sl_err err;
	char src[512]; /* t_tmp_path's buffers are reused */
	snprintf(src, sizeof(src), "%s", t_tmp_path("checks.gguf"));
	CHECK(sl_synth_plan(&sp, &err) == 0);
	CHECK(sp.n_layer >= 2);
	CHECK_MSG(sl_synth_write(&sp, src, NULL, NULL, &err) == 0, "%s", err.msg);

	/* The unchanged copy loads and decodes (the rewrite itself is sound). */
	{
		const char *path = t_tmp_path("same.gguf");
		struct defect none = { 0 };
		char e[512] = "";
		int rc;
		CHECK(rewrite(src, path, &none) == 0);
		struct sluice_model *m = load(path, e, sizeof(e), &rc);
		CHECK_MSG(rc == 0, "unchanged copy: %s", e);
		struct sluice_ctx *c = NULL;
		if (m)
			CHECK_MSG(sluice_ctx_new(m, NULL, &c, e, sizeof(e)) == 0, "%s", e);
		int32_t t = 1;
		if (c)
			CHECK_MSG(sluice_decode(c, &t, 1, NULL) == 0, "%s", sluice_ctx_error(c));
		sluice_ctx_free(c);
		sluice_model_free(m);
		unlink(path);
	}

	expect_nonfinite(src, NAN);
	expect_nonfinite(src, INFINITY);
	expect_nonfinite(src, -INFINITY);

	struct defect fewer = { .key = "llama.block_count", .val = sp.n_layer - 1 };
	char blk[32];
	snprintf(blk, sizeof(blk), "blk.%u.", sp.n_layer - 1);
	expect_refused(src, &fewer, "block_count one short", blk, "block_count is");

	struct defect d3 = { .tensor = "blk.0.attn_q.weight", .reshape = 1 };
	expect_refused(src, &d3, "3-D attn_q", "blk.0.attn_q.weight", "3-D");
	struct defect d3e = { .tensor = "token_embd.weight", .reshape = 1 };
	expect_refused(src, &d3e, "3-D token_embd", "token_embd.weight", "3-D");
	struct defect d2 = { .tensor = "blk.0.ffn_norm.weight", .reshape = 2 };
	expect_refused(src, &d2, "2-D ffn_norm", "blk.0.ffn_norm.weight", "2-D");

	struct defect ctx0 = { .key = "llama.context_length", .val = 0 };
	expect_refused(src, &ctx0, "context_length 0", "context_length is 0", NULL);

	kv_over_memory(src);
	unlink(src);
	return t_done();
}
