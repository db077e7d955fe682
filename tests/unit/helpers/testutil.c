/* SPDX-License-Identifier: MIT */
/* tests/unit/helpers/testutil.c — see testutil.h. */
#include "testutil.h"
#include "gguf.h"
#include "sluice.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int t_failures;

void t_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(77);
}

int t_done(void)
{
	if (t_failures)
		fprintf(stderr, "%d check(s) failed\n", t_failures);
	return t_failures ? 1 : 0;
}

const char *t_tmp_path(const char *name)
{
	static char bufs[8][512];
	static int slot;
	const char *dir = getenv("SLUICE_TMP");
	if (!dir || !*dir)
		dir = "/var/tmp";
	char *b = bufs[slot++ % 8];
	snprintf(b, 512, "%s/%d-%s", dir, (int)getpid(), name);
	return b;
}

const char *t_models_dir(void)
{
	static char buf[512];
	const char *d = getenv("SLUICE_MODELS");
	if (!d || !*d)
		d = "../shared/models";
	struct stat st;
	if (stat(d, &st) || !S_ISDIR(st.st_mode))
		return NULL;
	snprintf(buf, sizeof(buf), "%s", d);
	return buf;
}

const char *t_model(const char *file)
{
	static char bufs[4][600];
	static int slot;
	const char *d = t_models_dir();
	if (!d)
		t_skip("shared model folder absent (SLUICE_MODELS / ../shared/models)");
	char *b = bufs[slot++ % 4];
	snprintf(b, 600, "%s/%s", d, file);
	return b;
}

void tb_bytes(struct t_buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

void tb_u32(struct t_buf *b, uint32_t v) { tb_bytes(b, &v, 4); }
void tb_u64(struct t_buf *b, uint64_t v) { tb_bytes(b, &v, 8); }

void tb_str(struct t_buf *b, const char *s)
{
	tb_u64(b, strlen(s));
	tb_bytes(b, s, strlen(s));
}

void tb_kv_u32(struct t_buf *b, const char *key, uint32_t v)
{
	tb_str(b, key);
	tb_u32(b, GGUF_TYPE_UINT32);
	tb_u32(b, v);
}

void tb_kv_str(struct t_buf *b, const char *key, const char *v)
{
	tb_str(b, key);
	tb_u32(b, GGUF_TYPE_STRING);
	tb_str(b, v);
}

void tb_header(struct t_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	tb_bytes(b, "GGUF", 4);
	tb_u32(b, version);
	tb_u64(b, n_tensors);
	tb_u64(b, n_kv);
}

void tb_tensor(struct t_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset)
{
	tb_str(b, name);
	tb_u32(b, n_dims);
	for (uint32_t i = 0; i < n_dims; i++)
		tb_u64(b, ne[i]);
	tb_u32(b, type);
	tb_u64(b, offset);
}

void tb_pad(struct t_buf *b, size_t align)
{
	static const uint8_t z[64];
	while (b->len % align)
		tb_bytes(b, z, 1);
}

const char *tb_write(struct t_buf *b, const char *name)
{
	const char *path = t_tmp_path(name);
	FILE *f = fopen(path, "wb");
	if (!f || (b->len && fwrite(b->p, 1, b->len, f) != b->len) || fclose(f)) {
		perror(path);
		exit(1);
	}
	return path;
}

void tb_free(struct t_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void t_expect_gguf_error(const char *path, ...)
{
	struct gguf_file *f = NULL;
	struct sl_err err = { "" };
	int rc = sl_gguf_open(path, &f, &err);
	CHECK_MSG(rc < 0, "%s opened but should have failed", path);
	if (rc >= 0) {
		sl_gguf_close(f);
		return;
	}
	CHECK_MSG(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
	va_list ap;
	va_start(ap, path);
	const char *needle;
	while ((needle = va_arg(ap, const char *)))
		CHECK_MSG(strstr(err.msg, needle) != NULL, "message lacks '%s': %s", needle, err.msg);
	va_end(ap);
	printf("ok: %s\n", err.msg);
}

struct sluice_model *t_load_model(const char *path, const char *backend, bool streamed)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.backend = backend;
	mp.n_threads = 2;
	mp.pressure = "none";
	if (streamed) {
		mp.vram_budget = 2u << 20;
		mp.host_cache = 6u << 20;
	}
	char err[512];
	struct sluice_model *m = NULL;
	int rc = sluice_model_load(path, &mp, &m, err, sizeof(err));
	CHECK_MSG(rc == 0, "load %s (%s, %s): %s", path, backend, streamed ? "streamed" : "resident", err);
	return rc ? NULL : m;
}

int t_open_model(const char *path, const struct sluice_model_params *mp, uint32_t n_ctx, struct sluice_model **m,
		 struct sluice_ctx **c)
{
	char err[512];
	if (sluice_model_load(path, mp, m, err, sizeof(err))) {
		fprintf(stderr, "FAIL: load %s: %s\n", path, err);
		return -1;
	}
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = n_ctx;
	if (sluice_ctx_new(*m, &cp, c, err, sizeof(err))) {
		fprintf(stderr, "FAIL: ctx %s: %s\n", path, err);
		sluice_model_free(*m);
		return -1;
	}
	return 0;
}

int t_write_dir_file(const char *dir, const char *name, const char *ext, const void *p, size_t n)
{
	char path[1024];
	if (snprintf(path, sizeof path, "%s/%s%s", dir, name, ext) >= (int)sizeof path)
		return -1;
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(p, 1, n, f);
	return fclose(f) || w != n ? -1 : 0;
}

void *t_read_dir_file(const char *dir, const char *name, const char *ext, size_t *n)
{
	char path[1024];
	if (snprintf(path, sizeof path, "%s/%s%s", dir, name, ext) >= (int)sizeof path) {
		*n = 0;
		return NULL;
	}
	return t_read_file(path, n);
}

void *t_read_file(const char *path, size_t *len)
{
	if (len)
		*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	long n = -1;
	if (fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	char *b = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	if (!b)
		return NULL;
	b[n] = 0;
	if (len)
		*len = (size_t)n;
	return b;
}

double t_max_abs(const float *a, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs((double)a[i]));
	return m;
}

double t_rel_diff(const float *a, const float *b, size_t n)
{
	double d = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(a[i]))
			return INFINITY;
		d = fmax(d, fabs((double)a[i] - (double)b[i]));
	}
	double s = t_max_abs(b, n);
	return s > 0 ? d / s : d;
}

