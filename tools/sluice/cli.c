/* SPDX-License-Identifier: MIT */
/* tools/sluice/cli.c — option parsing and messages shared by the subcommands. */
#include "cli.h"
#include "atomic_file.h"
#include "internal.h"
#include "sluice.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_error(const char *cmd, const char *fmt, ...)
{
	char msg[2048], safe[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages quote file names, metadata and tensor names: no raw control bytes on a terminal. */
	fprintf(stderr, "sluice %s: %s\n", cmd, cli_safe(msg, strlen(msg), safe, sizeof(safe)));
	return 1;
}

/* ---- untrusted text: one UTF-8 check, one JSON string writer, one terminal-safe writer ---- */

/* Length of the valid UTF-8 sequence at s (n bytes available): 1..4, or 0 when s[0] does not
 * start one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	unsigned lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

void cli_json_str(FILE *o, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', o);
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t k = utf8_seq(s + i, len - i);
		if (!k) {
			fputs("\\ufffd", o); /* a byte that is not UTF-8: U+FFFD REPLACEMENT CHARACTER */
			i++;
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(o, "\\u%04x", c);
		else
			fwrite(s + i, 1, k, o);
		i += k;
	}
	fputc('"', o);
}

void cli_json_cstr(FILE *o, const char *s)
{
	cli_json_str(o, s ? s : "", s ? strlen(s) : 0);
}

void cli_json_num(FILE *o, double v, int decimals)
{
	if (!isfinite(v))
		fputs("null", o); /* JSON has no NaN or infinity */
	else if (decimals >= 0)
		fprintf(o, "%.*f", decimals, v);
	else
		fprintf(o, "%.*g", -decimals, v);
}

const char *cli_safe(const char *str, size_t len, char *buf, size_t cap)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t j = 0;
	if (!cap)
		return "";
	for (size_t i = 0; i < len;) {
		char tmp[16];
		size_t k = utf8_seq(s + i, len - i), t;
		unsigned c = s[i];
		bool c1 = k == 2 && c == 0xc2 && s[i + 1] < 0xa0; /* U+0080..U+009F: C1 controls */
		if (!k || c1 || c < 0x20 || c == 0x7f) {
			t = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			k = 1; /* a C1 control: its two bytes one by one */
		} else if (c == '\\') {
			t = 2;
			memcpy(tmp, "\\\\", 2);
		} else {
			t = k;
			memcpy(tmp, s + i, k);
		}
		if (j + t + 4 > cap) { /* room for "..." and the NUL */
			memcpy(buf + j, "...", 3);
			j += 3;
			break;
		}
		memcpy(buf + j, tmp, t);
		j += t;
		i += k;
	}
	buf[j] = 0;
	return buf;
}

void cli_text(FILE *o, const char *s, size_t len)
{
	char buf[4096];
	fputs(cli_safe(s, len, buf, sizeof(buf)), o);
}

/* ---- output that cannot be written is a failure ---- */

/* The reason of the first failed flush: glibc drops the buffer of a failed write, so a later
 * fflush may succeed with nothing left to write and errno no longer says why. */
static int stdout_errno;

int cli_flush_stdout(void)
{
	int e = errno; /* what a failed fwrite/fputs just before left */
	if (fflush(stdout))
		e = errno;
	else if (!ferror(stdout))
		return 0;
	if (!stdout_errno)
		stdout_errno = e ? e : EIO;
	return -1;
}

int cli_finish(int status)
{
	int e = stdout_errno;
	bool bad = ferror(stdout) || e;
	errno = 0;
	if (fflush(stdout) && !e)
		bad = true, e = errno;
	if (fclose(stdout) && !e)
		bad = true, e = errno;
	if (!bad)
		return status;
	fprintf(stderr, "sluice: writing output: %s\n", strerror(e ? e : EIO));
	return 1;
}

/* ---- a signal removes the temporary file of a write in progress ---- */

static void on_fatal_signal(int sig)
{
	sl_atomic_file_remove_pending();
	signal(sig, SIG_DFL);
	raise(sig); /* delivered on return, with the default action: the exit status says which signal */
}

