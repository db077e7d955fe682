/* The "lfru" policy on its own (no store): victim order by decayed frequency then recency, history
 * kept across eviction, frequency beating recency on a Zipf stream, and the hot set following a drift. */
#include "helpers/testutil.h"
#include "cache/lru.h"

#include <errno.h>
#include <math.h>

static uint64_t rng = 88172645463325252ull;

static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* Zipf(s) over n items: cdf table, item 0 the most popular. */
static void zipf_cdf(double *cdf, int n, double s)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += 1.0 / pow(i + 1, s);
	double acc = 0;
	for (int i = 0; i < n; i++)
		cdf[i] = (acc += 1.0 / pow(i + 1, s) / sum);
}

static int draw(const double *cdf, int n)
{
	double u = uniform();
	int lo = 0, hi = n - 1;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A cache of `cap` entries run by the policy, as `sluice replay` does: a hit touches, a miss evicts
 * the first victim when full and inserts. */
struct sim {
	struct sl_policy p;
	bool *in;
	int used, cap;
	long hits, looks;
};

static void sim_init(struct sim *s, const char *policy, int n, int cap)
{
	CHECK(sl_policy_init(&s->p, policy, n) == 0);
	s->in = calloc((size_t)n, sizeof(bool));
	s->used = 0;
	s->cap = cap;
	s->hits = s->looks = 0;
}

static void sim_access(struct sim *s, int id)
{
	s->looks++;
	if (s->in[id]) {
		s->hits++;
		s->p.ops->touch(&s->p, id);
		return;
	}
	if (s->used == s->cap) {
		int v = s->p.ops->next_victim(&s->p, -1);
		CHECK(v >= 0 && s->in[v]);
		s->p.ops->remove(&s->p, v);
		s->in[v] = false;
		s->used--;
	}
	s->p.ops->insert(&s->p, id);
	s->in[id] = true;
	s->used++;
}

static void sim_free(struct sim *s)
{
	sl_policy_destroy(&s->p);
	free(s->in);
}

static void test_order(void)
{
	struct sl_policy p;
	CHECK(sl_policy_init(&p, "lfru", 8) == 0 && !strcmp(p.ops->name, "lfru"));
	sl_lfru_set_half_life(&p, 1e9); /* no decay: plain counts */
	p.ops->insert(&p, 0);
	p.ops->insert(&p, 1);
	p.ops->insert(&p, 2);
	p.ops->touch(&p, 0);
	p.ops->touch(&p, 0); /* 0: 3 uses; 1, 2: 1 use each, 1 less recent */
	p.ops->touch(&p, 2); /* 2: 2 uses */
	int want[] = { 1, 2, 0 }, n = 0;
	for (int v = p.ops->next_victim(&p, -1); v >= 0; v = p.ops->next_victim(&p, v), n++)
		CHECK_MSG(n < 3 && v == want[n], "victim %d is %d", n, v);
	CHECK(n == 3);
	CHECK(fabs(sl_lfru_score(&p, 0) - 3.0) < 1e-6 && sl_lfru_score(&p, 5) == 0.0);
	/* Evicted and back: the history stays (3 + 1 uses), so it is still the last victim. */
	p.ops->remove(&p, 0);
	p.ops->remove(&p, 0);
	CHECK(p.ops->next_victim(&p, -1) == 1);
	p.ops->insert(&p, 3);
	p.ops->insert(&p, 0);
	CHECK(fabs(sl_lfru_score(&p, 0) - 4.0) < 1e-6);
	int last = -1;
	for (int v = p.ops->next_victim(&p, -1); v >= 0; v = p.ops->next_victim(&p, v))
		last = v;
	CHECK(last == 0);
	sl_policy_destroy(&p);

	/* Decay: with a half-life of 2 uses, a score of 1 is 0.5 two uses later. */
	CHECK(sl_policy_init(&p, "lfru", 4) == 0);
	sl_lfru_set_half_life(&p, 2);
	p.ops->insert(&p, 0);
	p.ops->insert(&p, 1);
	p.ops->insert(&p, 2);
	CHECK_MSG(fabs(sl_lfru_score(&p, 0) - 0.5) < 1e-9, "score %g", sl_lfru_score(&p, 0));
	sl_policy_destroy(&p);
	CHECK(sl_policy_init(&p, "lfu", 4) == -ENOENT);
	CHECK(sl_policy_init(&p, NULL, 4) == 0 && !strcmp(p.ops->name, "lru"));
	sl_policy_destroy(&p);
}

#define N_ITEMS 256
#define CAP 32
#define N_ACC 40000

static void test_zipf(void)
{
	double cdf[N_ITEMS];
	zipf_cdf(cdf, N_ITEMS, 1.0);
	struct sim lf, lr;
	sim_init(&lf, "lfru", N_ITEMS, CAP);
	sim_init(&lr, "lru", N_ITEMS, CAP);
	for (int i = 0; i < N_ACC; i++) {
		int x = draw(cdf, N_ITEMS);
		sim_access(&lf, x);
		sim_access(&lr, x);
	}
	double hf = (double)lf.hits / lf.looks, hr = (double)lr.hits / lr.looks;
	printf("zipf(1.0), %d items, cache %d: lfru %.3f hit, lru %.3f hit (top-%d share %.3f)\n", N_ITEMS, CAP, hf, hr,
	       CAP, cdf[CAP - 1]);
	CHECK_MSG(hf > hr + 0.05, "lfru %.3f does not beat lru %.3f on a skewed stream", hf, hr);
	/* Close to the ideal static cache (the top CAP items). */
	CHECK_MSG(hf > 0.9 * cdf[CAP - 1], "lfru %.3f far below the ideal %.3f", hf, cdf[CAP - 1]);
	sim_free(&lf);
	sim_free(&lr);
}

/* Drift: the popularity order turns over half-way; after a few half-lives the new favourites are
 * cached and the hit rate is back to where it was. */
static void test_drift(void)
{
	double cdf[N_ITEMS];
	zipf_cdf(cdf, N_ITEMS, 1.0);
	struct sim lf;
	sim_init(&lf, "lfru", N_ITEMS, CAP);
	for (int i = 0; i < N_ACC; i++)
		sim_access(&lf, draw(cdf, N_ITEMS));
	double before = (double)lf.hits / lf.looks;
	/* The new order: item i's popularity is that of item (i + 128) % N. */
	long h0 = 0, l0 = 0;
	for (int i = 0; i < N_ACC; i++) {
		int x = (draw(cdf, N_ITEMS) + N_ITEMS / 2) % N_ITEMS;
		if (i == N_ACC / 2) {
			h0 = lf.hits;
			l0 = lf.looks;
		}
		sim_access(&lf, x);
	}
	double after = (double)(lf.hits - h0) / (double)(lf.looks - l0);
	int hot = 0;
	for (int i = 0; i < 8; i++)
		hot += lf.in[(i + N_ITEMS / 2) % N_ITEMS];
	printf("drift: lfru %.3f hit before, %.3f in the second half after the drift; %d of the new top 8 cached\n",
	       before, after, hot);
	CHECK_MSG(after > 0.9 * before, "lfru did not adapt: %.3f after the drift, %.3f before", after, before);
	CHECK_MSG(hot == 8, "only %d of the new top 8 are cached", hot);
	sim_free(&lf);
}

int main(void)
{
	test_order();
	test_zipf();
	test_drift();
	return t_done();
}
