/* SPDX-License-Identifier: MIT */
/* runtime/backend/backend.c — backend registry and the device-memory budget every backend enforces. */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>

static const struct sl_backend_ops *const backends[] = {
	&sl_backend_cpu_ops,
};

int sl_backend_new(const char *name, const struct sl_backend_config *cfg, struct sl_backend **out,
		   struct sl_err *err)
{
	if (!name || !*name)
		name = "cpu";
	for (size_t i = 0; i < SL_ARRAY_SIZE(backends); i++) {
		if (strcmp(backends[i]->name, name))
			continue;
		struct sl_backend *b = calloc(1, sizeof(*b));
		if (!b)
			return sl_errf(err, ENOMEM, "out of memory");
		b->ops = backends[i];
		b->cfg = *cfg;
		int rc = b->ops->init(b, cfg, err);
		if (rc) {
			free(b);
			return rc;
		}
		*out = b;
		return 0;
	}
	return sl_errf(err, ENOENT, "unknown backend '%s' (available: cpu)", name);
}

void sl_backend_free(struct sl_backend *b)
{
	if (!b)
		return;
	b->ops->destroy(b);
	free(b);
}

int sl_backend_charge(struct sl_backend *b, size_t size)
{
	if (b->cfg.mem_budget && b->mem_used + size > b->cfg.mem_budget)
		return -ENOMEM;
	b->mem_used += size;
	if (b->mem_used > b->mem_peak)
		b->mem_peak = b->mem_used;
	return 0;
}

void sl_backend_uncharge(struct sl_backend *b, size_t size)
{
	b->mem_used -= SL_MIN(size, b->mem_used);
}
