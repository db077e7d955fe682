/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/helpers/fw_testutil.h — what the firmware kernel tests (test_fw_*.c) share: the kernel
 * parameter buffer as the device lays it out, a launch through the SIMT shim, NaN-poisoned outputs,
 * the cpu backend as the reference.
 * Header-only on purpose: every .c under helpers/ is linked into every unit test, and these need
 * the SIMT shim (simt_launch), which only the firmware tests link.
 */
#ifndef SLUICE_FW_TESTUTIL_H
#define SLUICE_FW_TESTUTIL_H

#include "testutil.h"
#include "backend/backend.h"
#include "firmware/simt/simt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the parameter buffer, as the device lays it out: each value aligned to its size ---- */
struct pk {
	_Alignas(16) unsigned char b[160];
	size_t o;
};
static inline void pk_put(struct pk *p, const void *v, size_t n)
{
	p->o = (p->o + n - 1) & ~(n - 1);
	memcpy(p->b + p->o, v, n);
	p->o += n;
}
static inline void pk_ptr(struct pk *p, const void *v) { pk_put(p, &v, sizeof v); }
static inline void pk_ll(struct pk *p, long long v) { pk_put(p, &v, sizeof v); }
static inline void pk_int(struct pk *p, int v) { pk_put(p, &v, sizeof v); }
static inline void pk_f(struct pk *p, float v) { pk_put(p, &v, sizeof v); }

/* Launch kernel name on grid (gx, gy) of blocks (bx, by); a failure is a failed check (its rc). */
static inline int fw_launch(const char *name, unsigned gx, unsigned gy, unsigned bx, unsigned by, struct pk *p)
{
	char err[256];
	struct simt_dim3 g = { gx, gy, 1 }, b = { bx, by, 1 };
	int rc = simt_launch(name, g, b, 0, p->b, p->o, err, sizeof err);
	CHECK_MSG(rc == 0, "%s: simt_launch %d: %s", name, rc, err);
	return rc;
}

/* bytes (+ 4 spare, so a write one float past the end shows too) filled with NaN: an output
 * element a kernel forgets to write stays NaN and fails its comparison. */
static inline void *poisoned(size_t bytes)
{
	float *p = malloc(bytes + 4);
	for (size_t i = 0; i < (bytes + 4) / 4; i++)
		p[i] = NAN;
	return p;
}

/* The cpu backend on one thread: the reference the kernels are checked against.  NULL, having said
 * why on stderr, when it cannot start. */
static inline struct sl_backend *fw_cpu_backend(void)
{
	struct sl_backend_config cfg = { .n_threads = 1 };
	struct sl_backend *be;
	struct sl_err err;
	if (sl_backend_new("cpu", &cfg, &be, &err)) {
		fprintf(stderr, "cpu backend: %s\n", err.msg);
		return NULL;
	}
	return be;
}

#endif
