/* Several devices as a pipeline (sluice_model_params.devices), without a GPU: the cpu-async test
 * mode stands in for each device (its ops run deferred on a worker, and device memory is not
 * host-visible, so every stage has its own window, uploads and fences).  The pipeline's logits are
 * bit-for-bit those of one cpu-async device (the same kernels in the same order), over a prompt
 * longer than a forward chunk and greedy generation, with 2 and 3 stages, resident and streamed,
 * with Llama-3.1's rope_freqs (re-acquired on each stage) and with two sequences in one batch;
 * the split follows unequal budgets; bad device lists and unsupported models are refused with a
 * message.  (The CUDA pipeline on the stand-in driver: tests/cuda/test_cuda_multi.sh.) */
#include "helpers/testutil.h"
#include "model/model.h"
#include "model/synth.h"
#include "pipeline.h"
#include "quant/quant.h"

#include <string.h>

#define N_PROMPT 70 /* longer than a forward chunk (64) */
#define N_GEN 6

struct run {
	float *logits; /* [N_GEN + 1][n_vocab]: after the prompt and after each generated token */
	uint32_t n_vocab;
	uint64_t misses;
};

static struct sluice_model *load(const char *path, const int32_t *dev, uint32_t n_dev, uint64_t vram,
				 const uint64_t *vrams, char *err, size_t len)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.backend = "cpu-async";
	mp.n_threads = 2;
	mp.pressure = "none";
	mp.devices = n_dev ? dev : NULL;
	mp.n_devices = n_dev;
	mp.vram_budget = vram;
	mp.vram_budgets = vrams;
	struct sluice_model *m = NULL;
	err[0] = 0;
	if (sluice_model_load(path, &mp, &m, err, len))
		return NULL;
	return m;
}


static bool run(const char *path, const int32_t *dev, uint32_t n_dev, uint64_t vram, struct run *r)
{
	char err[512];
	struct sluice_model *m = load(path, dev, n_dev, vram, NULL, err, sizeof err);
	CHECK_MSG(m, "load %s on %u devices: %s", path, n_dev, err);
	if (!m)
		return false;
	struct sluice_model_info info;
	CHECK(sluice_model_get_info(m, &info) == 0);
	r->n_vocab = info.n_vocab;
	r->logits = calloc((size_t)(N_GEN + 1) * info.n_vocab, sizeof(float));
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 128;
	struct sluice_ctx *c = NULL;
	int rc = sluice_ctx_new(m, &cp, &c, err, sizeof err);
	CHECK_MSG(rc == 0, "ctx: %s", err);
	int32_t toks[N_PROMPT];
	for (int i = 0; i < N_PROMPT; i++)
		toks[i] = (int32_t)(3 + (uint32_t)(i * 13) % (info.n_vocab - 3));
	const float *lg = NULL;
	rc = rc ? rc : sluice_decode(c, toks, N_PROMPT, &lg);
	for (int g = 0; !rc && g <= N_GEN; g++) {
		memcpy(r->logits + (size_t)g * info.n_vocab, lg, info.n_vocab * sizeof(float));
		int32_t t = t_argmax(lg, info.n_vocab);
		if (g < N_GEN)
			rc = sluice_decode(c, &t, 1, &lg);
	}
	CHECK_MSG(rc == 0, "decode on %u devices: %s", n_dev, c ? sluice_ctx_error(c) : "");
	struct sluice_stats st;
	if (c && sluice_ctx_get_stats(c, &st) == 0)
		r->misses = st.cache_misses;
	sluice_ctx_free(c);
	sluice_model_free(m);
	return rc == 0;
}

static void same(const char *path, const char *what, const int32_t *dev, uint32_t n_dev, uint64_t vram)
{
	struct run ref = { 0 }, got = { 0 };
	const int32_t one = 0;
	if (run(path, &one, 0, vram, &ref) && run(path, dev, n_dev, vram, &got)) {
		bool eq = ref.n_vocab == got.n_vocab &&
			  !memcmp(ref.logits, got.logits, (size_t)(N_GEN + 1) * ref.n_vocab * sizeof(float));
		CHECK_MSG(eq, "%s: %u devices give other logits than one", what, n_dev);
		if (vram)
			CHECK_MSG(got.misses > 0, "%s: the streamed pipeline did not stream", what);
		printf("%-40s %s (%llu misses)\n", what, eq ? "ok" : "DIFFERENT", (unsigned long long)got.misses);
	}
	free(ref.logits);
	free(got.logits);
}

/* Two sequences in one batch on a pipeline: each gets what it gets alone on one device. */
static void batch(const char *path)
{
	char err[512];
	const int32_t dev[2] = { 0, 1 };
	struct run ref = { 0 };
	if (!run(path, dev, 0, 0, &ref))
		return;
	struct sluice_model *m = load(path, dev, 2, 0, NULL, err, sizeof err);
	CHECK_MSG(m, "load: %s", err);
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 128;
	cp.n_seq_max = 2;
	struct sluice_ctx *c = NULL;
	CHECK_MSG(m && sluice_ctx_new(m, &cp, &c, err, sizeof err) == 0, "ctx: %s", err);
	if (c) {
		/* sequence 0: the prompt of run(); sequence 1: its first 5 tokens */
		struct sluice_batch_token b[N_PROMPT + 5];
		size_t n = 0;
		for (int i = 0; i < N_PROMPT; i++)
			b[n++] = (struct sluice_batch_token){ 0, (int32_t)(3 + (uint32_t)(i * 13) % (ref.n_vocab - 3)),
							      (uint32_t)i, 0 };
		for (int i = 0; i < 5; i++)
			b[n++] = (struct sluice_batch_token){ 1, b[i].token, (uint32_t)i, 0 };
		int rc = sluice_decode_batch(c, b, n);
		CHECK_MSG(rc == 0, "decode_batch: %s", sluice_ctx_error(c));
		const float *lg = NULL;
		if (!rc && !sluice_seq_logits(c, 0, &lg))
			CHECK_MSG(!memcmp(lg, ref.logits, ref.n_vocab * sizeof(float)),
				  "a batch on 2 devices: sequence 0's logits differ from one device's");
		printf("%-40s ok\n", "batch of 2 sequences on 2 devices");
	}
	sluice_ctx_free(c);
	sluice_model_free(m);
	free(ref.logits);
}

