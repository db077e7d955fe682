/* SPDX-License-Identifier: MIT */
/*
 * runtime/gguf.c — GGUF reader.
 *
 * Layout (v2/v3): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, then n_kv
 * key/value pairs, then n_tensors tensor infos, then padding to the alignment,
 * then the data section.  All integers little-endian.
 *
 * The header is read through a small buffered reader over pread.  Before any
 * allocation sized by the file, the size is checked against the bytes left, so
 * "n = 2^60" or a string of 2^40 bytes is an error, not an OOM.
 */
#include "gguf.h"
#include "quant/quant.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RD_BUF (1u << 20)

struct reader {
	int fd;
	const char *path;
	uint64_t file_size;
	uint64_t pos;       /* file offset of the next byte */
	uint8_t *buf;
	uint64_t buf_off;   /* file offset of buf[0] */
	size_t buf_len;
	struct sl_err *err;
	const char *what;   /* what is being read, for messages */
};

static uint64_t rd_left(const struct reader *r)
{
	return r->pos <= r->file_size ? r->file_size - r->pos : 0;
}

static int rd_bytes(struct reader *r, void *dst, uint64_t n)
{
	if (n > rd_left(r))
		return sl_errf(r->err, EINVAL, "%s: truncated file: %s needs %llu bytes at offset %llu, file is %llu bytes",
			       r->path, r->what, (unsigned long long)n, (unsigned long long)r->pos,
			       (unsigned long long)r->file_size);
	uint8_t *d = dst;
	while (n) {
		if (r->pos >= r->buf_off && r->pos < r->buf_off + r->buf_len) {
			size_t off = (size_t)(r->pos - r->buf_off);
			size_t k = (size_t)SL_MIN((uint64_t)(r->buf_len - off), n);
			memcpy(d, r->buf + off, k);
			d += k;
			n -= k;
			r->pos += k;
			continue;
		}
		ssize_t got;
		do
			got = pread(r->fd, r->buf, RD_BUF, (off_t)r->pos);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return sl_errf(r->err, errno, "%s: read error at offset %llu: %s", r->path,
				       (unsigned long long)r->pos, strerror(errno));
		if (got == 0)
			return sl_errf(r->err, EINVAL, "%s: truncated file: unexpected end at offset %llu while reading %s",
				       r->path, (unsigned long long)r->pos, r->what);
		r->buf_off = r->pos;
		r->buf_len = (size_t)got;
	}
	return 0;
}

#define RD_SCALAR(name, type)                                   \
	static int name(struct reader *r, type *v)              \
	{                                                       \
		return rd_bytes(r, v, sizeof(*v));              \
	}
RD_SCALAR(rd_u32, uint32_t)
RD_SCALAR(rd_u64, uint64_t)

const char *sl_gguf_vtype_name(uint32_t t)
{
	static const char *const names[GGUF_TYPE_COUNT] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
		"bool", "string", "array", "uint64", "int64", "float64",
	};
	return t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}

size_t sl_gguf_vtype_size(uint32_t t)
{
	switch (t) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
	case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
	case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
	case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
	default: return 0;
	}
}

static int rd_str(struct reader *r, struct gguf_str *s)
{
	uint64_t len;
	int rc = rd_u64(r, &len);
	if (rc)
		return rc;
	if (len > rd_left(r))
		return sl_errf(r->err, EINVAL, "%s: %s: string length %llu at offset %llu exceeds the %llu bytes left in the file",
			       r->path, r->what, (unsigned long long)len, (unsigned long long)(r->pos - 8),
			       (unsigned long long)rd_left(r));
	s->s = malloc(len + 1);
	if (!s->s)
		return sl_errf(r->err, ENOMEM, "%s: out of memory reading a string of %llu bytes", r->path,
			       (unsigned long long)len);
	s->len = len;
	rc = rd_bytes(r, s->s, len);
	s->s[len] = 0;
	return rc;
}

static void value_free(struct gguf_value *v);

static void arr_free(uint32_t type, uint64_t n, void *data)
{
	if (!data)
		return;
	if (type == GGUF_TYPE_STRING) {
		struct gguf_str *s = data;
		for (uint64_t i = 0; i < n; i++)
			free(s[i].s);
	} else if (type == GGUF_TYPE_ARRAY) {
		struct gguf_value *v = data;
		for (uint64_t i = 0; i < n; i++)
			value_free(&v[i]);
	}
	free(data);
}

