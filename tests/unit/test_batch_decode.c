/* Batched decoding (issue 14 item 1): sequences decoded together with sluice_decode_batch give
 * exactly the greedy tokens each gives alone with sluice_decode.  Five requests share a context of
 * three sequences the way a server's continuous batching uses it: prompts join while others
 * generate, one prompt is longer than a forward chunk (so a batch spans chunks), a finished
 * sequence is removed and its id reused by the next request.  On stories260K (when the shared
 * models are there) and on a generated F16 model, resident and streamed under a small budget,
 * on the cpu and cpu-async backends; on a qwen2 model (q/k/v biases, NeoX rope) and one with
 * Llama-3.1's rope_freqs.  Then the batch's rules: each broken one is refused with a message and
 * changes nothing. */
#include "helpers/testutil.h"
#include "model/model.h"
#include "model/synth.h"
#include "quant/quant.h"

#include <errno.h>
#include <unistd.h>

#define N_TASK 5
#define N_SLOT 3
#define N_GEN 8
#define MAX_PROMPT 80

struct task {
	int32_t prompt[MAX_PROMPT];
	int np, start_step;
	int32_t ref[N_GEN], out[N_GEN];
	int n_out, slot; /* slot -1: waiting or done */
};


static void make_tasks(struct task *t, uint32_t n_vocab)
{
	static const int lens[N_TASK] = { 5, 70, 1, 9, 3 }; /* 70: longer than a forward chunk (64) */
	static const int start[N_TASK] = { 0, 0, 2, 3, 3 };
	for (int k = 0; k < N_TASK; k++) {
		t[k] = (struct task){ .np = lens[k], .start_step = start[k], .slot = -1 };
		for (int i = 0; i < lens[k]; i++)
			t[k].prompt[i] = (int32_t)(3 + (uint32_t)(k * 37 + i * 11) % (n_vocab - 3));
	}
}

/* Each task alone: its prompt, then N_GEN greedy tokens. */
static int run_alone(struct sluice_model *m, struct task *t)
{
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 128;
	struct sluice_ctx *c = NULL;
	char err[512];
	int rc = sluice_ctx_new(m, &cp, &c, err, sizeof(err));
	CHECK_MSG(rc == 0, "ctx: %s", err);
	if (rc)
		return rc;
	for (int k = 0; k < N_TASK && !rc; k++) {
		const float *lg;
		sluice_ctx_reset(c);
		rc = sluice_decode(c, t[k].prompt, (size_t)t[k].np, &lg);
		for (int i = 0; i < N_GEN && !rc; i++) {
			t[k].ref[i] = t_argmax(lg, m->hp.n_vocab);
			rc = sluice_decode(c, &t[k].ref[i], 1, &lg);
		}
		CHECK_MSG(rc == 0, "alone, task %d: %s", k, sluice_ctx_error(c));
	}
	sluice_ctx_free(c);
	return rc;
}

