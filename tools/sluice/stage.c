/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/stage.c — models on a raw NVMe namespace, through the userspace driver:
 *   sluice stage MODEL.gguf --nvme BDF[/NSID] [--lba L] [--verify]
 * and what run --nvme and info --nvme use to find a staged model (cli_nvme_model).
 *
 * A staged model is opened by reading its superblock and GGUF header through the driver; the
 * header goes into a memfd the size of the image (the GGUF parser reads it like the file),
 * and the weights are read through the "nvme:" I/O engine at the image's namespace offset.
 */
#include "cli.h"
#include "io/nvme/stage.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "BDF[/NSID][@LBA]" */
static int parse_spec(const char *cmd, const char *spec, char *bdf, size_t n, uint32_t *nsid, uint64_t *lba)
{
	size_t k = strcspn(spec, "/@");
	*nsid = 0;
	if (k >= n || !k)
		return cli_error(cmd, "--nvme '%s': expected BDF[/NSID] (e.g. 0000:01:00.0/1)", spec);
	memcpy(bdf, spec, k);
	bdf[k] = 0;
	const char *p = spec + k;
	char *end;
	if (*p == '/') {
		unsigned long v = strtoul(p + 1, &end, 10);
		if (end == p + 1 || !v || v > 0xffffffffu)
			return cli_error(cmd, "--nvme '%s': bad namespace id", spec);
		*nsid = (uint32_t)v;
		p = end;
	}
	if (*p == '@') {
		*lba = strtoull(p + 1, &end, 0);
		if (end == p + 1)
			return cli_error(cmd, "--nvme '%s': bad LBA", spec);
		p = end;
	}
	if (*p)
		return cli_error(cmd, "--nvme '%s': expected BDF[/NSID]", spec);
	return 0;
}

/* SLUICE_NVME_PRP=1 (tests): PRP lists even on a controller with SGLs, in the driver and the
 * engine, so the VM suite runs both data-pointer paths. */
static unsigned nvme_flags(void)
{
	const char *v = getenv("SLUICE_NVME_PRP");
	return v && *v && strcmp(v, "0") ? SL_NVME_PRP_ONLY : 0;
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	cli_progress(ctx, done, total);
}

static void print_sb(const struct sl_nvme *n, const struct sl_stage *st)
{
	const struct sl_stage_sb *sb = &st->sb;
	time_t t = (time_t)sb->staged_unix;
	char when[64];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	printf("device:        %s (%s, serial %s) namespace %u, %u-byte blocks, %.1f MiB; %s, %u KiB per command\n",
	       n->v.bdf, n->model, n->serial, n->nsid, n->lba_size, (double)n->nlba * n->lba_size / (1 << 20),
	       n->sgl ? "SGLs" : "PRP lists", n->max_xfer / 1024);
	printf("staged model:  %s\n", sb->model_name[0] ? sb->model_name : "(unnamed)");
	printf("from:          %s, %s\n", sb->source, when);
	printf("superblock:    LBA %" PRIu64 ", version %u; image at byte %" PRIu64 ", %" PRIu64 " bytes, %" PRIu64
	       " tensors (xxh64 each)\n", st->lba, sb->version, st->image_byte, sb->image_bytes, sb->n_tensors);
}

int cmd_stage(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nvme", required_argument, 0, 'N' }, { "lba", required_argument, 0, 'l' },
		{ "verify", no_argument, 0, 'V' },     { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *spec = NULL;
	uint64_t lba = 0;
	bool verify = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': spec = optarg; break;
		case 'l': if (!cli_u64("stage", "--lba", optarg, &lba)) return 1; break;
		case 'V': verify = true; break;
		case 'h':
			printf("usage: sluice stage MODEL.gguf --nvme BDF[/NSID] [--lba L] [--verify]\n"
			       "  write the model to the namespace (bound to vfio-pci: sluice nvme bind) behind a\n"
			       "  superblock with an xxh64 per tensor; --verify reads it back and checks every hash\n");
			return 0;
		case ':': return cli_error("stage", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("stage", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1 || !spec)
		return cli_error("stage", "usage: sluice stage MODEL.gguf --nvme BDF[/NSID] [--lba L] [--verify]");
	const char *model = argv[optind];
	char bdf[64];
	uint32_t nsid;
	if (parse_spec("stage", spec, bdf, sizeof(bdf), &nsid, &lba))
		return 1;
	struct sl_err err = { "" };
	struct sl_nvme *n;
	if (sl_nvme_open(&n, bdf, nsid, 64, nvme_flags(), &err))
		return cli_error("stage", "%s", err.msg);
	int status = 1;
	struct sl_stage st = { 0 };
	uint64_t t0 = sl_now_ns();
	if (sl_stage_write(n, lba, model, progress, "staging", &err)) {
		cli_error("stage", "%s", err.msg);
		goto out;
	}
	if (sl_stage_read(n, lba, &st, &err)) {
		cli_error("stage", "reading back the superblock: %s", err.msg);
		goto out;
	}
	printf("staged %s: %" PRIu64 " bytes, %" PRIu64 " tensors, on %s namespace %u at LBA %" PRIu64 " (%.2f s)\n", model,
	       st.sb.image_bytes, st.sb.n_tensors, n->v.bdf, n->nsid, lba, (sl_now_ns() - t0) / 1e9);
	if (verify) {
		if (sl_stage_verify(n, &st, progress, "verifying", &err)) {
			cli_error("stage", "verify: %s", err.msg);
			goto out;
		}
		printf("verified: %" PRIu64 " tensors read back through VFIO match their xxh64\n", st.sb.n_tensors);
	}
	status = 0;
out:
	sl_stage_free(&st);
	sl_nvme_close(n);
	return status;
}

/* For run --nvme and info --nvme: the model's header as a path, and the engine that reads it. */
int cli_nvme_model(const char *cmd, const char *spec, bool show, bool verify, const char **path, const char **engine)
{
	static char pathbuf[64], enginebuf[128];
	char bdf[64];
	uint32_t nsid;
	uint64_t lba = 0;
	if (parse_spec(cmd, spec, bdf, sizeof(bdf), &nsid, &lba))
		return 1;
	struct sl_err err = { "" };
	struct sl_nvme *n;
	if (sl_nvme_open(&n, bdf, nsid, 16, nvme_flags(), &err))
		return cli_error(cmd, "%s", err.msg);
	struct sl_stage st;
	int fd = -1, status = 1;
	if (sl_stage_read(n, lba, &st, &err)) {
		cli_error(cmd, "%s", err.msg);
		goto out;
	}
	if (show)
		print_sb(n, &st);
	if (verify) {
		if (sl_stage_verify(n, &st, progress, "verifying", &err)) {
			cli_error(cmd, "verify: %s", err.msg);
			goto out;
		}
		printf("verified:      %" PRIu64 " tensors match their xxh64\n", st.sb.n_tensors);
	}
	if (sl_stage_header_memfd(n, &st, &fd, &err)) {
		cli_error(cmd, "%s", err.msg);
		goto out;
	}
	snprintf(pathbuf, sizeof(pathbuf), "/proc/self/fd/%d", fd);
	snprintf(enginebuf, sizeof(enginebuf), "nvme:%s/%u@%" PRIu64 "+%" PRIu64 "%s", n->v.bdf, n->nsid, st.image_byte,
		 st.sb.image_bytes, nvme_flags() ? ",prp" : "");
	*path = pathbuf;
	*engine = enginebuf;
	status = 0; /* fd stays open: the path names it for the process's life */
out:
	sl_stage_free(&st);
	sl_nvme_close(n); /* the engine opens the controller again */
	return status;
}
