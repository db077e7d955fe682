/* The weight store's mixture-of-experts side, driven directly (no model code): a synthetic GGUF with
 * 3-D expert tensors, one unit per expert slice, and made-up routing (Zipf-skewed, as real routers
 * are).  Checked: the (layer, expert) index; the counters' arithmetic (distinct experts per report,
 * bytes active, bytes read against misses, pre-gating precision and recall); that a chosen batch is
 * read as one batch at its prefetch and never evicted before its use, guesses in the list or not;
 * that the budgets hold; that lfru beats lru in expert hits on a skewed stream; the routing trace's
 * exact text; errors.  Backends: "cpu" (host-visible: the host cache is what compute reads) and
 * "cpu-async" (a device window with uploads, as on a GPU). */
#include "helpers/testutil.h"
#include "cache/store.h"
#include "quant/quant.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#define L 4        /* layer 0 dense, 1..3 MoE */
#define E 16       /* experts per MoE layer */
#define K 4        /* experts used per token */
#define D 64
#define F 128
#define SLICE ((uint64_t)D * F * 4) /* one expert's slice of one of the 3 tensors (F32) */
#define EXPERT (3 * SLICE)
#define MAXT 64

struct tinfo {
	char name[64];
	int layer, expert_dim; /* expert_dim: 3-D expert tensor */
	int64_t ne[3];
	float base;
};

static struct tinfo ts[MAXT];
static int n_ts;

static void tensor(const char *name, int layer, int64_t a, int64_t b, int64_t c)
{
	struct tinfo *t = &ts[n_ts];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->layer = layer;
	t->ne[0] = a;
	t->ne[1] = b;
	t->ne[2] = c;
	t->expert_dim = c > 1;
	t->base = (float)(n_ts * 200000);
	n_ts++;
}

/* Every float of tensor i holds base + its index: a unit's bytes say where they came from. */
static const char *write_model(void)
{
	static char path[512];
	char nm[64];
	n_ts = 0;
	tensor("token_embd.weight", -1, D, 32, 1);
	for (int l = 0; l < L; l++) {
		snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", l);
		tensor(nm, l, D, D, 1);
		if (l == 0) {
			snprintf(nm, sizeof nm, "blk.%d.ffn_gate.weight", l);
			tensor(nm, l, D, F, 1);
			snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", l);
			tensor(nm, l, D, F, 1);
			snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
			tensor(nm, l, F, D, 1);
			continue;
		}
		snprintf(nm, sizeof nm, "blk.%d.ffn_gate_inp.weight", l);
		tensor(nm, l, D, E, 1);
		snprintf(nm, sizeof nm, "blk.%d.ffn_gate_exps.weight", l);
		tensor(nm, l, D, F, E);
		snprintf(nm, sizeof nm, "blk.%d.ffn_up_exps.weight", l);
		tensor(nm, l, D, F, E);
		snprintf(nm, sizeof nm, "blk.%d.ffn_down_exps.weight", l);
		tensor(nm, l, F, D, E);
	}
	tensor("output.weight", -1, D, 32, 1);
	struct gguf_writer *w = sl_gguf_writer_new(32);
	sl_gguf_writer_set_str(w, "general.architecture", "deepseek2");
	sl_gguf_writer_set_str(w, "general.name", "moe test");
	for (int i = 0; i < n_ts; i++)
		CHECK(sl_gguf_writer_add_tensor(w, ts[i].name, SL_TYPE_F32, ts[i].expert_dim ? 3 : 2, ts[i].ne) == i);
	snprintf(path, sizeof path, "%s", t_tmp_path("experts.gguf"));
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct sl_err err;
	CHECK(fd >= 0 && sl_gguf_writer_write_header(w, fd, &err) == 0);
	for (int i = 0; i < n_ts; i++) {
		uint64_t n = (uint64_t)(ts[i].ne[0] * ts[i].ne[1] * ts[i].ne[2]);
		float *v = malloc(n * sizeof(float));
		for (uint64_t j = 0; j < n; j++)
			v[j] = ts[i].base + (float)j;
		CHECK(sl_gguf_writer_write_data(w, fd, i, 0, v, n * sizeof(float), &err) == 0);
		free(v);
	}
	CHECK(sl_gguf_writer_finish(w, fd, &err) == 0);
	close(fd);
	sl_gguf_writer_free(w);
	return path;
}

