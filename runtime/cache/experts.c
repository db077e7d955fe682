/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/experts.c — the weight store's mixture-of-experts side: the (layer, expert) index,
 * routing reports, pre-gating guesses, expert statistics and the routing trace (weights.h).
 *
 * Counting.  One report (sl_weights_routed) covers one MoE layer of one forward chunk; an expert
 * chosen by several tokens of the chunk counts once (it is read once).  It is a hit when no read
 * from storage is needed for any of its units at the moment of the choice: resident on the device,
 * pinned or cached in the host tier, in a device slot — or being read already, because pre-gating
 * guessed it and prefetched it (that is the point of guessing; a read still in flight costs some
 * wait but no second read).  Bytes active are the chosen experts' bytes: the least any schedule
 * has to have in memory; expert bytes read are counted where reads complete (io_done.c).
 *
 * The expert policy (cfg.expert_policy, per tier) learns from the reports: every routed expert's
 * cached units are touched once per report (a use).  An expert read because of the report is
 * inserted when its read starts, which counts that use; one a guess read ahead was counted when
 * the guess read it, so it is not touched again.
 *
 * Pre-gating.  sl_weights_guessed records a layer's guess (counted at once: pregate_guesses); the
 * layer's next report checks it (pregate_correct: guessed and chosen; pregate_routed: chosen in a
 * layer that had a guess) and consumes it.  Precision = correct / guesses, recall = correct / routed.
 *
 * The routing trace (cfg.trace_experts): text, the format in Documentation/moe.md, written through
 * stdio's buffer and flushed when the store is freed.  A write that fails makes this and every
 * later report fail with the reason.
 */
#include "cache/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int slot(const struct sl_moe *m, int layer, int expert)
{
	return layer * m->n_expert + expert;
}

/* The model's name for the trace header: one word (general.name, else the file's base name). */
static void trace_name(struct sl_weights *w, char *out, size_t len)
{
	const char *name = NULL;
	struct sl_err e = { "" };
	if (sl_gguf_find_kv(w->f, "general.name") && sl_gguf_get_str(w->f, "general.name", &name, &e))
		name = NULL;
	if (!name || !*name) {
		name = w->f->path ? strrchr(w->f->path, '/') : NULL;
		name = name ? name + 1 : w->f->path ? w->f->path : "model";
	}
	size_t i = 0;
	for (; name[i] && i + 1 < len; i++)
		out[i] = (unsigned char)name[i] <= ' ' || name[i] == 0x7f ? '_' : name[i];
	out[i] = 0;
	if (!i)
		snprintf(out, len, "model");
}

static int trace_failed(struct sl_weights *w, int e)
{
	struct sl_moe *m = &w->moe;
	if (!m->trace_rc)
		m->trace_rc = sl_errf(&m->trace_err, e ? e : EIO, "routing trace %s: write error: %s",
				      w->cfg.trace_experts, strerror(e ? e : EIO));
	return m->trace_rc;
}

