/* SPDX-License-Identifier: MIT */
/* tools/sluice/plan.c — `sluice plan MODEL`: placement and predicted tokens/s (in progress). */
#include "cli.h"

int cmd_plan(int argc, char **argv)
{
	(void)argc, (void)argv;
	return cli_error("plan", "not implemented yet");
}
