/* Memory-pressure events shrink the host weight cache of a streaming model, and the generated tokens
 * are the same as without pressure.  Events are injected through the model's pressure monitor (the
 * same path a /dev/sluice or PSI event takes). */
#include "helpers/testutil.h"
#include "model/model.h"
#include "model/synth.h"
#include "quant/quant.h"
#include "sys/pressure.h"

#include <unistd.h>

#define N_GEN 12

static int run(const char *path, bool pressure, int32_t *out, uint64_t *budget_before, uint64_t *budget_after,
	       uint64_t *events)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.vram_budget = 2u << 20;
	mp.host_cache = 16u << 20;
	mp.n_threads = 1;
	mp.pressure = "inject";
	char err[512];
	struct sluice_model *m;
	struct sluice_ctx *c;
	if (sluice_model_load(path, &mp, &m, err, sizeof(err))) {
		fprintf(stderr, "load: %s\n", err);
		return -1;
	}
	CHECK(m->pressure != NULL);
	if (sluice_ctx_new(m, NULL, &c, err, sizeof(err))) {
		fprintf(stderr, "ctx: %s\n", err);
		return -1;
	}
	*budget_before = sl_weights_host_budget(m->weights);
	int32_t tok = 1;
	const float *lg;
	for (int i = 0; i < N_GEN; i++) {
		if (pressure && (i == 3 || i == 6 || i == 9)) {
			CHECK(sl_pressure_inject(m->pressure, i == 9 ? SL_PRESSURE_CRITICAL : SL_PRESSURE_MEDIUM) == 0);
			/* The callback runs on the monitor thread; wait for it to have been delivered. */
			for (int k = 0; k < 2000 && sl_pressure_delivered(m->pressure) < (uint64_t)(i / 3); k++)
				usleep(1000);
		}
		if (sluice_decode(c, &tok, 1, &lg)) {
			fprintf(stderr, "decode: %s\n", sluice_ctx_error(c));
			return -1;
		}
		int best = 0;
		for (uint32_t j = 1; j < m->hp.n_vocab; j++)
			if (lg[j] > lg[best])
				best = (int)j;
		out[i] = tok = best;
	}
	*budget_after = sl_weights_host_budget(m->weights);
	struct sluice_stats st;
	sluice_ctx_get_stats(c, &st);
	*events = st.shrink_events;
	CHECK(sl_weights_host_used(m->weights) <= *budget_after);
	sluice_ctx_free(c);
	sluice_model_free(m);
	return 0;
}

int main(void)
{
	struct sl_synth_params sp = { .size_bytes = 12u << 20, .type = SL_TYPE_F16, .seed = 9, .n_embd = 256 };
	struct sl_err err;
	const char *path = t_tmp_path("pressure.gguf");
	CHECK(sl_synth_plan(&sp, &err) == 0);
	CHECK_MSG(sl_synth_write(&sp, path, NULL, NULL, &err) == 0, "%s", err.msg);
	int32_t a[N_GEN], b[N_GEN];
	uint64_t b0, b1, e0, b2, b3, e1;
	CHECK(run(path, false, a, &b0, &b1, &e0) == 0);
	CHECK(run(path, true, b, &b2, &b3, &e1) == 0);
	CHECK(e0 == 0 && b1 == b0);
	CHECK_MSG(e1 == 3, "shrink events %llu", (unsigned long long)e1);
	CHECK_MSG(b3 < b2 / 2, "host budget %llu -> %llu", (unsigned long long)b2, (unsigned long long)b3);
	for (int i = 0; i < N_GEN; i++)
		CHECK_MSG(a[i] == b[i], "token %d: %d without pressure, %d with", i, a[i], b[i]);
	printf("host cache budget %.1f MiB -> %.1f MiB after 3 events; tokens unchanged\n", b2 / 1048576.0,
	       b3 / 1048576.0);
	unlink(path);
	return t_done();
}
