/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_sampler.c — the public sampler (sluice_sampler_*): greedy,
 * top-k = 1 equals greedy, reproducibility and a golden stream for a fixed
 * seed, chi-square checks of the drawn distribution for temperature, top-k
 * and top-p (top-p applied before temperature, as llama.cpp), bad parameters
 * (each with a message), the token apart from the error, logits only read.
 */
#include "helpers/testutil.h"
#include "sluice.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct sluice_sampler *mk(float temp, int k, float p, uint64_t seed)
{
	struct sluice_sampler_params sp = { temp, k, p, seed };
	struct sluice_sampler *s = NULL;
	char err[256];
	int rc = sluice_sampler_new(&sp, &s, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "FAIL: sluice_sampler_new(%g, %d, %g) = %d: %s\n", temp, k, p, rc, err);
		exit(1);
	}
	return s;
}

/* One token; a failure is a failed check and gives -1. */
static int32_t draw(struct sluice_sampler *s, const float *l, size_t n)
{
	int32_t t = -1;
	int rc = sluice_sample(s, l, n, &t);
	CHECK_MSG(rc == 0, "sluice_sample = %d: %s", rc, sluice_sampler_error(s));
	return rc ? -1 : t;
}

static void test_params(void)
{
	struct sluice_sampler_params p;
	sluice_sampler_params_init(&p);
	CHECK_MSG(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.seed == 0, "defaults");
	struct sluice_sampler *s;
	char err[256];
	CHECK_MSG(sluice_sampler_new(NULL, &s, NULL, 0) == 0 && s, "NULL params = defaults");
	sluice_sampler_free(s);
	sluice_sampler_free(NULL);
	static const struct sluice_sampler_params bad[] = {
		{ -0.1f, 40, 0.95f, 0 }, { NAN, 40, 0.95f, 0 }, { INFINITY, 40, 0.95f, 0 },
		{ 0.8f, -1, 0.95f, 0 },  { 0.8f, 40, 0.0f, 0 }, { 0.8f, 40, 1.5f, 0 },
		{ 0.8f, 40, -0.5f, 0 },  { 0.8f, 40, NAN, 0 },
	};
	static const char *const named[] = { "temperature", "temperature", "temperature", "top_k",
					     "top_p",       "top_p",       "top_p",       "top_p" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = (struct sluice_sampler *)&p;
		err[0] = 0;
		CHECK_MSG(sluice_sampler_new(&bad[i], &s, err, sizeof(err)) == -EINVAL && s == NULL,
			  "bad params #%zu accepted", i);
		CHECK_MSG(strstr(err, named[i]), "bad params #%zu: message '%s' does not name %s", i, err, named[i]);
		/* without an error buffer: the same error, nothing written */
		CHECK_MSG(sluice_sampler_new(&bad[i], &s, NULL, 0) == -EINVAL, "bad params #%zu, no buffer", i);
	}
	err[0] = 0;
	CHECK_MSG(sluice_sampler_new(&p, NULL, err, sizeof(err)) == -EINVAL && err[0], "NULL out");
	/* a short buffer is cut, still terminated */
	char tiny[8];
	CHECK_MSG(sluice_sampler_new(&bad[0], &s, tiny, sizeof(tiny)) == -EINVAL && strlen(tiny) == sizeof(tiny) - 1,
		  "short buffer: '%s'", tiny);
	s = mk(0.8f, 40, 0.95f, 0);
	float l[1] = { 0 };
	int32_t t = 12345;
	CHECK_MSG(sluice_sample(s, l, 0, &t) == -EINVAL && t == 12345, "n = 0");
	CHECK_MSG(strstr(sluice_sampler_error(s), "0 logits"), "n = 0: message '%s'", sluice_sampler_error(s));
	CHECK_MSG(sluice_sample(s, NULL, 1, &t) == -EINVAL && t == 12345, "NULL logits");
	CHECK_MSG(strstr(sluice_sampler_error(s), "logits"), "NULL logits: message '%s'", sluice_sampler_error(s));
	CHECK_MSG(sluice_sample(s, l, 1, NULL) == -EINVAL, "NULL token");
	CHECK_MSG(strstr(sluice_sampler_error(s), "token"), "NULL token: message '%s'", sluice_sampler_error(s));
	CHECK_MSG(sluice_sample(NULL, l, 1, &t) == -EINVAL && t == 12345, "NULL sampler");
	CHECK_MSG(sluice_sampler_error(NULL)[0], "NULL sampler: no text");
	CHECK_MSG(sluice_sample(s, l, 1, &t) == 0 && t == 0, "one logit");
	sluice_sampler_free(s);

	/* The token is a value like any other, not an error code, and the logits are only read. */
	s = mk(1, 0, 1, 9);
	float big[300];
	for (int i = 0; i < 300; i++)
		big[i] = i == 257 ? 50.0f : -50.0f;
	const float before = big[257];
	CHECK_MSG(sluice_sample(s, big, 300, &t) == 0 && t == 257, "token %d", t);
	CHECK_MSG(big[257] == before && big[0] == -50.0f, "logits modified");
	sluice_sampler_free(s);
}

