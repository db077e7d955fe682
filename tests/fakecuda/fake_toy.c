/* SPDX-License-Identifier: MIT */
/*
 * tests/fakecuda/fake_toy.c — the fake's own kernels, for testing the fake itself (whatever
 * firmware it is linked with).  Their names start with "fakecuda_", which no firmware kernel has.
 *
 *   fakecuda_add(float *y, const float *x, long long n, float a)   y[i] = x[i] + a, i < n
 *   fakecuda_dump_params*(void *out, ...)   copies its whole parameter buffer to out (so a test can
 *                                            check the layout of any .param list)
 *   fakecuda_fail()                          always fails
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fakecuda.h"

int fk_toy_launch(const char *name, const unsigned grid[3], const unsigned block[3], const void *params,
		  size_t params_size, char *err, size_t err_len)
{
	if (!strcmp(name, "fakecuda_add")) {
		struct {
			float *y;
			const float *x;
			long long n;
			float a;
		} p;
		if (params_size != 28) {
			snprintf(err, err_len, "fakecuda_add: parameter buffer of %zu bytes, not 28", params_size);
			return -EINVAL;
		}
		memcpy(&p, params, 28);
		for (long long i = 0; i < p.n; i++)
			p.y[i] = p.x[i] + p.a;
		return 0;
	}
	if (!strncmp(name, "fakecuda_dump_params", 20)) {
		void *out;
		if (params_size < 8) {
			snprintf(err, err_len, "%s: no output pointer", name);
			return -EINVAL;
		}
		memcpy(&out, params, 8);
		memcpy(out, params, params_size);
		return 0;
	}
	if (!strcmp(name, "fakecuda_fail")) {
		snprintf(err, err_len, "fakecuda_fail always fails");
		return -EINVAL;
	}
	return -ENOENT;
}