/* ---- the store under test ---- */

struct store {
	struct gguf_file *f;
	struct sl_backend *be;
	struct sl_weights *w;
	int dense[16], n_dense;     /* dense unit ids, globals included */
	int eu[L][E][3];            /* expert unit ids as registered */
	float ubase[1024];          /* per unit id: the value its first float must hold */
};

struct opts {
	const char *backend, *policy, *trace;
	uint64_t host_experts;      /* host cache: the window + this many experts */
};

static int open_store(struct store *s, const char *path, const struct opts *o, struct sl_err *err)
{
	memset(s, 0, sizeof(*s));
	int rc = sl_gguf_open(path, &s->f, err);
	if (rc)
		return rc;
	struct sl_backend_config bc = { .n_threads = 1 };
	if ((rc = sl_backend_new(o->backend, &bc, &s->be, err)))
		return rc;
	bool hv = sl_backend_has(s->be, SL_BE_HOST_VISIBLE);
	/* The device holds the globals and every dense unit (and the window where compute cannot read
	 * host memory); experts stream through the host cache. */
	uint64_t globals = 2 * (uint64_t)D * 32 * 4, dense = 0;
	for (int i = 0; i < n_ts; i++)
		if (ts[i].layer >= 0 && !ts[i].expert_dim)
			dense += (uint64_t)(ts[i].ne[0] * ts[i].ne[1]) * 4;
	uint64_t step = (uint64_t)D * D * 4 + (uint64_t)D * E * 4 + K * EXPERT; /* an MoE layer's */
	uint64_t step_span = step + 4 * 4096; /* pages of the host tier: generous */
	struct sl_weights_config wc = {
		.io_engine = "auto",
		.vram = globals + dense + (hv ? 0 : 2 * step),
		.host_cache = 2 * step_span + o->host_experts * EXPERT,
		.experts_used = K,
		.expert_policy = o->policy,
		.trace_experts = o->trace,
	};
	if ((rc = sl_weights_new(s->f, s->be, &wc, &s->w, err)))
		return rc;
	for (int i = 0; i < n_ts; i++) {
		const struct gguf_tensor *t = sl_gguf_find_tensor(s->f, ts[i].name);
		CHECK(t != NULL);
		if (!ts[i].expert_dim) {
			int id = sl_weights_add(s->w, t, ts[i].layer, -1, 0, 0, err);
			CHECK(id >= 0);
			s->ubase[id] = ts[i].base;
			s->dense[s->n_dense++] = id;
			continue;
		}
		int which = strstr(ts[i].name, "gate_exps") ? 0 : strstr(ts[i].name, "up_exps") ? 1 : 2;
		for (int e = 0; e < E; e++) {
			int id = sl_weights_add(s->w, t, ts[i].layer, e, (uint64_t)e * SLICE, SLICE, err);
			CHECK(id >= 0);
			s->eu[ts[i].layer][e][which] = id;
			s->ubase[id] = ts[i].base + (float)((uint64_t)e * SLICE / 4);
		}
	}
	return sl_weights_commit(s->w, L, err);
}

static void close_store(struct store *s)
{
	sl_weights_free(s->w);
	if (s->be)
		sl_backend_free(s->be);
	if (s->f)
		sl_gguf_close(s->f);
}

/* ---- routing ---- */

static uint64_t rng;

