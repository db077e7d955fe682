/* SPDX-License-Identifier: MIT */
/* runtime/util.c — errors, clocks, logging, size parsing, atomic file writing: the small things every file uses. */
#include "internal.h"
#include "atomic_file.h"

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int sl_write_all(int fd, const void *p, size_t n, int64_t off, size_t *done)
{
	const char *b = p;
	size_t got = 0;
	int rc = 0;
	while (got < n) {
		ssize_t k = off < 0 ? write(fd, b + got, n - got)
				    : pwrite(fd, b + got, n - got, (off_t)off + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)k;
	}
	if (done)
		*done = got;
	return rc;
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

/* ---- writing a file without ever losing the old one: runtime/atomic_file.h ---- */

enum { AF_FREE, AF_CLAIMED, AF_ARMED, AF_SLOTS = 8 };
static _Atomic int af_state[AF_SLOTS];
static char af_pending[AF_SLOTS][PATH_MAX];

void sl_atomic_file_remove_pending(void)
{
	for (int i = 0; i < AF_SLOTS; i++)
		if (atomic_load(&af_state[i]) == AF_ARMED)
			unlink(af_pending[i]); /* async-signal-safe */
}

static void af_unregister(struct sl_atomic_file *af)
{
	if (af->slot >= 0)
		atomic_store(&af_state[af->slot], AF_FREE);
	af->slot = -1;
}

static int af_register(struct sl_atomic_file *af)
{
	for (int i = 0; i < AF_SLOTS; i++) {
		int expect = AF_FREE;
		if (atomic_compare_exchange_strong(&af_state[i], &expect, AF_CLAIMED)) {
			memcpy(af_pending[i], af->tmp, sizeof(af->tmp));
			atomic_store(&af_state[i], AF_ARMED);
			af->slot = i;
			return 0;
		}
	}
	return -EMFILE;
}

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

int sl_atomic_file_open(struct sl_atomic_file *af, const char *path, const char *input, struct sl_err *err)
{
	struct stat st, in;
	af->fd = -1;
	af->slot = -1;
	af->tmp[0] = 0;
	if (!path || !*path)
		return sl_errf(err, EINVAL, "no output file name");
	/* A symlink (even one to a file not there yet): replace the file it names, keep the link. */
	int n = snprintf(af->path, sizeof(af->path), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(af->path))
		return sl_errf(err, ENAMETOOLONG, "%s: file name too long", path);
	struct stat lst;
	for (int hops = 0; !lstat(af->path, &lst) && S_ISLNK(lst.st_mode); hops++) {
		char link[PATH_MAX], next[PATH_MAX];
		ssize_t k = readlink(af->path, link, sizeof(link) - 1);
		if (hops == 40 || k <= 0)
			return sl_errf(err, ELOOP, "%s: cannot follow the symbolic link", path);
		link[k] = 0;
		const char *slash = strrchr(af->path, '/');
		int dlen = link[0] == '/' || !slash ? 0 : (int)(slash - af->path + 1);
		n = snprintf(next, sizeof(next), "%.*s%s", dlen, af->path, link);
		if (n < 0 || (size_t)n >= sizeof(next))
			return sl_errf(err, ENAMETOOLONG, "%s: file name too long", path);
		memcpy(af->path, next, sizeof(next));
	}
	bool exists = !stat(af->path, &st);
	if (exists && input && !stat(input, &in) && in.st_dev == st.st_dev && in.st_ino == st.st_ino)
		return sl_errf(err, EINVAL, "%s: is the input file %s (same file): refusing to overwrite the input",
			       path, input);
	if (exists && !S_ISREG(st.st_mode))
		return sl_errf(err, EINVAL, "%s: is %s, not a regular file: refusing to replace it", path,
			       file_kind(st.st_mode));
	/* The temporary file: ".NAME.sluice-tmp-PID-N" next to the target, so rename is atomic. */
	const char *slash = strrchr(af->path, '/');
	int dlen = slash ? (int)(slash - af->path + 1) : 0;
	static _Atomic unsigned counter;
	char tmp[PATH_MAX];
	/* No signal between creating the temporary file and putting it on the pending list. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int tries = 0;; tries++) {
		unsigned k = atomic_fetch_add(&counter, 1) ^ (unsigned)(sl_now_ns() & 0xffff);
		n = snprintf(tmp, sizeof(tmp), "%.*s.%s.sluice-tmp-%ld-%u", dlen, af->path, af->path + dlen,
			     (long)getpid(), k);
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return sl_errf(err, ENAMETOOLONG, "%s: file name too long", path);
		}
		af->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (af->fd >= 0)
			break;
		if (errno != EEXIST || tries > 100) {
			int e = errno;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return sl_errf(err, e, "%s: cannot create a temporary file in %.*s: %s", path, dlen ? dlen : 1,
				       dlen ? af->path : ".", strerror(e));
		}
	}
	memcpy(af->tmp, tmp, sizeof(tmp)); /* only now: abort unlinks af->tmp, ours alone */
	int reg = af_register(af);
	if (reg) {
		close(af->fd);
		unlink(af->tmp);
		af->fd = -1;
		af->tmp[0] = 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (reg)
		return sl_errf(err, EMFILE, "%s: too many files being written at once", path);
	if (exists)
		(void)fchmod(af->fd, st.st_mode & 07777); /* keep the old file's permissions */
	return 0;
}

void sl_atomic_file_abort(struct sl_atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	if (af->tmp[0])
		unlink(af->tmp);
	af->tmp[0] = 0;
	af_unregister(af);
}

int sl_atomic_file_commit(struct sl_atomic_file *af, struct sl_err *err)
{
	int e = 0;
	const char *what = NULL;
	if (af->fd < 0)
		return sl_errf(err, EBADF, "%s: not open", af->path);
	if (fsync(af->fd))
		e = errno, what = "fsync";
	if (close(af->fd) && !e)
		e = errno, what = "close";
	af->fd = -1;
	if (!e && rename(af->tmp, af->path))
		e = errno, what = "rename";
	if (e) {
		sl_atomic_file_abort(af);
		return sl_errf(err, e, "%s: %s: %s", af->path, what, strerror(e));
	}
	af->tmp[0] = 0;
	af_unregister(af);
	/* Make the rename itself durable. */
	const char *slash = strrchr(af->path, '/');
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - af->path) + (slash == af->path) : 1,
		 slash ? af->path : ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) && errno != EINVAL && errno != EROFS)
			e = errno;
		close(dfd);
		if (e)
			return sl_errf(err, e, "%s: fsync of the directory %s: %s", af->path, dir, strerror(e));
	}
	return 0;
}
