/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/gen_like.c — `sluice gen-model --like MODEL [--type MIX] -o FILE`: a real model's
 * full-scale layout as a sparse file (runtime/model/synth_like.h), for sluice plan.
 */
#include "cli.h"
#include "model/synth_like.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *o)
{
	fprintf(o,
		"usage: sluice gen-model --like deepseek-r1 [--type MIX] -o FILE\n"
		"  writes the model's true tensor layout and metadata (full dimensions) as a SPARSE file:\n"
		"  no tensor data is written (it reads as zeros), so it takes a few MB of disk.  For\n"
		"  `sluice plan` and scheduler tests at true scale, not for bandwidth or output.\n"
		"  --type MIX   %s (default q4_K_m)\n",
		sl_synth_like_mixes);
}

int cmd_gen_like(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "like", required_argument, 0, 'L' }, { "type", required_argument, 0, 'T' },
		{ "output", required_argument, 0, 'o' }, { "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *like = NULL, *mix = NULL, *out = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'L': like = optarg; break;
		case 'T': mix = optarg; break;
		case 'o': out = optarg; break;
		case 'q': break;
		case 'h': usage(stdout); return 0;
		case ':': return cli_error("gen-model", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_error("gen-model", "--like: option '%s' does not apply (only --type and -o; see sluice gen-model --like x --help)",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_error("gen-model", "unexpected argument '%s'", argv[optind]);
	if (!out)
		return cli_error("gen-model", "no output file: use -o FILE");
	struct sl_synth_like_info info;
	struct sl_err err;
	if (sl_synth_like_write(like, mix, out, &info, &err))
		return cli_error("gen-model", "%s", err.msg);
	char so[1024];
	fprintf(stderr, "gen-model: %s: %s layout (%s), %u tensors, %.1fB parameters, %.1f GiB of tensors, sparse\n",
		cli_safe(out, strlen(out), so, sizeof so), like, mix ? mix : "q4_K_m", info.n_tensors,
		(double)info.n_params / 1e9, (double)info.tensor_bytes / (1ull << 30));
	return 0;
}