static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* K distinct experts, Zipf(s)-popular, each layer with its own order of popularity. */
static void route(int layer, double s, int32_t *out)
{
	double wgt[E], sum = 0;
	for (int e = 0; e < E; e++) {
		int r = (e * 7 + layer * 5) % E; /* expert e's popularity rank in this layer */
		wgt[e] = 1.0 / pow(r + 1, s);
	}
	for (int j = 0; j < K; j++) {
		sum = 0;
		for (int e = 0; e < E; e++)
			sum += wgt[e];
		double u = uniform() * sum;
		int e = 0;
		for (; e < E - 1 && (u -= wgt[e]) > 0; e++)
			;
		while (wgt[e] == 0) /* rounding at the end */
			e--;
		out[j] = e;
		wgt[e] = 0;
	}
}

struct run_stats {
	struct sl_weights_stats st;
	uint64_t want_guesses, want_correct, want_routed, batches, batches_whole;
	bool budget_ok, evicted_early, data_ok;
};

/* The unit's bytes, read after the backend finished (asynchronous backends copy later). */
static bool data_ok(struct store *s, int id, const void *p)
{
	s->be->ops->sync(s->be);
	const float *v = p;
	uint64_t n = s->w->u[id].size / 4;
	return v[0] == s->ubase[id] && v[n - 1] == s->ubase[id] + (float)(n - 1);
}

static bool present(const struct unit *u)
{
	return u->resident || u->host_pinned || u->hstate != H_NONE || u->on_dev;
}

/*
 * n_tok tokens, one at a time: per MoE layer the routing is reported, the chosen experts' units
 * prefetched as a batch (then, with pre-gating, the guessed experts of the next MoE layer: the true
 * choice's first `good` experts plus K - good others), and each unit acquired and released.
 */
static void drive(struct store *s, int n_tok, double skew, int good, struct run_stats *r)
{
	struct sl_weights *w = s->w;
	struct sl_err err;
	int32_t choice[L][K];
	memset(r, 0, sizeof(*r));
	r->budget_ok = r->data_ok = true;
	for (int t = 0; t < n_tok; t++) {
		for (int l = 1; l < L; l++)
			route(l, skew, choice[l]);
		for (int l = 0; l < L; l++) {
			const void *p;
			/* the layer's dense units (resident) */
			for (int i = 0; i < s->n_dense; i++)
				if (w->u[s->dense[i]].layer == l) {
					CHECK(sl_weights_acquire(w, s->dense[i], &p, &err) == 0);
					r->data_ok &= data_ok(s, s->dense[i], p);
					CHECK(sl_weights_release(w, s->dense[i], &err) == 0);
				}
			if (l == 0)
				continue;
			CHECK_MSG(sl_weights_routed(w, l, choice[l], 1, K, (uint64_t)t, &err) == 0, "%s", err.msg);
			int ids[3 * 2 * K], n = 0;
			for (int j = 0; j < K; j++)
				n += sl_weights_expert_units(w, l, choice[l][j], ids + n, 3);
			int n_chosen = n;
			if (good >= 0 && l + 1 < L) { /* pre-gating the next layer */
				int32_t g[K];
				int ng = 0;
				for (int j = 0; j < good; j++)
					g[ng++] = choice[l + 1][j];
				for (int e = 0; ng < K && e < E; e++) {
					int32_t c = (int32_t)((e * 5 + t) % E);
					bool dup = false;
					for (int j = 0; j < K; j++)
						dup |= choice[l + 1][j] == c;
					for (int j = 0; j < ng; j++)
						dup |= g[j] == c;
					if (!dup)
						g[ng++] = c;
				}
				sl_weights_guessed(w, l + 1, g, ng);
				r->want_guesses += (uint64_t)ng;
				r->want_correct += (uint64_t)good;
				r->want_routed += K;
				for (int j = 0; j < ng; j++)
					n += sl_weights_expert_units(w, l + 1, g[j], ids + n, 3);
			}
			sl_weights_prefetch(w, ids, n);
			/* The chosen batch is in memory or on its way, all of it, right after the prefetch. */
			bool whole = true;
			for (int i = 0; i < n_chosen; i++)
				whole &= present(&w->u[ids[i]]);
			r->batches++;
			r->batches_whole += whole;
			for (int i = 0; i < n_chosen; i++) {
				/* Nothing chosen and not yet used has left memory (guesses or not). */
				for (int j = i; j < n_chosen && whole; j++)
					if (!present(&w->u[ids[j]]))
						r->evicted_early = true;
				CHECK_MSG(sl_weights_acquire(w, ids[i], &p, &err) == 0, "%s", err.msg);
				r->data_ok &= data_ok(s, ids[i], p);
				CHECK(sl_weights_release(w, ids[i], &err) == 0);
				r->budget_ok &= w->host_used <= w->host_budget && w->win.used <= w->win_len;
			}
		}
	}
	sl_weights_get_stats(w, &r->st);
}

