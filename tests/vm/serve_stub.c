// SPDX-License-Identifier: MIT
/* tests/vm/serve_stub.c — the guest's static sluice has no HTTP server (libmicrohttpd's static
 * build drags in GnuTLS): this stands in for tools/sluice/serve*.c there. */
#include <stdio.h>

int cmd_serve(int argc, char **argv);
int cmd_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice serve: not in this (VM test) build\n");
	return 1;
}
