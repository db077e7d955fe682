/* SPDX-License-Identifier: MIT */
/* tools/sluice/imatrix_file.c — see imatrix_file.h. */
#include "imatrix_file.h"
#include "atomic_file.h"
#include "gguf.h"
#include "quant/quant.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sanity bounds of what a file may claim (a row of 2^26 floats is far beyond any model). */
#define IMX_MAX_NAME 4096
#define IMX_MAX_VALS (1 << 26)

struct imx_entry *imx_entry_get(struct imx *m, const char *name, int64_t cols, int64_t nmat, struct sl_err *err)
{
	for (size_t i = 0; i < m->n; i++) {
		struct imx_entry *e = &m->e[i];
		if (strcmp(e->name, name))
			continue;
		if (e->cols != cols || e->nmat != nmat) {
			sl_errf(err, EINVAL, "%s: seen with %lld columns x %lld matrices, now %lld x %lld", name,
				(long long)e->cols, (long long)e->nmat, (long long)cols, (long long)nmat);
			return NULL;
		}
		return e;
	}
	if (cols <= 0 || nmat <= 0 || cols * nmat > IMX_MAX_VALS) {
		sl_errf(err, EINVAL, "%s: bad shape %lld x %lld", name, (long long)cols, (long long)nmat);
		return NULL;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct imx_entry *ne = realloc(m->e, cap * sizeof(*ne));
		if (!ne)
			goto oom;
		m->e = ne;
		m->cap = cap;
	}
	struct imx_entry *e = &m->e[m->n];
	e->name = strdup(name);
	e->sum2 = calloc((size_t)(cols * nmat), sizeof(double));
	e->counts = calloc((size_t)nmat, sizeof(double));
	e->cols = cols;
	e->nmat = nmat;
	if (!e->name || !e->sum2 || !e->counts) {
		free(e->name);
		free(e->sum2);
		free(e->counts);
		goto oom;
	}
	m->n++;
	return e;
oom:
	sl_errf(err, ENOMEM, "out of memory");
	return NULL;
}

const struct imx_entry *imx_find(const struct imx *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].name, name))
			return &m->e[i];
	return NULL;
}

void imx_means(const struct imx_entry *e, int64_t mat, float *out)
{
	const double c = e->counts[mat];
	const double *s = e->sum2 + mat * e->cols;
	for (int64_t j = 0; j < e->cols; j++)
		out[j] = c > 0 ? (float)(s[j] / c) : 1.0f;
}

void imx_free(struct imx *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].name);
		free(m->e[i].sum2);
		free(m->e[i].counts);
	}
	free(m->e);
	free(m->dataset);
	memset(m, 0, sizeof(*m));
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct imx_entry *)a)->name, ((const struct imx_entry *)b)->name);
}

static int write_all(int fd, const void *p, size_t n, struct sl_err *err, const char *path)
{
	int rc = sl_write_all(fd, p, n, -1, NULL);
	return rc ? sl_errf(err, -rc, "%s: write: %s", path, strerror(-rc)) : 0;
}

