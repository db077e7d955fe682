/* SPDX-License-Identifier: MIT */
/* runtime/util.c — errors, clocks, logging, size parsing: the small things every file uses. */
#include "internal.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sl_log_level = SL_LOG_QUIET;

int sl_errf(struct sl_err *err, int errnum, const char *fmt, ...)
{
#ifdef SL_DEBUG
	assert(errnum > 0 && "sl_errf takes a positive errno");
#endif
	if (errnum <= 0) {
		sl_log(SL_LOG_WARN, "internal: sl_errf called with errnum %d (wants a positive errno); using EINVAL",
		       errnum);
		errnum = EINVAL;
	}
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

uint64_t sl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sl_log(int level, const char *fmt, ...)
{
	if (level > sl_log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("sluice: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int sl_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -EINVAL;
	double mul = 1;
	switch (toupper((unsigned char)*end)) {
	case 0: break;
	case 'K': mul = 1024.0; end++; break;
	case 'M': mul = 1024.0 * 1024; end++; break;
	case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	double bytes = v * mul;
	if (bytes > 1.8e19)
		return -ERANGE;
	*out = (uint64_t)bytes;
	return 0;
}

void *sl_aligned_alloc(size_t align, size_t size)
{
	void *p = NULL;
	if (size == 0)
		size = align;
	if (posix_memalign(&p, align, SL_ALIGN_UP(size, align)))
		return NULL;
	return p;
}
