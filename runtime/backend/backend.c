/* SPDX-License-Identifier: MIT */
/* runtime/backend/backend.c — backend registry and the device-memory budget every backend enforces. */
#include "backend/backend.h"
#include "trace.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const struct sl_backend_ops *const backends[] = {
	&sl_backend_cpu_ops,
	&sl_backend_cpu_async_ops,
	&sl_backend_cpu_async_zc_ops,
	&sl_backend_cuda_ops,
};

static char names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void make_names(void)
{
	size_t len = 0;
	for (size_t i = 0; i < SL_ARRAY_SIZE(backends); i++) {
		int n = snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", backends[i]->name);
		if (n < 0 || (size_t)n >= sizeof(names) - len)
			break;
		len += (size_t)n;
	}
}

const char *sl_backend_names(void)
{
	pthread_once(&names_once, make_names);
	return names;
}

int sl_backend_new(const char *name, const struct sl_backend_config *cfg, struct sl_backend **out,
		   struct sl_err *err)
{
	if (!name || !*name)
		name = "cpu";
	if (!strcmp(name, "auto") || !strncmp(name, "auto:", 5)) {
		/* A GPU when there is one that works; the CPU otherwise (a machine without CUDA is
		 * not an error for the default). */
		struct sl_err why = { "" };
		char cuda_name[32];
		snprintf(cuda_name, sizeof(cuda_name), "cuda%s", name + 4);
		int rc = sl_backend_new(cuda_name, cfg, out, &why);
		if (!rc)
			return 0;
		sl_info("backend auto: %s; running on the CPU", why.msg);
		return sl_backend_new("cpu", cfg, out, err);
	}
	/* "cuda:N": device N (one backend per device). */
	struct sl_backend_config c = *cfg;
	char base[32];
	const char *colon = strchr(name, ':');
	if (colon) {
		char *end;
		long dev = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || *end || dev < 0 || dev > 1023 || (size_t)(colon - name) >= sizeof(base))
			return sl_errf(err, EINVAL, "backend '%s': expected NAME:DEVICE with a device number", name);
		memcpy(base, name, (size_t)(colon - name));
		base[colon - name] = 0;
		name = base;
		c.device = (int)dev;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(backends); i++) {
		if (strcmp(backends[i]->name, name))
			continue;
		if (colon && backends[i] != &sl_backend_cuda_ops)
			return sl_errf(err, EINVAL, "backend '%s' has no devices to choose from", name);
		struct sl_backend *b = calloc(1, sizeof(*b));
		if (!b)
			return sl_errf(err, ENOMEM, "out of memory");
		b->ops = backends[i];
		b->cfg = c;
		int rc = b->ops->init(b, &c, err);
		if (rc) {
			free(b);
			return rc;
		}
		*out = b;
		return 0;
	}
	return sl_errf(err, ENOENT, "unknown backend '%s' (available: auto, %s)", name, sl_backend_names());
}

void sl_backend_free(struct sl_backend *b)
{
	if (!b)
		return;
	b->ops->destroy(b);
	free(b);
}

void sl_backend_charge(struct sl_backend *b, size_t size)
{
	b->mem_used += size;
	SL_TRACE_C("device memory used", b->mem_used);
	if (b->mem_used > b->mem_peak)
		b->mem_peak = b->mem_used;
}

void sl_backend_uncharge(struct sl_backend *b, size_t size)
{
	b->mem_used -= SL_MIN(size, b->mem_used);
	SL_TRACE_C("device memory used", b->mem_used);
}
