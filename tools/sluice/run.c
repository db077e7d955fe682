/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/run.c — `sluice run`: generate text from a model.
 *
 * Text goes to stdout as tokens are produced; everything else (load time,
 * speeds, streaming statistics) goes to stderr so stdout can be piped.
 */
#include "atomic_file.h"
#include "cli.h"
#include "internal.h"
#include "sluice.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: sluice run -m MODEL [-p PROMPT] [-n N] [options]\n"
		"\n"
		"  -m, --model FILE      GGUF model\n"
		"  -p, --prompt TEXT     prompt (default: empty, start from BOS)\n"
		"      --chat            -p is a user's message: the reply, with the model's chat template\n"
		"                        (sluice run --chat --help for its options)\n"
		"  -f, --file FILE       read the prompt from a file\n"
		"  -n, --n-predict N     tokens to generate (default 128; stops early at end of text)\n"
		"      --temp T          temperature, 0 = greedy (default 0.8)\n"
		"      --top-k K         keep the K most likely tokens, 0 = off (default 40)\n"
		"      --top-p P         nucleus sampling, 1 = off (default 0.95)\n"
		"      --seed S          random seed (default: from the clock)\n"
		"  -t, --threads N       compute threads (default: all CPUs)\n"
		"  -c, --ctx N           context length (default: min(training context, 4096))\n"
		"      --vram SIZE       device memory for weights, e.g. 8G (default: unlimited); with several\n"
		"                        --gpus, per device: one size for all or a list, e.g. 8G,4G\n"
		"      --host-cache SIZE host memory for streamed weights, e.g. 16G (default: unlimited)\n"
		"      --io ENGINE       auto | uring | pread | mmap (default auto)\n"
		"      --nvme BDF[/NSID] the model staged on that namespace (sluice stage), read by the userspace driver\n"
		"      --lookahead N     layers of streaming window, host and device (default 2)\n"
		"      --backend NAME    auto (default: cuda when a GPU works, else cpu) | cuda | cpu; cpu-async,\n"
		"                        cpu-async-zc: the CPU kernels deferred on a worker with poisoned reuse\n"
		"                        (tests of the asynchronous schedule)\n"
		"      --gpus LIST       CUDA devices to use, e.g. 1, or 0,1 to split the layers across both as a\n"
		"                        pipeline (default 0; implies --backend cuda)\n"
		"      --pressure SRC    memory-pressure source while streaming: auto | dev | psi | none\n"
		"      --expert-policy P MoE: which cached experts make room: lfru (default: frequency, decaying so\n"
		"                        the hot set follows the routing) | lru\n"
		"      --pregate N|off   MoE: experts of the next layer guessed (its router on the current state)\n"
		"                        and read ahead per token (default: the experts used per token)\n"
		"      --trace-experts FILE  MoE: write the routing trace (layer, token, experts) for sluice replay\n"
		"      --stats           print streaming statistics (and, for MoE, expert hits, pre-gating\n"
		"                        precision and recall, expert bytes read against the active minimum)\n"
		"      --trace FILE      write a trace of the load and the decode (ui.perfetto.dev): Chrome JSON,\n"
		"                        or Perfetto's protobuf for FILE.perfetto-trace / FILE.pftrace\n"
		"      --metrics FILE    write the run's statistics as Prometheus text (- for stdout)\n"
		"      --no-echo         do not print the prompt\n"
		"  -v, --verbose         library messages to stderr (repeat for more)\n"
		"  -h, --help\n");
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static double per_sec(double n, uint64_t ns)
{
	return ns ? n / secs(ns) : 0.0;
}

/* The prompt file: a file, a pipe or a terminal; at most this many bytes, and text (no NUL). */
#define PROMPT_MAX ((size_t)64 << 20)

