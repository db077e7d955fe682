/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_replay.c — routing traces and the expert-cache simulator (runtime/cache/replay.h):
 * exact hit counts for lru and belady on hand-made traces (worked out by hand in the comments),
 * belady >= every online policy on a random skewed trace, lfru when the store has it, and the
 * strict parser: every malformed line is an error naming its line number.
 */
#include "cache/lru.h"
#include "cache/replay.h"
#include "helpers/testutil.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const T1 =
	"sluice-expert-trace 1\n"
	"# a comment line\n"
	"model tiny test layers 2 experts 4 used 2 first_moe 1 expert_bytes 1000\n"
	"1 0 0 1\n"
	"1 1 2 3   # a trailing comment\n"
	"\n"
	"1 2 0 1\n"
	"1 3 0 2\n";

static uint64_t hits(const struct sl_trace *t, const char *pol, uint64_t cap)
{
	struct sl_replay_result r;
	struct sl_err err;
	int rc = sl_replay(t, pol, cap, NULL, &r, &err);
	CHECK_MSG(rc == 0, "%s cap %llu: %s", pol, (unsigned long long)cap, err.msg);
	if (rc)
		return UINT64_MAX;
	CHECK(r.accesses == (uint64_t)t->n_rec * (uint64_t)t->k);
	CHECK(r.hits + r.misses == r.accesses);
	uint64_t h = r.hits;
	sl_replay_result_free(&r);
	return h;
}

static void hand_made(void)
{
	struct sl_trace t;
	struct sl_err err;
	CHECK(sl_trace_parse(T1, strlen(T1), "t1", &t, &err) == 0);
	CHECK(!strcmp(t.model, "tiny test"));
	CHECK(t.n_layer == 2 && t.n_expert == 4 && t.k == 2 && t.first_moe == 1 && t.expert_bytes == 1000);
	CHECK(t.n_rec == 4 && t.n_tokens == 4);
	/*
	 * Batches {0,1} {2,3} {0,1} {0,2}.
	 * lru, 1 entry:  r0 caches 0 (1 bypasses: 0 is in the batch); r1 caches 2; r2 caches 0; r3 hits 0.  1 hit.
	 * lru, 2: {0,1} -> {2,3} -> {0,1} -> hit 0, 2 evicts 1.  1 hit.
	 * lru, 3: {0,1} -> {1,2,3} (0 out) -> 1 hits, 0 evicts 2 -> hit 0, 2 evicts 3.  2 hits.
	 * lru, 4: only the 4 compulsory misses.  4 hits.
	 * belady, 1: keeps 0 (used at r2, r3), bypasses the rest.  2 hits.
	 * belady, 2: keeps {0,1}: hits 0,1 at r2 and 0 at r3.  3 hits.
	 * belady, 3 and 4: 4 hits (the compulsory misses only).
	 */
	static const uint64_t lru[] = { 0, 1, 1, 2, 4, 4 }, bel[] = { 0, 2, 3, 4, 4, 4 };
	for (uint64_t cap = 0; cap <= 5; cap++) {
		CHECK_MSG(hits(&t, "lru", cap) == lru[cap], "lru cap %llu", (unsigned long long)cap);
		CHECK_MSG(hits(&t, "belady", cap) == bel[cap], "belady cap %llu", (unsigned long long)cap);
	}
	struct sl_replay_result r;
	CHECK(sl_replay(&t, "belady", 2, NULL, &r, &err) == 0);
	CHECK(r.tokens == 4 && r.misses == 5);
	CHECK(r.misses_per_token == 1.25 && r.bytes_per_token == 1250.0);
	CHECK(r.layer_accesses[1] == 8 && r.layer_hits[1] == 3 && r.layer_accesses[0] == 0);
	sl_replay_result_free(&r);
	/* Expert 0 pinned: always a hit, takes no room.  lru 1: 3 pinned hits, the others never hit
	 * ({1} -> {2} -> {1} -> {2}).  belady 1: keeps 1 (used again at r2): 4 hits. */
	bool pinned[8] = { false };
	pinned[1 * 4 + 0] = true;
	CHECK(sl_replay(&t, "lru", 1, pinned, &r, &err) == 0 && r.hits == 3);
	sl_replay_result_free(&r);
	CHECK(sl_replay(&t, "belady", 1, pinned, &r, &err) == 0 && r.hits == 4);
	sl_replay_result_free(&r);
	CHECK(sl_replay(&t, "lru", 0, pinned, &r, &err) == 0 && r.hits == 3);
	sl_replay_result_free(&r);
	CHECK(sl_replay(&t, "no-such-policy", 2, NULL, &r, &err) == -ENOENT);
	CHECK(strstr(err.msg, "no-such-policy") != NULL);
	sl_trace_free(&t);
}

/* Several layers: entries are (layer, expert), so the same expert id in two layers is two entries. */
static void two_layers(void)
{
	static const char *const T =
		"sluice-expert-trace 1\n"
		"model m layers 3 experts 2 used 1 first_moe 1 expert_bytes 10\n"
		"1 0 0\n2 0 0\n1 1 0\n2 1 1\n";
	struct sl_trace t;
	struct sl_err err;
	CHECK(sl_trace_parse(T, strlen(T), "t", &t, &err) == 0);
	CHECK(t.n_tokens == 2);
	/* lru 1: (1,0) (2,0) (1,0) (2,1): all misses.  lru 2: hit (1,0) at r2.  belady 1: keeps (1,0): 1 hit. */
	CHECK(hits(&t, "lru", 1) == 0);
	CHECK(hits(&t, "lru", 2) == 1);
	CHECK(hits(&t, "belady", 1) == 1);
	sl_trace_free(&t);
}

