/* SPDX-License-Identifier: MIT */
/* tools/sluice/cli.h — what the subcommands of the sluice command share. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Each subcommand: argv[0] is the subcommand's name. Returns the process exit status. */
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);     /* chat.c: sluice chat */
int cmd_run_chat(int argc, char **argv); /* chat.c: sluice run --chat (one turn) */
int cmd_perplexity(int argc, char **argv);
int cmd_imatrix(int argc, char **argv);  /* imatrix.c: sluice imatrix */
int cmd_serve(int argc, char **argv);    /* serve.c: sluice serve */
int cmd_profile(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_gen_model(int argc, char **argv);
int cmd_gen_like(int argc, char **argv); /* gen_like.c: gen-model --like MODEL */
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv) __attribute__((weak));
int cmd_bench_io(int argc, char **argv) __attribute__((weak));
struct sl_err;
/* The drive's sequential O_DIRECT rate for a file, as bench io measures it by default (MB/s). */
int bench_io_probe(const char *path, const char *engine, uint64_t size, double *mb_per_s, struct sl_err *err);
int cmd_topo(int argc, char **argv) __attribute__((weak));
int cmd_nvme(int argc, char **argv);  /* nvme.c: sluice nvme list|bind|unbind */
int cmd_stage(int argc, char **argv); /* stage.c: sluice stage MODEL --nvme BDF */
/* stage.c: a model staged on NVMe (spec "BDF[/NSID][@LBA]") as a path for the GGUF parser and
 * an I/O engine name for sluice_model_params.io_engine; show/verify print the superblock and
 * check every tensor's hash.  0, or 1 after printing why. */
int cli_nvme_model(const char *cmd, const char *spec, bool show, bool verify, const char **path, const char **engine);
int cmd_replay(int argc, char **argv); /* replay.c: sluice replay TRACE */
int cmd_plan(int argc, char **argv);   /* plan.c: sluice plan MODEL */

/* Print "sluice CMD: message" to stderr. Returns 1 (the exit status for usage and input errors). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse option values; on error print which option and value and return false. */
bool cli_int(const char *cmd, const char *opt, const char *val, long min, long max, long *out);
bool cli_float(const char *cmd, const char *opt, const char *val, double min, double max, double *out);
bool cli_size(const char *cmd, const char *opt, const char *val, uint64_t *out);
bool cli_u64(const char *cmd, const char *opt, const char *val, uint64_t *out);
/* Mixture-of-experts options (run, chat): --expert-policy lfru|lru, --pregate N|off (-1 = off),
 * --trace-experts FILE (a non-empty name).  False after printing what is wrong. */
bool cli_expert_policy(const char *cmd, const char *val, const char **out);
bool cli_pregate(const char *cmd, const char *val, int *out);
bool cli_trace_experts(const char *cmd, const char *val, const char **out);
/* --gpus LIST and --vram SIZE[,SIZE...] (gpus.c): the devices of a model, for sluice_model_params. */
#define CLI_MAX_DEVICES 16 /* SLUICE_MAX_DEVICES */
struct cli_devices {
	int32_t dev[CLI_MAX_DEVICES];
	uint64_t vram[CLI_MAX_DEVICES];
	int n_dev, n_vram;    /* n_vram > 0: --vram gave a list, one size per device of --gpus */
};
/* --vram: one size into *vram (every device's), or a list into d->vram.  False after printing. */
bool cli_vram(const char *cmd, const char *val, struct cli_devices *d, uint64_t *vram);
/* --gpus LIST (NULL: not given) with --backend: the backend name to use ("cuda" for auto), the
 * devices into d; NULL after printing why not (a bad or repeated list, a backend without devices,
 * a --vram list that does not match). */
const char *cli_gpus(const char *cmd, const char *list, const char *backend, struct cli_devices *d);
/* Put d into the model parameters (devices, n_devices, vram_budgets); d must outlive the load. */
struct sluice_model_params;
void cli_devices_params(const struct cli_devices *d, struct sluice_model_params *mp);

/*
 * The model options the commands share, as each parsed them (a command that lacks an option leaves
 * it 0/NULL): compute threads (0: every CPU), the VRAM and host-cache budgets (0: unlimited),
 * lookahead and pregate (0: the library's default), the expert policy and routing trace (NULL: the
 * default, none); backend, io engine and pressure source NULL: sluice_model_params_init's.
 */
struct cli_model_opts {
	long threads, lookahead;
	uint64_t vram, host_cache;
	const char *backend, *io, *pressure;
	const char *expert_policy, *trace_experts;
	int pregate;
	const struct cli_devices *devs; /* --gpus / --vram lists (NULL or none: one device) */
};
struct sluice_model_params;
struct sluice_model;
struct sluice_ctx;
/* mp = the library's defaults with o's options in. */
void cli_model_params(struct sluice_model_params *mp, const struct cli_model_opts *o);
/* sluice_model_load, and sluice_ctx_new with n_ctx tokens (0: the model's default): 0, or 1 after
 * printing "sluice CMD: " and the library's message. */
int cli_load_model(const char *cmd, const char *path, const struct sluice_model_params *mp, struct sluice_model **m);
int cli_new_ctx(const char *cmd, struct sluice_model *m, uint32_t n_ctx, struct sluice_ctx **ctx);

/* A progress bar on stderr when it is a terminal; silent otherwise. */
void cli_progress(const char *label, uint64_t done, uint64_t total);

/*
 * Untrusted text (metadata, tensor names, file names).  One writer of each kind for every tool:
 *   cli_json_str   a JSON string: quote and backslash escaped, control bytes as \u00XX, each byte that is
 *                  not part of valid UTF-8 as \ufffd (U+FFFD); valid UTF-8 is written as it is.
 *   cli_json_num   a JSON number; NaN and infinities are written as null. decimals >= 0: "%.*f";
 *                  decimals < 0: "%.*g" with -decimals significant digits.
 *   cli_safe       text for a terminal into buf: control bytes (C0, DEL, C1) and bytes that are
 *                  not valid UTF-8 as \xNN, a backslash doubled; cut with "..." to fit cap. Returns buf.
 *   cli_text       cli_safe written to o.
 * cli_error passes its whole message through cli_safe.
 */
void cli_json_str(FILE *o, const char *s, size_t len);
void cli_json_cstr(FILE *o, const char *s);
void cli_json_num(FILE *o, double v, int decimals);
const char *cli_safe(const char *s, size_t len, char *buf, size_t cap);
void cli_text(FILE *o, const char *s, size_t len);

/* At the end of main: flush and close stdout; a failed write anywhere becomes exit status 1 and
 * "sluice: writing output: REASON".  Returns the status to exit with. */
int cli_finish(int status);
/* fflush(stdout), remembering why it failed for cli_finish: 0 or -1. */
int cli_flush_stdout(void);

/* SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE remove the temporary file of any write in progress
 * (runtime/atomic_file.h), then end the process as the signal would have. */
void cli_cleanup_on_signals(void);

/* A model or data file given on the command line must be a regular file or a block device (a FIFO
 * would block forever, /dev/zero never ends): 0, or 1 after an error message. */
int cli_check_input(const char *cmd, const char *path);

#endif
