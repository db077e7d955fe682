/* SPDX-License-Identifier: MIT */
/*
 * runtime/internal.h — what every file of libsluice shares and nothing outside it sees.
 *
 * Error handling: functions return 0 or a negative errno.  Detail goes into a
 * struct sl_err (a fixed buffer owned by the handle the caller holds), written
 * with sl_errf(); the first error set wins is NOT the rule — the last call that
 * failed writes it, so the message always describes the error just returned.
 *
 * sl_errf takes the errno POSITIVE (EINVAL, errno, -rc where rc is a negative
 * return) and returns it negated, so `return sl_errf(err, EIO, ...)` is the
 * idiom.  Passing a value <= 0 is a bug in the caller: it is turned into EINVAL
 * (and logged at warning level), and in builds with -DSL_DEBUG (make asan) it
 * asserts.
 *
 * Every error path of a SLUICE_API function leaves a message: in the caller's
 * error buffer for calls that create a handle, in the handle's struct sl_err
 * otherwise (sluice_model_error, sluice_ctx_error, sluice_sampler_error).
 *
 * Configuration comes in through parameters only: the library never reads
 * the environment (a build test checks this); the CLI maps SLUICE_*
 * variables to parameters.
 */
#ifndef SLUICE_INTERNAL_H
#define SLUICE_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SL_ERR_LEN 512

struct sl_err {
	char msg[SL_ERR_LEN];
};

/* Write a message into err (may be NULL) and return -errnum.  errnum must be > 0 (see above). */
int sl_errf(struct sl_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_ALIGN_UP(x, a) (((x) + ((a) - 1)) / (a) * (a))

/* Overflow-checked arithmetic: return true on overflow. */
static inline bool sl_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_mul_overflow(a, b, r);
}
static inline bool sl_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_add_overflow(a, b, r);
}

/* Monotonic clock in nanoseconds. */
uint64_t sl_now_ns(void);

/* Logging to stderr, only when the application turned it on (sluice_set_log_level). */
enum sl_log_level { SL_LOG_QUIET = 0, SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };
extern int sl_log_level;
void sl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sl_warn(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_info(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)

/* Parse "64M", "8G", "1.5G", "4096" (bytes; K/M/G/T are powers of 1024). 0 or -EINVAL. */
int sl_parse_size(const char *s, uint64_t *out);

/* Write all n bytes of p to fd: at offset off with pwrite, or (off < 0) at the file position with
 * write; interrupted and short writes go on.  0, or -errno (-EIO for a write of nothing); *done
 * (may be NULL) gets the bytes written, where it stopped.  No message: the caller names the file. */
int sl_write_all(int fd, const void *p, size_t n, int64_t off, size_t *done);

/* Allocation of large, aligned buffers (weights, KV cache). Free with free(). */
void *sl_aligned_alloc(size_t align, size_t size);

#endif