void cli_cleanup_on_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;
		/* keep a signal the parent ignores (nohup) ignored */
		if (!sigaction(sigs[i], NULL, &old) && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

/* ---- inputs: a file or a block device, never a FIFO, a socket or a character device ---- */

int cli_check_input(const char *cmd, const char *path)
{
	struct stat st;
	if (stat(path, &st))
		return 0; /* the opener says what is wrong (no such file, permission) */
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
		return 0; /* a directory: the opener's message */
	return cli_error(cmd, "%s: is %s, not a regular file or block device", path,
			 S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device" :
			 S_ISSOCK(st.st_mode) ? "a socket" : "not a regular file");
}

bool cli_int(const char *cmd, const char *opt, const char *val, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < min || v > max) {
		cli_error(cmd, "%s: '%s' is not a whole number from %ld to %ld", opt, val, min, max);
		return false;
	}
	*out = v;
	return true;
}

bool cli_expert_policy(const char *cmd, const char *val, const char **out)
{
	if (strcmp(val, "lfru") && strcmp(val, "lru")) {
		cli_error(cmd, "--expert-policy: unknown policy '%s' (lfru, lru)", val);
		return false;
	}
	*out = val;
	return true;
}

bool cli_pregate(const char *cmd, const char *val, int *out)
{
	long n;
	if (!strcmp(val, "off")) {
		*out = -1;
		return true;
	}
	if (!cli_int(cmd, "--pregate", val, 1, SLUICE_MAX_PREGATE, &n))
		return false;
	*out = (int)n;
	return true;
}

bool cli_trace_experts(const char *cmd, const char *val, const char **out)
{
	if (!*val) {
		cli_error(cmd, "--trace-experts: empty file name");
		return false;
	}
	*out = val;
	return true;
}

bool cli_u64(const char *cmd, const char *opt, const char *val, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(val, &end, 10);
	const char *p = val;
	while (isspace((unsigned char)*p)) /* strtoull skips it too, then takes "-1" as 2^64-1 */
		p++;
	if (errno || end == val || *end || *p == '-') {
		cli_error(cmd, "%s: '%s' is not a non-negative whole number", opt, val);
		return false;
	}
	*out = v;
	return true;
}

bool cli_float(const char *cmd, const char *opt, const char *val, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (errno || end == val || *end || !isfinite(v) || v < min || v > max) {
		cli_error(cmd, "%s: '%s' is not a number from %g to %g", opt, val, min, max);
		return false;
	}
	*out = v;
	return true;
}

bool cli_size(const char *cmd, const char *opt, const char *val, uint64_t *out)
{
	if (sl_parse_size(val, out)) {
		cli_error(cmd, "%s: '%s' is not a size (examples: 512M, 8G, 1.5G, 4096)", opt, val);
		return false;
	}
	return true;
}

/* ---- the model and its context, from the options the commands share ---- */

void cli_model_params(struct sluice_model_params *mp, const struct cli_model_opts *o)
{
	sluice_model_params_init(mp);
	mp->n_threads = (int)o->threads;
	mp->vram_budget = o->vram;
	mp->host_cache = o->host_cache;
	if (o->io)
		mp->io_engine = o->io;
	if (o->backend)
		mp->backend = o->backend;
	mp->lookahead = (int)o->lookahead;
	if (o->pressure)
		mp->pressure = o->pressure;
	mp->expert_policy = o->expert_policy;
	mp->pregate = o->pregate;
	mp->trace_experts = o->trace_experts;
	if (o->devs)
		cli_devices_params(o->devs, mp);
}

int cli_load_model(const char *cmd, const char *path, const struct sluice_model_params *mp, struct sluice_model **m)
{
	char err[512];
	if (sluice_model_load(path, mp, m, err, sizeof(err)))
		return cli_error(cmd, "%s", err);
	return 0;
}

int cli_new_ctx(const char *cmd, struct sluice_model *m, uint32_t n_ctx, struct sluice_ctx **ctx)
{
	char err[512];
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = n_ctx;
	if (sluice_ctx_new(m, &cp, ctx, err, sizeof(err)))
		return cli_error(cmd, "%s", err);
	return 0;
}

void cli_progress(const char *label, uint64_t done, uint64_t total)
{
	static int last = -1;
	if (!isatty(2) || !total)
		return;
	int pct = (int)(done * 100 / total);
	if (pct == last && done != total)
		return;
	last = pct;
	int bars = pct / 4;
	fprintf(stderr, "\r%-12s [%.*s%*s] %3d%%", label, bars, "#########################", 25 - bars, "", pct);
	if (done >= total) {
		fputc('\n', stderr);
		last = -1;
	}
	fflush(stderr);
}
