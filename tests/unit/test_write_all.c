/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_write_all.c — sl_write_all (runtime/util.c), the one "write every byte" loop of
 * the library and the CLI: at the file position and at an offset, what it reports written, and
 * the errno of a failure (a full device, a bad descriptor).  Interrupted and short writes are not
 * provoked here (that needs timing); the GGUF writer's and run --metrics' tests go through it.
 */
#include "helpers/testutil.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	enum { N = 300000 };
	char *a = malloc(N), *b = malloc(N);
	for (size_t i = 0; i < N; i++)
		a[i] = (char)(i * 7 + i / 251);
	const char *path = t_tmp_path("write-all.bin");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);

	/* at the file position, twice: the second follows the first */
	size_t done = 1;
	CHECK(sl_write_all(fd, a, N / 2, -1, &done) == 0 && done == N / 2);
	CHECK(sl_write_all(fd, a + N / 2, N - N / 2, -1, NULL) == 0);
	CHECK(lseek(fd, 0, SEEK_CUR) == N);
	/* at an offset: the file position stays */
	memset(b, 'x', 1000);
	CHECK(sl_write_all(fd, b, 1000, 5000, &done) == 0 && done == 1000);
	CHECK(lseek(fd, 0, SEEK_CUR) == N);
	memset(a + 5000, 'x', 1000);
	CHECK(pread(fd, b, N, 0) == N);
	CHECK(memcmp(a, b, N) == 0);
	close(fd);
	unlink(path);

	/* nothing to write: nothing done, no error (even on a bad descriptor) */
	CHECK(sl_write_all(-1, a, 0, -1, &done) == 0 && done == 0);
	CHECK(sl_write_all(-1, a, 10, -1, &done) == -EBADF && done == 0);
	CHECK(sl_write_all(-1, a, 10, 0, NULL) == -EBADF);
	int full = open("/dev/full", O_WRONLY);
	if (full >= 0) {
		CHECK(sl_write_all(full, a, 10, -1, &done) == -ENOSPC && done == 0);
		close(full);
	} else {
		printf("no /dev/full: the ENOSPC case is not run\n");
	}
	free(a);
	free(b);
	return t_done();
}