/* Read the prompt file into *out (NUL-terminated). 0, or 1 after an error message. */
static int read_prompt(const char *path, char **out)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	if (!f)
		return cli_error("run", "%s: %s", path, strerror(errno));
	if (!fstat(fileno(f), &st) && S_ISDIR(st.st_mode)) {
		fclose(f);
		return cli_error("run", "%s: %s", path, strerror(EISDIR));
	}
	size_t cap = 4096, len = 0, k;
	char *buf = malloc(cap);
	while (buf && (k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += k;
		if (len > PROMPT_MAX)
			break;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	int e = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	if (!buf)
		return cli_error("run", "%s: out of memory reading the prompt", path);
	const char *nul = memchr(buf, 0, len);
	int rc = 0;
	if (e)
		rc = cli_error("run", "%s: read error: %s", path, strerror(e));
	else if (len > PROMPT_MAX)
		rc = cli_error("run", "%s: prompt file is larger than the limit of %zu MiB", path, PROMPT_MAX >> 20);
	else if (nul)
		rc = cli_error("run", "%s: prompt file contains a NUL byte at offset %zu (a prompt is text)", path,
			       (size_t)(nul - buf));
	if (rc) {
		free(buf);
		return rc;
	}
	buf[len] = 0;
	*out = buf;
	return 0;
}

/*
 * Bytes of a UTF-8 character begun but not finished at the end of s[0..n)
 * (a byte-level BPE token can end inside one): held back until the next
 * token, so the terminal never gets half a character.
 */
static size_t incomplete_tail(const char *s, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		unsigned char c = (unsigned char)s[n - back];
		if ((c & 0xC0) == 0x80)
			continue;
		size_t want = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
		return want > back ? back : 0;
	}
	return 0;
}

static char pending[4];
static size_t n_pending;

/* Print a token's bytes; the first piece after BOS loses the dummy-prefix space. */
static int emit(struct sluice_model *m, int32_t tok, bool strip_space)
{
	char piece[256], out[sizeof(piece) + sizeof(pending)];
	size_t n;
	if (sluice_token_to_piece(m, tok, piece, sizeof(piece), &n))
		return -1;
	const char *p = piece;
	if (strip_space && n && p[0] == ' ') {
		p++;
		n--;
	}
	memcpy(out, pending, n_pending);
	memcpy(out + n_pending, p, n);
	n += n_pending;
	n_pending = incomplete_tail(out, n);
	n -= n_pending;
	memcpy(pending, out + n, n_pending);
	/* stdout gone (a full disk, a closed pipe): stop now rather than generate into nothing. */
	errno = 0;
	fwrite(out, 1, n, stdout);
	if (cli_flush_stdout())
		return -2;
	return 0;
}

/* --metrics: the stats as Prometheus text, to stdout or written like every file sluice writes. */
static int write_metrics(const char *path, const struct sluice_stats *st)
{
	size_t len = 0;
	char *text = NULL;
	for (size_t cap = 4096;; cap = len + 1) {
		char *t = realloc(text, cap);
		if (!t) {
			free(text);
			return cli_error("run", "--metrics: out of memory");
		}
		text = t;
		int rc = sluice_stats_prometheus(st, text, cap, &len);
		if (!rc)
			break;
		if (rc != -ENOSPC) {
			free(text);
			return cli_error("run", "--metrics: %s", strerror(-rc));
		}
	}
	int rc = 0;
	if (!strcmp(path, "-")) {
		fwrite(text, 1, len, stdout);
		rc = cli_flush_stdout() ? 1 : 0;
	} else {
		struct sl_atomic_file af = { .fd = -1, .slot = -1 };
		struct sl_err err = { "" };
		bool ok = sl_atomic_file_open(&af, path, NULL, &err) >= 0;
		int wrc = ok ? sl_write_all(af.fd, text, len, -1, NULL) : 0;
		if (wrc) {
			sl_errf(&err, -wrc, "write: %s", strerror(-wrc));
			ok = false;
		}
		if (!ok || sl_atomic_file_commit(&af, &err) < 0) {
			sl_atomic_file_abort(&af);
			rc = cli_error("run", "--metrics %s: %s", path, err.msg);
		}
	}
	free(text);
	return rc;
}

static double pct(uint64_t num, uint64_t den)
{
	return den ? 100.0 * (double)num / (double)den : 0.0;
}

