/* SPDX-License-Identifier: MIT */
/*
 * runtime/gguf_write.c — GGUF v3 writer.
 *
 * Metadata and tensor infos are serialised into a growing byte buffer as they
 * are added; tensor data offsets are assigned at add time (each aligned), so
 * the header is final before any data is written and the caller can stream
 * tensor data straight to the file in any order.
 */
#include "gguf.h"
#include "quant/quant.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void buf_put(struct buf *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_u32(struct buf *b, uint32_t v) { buf_put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { buf_put(b, &v, 8); }
static void put_str(struct buf *b, const char *s)
{
	uint64_t n = strlen(s);
	put_u64(b, n);
	buf_put(b, s, n);
}

struct wtensor {
	uint64_t offset, size;
};

struct gguf_writer {
	uint32_t alignment;
	uint64_t n_kv, n_tensors;
	struct buf kv, ti;
	struct wtensor *tensors;
	uint64_t data_size;
	uint64_t data_offset;
};

struct gguf_writer *sl_gguf_writer_new(uint32_t alignment)
{
	struct gguf_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->alignment = alignment ? alignment : GGUF_DEFAULT_ALIGNMENT;
	if (w->alignment != GGUF_DEFAULT_ALIGNMENT)
		sl_gguf_writer_set_u32(w, "general.alignment", w->alignment);
	return w;
}

void sl_gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return;
	free(w->kv.p);
	free(w->ti.p);
	free(w->tensors);
	free(w);
}

static int kv_head(struct gguf_writer *w, const char *key, uint32_t type)
{
	put_str(&w->kv, key);
	put_u32(&w->kv, type);
	w->n_kv++;
	return w->kv.oom ? -ENOMEM : 0;
}

/* A key with a scalar value: size bytes as the host stores them (GGUF and sluice's hosts are
 * little-endian). */
static int kv_scalar(struct gguf_writer *w, const char *key, uint32_t type, const void *v, size_t size)
{
	kv_head(w, key, type);
	buf_put(&w->kv, v, size);
	return w->kv.oom ? -ENOMEM : 0;
}

int sl_gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_UINT32, &v, 4);
}

int sl_gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_INT32, &v, 4);
}

int sl_gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_UINT64, &v, 8);
}

int sl_gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
	return kv_scalar(w, key, GGUF_TYPE_FLOAT32, &v, 4);
}

int sl_gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
	uint8_t b = v;
	return kv_scalar(w, key, GGUF_TYPE_BOOL, &b, 1);
}

int sl_gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
	kv_head(w, key, GGUF_TYPE_STRING);
	put_str(&w->kv, v);
	return w->kv.oom ? -ENOMEM : 0;
}

int sl_gguf_writer_set_arr(struct gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n)
{
	size_t esz = sl_gguf_vtype_size(elem_type);
	if (!esz)
		return -EINVAL;
	kv_head(w, key, GGUF_TYPE_ARRAY);
	put_u32(&w->kv, elem_type);
	put_u64(&w->kv, n);
	buf_put(&w->kv, data, n * esz);
	return w->kv.oom ? -ENOMEM : 0;
}

int sl_gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
	kv_head(w, key, GGUF_TYPE_ARRAY);
	put_u32(&w->kv, GGUF_TYPE_STRING);
	put_u64(&w->kv, n);
	for (uint64_t i = 0; i < n; i++)
		put_str(&w->kv, v[i]);
	return w->kv.oom ? -ENOMEM : 0;
}

int sl_gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne)
{
	if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
		return -EINVAL;
	int64_t nel = 1;
	for (uint32_t d = 0; d < n_dims; d++) {
		if (ne[d] <= 0)
			return -EINVAL;
		nel *= ne[d];
	}
	size_t row = sl_row_size(type, ne[0]);
	if (!row)
		return -EINVAL;
	struct wtensor *t = realloc(w->tensors, (w->n_tensors + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	w->tensors = t;
	t = &w->tensors[w->n_tensors];
	t->size = (uint64_t)row * (uint64_t)(nel / ne[0]);
	t->offset = SL_ALIGN_UP(w->data_size, w->alignment);
	w->data_size = t->offset + t->size;
	put_str(&w->ti, name);
	put_u32(&w->ti, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		put_u64(&w->ti, (uint64_t)ne[d]);
	put_u32(&w->ti, type);
	put_u64(&w->ti, t->offset);
	if (w->ti.oom)
		return -ENOMEM;
	return (int)w->n_tensors++;
}

uint64_t sl_gguf_writer_tensor_size(const struct gguf_writer *w, int idx)
{
	return w->tensors[idx].size;
}

uint64_t sl_gguf_writer_total_size(const struct gguf_writer *w)
{
	uint64_t hdr = 4 + 4 + 8 + 8 + w->kv.len + w->ti.len;
	return SL_ALIGN_UP(hdr, w->alignment) + SL_ALIGN_UP(w->data_size, w->alignment);
}

static int write_all(int fd, const void *p, size_t n, uint64_t off, struct sl_err *err)
{
	size_t done = 0;
	int rc = sl_write_all(fd, p, n, (int64_t)off, &done);
	if (rc)
		return sl_errf(err, -rc, "write failed at offset %llu: %s", (unsigned long long)(off + done),
			       strerror(-rc));
	return 0;
}

int sl_gguf_writer_write_header(struct gguf_writer *w, int fd, struct sl_err *err)
{
	if (w->kv.oom || w->ti.oom)
		return sl_errf(err, ENOMEM, "out of memory building the GGUF header");
	struct buf h = { 0 };
	buf_put(&h, GGUF_MAGIC, 4);
	put_u32(&h, 3);
	put_u64(&h, w->n_tensors);
	put_u64(&h, w->n_kv);
	if (w->kv.len)
		buf_put(&h, w->kv.p, w->kv.len);
	if (w->ti.len)
		buf_put(&h, w->ti.p, w->ti.len);
	size_t pad = SL_ALIGN_UP(h.len, w->alignment) - h.len;
	static const uint8_t zeros[256];
	while (pad) {
		size_t k = SL_MIN(pad, sizeof(zeros));
		buf_put(&h, zeros, k);
		pad -= k;
	}
	if (h.oom) {
		free(h.p);
		return sl_errf(err, ENOMEM, "out of memory building the GGUF header");
	}
	w->data_offset = h.len;
	int rc = write_all(fd, h.p, h.len, 0, err);
	free(h.p);
	return rc;
}

int sl_gguf_writer_write_data(struct gguf_writer *w, int fd, int idx, uint64_t at, const void *data, uint64_t size,
			   struct sl_err *err)
{
	if (idx < 0 || (uint64_t)idx >= w->n_tensors || at > w->tensors[idx].size ||
	    size > w->tensors[idx].size - at)
		return sl_errf(err, EINVAL, "tensor data write out of range");
	return write_all(fd, data, size, w->data_offset + w->tensors[idx].offset + at, err);
}

int sl_gguf_writer_finish(struct gguf_writer *w, int fd, struct sl_err *err)
{
	uint64_t end = w->data_offset + SL_ALIGN_UP(w->data_size, w->alignment);
	if (ftruncate(fd, (off_t)end))
		return sl_errf(err, errno, "cannot set file size: %s", strerror(errno));
	return 0;
}
