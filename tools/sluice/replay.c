/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/replay.c — `sluice replay TRACE`: simulate expert caches of given sizes under given
 * policies over a routing trace (runtime/cache/replay.h) and print hit rate, misses and bytes read
 * per token.
 */
#include "cache/lru.h"
#include "cache/replay.h"
#include "cli.h"
#include "internal.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZES 32
#define MAX_POLICIES 8

static void usage(FILE *o)
{
	fprintf(o,
		"usage: sluice replay TRACE [--cache-experts N[,N...] | --cache-bytes SIZE[,SIZE...]]\n"
		"                           [--policy lru|lfru|belady|all[,...]] [--per-layer]\n"
		"  simulates an expert cache over a routing trace (sluice run --trace-experts FILE)\n"
		"  --cache-experts N   room for N experts (one expert = its gate+up+down slices of one layer)\n"
		"  --cache-bytes SIZE  room for SIZE / expert_bytes experts (expert_bytes from the trace)\n"
		"                      (default: 1/16, 1/8, 1/4 and 1/2 of all the model's experts)\n"
		"  --policy P          a policy of the weight store (lru, lfru), belady (the offline optimum:\n"
		"                      an upper bound), or all (default: all)\n"
		"  --per-layer         also print the hit rate of each layer\n");
}

/* Split a comma list into sizes; experts (plain counts) or bytes (sizes with suffixes). */
static int parse_list(const char *opt, const char *val, bool bytes, uint64_t *out, int *n)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", val);
	*n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_SIZES)
			return cli_error("replay", "%s: at most %d sizes", opt, MAX_SIZES);
		if (bytes ? !cli_size("replay", opt, tok, &out[*n]) : !cli_u64("replay", opt, tok, &out[*n]))
			return 1;
		(*n)++;
	}
	if (!*n)
		return cli_error("replay", "%s: no size given", opt);
	return 0;
}

