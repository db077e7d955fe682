/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/chat.c — `sluice chat`: a multi-turn conversation in the
 * terminal, and `sluice run --chat`: one turn from -p.
 *
 * The conversation is rendered with the model's chat template (runtime/chat)
 * after every user message; what the KV cache already holds is kept as the
 * text it stands for, and when the new rendering starts with that text only
 * the rest is tokenized and evaluated.  When it does not (a template that
 * rewrites earlier replies, as R1's drops their <think> part, or trims them)
 * the context starts over from the whole rendering.  A reply ends at one of
 * the template's end-of-turn tokens (found by their text, whatever the GGUF
 * calls eos), at the vocabulary's end of generation, at -n tokens, or at
 * Ctrl-C, which stops the reply and returns to the prompt.
 */
#include "chat/chat.h"
#include "cli.h"
#include "internal.h"
#include "model/model.h"
#include "sluice.h"
#include "token/vocab.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void chat_usage(FILE *out, bool one_turn)
{
	fprintf(out,
		"usage: %s\n"
		"\n"
		"  -m, --model FILE        GGUF model\n"
		"  -p, --prompt TEXT       %s\n"
		"      --system TEXT       a system message first\n"
		"      --chat-template T   chatml | qwq | llama3 | deepseek3 | deepseek-r1 | plain\n"
		"                          (default: recognised from the model's tokenizer.chat_template)\n"
		"  -n, --n-predict N       most tokens per reply (default 512)\n"
		"      --temp T, --top-k K, --top-p P, --seed S    sampling (defaults 0.8, 40, 0.95, clock)\n"
		"  -t, --threads N, -c, --ctx N, --vram SIZE, --host-cache SIZE, --io ENGINE,\n"
		"      --lookahead N, --backend NAME, --gpus LIST,\n"
		"      --expert-policy P, --pregate N|off, --trace-experts FILE    as for sluice run\n"
		"  -v, --verbose           the template, and tokens evaluated per turn, to stderr\n"
		"\n"
		"%s",
		one_turn ? "sluice run --chat -m MODEL -p MESSAGE [options]" : "sluice chat -m MODEL [options]",
		one_turn ? "the user's message (one turn: the reply is printed)" : "a first user message",
		one_turn ? "" :
			   "In the session: a line is a message; /reset forgets the conversation; /quit or Ctrl-D\n"
			   "leaves; Ctrl-C stops a reply (and at the prompt clears the line).\n");
}

struct session {
	struct sluice_model *m;
	struct sluice_ctx *ctx;
	struct sluice_sampler *smp;
	const struct sl_vocab *v;
	enum sl_chat_template tmpl;
	const char *bos_text;
	int32_t eot[8];
	int n_eot;
	struct sl_chat_msg *msgs;
	size_t n_msgs, cap_msgs;
	char *kv_text; /* what the KV cache holds, as text */
	size_t kv_len;
	uint32_t n_ctx;
	long n_predict;
	bool verbose;
};

static bool is_eot(const struct session *s, int32_t tok)
{
	for (int i = 0; i < s->n_eot; i++)
		if (s->eot[i] == tok)
			return true;
	return sl_vocab_is_eog(s->v, tok);
}

static int add_msg(struct session *s, const char *role, const char *content, size_t len)
{
	if (s->n_msgs == s->cap_msgs) {
		size_t cap = s->cap_msgs ? s->cap_msgs * 2 : 8;
		struct sl_chat_msg *n = realloc(s->msgs, cap * sizeof(*n));
		if (!n)
			return -1;
		s->msgs = n;
		s->cap_msgs = cap;
	}
	char *c = malloc(len + 1);
	if (!c)
		return -1;
	memcpy(c, content, len);
	c[len] = 0;
	s->msgs[s->n_msgs++] = (struct sl_chat_msg){ role, c };
	return 0;
}

static void drop_last(struct session *s)
{
	if (s->n_msgs)
		free((char *)s->msgs[--s->n_msgs].content);
}

static void forget(struct session *s, bool keep_system)
{
	size_t keep = keep_system && s->n_msgs && !strcmp(s->msgs[0].role, "system") ? 1 : 0;
	for (size_t i = keep; i < s->n_msgs; i++)
		free((char *)s->msgs[i].content);
	s->n_msgs = keep;
	free(s->kv_text);
	s->kv_text = NULL;
	s->kv_len = 0;
	sluice_ctx_reset(s->ctx);
}

