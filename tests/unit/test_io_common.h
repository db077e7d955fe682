/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_io_common.h — shared by the test_io_*.c programs: scratch files with
 * a checkable pattern (checks: CHECK / CHECK_MSG of helpers/testutil.h).
 *
 * Files go to $SLUICE_TMP, else /var/tmp — never a tmpfs unless asked for, because the
 * uring engine needs a filesystem with O_DIRECT (tmpfs is tested on purpose, separately).
 */
#ifndef TEST_IO_COMMON_H
#define TEST_IO_COMMON_H

#include "helpers/testutil.h"
#include "io/io.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>


/* Byte i of every test file: position-dependent, so a misplaced block is caught. */
static inline uint8_t t_byte(uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull;
	return (uint8_t)((x >> 56) ^ (x >> 24) ^ i);
}

static inline bool t_is_tmpfs(const char *dir)
{
	struct statfs s;
	return statfs(dir, &s) == 0 && s.f_type == TMPFS_MAGIC;
}

/* A scratch directory on a real filesystem. */
static inline const char *t_dir(void)
{
	const char *d = getenv("SLUICE_TMP");
	if (d && *d && !t_is_tmpfs(d))
		return d;
	return "/var/tmp";
}

/* Create dir/name of size bytes of the pattern; path written to out (>= 512 bytes). */
static inline int t_make_file(const char *dir, const char *name, uint64_t size, char *out)
{
	snprintf(out, 512, "%s/%s.%d", dir, name, (int)getpid());
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	static uint8_t buf[1 << 16];
	for (uint64_t pos = 0; pos < size;) {
		uint64_t n = SL_MIN(size - pos, (uint64_t)sizeof(buf));
		for (uint64_t i = 0; i < n; i++)
			buf[i] = t_byte(pos + i);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -EIO;
		}
		pos += n;
	}
	fsync(fd);
	close(fd);
	return 0;
}

/* Does buf hold file bytes [off, off+len)?  Returns the first bad index or -1. */
static inline int64_t t_verify(const void *buf, uint64_t off, uint64_t len)
{
	const uint8_t *p = buf;
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != t_byte(off + i))
			return (int64_t)i;
	return -1;
}

/* sl_io_open on a file path. */
static inline int t_io_open(const char *engine, const char *path, const struct sl_io_config *cfg,
			    struct sl_io **io, struct sl_err *err)
{
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = path };
	return sl_io_open(engine, &src, cfg, io, err);
}

/* A 4 KiB-aligned buffer of len bytes registered with io (reads land only in registered
 * memory); free with t_reg_free. */
static inline void *t_reg_alloc(struct sl_io *io, size_t len, struct sl_io_mem **m)
{
	struct sl_err err = { "" };
	void *p = sl_aligned_alloc(4096, len);
	*m = NULL;
	if (p && sl_io_mem_register(io, p, len, m, &err) < 0) {
		fprintf(stderr, "registering %zu bytes: %s\n", len, err.msg);
		free(p);
		return NULL;
	}
	return p;
}

static inline void t_reg_free(struct sl_io *io, void *p, struct sl_io_mem *m)
{
	sl_io_mem_unregister(io, m);
	free(p);
}

static inline int t_result(const char *name)
{
	if (t_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, t_failures);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

#endif