/* All tasks through N_SLOT sequences of one context, continuous batching. */
static int run_batched(struct sluice_model *m, struct task *t)
{
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 128;
	cp.n_seq_max = N_SLOT;
	struct sluice_ctx *c = NULL;
	char err[512];
	int rc = sluice_ctx_new(m, &cp, &c, err, sizeof(err));
	CHECK_MSG(rc == 0, "ctx: %s", err);
	if (rc)
		return rc;
	bool used[N_SLOT] = { false };
	int done = 0, max_rows = 0;
	for (int step = 0; done < N_TASK && step < 100 && !rc; step++) {
		struct sluice_batch_token b[N_TASK * MAX_PROMPT];
		size_t n = 0;
		/* Newcomers take a free sequence id (a removed one is reused). */
		for (int k = 0; k < N_TASK; k++) {
			if (t[k].slot >= 0 || t[k].n_out == N_GEN || t[k].start_step > step)
				continue;
			for (int s = 0; s < N_SLOT; s++)
				if (!used[s]) {
					used[s] = true;
					t[k].slot = s;
					break;
				}
		}
		for (int k = 0; k < N_TASK; k++) {
			if (t[k].slot < 0)
				continue;
			uint32_t len = 0;
			CHECK(sluice_seq_len(c, t[k].slot, &len) == 0);
			if (t[k].n_out == 0 && len == 0) {
				for (int i = 0; i < t[k].np; i++)
					b[n++] = (struct sluice_batch_token){ t[k].slot, t[k].prompt[i], (uint32_t)i, 0 };
			} else {
				b[n++] = (struct sluice_batch_token){ t[k].slot, t[k].out[t[k].n_out - 1], len, 0 };
			}
		}
		if (n == 0)
			continue;
		max_rows = (int)SL_MAX((size_t)max_rows, n);
		rc = sluice_decode_batch(c, b, n);
		CHECK_MSG(rc == 0, "step %d: %s", step, sluice_ctx_error(c));
		for (int k = 0; k < N_TASK && !rc; k++) {
			if (t[k].slot < 0)
				continue;
			const float *lg;
			rc = sluice_seq_logits(c, t[k].slot, &lg);
			CHECK_MSG(rc == 0, "logits: %s", sluice_ctx_error(c));
			if (rc)
				break;
			t[k].out[t[k].n_out++] = t_argmax(lg, m->hp.n_vocab);
			if (t[k].n_out == N_GEN) {
				CHECK(sluice_seq_remove(c, t[k].slot) == 0);
				used[t[k].slot] = false;
				t[k].slot = -1;
				done++;
			}
		}
	}
	CHECK_MSG(done == N_TASK, "%d of %d tasks finished", done, N_TASK);
	CHECK(max_rows > SL_N_BATCH); /* the long prompt made a batch of more than one chunk */
	sluice_ctx_free(c);
	return rc;
}

static void exact(const char *path, const char *what, const char *backend, bool streamed)
{
	struct sluice_model *m = t_load_model(path, backend, streamed);
	if (!m)
		return;
	struct task t[N_TASK];
	make_tasks(t, m->hp.n_vocab);
	if (!run_alone(m, t) && !run_batched(m, t)) {
		int bad = 0;
		for (int k = 0; k < N_TASK; k++)
			for (int i = 0; i < N_GEN; i++)
				if (t[k].out[i] != t[k].ref[i] && bad++ < 5)
					fprintf(stderr, "%s %s %s task %d token %d: batched %d, alone %d\n", what, backend,
						streamed ? "streamed" : "resident", k, i, t[k].out[i], t[k].ref[i]);
		CHECK(bad == 0);
		if (!bad)
			printf("%s, %s, %s: %d requests through %d sequences give their tokens alone\n", what, backend,
			       streamed ? "streamed" : "resident", N_TASK, N_SLOT);
	}
	sluice_model_free(m);
}