static int write_dat(const struct imx *m, int fd, const char *path, struct sl_err *err)
{
	int32_t n = (int32_t)m->n;
	int rc = write_all(fd, &n, 4, err, path);
	const double chunk = m->chunk_size ? m->chunk_size : 1;
	for (size_t i = 0; i < m->n && !rc; i++) {
		const struct imx_entry *e = &m->e[i];
		int32_t len = (int32_t)strlen(e->name), nval = (int32_t)(e->cols * e->nmat);
		double maxc = 0;
		for (int64_t k = 0; k < e->nmat; k++)
			maxc = e->counts[k] > maxc ? e->counts[k] : maxc;
		int32_t ncall = (int32_t)ceil(maxc / chunk);
		float *v = malloc((size_t)nval * sizeof(float));
		if (!v)
			return sl_errf(err, ENOMEM, "out of memory");
		for (int64_t k = 0; k < e->nmat; k++) {
			imx_means(e, k, v + k * e->cols);
			for (int64_t j = 0; j < e->cols; j++)
				v[k * e->cols + j] *= (float)ncall;
		}
		if (!(rc = write_all(fd, &len, 4, err, path)) && !(rc = write_all(fd, e->name, (size_t)len, err, path)) &&
		    !(rc = write_all(fd, &ncall, 4, err, path)) && !(rc = write_all(fd, &nval, 4, err, path)))
			rc = write_all(fd, v, (size_t)nval * sizeof(float), err, path);
		free(v);
	}
	int32_t chunks = (int32_t)m->chunk_count, dlen = m->dataset ? (int32_t)strlen(m->dataset) : 0;
	if (!rc && !(rc = write_all(fd, &chunks, 4, err, path)) && !(rc = write_all(fd, &dlen, 4, err, path)))
		rc = write_all(fd, m->dataset ? m->dataset : "", (size_t)dlen, err, path);
	return rc;
}

static int write_gguf(const struct imx *m, int fd, const char *path, struct sl_err *err)
{
	struct gguf_writer *w = sl_gguf_writer_new(32);
	if (!w)
		return sl_errf(err, ENOMEM, "out of memory");
	const char *ds[1] = { m->dataset ? m->dataset : "" };
	int rc = sl_gguf_writer_set_str(w, "general.type", "imatrix");
	if (!rc)
		rc = sl_gguf_writer_set_arr_str(w, "imatrix.datasets", ds, m->dataset ? 1 : 0);
	if (!rc)
		rc = sl_gguf_writer_set_u32(w, "imatrix.chunk_count", m->chunk_count);
	if (!rc)
		rc = sl_gguf_writer_set_u32(w, "imatrix.chunk_size", m->chunk_size);
	char name[IMX_MAX_NAME + 16];
	for (size_t i = 0; i < m->n && rc >= 0; i++) {
		const struct imx_entry *e = &m->e[i];
		/* ggml writes [cols, nmat] and [1, nmat] with trailing 1-dims dropped */
		int64_t ne_s[2] = { e->cols, e->nmat }, ne_c[2] = { 1, e->nmat };
		snprintf(name, sizeof name, "%s.in_sum2", e->name);
		rc = sl_gguf_writer_add_tensor(w, name, SL_TYPE_F32, e->nmat > 1 ? 2 : 1, ne_s);
		if (rc < 0)
			break;
		snprintf(name, sizeof name, "%s.counts", e->name);
		rc = sl_gguf_writer_add_tensor(w, name, SL_TYPE_F32, e->nmat > 1 ? 2 : 1, ne_c);
	}
	if (rc < 0) {
		sl_gguf_writer_free(w);
		return sl_errf(err, -rc, "%s: building the GGUF header failed", path);
	}
	rc = sl_gguf_writer_write_header(w, fd, err);
	for (size_t i = 0; i < m->n && !rc; i++) {
		const struct imx_entry *e = &m->e[i];
		const size_t nv = (size_t)(e->cols * e->nmat);
		float *v = malloc((nv + (size_t)e->nmat) * sizeof(float));
		if (!v) {
			rc = sl_errf(err, ENOMEM, "out of memory");
			break;
		}
		for (size_t j = 0; j < nv; j++)
			v[j] = (float)e->sum2[j];
		for (int64_t k = 0; k < e->nmat; k++)
			v[nv + (size_t)k] = (float)e->counts[k];
		rc = sl_gguf_writer_write_data(w, fd, (int)(2 * i), 0, v, nv * sizeof(float), err);
		if (!rc)
			rc = sl_gguf_writer_write_data(w, fd, (int)(2 * i + 1), 0, v + nv, (size_t)e->nmat * sizeof(float),
						       err);
		free(v);
	}
	if (!rc)
		rc = sl_gguf_writer_finish(w, fd, err);
	sl_gguf_writer_free(w);
	return rc;
}

