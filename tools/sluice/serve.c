/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/serve.c — `sluice serve`: an OpenAI-compatible HTTP server over one model.
 *
 * The daemon listens before the model is loaded (GET /health says 503 until it is, then 200).
 * One context holds --parallel sequences; the scheduler thread (serve_sched.c) decodes them
 * together.  SIGTERM or SIGINT: stop taking requests (503), let the ones in flight finish and be
 * answered, then exit 0.
 */
#include "chat/chat.h"
#include "cli.h"
#include "model/model.h"
#include "serve.h"

#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *o)
{
	fprintf(o,
		"usage: sluice serve -m MODEL.gguf [options]\n"
		"\n"
		"An OpenAI-compatible HTTP server: POST /v1/chat/completions, /v1/completions; GET /v1/models,\n"
		"/health (503 while loading), /metrics (Prometheus).  Up to --parallel requests decode together\n"
		"(continuous batching: each step reads the weights once for all of them).\n"
		"\n"
		"  -m, --model PATH        GGUF model (required)\n"
		"      --host ADDR         address to listen on (default 127.0.0.1)\n"
		"      --port N            port (default 8080; 0 = any free port, printed at start)\n"
		"      --parallel N        requests decoded together (default 4, at most %d)\n"
		"      --queue N           requests waiting beyond those (default 64); more get 503\n"
		"  -c, --ctx N             tokens per request: prompt + reply (default min(model's, 2048))\n"
		"      --api-key KEY       require Authorization: Bearer KEY on /v1/ (or $SLUICE_API_KEY)\n"
		"      --model-id NAME     the model's id in the API (default: the file's name)\n"
		"      --chat-template T   chatml, qwq, llama3, deepseek3, deepseek-r1, plain (default: from the model)\n"
		"      --max-body BYTES    largest request body (default 1M; larger: 413)\n"
		"      --read-timeout S    seconds a client may take to send a request (default 30; then it is cut off)\n"
		"  -t, --threads N         compute threads (default: all CPUs)\n"
		"      --vram SIZE         device memory for weights (stream the rest)\n"
		"      --host-cache SIZE   host cache for streamed weights\n"
		"      --backend NAME      cpu (default), auto, cuda, cpu-async\n"
		"      --gpus LIST         CUDA devices, e.g. 1, or 0,1 to split the layers across both (with a --vram list)\n"
		"      --io ENGINE         auto, uring, pread, mmap\n"
		"  -v, --verbose           library log messages\n",
		SLUICE_MAX_SEQ);
}