/* --stats for a mixture-of-experts model (Documentation/moe.md says how to read it). */
static void print_expert_stats(const struct sluice_stats *st, const struct sluice_stats *st0, long generated)
{
	uint64_t misses = st->experts_routed - st->expert_hits;
	fprintf(stderr, "sluice: experts: %llu routed, %.1f%% hit (in memory when chosen) | %.2f experts read per MoE "
		"layer pass (%llu passes)",
		(unsigned long long)st->experts_routed, pct(st->expert_hits, st->experts_routed),
		st->moe_layer_passes ? (double)misses / (double)st->moe_layer_passes : 0.0,
		(unsigned long long)st->moe_layer_passes);
	if (st->pregate_guesses)
		fprintf(stderr, " | pre-gating: precision %.1f%% recall %.1f%% (%llu guesses, %llu read ahead)\n",
			pct(st->pregate_correct, st->pregate_guesses), pct(st->pregate_correct, st->pregate_routed),
			(unsigned long long)st->pregate_guesses, (unsigned long long)st->pregate_reads);
	else
		fprintf(stderr, " | pre-gating: no guesses\n");
	if (generated) {
		/* Decode alone: the prompt reads each expert once for many tokens. */
		double rd = (double)(st->expert_bytes_read - st0->expert_bytes_read) / 1048576.0 / (double)generated;
		double act = (double)(st->expert_bytes_active - st0->expert_bytes_active) / 1048576.0 / (double)generated;
		fprintf(stderr, "sluice: decode: expert bytes read %.2f MiB per token against %.2f MiB active per token "
			"(the routed experts: %.2fx the minimum)\n",
			rd, act, act > 0 ? rd / act : 0.0);
	}
	fprintf(stderr, "sluice: exact: experts_routed %llu expert_hits %llu expert_bytes_read %llu expert_bytes_active %llu "
		"pregate_guesses %llu pregate_correct %llu pregate_routed %llu moe_layer_passes %llu\n",
		(unsigned long long)st->experts_routed, (unsigned long long)st->expert_hits,
		(unsigned long long)st->expert_bytes_read, (unsigned long long)st->expert_bytes_active,
		(unsigned long long)st->pregate_guesses, (unsigned long long)st->pregate_correct,
		(unsigned long long)st->pregate_routed, (unsigned long long)st->moe_layer_passes);
}

