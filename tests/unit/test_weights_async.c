/* The weight store under every backend mode and budget: tokens equal an unconstrained CPU run, bytes
 * read per token stay at what the plan streams, and a deliberately broken schedule (buffers reused
 * before their last use) is caught by the asynchronous test backend as wrong output.
 *
 * Backends: "cpu" (synchronous, host-visible: streamed weights are read in place), "cpu-async"
 * (deferred worker, not host-visible: streamed weights go through the device window with uploads and
 * fences, as on a GPU), "cpu-async-zc" (deferred, host-visible). */
#include "helpers/testutil.h"
#include "cache/store.h"
#include "model/model.h"
#include "model/synth.h"
#include "quant/quant.h"

#include <math.h>
#include <unistd.h>

#define N_GEN 10

struct result {
	int32_t tok[N_GEN];
	bool bad;               /* a NaN/Inf logit, or a decode error */
	double read_per_token;  /* bytes read by the decode loop / N_GEN */
	uint64_t planned;       /* bytes the plan streams per token: total - resident - pinned */
	uint64_t layer_span;    /* largest layer's read size */
};

static int run_io(const char *path, const char *backend, const char *io, uint64_t vram, uint64_t host,
		  bool broken, struct result *r)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.backend = backend;
	mp.io_engine = io;
	mp.vram_budget = vram;
	mp.host_cache = host;
	mp.n_threads = 1;
	mp.pressure = "none";
	char err[512];
	struct sluice_model *m;
	struct sluice_ctx *c;
	memset(r, 0, sizeof(*r));
	if (sluice_model_load(path, &mp, &m, err, sizeof(err))) {
		fprintf(stderr, "load (%s, vram %llu, host %llu): %s\n", backend, (unsigned long long)vram,
			(unsigned long long)host, err);
		return -1;
	}
	if (sluice_ctx_new(m, NULL, &c, err, sizeof(err))) {
		fprintf(stderr, "ctx: %s\n", err);
		sluice_model_free(m);
		return -1;
	}
	struct sl_weights *w = m->weights;
	sl_weights_test_break_last_use(w, broken);
	uint64_t total = 0;
	for (int i = 0; i < w->n; i++)
		total += w->u[i].size;
	struct sl_weights_stats s0, s1;
	sl_weights_get_stats(w, &s0);
	r->planned = total - s0.device_resident - s0.host_pinned;
	r->layer_span = w->plan.step_span;
	int32_t tok = 1;
	const float *lg;
	for (int i = 0; i < N_GEN && !r->bad; i++) {
		if (sluice_decode(c, &tok, 1, &lg)) {
			fprintf(stderr, "decode (%s%s): %s\n", backend, broken ? ", broken" : "", sluice_ctx_error(c));
			r->bad = true;
			break;
		}
		int best = 0;
		for (uint32_t j = 0; j < m->hp.n_vocab; j++) {
			if (!isfinite(lg[j]))
				r->bad = true;
			if (lg[j] > lg[best])
				best = (int)j;
		}
		r->tok[i] = tok = best;
	}
	sl_weights_get_stats(w, &s1);
	r->read_per_token = (double)(s1.bytes_read - s0.bytes_read) / N_GEN;
	sluice_ctx_free(c);
	sluice_model_free(m);
	return 0;
}

static int run(const char *path, const char *backend, uint64_t vram, uint64_t host, bool broken,
	       struct result *r)
{
	return run_io(path, backend, "auto", vram, host, broken, r);
}

static bool same(const struct result *a, const struct result *b)
{
	return !a->bad && !b->bad && !memcmp(a->tok, b->tok, sizeof(a->tok));
}

int main(void)
{
	struct sl_synth_params sp = { .size_bytes = 12u << 20, .type = SL_TYPE_Q8_0, .seed = 5, .n_embd = 256 };
	struct sl_err err;
	const char *path = t_tmp_path("async.gguf");
	CHECK(sl_synth_plan(&sp, &err) == 0);
	CHECK_MSG(sl_synth_write(&sp, path, NULL, NULL, &err) == 0, "%s", err.msg);

	struct result ref, r;
	CHECK(run(path, "cpu", 0, 0, false, &ref) == 0);
	CHECK(!ref.bad);

	/* Budgets: resident, streamed with a roomy host cache, and down to a host cache of two layers. */
	static const struct {
		uint64_t vram, host;
	} budgets[] = {
		{ 0, 0 },
		{ 3u << 20, 8u << 20 },
		{ 3u << 20, 0 },        /* host cache unlimited: everything streamed is pinned there */
		{ 3u << 20, 0xffff },   /* replaced by two layers' reads below */
	};
	static const char *const backends[] = { "cpu", "cpu-async", "cpu-async-zc" };
	uint64_t two_layers = 0;
	for (size_t b = 0; b < SL_ARRAY_SIZE(backends); b++)
		for (size_t k = 0; k < SL_ARRAY_SIZE(budgets); k++) {
			uint64_t host = budgets[k].host;
			if (host == 0xffff) {
				if (!two_layers) {
					struct result probe;
					CHECK(run(path, "cpu", budgets[k].vram, 8u << 20, false, &probe) == 0);
					two_layers = 2 * probe.layer_span;
				}
				host = two_layers;
			}
			int rc = run(path, backends[b], budgets[k].vram, host, false, &r);
			CHECK_MSG(rc == 0, "%s vram %llu host %llu failed", backends[b],
				  (unsigned long long)budgets[k].vram, (unsigned long long)host);
			CHECK_MSG(same(&ref, &r), "%s, vram %llu, host %llu: tokens differ from the cpu reference",
				  backends[b], (unsigned long long)budgets[k].vram, (unsigned long long)host);
			/* Nothing is read twice in a token: at most the plan's streamed bytes (+2%). */
			CHECK_MSG(r.read_per_token <= 1.02 * (double)r.planned + 1,
				  "%s, vram %llu, host %llu: %.0f bytes read per token, plan streams %llu",
				  backends[b], (unsigned long long)budgets[k].vram, (unsigned long long)host,
				  r.read_per_token, (unsigned long long)r.planned);
			printf("%-13s vram %5.1f MiB host %5.1f MiB: %8.0f bytes/token read (plan %llu)\n", backends[b],
			       budgets[k].vram / 1048576.0, host / 1048576.0, r.read_per_token,
			       (unsigned long long)r.planned);
		}

	/* The mmap engine: the page cache is the host tier; a backend that cannot read host memory
	 * still copies each streamed unit into its device window. */
	for (size_t b = 0; b < SL_ARRAY_SIZE(backends); b++) {
		CHECK(run_io(path, backends[b], "mmap", 3u << 20, 0, false, &r) == 0);
		CHECK_MSG(same(&ref, &r), "%s with mmap: tokens differ from the cpu reference", backends[b]);
	}

	/* The broken schedule: buffers reused without waiting for the kernels that read them.  The
	 * synchronous backend cannot tell (its kernels ran already); the asynchronous one must. */
	CHECK(run(path, "cpu", 3u << 20, two_layers, true, &r) == 0);
	CHECK_MSG(same(&ref, &r), "synchronous cpu: tokens changed by the broken schedule");
	CHECK(run(path, "cpu-async", 3u << 20, two_layers, true, &r) == 0);
	CHECK_MSG(!same(&ref, &r), "cpu-async did not catch buffers reused before their last use");
	CHECK(run(path, "cpu-async-zc", 3u << 20, two_layers, true, &r) == 0);
	CHECK_MSG(!same(&ref, &r), "cpu-async-zc did not catch host buffers reused before their last use");
	unlink(path);
	return t_done();
}
