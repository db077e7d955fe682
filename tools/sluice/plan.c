/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/plan.c — `sluice plan MODEL --vram SIZE --host-cache SIZE`: where each weight unit would
 * live (the store's own placement, sl_place), the bytes per token each tier serves, and a predicted
 * tokens/s from the cost model of Documentation/plan.md.  Reads the GGUF header only: instant on a
 * 400 GB model, and on the sparse layouts of gen-model --like.
 */
#include "cache/lru.h"
#include "cache/placement.h"
#include "cache/plan_model.h"
#include "cache/replay.h"
#include "cli.h"
#include "gguf.h"
#include "internal.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DISKS 8

static void usage(FILE *o)
{
	fprintf(o,
		"usage: sluice plan MODEL --vram SIZE --host-cache SIZE [--backend cuda|cpu]\n"
		"                   [--disk-bw BW[,BW...]] [--pcie-bw BW] [--cpu-bw BW] [--gpu-bw BW]\n"
		"                   [--trace TRACE] [--policy P] [--lookahead N]\n"
		"  the placement the weight store would choose (bytes per tier and class), the bytes each tier\n"
		"  serves per token, and a predicted tokens/s (cost model: Documentation/plan.md)\n"
		"  --vram SIZE        device memory for weights (cpu: memory kept resident); default unlimited\n"
		"  --host-cache SIZE  host cache for streamed weights; default unlimited\n"
		"  --backend B        cuda (default: streamed weights cross PCIe) or cpu (compute reads host memory)\n"
		"  --disk-bw BW       drive read rate, e.g. 7G (GB/s, powers of 1000); several: one row each (default 3G)\n"
		"  --pcie-bw BW       host-to-device copy rate (default 25G)\n"
		"  --cpu-bw BW        weight bytes per second the CPU kernels consume (default 60G)\n"
		"  --gpu-bw BW        weight bytes per second the GPU kernels consume (default 1000G)\n"
		"  --trace TRACE      a routing trace of this model (run --trace-experts): expert hit rates from\n"
		"                     replaying it (else: every expert equally likely)\n"
		"  --policy P         the dynamic expert cache's policy for the replay (default lfru, else lru)\n"
		"  --lookahead N      layers of streaming window, as sluice run --lookahead (default 2)\n"
		"  --whole-layers     the baseline: streamed MoE layers read whole, not only the routed experts\n"
		"  --pregate N|off    experts guessed ahead per MoE layer, as sluice run (default: experts used)\n"
		"  --pregate-precision P  the share of guesses the router then chooses (run --stats prints it;\n"
		"                     default 1: no wasted reads); the rest are read for nothing\n"
		"  --expert-serial F  the share of the expert reads' time no compute hides (default 0.5,\n"
		"                     measured here; 0: full overlap, 1: none)\n");
}

/* "7G", "7GB/s", "500M", "2.5e9": bytes per second, powers of 1000 (drives are sold that way). */
static bool parse_bw(const char *opt, const char *val, double *out)
{
	char *end;
	double v = strtod(val, &end);
	double mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1e3; end++; break;
	case 'm': case 'M': mul = 1e6; end++; break;
	case 'g': case 'G': mul = 1e9; end++; break;
	case 't': case 'T': mul = 1e12; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (!strcmp(end, "/s"))
		end += 2;
	if (end == val || *end || !(v > 0) || !isfinite(v * mul)) {
		cli_error("plan", "%s: '%s' is not a bandwidth (examples: 7G, 3.5GB/s, 800M)", opt, val);
		return false;
	}
	*out = v * mul;
	return true;
}

/* The report's unit: GiB for models of 10 GiB and more, MiB below (set once per run). */
static double unit_div = (double)(1ull << 30);
static const char *unit = "GiB";

static double gib(double b)
{
	return b / unit_div;
}

static const char *bw_str(double bw, char *buf, size_t len)
{
	snprintf(buf, len, "%.4g GB/s", bw / 1e9);
	return buf;
}

int cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vram", required_argument, 0, 'V' },    { "host-cache", required_argument, 0, 'H' },
		{ "disk-bw", required_argument, 0, 'd' }, { "pcie-bw", required_argument, 0, 'p' },
		{ "cpu-bw", required_argument, 0, 'c' },  { "gpu-bw", required_argument, 0, 'g' },
		{ "trace", required_argument, 0, 't' },   { "backend", required_argument, 0, 'b' },
		{ "policy", required_argument, 0, 'P' },  { "lookahead", required_argument, 0, 'L' },
		{ "whole-layers", no_argument, 0, 'W' },  { "help", no_argument, 0, 'h' },
		{ "pregate", required_argument, 0, 'G' }, { "pregate-precision", required_argument, 0, 'R' },
		{ "expert-serial", required_argument, 0, 'E' },
		{ 0, 0, 0, 0 },
	};
	uint64_t vram = 0, host = 0;
	double disks[MAX_DISKS] = { 3e9 }, pcie = 25e9, cpu = 60e9, gpu = 1000e9;
	int n_disks = 1;
	const char *trace_path = NULL, *backend = "cuda", *policy = NULL;
	long lookahead = 0;
	bool whole = false;
	long pregate = -1; /* -1: the run's default (experts used per token) */
	double precision = 1.0, expert_serial = 0.5;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'V': if (!cli_size("plan", "--vram", optarg, &vram)) return 1; break;
		case 'H': if (!cli_size("plan", "--host-cache", optarg, &host)) return 1; break;
		case 'd': {
			char buf[256];
			snprintf(buf, sizeof buf, "%s", optarg);
			n_disks = 0;
			for (char *s = NULL, *tok = strtok_r(buf, ",", &s); tok; tok = strtok_r(NULL, ",", &s)) {
				if (n_disks == MAX_DISKS)
					return cli_error("plan", "--disk-bw: at most %d rates", MAX_DISKS);
				if (!parse_bw("--disk-bw", tok, &disks[n_disks++]))
					return 1;
			}
			if (!n_disks)
				return cli_error("plan", "--disk-bw: no rate given");
			break;
		}
		case 'p': if (!parse_bw("--pcie-bw", optarg, &pcie)) return 1; break;
		case 'c': if (!parse_bw("--cpu-bw", optarg, &cpu)) return 1; break;
		case 'g': if (!parse_bw("--gpu-bw", optarg, &gpu)) return 1; break;
		case 't': trace_path = optarg; break;
		case 'b':
			if (strcmp(optarg, "cuda") && strcmp(optarg, "cpu"))
				return cli_error("plan", "--backend: '%s' is not a backend (cuda, cpu)", optarg);
			backend = optarg;
			break;
		case 'P': policy = optarg; break;
		case 'L': if (!cli_int("plan", "--lookahead", optarg, 1, 64, &lookahead)) return 1; break;
		case 'W': whole = true; break;
		case 'E': if (!cli_float("plan", "--expert-serial", optarg, 0, 1, &expert_serial)) return 1; break;
		case 'G':
			if (!strcmp(optarg, "off"))
				pregate = 0;
			else if (!cli_int("plan", "--pregate", optarg, 1, 1024, &pregate))
				return 1;
			break;
		case 'R': {
			char *end;
			precision = strtod(optarg, &end);
			if (end == optarg || *end == '%')
				precision /= 100, end += *end == '%';
			if (end == optarg || *end || !(precision >= 0 && precision <= 1))
				return cli_error("plan", "--pregate-precision: '%s' is not a fraction from 0 to 1 (or 0%%..100%%)",
						 optarg);
			break;
		}
		case 'h': usage(stdout); return 0;
		case ':': return cli_error("plan", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("plan", "unknown option '%s' (see sluice plan --help)", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_error("plan", optind == argc ? "no model given (usage: sluice plan MODEL --vram SIZE --host-cache SIZE)"
							 : "one model at a time, please");
	const char *path = argv[optind];
	if (cli_check_input("plan", path))
		return 1;
	const bool cuda = !strcmp(backend, "cuda");
	struct sl_err err;
	struct gguf_file *f = NULL;
	struct sl_model_units m = { 0 };
	struct sl_place_plan plan = { 0 };
	struct sl_trace tr = { 0 };
	double *hit = NULL, *dev_hit = NULL;
	bool *pinned = NULL;
	int rc = 1;
	if (sl_gguf_open(path, &f, &err)) {
		cli_error("plan", "%s", err.msg);
		goto out;
	}
	if (sl_model_units(f, 512, &m, &err)) { /* O_DIRECT's usual logical block */
		cli_error("plan", "%s", err.msg);
		goto out;
	}
	struct sl_place_input in = {
		.units = m.u, .n_units = m.n, .n_layers = m.n_layers,
		.vram = vram ? vram : UINT64_MAX, .host = host ? host : UINT64_MAX,
		.host_visible = !cuda, .host_tier = true, .experts_used = m.experts_used,
		.window_steps = (int)lookahead,
	};
	if (sl_place(&in, &plan, &err)) {
		cli_error("plan", "%s", err.msg);
		goto out;
	}

	/* The dynamic expert cache: host cache the plan leaves over (beyond the pins and one step of the
	 * window), for streamed experts. */
	uint64_t left = 0, dyn = 0, dyn_experts = 0;
	if (plan.streaming && in.host != UINT64_MAX) {
		left = in.host - SL_MIN(in.host, plan.host_bytes + plan.host_window);
		dyn = left + (plan.host_window > plan.step_span ? plan.host_window - plan.step_span : 0);
	}
	uint64_t exp_span = 0, n_exp_units = 0;
	for (int i = 0; i < m.n; i++)
		if (m.u[i].expert >= 0) {
			exp_span += m.u[i].span;
			n_exp_units++;
		}
	uint64_t one_expert_span = 0;
	if (m.experts_used && n_exp_units) {
		/* an expert's span: its slices' spans (3 tensors in a layer, usually) */
		uint64_t moe_layers = 0;
		for (int l = 0; l < m.n_layers; l++)
			moe_layers += m.expert_bytes[l] > 0;
		one_expert_span = exp_span / (moe_layers * (uint64_t)m.n_expert);
		dyn_experts = one_expert_span ? dyn / one_expert_span : 0;
	}

	/* A trace: hit rates from replaying it over this placement. */
	const char *used_policy = NULL;
	if (trace_path) {
		if (!m.experts_used) {
			cli_error("plan", "--trace: %s is a dense model (no routed experts)", path);
			goto out;
		}
		if (cli_check_input("plan", trace_path))
			goto out;
		if (sl_trace_load(trace_path, &tr, &err)) {
			cli_error("plan", "%s", err.msg);
			goto out;
		}
		if (tr.n_layer != m.n_layers || tr.n_expert != m.n_expert || !tr.n_rec) {
			cli_error("plan", "--trace: %s is a trace of %d layers x %d experts (%" PRId64 " records); %s has %d x %d",
				  trace_path, tr.n_layer, tr.n_expert, tr.n_rec, path, m.n_layers, m.n_expert);
			goto out;
		}
		const size_t n_ids = (size_t)m.n_layers * (size_t)m.n_expert;
		pinned = calloc(n_ids, sizeof(bool));
		bool *on_dev = calloc(n_ids, sizeof(bool));
		hit = calloc((size_t)m.n_layers, sizeof(double));
		dev_hit = calloc((size_t)m.n_layers, sizeof(double));
		if (!pinned || !on_dev || !hit || !dev_hit) {
			free(on_dev);
			cli_error("plan", "out of memory");
			goto out;
		}
		/* an expert is pinned when all its units are placed for good; on the device when all are DEVICE */
		for (size_t i = 0; i < n_ids; i++)
			pinned[i] = on_dev[i] = true;
		for (int i = 0; i < m.n; i++) {
			if (m.u[i].expert < 0)
				continue;
			size_t id = (size_t)m.u[i].layer * (size_t)m.n_expert + (size_t)m.u[i].expert;
			pinned[id] = pinned[id] && plan.where[i] != SL_PLACE_STREAM;
			on_dev[id] = on_dev[id] && plan.where[i] == SL_PLACE_DEVICE;
		}
		struct sl_policy probe;
		used_policy = policy ? policy : sl_policy_init(&probe, "lfru", 1) == 0 ? "lfru" : "lru";
		if (!policy && !strcmp(used_policy, "lfru"))
			sl_policy_destroy(&probe);
		struct sl_replay_result r;
		if (sl_replay(&tr, used_policy, dyn_experts, pinned, &r, &err)) {
			free(on_dev);
			cli_error("plan", "%s", err.msg);
			goto out;
		}
		uint64_t *dev_n = calloc((size_t)m.n_layers, sizeof(uint64_t));
		for (int64_t rr = 0; dev_n && rr < tr.n_rec; rr++)
			for (int k = 0; k < tr.k; k++)
				dev_n[tr.layer[rr]] += on_dev[(size_t)tr.layer[rr] * (size_t)m.n_expert + (size_t)tr.experts[rr * tr.k + k]];
		/* layers the trace never visits keep the placement's uniform estimate */
		for (int l = 0; l < m.n_layers; l++) {
			if (r.layer_accesses[l]) {
				hit[l] = (double)r.layer_hits[l] / (double)r.layer_accesses[l];
				dev_hit[l] = dev_n ? (double)dev_n[l] / (double)r.layer_accesses[l] : 0;
			} else {
				hit[l] = dev_hit[l] = -1;
			}
		}
		free(dev_n);
		free(on_dev);
		sl_replay_result_free(&r);
		bool any_missing = false;
		for (int l = 0; l < m.n_layers; l++)
			any_missing |= m.expert_bytes[l] && hit[l] < 0;
		if (any_missing) {
			cli_error("plan", "--trace: %s has no records for some MoE layers of %s", trace_path, path);
			goto out;
		}
	}

	/* The report. */
	if (m.tensor_bytes < (10ull << 30)) {
		unit_div = (double)(1ull << 20);
		unit = "MiB";
	}
	char sb[512], b1[32], b2[32], b3[32];
	const char *arch = m.arch;
	printf("model %s: %s, %d layers", cli_safe(path, strlen(path), sb, sizeof sb), cli_safe(arch, strlen(arch), sb + 300, 200),
	       m.n_layers);
	if (m.experts_used)
		printf(" (%d dense), %d routed experts (%d used), expert %.1f MiB", m.first_moe, m.n_expert,
		       m.experts_used, (double)m.expert_bytes_max / (1 << 20));
	printf(", %.1fB parameters, %.2f %s of tensors\n", (double)m.n_params / 1e9, gib((double)m.tensor_bytes), unit);
	printf("budgets: --vram %s, --host-cache %s, backend %s%s\n",
	       vram ? (snprintf(b1, sizeof b1, "%.2f %s", gib((double)vram), unit), b1) : "unlimited",
	       host ? (snprintf(b2, sizeof b2, "%.2f %s", gib((double)host), unit), b2) : "unlimited", backend,
	       cuda ? "" : " (compute reads host memory: --vram is what stays resident)");
	double per[SL_CLASS_COUNT][3] = { { 0 } }, tot[3] = { 0 };
	for (int i = 0; i < m.n; i++) {
		int w = plan.where[i] == SL_PLACE_DEVICE ? 0 : plan.where[i] == SL_PLACE_HOST ? 1 : 2;
		double b = (double)m.u[i].size; /* tensor bytes (the host cache counts pages: plan.host_bytes) */
		per[m.cls[i]][w] += b;
		tot[w] += b;
	}
	printf("\nplacement (%s)   %12s %12s %12s\n", unit, cuda ? "device" : "resident", "pinned host", "streamed");
	for (int k = 0; k < SL_CLASS_COUNT; k++)
		if (per[k][0] + per[k][1] + per[k][2] > 0)
			printf("  %-15s %12.3f %12.3f %12.3f\n", sl_unit_class_names[k], gib(per[k][0]), gib(per[k][1]),
			       gib(per[k][2]));
	printf("  %-15s %12.3f %12.3f %12.3f\n", "total", gib(tot[0]), gib(tot[1]), gib(tot[2]));
	if (plan.streaming)
		printf("windows: device %.3f %s, host %.3f %s (a layer's step: %.3f %s); layers pinned whole: %d\n",
		       gib((double)plan.dev_window), unit, gib((double)plan.host_window), unit,
		       gib((double)plan.step_span), unit, plan.pinned_layers);
	if (m.experts_used && plan.streaming)
		printf("dynamic expert cache: %.3f %s (%" PRIu64 " experts; the host cache beyond the pins and one step)\n",
		       gib((double)dyn), unit, dyn_experts);

	printf("\n");
	rc = 0;
	for (int di = 0; di < n_disks && !rc; di++) {
		struct sl_plan_cost_in ci = {
			.m = &m, .plan = &plan, .bw = { disks[di], pcie, cuda ? gpu : cpu }, .device_copy = cuda,
			.hit = hit, .dev_hit = dev_hit, .dyn_cache_experts = dyn_experts, .whole_layers = whole,
			.pregate = pregate < 0 ? m.experts_used : (int)pregate, .pregate_precision = precision,
			.expert_serial = expert_serial,
		};
		struct sl_plan_cost co;
		if (sl_plan_cost(&ci, &co, &err)) {
			rc = cli_error("plan", "%s", err.msg);
			break;
		}
		if (di == 0) {
			printf("per token: active %.3f %s (%.3f from %s, %.3f from host memory)\n", gib(co.active), unit,
			       gib(co.from_device), cuda ? "the device" : "resident memory", gib(co.from_host));
			printf("  drive: %.3f %s (dense %.3f + experts %.3f", gib(co.disk), unit, gib(co.disk_dense),
			       gib(co.disk_experts));
			if (m.experts_used && whole)
				printf(", --whole-layers: every streamed expert each token");
			else if (m.experts_used)
				printf(" at an expert hit rate of %.1f%%, %s", 100 * co.expert_hit,
				       trace_path ? "replayed from the trace with " : "uniform estimate");
			if (trace_path && !whole)
				printf("%s", used_policy);
			printf(")\n");
			if (co.disk_pregate > 0)
				printf("  of which wrong pre-gating guesses: %.3f %s (%d guesses per layer, precision %.0f%%)\n",
				       gib(co.disk_pregate), unit, ci.pregate, 100 * precision);
			if (m.experts_used)
				printf("  drive minimum with no expert cached: %.3f %s\n", gib(co.active_min), unit);
			if (cuda)
				printf("  PCIe: %.3f %s\n", gib(co.pcie), unit);
			printf("bandwidths: %s %s, compute %s%s%s\n", "disk", bw_str(disks[di], b1, sizeof b1),
			       bw_str(cuda ? gpu : cpu, b2, sizeof b2), cuda ? ", pcie " : "",
			       cuda ? bw_str(pcie, b3, sizeof b3) : "");
			printf("\n%-12s %10s %10s %10s %10s %8s %12s\n", "disk", "disk ms", "pcie ms", "compute ms", "tok/s",
			       "bound", "no-overlap");
		}
		printf("%-12s %10.2f %10.2f %10.2f %10.3f %8s %12.3f\n", bw_str(disks[di], b1, sizeof b1), 1e3 * co.t_disk,
		       1e3 * co.t_pcie, 1e3 * co.t_compute, co.tok_s, co.bound, co.tok_s_serial);
	}
out:
	free(hit);
	free(dev_hit);
	free(pinned);
	sl_trace_free(&tr);
	sl_place_plan_free(&plan);
	sl_model_units_free(&m);
	if (f)
		sl_gguf_close(f);
	return rc;
}