int cmd_run(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) /* one turn of a chat: chat.c */
		if (!strcmp(argv[i], "--chat"))
			return cmd_run_chat(argc, argv);
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },   { "prompt", required_argument, 0, 'p' },
		{ "file", required_argument, 0, 'f' },    { "n-predict", required_argument, 0, 'n' },
		{ "temp", required_argument, 0, 'T' },    { "top-k", required_argument, 0, 'K' },
		{ "top-p", required_argument, 0, 'P' },   { "seed", required_argument, 0, 'S' },
		{ "threads", required_argument, 0, 't' }, { "ctx", required_argument, 0, 'c' },
		{ "vram", required_argument, 0, 'V' },    { "host-cache", required_argument, 0, 'H' },
		{ "io", required_argument, 0, 'I' },      { "lookahead", required_argument, 0, 'L' },
		{ "stats", no_argument, 0, 's' },         { "no-echo", no_argument, 0, 'E' },
		{ "pressure", required_argument, 0, 'R' }, { "backend", required_argument, 0, 'B' },
		{ "gpus", required_argument, 0, 'G' },    { "metrics", required_argument, 0, 'M' },
		{ "trace", required_argument, 0, 'X' },   { "verbose", no_argument, 0, 'v' },       { "help", no_argument, 0, 'h' },
		{ "expert-policy", required_argument, 0, 'e' }, { "pregate", required_argument, 0, 'g' },
		{ "trace-experts", required_argument, 0, 'x' }, { "nvme", required_argument, 0, 'N' },
		{ 0, 0, 0, 0 },
	};
	const char *model_path = NULL, *prompt = "", *prompt_file = NULL, *nvme = NULL;
	long n_predict = 128, top_k = 40, threads = 0, n_ctx = 0, lookahead = 0;
	double temp = 0.8, top_p = 0.95;
	uint64_t seed = (uint64_t)time(NULL), vram = 0, host_cache = 0;
	const char *io = "auto", *pressure = "auto", *backend = "auto", *trace = NULL, *gpus = NULL, *metrics = NULL;
	const char *expert_policy = NULL, *trace_experts = NULL;
	int pregate = 0;
	struct cli_devices devs = { .n_dev = 0 };
	bool stats = false, echo = true;
	int verbose = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:p:f:n:t:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'p': prompt = optarg; break;
		case 'f': prompt_file = optarg; break;
		case 'n': if (!cli_int("run", "-n", optarg, 0, 1 << 24, &n_predict)) return 1; break;
		case 'T': if (!cli_float("run", "--temp", optarg, 0, 100, &temp)) return 1; break;
		case 'K': if (!cli_int("run", "--top-k", optarg, 0, 1 << 24, &top_k)) return 1; break;
		case 'P': if (!cli_float("run", "--top-p", optarg, 1e-9, 1, &top_p)) return 1; break;
		case 'S': if (!cli_u64("run", "--seed", optarg, &seed)) return 1; break;
		case 't': if (!cli_int("run", "-t", optarg, 1, 1024, &threads)) return 1; break;
		case 'c': if (!cli_int("run", "-c", optarg, 1, 1 << 22, &n_ctx)) return 1; break;
		case 'V': if (!cli_vram("run", optarg, &devs, &vram)) return 1; break;
		case 'H': if (!cli_size("run", "--host-cache", optarg, &host_cache)) return 1; break;
		case 'I': io = optarg; break;
		case 'N': nvme = optarg; break;
		case 'B': backend = optarg; break;
		case 'G': gpus = optarg; break;
		case 'L': if (!cli_int("run", "--lookahead", optarg, 1, 64, &lookahead)) return 1; break;
		case 'R': pressure = optarg; break;
		case 's': stats = true; break;
		case 'X': trace = optarg; break;
		case 'M': metrics = optarg; break;
		case 'e': if (!cli_expert_policy("run", optarg, &expert_policy)) return 1; break;
		case 'g': if (!cli_pregate("run", optarg, &pregate)) return 1; break;
		case 'x': if (!cli_trace_experts("run", optarg, &trace_experts)) return 1; break;
		case 'E': echo = false; break;
		case 'v': verbose++; break;
		case 'h': run_usage(stdout); return 0;
		case ':': return cli_error("run", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("run", "unknown option '%s' (see sluice run --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_error("run", "unexpected argument '%s' (see sluice run --help)", argv[optind]);
	/* --nvme: the model staged there (sluice stage); its header as model_path, the nvme engine for io */
	if (nvme && (model_path || strcmp(io, "auto")))
		return cli_error("run", "--nvme names the model and its I/O: no -m or --io with it");
	if (nvme && cli_nvme_model("run", nvme, false, false, &model_path, &io))
		return 1;
	if (!model_path)
		return cli_error("run", "no model given: use -m MODEL.gguf (see sluice run --help)");
	if (strcmp(pressure, "auto") && strcmp(pressure, "dev") && strcmp(pressure, "psi") && strcmp(pressure, "none"))
		return cli_error("run", "--pressure: unknown source '%s' (auto, dev, psi, none)", pressure);
	if (!nvme && strcmp(io, "auto") && strcmp(io, "uring") && strcmp(io, "pread") && strcmp(io, "mmap"))
		return cli_error("run", "--io: unknown engine '%s' (auto, uring, pread, mmap)", io);
	char *prompt_buf = NULL;
	if (prompt_file) {
		if (read_prompt(prompt_file, &prompt_buf))
			return 1;
		prompt = prompt_buf;
	}
	if (cli_check_input("run", model_path)) {
		free(prompt_buf);
		return 1;
	}
	sluice_set_log_level(verbose ? 2 + verbose : 2);

	if (!(backend = cli_gpus("run", gpus, backend, &devs)))
		return 1;

	struct sluice_model_params mp;
	cli_model_params(&mp, &(struct cli_model_opts){ .threads = threads, .vram = vram, .host_cache = host_cache,
							.io = io, .backend = backend, .lookahead = lookahead,
							.pressure = pressure, .expert_policy = expert_policy,
							.pregate = pregate, .trace_experts = trace_experts, .devs = &devs });
	mp.io_fault = getenv("SLUICE_IO_FAULT"); /* tests: fault injection (the library reads no environment) */
	char err[512];
	struct sluice_model *m = NULL;
	struct sluice_ctx *ctx = NULL;
	struct sluice_sampler *smp = NULL;
	int32_t *toks = NULL;
	int status = 1, rc;
	bool tracing = false;
	if (trace) {
		if ((rc = sluice_trace_start(trace, err, sizeof(err)))) {
			cli_error("run", "--trace: %s", err);
			goto out;
		}
		tracing = true;
	}
	if (cli_load_model("run", model_path, &mp, &m))
		goto out;
	struct sluice_model_info info;
	if ((rc = sluice_model_get_info(m, &info))) {
		cli_error("run", "%s", sluice_model_error(m));
		goto out;
	}
	if (cli_new_ctx("run", m, (uint32_t)n_ctx, &ctx))
		goto out;
	struct sluice_sampler_params sp;
	sluice_sampler_params_init(&sp);
	sp.temperature = (float)temp;
	sp.top_k = (int)top_k;
	sp.top_p = (float)top_p;
	sp.seed = seed;
	if ((rc = sluice_sampler_new(&sp, &smp, err, sizeof(err)))) {
		cli_error("run", "%s", err);
		goto out;
	}

	size_t n_prompt = 0, len = strlen(prompt);
	rc = sluice_tokenize(m, prompt, len, true, NULL, 0, &n_prompt); /* the count: 0 or -ENOSPC */
	if (rc && rc != -ENOSPC) {
		cli_error("run", "cannot tokenize the prompt: %s", sluice_model_error(m));
		goto out;
	}
	toks = malloc((n_prompt + 1) * sizeof(*toks));
	if (!toks) {
		cli_error("run", "out of memory for %zu prompt tokens", n_prompt);
		goto out;
	}
	if ((rc = sluice_tokenize(m, prompt, len, true, toks, n_prompt, &n_prompt))) {
		cli_error("run", "cannot tokenize the prompt: %s", sluice_model_error(m));
		goto out;
	}
	if (n_prompt == 0) { /* a vocabulary without BOS and an empty prompt: nothing to condition on */
		cli_error("run", "the prompt is empty and the model has no BOS token; give a prompt with -p");
		goto out;
	}
	if (verbose) { /* general.name is untrusted text: escaped for the terminal */
		char sn[256], sa[128];
		fprintf(stderr, "sluice: model '%s' (%s), %u layers, vocabulary of %u\n",
			cli_safe(info.name, strlen(info.name), sn, sizeof sn), cli_safe(info.arch, strlen(info.arch), sa, sizeof sa),
			info.n_layer, info.n_vocab);
	}
	if (echo && len) {
		errno = 0;
		fputs(prompt, stdout);
		if (cli_flush_stdout())
			goto out; /* stdout cannot be written: main's cli_finish says why, status 1 */
	}

	const float *logits;
	uint64_t t0 = sl_now_ns();
	if ((rc = sluice_decode(ctx, toks, n_prompt, &logits))) {
		cli_error("run", "%s", sluice_ctx_error(ctx));
		goto out;
	}
	uint64_t t1 = sl_now_ns();
	struct sluice_stats st0; /* after the prompt: the decode phase is measured from here */
	sluice_ctx_get_stats(ctx, &st0);
	long generated = 0;
	int32_t prev = toks[n_prompt - 1];
	status = 0;
	while (generated < n_predict) {
		int32_t tok;
		if ((rc = sluice_sample(smp, logits, info.n_vocab, &tok))) {
			fputc('\n', stdout);
			cli_error("run", "sampling: %s", sluice_sampler_error(smp));
			status = 1;
			break;
		}
		if (tok == info.eos || sluice_token_is_eot(m, "plain", tok)) /* any end of generation, as llama.cpp */
			break;
		if ((rc = emit(m, tok, prev == info.bos && (!echo || len == 0)))) {
			if (rc != -2) { /* -2: stdout failed, reported by main's cli_finish */
				fputc('\n', stdout);
				cli_error("run", "%s", sluice_model_error(m));
			}
			status = 1;
			break;
		}
		prev = tok;
		if (++generated == n_predict)
			break;
		if ((rc = sluice_decode(ctx, &tok, 1, &logits))) {
			fputc('\n', stdout);
			cli_error("run", "%s", sluice_ctx_error(ctx));
			status = 1;
			break;
		}
	}
	uint64_t t2 = sl_now_ns();
	fwrite(pending, 1, n_pending, stdout); /* an unfinished character at the end: its bytes as they are */
	n_pending = 0;
	fputc('\n', stdout);
	fflush(stdout);

	struct sluice_stats st;
	sluice_ctx_get_stats(ctx, &st);
	fprintf(stderr, "\nsluice: load %.2f s | prompt %zu tok, %.1f tok/s | generated %ld tok, %.2f tok/s\n",
		secs(st.load_ns), n_prompt, per_sec((double)n_prompt, t1 - t0), generated,
		per_sec((double)generated, t2 - t1));
	if (stats) {
		fprintf(stderr,
			"sluice: weights read %.1f MiB (load + prompt + decode; %.2f MiB/token) | cache hits %llu misses %llu (%.1f%% hit) | "
			"io wait %.3f s | io busy %.3f s | compute %.3f s | host cache peak %.1f MiB | device peak %.1f MiB"
			" | pressure events %llu | prefetch used %llu wasted %llu | backend %s\n",
			st.bytes_read / 1048576.0, generated ? st.bytes_read / 1048576.0 / (double)(generated + n_prompt) : 0.0,
			(unsigned long long)st.cache_hits, (unsigned long long)st.cache_misses,
			st.cache_hits + st.cache_misses ? 100.0 * st.cache_hits / (double)(st.cache_hits + st.cache_misses) : 100.0,
			secs(st.io_wait_ns), secs(st.io_busy_ns), secs(st.compute_ns), st.host_cache_peak / 1048576.0,
			st.device_peak / 1048576.0, (unsigned long long)st.shrink_events,
			(unsigned long long)st.prefetch_used, (unsigned long long)st.prefetch_wasted, info.backend);
		fprintf(stderr, "sluice: exact: bytes_read %llu prompt_tokens %llu gen_tokens %llu\n",
			(unsigned long long)st.bytes_read, (unsigned long long)st.prompt_tokens,
			(unsigned long long)st.gen_tokens);
		if (st.moe_layer_passes)
			print_expert_stats(&st, &st0, generated);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "sluice: peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
		/* Decode phase alone (the prompt is a batch and the load is sequential: both differ). */
		double busy = secs(st.io_busy_ns - st0.io_busy_ns), comp = secs(st.compute_ns - st0.compute_ns);
		double wait = secs(st.io_wait_ns - st0.io_wait_ns), tok = secs(t2 - t1);
		double mx = busy > comp ? busy : comp;
		fprintf(stderr,
			"sluice: decode: %.2f MiB read per token | io wait %.3f s | io busy %.3f s | compute %.3f s | "
			"overlap efficiency %.2f (token time / max(io, compute); 1.00 is perfect)\n",
			generated ? (st.bytes_read - st0.bytes_read) / 1048576.0 / (double)generated : 0.0, wait, busy, comp,
			mx > 0 ? tok / mx : 1.0);
	}
	if (metrics && write_metrics(metrics, &st))
		status = 1;
out:
	if (tracing && sluice_trace_stop(err, sizeof(err))) { /* before the model goes: its names are in it */
		cli_error("run", "--trace: %s", err);
		status = 1;
	}
	free(toks);
	free(prompt_buf);
	sluice_sampler_free(smp);
	sluice_ctx_free(ctx);
	sluice_model_free(m);
	return status;
}