static void test_greedy(void)
{
	struct sluice_sampler *s = mk(0, 40, 0.95f, 7);
	float a[] = { 0.1f, 3.0f, -2.0f, 3.0f, 2.9f };
	CHECK_MSG(draw(s, a, 5) == 1, "argmax, lowest index on ties");
	float b[] = { NAN, -1.0f, NAN, 5.0f };
	CHECK_MSG(draw(s, b, 4) == 3, "NaN ignored");
	float c[] = { -INFINITY, -INFINITY };
	CHECK_MSG(draw(s, c, 2) == 0, "all -inf");
	sluice_sampler_free(s);

	/* top_k = 1 at any temperature is greedy, ties included. */
	struct sluice_sampler *g = mk(0, 0, 1, 0), *k1 = mk(1.7f, 1, 0.9f, 123);
	uint64_t r = 1;
	float l[500];
	for (int t = 0; t < 200; t++) {
		for (int i = 0; i < 500; i++) {
			r = r * 6364136223846793005ull + 1442695040888963407ull;
			l[i] = (float)((r >> 40) % 64) / 8.0f; /* coarse: many ties */
		}
		int32_t a1 = draw(g, l, 500), a2 = draw(k1, l, 500);
		CHECK_MSG(a1 == a2, "top_k=1 gave %d, greedy %d", a2, a1);
	}
	sluice_sampler_free(g);
	sluice_sampler_free(k1);

	/* All -inf but one under sampling. */
	s = mk(1, 0, 1, 3);
	float d[] = { -INFINITY, -INFINITY, 0.0f, -INFINITY };
	for (int i = 0; i < 50; i++)
		CHECK_MSG(draw(s, d, 4) == 2, "only finite logit");
	CHECK_MSG(draw(s, c, 2) == 0, "all -inf while sampling");
	sluice_sampler_free(s);
}

static void test_seed(void)
{
	float l[16];
	for (int i = 0; i < 16; i++)
		l[i] = (float)(i % 5) * 0.3f;
	struct sluice_sampler *a = mk(1, 0, 1, 42), *b = mk(1, 0, 1, 42), *c = mk(1, 0, 1, 43);
	int same = 1, differ = 0;
	int32_t first[20];
	for (int i = 0; i < 1000; i++) {
		int32_t x = draw(a, l, 16), y = draw(b, l, 16), z = draw(c, l, 16);
		same &= x == y;
		differ += x != z;
		if (i < 20)
			first[i] = x;
	}
	CHECK_MSG(same, "same seed, different tokens");
	CHECK_MSG(differ > 100, "seeds 42 and 43 agree on %d of 1000", 1000 - differ);
	/* The stream for seed 42 is fixed: splitmix64 and this softmax, on any machine
	 * (the same numbers come out of an independent Python transcription). */
	static const int32_t golden[20] = { 1, 9, 14, 3, 4, 11, 14, 6, 3, 2, 9, 13, 13, 13, 7, 9, 4, 13, 4, 12 };
	CHECK_MSG(!memcmp(first, golden, sizeof(golden)), "seed 42 stream changed: %d %d %d %d %d %d %d %d %d %d ...", first[0],
	      first[1], first[2], first[3], first[4], first[5], first[6], first[7], first[8], first[9]);
	sluice_sampler_free(a);
	sluice_sampler_free(b);
	sluice_sampler_free(c);
}

/*
 * Draw `draws` tokens and compare the counts with want[] (probabilities; 0 =
 * must never appear) by chi-square.  The bound is loose (p < 1e-4 for the
 * degrees of freedom here) and the seed fixed, so the test is deterministic.
 */
static void check_dist(const char *what, struct sluice_sampler *s, const float *logits, const double *want, int n,
		       int draws)
{
	long count[16] = { 0 };
	float l[16];
	for (int d = 0; d < draws; d++) {
		memcpy(l, logits, n * sizeof(*l));
		int32_t t = draw(s, l, n);
		if (t < 0 || t >= n) {
			CHECK_MSG(0, "%s: token %d", what, t);
			return;
		}
		count[t]++;
	}
	double chi = 0;
	int dof = -1;
	for (int i = 0; i < n; i++) {
		if (want[i] == 0) {
			CHECK_MSG(count[i] == 0, "%s: token %d drawn %ld times, should be excluded", what, i, count[i]);
			continue;
		}
		CHECK_MSG(count[i] > 0, "%s: token %d never drawn (p %.3f)", what, i, want[i]);
		double e = want[i] * draws;
		chi += (count[i] - e) * (count[i] - e) / e;
		dof++;
	}
	/* Chi-square quantiles at 1 - 1e-4: dof 1: 15.1, 2: 18.4, 3: 21.1, 4: 23.5. */
	double bound = dof <= 0 ? 1e-9 : 12.0 + 3.0 * dof;
	CHECK_MSG(chi <= bound, "%s: chi-square %.2f > %.1f (dof %d)", what, chi, bound, dof);
}