static void human(uint64_t b, char *buf, size_t len)
{
	if (b >= (1ull << 30))
		snprintf(buf, len, "%.2f GiB", (double)b / (1ull << 30));
	else if (b >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)b / (1ull << 20));
	else if (b >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)b / 1024);
	else
		snprintf(buf, len, "%" PRIu64 " B", b);
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache-experts", required_argument, 0, 'e' }, { "cache-bytes", required_argument, 0, 'b' },
		{ "policy", required_argument, 0, 'p' },        { "per-layer", no_argument, 0, 'L' },
		{ "help", no_argument, 0, 'h' },                { 0, 0, 0, 0 },
	};
	uint64_t sizes[MAX_SIZES];
	int n_sizes = 0;
	bool size_bytes = false, per_layer = false;
	const char *policy = "all";
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
		case 'b':
			if (n_sizes)
				return cli_error("replay", "give either --cache-experts or --cache-bytes, once");
			size_bytes = c == 'b';
			if (parse_list(c == 'b' ? "--cache-bytes" : "--cache-experts", optarg, size_bytes, sizes, &n_sizes))
				return 1;
			break;
		case 'p': policy = optarg; break;
		case 'L': per_layer = true; break;
		case 'h': usage(stdout); return 0;
		case ':': return cli_error("replay", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("replay", "unknown option '%s' (see sluice replay --help)", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_error("replay", optind == argc ? "no trace given (usage: sluice replay TRACE)"
							 : "one trace at a time, please");
	const char *path = argv[optind];
	if (cli_check_input("replay", path))
		return 1;

	/* Policies: "all" = lru, lfru (when the store has it), belady. */
	const char *pols[MAX_POLICIES];
	int n_pols = 0;
	char pbuf[256];
	snprintf(pbuf, sizeof pbuf, "%s", policy);
	for (char *save = NULL, *tok = strtok_r(pbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			static const char *const all[] = { "lru", "lfru", "belady" };
			for (size_t i = 0; i < SL_ARRAY_SIZE(all) && n_pols < MAX_POLICIES; i++) {
				struct sl_policy p;
				if (strcmp(all[i], "belady") && sl_policy_init(&p, all[i], 1))
					continue; /* not in this build */
				if (strcmp(all[i], "belady"))
					sl_policy_destroy(&p);
				pols[n_pols++] = all[i];
			}
			continue;
		}
		if (n_pols == MAX_POLICIES)
			return cli_error("replay", "--policy: at most %d policies", MAX_POLICIES);
		if (strcmp(tok, "belady")) {
			struct sl_policy p;
			int rc = sl_policy_init(&p, tok, 1);
			if (rc == -ENOENT)
				return cli_error("replay", "--policy: '%s' is not a cache policy (lru, lfru, belady, all)", tok);
			if (!rc)
				sl_policy_destroy(&p);
		}
		pols[n_pols++] = tok; /* into pbuf, which lives to the end */
	}
	if (!n_pols)
		return cli_error("replay", "--policy: no policy given");

	struct sl_trace t;
	struct sl_err err;
	if (sl_trace_load(path, &t, &err))
		return cli_error("replay", "%s", err.msg);
	if (!t.n_rec) {
		sl_trace_free(&t);
		return cli_error("replay", "%s: the trace has no routing records", path);
	}
	const uint64_t all_experts = (uint64_t)(t.n_layer - t.first_moe) * (uint64_t)t.n_expert;
	if (!n_sizes) {
		for (int d = 16; d >= 2; d /= 2)
			sizes[n_sizes++] = SL_MAX(all_experts / (uint64_t)d, 1);
	} else if (size_bytes) {
		if (!t.expert_bytes) {
			sl_trace_free(&t);
			return cli_error("replay", "%s: the trace gives expert_bytes 0: use --cache-experts", path);
		}
		for (int i = 0; i < n_sizes; i++)
			sizes[i] /= t.expert_bytes;
	}

	char sb[512], eb[32];
	human(t.expert_bytes, eb, sizeof eb);
	printf("trace %s: model %s, %d MoE layers of %d (first %d) x %d experts, %d used, %" PRIu64
	       " tokens, %" PRId64 " records, expert %s\n",
	       cli_safe(path, strlen(path), sb, sizeof sb), cli_safe(t.model, strlen(t.model), sb + 256, 256),
	       t.n_layer - t.first_moe, t.n_layer, t.first_moe, t.n_expert, t.k, t.n_tokens, t.n_rec, eb);
	printf("%-8s %10s %12s %9s %13s %13s\n", "policy", "experts", "cache", "hit rate", "misses/token",
	       "bytes/token");
	int rc = 0;
	for (int si = 0; si < n_sizes && !rc; si++) {
		for (int pi = 0; pi < n_pols && !rc; pi++) {
			struct sl_replay_result r;
			if (sl_replay(&t, pols[pi], sizes[si], NULL, &r, &err)) {
				rc = cli_error("replay", "%s", err.msg);
				break;
			}
			char cb[32], bb[32];
			uint64_t cache_b = 0;
			sl_mul_overflow_u64(sizes[si], t.expert_bytes, &cache_b);
			human(cache_b, cb, sizeof cb);
			human((uint64_t)r.bytes_per_token, bb, sizeof bb);
			printf("%-8s %10" PRIu64 " %12s %8.2f%% %13.2f %13s\n", pols[pi], sizes[si], cb, 100.0 * r.hit_rate,
			       r.misses_per_token, bb);
			if (per_layer) {
				printf("  per layer:");
				for (int l = t.first_moe; l < t.n_layer; l++)
					if (r.layer_accesses[l])
						printf(" %d:%.1f%%", l, 100.0 * (double)r.layer_hits[l] / (double)r.layer_accesses[l]);
				printf("\n");
			}
			sl_replay_result_free(&r);
		}
	}
	sl_trace_free(&t);
	return rc;
}