static int kv_append(struct session *s, const char *t, size_t n)
{
	char *k = realloc(s->kv_text, s->kv_len + n + 1);
	if (!k)
		return -1;
	memcpy(k + s->kv_len, t, n);
	s->kv_len += n;
	k[s->kv_len] = 0;
	s->kv_text = k;
	return 0;
}

/* Evaluate text (special tokens parsed, no BOS added) at the end of the context. */
static int eval_text(struct session *s, const char *text, size_t len, const float **logits, size_t *n_eval)
{
	size_t n = 0;
	int rc = sl_tokenize_ex(s->v, text, len, SL_TOKENIZE_PARSE_SPECIAL, NULL, 0, &n);
	if (rc && rc != -ENOSPC)
		return cli_error("chat", "cannot tokenize the conversation (%s)", strerror(-rc));
	*n_eval = n;
	if (n == 0)
		return 0;
	int32_t *toks = malloc(n * sizeof(*toks));
	if (!toks)
		return cli_error("chat", "out of memory");
	rc = sl_tokenize_ex(s->v, text, len, SL_TOKENIZE_PARSE_SPECIAL, toks, n, &n);
	if (!rc)
		rc = sluice_decode(s->ctx, toks, n, logits);
	free(toks);
	if (rc == -ENOSPC)
		return cli_error("chat", "the conversation no longer fits the context of %u tokens: /reset, or a larger -c",
				 s->n_ctx);
	if (rc)
		return cli_error("chat", "%s", sluice_ctx_error(s->ctx));
	return 0;
}

/* One turn: the user's message in, the reply streamed to stdout.  0, or 1 after an error message. */
static int turn(struct session *s, const char *user, size_t user_len)
{
	if (add_msg(s, "user", user, user_len))
		return cli_error("chat", "out of memory");
	char *r = NULL;
	size_t rlen = 0;
	struct sl_err err;
	if (sl_chat_render(s->tmpl, s->msgs, s->n_msgs, true, s->bos_text, &r, &rlen, &err)) {
		drop_last(s);
		return cli_error("chat", "%s", err.msg);
	}
	const float *logits = NULL;
	size_t n_eval = 0;
	bool reused = s->kv_len && s->kv_len <= rlen && !memcmp(r, s->kv_text, s->kv_len);
	if (!reused) { /* the template rewrote what the cache holds (or it is empty): start over */
		free(s->kv_text);
		s->kv_text = NULL;
		s->kv_len = 0;
		sluice_ctx_reset(s->ctx);
	}
	size_t from = s->kv_len;
	int rc = eval_text(s, r + from, rlen - from, &logits, &n_eval);
	if (!rc && kv_append(s, r + from, rlen - from)) {
		free(r);
		forget(s, true); /* the cache holds text we could not record: start over */
		return cli_error("chat", "out of memory");
	}
	free(r);
	if (rc) { /* the message was not taken in: it is not part of the conversation */
		drop_last(s);
		return rc;
	}
	if (!logits) /* nothing new to evaluate: cannot happen with a generation prompt, but be safe */
		return cli_error("chat", "the template added nothing to evaluate");
	if (s->verbose)
		fprintf(stderr, "[chat: %zu new tokens evaluated%s]\n", n_eval, reused ? ", earlier turns kept" : "");

	char *reply = NULL;
	size_t reply_len = 0;
	struct sl_detok_stream ds;
	sl_detok_stream_init(&ds);
	ds.first_text = false; /* a reply follows the template's text: keep its spaces */
	long generated = 0;
	bool stopped = false, eot = false;
	uint64_t t0 = sl_now_ns();
	rc = 0;
	while (generated < s->n_predict) {
		if (interrupted) {
			stopped = true;
			break;
		}
		int32_t tok;
		if (sluice_sample(s->smp, logits, sl_vocab_size(s->v), &tok)) {
			rc = cli_error("chat", "sampling: %s", sluice_sampler_error(s->smp));
			break;
		}
		if (is_eot(s, tok)) {
			/* The end of turn goes into the cache too: the next rendering has it after the reply. */
			size_t tl;
			const char *tt = sl_vocab_text(s->v, tok, &tl);
			if (!sluice_decode(s->ctx, &tok, 1, &logits) && tt && !kv_append(s, tt, tl))
				eot = true;
			else
				forget(s, true); /* the cache and its text disagree: start over next turn */
			break;
		}
		char piece[512];
		size_t pn = 0;
		if (sl_detok_stream_push(s->v, &ds, tok, piece, sizeof piece, &pn)) {
			rc = cli_error("chat", "token %d cannot be printed", tok);
			break;
		}
		fwrite(piece, 1, pn, stdout);
		fflush(stdout);
		/* The reply as text (the stream holds back half characters; its whole piece is wanted here). */
		size_t whole;
		char wb[512];
		if (sl_token_to_piece(s->v, tok, wb, sizeof wb, &whole) == 0) {
			char *nr = realloc(reply, reply_len + whole + 1);
			if (!nr || kv_append(s, wb, whole)) {
				free(nr);
				rc = cli_error("chat", "out of memory");
				break;
			}
			memcpy(nr + reply_len, wb, whole);
			reply_len += whole;
			nr[reply_len] = 0;
			reply = nr;
		}
		generated++;
		if (generated == s->n_predict)
			break;
		if (sluice_decode(s->ctx, &tok, 1, &logits)) {
			rc = cli_error("chat", "%s", sluice_ctx_error(s->ctx));
			break;
		}
	}
	char tail[8];
	size_t tn = 0;
	if (!sl_detok_stream_flush(&ds, tail, sizeof tail, &tn))
		fwrite(tail, 1, tn, stdout);
	if (stopped)
		fputs(" [stopped]", stdout);
	fputc('\n', stdout);
	fflush(stdout);
	uint64_t t1 = sl_now_ns();
	if (s->verbose)
		fprintf(stderr, "[chat: %ld tokens, %.2f tok/s%s]\n", generated,
			t1 > t0 ? (double)generated * 1e9 / (double)(t1 - t0) : 0.0, eot ? ", end of turn" : "");
	interrupted = 0;
	if (add_msg(s, "assistant", reply ? reply : "", reply_len))
		rc = rc ? rc : cli_error("chat", "out of memory");
	free(reply);
	return rc;
}

