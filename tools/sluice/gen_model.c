/* SPDX-License-Identifier: MIT */
/* tools/sluice/gen_model.c — `sluice gen-model`: write a synthetic llama model of any size. */
#include "cli.h"
#include "model/synth.h"
#include "quant/quant.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *o)
{
	fprintf(o,
		"usage: sluice gen-model [--arch llama|qwen2] [--vocab spm|bpe] --size SIZE [--type TYPE] [--seed S] -o FILE\n"
		"  writes a model with random weights, real tensor names and metadata, and a real\n"
		"  vocabulary; the same seed always gives the same file\n"
		"  --arch ARCH     llama (default) or qwen2 (q/k/v biases, NeoX rope, byte-level BPE, ChatML)\n"
		"  --vocab V       spm: SentencePiece-style (llama's default); bpe: byte-level BPE with\n"
		"                  merges, Llama-3's special tokens, pre llama-bpe, rope base 500000\n"
		"  --rope-freqs    llama: Llama-3.1's rope_freqs tensor and llama3 rope-scaling keys\n"
		"  --size SIZE     approximate file size: 64M, 2G, ... (default 64M)\n"
		"  --type TYPE     f32 | f16 | bf16 | q8_0 | any type `sluice quantize` knows (default f16)\n"
		"  --mix r1        DeepSeek-R1-like low-bit mix: ffn iq4_xs, attention q4_K, output q6_K\n"
		"  --seed S        (default 1)\n"
		"  --dim N, --layers N, --ff N, --ctx N   override the chosen dimensions\n"
		"  -q, --quiet     no progress bar\n"
		"  --like deepseek-r1 [--type q4_K_m|ud-iq1_s|TYPE]   a real model's full layout, sparse\n");
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	cli_progress("gen-model", done, total);
}

int cmd_gen_model(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) /* --like: a real model's sparse layout (gen_like.c) */
		if (!strcmp(argv[i], "--like") || !strncmp(argv[i], "--like=", 7))
			return cmd_gen_like(argc, argv);
	static const struct option opts[] = {
		{ "arch", required_argument, 0, 'a' }, { "size", required_argument, 0, 's' },
		{ "type", required_argument, 0, 'T' }, { "seed", required_argument, 0, 'S' },
		{ "output", required_argument, 0, 'o' }, { "dim", required_argument, 0, 'd' },
		{ "layers", required_argument, 0, 'l' }, { "ff", required_argument, 0, 'f' },
		{ "ctx", required_argument, 0, 'c' }, { "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' }, { "vocab", required_argument, 0, 'V' },
		{ "rope-freqs", no_argument, 0, 'R' }, { "mix", required_argument, 0, 'm' }, { 0, 0, 0, 0 },
	};
	struct sl_synth_params p = { .size_bytes = 64ull << 20, .type = SL_TYPE_F16, .seed = 1 };
	const char *out = NULL;
	bool quiet = false;
	const char *vocab_set = NULL;
	long v;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (strcmp(optarg, "llama") && strcmp(optarg, "qwen2"))
				return cli_error("gen-model", "--arch: '%s' is not supported (llama, qwen2)", optarg);
			p.arch = optarg;
			break;
		case 'V':
			if (strcmp(optarg, "spm") && strcmp(optarg, "bpe"))
				return cli_error("gen-model", "--vocab: '%s' is not a vocabulary kind (spm, bpe)", optarg);
			p.bpe = !strcmp(optarg, "bpe");
			vocab_set = optarg;
			break;
		case 'R': p.rope_freqs = true; break;
		case 's': if (!cli_size("gen-model", "--size", optarg, &p.size_bytes)) return 1; break;
		case 'T': {
			int t = sl_type_from_name(optarg);
			const struct sl_type_traits *tt = t >= 0 ? sl_type_traits((uint32_t)t) : NULL;
			if (!tt || !tt->from_float || t == SL_TYPE_Q8_K)
				return cli_error("gen-model", "--type: '%s' is not a type models can be written in", optarg);
			p.type = (uint32_t)t;
			break;
		}
		case 'S': if (!cli_u64("gen-model", "--seed", optarg, &p.seed)) return 1; break;
		case 'o': out = optarg; break;
		case 'd': if (!cli_int("gen-model", "--dim", optarg, 16, 65536, &v)) return 1; p.n_embd = (uint32_t)v; break;
		case 'l': if (!cli_int("gen-model", "--layers", optarg, 1, 1024, &v)) return 1; p.n_layer = (uint32_t)v; break;
		case 'f': if (!cli_int("gen-model", "--ff", optarg, 16, 1 << 20, &v)) return 1; p.n_ff = (uint32_t)v; break;
		case 'c': if (!cli_int("gen-model", "--ctx", optarg, 16, 1 << 20, &v)) return 1; p.n_ctx = (uint32_t)v; break;
		case 'm':
			if (strcmp(optarg, "r1"))
				return cli_error("gen-model", "--mix: '%s' is not a known mix (r1)", optarg);
			p.mix = SL_SYNTH_MIX_R1;
			break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case ':': return cli_error("gen-model", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("gen-model", "unknown option '%s' (see sluice gen-model --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_error("gen-model", "unexpected argument '%s'", argv[optind]);
	if (!out)
		return cli_error("gen-model", "no output file: use -o FILE");
	const bool qwen2 = p.arch && !strcmp(p.arch, "qwen2");
	if (qwen2 && vocab_set && !p.bpe)
		return cli_error("gen-model", "--vocab spm: qwen2 models have a byte-level BPE vocabulary");
	if (qwen2 && p.rope_freqs)
		return cli_error("gen-model", "--rope-freqs is for llama (Llama-3.1) models, not qwen2");
	if (p.mix == SL_SYNTH_MIX_R1)
		p.type = SL_TYPE_IQ4_XS; /* the ffn type; sizes the plan (all mix types have 256-blocks) */
	struct sl_err err;
	if (sl_synth_plan(&p, &err))
		return cli_error("gen-model", "%s", err.msg);
	if (p.n_embd % p.head_dim || (p.n_ff % sl_type_traits(p.type)->block_size))
		return cli_error("gen-model", "--dim/--ff must be multiples of the head size %u and the %s block size",
				 p.head_dim, sl_type_name(p.type));
	/* Written to a temporary file renamed over OUT when complete (runtime/atomic_file.h). */
	if (sl_synth_write(&p, out, quiet ? NULL : progress, NULL, &err))
		return cli_error("gen-model", "%s", err.msg);
	char so[1024];
	fprintf(stderr, "gen-model: %s: %s%s%s, %s, dim %u, layers %u, ff %u, heads %u/%u, vocab %u\n",
		cli_safe(out, strlen(out), so, sizeof so), qwen2 ? "qwen2" : "llama",
		!qwen2 && p.bpe ? " (bpe vocabulary)" : "", p.rope_freqs ? " (rope_freqs)" : "",
		p.mix ? "r1 mix" : sl_type_name(p.type), p.n_embd, p.n_layer, p.n_ff, p.n_head, p.n_head_kv, p.n_vocab);
	return 0;
}