static double hit_rate(const struct sl_weights_stats *st)
{
	return st->experts_routed ? (double)st->expert_hits / (double)st->experts_routed : 0;
}

static void test_index(const char *path)
{
	struct store s;
	struct sl_err err;
	struct opts o = { "cpu", NULL, NULL, 8 };
	CHECK_MSG(open_store(&s, path, &o, &err) == 0, "%s", err.msg);
	CHECK(s.w->moe.n_expert == E && s.w->moe.first_moe == 1 && s.w->moe.expert_bytes == EXPERT);
	int ids[8];
	for (int l = 1; l < L; l++)
		for (int e = 0; e < E; e++) {
			CHECK(sl_weights_expert_units(s.w, l, e, ids, 8) == 3);
			CHECK(ids[0] == s.eu[l][e][0] && ids[1] == s.eu[l][e][1] && ids[2] == s.eu[l][e][2]);
		}
	CHECK(sl_weights_expert_units(s.w, 0, 0, ids, 8) == 0);  /* the dense layer */
	CHECK(sl_weights_expert_units(s.w, 1, E, ids, 8) == 0);  /* no such expert */
	CHECK(sl_weights_expert_units(s.w, 1, -1, ids, 8) == 0);
	CHECK(sl_weights_expert_units(s.w, 1, 3, ids, 2) == 2);  /* max */
	/* Placement: dense resident, no expert pinned in the host cache. */
	for (int i = 0; i < s.w->n; i++)
		CHECK_MSG(s.w->u[i].expert >= 0 ? !s.w->u[i].host_pinned && !s.w->u[i].resident : s.w->u[i].resident,
			  "unit %d (%s, expert %d)", i, s.w->u[i].name, s.w->u[i].expert);

	/* Counting, by hand: one chunk of 2 tokens choosing 5 distinct experts, all misses. */
	int32_t ch[2 * K] = { 0, 1, 2, 3, 1, 2, 3, 4 };
	int32_t g[3] = { 4, 5, 4 }; /* a repeated guess counts once */
	sl_weights_guessed(s.w, 2, g, 3);
	CHECK(sl_weights_routed(s.w, 2, ch, 2, K, 0, &err) == 0);
	struct sl_weights_stats st;
	sl_weights_get_stats(s.w, &st);
	CHECK_MSG(st.experts_routed == 5 && st.expert_hits == 0 && st.expert_bytes_active == 5 * EXPERT &&
			  st.moe_layer_passes == 1 && st.pregate_guesses == 2 && st.pregate_correct == 1 &&
			  st.pregate_routed == 5,
		  "routed %llu hits %llu active %llu passes %llu guesses %llu correct %llu routed-guessed %llu",
		  (unsigned long long)st.experts_routed, (unsigned long long)st.expert_hits,
		  (unsigned long long)st.expert_bytes_active, (unsigned long long)st.moe_layer_passes,
		  (unsigned long long)st.pregate_guesses, (unsigned long long)st.pregate_correct,
		  (unsigned long long)st.pregate_routed);
	/* Read them; the same report again is all hits, and the guess was consumed. */
	int n = 0, list[5 * 3];
	for (int e = 0; e < 5; e++)
		n += sl_weights_expert_units(s.w, 2, e, list + n, 3);
	sl_weights_prefetch(s.w, list, n);
	for (int i = 0; i < n; i++) {
		const void *p;
		CHECK(sl_weights_acquire(s.w, list[i], &p, &err) == 0);
		CHECK(data_ok(&s, list[i], p));
		CHECK(sl_weights_release(s.w, list[i], &err) == 0);
	}
	CHECK(sl_weights_routed(s.w, 2, ch, 2, K, 2, &err) == 0);
	sl_weights_get_stats(s.w, &st);
	CHECK(st.experts_routed == 10 && st.expert_hits == 5 && st.pregate_routed == 5 &&
	      st.expert_bytes_read == 5 * EXPERT);

	/* Bad reports. */
	int32_t bad[K] = { 0, 1, 2, E };
	CHECK(sl_weights_routed(s.w, 2, bad, 1, K, 0, &err) == -EINVAL && strstr(err.msg, "expert 16"));
	CHECK(sl_weights_routed(s.w, 0, ch, 1, K, 0, &err) == -EINVAL && strstr(err.msg, "no registered"));
	CHECK(sl_weights_routed(s.w, L, ch, 1, K, 0, &err) == -EINVAL && strstr(err.msg, "layer 4"));
	CHECK(sl_weights_routed(s.w, 1, ch, 1, 0, 0, &err) == -EINVAL);
	sl_weights_guessed(s.w, 9, g, 3); /* ignored */
	sl_weights_get_stats(s.w, &st);
	CHECK(st.moe_layer_passes == 2 && st.pregate_guesses == 2);
	close_store(&s);
}

