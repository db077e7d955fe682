/* One model, several contexts, several threads (issue 9 item 2).  Four contexts of one model decode
 * on four threads at once, the model streamed (small vram_budget and host_cache) and resident, on
 * the cpu and cpu-async backends; every token must equal a single-threaded run of the same context.
 * Before the model had a lock this corrupted the weight store (a double free under ASan) or gave
 * wrong tokens.  Then: one context used from two threads at once gets -EBUSY with a message (the
 * model's lock is held by the test so the first thread is deterministically inside sluice_decode),
 * and a context's reset/get_stats/free are refused the same way.  Meant to run under `make asan`
 * and `make tsan` as well. */
#include "helpers/testutil.h"
#include "model/model.h"
#include "model/synth.h"
#include "quant/quant.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#define N_CTX_THREADS 4
#define N_PROMPT 5
#define N_GEN 6

struct job {
	struct sluice_model *m;
	int which; /* prompt seed */
	int32_t out[N_GEN];
	int rc;
	char err[512];
};

/* A context's whole life: new, a prompt of several tokens, greedy generation, free. */
static void *run_ctx(void *arg)
{
	struct job *j = arg;
	struct sluice_ctx *c = NULL;
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 64;
	j->rc = sluice_ctx_new(j->m, &cp, &c, j->err, sizeof(j->err));
	if (j->rc)
		return NULL;
	int32_t prompt[N_PROMPT];
	for (int i = 0; i < N_PROMPT; i++)
		prompt[i] = 3 + (j->which * 37 + i * 11) % 250;
	const float *lg;
	if ((j->rc = sluice_decode(c, prompt, N_PROMPT, &lg))) {
		snprintf(j->err, sizeof(j->err), "prompt: %s", sluice_ctx_error(c));
		goto out;
	}
	for (int i = 0; i < N_GEN; i++) {
		int32_t best = 0;
		for (uint32_t v = 1; v < j->m->hp.n_vocab; v++)
			if (lg[v] > lg[best])
				best = (int32_t)v;
		j->out[i] = best;
		if ((j->rc = sluice_decode(c, &best, 1, &lg))) {
			snprintf(j->err, sizeof(j->err), "token %d: %s", i, sluice_ctx_error(c));
			goto out;
		}
	}
	struct sluice_stats st;
	j->rc = sluice_ctx_get_stats(c, &st);
out:
	sluice_ctx_free(c);
	return NULL;
}

static struct sluice_model *load(const char *path, const char *backend, bool streamed)
{
	struct sluice_model *m = t_load_model(path, backend, streamed);
	if (m)
		CHECK_MSG(sl_weights_streaming(m->weights) == streamed, "%s: streaming %d, wanted %d", backend,
			  sl_weights_streaming(m->weights), streamed);
	return m;
}

static void shared(const char *path, const char *backend, bool streamed)
{
	struct job ref[N_CTX_THREADS], par[N_CTX_THREADS];
	struct sluice_model *m = load(path, backend, streamed);
	if (!m)
		return;
	/* The reference: the same contexts one after another on this thread. */
	for (int i = 0; i < N_CTX_THREADS; i++) {
		ref[i] = (struct job){ .m = m, .which = i };
		run_ctx(&ref[i]);
		CHECK_MSG(ref[i].rc == 0, "reference %d: %s", i, ref[i].err);
	}
	/* Twice over, to give interleavings a chance. */
	for (int round = 0; round < 2; round++) {
		pthread_t th[N_CTX_THREADS];
		for (int i = 0; i < N_CTX_THREADS; i++) {
			par[i] = (struct job){ .m = m, .which = i };
			CHECK(pthread_create(&th[i], NULL, run_ctx, &par[i]) == 0);
		}
		for (int i = 0; i < N_CTX_THREADS; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < N_CTX_THREADS; i++) {
			CHECK_MSG(par[i].rc == 0, "%s %s, thread %d: %s", backend, streamed ? "streamed" : "resident", i,
				  par[i].err);
			for (int k = 0; k < N_GEN; k++)
				CHECK_MSG(par[i].out[k] == ref[i].out[k], "%s %s, thread %d token %d: %d, alone %d",
					  backend, streamed ? "streamed" : "resident", i, k, par[i].out[k], ref[i].out[k]);
		}
	}
	sluice_model_free(m);
	printf("%s, %s: %d contexts on %d threads give the single-threaded tokens\n", backend,
	       streamed ? "streamed" : "resident", N_CTX_THREADS, N_CTX_THREADS);
}

struct busy_arg {
	struct sluice_ctx *c;
	int rc;
};

static void *decode_one(void *arg)
{
	struct busy_arg *a = arg;
	int32_t t = 5;
	a->rc = sluice_decode(a->c, &t, 1, NULL);
	return NULL;
}

/* One context, two threads: the second is refused with -EBUSY and a message, and nothing breaks. */
static void one_ctx_two_threads(const char *path)
{
	struct sluice_model *m = load(path, "cpu", false);
	struct sluice_ctx *c;
	char err[512];
	if (!m)
		return;
	CHECK_MSG(sluice_ctx_new(m, NULL, &c, err, sizeof(err)) == 0, "%s", err);
	/* Hold the model's lock: the other thread takes the context's busy flag and waits inside. */
	pthread_mutex_lock(&m->lock);
	struct busy_arg a = { c, 1 };
	pthread_t th;
	CHECK(pthread_create(&th, NULL, decode_one, &a) == 0);
	for (int i = 0; i < 100000 && !atomic_load(&c->busy); i++)
		usleep(100);
	CHECK(atomic_load(&c->busy));
	int32_t t = 7;
	int rc = sluice_decode(c, &t, 1, NULL);
	CHECK_MSG(rc == -EBUSY, "second thread's decode: %d", rc);
	CHECK_MSG(strstr(sluice_ctx_error(c), "in use by another thread") != NULL, "message: '%s'", sluice_ctx_error(c));
	struct sluice_stats st;
	CHECK(sluice_ctx_get_stats(c, &st) == -EBUSY);
	sluice_ctx_reset(c); /* refused: does nothing */
	sluice_ctx_free(c);  /* refused: the context stays */
	pthread_mutex_unlock(&m->lock);
	pthread_join(th, NULL);
	CHECK_MSG(a.rc == 0, "first thread's decode: %d (%s)", a.rc, sluice_ctx_error(c));
	/* The context survived the refused free and reset, at position 1. */
	CHECK(c->seq_len[0] == 1);
	CHECK(sluice_decode(c, &t, 1, NULL) == 0);
	CHECK(c->seq_len[0] == 2);
	CHECK(sluice_ctx_error(c)[0] == 0 || strstr(sluice_ctx_error(c), "another thread") == NULL);
	sluice_ctx_free(c);
	sluice_model_free(m);
	printf("one context on two threads: -EBUSY with a message\n");
}

int main(void)
{
	struct sl_synth_params sp = { .size_bytes = 8u << 20, .type = SL_TYPE_F16, .seed = 11, .n_embd = 256 };
	struct sl_err err;
	const char *path = t_tmp_path("threads.gguf");
	CHECK(sl_synth_plan(&sp, &err) == 0);
	CHECK_MSG(sl_synth_write(&sp, path, NULL, NULL, &err) == 0, "%s", err.msg);
	static const char *const backends[] = { "cpu", "cpu-async" };
	for (int b = 0; b < 2; b++) {
		shared(path, backends[b], false);
		shared(path, backends[b], true);
	}
	one_ctx_two_threads(path);
	unlink(path);
	return t_done();
}