/* A line from stdin (without its newline) into *buf; -1 at end of input, 1 when Ctrl-C interrupted it. */
static int read_line(char **buf, size_t *cap, size_t *len)
{
	*len = 0;
	for (;;) {
		if (*len + 2 > *cap) {
			size_t nc = *cap ? *cap * 2 : 1024;
			char *nb = realloc(*buf, nc);
			if (!nb)
				return -1;
			*buf = nb;
			*cap = nc;
		}
		errno = 0;
		int c = getchar();
		if (c == EOF) {
			if (interrupted) {
				interrupted = 0;
				clearerr(stdin);
				return 1;
			}
			return *len ? 0 : -1;
		}
		if (c == '\n')
			break;
		(*buf)[(*len)++] = (char)c;
	}
	(*buf)[*len] = 0;
	return 0;
}

static int session_setup(struct session *s, const char *tmpl_name, const char *system)
{
	const struct sluice_model *m = s->m;
	s->v = m->vocab;
	const char *jinja = NULL;
	if (sl_gguf_find_kv(m->gguf, "tokenizer.chat_template"))
		sl_gguf_get_str(m->gguf, "tokenizer.chat_template", &jinja, NULL);
	if (tmpl_name) {
		int t = sl_chat_from_name(tmpl_name);
		if (t < 0)
			return cli_error("chat", "--chat-template: unknown template '%s' (chatml, qwq, llama3, deepseek3, deepseek-r1, plain)",
					 tmpl_name);
		s->tmpl = (enum sl_chat_template)t;
	} else {
		s->tmpl = sl_chat_detect(jinja);
	}
	int32_t bos = sl_vocab_bos(s->v);
	size_t bl;
	/* The families that write bos_token do so whatever add_bos says; the plain one follows the vocabulary. */
	if (bos >= 0 && (s->tmpl != SL_CHAT_PLAIN || sl_vocab_add_bos(s->v)))
		s->bos_text = sl_vocab_text(s->v, bos, &bl);
	for (const char *const *t = sl_chat_eot_texts(s->tmpl); *t && s->n_eot < (int)SL_ARRAY_SIZE(s->eot); t++) {
		int32_t id = sl_vocab_find(s->v, *t, strlen(*t));
		if (id >= 0)
			s->eot[s->n_eot++] = id;
	}
	if (s->tmpl != SL_CHAT_PLAIN && s->n_eot == 0)
		return cli_error("chat", "the %s template's end-of-turn token (%s) is not in the vocabulary", sl_chat_name(s->tmpl),
				 sl_chat_eot_texts(s->tmpl)[0]);
	if (s->verbose)
		fprintf(stderr, "[chat: template %s%s, %d end-of-turn tokens]\n", sl_chat_name(s->tmpl),
			tmpl_name ? " (--chat-template)" : jinja ? " (recognised from tokenizer.chat_template)" : " (no template in the model)",
			s->n_eot);
	if (system && add_msg(s, "system", system, strlen(system)))
		return cli_error("chat", "out of memory");
	return 0;
}