/* Admission of pre-gating guesses: a guess that needs a read is read ahead while guesses of its
 * rank that needed a read were then chosen at least half the time; one in memory is always listed. */
static void test_admission(const char *path)
{
	struct store s;
	struct sl_err err;
	struct opts o = { "cpu", NULL, NULL, 8 };
	CHECK_MSG(open_store(&s, path, &o, &err) == 0, "%s", err.msg);
	/* rank 0: expert 6 (never read, never chosen); rank 1: expert 7 (never read, always chosen) */
	int32_t g[2] = { 6, 7 }, ch[K] = { 7, 1, 2, 3 };
	bool first6 = false, last6 = true, all7 = true;
	for (int i = 0; i < 12; i++) {
		sl_weights_guessed(s.w, 2, g, 2);
		if (i == 0)
			first6 = sl_weights_guess_admitted(s.w, 2, 6);
		last6 = sl_weights_guess_admitted(s.w, 2, 6);
		all7 = all7 && sl_weights_guess_admitted(s.w, 2, 7);
		CHECK(sl_weights_routed(s.w, 2, ch, 1, K, (uint64_t)i, &err) == 0);
	}
	CHECK_MSG(first6 && !last6 && all7, "rank 0 (always wrong): first %d, last %d; rank 1 (always right): %d",
		  first6, last6, all7);
	CHECK(!sl_weights_guess_admitted(s.w, 2, 8)); /* not guessed */
	/* In memory: listed whatever its rank's record (listing keeps it). */
	int n = 0, list[3];
	n = sl_weights_expert_units(s.w, 2, 6, list, 3);
	sl_weights_prefetch(s.w, list, n);
	for (int i = 0; i < n; i++) {
		const void *p;
		CHECK(sl_weights_acquire(s.w, list[i], &p, &err) == 0);
		CHECK(sl_weights_release(s.w, list[i], &err) == 0);
	}
	sl_weights_guessed(s.w, 2, g, 1);
	CHECK(sl_weights_guess_admitted(s.w, 2, 6));
	struct sl_weights_stats st;
	sl_weights_get_stats(s.w, &st);
	CHECK_MSG(st.pregate_guesses == 25 && st.pregate_reads >= 12 + 4 && st.pregate_reads < 24,
		  "guesses %llu, read ahead %llu", (unsigned long long)st.pregate_guesses,
		  (unsigned long long)st.pregate_reads);
	close_store(&s);
}

