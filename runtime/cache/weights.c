/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/weights.c — the weight store, resident placement.
 *
 * Every registered range is read once at commit time and placed in device
 * memory.  If the device budget cannot hold them all, commit fails and says
 * how much is needed.  (The streaming tier replaces this placement policy
 * behind the same interface.)
 */
#include "cache/weights.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct wrange {
	uint64_t file_offset;
	uint64_t size;
	int layer;
	void *dev;
	const char *name;
};

struct sl_weights {
	struct gguf_file *f;
	struct sl_backend *be;
	struct sl_weights_config cfg;
	struct wrange *r;
	int n, cap;
	struct sl_weights_stats st;
};

int sl_weights_new(struct gguf_file *f, struct sl_backend *be, const struct sl_weights_config *cfg,
		   struct sl_weights **out, struct sl_err *err)
{
	struct sl_weights *w = calloc(1, sizeof(*w));
	if (!w)
		return sl_errf(err, ENOMEM, "out of memory");
	w->f = f;
	w->be = be;
	w->cfg = *cfg;
	*out = w;
	return 0;
}

void sl_weights_free(struct sl_weights *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		w->be->ops->free(w->be, w->r[i].dev, w->r[i].size);
	free(w->r);
	free(w);
}

int sl_weights_add(struct sl_weights *w, const struct gguf_tensor *t, int layer, uint64_t off, uint64_t size,
		   struct sl_err *err)
{
	if (!size)
		size = t->size - off;
	if (off > t->size || size > t->size - off)
		return sl_errf(err, EINVAL, "tensor '%s': range [%llu, +%llu) outside its %llu bytes", t->name.s,
			       (unsigned long long)off, (unsigned long long)size, (unsigned long long)t->size);
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 64;
		struct wrange *r = realloc(w->r, (size_t)cap * sizeof(*r));
		if (!r)
			return sl_errf(err, ENOMEM, "out of memory");
		w->r = r;
		w->cap = cap;
	}
	w->r[w->n] = (struct wrange){ t->file_offset + off, size, layer, NULL, t->name.s };
	return w->n++;
}

static int read_range(struct sl_weights *w, const struct wrange *r, void *buf, struct sl_err *err)
{
	uint64_t done = 0;
	while (done < r->size) {
		ssize_t k = pread(w->f->fd, (uint8_t *)buf + done, r->size - done, (off_t)(r->file_offset + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return sl_errf(err, errno, "%s: reading tensor '%s' at offset %llu: %s", w->f->path, r->name,
				       (unsigned long long)(r->file_offset + done), strerror(errno));
		if (k == 0)
			return sl_errf(err, EIO, "%s: tensor '%s': file ends at offset %llu, %llu bytes short",
				       w->f->path, r->name, (unsigned long long)(r->file_offset + done),
				       (unsigned long long)(r->size - done));
		done += (uint64_t)k;
	}
	w->st.bytes_read += done;
	return 0;
}

int sl_weights_commit(struct sl_weights *w, int n_layers, struct sl_err *err)
{
	uint64_t total = 0;
	for (int i = 0; i < w->n; i++)
		total += w->r[i].size;
	if (w->be->cfg.mem_budget && total > w->be->cfg.mem_budget)
		return sl_errf(err, ENOMEM, "the model's weights need %llu MiB of device memory; the budget is %llu MiB",
			       (unsigned long long)(total >> 20), (unsigned long long)(w->be->cfg.mem_budget >> 20));
	for (int i = 0; i < w->n; i++) {
		struct wrange *r = &w->r[i];
		int rc = w->be->ops->alloc(w->be, r->size, &r->dev);
		if (rc)
			return sl_errf(err, -rc, "cannot allocate %llu bytes of device memory for '%s'",
				       (unsigned long long)r->size, r->name);
		/* The CPU backend's device memory is host memory: read straight into it. */
		void *host = r->dev;
		if (strcmp(w->be->ops->name, "cpu")) {
			host = malloc(r->size);
			if (!host)
				return sl_errf(err, ENOMEM, "out of memory");
		}
		rc = read_range(w, r, host, err);
		if (!rc && host != r->dev)
			rc = w->be->ops->upload(w->be, r->dev, host, r->size);
		if (host != r->dev)
			free(host);
		if (rc)
			return rc;
		w->st.device_resident += r->size;
	}
	return 0;
}

int sl_weights_acquire(struct sl_weights *w, int id, const void **dev, struct sl_err *err)
{
	*dev = w->r[id].dev;
	w->st.hits++;
	return 0;
}

void sl_weights_release(struct sl_weights *w, int id)
{
}

void sl_weights_begin_layer(struct sl_weights *w, int layer)
{
}

void sl_weights_get_stats(const struct sl_weights *w, struct sl_weights_stats *out)
{
	*out = w->st;
}

void sl_weights_shrink(struct sl_weights *w, uint64_t bytes)
{
	w->st.shrink_events++;
}
