/* SPDX-License-Identifier: MIT */
/* tools/sluice/gpus.c — --gpus LIST: which CUDA device(s) a command runs on. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_gpus(const char *cmd, const char *list, const char *backend, char *buf, size_t len)
{
	if (strcmp(backend, "auto") && strcmp(backend, "cuda")) {
		cli_error(cmd, "--gpus selects CUDA devices, but --backend is %s", backend);
		return NULL;
	}
	int n = 0;
	long first = -1;
	for (const char *p = list;;) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v < 0 || v > 1023 || (*end && *end != ',')) {
			cli_error(cmd, "--gpus: '%s' is not a list of device numbers (examples: 0, 1, 0,1)", list);
			return NULL;
		}
		if (!n++)
			first = v;
		if (!*end)
			break;
		p = end + 1;
	}
	if (n > 1) {
		cli_error(cmd, "--gpus %s: splitting the layers across several GPUs is not implemented yet; give one device",
			  list);
		return NULL;
	}
	snprintf(buf, len, "cuda:%ld", first);
	return buf;
}