static void refused(const char *path, const char *what, const char *backend, const int32_t *dev, uint32_t n_dev,
		    const uint64_t *vrams, const char *want)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.backend = backend;
	mp.pressure = "none";
	mp.devices = dev;
	mp.n_devices = n_dev;
	mp.vram_budgets = vrams;
	struct sluice_model *m = NULL;
	char err[512] = "";
	int rc = sluice_model_load(path, &mp, &m, err, sizeof err);
	CHECK_MSG(rc < 0 && !m && strstr(err, want), "%s: rc %d, '%s' (wanted '%s')", what, rc, err, want);
	sluice_model_free(m);
}

int main(void)
{
	struct sl_err err;
	const char *path = t_tmp_path("multi.gguf"), *rpath = t_tmp_path("multi_rope.gguf");
	struct sl_synth_params sp = { .size_bytes = 4u << 20, .type = SL_TYPE_F16, .seed = 21, .n_embd = 256, .n_layer = 6 };
	struct sl_synth_params rp = { .size_bytes = 3u << 20, .type = SL_TYPE_Q8_0, .seed = 22, .n_layer = 4,
				      .rope_freqs = true };
	CHECK(sl_synth_plan(&sp, &err) == 0 && sl_synth_plan(&rp, &err) == 0);
	CHECK_MSG(sl_synth_write(&sp, path, NULL, NULL, &err) == 0, "%s", err.msg);
	CHECK_MSG(sl_synth_write(&rp, rpath, NULL, NULL, &err) == 0, "%s", err.msg);

	const int32_t two[2] = { 0, 1 }, three[3] = { 2, 0, 1 };
	same(path, "2 devices, resident", two, 2, 0);
	same(path, "3 devices, resident", three, 3, 0);
	same(path, "2 devices, streamed (1.7 MiB each)", two, 2, 17u << 17);
	same(rpath, "rope_freqs, 2 devices", two, 2, 0);
	same(rpath, "rope_freqs, 2 devices, streamed", two, 2, 150u << 10);
	batch(path);

	/* Unequal budgets: the device with the larger budget gets more of the 6 equal layers. */
	char e[512];
	const uint64_t vr[2] = { 4u << 20, 17u << 17 };
	struct sluice_model *m = load(path, two, 2, 0, vr, e, sizeof e);
	CHECK_MSG(m, "load with budgets: %s", e);
	if (m) {
		CHECK_MSG(m->pipe && m->pipe->first[1] >= 4 && m->pipe->first[2] == 6, "split %u/%u", m->pipe->first[1],
			  m->pipe->first[2]);
		sluice_model_free(m);
	}

	/* Refused, with a message. */
	const int32_t dup[2] = { 1, 1 }, neg[2] = { 0, -1 }, seven[7] = { 0, 1, 2, 3, 4, 5, 6 };
	refused(path, "repeated device", "cpu-async", dup, 2, NULL, "device 1 is listed twice");
	refused(path, "negative device", "cpu-async", neg, 2, NULL, "device -1 is not a device number");
	refused(path, "NULL devices", "cpu-async", NULL, 2, NULL, "devices is NULL");
	refused(path, "too many devices", "cpu-async", two, SLUICE_MAX_DEVICES + 1, NULL, "n_devices 17 out of range");
	refused(path, "auto", "auto", two, 2, NULL, "needs a backend by name");
	refused(path, "NAME:N", "cuda:0", two, 2, NULL, "needs a backend by name");
	refused(path, "budgets without devices", "cpu-async", NULL, 0, vr, "given with n_devices 0");
	refused(path, "more devices than layers", "cpu-async", seven, 7, NULL, "6 layers: it cannot be split across 7");
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.reserved2 = 1;
	CHECK(sluice_model_load(path, &mp, &m, e, sizeof e) == -EINVAL && strstr(e, "reserved2"));

	/* deepseek2 (MLA, experts) is not split yet: said at load. */
	const char *dpath = t_tmp_path("multi_ds2.gguf");
	struct sl_synth_params dp = { .size_bytes = 2u << 20, .type = SL_TYPE_F16, .seed = 23, .arch = "deepseek2" };
	CHECK(sl_synth_plan(&dp, &err) == 0);
	CHECK_MSG(sl_synth_write(&dp, dpath, NULL, NULL, &err) == 0, "%s", err.msg);
	refused(dpath, "deepseek2", "cpu-async", two, 2, NULL, "splitting a deepseek2 model across several devices");
	remove(path);
	remove(rpath);
	remove(dpath);
	return t_done();
}
