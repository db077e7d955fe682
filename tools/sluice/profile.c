/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/profile.c — `sluice profile`: a short greedy decode with tracing on, then where
 * the time per token went (I/O wait, uploads, each compute op, the rest) and the bottleneck in
 * one line, from what was measured.
 */
#include "cli.h"
#include "internal.h"
#include "sluice.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

static void profile_usage(FILE *out)
{
	fprintf(out,
		"usage: sluice profile -m MODEL [--vram SIZE] [--host-cache SIZE] [-n N] [options]\n"
		"\n"
		"Decodes one warm-up token and then N more (greedy) with tracing on, and prints where\n"
		"the time per token went and what bounds it (disk-bound or compute-bound).\n"
		"\n"
		"  -m, --model FILE      GGUF model\n"
		"  -n N                  tokens to measure (default 8)\n"
		"  -t, --threads N       compute threads (default: all CPUs)\n"
		"      --vram SIZE       device memory for weights (default: unlimited)\n"
		"      --host-cache SIZE host memory for streamed weights (default: unlimited)\n"
		"      --io ENGINE       auto | uring | pread | mmap (default auto)\n"
		"      --backend NAME    auto (default: cuda when a GPU works, else cpu), cuda, cpu, cpu-async,\n"
		"                        cpu-async-zc\n"
		"      --gpus LIST       CUDA devices, e.g. 1, or 0,1 to split the layers across both (as sluice run)\n"
		"      --trace FILE      also write the trace (Chrome JSON)\n"
		"      --plot FILE.png   plot the last token's timeline: reads, copies, compute, waits\n"
		"                        (scripts/trace_plot.py, needs python3 with matplotlib)\n"
		"      --no-probe        do not measure the drive (bench io's sequential read of the model)\n"
		"  -h, --help\n");
}

static int32_t argmax(const float *x, uint32_t n)
{
	uint32_t best = 0;
	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return (int32_t)best;
}

#define MAX_TOTALS 64

/* scripts/trace_plot.py beside the sluice binary: ../scripts in a build tree, ../share/sluice
 * when installed. */
