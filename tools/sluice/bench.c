/* SPDX-License-Identifier: MIT */
/* tools/sluice/bench.c — `sluice bench SUBJECT`: dispatch to the benchmark of each subject. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_bench(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("usage: sluice bench io FILE [options]   storage engine bandwidth, IOPS and latency\n");
		return argc < 2;
	}
	if (!strcmp(argv[1], "io") && cmd_bench_io)
		return cmd_bench_io(argc - 1, argv + 1);
	return cli_error("bench", "unknown benchmark '%s' (available: io)", argv[1]);
}