/* `sluice chat` (one_turn false) and `sluice run --chat` (true). */
static int chat_main(int argc, char **argv, bool one_turn)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },   { "prompt", required_argument, 0, 'p' },
		{ "system", required_argument, 0, 'Y' },  { "chat-template", required_argument, 0, 'C' },
		{ "n-predict", required_argument, 0, 'n' }, { "temp", required_argument, 0, 'T' },
		{ "top-k", required_argument, 0, 'K' },   { "top-p", required_argument, 0, 'P' },
		{ "seed", required_argument, 0, 'S' },    { "threads", required_argument, 0, 't' },
		{ "ctx", required_argument, 0, 'c' },     { "vram", required_argument, 0, 'V' }, { "gpus", required_argument, 0, 'G' },
		{ "host-cache", required_argument, 0, 'H' }, { "io", required_argument, 0, 'I' },
		{ "lookahead", required_argument, 0, 'L' }, { "backend", required_argument, 0, 'B' },
		{ "chat", no_argument, 0, 'X' },          { "verbose", no_argument, 0, 'v' },
		{ "expert-policy", required_argument, 0, 'e' }, { "pregate", required_argument, 0, 'g' },
		{ "trace-experts", required_argument, 0, 'x' },
		{ "help", no_argument, 0, 'h' },          { 0, 0, 0, 0 },
	};
	const char *model_path = NULL, *prompt = NULL, *system = NULL, *tmpl = NULL, *io = "auto", *backend = "cpu";
	const char *gpus = NULL;
	struct cli_devices devs = { .n_dev = 0 };
	bool backend_set = false;
	long n_predict = 512, top_k = 40, threads = 0, n_ctx = 0, lookahead = 0;
	double temp = 0.8, top_p = 0.95;
	uint64_t seed = (uint64_t)time(NULL), vram = 0, host_cache = 0;
	int verbose = 0, c, pregate = 0;
	const char *expert_policy = NULL, *trace_experts = NULL;
	const char *cmd = one_turn ? "run" : "chat";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:p:n:t:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'p': prompt = optarg; break;
		case 'Y': system = optarg; break;
		case 'C': tmpl = optarg; break;
		case 'n': if (!cli_int(cmd, "-n", optarg, 1, 1 << 24, &n_predict)) return 1; break;
		case 'T': if (!cli_float(cmd, "--temp", optarg, 0, 100, &temp)) return 1; break;
		case 'K': if (!cli_int(cmd, "--top-k", optarg, 0, 1 << 24, &top_k)) return 1; break;
		case 'P': if (!cli_float(cmd, "--top-p", optarg, 1e-9, 1, &top_p)) return 1; break;
		case 'S': if (!cli_u64(cmd, "--seed", optarg, &seed)) return 1; break;
		case 't': if (!cli_int(cmd, "-t", optarg, 1, 1024, &threads)) return 1; break;
		case 'c': if (!cli_int(cmd, "-c", optarg, 1, 1 << 22, &n_ctx)) return 1; break;
		case 'V': if (!cli_vram(cmd, optarg, &devs, &vram)) return 1; break;
		case 'G': gpus = optarg; break;
		case 'H': if (!cli_size(cmd, "--host-cache", optarg, &host_cache)) return 1; break;
		case 'I': io = optarg; break;
		case 'L': if (!cli_int(cmd, "--lookahead", optarg, 1, 64, &lookahead)) return 1; break;
		case 'B': backend = optarg, backend_set = true; break;
		case 'X': break;
		case 'e': if (!cli_expert_policy(cmd, optarg, &expert_policy)) return 1; break;
		case 'g': if (!cli_pregate(cmd, optarg, &pregate)) return 1; break;
		case 'x': if (!cli_trace_experts(cmd, optarg, &trace_experts)) return 1; break;
		case 'v': verbose++; break;
		case 'h': chat_usage(stdout, one_turn); return 0;
		case ':': return cli_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error(cmd, "unknown option '%s' (see sluice %s --help)", argv[optind - 1],
					  one_turn ? "run --chat" : "chat");
		}
	}
	if (optind < argc)
		return cli_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!model_path)
		return cli_error(cmd, "no model given: use -m MODEL.gguf");
	if (one_turn && !prompt)
		return cli_error(cmd, "--chat needs the user's message: -p TEXT");
	if (tmpl && sl_chat_from_name(tmpl) < 0)
		return cli_error(cmd, "--chat-template: unknown template '%s' (chatml, qwq, llama3, deepseek3, deepseek-r1, plain)",
				 tmpl);
	if (cli_check_input(cmd, model_path))
		return 1;
	sluice_set_log_level(verbose ? 2 + verbose : 2);

	struct sluice_model_params mp;
	if (gpus && !backend_set)
		backend = "auto"; /* --gpus alone: the CUDA devices it names */
	if (!(backend = cli_gpus(cmd, gpus, backend, &devs)))
		return 1;
	cli_model_params(&mp, &(struct cli_model_opts){ .threads = threads, .vram = vram, .host_cache = host_cache,
							.io = io, .backend = backend, .lookahead = lookahead,
							.expert_policy = expert_policy, .pregate = pregate,
							.trace_experts = trace_experts , .devs = &devs });
	char err[512];
	struct session s = { .n_predict = n_predict, .verbose = verbose > 0 };
	int status = 1;
	char *line = NULL;
	if (cli_load_model(cmd, model_path, &mp, &s.m) || cli_new_ctx(cmd, s.m, (uint32_t)n_ctx, &s.ctx))
		goto out;
	s.n_ctx = s.ctx->n_ctx;
	struct sluice_sampler_params sp;
	sluice_sampler_params_init(&sp);
	sp.temperature = (float)temp;
	sp.top_k = (int)top_k;
	sp.top_p = (float)top_p;
	sp.seed = seed;
	if (sluice_sampler_new(&sp, &s.smp, err, sizeof err)) {
		cli_error(cmd, "%s", err);
		goto out;
	}
	if (session_setup(&s, tmpl, system))
		goto out;

	/* Ctrl-C stops a reply, not the program (no SA_RESTART: a read at the prompt returns). */
	struct sigaction sa = { 0 }, old_int;
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	status = 0;
	if (prompt && turn(&s, prompt, strlen(prompt)))
		status = 1;
	const bool tty = isatty(STDIN_FILENO);
	size_t cap = 0, len;
	while (!one_turn && !status) {
		fputs("> ", stdout);
		fflush(stdout);
		int r = read_line(&line, &cap, &len);
		if (r < 0)
			break;
		if (r == 1) { /* Ctrl-C at the prompt: a fresh line */
			fputc('\n', stdout);
			continue;
		}
		if (!tty) { /* echo piped input, so the transcript reads as a conversation */
			fwrite(line, 1, len, stdout);
			fputc('\n', stdout);
		}
		if (!strcmp(line, "/quit") || !strcmp(line, "/exit"))
			break;
		if (!strcmp(line, "/reset")) {
			forget(&s, true);
			fputs("[conversation reset]\n", stdout);
			continue;
		}
		if (!strcmp(line, "/help")) {
			fputs("/reset forgets the conversation, /quit leaves; Ctrl-C stops a reply\n", stdout);
			continue;
		}
		if (len == 0)
			continue;
		turn(&s, line, len); /* a failed turn is reported; the session goes on (/reset, /quit) */
	}
	sigaction(SIGINT, &old_int, NULL);
out:
	free(line);
	if (s.ctx)
		forget(&s, false);
	free(s.msgs);
	sluice_sampler_free(s.smp);
	sluice_ctx_free(s.ctx);
	sluice_model_free(s.m);
	return status;
}

int cmd_chat(int argc, char **argv)
{
	return chat_main(argc, argv, false);
}

int cmd_run_chat(int argc, char **argv)
{
	return chat_main(argc, argv, true);
}
