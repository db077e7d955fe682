/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/info.c — `sluice info MODEL [--json] [--tensors]`: what is in a
 * GGUF file.  Reads only the header, so it works on models of any size and on
 * architectures sluice cannot run yet.
 */
#include "cli.h"
#include "gguf.h"
#include "quant/quant.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Every string from the file is untrusted: JSON through cli_json_str (NaN/Inf as null, bad
 * UTF-8 as U+FFFD), text through cli_text (control bytes as \xNN): see cli.h. */

/* A scalar metadata value, as text (json selects quoting). */
static void print_scalar(FILE *o, const struct gguf_value *v, bool json)
{
	switch (v->type) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
		fprintf(o, "%" PRIu64, v->u64);
		break;
	case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
		fprintf(o, "%" PRId64, v->i64);
		break;
	case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64:
		if (json)
			cli_json_num(o, v->f64, -9);
		else
			fprintf(o, "%.9g", v->f64);
		break;
	case GGUF_TYPE_BOOL:
		fputs(v->b ? "true" : "false", o);
		break;
	case GGUF_TYPE_STRING:
		if (json)
			cli_json_str(o, v->str.s, v->str.len);
		else
			cli_text(o, v->str.s, SL_MIN(v->str.len, 200u));
		break;
	case GGUF_TYPE_ARRAY:
		if (json)
			fprintf(o, "{\"array\": \"%s\", \"n\": %" PRIu64 "}", sl_gguf_vtype_name(v->arr.type), v->arr.n);
		else
			fprintf(o, "[%s × %" PRIu64 "]", sl_gguf_vtype_name(v->arr.type), v->arr.n);
		break;
	}
}