/* The batch's rules: each violation is -EINVAL (or -ENOSPC) with a message, and nothing changes. */
static void rules(const char *path)
{
	char err[512];
	struct sluice_model *m = NULL;
	CHECK_MSG(sluice_model_load(path, NULL, &m, err, sizeof(err)) == 0, "%s", err);
	if (!m)
		return;
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 8;
	cp.n_seq_max = 2;
	struct sluice_ctx *c = NULL;
	CHECK_MSG(sluice_ctx_new(m, &cp, &c, err, sizeof(err)) == 0, "%s", err);
	cp.n_seq_max = SLUICE_MAX_SEQ + 1;
	struct sluice_ctx *c2 = NULL;
	CHECK(sluice_ctx_new(m, &cp, &c2, err, sizeof(err)) == -EINVAL && strstr(err, "n_seq_max"));
	const struct {
		struct sluice_batch_token b[3];
		size_t n;
		int rc;
		const char *msg;
	} cases[] = {
		{ { { 2, 5, 0, 0 } }, 1, -EINVAL, "out of range" },
		{ { { -1, 5, 0, 0 } }, 1, -EINVAL, "out of range" },
		{ { { 0, -3, 0, 0 } }, 1, -EINVAL, "token -3" },
		{ { { 0, 5, 1, 0 } }, 1, -EINVAL, "expected 0" },
		{ { { 0, 5, 0, 0 }, { 0, 5, 2, 0 } }, 2, -EINVAL, "expected 1" },
		{ { { 0, 5, 0, 0 }, { 1, 5, 0, 0 }, { 0, 5, 1, 0 } }, 3, -EINVAL, "not consecutive" },
		{ { { 0, 5, 0, 7 } }, 1, -EINVAL, "reserved" },
		{ { { 0, 5, 0, 0 } }, 0, -EINVAL, "no entries" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = sluice_decode_batch(c, cases[i].b, cases[i].n);
		CHECK_MSG(rc == cases[i].rc && strstr(sluice_ctx_error(c), cases[i].msg), "case %zu: %d '%s'", i, rc,
			  sluice_ctx_error(c));
	}
	CHECK(sluice_decode_batch(c, NULL, 1) == -EINVAL);
	uint32_t len = 9;
	CHECK(sluice_seq_len(c, 0, &len) == 0 && len == 0);
	const float *lg;
	CHECK(sluice_seq_logits(c, 1, &lg) == -ENOENT);
	CHECK(sluice_seq_len(c, 2, &len) == -EINVAL);
	CHECK(sluice_seq_remove(c, -1) == -EINVAL);
	/* The context is full at n_ctx per sequence. */
	struct sluice_batch_token fill[9];
	for (uint32_t i = 0; i < 9; i++)
		fill[i] = (struct sluice_batch_token){ 1, 5, i, 0 };
	CHECK(sluice_decode_batch(c, fill, 9) == -ENOSPC);
	CHECK(sluice_decode_batch(c, fill, 8) == 0);
	CHECK(sluice_seq_len(c, 1, &len) == 0 && len == 8);
	CHECK(sluice_seq_len(c, 0, &len) == 0 && len == 0);
	CHECK(sluice_seq_logits(c, 1, &lg) == 0);
	CHECK(sluice_seq_remove(c, 1) == 0);
	CHECK(sluice_seq_len(c, 1, &len) == 0 && len == 0);
	CHECK(sluice_decode_batch(NULL, fill, 1) == -EINVAL);
	sluice_ctx_free(c);
	sluice_model_free(m);
	printf("batch rules: each violation refused with a message\n");
}

/* Arguments, if any, name the backends to check instead of cpu and cpu-async (a GPU machine: cuda). */
int main(int argc, char **argv)
{
	struct sl_synth_params sp = { .size_bytes = 8u << 20, .type = SL_TYPE_F16, .seed = 14, .n_embd = 256 };
	struct sl_err err;
	const char *path = t_tmp_path("batch.gguf");
	CHECK(sl_synth_plan(&sp, &err) == 0);
	CHECK_MSG(sl_synth_write(&sp, path, NULL, NULL, &err) == 0, "%s", err.msg);
	static const char *const defaults[] = { "cpu", "cpu-async" };
	const char *const *backends = argc > 1 ? (const char *const *)argv + 1 : defaults;
	const int n_be = argc > 1 ? argc - 1 : 2;
	for (int b = 0; b < n_be; b++) {
		exact(path, "generated f16", backends[b], false);
		exact(path, "generated f16", backends[b], true);
	}
	/* qwen2 (q/k/v biases on the batch's K/V rows, NeoX rope) and Llama-3.1's rope_freqs. */
	struct sl_synth_params qp = { .size_bytes = 4u << 20, .type = SL_TYPE_F16, .seed = 15, .arch = "qwen2" };
	struct sl_synth_params rp = { .size_bytes = 4u << 20, .type = SL_TYPE_F16, .seed = 16, .rope_freqs = true };
	const char *qpath = t_tmp_path("batch-qwen2.gguf"), *rpath = t_tmp_path("batch-ropefreqs.gguf");
	CHECK(sl_synth_plan(&qp, &err) == 0 && sl_synth_plan(&rp, &err) == 0);
	CHECK_MSG(sl_synth_write(&qp, qpath, NULL, NULL, &err) == 0, "%s", err.msg);
	CHECK_MSG(sl_synth_write(&rp, rpath, NULL, NULL, &err) == 0, "%s", err.msg);
	exact(qpath, "generated qwen2", "cpu", false); /* the CPU backends: a GPU backend may lack rope_ff */
	exact(rpath, "generated rope_freqs", "cpu-async", false);
	unlink(qpath);
	unlink(rpath);
	const char *dir = t_models_dir();
	if (dir) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/stories260K.gguf", dir);
		if (access(p, R_OK) == 0)
			for (int b = 0; b < n_be; b++)
				exact(p, "stories260K", backends[b], false);
		else
			printf("stories260K.gguf not in %s: only the generated model\n", dir);
	}
	rules(path);
	unlink(path);
	return t_done();
}
