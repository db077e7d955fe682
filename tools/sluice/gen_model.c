/* SPDX-License-Identifier: MIT */
/* tools/sluice/gen_model.c — `sluice gen-model`: write a synthetic llama model of any size. */
#include "cli.h"
#include "model/synth.h"
#include "quant/quant.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *o)
{
	fprintf(o,
		"usage: sluice gen-model [--arch llama|qwen2|deepseek2] [--vocab spm|bpe] --size SIZE [--type TYPE] [--seed S] -o FILE\n"
		"  writes a model with random weights, real tensor names and metadata, and a real\n"
		"  vocabulary; the same seed always gives the same file\n"
		"  --arch ARCH     llama (default) or qwen2 (q/k/v biases, NeoX rope, byte-level BPE, ChatML)\n"
		"  --vocab V       spm: SentencePiece-style (llama's default); bpe: byte-level BPE with\n"
		"                  merges, Llama-3's special tokens, pre llama-bpe, rope base 500000\n"
		"  --rope-freqs    llama: Llama-3.1's rope_freqs tensor and llama3 rope-scaling keys\n"
		"  deepseek2 (MLA with q LoRA and YaRN, routed + 1 shared expert, byte-level BPE):\n"
		"  --experts N        routed experts per MoE layer (default 16)\n"
		"  --experts-used K   experts per token (default 4)\n"
		"  --expert-ff N      an expert's ff size (default dim / 2)\n"
		"  --dense-layers L0  leading dense layers (default 1; 0 = none)\n"
		"  --expert-skew S    Zipf-like expert popularity that drifts over a sequence (default 1.0; 0 = uniform)\n"
		"  --mla-legacy       attn_kv_b (older files) rather than attn_k_b / attn_v_b\n"
		"  --no-q-lora        a plain attn_q\n"
		"  --gating G         sigmoid (default: grouped, with exp_probs_b, as V3/R1) or softmax (V2)\n"
		"  --size SIZE     approximate file size: 64M, 2G, ... (default 64M)\n"
		"  --type TYPE     f32 | f16 | bf16 | q8_0 | any type `sluice quantize` knows (default f16)\n"
		"  --mix r1        DeepSeek-R1-like low-bit mix: ffn iq4_xs, attention q4_K, output q6_K;\n"
		"                  deepseek2 (as UD-IQ1_S): routed experts iq1_s (down iq2_xxs), output q6_K, q4_K the rest\n"
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
		{ "rope-freqs", no_argument, 0, 'R' }, { "mix", required_argument, 0, 'm' },
		{ "experts", required_argument, 0, 1000 }, { "experts-used", required_argument, 0, 1001 },
		{ "dense-layers", required_argument, 0, 1002 }, { "expert-skew", required_argument, 0, 1003 },
		{ "mla-legacy", no_argument, 0, 1004 }, { "no-q-lora", no_argument, 0, 1005 },
		{ "gating", required_argument, 0, 1006 }, { "expert-ff", required_argument, 0, 1007 }, { 0, 0, 0, 0 },
	};
	struct sl_synth_params p = { .size_bytes = 64ull << 20, .type = SL_TYPE_F16, .seed = 1, .expert_skew = 1.0f };
	bool ds_opt = false;
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
			if (strcmp(optarg, "llama") && strcmp(optarg, "qwen2") && strcmp(optarg, "deepseek2"))
				return cli_error("gen-model", "--arch: '%s' is not supported (llama, qwen2, deepseek2)", optarg);
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
		case 1000: if (!cli_int("gen-model", "--experts", optarg, 2, 4096, &v)) return 1; p.n_expert = (uint32_t)v; ds_opt = true; break;
		case 1001: if (!cli_int("gen-model", "--experts-used", optarg, 1, 64, &v)) return 1; p.n_expert_used = (uint32_t)v; ds_opt = true; break;
		case 1002: if (!cli_int("gen-model", "--dense-layers", optarg, 0, 1024, &v)) return 1; p.n_dense = v ? (int)v : -1; ds_opt = true; break;
		case 1003: {
			char *end;
			double sk = strtod(optarg, &end);
			if (end == optarg || *end || !(sk >= 0 && sk <= 8))
				return cli_error("gen-model", "--expert-skew: '%s' is not a number from 0 to 8", optarg);
			p.expert_skew = (float)sk;
			ds_opt = true;
			break;
		}
		case 1004: p.mla_legacy = true; ds_opt = true; break;
		case 1007: if (!cli_int("gen-model", "--expert-ff", optarg, 16, 1 << 20, &v)) return 1; p.n_ff_exp = (uint32_t)v; ds_opt = true; break;
		case 1005: p.no_q_lora = true; ds_opt = true; break;
		case 1006:
			if (strcmp(optarg, "sigmoid") && strcmp(optarg, "softmax"))
				return cli_error("gen-model", "--gating: '%s' is not sigmoid or softmax", optarg);
			p.softmax_gating = !strcmp(optarg, "softmax");
			ds_opt = true;
			break;
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
	const bool ds2 = p.arch && !strcmp(p.arch, "deepseek2");
	if (ds_opt && !ds2)
		return cli_error("gen-model", "--experts, --experts-used, --expert-ff, --dense-layers, --expert-skew, "
				 "--mla-legacy, --no-q-lora and --gating are for --arch deepseek2");
	if (ds2 && (vocab_set || p.rope_freqs))
		return cli_error("gen-model", "--vocab and --rope-freqs are not for deepseek2 (its vocabulary is byte-level BPE)");
	if (qwen2 && vocab_set && !p.bpe)
		return cli_error("gen-model", "--vocab spm: qwen2 models have a byte-level BPE vocabulary");
	if (qwen2 && p.rope_freqs)
		return cli_error("gen-model", "--rope-freqs is for llama (Llama-3.1) models, not qwen2");
	if (p.mix == SL_SYNTH_MIX_R1) /* the ffn (deepseek2: routed experts') type; sizes the plan (256-blocks) */
		p.type = ds2 ? SL_TYPE_IQ1_S : SL_TYPE_IQ4_XS;
	struct sl_err err;
	if (sl_synth_plan(&p, &err))
		return cli_error("gen-model", "%s", err.msg);
	if (ds2) {
		if (sl_synth_write(&p, out, quiet ? NULL : progress, NULL, &err))
			return cli_error("gen-model", "%s", err.msg);
		char so[1024];
		fprintf(stderr, "gen-model: %s: deepseek2%s%s, %s, dim %u, layers %u (%d dense), heads %u, q_lora %u, "
			"kv_lora %u, experts %u (%u used, ff %u), skew %g, vocab %u\n",
			cli_safe(out, strlen(out), so, sizeof so), p.mla_legacy ? " (attn_kv_b)" : "",
			p.softmax_gating ? " (softmax)" : "", p.mix ? "r1 mix (UD-IQ1_S-like)" : sl_type_name(p.type), p.n_embd, p.n_layer,
			p.n_dense < 0 ? 0 : p.n_dense ? p.n_dense : 1, p.n_head, p.q_lora, p.kv_lora, p.n_expert,
			p.n_expert_used, p.n_ff_exp, (double)p.expert_skew, p.n_vocab);
		return 0;
	}
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