static void test_distributions(void)
{
	const double p4[4] = { 0.1, 0.2, 0.3, 0.4 };
	float l4[4];
	for (int i = 0; i < 4; i++)
		l4[i] = (float)log(p4[i]) + 1.5f; /* an offset must not matter */

	struct sluice_sampler *s = mk(1, 0, 1, 1);
	check_dist("temperature 1", s, l4, p4, 4, 100000);
	sluice_sampler_free(s);

	/* Temperature 2: p^(1/2), renormalized. */
	double w[4], sum = 0;
	for (int i = 0; i < 4; i++)
		sum += w[i] = sqrt(p4[i]);
	for (int i = 0; i < 4; i++)
		w[i] /= sum;
	s = mk(2, 0, 1, 2);
	check_dist("temperature 2", s, l4, w, 4, 100000);
	sluice_sampler_free(s);

	/* top-k 2: the two best, renormalized. */
	s = mk(1, 2, 1, 3);
	check_dist("top-k 2", s, l4, (const double[]){ 0, 0, 3.0 / 7, 4.0 / 7 }, 4, 50000);
	sluice_sampler_free(s);

	/* top-p: probabilities 0.5 0.3 0.15 0.05 (scrambled order). */
	const double q[4] = { 0.15, 0.5, 0.05, 0.3 };
	float lq[4];
	for (int i = 0; i < 4; i++)
		lq[i] = (float)log(q[i]);
	s = mk(1, 0, 0.75f, 4); /* 0.5 < 0.75 <= 0.8: {1, 3} */
	check_dist("top-p 0.75", s, lq, (const double[]){ 0, 0.5 / 0.8, 0, 0.3 / 0.8 }, 4, 50000);
	sluice_sampler_free(s);
	s = mk(1, 0, 0.85f, 5); /* 0.8 < 0.85 <= 0.95: {1, 3, 0} */
	check_dist("top-p 0.85", s, lq, (const double[]){ 0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95 }, 4, 50000);
	sluice_sampler_free(s);
	s = mk(1, 0, 0.4f, 6); /* the best alone already covers 0.4 */
	check_dist("top-p 0.4", s, lq, (const double[]){ 0, 1, 0, 0 }, 4, 2000);
	sluice_sampler_free(s);
	/* top-p picks its set at temperature 1, then temperature 3 flattens what is kept. */
	s = mk(3, 0, 0.75f, 7);
	double a = pow(0.5, 1 / 3.0), b = pow(0.3, 1 / 3.0);
	check_dist("top-p 0.75, temperature 3", s, lq, (const double[]){ 0, a / (a + b), 0, b / (a + b) }, 4, 50000);
	sluice_sampler_free(s);
	/* top-k then top-p: k = 3 keeps 0.5 0.3 0.15 -> renormalized 0.526 0.316 0.158; p 0.8 -> {1, 3}. */
	s = mk(1, 3, 0.8f, 8);
	check_dist("top-k 3, top-p 0.8", s, lq, (const double[]){ 0, 0.5 / 0.8, 0, 0.3 / 0.8 }, 4, 50000);
	sluice_sampler_free(s);
}

static void test_large(void)
{
	enum { N = 32000 };
	float *l = malloc(N * sizeof(*l));
	uint64_t r = 99;
	for (int i = 0; i < N; i++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		l[i] = (float)((double)(r >> 11) * 0x1.0p-53 * 20.0 - 10.0);
	}
	/* The 40 largest. */
	float thr;
	{
		float *c = malloc(N * sizeof(*c));
		memcpy(c, l, N * sizeof(*c));
		for (int i = 0; i < 40; i++) { /* partial selection sort: fine for a test */
			int m = i;
			for (int j = i + 1; j < N; j++)
				if (c[j] > c[m])
					m = j;
			float t = c[i];
			c[i] = c[m];
			c[m] = t;
		}
		thr = c[39];
		free(c);
	}
	struct sluice_sampler *s = mk(0.8f, 40, 0.95f, 11);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 1000; i++) {
		int32_t t = draw(s, l, N);
		CHECK_MSG(t >= 0 && t < N && l[t] >= thr, "token %d outside the top 40", t);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("1000 samples from %d logits (top-k 40, top-p 0.95): %.2f ms\n", N,
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	sluice_sampler_free(s);
	/* No top-k: a full sort each time, still fine. */
	s = mk(1.0f, 0, 0.9f, 12);
	for (int i = 0; i < 20; i++) {
		int32_t t = draw(s, l, N);
		CHECK_MSG(t >= 0 && t < N, "token %d", t);
	}
	sluice_sampler_free(s);
	free(l);
}

int main(void)
{
	test_params();
	test_greedy();
	test_seed();
	test_distributions();
	test_large();
	return t_done();
}