int imx_write(struct imx *m, const char *path, bool dat, struct sl_err *err)
{
	qsort(m->e, m->n, sizeof(*m->e), cmp_entry);
	struct sl_atomic_file af;
	int rc = sl_atomic_file_open(&af, path, NULL, err);
	if (rc)
		return rc;
	rc = dat ? write_dat(m, af.fd, path, err) : write_gguf(m, af.fd, path, err);
	if (rc) {
		sl_atomic_file_abort(&af);
		return rc;
	}
	return sl_atomic_file_commit(&af, err);
}

/* ---- reading ---- */

static int read_f32(const struct gguf_file *g, const struct gguf_tensor *t, float *out, struct sl_err *err)
{
	const size_t want = (size_t)sl_gguf_tensor_nelements(t) * sizeof(float);
	if (t->type != SL_TYPE_F32 || t->size != want)
		return sl_errf(err, EINVAL, "%s: tensor '%s' is %s, not f32", g->path, t->name.s, sl_type_name(t->type));
	ssize_t k = pread(g->fd, out, want, (off_t)t->file_offset);
	if (k != (ssize_t)want)
		return sl_errf(err, EIO, "%s: tensor '%s': short read", g->path, t->name.s);
	return 0;
}

static bool strip_suffix(char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	if (a <= b || strcmp(s + a - b, suf))
		return false;
	s[a - b] = 0;
	return true;
}

static int read_gguf(const char *path, struct imx *m, struct sl_err *err)
{
	struct gguf_file *g;
	int rc = sl_gguf_open(path, &g, err);
	if (rc)
		return rc;
	const char *type = NULL;
	if (!sl_gguf_find_kv(g, "general.type") || sl_gguf_get_str(g, "general.type", &type, err) ||
	    strcmp(type, "imatrix")) {
		rc = sl_errf(err, EINVAL, "%s: a GGUF file but not an importance matrix (general.type is %s%s%s)", path,
			     type ? "'" : "", type ? type : "missing", type ? "'" : "");
		goto out;
	}
	sl_gguf_get_u32(g, "imatrix.chunk_count", &m->chunk_count, NULL);
	sl_gguf_get_u32(g, "imatrix.chunk_size", &m->chunk_size, NULL);
	const struct gguf_kv *ds = sl_gguf_find_kv(g, "imatrix.datasets");
	if (ds && ds->val.type == GGUF_TYPE_ARRAY && ds->val.arr.type == GGUF_TYPE_STRING && ds->val.arr.n > 0)
		m->dataset = strdup(((const struct gguf_str *)ds->val.arr.data)[ds->val.arr.n - 1].s);
	char name[IMX_MAX_NAME + 16];
	for (uint64_t i = 0; i < g->n_tensors && !rc; i++) {
		const struct gguf_tensor *s = &g->tensors[i];
		if (s->name.len >= sizeof name)
			continue;
		memcpy(name, s->name.s, s->name.len + 1);
		if (!strip_suffix(name, ".in_sum2"))
			continue;
		char cname[sizeof name + sizeof ".counts"];
		snprintf(cname, sizeof cname, "%s.counts", name);
		const struct gguf_tensor *c = sl_gguf_find_tensor(g, cname);
		if (!c) {
			rc = sl_errf(err, EINVAL, "%s: '%s' has no '%s'", path, s->name.s, cname);
			break;
		}
		const int64_t cols = s->ne[0], nmat = s->ne[1];
		if (s->n_dims > 2 || c->n_dims > 2 || c->ne[0] != 1 || c->ne[1] != nmat) {
			rc = sl_errf(err, EINVAL, "%s: '%s' is [%lld, %lld] but '%s' is [%lld, %lld] (want [1, %lld])", path,
				     s->name.s, (long long)cols, (long long)nmat, cname, (long long)c->ne[0],
				     (long long)c->ne[1], (long long)nmat);
			break;
		}
		struct imx_entry *e = imx_entry_get(m, name, cols, nmat, err);
		float *v = e ? malloc((size_t)(cols * nmat + nmat) * sizeof(float)) : NULL;
		if (!e || !v) {
			free(v);
			rc = e ? sl_errf(err, ENOMEM, "out of memory") : -EINVAL;
			break;
		}
		if (!(rc = read_f32(g, s, v, err)) && !(rc = read_f32(g, c, v + cols * nmat, err))) {
			for (int64_t j = 0; j < cols * nmat; j++)
				e->sum2[j] = v[j];
			for (int64_t k = 0; k < nmat; k++) {
				e->counts[k] = v[cols * nmat + k];
				if (!(e->counts[k] >= 0))
					rc = sl_errf(err, EINVAL, "%s: '%s' holds a negative or NaN count", path, cname);
			}
		}
		free(v);
	}
	if (!rc && m->n == 0)
		rc = sl_errf(err, EINVAL, "%s: an importance matrix with no entries", path);
out:
	sl_gguf_close(g);
	return rc;
}