static void value_free(struct gguf_value *v)
{
	if (v->type == GGUF_TYPE_STRING)
		free(v->str.s);
	else if (v->type == GGUF_TYPE_ARRAY)
		arr_free(v->arr.type, v->arr.n, v->arr.data);
	v->type = GGUF_TYPE_UINT8;
}

static int rd_value(struct reader *r, uint32_t type, struct gguf_value *v, int depth);

static int rd_array(struct reader *r, struct gguf_value *v, int depth)
{
	uint32_t et;
	uint64_t n;
	int rc;
	if (depth >= GGUF_MAX_NESTING)
		return sl_errf(r->err, EINVAL, "%s: %s: arrays nested deeper than %d", r->path, r->what,
			       GGUF_MAX_NESTING);
	if ((rc = rd_u32(r, &et)) || (rc = rd_u64(r, &n)))
		return rc;
	if (et >= GGUF_TYPE_COUNT)
		return sl_errf(r->err, EINVAL, "%s: %s: unknown array element type %u", r->path, r->what, et);
	/* Every element takes at least one byte (8 for strings and arrays): bound n by the bytes left. */
	size_t esz = sl_gguf_vtype_size(et);
	uint64_t min_bytes = esz ? esz : (et == GGUF_TYPE_STRING ? 8 : 12);
	if (n > rd_left(r) / min_bytes)
		return sl_errf(r->err, EINVAL, "%s: %s: array of %llu %s elements cannot fit in the %llu bytes left in the file",
			       r->path, r->what, (unsigned long long)n, sl_gguf_vtype_name(et),
			       (unsigned long long)rd_left(r));
	v->arr.type = et;
	v->arr.n = 0;
	if (esz) {
		v->arr.data = malloc(n ? n * esz : 1);
		if (!v->arr.data)
			return sl_errf(r->err, ENOMEM, "%s: out of memory for an array of %llu elements", r->path,
				       (unsigned long long)n);
		v->arr.n = n;
		return rd_bytes(r, v->arr.data, n * esz);
	}
	size_t elem = et == GGUF_TYPE_STRING ? sizeof(struct gguf_str) : sizeof(struct gguf_value);
	v->arr.data = calloc(n ? n : 1, elem);
	if (!v->arr.data)
		return sl_errf(r->err, ENOMEM, "%s: out of memory for an array of %llu elements", r->path,
			       (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		v->arr.n = i + 1; /* so a failure frees what was read */
		if (et == GGUF_TYPE_STRING)
			rc = rd_str(r, &((struct gguf_str *)v->arr.data)[i]);
		else
			rc = rd_value(r, et, &((struct gguf_value *)v->arr.data)[i], depth + 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int rd_value(struct reader *r, uint32_t type, struct gguf_value *v, int depth)
{
	int rc;
	v->type = type;
	switch (type) {
	case GGUF_TYPE_UINT8: { uint8_t x; rc = rd_bytes(r, &x, 1); v->u64 = x; return rc; }
	case GGUF_TYPE_INT8: { int8_t x; rc = rd_bytes(r, &x, 1); v->i64 = x; return rc; }
	case GGUF_TYPE_UINT16: { uint16_t x; rc = rd_bytes(r, &x, 2); v->u64 = x; return rc; }
	case GGUF_TYPE_INT16: { int16_t x; rc = rd_bytes(r, &x, 2); v->i64 = x; return rc; }
	case GGUF_TYPE_UINT32: { uint32_t x; rc = rd_bytes(r, &x, 4); v->u64 = x; return rc; }
	case GGUF_TYPE_INT32: { int32_t x; rc = rd_bytes(r, &x, 4); v->i64 = x; return rc; }
	case GGUF_TYPE_UINT64: return rd_bytes(r, &v->u64, 8);
	case GGUF_TYPE_INT64: return rd_bytes(r, &v->i64, 8);
	case GGUF_TYPE_FLOAT32: { float x; rc = rd_bytes(r, &x, 4); v->f64 = x; return rc; }
	case GGUF_TYPE_FLOAT64: return rd_bytes(r, &v->f64, 8);
	case GGUF_TYPE_BOOL: {
		uint8_t x;
		if ((rc = rd_bytes(r, &x, 1)))
			return rc;
		if (x > 1)
			return sl_errf(r->err, EINVAL, "%s: %s: bool value %u is neither 0 nor 1", r->path, r->what, x);
		v->b = x;
		return 0;
	}
	case GGUF_TYPE_STRING:
		v->str.s = NULL;
		return rd_str(r, &v->str);
	case GGUF_TYPE_ARRAY:
		v->arr.data = NULL;
		v->arr.n = 0;
		return rd_array(r, v, depth);
	default:
		v->type = GGUF_TYPE_UINT8;
		return sl_errf(r->err, EINVAL, "%s: %s: unknown value type %u", r->path, r->what, type);
	}
}

void sl_gguf_close(struct gguf_file *f)
{
	if (!f)
		return;
	for (uint64_t i = 0; i < f->n_kv; i++) {
		free(f->kv[i].key.s);
		value_free(&f->kv[i].val);
	}
	free(f->kv);
	for (uint64_t i = 0; i < f->n_tensors; i++)
		free(f->tensors[i].name.s);
	free(f->tensors);
	if (f->own_fd && f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

static int cmp_str(const struct gguf_str *a, const struct gguf_str *b)
{
	uint64_t n = SL_MIN(a->len, b->len);
	int c = memcmp(a->s, b->s, n);
	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

struct name_table {
	const uint8_t *base; /* first element; each starts with its struct gguf_str */
	size_t stride;
};

static const struct gguf_str *name_at(const struct name_table *t, uint64_t i)
{
	return (const struct gguf_str *)(const void *)(t->base + i * t->stride);
}

static int cmp_idx_by_name(const void *a, const void *b, void *ctx)
{
	return cmp_str(name_at(ctx, *(const uint64_t *)a), name_at(ctx, *(const uint64_t *)b));
}

/* Refuse duplicate names among n elements (metadata keys or tensor infos): sort indices, compare neighbours. */
static int check_unique(const char *path, const void *base, size_t stride, uint64_t n, const char *what,
			struct sl_err *err)
{
	if (n < 2)
		return 0;
	struct name_table t = { base, stride };
	uint64_t *idx = malloc(n * sizeof(*idx));
	if (!idx)
		return sl_errf(err, ENOMEM, "%s: out of memory", path);
	for (uint64_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_idx_by_name, &t);
	int rc = 0;
	for (uint64_t i = 1; i < n && !rc; i++)
		if (!cmp_str(name_at(&t, idx[i - 1]), name_at(&t, idx[i])))
			rc = sl_errf(err, EINVAL, "%s: duplicate %s '%s'", path, what, name_at(&t, idx[i])->s);
	free(idx);
	return rc;
}

struct span {
	uint64_t off, end, i;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static int check_tensors(struct gguf_file *f, struct sl_err *err)
{
	uint64_t data_size = f->file_size - f->data_offset;
	uint64_t n = f->n_tensors;
	/* Sort a permutation by offset to find overlaps. */
	struct span *sp = malloc((n ? n : 1) * sizeof(*sp));
	if (!sp)
		return sl_errf(err, ENOMEM, "%s: out of memory", f->path);
	for (uint64_t i = 0; i < n; i++) {
		struct gguf_tensor *t = &f->tensors[i];
		if (t->offset % f->alignment) {
			free(sp);
			return sl_errf(err, EINVAL, "%s: tensor '%s': data offset %llu is not a multiple of the alignment %llu",
				       f->path, t->name.s, (unsigned long long)t->offset,
				       (unsigned long long)f->alignment);
		}
		if (t->offset > data_size || t->size > data_size - t->offset) {
			free(sp);
			return sl_errf(err, EINVAL, "%s: tensor '%s': data [%llu, +%llu) runs past the end of the file (data section is %llu bytes)",
				       f->path, t->name.s, (unsigned long long)t->offset,
				       (unsigned long long)t->size, (unsigned long long)data_size);
		}
		t->file_offset = f->data_offset + t->offset;
		sp[i] = (struct span){ t->offset, t->offset + t->size, i };
	}
	qsort(sp, n, sizeof(*sp), cmp_span);
	for (uint64_t i = 1; i < n; i++) {
		if (sp[i].off < sp[i - 1].end && sp[i].end > sp[i].off && sp[i - 1].end > sp[i - 1].off) {
			int rc = sl_errf(err, EINVAL, "%s: tensors '%s' and '%s' overlap in the data section",
					 f->path, f->tensors[sp[i - 1].i].name.s, f->tensors[sp[i].i].name.s);
			free(sp);
			return rc;
		}
	}
	free(sp);
	return 0;
}

static int read_tensor_info(struct reader *r, struct gguf_file *f, struct gguf_tensor *t, uint64_t i)
{
	int rc;
	r->what = "tensor name";
	if ((rc = rd_str(r, &t->name)))
		return rc;
	r->what = "tensor info";
	if ((rc = rd_u32(r, &t->n_dims)))
		return rc;
	if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
		return sl_errf(r->err, EINVAL, "%s: tensor '%s': %u dimensions (1 to %d allowed)", f->path, t->name.s,
			       t->n_dims, GGUF_MAX_DIMS);
	for (int d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	uint64_t nel = 1;
	for (uint32_t d = 0; d < t->n_dims; d++) {
		uint64_t ne;
		if ((rc = rd_u64(r, &ne)))
			return rc;
		if (ne == 0 || ne > INT64_MAX)
			return sl_errf(r->err, EINVAL, "%s: tensor '%s': dimension %u is %llu", f->path, t->name.s, d,
				       (unsigned long long)ne);
		if (sl_mul_overflow_u64(nel, ne, &nel) || nel > INT64_MAX)
			return sl_errf(r->err, EINVAL, "%s: tensor '%s': dimensions overflow (element count too large)",
				       f->path, t->name.s);
		t->ne[d] = (int64_t)ne;
	}
	if ((rc = rd_u32(r, &t->type)) || (rc = rd_u64(r, &t->offset)))
		return rc;
	const struct sl_type_traits *tt = sl_type_traits(t->type);
	if (!tt)
		return sl_errf(r->err, EINVAL, "%s: tensor '%s': unknown or unsupported tensor type %u", f->path,
			       t->name.s, t->type);
	if (t->ne[0] % tt->block_size)
		return sl_errf(r->err, EINVAL, "%s: tensor '%s': row length %lld is not a multiple of the %s block size %lld",
			       f->path, t->name.s, (long long)t->ne[0], tt->name, (long long)tt->block_size);
	uint64_t rows = nel / (uint64_t)t->ne[0];
	uint64_t row_bytes;
	if (sl_mul_overflow_u64((uint64_t)(t->ne[0] / tt->block_size), tt->type_size, &row_bytes) ||
	    sl_mul_overflow_u64(rows, row_bytes, &t->size))
		return sl_errf(r->err, EINVAL, "%s: tensor '%s': byte size overflows", f->path, t->name.s);
	(void)i;
	return 0;
}

int sl_gguf_open_fd(int fd, const char *path, struct gguf_file **out, struct sl_err *err)
{
	struct stat st;
	int rc;
	*out = NULL;
	if (fstat(fd, &st))
		return sl_errf(err, errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return sl_errf(err, EISDIR, "%s: is a directory, not a GGUF file", path);

	struct gguf_file *f = calloc(1, sizeof(*f));
	struct reader r = { .fd = fd, .path = path, .err = err, .what = "header" };
	if (!f || !(f->path = strdup(path)) || !(r.buf = malloc(RD_BUF))) {
		if (f)
			free(f->path);
		free(f);
		return sl_errf(err, ENOMEM, "%s: out of memory", path);
	}
	f->fd = fd;
	f->file_size = (uint64_t)st.st_size;
	r.file_size = f->file_size;
	if (!S_ISREG(st.st_mode)) { /* a block device: ask its size */
		off_t end = lseek(fd, 0, SEEK_END);
		if (end > 0)
			r.file_size = f->file_size = (uint64_t)end;
	}

	char magic[4];
	r.what = "magic";
	if (f->file_size < 4) {
		rc = sl_errf(err, EINVAL, "%s: not a GGUF file: only %llu bytes long", path,
			     (unsigned long long)f->file_size);
		goto fail;
	}
	if ((rc = rd_bytes(&r, magic, 4)))
		goto fail;
	if (memcmp(magic, GGUF_MAGIC, 4)) {
		rc = sl_errf(err, EINVAL, "%s: not a GGUF file: bad magic %02x %02x %02x %02x (expected \"GGUF\")",
			     path, (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
		goto fail;
	}
	r.what = "version";
	if ((rc = rd_u32(&r, &f->version)))
		goto fail;
	if (f->version == 1) {
		rc = sl_errf(err, ENOTSUP, "%s: GGUF version 1 is obsolete and not supported (32-bit counts); "
			     "convert the model again with a current llama.cpp (GGUF v2 or v3)", path);
		goto fail;
	}
	if (f->version != 2 && f->version != 3) {
		if ((f->version & 0xffff) == 0 && (f->version >> 24) >= 2 && (f->version >> 24) <= 3)
			rc = sl_errf(err, ENOTSUP, "%s: big-endian GGUF files are not supported", path);
		else
			rc = sl_errf(err, ENOTSUP, "%s: unsupported GGUF version %u (2 and 3 are supported)", path,
				     f->version);
		goto fail;
	}
	uint64_t n_tensors, n_kv;
	r.what = "counts";
	if ((rc = rd_u64(&r, &n_tensors)) || (rc = rd_u64(&r, &n_kv)))
		goto fail;
	/* A key/value pair takes at least 8+0+4+1 bytes, a tensor info at least 8+0+4+8+4+8. */
	if (n_kv > rd_left(&r) / 13) {
		rc = sl_errf(err, EINVAL, "%s: metadata count %llu cannot fit in a %llu-byte file", path,
			     (unsigned long long)n_kv, (unsigned long long)f->file_size);
		goto fail;
	}
	if (n_tensors > rd_left(&r) / 32) {
		rc = sl_errf(err, EINVAL, "%s: tensor count %llu cannot fit in a %llu-byte file", path,
			     (unsigned long long)n_tensors, (unsigned long long)f->file_size);
		goto fail;
	}

	f->kv = calloc(n_kv ? n_kv : 1, sizeof(*f->kv));
	f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof(*f->tensors));
	if (!f->kv || !f->tensors) {
		rc = sl_errf(err, ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	char what[160];
	for (uint64_t i = 0; i < n_kv; i++) {
		struct gguf_kv *kv = &f->kv[i];
		uint32_t type;
		f->n_kv = i + 1;
		kv->val.type = GGUF_TYPE_UINT8;
		r.what = "metadata key";
		if ((rc = rd_str(&r, &kv->key)))
			goto fail;
		snprintf(what, sizeof(what), "metadata '%.100s'", kv->key.s);
		r.what = what;
		if ((rc = rd_u32(&r, &type)) || (rc = rd_value(&r, type, &kv->val, 0)))
			goto fail;
	}
	_Static_assert(offsetof(struct gguf_kv, key) == 0, "names first");
	_Static_assert(offsetof(struct gguf_tensor, name) == 0, "names first");
	if ((rc = check_unique(path, f->kv, sizeof(*f->kv), n_kv, "metadata key", err)))
		goto fail;

	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	const struct gguf_kv *al = sl_gguf_find_kv(f, "general.alignment");
	if (al) {
		if (al->val.type != GGUF_TYPE_UINT32 || al->val.u64 == 0 || (al->val.u64 & (al->val.u64 - 1))) {
			rc = sl_errf(err, EINVAL, "%s: general.alignment must be a power-of-two uint32", path);
			goto fail;
		}
		f->alignment = al->val.u64;
	}

	for (uint64_t i = 0; i < n_tensors; i++) {
		f->n_tensors = i + 1;
		if ((rc = read_tensor_info(&r, f, &f->tensors[i], i)))
			goto fail;
	}
	if ((rc = check_unique(path, f->tensors, sizeof(*f->tensors), n_tensors, "tensor name", err)))
		goto fail;
	f->data_offset = SL_ALIGN_UP(r.pos, f->alignment);
	if (f->data_offset > f->file_size) {
		if (n_tensors) {
			rc = sl_errf(err, EINVAL, "%s: truncated file: the data section would start at %llu, past the end (%llu bytes)",
				     path, (unsigned long long)f->data_offset, (unsigned long long)f->file_size);
			goto fail;
		}
		f->data_offset = f->file_size;
	}
	if ((rc = check_tensors(f, err)))
		goto fail;
	free(r.buf);
	*out = f;
	return 0;
fail:
	free(r.buf);
	f->own_fd = false;
	sl_gguf_close(f);
	return rc;
}

int sl_gguf_open(const char *path, struct gguf_file **out, struct sl_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sl_errf(err, errno, "%s: cannot open: %s", path, strerror(errno));
	int rc = sl_gguf_open_fd(fd, path, out, err);
	if (rc) {
		close(fd);
		return rc;
	}
	(*out)->own_fd = true;
	return 0;
}

const struct gguf_kv *sl_gguf_find_kv(const struct gguf_file *f, const char *key)
{
	size_t len = strlen(key);
	for (uint64_t i = 0; i < f->n_kv; i++)
		if (f->kv[i].key.len == len && !memcmp(f->kv[i].key.s, key, len))
			return &f->kv[i];
	return NULL;
}

const struct gguf_tensor *sl_gguf_find_tensor(const struct gguf_file *f, const char *name)
{
	size_t len = strlen(name);
	for (uint64_t i = 0; i < f->n_tensors; i++)
		if (f->tensors[i].name.len == len && !memcmp(f->tensors[i].name.s, name, len))
			return &f->tensors[i];
	return NULL;
}

int64_t sl_gguf_tensor_nelements(const struct gguf_tensor *t)
{
	return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

static int wrong_type(const struct gguf_file *f, const struct gguf_kv *kv, const char *want, struct sl_err *err)
{
	return sl_errf(err, EINVAL, "%s: metadata '%s' has type %s, expected %s", f->path, kv->key.s,
		       sl_gguf_vtype_name(kv->val.type), want);
}

static bool is_uint(uint32_t t)
{
	return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}

static bool is_int(uint32_t t)
{
	return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

int sl_gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out, struct sl_err *err)
{
	const struct gguf_kv *kv = sl_gguf_find_kv(f, key);
	if (!kv)
		return -ENOENT;
	if (is_uint(kv->val.type)) {
		*out = kv->val.u64;
		return 0;
	}
	if (is_int(kv->val.type) && kv->val.i64 >= 0) { /* some converters write signed counts */
		*out = (uint64_t)kv->val.i64;
		return 0;
	}
	return wrong_type(f, kv, "an unsigned integer", err);
}

int sl_gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out, struct sl_err *err)
{
	uint64_t v;
	int rc = sl_gguf_get_u64(f, key, &v, err);
	if (rc)
		return rc;
	if (v > UINT32_MAX)
		return sl_errf(err, EINVAL, "%s: metadata '%s' = %llu is out of range", f->path, key,
			       (unsigned long long)v);
	*out = (uint32_t)v;
	return 0;
}

int sl_gguf_get_f32(const struct gguf_file *f, const char *key, float *out, struct sl_err *err)
{
	const struct gguf_kv *kv = sl_gguf_find_kv(f, key);
	if (!kv)
		return -ENOENT;
	if (kv->val.type == GGUF_TYPE_FLOAT32 || kv->val.type == GGUF_TYPE_FLOAT64)
		*out = (float)kv->val.f64;
	else if (is_uint(kv->val.type))
		*out = (float)kv->val.u64;
	else if (is_int(kv->val.type))
		*out = (float)kv->val.i64;
	else
		return wrong_type(f, kv, "a number", err);
	return 0;
}

int sl_gguf_get_bool(const struct gguf_file *f, const char *key, bool *out, struct sl_err *err)
{
	const struct gguf_kv *kv = sl_gguf_find_kv(f, key);
	if (!kv)
		return -ENOENT;
	if (kv->val.type != GGUF_TYPE_BOOL)
		return wrong_type(f, kv, "bool", err);
	*out = kv->val.b;
	return 0;
}

int sl_gguf_get_str(const struct gguf_file *f, const char *key, const char **out, struct sl_err *err)
{
	const struct gguf_kv *kv = sl_gguf_find_kv(f, key);
	if (!kv)
		return -ENOENT;
	if (kv->val.type != GGUF_TYPE_STRING)
		return wrong_type(f, kv, "string", err);
	*out = kv->val.str.s;
	return 0;
}

int sl_gguf_get_arr(const struct gguf_file *f, const char *key, uint32_t elem_type, uint64_t *n,
		 const void **data, struct sl_err *err)
{
	const struct gguf_kv *kv = sl_gguf_find_kv(f, key);
	if (!kv)
		return -ENOENT;
	if (kv->val.type != GGUF_TYPE_ARRAY || kv->val.arr.type != elem_type) {
		char want[48];
		snprintf(want, sizeof(want), "array of %s", sl_gguf_vtype_name(elem_type));
		if (kv->val.type == GGUF_TYPE_ARRAY)
			return sl_errf(err, EINVAL, "%s: metadata '%s' is an array of %s, expected %s", f->path,
				       kv->key.s, sl_gguf_vtype_name(kv->val.arr.type), want);
		return wrong_type(f, kv, want, err);
	}
	*n = kv->val.arr.n;
	*data = kv->val.arr.data;
	return 0;
}