static uint64_t rng(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* A random skewed trace: belady is an upper bound for lru (and lfru) at every size, hits grow with size. */
static void random_bound(void)
{
	const int L = 4, E = 32, K = 4, N = 300;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	len += (size_t)snprintf(buf + len, cap - len, "sluice-expert-trace 1\nmodel r layers %d experts %d used %d first_moe 1 expert_bytes 4096\n", L, E, K);
	uint64_t s = 7;
	for (int tok = 0; tok < N; tok++)
		for (int l = 1; l < L; l++) {
			bool used[32] = { false };
			len += (size_t)snprintf(buf + len, cap - len, "%d %d", l, tok);
			for (int k = 0; k < K; k++) {
				int e;
				do { /* skewed: the min of two uniforms, plus a drift */
					int a = (int)(rng(&s) % E), b = (int)(rng(&s) % E);
					e = ((a < b ? a : b) + tok / 50) % E;
				} while (used[e]);
				used[e] = true;
				len += (size_t)snprintf(buf + len, cap - len, " %d", e);
			}
			len += (size_t)snprintf(buf + len, cap - len, "\n");
		}
	struct sl_trace t;
	struct sl_err err;
	CHECK(sl_trace_parse(buf, len, "rand", &t, &err) == 0);
	struct sl_policy p;
	bool have_lfru = sl_policy_init(&p, "lfru", 8) == 0;
	if (have_lfru)
		sl_policy_destroy(&p);
	else
		fprintf(stderr, "note: no lfru policy in this build: lru and belady only\n");
	uint64_t prev_b = 0;
	for (uint64_t c = 1; c <= (uint64_t)(L - 1) * E; c *= 2) {
		uint64_t hl = hits(&t, "lru", c), hb = hits(&t, "belady", c);
		CHECK_MSG(hb >= hl, "cap %llu: belady %llu < lru %llu", (unsigned long long)c, (unsigned long long)hb,
			  (unsigned long long)hl);
		CHECK(hb >= prev_b);
		prev_b = hb;
		if (have_lfru) {
			uint64_t hf = hits(&t, "lfru", c);
			CHECK_MSG(hb >= hf, "cap %llu: belady %llu < lfru %llu", (unsigned long long)c,
				  (unsigned long long)hb, (unsigned long long)hf);
		}
	}
	/* All experts fit: only compulsory misses, for every policy. */
	uint64_t distinct = 0;
	bool seen[4][32] = { { false } };
	for (int64_t r = 0; r < t.n_rec; r++)
		for (int k = 0; k < K; k++) {
			int l = t.layer[r], e = t.experts[r * K + k];
			distinct += !seen[l][e];
			seen[l][e] = true;
		}
	CHECK(hits(&t, "lru", 1000) == (uint64_t)t.n_rec * K - distinct);
	CHECK(hits(&t, "belady", 1000) == (uint64_t)t.n_rec * K - distinct);
	sl_trace_free(&t);
	free(buf);
}

/* Each bad trace fails with its line number in the message. */
static void malformed(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "", "empty" },
		{ "# only a comment\n", "empty" },
		{ "hello 1\n", "t:1: not a routing trace" },
		{ "sluice-expert-trace 2\n", "t:1: routing trace version 2" },
		{ "sluice-expert-trace 1\n", "ends before its 'model" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4\n", "t:2: expected 'model NAME" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 5 first_moe 1 expert_bytes 9\n", "t:2: impossible" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 2 expert_bytes 9\n", "t:2: impossible" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 0\n", "t:3: 3 fields, expected 4" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 0 1\n\n1 0 0 1 2\n", "t:5: 5 fields" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n0 0 0 1\n", "t:3: '0' is not a MoE layer" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n2 0 0 1\n", "t:3: '2' is not a MoE layer" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 -1 0 1\n", "t:3: '-1' is not a token" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 0 4\n", "t:3: '4' is not an expert id" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 x 1\n", "t:3: 'x' is not an expert" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 3 3\n", "t:3: expert 3 is listed twice" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 1.5 3\n", "t:3: '1.5'" },
		{ "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 99999999999999999999999 1 3\n", "t:3:" },
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sl_trace t;
		struct sl_err err = { { 0 } };
		int rc = sl_trace_parse(cases[i].text, strlen(cases[i].text), "t", &t, &err);
		CHECK_MSG(rc == -EINVAL, "case %zu: rc %d", i, rc);
		CHECK_MSG(strstr(err.msg, cases[i].want) != NULL, "case %zu: '%s' does not contain '%s'", i, err.msg,
			  cases[i].want);
		CHECK(t.layer == NULL && t.experts == NULL);
	}
	/* A NUL byte */
	static const char nul[] = "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0\0 0 1\n";
	struct sl_trace t;
	struct sl_err err;
	CHECK(sl_trace_parse(nul, sizeof nul - 1, "t", &t, &err) == -EINVAL && strstr(err.msg, "t:3: a NUL"));
	/* No final newline is fine; a valid trace with no records parses (0 records). */
	static const char ok[] = "sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 0 1";
	CHECK(sl_trace_parse(ok, strlen(ok), "t", &t, &err) == 0 && t.n_rec == 1);
	sl_trace_free(&t);
	CHECK(sl_trace_load("/nonexistent/trace", &t, &err) == -ENOENT);
}

int main(void)
{
	hand_made();
	two_layers();
	random_bound();
	malformed();
	return t_done();
}