static bool rd(FILE *f, void *p, size_t n)
{
	return fread(p, 1, n, f) == n;
}

static int read_dat(FILE *f, const char *path, struct imx *m, struct sl_err *err)
{
	int32_t n;
	if (!rd(f, &n, 4) || n < 1 || n > 1000000)
		return sl_errf(err, EINVAL, "%s: not an importance matrix (neither GGUF nor llama.cpp's .dat: %d entries)",
			       path, n);
	char name[IMX_MAX_NAME + 1];
	for (int32_t i = 0; i < n; i++) {
		int32_t len, ncall, nval;
		if (!rd(f, &len, 4) || len < 1 || len > IMX_MAX_NAME || !rd(f, name, (size_t)len))
			return sl_errf(err, EINVAL, "%s: entry %d: bad or truncated name", path, i);
		name[len] = 0;
		if (!rd(f, &ncall, 4) || !rd(f, &nval, 4) || ncall < 0 || nval < 1 || nval > IMX_MAX_VALS)
			return sl_errf(err, EINVAL, "%s: entry '%s': bad or truncated header", path, name);
		struct imx_entry *e = imx_entry_get(m, name, nval, 1, err);
		if (!e)
			return -EINVAL;
		float *v = malloc((size_t)nval * sizeof(float));
		if (!v)
			return sl_errf(err, ENOMEM, "out of memory");
		bool ok = rd(f, v, (size_t)nval * sizeof(float));
		/* values are mean * ncall: the sums of ncall rows give the mean back */
		for (int32_t j = 0; ok && j < nval; j++)
			e->sum2[j] = v[j];
		e->counts[0] = ncall;
		free(v);
		if (!ok)
			return sl_errf(err, EINVAL, "%s: entry '%s': truncated values", path, name);
	}
	int32_t chunks, dlen;
	if (rd(f, &chunks, 4)) {
		m->chunk_count = chunks > 0 ? (uint32_t)chunks : 0;
		if (rd(f, &dlen, 4) && dlen > 0 && dlen <= IMX_MAX_NAME && (m->dataset = calloc(1, (size_t)dlen + 1)) &&
		    !rd(f, m->dataset, (size_t)dlen)) {
			free(m->dataset);
			m->dataset = NULL;
		}
	}
	return 0;
}

int imx_read(const char *path, struct imx *m, struct sl_err *err)
{
	memset(m, 0, sizeof(*m));
	FILE *f = fopen(path, "rb");
	if (!f)
		return sl_errf(err, errno, "%s: %s", path, strerror(errno));
	char magic[4] = { 0 };
	bool is_gguf = rd(f, magic, 4) && !memcmp(magic, "GGUF", 4);
	int rc;
	if (is_gguf) {
		fclose(f);
		rc = read_gguf(path, m, err);
	} else {
		rewind(f);
		rc = read_dat(f, path, m, err);
		fclose(f);
	}
	if (rc)
		imx_free(m);
	return rc;
}