static int find_plot_script(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	const char *rel[] = { "/../scripts/trace_plot.py", "/../share/sluice/trace_plot.py" };
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(out, len, "%s%s", exe, rel[i]);
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

static int draw_plot(const char *argv0, const char *trace, const char *png)
{
	char script[PATH_MAX + 64];
	if (find_plot_script(script, sizeof(script)))
		return cli_error("profile", "--plot: scripts/trace_plot.py not found beside %s", argv0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return cli_error("profile", "--plot: fork: %s", strerror(errno));
	if (pid == 0) {
		execlp("python3", "python3", script, trace, png, (char *)NULL);
		fprintf(stderr, "sluice profile: --plot: python3: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return cli_error("profile", "--plot: waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return cli_error("profile", "--plot: %s failed (see above); the numbers above stand", script);
	return 0;
}

int cmd_profile(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },  { "threads", required_argument, 0, 't' },
		{ "vram", required_argument, 0, 'V' }, { "gpus", required_argument, 0, 'g' },   { "host-cache", required_argument, 0, 'H' },
		{ "io", required_argument, 0, 'I' },     { "backend", required_argument, 0, 'B' },
		{ "trace", required_argument, 0, 'X' },  { "help", no_argument, 0, 'h' },
		{ "no-probe", no_argument, 0, 'P' },     { "plot", required_argument, 0, 'G' },
		{ 0, 0, 0, 0 },
	};
	const char *model_path = NULL, *io = "auto", *backend = "auto", *trace = NULL;
	const char *gpus = NULL;
	struct cli_devices devs = { .n_dev = 0 };
	long n_tok = 8, threads = 0;
	bool probe = true;
	const char *plot = NULL;
	char trace_tmp[64] = "";
	uint64_t vram = 0, host_cache = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:n:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'n': if (!cli_int("profile", "-n", optarg, 1, 4096, &n_tok)) return 1; break;
		case 't': if (!cli_int("profile", "-t", optarg, 1, 1024, &threads)) return 1; break;
		case 'V': if (!cli_vram("profile", optarg, &devs, &vram)) return 1; break;
		case 'g': gpus = optarg; break;
		case 'H': if (!cli_size("profile", "--host-cache", optarg, &host_cache)) return 1; break;
		case 'I': io = optarg; break;
		case 'B': backend = optarg; break;
		case 'X': trace = optarg; break;
		case 'P': probe = false; break;
		case 'G': plot = optarg; break;
		case 'h': profile_usage(stdout); return 0;
		case ':': return cli_error("profile", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("profile", "unknown option '%s' (see sluice profile --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_error("profile", "unexpected argument '%s' (see sluice profile --help)", argv[optind]);
	if (!model_path)
		return cli_error("profile", "no model given: use -m MODEL.gguf (see sluice profile --help)");
	if (cli_check_input("profile", model_path))
		return 1;
	sluice_set_log_level(2);
	if (plot && !trace) { /* the plot is drawn from a trace: keep one in a temporary file */
		strcpy(trace_tmp, "/tmp/sluice-profile-XXXXXX.json");
		int fd = mkstemps(trace_tmp, 5);
		if (fd < 0)
			return cli_error("profile", "--plot: temporary trace file: %s", strerror(errno));
		close(fd);
		trace = trace_tmp;
	}

	struct sluice_model_params mp;
	const char *gpu_backend = cli_gpus("profile", gpus, backend ? backend : "auto", &devs);
	if (!gpu_backend)
		return 1;
	if (gpus)
		backend = gpu_backend;
	cli_model_params(&mp, &(struct cli_model_opts){ .threads = threads, .vram = vram, .host_cache = host_cache,
							.io = io, .backend = backend,
							.pressure = "none" /* a measurement: the budgets stay as given */ , .devs = &devs });
	char err[512];
	struct sluice_model *m = NULL;
	struct sluice_ctx *ctx = NULL;
	int status = 1;
	bool tracing = false;
	if (cli_load_model("profile", model_path, &mp, &m))
		goto out;
	struct sluice_model_info info;
	if (sluice_model_get_info(m, &info)) {
		cli_error("profile", "%s", sluice_model_error(m));
		goto out;
	}
	if (cli_new_ctx("profile", m, (uint32_t)n_tok + 2, &ctx))
		goto out;
	/* warm-up: the first token after the load (BOS, or token 0 for a vocabulary without one) */
	int32_t tok = info.bos >= 0 ? info.bos : 0;
	const float *logits;
	if (sluice_decode(ctx, &tok, 1, &logits)) {
		cli_error("profile", "%s", sluice_ctx_error(ctx));
		goto out;
	}
	struct sluice_stats s0, s1;
	sluice_ctx_get_stats(ctx, &s0);
	if (sluice_trace_start(trace, err, sizeof(err))) {
		cli_error("profile", "tracing: %s", err);
		goto out;
	}
	tracing = true;
	uint64_t t0 = sl_now_ns();
	for (long i = 0; i < n_tok; i++) {
		tok = argmax(logits, info.n_vocab);
		if (sluice_decode(ctx, &tok, 1, &logits)) {
			cli_error("profile", "%s", sluice_ctx_error(ctx));
			goto out;
		}
	}
	uint64_t wall = sl_now_ns() - t0;
	sluice_ctx_get_stats(ctx, &s1);
	tracing = false;
	if (sluice_trace_stop(err, sizeof(err))) {
		cli_error("profile", "tracing: %s", err);
		goto out;
	}
	struct sluice_trace_total tot[MAX_TOTALS];
	size_t nt = 0;
	sluice_trace_totals(tot, MAX_TOTALS, &nt); /* -ENOSPC: the first MAX_TOTALS are enough here */

	const double n = (double)n_tok, ms = 1e6;
	double tok_ms = (double)wall / n / ms, wait_ms = 0, upload_ms = 0, compute_ms = 0;
	for (size_t i = 0; i < nt; i++) {
		if (!strcmp(tot[i].cat, "cache") && !strcmp(tot[i].name, "io wait"))
			wait_ms += (double)tot[i].ns / n / ms;
		else if (!strcmp(tot[i].cat, "upload"))
			upload_ms += (double)tot[i].ns / n / ms;
		else if (!strcmp(tot[i].cat, "compute"))
			compute_ms += (double)tot[i].ns / n / ms;
	}
	double other_ms = tok_ms - wait_ms - upload_ms - compute_ms;
	uint64_t bytes = s1.bytes_read - s0.bytes_read;
	double mib_tok = (double)bytes / n / 1048576.0;
	double mbs = wall ? (double)bytes / 1e6 / ((double)wall / 1e9) : 0;
	uint64_t busy = s1.io_busy_ns - s0.io_busy_ns;
	double mbs_busy = busy ? (double)bytes / 1e6 / ((double)busy / 1e9) : 0;

	printf("sluice profile: %s, %ld tokens after 1 warm-up token, backend %s\n", model_path, n_tok, backend);
	printf("  time per token     %9.3f ms  (%.2f tok/s)\n", tok_ms, tok_ms > 0 ? 1e3 / tok_ms : 0.0);
	printf("  io wait            %9.3f ms  %5.1f%%\n", wait_ms, 100.0 * wait_ms / tok_ms);
	printf("  upload             %9.3f ms  %5.1f%%\n", upload_ms, 100.0 * upload_ms / tok_ms);
	for (size_t i = 0; i < nt; i++) {
		if (strcmp(tot[i].cat, "compute"))
			continue;
		double t = (double)tot[i].ns / n / ms;
		printf("  %-18s %9.3f ms  %5.1f%%  (%llu ops per token)\n", tot[i].name, t, 100.0 * t / tok_ms,
		       (unsigned long long)((double)tot[i].count / n + 0.5));
	}
	printf("  other              %9.3f ms  %5.1f%%  (idle, acquire/release, the rest)\n",
	       other_ms > 0 ? other_ms : 0.0, other_ms > 0 ? 100.0 * other_ms / tok_ms : 0.0);
	printf("  read per token     %9.2f MiB at %.0f MB/s (%.0f MB/s while the drive was busy)\n", mib_tok, mbs,
	       mbs_busy);

	/* The drive's own rate for this file, measured after the decode (O_DIRECT: the decode's page
	 * cache does not flatter it), so the bottleneck line compares like with like. */
	double drive = 0;
	char drive_txt[96] = "";
	if (probe && bytes) {
		struct sl_err perr = { "" };
		if (bench_io_probe(model_path, "auto", 256ull << 20, &drive, &perr) == 0 && drive > 0) {
			printf("  drive (bench io)   %9.0f MB/s  (sequential O_DIRECT 1 MiB reads, QD 32, this file)\n", drive);
			snprintf(drive_txt, sizeof(drive_txt), ", %.0f%% of the %.0f MB/s bench io measures on this file",
				 100.0 * mbs_busy / drive, drive);
		} else {
			printf("  drive (bench io)   not measured: %s\n", perr.msg);
		}
	}

	/* host-to-device copies per token (a backend that cannot read host memory: a GPU) */
	double up_bytes = 0;
	for (size_t i = 0; i < nt; i++)
		if (!strcmp(tot[i].cat, "upload"))
			up_bytes += (double)tot[i].bytes / n;
	double up_mib = up_bytes / 1048576.0, other_share = tok_ms > 0 && other_ms > 0 ? other_ms / tok_ms : 0;
	if (up_bytes > 0)
		printf("  copied per token   %9.2f MiB host to device (%.1f GB/s over the token time)\n", up_mib,
		       up_bytes / 1e6 / tok_ms);

	/* the bottleneck, from the measured shares */
	double wait_share = tok_ms > 0 ? wait_ms / tok_ms : 0;
	bool disk = bytes && (wait_share >= 0.25 || wait_ms >= compute_ms);
	if (!disk && up_bytes > 0 && other_share >= 0.25 && other_ms > compute_ms)
		printf("bottleneck: device-bound: the host waits for the device %.1f%% of the token (ops and io wait take "
		       "the rest); it copies %.2f MiB/token host to device, %.1f GB/s over the token: when that is near "
		       "the bus's rate (tests/gpu/device-check.sh measures it) the copies are the limit, and a --vram "
		       "larger by %.1f MiB would keep those weights on the device; else its kernels are\n",
		       100.0 * other_share, up_mib, up_bytes / 1e6 / tok_ms, up_mib);
	else if (bytes == 0)
		printf("bottleneck: compute-bound: every weight is in memory (no reads while decoding); compute takes "
		       "%.1f%% of %.3f ms/token\n", 100.0 * compute_ms / tok_ms, tok_ms);
	else if (disk)
		printf("bottleneck: disk-bound: io wait is %.1f%% of the token (%.3f of %.3f ms); %.2f MiB/token read "
		       "at %.0f MB/s while the drive was busy%s; a --host-cache larger by %.1f MiB (%.1f MiB in all) "
		       "would hold the streamed weights and save up to %.3f ms/token\n",
		       100.0 * wait_share, wait_ms, tok_ms, mib_tok, mbs_busy, drive_txt, mib_tok,
		       (double)s1.host_cache_peak / 1048576.0 + mib_tok, wait_ms);
	else
		printf("bottleneck: compute-bound: the reads (%.2f MiB/token at %.0f MB/s while the drive was busy%s) hide behind compute "
		       "(%.1f%% of the token); io wait is %.1f%%\n",
		       mib_tok, mbs_busy, drive_txt, 100.0 * compute_ms / tok_ms, 100.0 * wait_share);
	status = 0;
	if (plot)
		status = draw_plot(argv[0], trace, plot);
out:
	if (tracing)
		sluice_trace_stop(NULL, 0);
	sluice_ctx_free(ctx);
	sluice_model_free(m);
	if (*trace_tmp)
		unlink(trace_tmp);
	return status;
}
