/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/gpus.c — --gpus LIST: which CUDA device(s) a command runs on, and --vram SIZE or
 * SIZE,SIZE,...: each device's budget for weights.  Several devices make a pipeline (the layers
 * split across them, runtime/pipeline.h).
 */
#include "cli.h"
#include "sluice.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CLI_MAX_DEVICES == SLUICE_MAX_DEVICES, "cli.h's copy of SLUICE_MAX_DEVICES");

bool cli_vram(const char *cmd, const char *val, struct cli_devices *d, uint64_t *vram)
{
	if (!strchr(val, ','))
		return cli_size(cmd, "--vram", val, vram);
	d->n_vram = 0;
	for (const char *p = val;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char one[64];
		if (d->n_vram == CLI_MAX_DEVICES || !len || len >= sizeof(one)) {
			cli_error(cmd, "--vram: '%s' is not a size or a list of at most %d sizes (examples: 8G, 8G,4G)", val,
				  CLI_MAX_DEVICES);
			return false;
		}
		memcpy(one, p, len);
		one[len] = 0;
		if (!cli_size(cmd, "--vram", one, &d->vram[d->n_vram++]))
			return false;
		if (!end)
			break;
		p = end + 1;
	}
	return true;
}

const char *cli_gpus(const char *cmd, const char *list, const char *backend, struct cli_devices *d)
{
	d->n_dev = 0;
	if (!list) {
		if (d->n_vram) {
			cli_error(cmd, "--vram gives %d sizes, one per device: name the devices with --gpus", d->n_vram);
			return NULL;
		}
		return backend;
	}
	/* cpu-async is the test mode that behaves like a device: it stands in for several of them */
	if (strcmp(backend, "auto") && strcmp(backend, "cuda") && strcmp(backend, "cpu-async")) {
		cli_error(cmd, "--gpus selects CUDA devices, but --backend is %s", backend);
		return NULL;
	}
	for (const char *p = list;;) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v < 0 || v > 1023 || (*end && *end != ',') || *p == '+' || *p == ' ') {
			cli_error(cmd, "--gpus: '%s' is not a list of device numbers (examples: 0, 1, 0,1)", list);
			return NULL;
		}
		if (d->n_dev == CLI_MAX_DEVICES) {
			cli_error(cmd, "--gpus %s: at most %d devices", list, CLI_MAX_DEVICES);
			return NULL;
		}
		for (int i = 0; i < d->n_dev; i++)
			if (d->dev[i] == v) {
				cli_error(cmd, "--gpus %s: device %ld is listed twice (each pipeline stage needs a device of its own)",
					  list, v);
				return NULL;
			}
		d->dev[d->n_dev++] = (int32_t)v;
		if (!*end)
			break;
		p = end + 1;
	}
	if (d->n_vram && d->n_vram != d->n_dev) {
		cli_error(cmd, "--vram gives %d sizes but --gpus %s names %d device%s: give one size, or one per device",
			  d->n_vram, list, d->n_dev, d->n_dev == 1 ? "" : "s");
		return NULL;
	}
	return strcmp(backend, "auto") ? backend : "cuda";
}

void cli_devices_params(const struct cli_devices *d, struct sluice_model_params *mp)
{
	if (!d->n_dev)
		return;
	mp->devices = d->dev;
	mp->n_devices = (uint32_t)d->n_dev;
	mp->vram_budgets = d->n_vram ? d->vram : NULL;
}