static void *loader(void *arg)
{
	struct srv *s = arg;
	char err[512];
	int rc = sluice_model_load(s->model_path, &s->mp, &s->m, err, sizeof(err));
	if (rc) {
		snprintf(s->load_err, sizeof(s->load_err), "%s", err);
		goto fail;
	}
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	if (!s->n_ctx)
		s->n_ctx = SL_MIN(s->m->hp.n_ctx_train, 2048u);
	cp.n_ctx = s->n_ctx;
	cp.n_seq_max = (uint32_t)s->parallel;
	if ((rc = sluice_ctx_new(s->m, &cp, &s->ctx, err, sizeof(err)))) {
		snprintf(s->load_err, sizeof(s->load_err), "%s", err);
		goto fail;
	}
	/* The chat template: named, or recognised from the model's tokenizer.chat_template. */
	const char *jinja = NULL;
	if (sl_gguf_find_kv(s->m->gguf, "tokenizer.chat_template"))
		sl_gguf_get_str(s->m->gguf, "tokenizer.chat_template", &jinja, NULL);
	s->chat_tmpl = s->chat_template ? sl_chat_from_name(s->chat_template) : (int)sl_chat_detect(jinja);
	const struct sl_vocab *v = s->m->vocab;
	int32_t bos = sl_vocab_bos(v);
	size_t bl;
	if (bos >= 0 && (s->chat_tmpl != SL_CHAT_PLAIN || sl_vocab_add_bos(v)))
		s->bos_text = sl_vocab_text(v, bos, &bl);
	for (const char *const *t = sl_chat_eot_texts((enum sl_chat_template)s->chat_tmpl); *t && s->n_eot < SRV_MAX_EOT;
	     t++) {
		int32_t id = sl_vocab_find(v, *t, strlen(*t));
		if (id >= 0)
			s->eot[s->n_eot++] = id;
	}
	if (s->chat_tmpl != SL_CHAT_PLAIN && s->n_eot == 0) {
		snprintf(s->load_err, sizeof(s->load_err), "the %s template's end-of-turn token (%s) is not in the vocabulary",
			 sl_chat_name((enum sl_chat_template)s->chat_tmpl),
			 sl_chat_eot_texts((enum sl_chat_template)s->chat_tmpl)[0]);
		goto fail;
	}
	fprintf(stderr, "sluice serve: %s loaded (%u sequences of %u tokens, chat template %s)\n", s->model_id,
		(unsigned)s->parallel, s->n_ctx, sl_chat_name((enum sl_chat_template)s->chat_tmpl));
	if ((rc = srv_sched_start(s))) {
		snprintf(s->load_err, sizeof(s->load_err), "cannot start the scheduler: %s", strerror(-rc));
		goto fail;
	}
	atomic_store(&s->state, 1);
	kill(getpid(), SIGUSR1);
	return NULL;
fail:
	atomic_store(&s->state, -1);
	kill(getpid(), SIGUSR1);
	return NULL;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },     { "host", required_argument, 0, 'A' },
		{ "port", required_argument, 0, 'p' },      { "parallel", required_argument, 0, 'N' },
		{ "queue", required_argument, 0, 'Q' },     { "ctx", required_argument, 0, 'c' },
		{ "api-key", required_argument, 0, 'K' },   { "model-id", required_argument, 0, 'I' },
		{ "chat-template", required_argument, 0, 'T' }, { "max-body", required_argument, 0, 'B' },
		{ "read-timeout", required_argument, 0, 'R' }, { "threads", required_argument, 0, 't' },
		{ "vram", required_argument, 0, 'V' }, { "gpus", required_argument, 0, 'G' },      { "host-cache", required_argument, 0, 'H' },
		{ "backend", required_argument, 0, 'b' },   { "io", required_argument, 0, 'O' },
		{ "verbose", no_argument, 0, 'v' },         { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	static struct srv s; /* the signal-free threads reach it until exit */
	memset(&s, 0, sizeof(s));
	const char *host = "127.0.0.1";
	long port = 8080, parallel = 4, queue = 64, n_ctx = 0, threads = 0, read_timeout = 30;
	uint64_t max_body = 1 << 20, vram = 0, host_cache = 0;
	const char *backend = NULL, *io = NULL;
	const char *gpus = NULL;
	struct cli_devices devs = { .n_dev = 0 };
	int verbose = 0, c;
	s.api_key = getenv("SLUICE_API_KEY");
	if (s.api_key && !*s.api_key)
		s.api_key = NULL;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:c:t:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': s.model_path = optarg; break;
		case 'A': host = optarg; break;
		case 'p': if (!cli_int("serve", "--port", optarg, 0, 65535, &port)) return 1; break;
		case 'N': if (!cli_int("serve", "--parallel", optarg, 1, SLUICE_MAX_SEQ, &parallel)) return 1; break;
		case 'Q': if (!cli_int("serve", "--queue", optarg, 0, 1 << 20, &queue)) return 1; break;
		case 'c': if (!cli_int("serve", "--ctx", optarg, 1, 1 << 22, &n_ctx)) return 1; break;
		case 'K': s.api_key = optarg; break;
		case 'I': s.model_id = optarg; break;
		case 'T': s.chat_template = optarg; break;
		case 'B': if (!cli_size("serve", "--max-body", optarg, &max_body)) return 1; break;
		case 'R': if (!cli_int("serve", "--read-timeout", optarg, 1, 3600, &read_timeout)) return 1; break;
		case 't': if (!cli_int("serve", "--threads", optarg, 1, SLUICE_MAX_THREADS, &threads)) return 1; break;
		case 'V': if (!cli_vram("serve", optarg, &devs, &vram)) return 1; break;
		case 'G': gpus = optarg; break;
		case 'H': if (!cli_size("serve", "--host-cache", optarg, &host_cache)) return 1; break;
		case 'b': backend = optarg; break;
		case 'O': io = optarg; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		case ':': return cli_error("serve", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("serve", "unknown option '%s' (see sluice serve --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_error("serve", "unexpected argument '%s' (see sluice serve --help)", argv[optind]);
	if (!s.model_path)
		return cli_error("serve", "no model given: use -m MODEL.gguf (see sluice serve --help)");
	if (s.chat_template && sl_chat_from_name(s.chat_template) < 0)
		return cli_error("serve", "--chat-template: unknown template '%s' (chatml, qwq, llama3, deepseek3, deepseek-r1, plain)",
				 s.chat_template);
	if (max_body < 16)
		return cli_error("serve", "--max-body %llu: too small", (unsigned long long)max_body);
	if (cli_check_input("serve", s.model_path))
		return 1;
	sluice_set_log_level(verbose ? 2 + verbose : 1);
	if (!s.model_id) {
		const char *b = strrchr(s.model_path, '/');
		s.model_id = b ? b + 1 : s.model_path;
	}
	s.parallel = (int)parallel;
	s.queue_max = (int)queue;
	s.n_ctx = (uint32_t)n_ctx;
	s.max_body = (size_t)max_body;
	s.read_timeout_s = (unsigned)read_timeout;
	const char *gpu_backend = cli_gpus("serve", gpus, backend ? backend : "auto", &devs);
	if (!gpu_backend)
		return 1;
	if (gpus)
		backend = gpu_backend;
	cli_model_params(&s.mp, &(struct cli_model_opts){ .threads = threads, .vram = vram, .host_cache = host_cache,
							  .backend = backend, .io = io , .devs = &devs });
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	atomic_init(&s.state, 0);
	atomic_init(&s.inflight, 0);

	/* Signals go to this thread's sigwait only: every thread made from here on has them blocked. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not the end of the server */

	char err[512];
	struct MHD_Daemon *d = srv_http_start(&s, host, (int)port, err, sizeof(err));
	if (!d)
		return cli_error("serve", "%s", err);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "sluice serve: listening on http://%s:%u (loading %s)\n", host, di ? di->port : (unsigned)port,
		s.model_path);
	pthread_t lt;
	if (pthread_create(&lt, NULL, loader, &s)) {
		MHD_stop_daemon(d);
		return cli_error("serve", "cannot start the loader thread");
	}
	int status = 0, sig = 0;
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGUSR1 && atomic_load(&s.state) == -1) {
			cli_error("serve", "%s", s.load_err);
			status = 1;
			break;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	pthread_join(lt, NULL);
	if (!status) {
		/* Drain: new requests get 503; the scheduler finishes the ones it has, and their
		 * connections get their answers before the daemon closes. */
		fprintf(stderr, "sluice serve: %s: draining %d request%s\n", strsignal(sig), atomic_load(&s.inflight),
			atomic_load(&s.inflight) == 1 ? "" : "s");
		srv_sched_stop(&s);
		for (int i = 0; i < 6000 && atomic_load(&s.inflight) > 0; i++)
			usleep(10000);
	}
	MHD_stop_daemon(d);
	srv_sched_stop(&s);
	sluice_ctx_free(s.ctx);
	sluice_model_free(s.m);
	if (!status)
		fprintf(stderr, "sluice serve: stopped\n");
	return status;
}
