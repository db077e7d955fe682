/* SPDX-License-Identifier: MIT */
/* tools/sluice/cli.h — what the subcommands of the sluice command share. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Each subcommand: argv[0] is the subcommand's name. Returns the process exit status. */
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_gen_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv) __attribute__((weak));
int cmd_bench_io(int argc, char **argv) __attribute__((weak));
int cmd_topo(int argc, char **argv) __attribute__((weak));

/* Print "sluice CMD: message" to stderr. Returns 1 (the exit status for usage and input errors). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse option values; on error print which option and value and return false. */
bool cli_int(const char *cmd, const char *opt, const char *val, long min, long max, long *out);
bool cli_float(const char *cmd, const char *opt, const char *val, double min, double max, double *out);
bool cli_size(const char *cmd, const char *opt, const char *val, uint64_t *out);
bool cli_u64(const char *cmd, const char *opt, const char *val, uint64_t *out);

/* A progress bar on stderr when it is a terminal; silent otherwise. */
void cli_progress(const char *label, uint64_t done, uint64_t total);

#endif