int32_t t_argmax(const float *l, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (l[i] > l[best])
			best = i;
	return (int32_t)best;
}

void t_need_ref(const char *script)
{
	if (system("python3 -c 'import numpy, gguf' >/dev/null 2>&1") != 0)
		t_skip("python3 with numpy and gguf is needed for the reference forward pass");
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "FAIL: %s not found (run from the repository root)\n", script);
		exit(1);
	}
}

float *t_run_ref(const char *script, const char *model, const int32_t *toks, size_t n, size_t n_vocab,
		 const char *opts_fmt, ...)
{
	const char *out = t_tmp_path("ref-logits.f32");
	char opts[1024];
	va_list ap;
	va_start(ap, opts_fmt);
	vsnprintf(opts, sizeof(opts), opts_fmt, ap);
	va_end(ap);
	size_t cap = 256 + strlen(opts) + strlen(model) + 12 * n;
	char *cmd = malloc(cap);
	size_t len = (size_t)snprintf(cmd, cap, "python3 %s %s '%s' '%s'", script, opts, model, out);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(cmd + len, cap - len, " %d", toks[i]);
	snprintf(cmd + len, cap - len, " 2>&1");
	FILE *p = popen(cmd, "r");
	free(cmd);
	if (!p) {
		fprintf(stderr, "FAIL: popen python3\n");
		return NULL;
	}
	char line[512], first[512] = "";
	while (fgets(line, sizeof(line), p)) {
		if (!first[0])
			snprintf(first, sizeof(first), "%s", line);
		printf("  | %s", line);
	}
	int st = pclose(p);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		t_skip("%s", first);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "FAIL: %s exited with status %d on %s\n", script, st, model);
		return NULL;
	}
	float *l = malloc(n * n_vocab * sizeof(float));
	FILE *f = fopen(out, "rb");
	size_t got = f ? fread(l, sizeof(float), n * n_vocab, f) : 0;
	if (f)
		fclose(f);
	unlink(out);
	if (got != n * n_vocab) {
		fprintf(stderr, "FAIL: %s wrote %zu of %zu logits\n", script, got, n * n_vocab);
		free(l);
		return NULL;
	}
	return l;
}
