/* SPDX-License-Identifier: MIT */
/* tools/sluice/main.c — the sluice command: dispatch to one file per subcommand. */
#include "cli.h"
#include "sluice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int usage(FILE *out)
{
	fprintf(out,
		"usage: sluice COMMAND [options]   (sluice COMMAND --help for each)\n"
		"\n"
		"commands:\n"
		"  run        generate text from a GGUF model (--chat: one turn of a conversation)\n"
		"  chat       a conversation in the terminal, with the model's chat template\n"
		"  perplexity teacher-forced perplexity over a text; KL divergence from a saved reference\n"
		"  imatrix    an importance matrix over a text (for quantize --imatrix)\n"
		"  serve      an OpenAI-compatible HTTP server (continuous batching)\n"
		"  profile    where the time per token goes, and the bottleneck\n"
		"  info       print a model's architecture, hyperparameters and tensors\n"
		"  gen-model  write a synthetic model with random weights (any size)\n"
		"  quantize   convert a model's tensors to another type (q4_k_m, q8_0, ...)\n"
		"  bench      benchmarks: bench io FILE (storage engine)\n"
		"  topo       print GPUs, NVMe drives, NUMA nodes and how they connect\n"
		"  nvme       NVMe controllers: list, bind to vfio-pci / unbind (userspace driver)\n"
		"  stage      write a model to a raw NVMe namespace (run --nvme reads it from there)\n"
		"  replay     simulate expert-cache policies and sizes over a routing trace\n"
		"  plan       a model's placement under budgets and its predicted tokens/s\n"
		"  version    print the version\n");
	return out == stderr ? 1 : 0;
}

/*
 * The library reads no environment; the variables users set for the command become parameters
 * here (SLUICE_NO_SIMD=1 -> "scalar", SLUICE_SIMD=LEVEL; SLUICE_SYSFS_ROOT in topo.c,
 * SLUICE_IO_FAULT in run.c).
 */
static int apply_env(void)
{
	const char *no_simd = getenv("SLUICE_NO_SIMD"), *simd = getenv("SLUICE_SIMD");
	const char *level = NULL, *from = NULL;
	if (no_simd && *no_simd && strcmp(no_simd, "0"))
		level = "scalar", from = "SLUICE_NO_SIMD";
	else if (simd && *simd)
		level = simd, from = "SLUICE_SIMD";
	if (level && sluice_set_cpu_features(level)) {
		fprintf(stderr, "sluice: %s=%s: unknown CPU feature level (auto, avx512, avx2, scalar)\n", from, level);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct subcmd cmds[] = {
		{ "run", cmd_run, NULL },
		{ "chat", cmd_chat, NULL },
		{ "perplexity", cmd_perplexity, NULL },
		{ "imatrix", cmd_imatrix, NULL },
		{ "serve", cmd_serve, NULL },
		{ "nvme", cmd_nvme, NULL },
		{ "stage", cmd_stage, NULL },
		{ "profile", cmd_profile, NULL },
		{ "info", cmd_info, NULL },
		{ "gen-model", cmd_gen_model, NULL },
		{ "quantize", cmd_quantize, NULL },
		{ "bench", cmd_bench, NULL },
		{ "topo", cmd_topo, NULL },
		{ "replay", cmd_replay, NULL },
		{ "plan", cmd_plan, NULL },
	};
	/* A signal during a write removes its temporary file (quantize, gen-model, bench io --iolog). */
	cli_cleanup_on_signals();
	if (argc < 2)
		return usage(stderr);
	const char *c = argv[1];
	if (!strcmp(c, "-h") || !strcmp(c, "--help") || !strcmp(c, "help"))
		return cli_finish(usage(stdout));
	if (apply_env())
		return 1;
	if (!strcmp(c, "version") || !strcmp(c, "--version")) {
		printf("sluice %s\n", sluice_version());
		return cli_finish(0);
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(c, cmds[i].name))
			continue;
		if (!cmds[i].fn) {
			fprintf(stderr, "sluice: '%s' is not available in this build\n", c);
			return 1;
		}
		/* Every command's output is checked once, here: a full disk or a closed pipe is a failure. */
		return cli_finish(cmds[i].fn(argc - 1, argv + 1));
	}
	fprintf(stderr, "sluice: unknown command '%s'\n", c);
	usage(stderr);
	return 1;
}
