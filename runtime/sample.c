/* SPDX-License-Identifier: MIT */
/*
 * runtime/sample.c — picking the next token from logits (sluice.h, "sampling").
 *
 * temperature == 0: greedy, the argmax (lowest index on ties); no randomness.
 * temperature  > 0: llama.cpp's default chain, in its order:
 *     top-k        keep the k highest logits (0 = off);
 *     top-p        softmax of what is left (at temperature 1), keep the
 *                  smallest prefix, by falling probability, whose sum is >= p
 *                  (at least one token; p = 1 is off);
 *     temperature  divide the kept logits by it;
 *     softmax, then draw one token with the sampler's PRNG.
 * Candidates are ordered by logit, then by index, so ties never depend on the
 * sort algorithm: top_k = 1 gives exactly the greedy token.
 *
 * The PRNG is splitmix64 over the seed: the same seed gives the same stream of
 * numbers everywhere, and seed 0 is a fixed seed like any other (callers that
 * want a different run each time pass something like the time).  The draw uses
 * the top 53 bits as a double in [0, 1) against cumulative probabilities
 * computed in double.
 *
 * NaN logits count as -infinity.  When every logit is -infinity the first index
 * is picked.  sluice_sample puts the token in *token and returns 0, or -EINVAL
 * for a NULL sampler, logits or token, n == 0 or n > INT32_MAX, -ENOMEM when
 * the scratch array cannot grow (message in sluice_sampler_error; *token is
 * left alone on error).  The logits array is only read.
 */
#include "internal.h"
#include "sluice.h"

#include <math.h>
#include <stdlib.h>

struct cand {
	float logit;
	int32_t id;
};

struct sluice_sampler {
	struct sluice_sampler_params p;
	uint64_t state;
	struct cand *c;
	size_t cap;
	double *prob;
	struct sl_err err;
};

SLUICE_API void sluice_sampler_params_init(struct sluice_sampler_params *p)
{
	if (!p)
		return;
	p->temperature = 0.8f;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->seed = 0;
}