static int open_trace(struct sl_weights *w, struct sl_err *err)
{
	struct sl_moe *m = &w->moe;
	const char *path = w->cfg.trace_experts;
	if (!m->n_expert)
		return sl_errf(err, EINVAL, "routing trace %s: the model has no routed experts (it is dense)", path);
	struct stat a, b;
	if (!stat(path, &a) && w->f->fd >= 0 && !fstat(w->f->fd, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return sl_errf(err, EINVAL, "routing trace %s: that is the model file", path);
	m->trace = fopen(path, "we");
	if (!m->trace)
		return sl_errf(err, errno, "routing trace %s: cannot create it: %s", path, strerror(errno));
	char name[128];
	trace_name(w, name, sizeof(name));
	errno = 0;
	fprintf(m->trace, "sluice-expert-trace 1\nmodel %s layers %d experts %d used %d first_moe %d expert_bytes %llu\n",
		name, w->n_layers, m->n_expert, w->cfg.experts_used, m->first_moe, (unsigned long long)m->expert_bytes);
	if (ferror(m->trace) || fflush(m->trace)) {
		int rc = trace_failed(w, errno);
		*err = m->trace_err;
		return rc;
	}
	return 0;
}

int sl_moe_setup(struct sl_weights *w, struct sl_err *err)
{
	struct sl_moe *m = &w->moe;
	int L = w->n_layers, E = 0;
	m->first_moe = -1;
	for (int i = 0; i < w->n; i++) {
		const struct unit *u = &w->u[i];
		if (u->expert < 0 || u->layer < 0 || u->layer >= L)
			continue;
		E = SL_MAX(E, u->expert + 1);
		if (m->first_moe < 0 || u->layer < m->first_moe)
			m->first_moe = u->layer;
	}
	m->n_expert = E;
	if (E) {
		size_t ne = (size_t)L * (size_t)E;
		m->start = calloc(ne + 1, sizeof(int));
		m->ids = malloc((size_t)w->n * sizeof(int));
		m->bytes = calloc(ne, sizeof(uint64_t));
		m->guess = calloc(ne, 1);
		m->gread = calloc(ne, 1);
		m->gadmit = calloc(ne, 1);
		m->seen = calloc(ne, sizeof(uint32_t));
		m->has_guess = calloc((size_t)L, sizeof(bool));
		if (!m->start || !m->ids || !m->bytes || !m->guess || !m->gread || !m->gadmit || !m->seen || !m->has_guess)
			return sl_errf(err, ENOMEM, "out of memory for the index of %d x %d experts", L, E);
		/* Counting sort by (layer, expert), stable: registration order within an expert. */
		for (int i = 0; i < w->n; i++) {
			const struct unit *u = &w->u[i];
			if (u->expert >= 0 && u->layer >= 0 && u->layer < L) {
				m->start[slot(m, u->layer, u->expert) + 1]++;
				m->bytes[slot(m, u->layer, u->expert)] += u->size;
			}
		}
		for (size_t s = 0; s < ne; s++) {
			m->start[s + 1] += m->start[s];
			m->expert_bytes = SL_MAX(m->expert_bytes, m->bytes[s]);
		}
		int *fill = malloc(ne * sizeof(int));
		if (!fill)
			return sl_errf(err, ENOMEM, "out of memory for the index of %d x %d experts", L, E);
		memcpy(fill, m->start, ne * sizeof(int));
		for (int i = 0; i < w->n; i++) {
			const struct unit *u = &w->u[i];
			if (u->expert >= 0 && u->layer >= 0 && u->layer < L)
				m->ids[fill[slot(m, u->layer, u->expert)]++] = i;
		}
		free(fill);
	}
	if (w->cfg.trace_experts)
		return open_trace(w, err);
	return 0;
}

void sl_moe_free(struct sl_weights *w)
{
	struct sl_moe *m = &w->moe;
	if (m->trace)
		fclose(m->trace); /* the last records: nobody is left to tell of a failure */
	free(m->start);
	free(m->ids);
	free(m->bytes);
	free(m->guess);
	free(m->gread);
	free(m->gadmit);
	free(m->seen);
	free(m->has_guess);
	memset(m, 0, sizeof(*m));
}

/* No read from storage needed for this unit now (see the top). */
static bool in_memory(const struct unit *u)
{
	return u->resident || u->host_pinned || u->hstate != H_NONE || u->on_dev;
}

/* One use of a routed expert for the policies of the tiers that hold its units. */
static void feed_policy(struct sl_weights *w, const int *ids, int n)
{
	for (int i = 0; i < n; i++) {
		struct unit *u = &w->u[ids[i]];
		if (u->prefetched) /* read ahead by a guess: its insert counted this use */
			continue;
		if (u->hstate != H_NONE && w->host_epol.ops)
			w->host_epol.ops->touch(&w->host_epol, ids[i]);
		if (u->on_dev && w->dev_epol.ops)
			w->dev_epol.ops->touch(&w->dev_epol, ids[i]);
	}
}

static int write_records(struct sl_weights *w, int layer, const int32_t *choice, int n_tok, int k, uint64_t first_tok)
{
	FILE *f = w->moe.trace;
	errno = 0;
	for (int t = 0; t < n_tok; t++) {
		fprintf(f, "%d %llu", layer, (unsigned long long)(first_tok + (uint64_t)t));
		for (int j = 0; j < k; j++)
			fprintf(f, " %d", (int)choice[(size_t)t * (size_t)k + (size_t)j]);
		fputc('\n', f);
	}
	return ferror(f) ? trace_failed(w, errno) : 0;
}

int sl_weights_routed(struct sl_weights *w, int layer, const int32_t *choice, int n_tok, int k, uint64_t first_tok,
		      struct sl_err *err)
{
	struct sl_moe *m = &w->moe;
	if (m->trace_rc) {
		*err = m->trace_err;
		return m->trace_rc;
	}
	if (!m->n_expert)
		return sl_errf(err, EINVAL, "routing reported for layer %d of a model without routed experts", layer);
	if (layer < 0 || layer >= w->n_layers)
		return sl_errf(err, EINVAL, "routing reported for layer %d of a model with %d layers", layer, w->n_layers);
	if (n_tok < 0 || k < 1 || (n_tok && !choice))
		return sl_errf(err, EINVAL, "layer %d: routing of %d tokens x %d experts", layer, n_tok, k);
	if (m->trace && k != w->cfg.experts_used)
		return sl_errf(err, EINVAL, "layer %d: %d experts routed per token, the trace's header says %d", layer, k,
			       w->cfg.experts_used);
	for (size_t i = 0; i < (size_t)n_tok * (size_t)k; i++) {
		int e = choice[i];
		if (e < 0 || e >= m->n_expert || m->start[slot(m, layer, e)] == m->start[slot(m, layer, e) + 1])
			return sl_errf(err, EINVAL, "layer %d: routed to expert %d, which has no registered weights", layer,
				       e);
	}
	if (++m->stamp == 0) { /* wrapped: no stamp of an earlier report may look current */
		memset(m->seen, 0, (size_t)w->n_layers * (size_t)m->n_expert * sizeof(uint32_t));
		m->stamp = 1;
	}
	bool guessed = m->has_guess[layer];
	w->st.moe_layer_passes++;
	for (size_t i = 0; i < (size_t)n_tok * (size_t)k; i++) {
		int s = slot(m, layer, choice[i]);
		if (m->seen[s] == m->stamp)
			continue; /* distinct per report: chosen by an earlier token of the chunk */
		m->seen[s] = m->stamp;
		const int *ids = m->ids + m->start[s];
		int nu = m->start[s + 1] - m->start[s];
		bool hit = true;
		for (int j = 0; j < nu && hit; j++)
			hit = in_memory(&w->u[ids[j]]);
		w->st.experts_routed++;
		w->st.expert_hits += hit;
		w->st.expert_bytes_active += m->bytes[s];
		if (guessed) {
			w->st.pregate_routed++;
			w->st.pregate_correct += m->guess[s];
		}
		feed_policy(w, ids, nu);
	}
	if (guessed) {
		/* how the guesses that needed a read fared, by rank (decayed: routing drifts) */
		for (int e = 0; e < m->n_expert; e++) {
			int s = slot(m, layer, e);
			if (!m->gread[s])
				continue;
			int r = m->gread[s] - 1;
			m->rk_all[r] = m->rk_all[r] * 0.99f + 1.0f;
			m->rk_used[r] = m->rk_used[r] * 0.99f + (m->seen[s] == m->stamp ? 1.0f : 0.0f);
		}
		memset(m->guess + slot(m, layer, 0), 0, (size_t)m->n_expert);
		memset(m->gread + slot(m, layer, 0), 0, (size_t)m->n_expert);
		memset(m->gadmit + slot(m, layer, 0), 0, (size_t)m->n_expert);
		m->has_guess[layer] = false;
	}
	if (m->trace && write_records(w, layer, choice, n_tok, k, first_tok)) {
		*err = m->trace_err;
		return m->trace_rc;
	}
	return 0;
}

void sl_weights_guessed(struct sl_weights *w, int layer, const int32_t *experts, int n)
{
	sl_weights_guessed_ranked(w, layer, experts, NULL, n);
}

void sl_weights_guessed_ranked(struct sl_weights *w, int layer, const int32_t *experts, const int32_t *rank, int n)
{
	struct sl_moe *m = &w->moe;
	if (!m->n_expert || layer < 0 || layer >= w->n_layers || n < 0 || (n && !experts))
		return;
	/* A guess not yet checked is replaced: its experts stay counted (they were read ahead). */
	memset(m->guess + slot(m, layer, 0), 0, (size_t)m->n_expert);
	memset(m->gread + slot(m, layer, 0), 0, (size_t)m->n_expert);
	memset(m->gadmit + slot(m, layer, 0), 0, (size_t)m->n_expert);
	for (int i = 0; i < n; i++) {
		int e = experts[i];
		if (e < 0 || e >= m->n_expert || m->guess[slot(m, layer, e)])
			continue;
		int s = slot(m, layer, e);
		m->guess[s] = 1;
		w->st.pregate_guesses++;
		bool resident = true;
		for (int j = m->start[s]; j < m->start[s + 1] && resident; j++)
			resident = in_memory(&w->u[m->ids[j]]);
		int r = SL_MIN(rank ? SL_MAX(rank[i], 0) : i, SL_PREGATE_RANKS - 1);
		if (resident) {
			m->gadmit[s] = 1;
			continue;
		}
		m->gread[s] = (uint8_t)(r + 1);
		/* few samples yet: read (and learn); then by the rank's record */
		m->gadmit[s] = m->rk_all[r] < 4.0f || m->rk_used[r] >= 0.5f * m->rk_all[r];
		w->st.pregate_reads += m->gadmit[s];
	}
	m->has_guess[layer] = true;
}

bool sl_weights_guess_admitted(const struct sl_weights *w, int layer, int expert)
{
	const struct sl_moe *m = &w->moe;
	if (!m->n_expert || layer < 0 || layer >= w->n_layers || expert < 0 || expert >= m->n_expert)
		return false;
	return m->gadmit[slot(m, layer, expert)];
}

int sl_weights_expert_units(const struct sl_weights *w, int layer, int expert, int *ids, int max)
{
	const struct sl_moe *m = &w->moe;
	int n = 0;
	if (expert < 0 || layer < 0)
		return 0;
	if (!m->start) { /* before commit: no index yet */
		for (int i = 0; i < w->n; i++)
			if (w->u[i].layer == layer && w->u[i].expert == expert) {
				if (n < max)
					ids[n] = i;
				n++;
			}
		return n < max ? n : max;
	}
	if (layer >= w->n_layers || expert >= m->n_expert)
		return 0;
	int s = slot(m, layer, expert);
	for (int i = m->start[s]; i < m->start[s + 1] && n < max; i++)
		ids[n++] = m->ids[i];
	return n;
}