/* Streaming under a small host cache: arithmetic, batches, budgets, early evictions, data. */
static void test_stream(const char *path, const char *backend)
{
	struct store s;
	struct sl_err err;
	struct opts o = { backend, "lfru", NULL, 10 };
	CHECK_MSG(open_store(&s, path, &o, &err) == 0, "%s: %s", backend, err.msg);
	struct run_stats r;
	for (int pass = 0; pass < 2; pass++) {
		int good = pass ? 2 : -1; /* pass 1: pre-gating, half of each guess right */
		rng = 12345;
		struct sl_weights_stats st0;
		sl_weights_get_stats(s.w, &st0);
		drive(&s, 200, 1.2, good, &r);
		struct sl_weights_stats *st = &r.st;
		uint64_t routed = st->experts_routed - st0.experts_routed, hits = st->expert_hits - st0.expert_hits;
		uint64_t read = st->expert_bytes_read - st0.expert_bytes_read;
		printf("%-9s %s: %llu experts routed, %.3f hit, %.2f expert reads per layer pass, %llu of %llu batches "
		       "whole at their prefetch",
		       backend, good < 0 ? "no pre-gating" : "pre-gating  ", (unsigned long long)routed,
		       (double)hits / (double)routed, (double)read / EXPERT / (200.0 * (L - 1)),
		       (unsigned long long)r.batches_whole, (unsigned long long)r.batches);
		CHECK(routed == 200 * (L - 1) * K && st->expert_bytes_active - st0.expert_bytes_active == routed * EXPERT);
		CHECK(st->moe_layer_passes - st0.moe_layer_passes == 200 * (L - 1));
		CHECK_MSG(r.budget_ok && st->host_peak <= s.w->host_budget, "%s: a budget was exceeded", backend);
		CHECK_MSG(!r.evicted_early, "%s: a chosen expert left memory before its use", backend);
		CHECK_MSG(r.data_ok, "%s: a unit's bytes are not its own", backend);
		if (good < 0) {
			/* Every miss reads at most its expert; a hit reads nothing; the batch goes out whole. */
			CHECK_MSG(read <= (routed - hits) * EXPERT && read >= (routed - hits) * SLICE,
				  "%s: %llu expert bytes read for %llu misses", backend, (unsigned long long)read,
				  (unsigned long long)(routed - hits));
			CHECK(r.batches_whole == r.batches);
			CHECK(st->pregate_guesses == 0 && st->pregate_routed == 0);
		} else {
			printf(", precision %.3f recall %.3f\n",
			       (double)(st->pregate_correct - st0.pregate_correct) / (double)(st->pregate_guesses - st0.pregate_guesses),
			       (double)(st->pregate_correct - st0.pregate_correct) / (double)(st->pregate_routed - st0.pregate_routed));
			CHECK(st->pregate_guesses - st0.pregate_guesses == r.want_guesses);
			CHECK(st->pregate_correct - st0.pregate_correct == r.want_correct);
			CHECK(st->pregate_routed - st0.pregate_routed == r.want_routed);
			/* Guessed right, read ahead: the pre-gated pass hits more. */
			CHECK(r.batches_whole == r.batches);
		}
		if (good < 0)
			printf("\n");
	}
	close_store(&s);
}

/* The tightest host cache (the window: two layers' chosen experts) with guesses as wide as the choice:
 * guesses never take the chosen experts' room, nothing chosen leaves before its use. */
static void test_tight(const char *path, const char *backend)
{
	struct store s;
	struct sl_err err;
	struct opts o = { backend, "lfru", NULL, 0 };
	CHECK_MSG(open_store(&s, path, &o, &err) == 0, "%s: %s", backend, err.msg);
	struct run_stats r;
	rng = 99;
	drive(&s, 100, 1.0, 1, &r);
	printf("%-9s tight cache, pre-gating: %.3f hit, %llu of %llu batches whole at their prefetch\n", backend,
	       hit_rate(&r.st), (unsigned long long)r.batches_whole, (unsigned long long)r.batches);
	CHECK_MSG(r.budget_ok && r.st.host_peak <= s.w->host_budget, "%s: a budget was exceeded", backend);
	CHECK_MSG(!r.evicted_early, "%s: a chosen expert left memory before its use", backend);
	CHECK_MSG(r.data_ok, "%s: a unit's bytes are not its own", backend);
	CHECK(r.batches_whole == r.batches);
	close_store(&s);
}