static void usage(FILE *o)
{
	fprintf(o, "usage: sluice info MODEL.gguf [--json] [--tensors]\n"
		   "  prints the architecture, hyperparameters, tensor count, types, sizes and total bytes\n"
		   "  --json     machine-readable output\n"
		   "  --tensors  list every tensor\n"
		   "  --nvme BDF[/NSID] [--verify]  the model staged on that namespace (sluice stage); --verify\n"
		   "             re-reads every tensor through the userspace driver and checks its hash\n");
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, 0, 'j' }, { "tensors", no_argument, 0, 'T' }, { "help", no_argument, 0, 'h' },
		{ "nvme", required_argument, 0, 'N' }, { "verify", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	bool json = false, list = false, verify = false;
	const char *nvme = NULL, *engine;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'T': list = true; break;
		case 'N': nvme = optarg; break;
		case 'V': verify = true; break;
		case 'h': usage(stdout); return 0;
		default: return cli_error("info", "unknown option '%s' (see sluice info --help)", argv[optind - 1]);
		}
	}
	/* --nvme: what is staged there (superblock, --verify: every tensor's hash), then the model */
	const char *staged = NULL;
	if (nvme && optind != argc)
		return cli_error("info", "--nvme names the model: no MODEL.gguf with it");
	if (nvme && cli_nvme_model("info", nvme, !json, verify, &staged, &engine))
		return 1;
	if (!nvme && optind != argc - 1)
		return cli_error("info", optind == argc ? "no model given (usage: sluice info MODEL.gguf)"
							 : "one model at a time, please");
	const char *path = nvme ? staged : argv[optind];
	struct gguf_file *f;
	struct sl_err err;
	if (cli_check_input("info", path))
		return 1;
	if (sl_gguf_open(path, &f, &err))
		return cli_error("info", "%s", err.msg);

	uint64_t total = 0, n_elem = 0;
	uint64_t per_type_n[SL_TYPE_COUNT] = { 0 }, per_type_bytes[SL_TYPE_COUNT] = { 0 };
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		total += t->size;
		n_elem += (uint64_t)sl_gguf_tensor_nelements(t);
		per_type_n[t->type]++;
		per_type_bytes[t->type] += t->size;
	}
	const char *arch = "unknown";
	sl_gguf_get_str(f, "general.architecture", &arch, NULL);
	FILE *o = stdout;
	if (json) {
		fprintf(o, "{\n  \"file\": ");
		cli_json_str(o, path, strlen(path));
		fprintf(o, ",\n  \"gguf_version\": %u,\n  \"architecture\": ", f->version);
		cli_json_str(o, arch, strlen(arch));
		fprintf(o, ",\n  \"tensor_count\": %" PRIu64 ",\n  \"parameters\": %" PRIu64
			   ",\n  \"tensor_bytes\": %" PRIu64 ",\n  \"file_bytes\": %" PRIu64
			   ",\n  \"alignment\": %" PRIu64 ",\n  \"data_offset\": %" PRIu64 ",\n  \"metadata\": {",
			f->n_tensors, n_elem, total, f->file_size, f->alignment, f->data_offset);
		for (uint64_t i = 0; i < f->n_kv; i++) {
			fprintf(o, "%s\n    ", i ? "," : "");
			cli_json_str(o, f->kv[i].key.s, f->kv[i].key.len);
			fputs(": ", o);
			print_scalar(o, &f->kv[i].val, true);
		}
		fprintf(o, "\n  },\n  \"types\": {");
		bool first = true;
		for (int t = 0; t < SL_TYPE_COUNT; t++) {
			if (!per_type_n[t])
				continue;
			fprintf(o, "%s\n    \"%s\": {\"tensors\": %" PRIu64 ", \"bytes\": %" PRIu64 "}", first ? "" : ",",
				sl_type_name((uint32_t)t), per_type_n[t], per_type_bytes[t]);
			first = false;
		}
		fprintf(o, "\n  }");
		if (list) {
			fprintf(o, ",\n  \"tensors\": [");
			for (uint64_t i = 0; i < f->n_tensors; i++) {
				const struct gguf_tensor *t = &f->tensors[i];
				fprintf(o, "%s\n    {\"name\": ", i ? "," : "");
				cli_json_str(o, t->name.s, t->name.len);
				fprintf(o, ", \"type\": \"%s\", \"shape\": [", sl_type_name(t->type));
				for (uint32_t d = 0; d < t->n_dims; d++)
					fprintf(o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
				fprintf(o, "], \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64 "}", t->file_offset, t->size);
			}
			fprintf(o, "\n  ]");
		}
		fprintf(o, "\n}\n");
	} else {
		char sb[1024];
		fprintf(o, "file:          %s\n", cli_safe(path, strlen(path), sb, sizeof sb));
		fprintf(o, "gguf version:  %u\n", f->version);
		fprintf(o, "architecture:  %s\n", cli_safe(arch, strlen(arch), sb, sizeof sb));
		fprintf(o, "tensors:       %" PRIu64 "\n", f->n_tensors);
		fprintf(o, "parameters:    %" PRIu64 " (%.2f M)\n", n_elem, n_elem / 1e6);
		fprintf(o, "tensor bytes:  %" PRIu64 " (%.2f MiB)\n", total, total / 1048576.0);
		fprintf(o, "file bytes:    %" PRIu64 "\n", f->file_size);
		fprintf(o, "types:        ");
		for (int t = 0; t < SL_TYPE_COUNT; t++)
			if (per_type_n[t])
				fprintf(o, " %s×%" PRIu64 " (%.2f MiB)", sl_type_name((uint32_t)t), per_type_n[t],
					per_type_bytes[t] / 1048576.0);
		fprintf(o, "\nmetadata:\n");
		for (uint64_t i = 0; i < f->n_kv; i++) {
			fprintf(o, "  %-44s ", cli_safe(f->kv[i].key.s, f->kv[i].key.len, sb, sizeof sb));
			print_scalar(o, &f->kv[i].val, false);
			fputc('\n', o);
		}
		if (list) {
			fprintf(o, "tensors:\n");
			for (uint64_t i = 0; i < f->n_tensors; i++) {
				const struct gguf_tensor *t = &f->tensors[i];
				fprintf(o, "  %-40s %-6s [", cli_safe(t->name.s, t->name.len, sb, sizeof sb),
					sl_type_name(t->type));
				for (uint32_t d = 0; d < t->n_dims; d++)
					fprintf(o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
				fprintf(o, "] %" PRIu64 " bytes at %" PRIu64 "\n", t->size, t->file_offset);
			}
		}
	}
	sl_gguf_close(f);
	return 0;
}