static int new_err(char *errbuf, size_t len, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int new_err(char *errbuf, size_t len, int errnum, const char *fmt, ...)
{
	struct sl_err e;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	if (errbuf && len)
		snprintf(errbuf, len, "%s", e.msg);
	return sl_errf(NULL, errnum, "%s", e.msg);
}

SLUICE_API int sluice_sampler_new(const struct sluice_sampler_params *p, struct sluice_sampler **out,
				  char *errbuf, size_t err_len)
{
	struct sluice_sampler_params def;
	if (!out)
		return new_err(errbuf, err_len, EINVAL, "sluice_sampler_new: out is NULL");
	*out = NULL;
	if (!p) {
		sluice_sampler_params_init(&def);
		p = &def;
	}
	/* Written so that NaN fails every test. */
	if (!(p->temperature >= 0.0f) || isinf(p->temperature))
		return new_err(errbuf, err_len, EINVAL, "sampler: temperature %g: want a finite number >= 0",
			       (double)p->temperature);
	if (p->top_k < 0)
		return new_err(errbuf, err_len, EINVAL, "sampler: top_k %d: want >= 0 (0 = off)", p->top_k);
	if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
		return new_err(errbuf, err_len, EINVAL, "sampler: top_p %g: want a number in (0, 1] (1 = off)",
			       (double)p->top_p);
	struct sluice_sampler *s = calloc(1, sizeof(*s));
	if (!s)
		return new_err(errbuf, err_len, ENOMEM, "sampler: out of memory");
	s->p = *p;
	s->state = p->seed;
	*out = s;
	return 0;
}

SLUICE_API const char *sluice_sampler_error(const struct sluice_sampler *s)
{
	return s ? s->err.msg : "no sampler (NULL handle)";
}

SLUICE_API void sluice_sampler_free(struct sluice_sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s->prob);
	free(s);
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float clean(float x)
{
	return isnan(x) ? -INFINITY : x;
}

/* a before b: higher logit first, then lower index. */
static bool before(const struct cand *a, const struct cand *b)
{
	return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static int32_t greedy(const float *logits, size_t n)
{
	size_t best = 0;
	float bv = clean(logits[0]);
	for (size_t i = 1; i < n; i++) {
		float x = clean(logits[i]);
		if (x > bv) {
			bv = x;
			best = i;
		}
	}
	return (int32_t)best;
}

/*
 * Put the k best of the n logits, in order, at s->c[0..k).  A min-heap of the
 * k best so far (its root the worst of them) costs O(n log k), which for the
 * usual k = 40 of a 32000..150000 vocabulary is far less than sorting all.
 */
static void top_k(struct sluice_sampler *s, const float *logits, size_t n, size_t k)
{
	struct cand *h = s->c;
	size_t m = 0;
	if (k == n) { /* no top-k: everything, sorted */
		for (size_t i = 0; i < n; i++)
			h[i] = (struct cand){ clean(logits[i]), (int32_t)i };
		qsort(h, n, sizeof(*h), cmp_cand);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct cand c = { clean(logits[i]), (int32_t)i };
		size_t j;
		if (m < k) {
			/* sift up: the root is the worst (the one every other is before) */
			for (j = m++; j > 0 && before(&h[(j - 1) / 2], &c); j = (j - 1) / 2)
				h[j] = h[(j - 1) / 2];
			h[j] = c;
			continue;
		}
		if (!before(&c, &h[0]))
			continue;
		for (j = 0;;) { /* replace the root and sift down */
			size_t l = 2 * j + 1, w = j;
			const struct cand *wc = &c;
			if (l < m && before(wc, &h[l]))
				w = l, wc = &h[l];
			if (l + 1 < m && before(wc, &h[l + 1]))
				w = l + 1, wc = &h[l + 1];
			if (w == j)
				break;
			h[j] = h[w];
			j = w;
		}
		h[j] = c;
	}
	qsort(h, m, sizeof(*h), cmp_cand);
}

/* Softmax of c[0..m) at temperature t into s->prob (c sorted, c[0] the max). */
static void softmax(struct sluice_sampler *s, size_t m, double t)
{
	double mx = s->c[0].logit, sum = 0;
	for (size_t i = 0; i < m; i++) {
		double e = exp(((double)s->c[i].logit - mx) / t);
		s->prob[i] = e;
		sum += e;
	}
	for (size_t i = 0; i < m; i++)
		s->prob[i] /= sum;
}

/* Temperature > 0, scratch arrays big enough for n. */
static int32_t pick(struct sluice_sampler *s, const float *logits, size_t n)
{
	size_t m = n;
	if (s->p.top_k > 0 && (size_t)s->p.top_k < n)
		m = (size_t)s->p.top_k;
	top_k(s, logits, n, m);
	if (s->c[0].logit == -INFINITY)
		return s->c[0].id; /* nothing has any probability: the first index */

	if (s->p.top_p < 1.0f) {
		softmax(s, m, 1.0);
		double cum = 0;
		for (size_t i = 0; i < m; i++) {
			cum += s->prob[i];
			if (cum >= (double)s->p.top_p) {
				m = i + 1;
				break;
			}
		}
	}

	softmax(s, m, (double)s->p.temperature);
	double u = (double)(splitmix64(&s->state) >> 11) * 0x1.0p-53;
	double cum = 0;
	for (size_t i = 0; i < m; i++) {
		cum += s->prob[i];
		if (u < cum)
			return s->c[i].id;
	}
	/* Rounding left the sum a hair under 1 and u above it: the last kept token
	 * with any probability. */
	for (size_t i = m; i-- > 0;)
		if (s->prob[i] > 0)
			return s->c[i].id;
	return s->c[0].id;
}

SLUICE_API int sluice_sample(struct sluice_sampler *s, const float *logits, size_t n, int32_t *token)
{
	if (!s)
		return -EINVAL;
	if (!logits || !token)
		return sl_errf(&s->err, EINVAL, "sluice_sample: %s is NULL", !logits ? "logits" : "token");
	if (n == 0 || n > INT32_MAX)
		return sl_errf(&s->err, EINVAL, "sluice_sample: %zu logits (want 1 to %d)", n, INT32_MAX);
	if (s->p.temperature <= 0.0f) {
		*token = greedy(logits, n);
		return 0;
	}
	if (n > s->cap) {
		struct cand *c = realloc(s->c, n * sizeof(*c));
		if (c)
			s->c = c;
		double *pr = realloc(s->prob, n * sizeof(*pr));
		if (pr)
			s->prob = pr;
		if (!c || !pr)
			return sl_errf(&s->err, ENOMEM, "sampler: out of memory for %zu candidates", n);
		s->cap = n;
	}
	*token = pick(s, logits, n);
	return 0;
}