/* lfru against lru: the same skewed routing, the same cache. */
static void test_policies(const char *path)
{
	double h[2];
	static const char *const pol[2] = { "lfru", "lru" };
	for (int i = 0; i < 2; i++) {
		struct store s;
		struct sl_err err;
		struct opts o = { "cpu", pol[i], NULL, 12 };
		CHECK_MSG(open_store(&s, path, &o, &err) == 0, "%s", err.msg);
		struct run_stats r;
		rng = 777;
		drive(&s, 600, 1.0, -1, &r);
		h[i] = hit_rate(&r.st);
		CHECK(r.budget_ok && !r.evicted_early && r.data_ok);
		close_store(&s);
	}
	printf("expert hit rate on Zipf(1.0) routing, a cache of about a third of the experts: lfru %.3f, lru %.3f\n", h[0],
	       h[1]);
	CHECK_MSG(h[0] > h[1] + 0.03, "lfru %.3f does not beat lru %.3f", h[0], h[1]);
}

static void test_trace(const char *path)
{
	const char *tp = t_tmp_path("experts.trace");
	struct store s;
	struct sl_err err;
	struct opts o = { "cpu", NULL, tp, 8 };
	CHECK_MSG(open_store(&s, path, &o, &err) == 0, "%s", err.msg);
	int32_t a[K] = { 3, 1, 4, 15 }, b[2 * K] = { 0, 1, 2, 3, 9, 8, 7, 6 };
	CHECK(sl_weights_routed(s.w, 1, a, 1, K, 0, &err) == 0);
	CHECK(sl_weights_routed(s.w, 2, a, 1, K, 0, &err) == 0);
	CHECK(sl_weights_routed(s.w, 3, b, 2, K, 1, &err) == 0);
	int32_t five[5] = { 0, 1, 2, 3, 4 };
	CHECK(sl_weights_routed(s.w, 1, five, 1, 5, 3, &err) == -EINVAL && strstr(err.msg, "header says 4"));
	close_store(&s);
	char *text = t_read_file(tp, NULL);
	const char *want = "sluice-expert-trace 1\n"
			   "model moe_test layers 4 experts 16 used 4 first_moe 1 expert_bytes 98304\n"
			   "1 0 3 1 4 15\n"
			   "2 0 3 1 4 15\n"
			   "3 1 0 1 2 3\n"
			   "3 2 9 8 7 6\n";
	CHECK_MSG(text && !strcmp(text, want), "trace:\n%s", text ? text : "(unreadable)");
	free(text);
	unlink(tp);

	/* Cannot be created, cannot be written: commit fails and says why. */
	o.trace = "/nonexistent-dir/x.trace";
	CHECK(open_store(&s, path, &o, &err) == -ENOENT && strstr(err.msg, "routing trace /nonexistent-dir/x.trace"));
	close_store(&s);
	if (access("/dev/full", W_OK) == 0) {
		o.trace = "/dev/full";
		CHECK(open_store(&s, path, &o, &err) == -ENOSPC && strstr(err.msg, "write error"));
		close_store(&s);
	}
	o.trace = path; /* the model itself: refused, not overwritten */
	CHECK(open_store(&s, path, &o, &err) == -EINVAL && strstr(err.msg, "model file"));
	close_store(&s);
	o.trace = NULL;
	o.policy = "mru";
	CHECK(open_store(&s, path, &o, &err) == -EINVAL && strstr(err.msg, "expert policy 'mru'"));
	close_store(&s);
}

int main(void)
{
	const char *path = write_model();
	if (t_failures)
		return t_done();
	test_index(path);
	test_admission(path);
	test_stream(path, "cpu");
	test_stream(path, "cpu-async");
	test_tight(path, "cpu");
	test_tight(path, "cpu-async");
	test_policies(path);
	test_trace(path);
	unlink(path);
	return t_done();
}
