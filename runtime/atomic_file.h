/* SPDX-License-Identifier: MIT */
/*
 * runtime/atomic_file.h — the one way sluice writes a file (quantize, gen-model, bench io --iolog):
 * never in place.
 *
 *   sl_atomic_file_open    refuses a target that is the input by any path (same device and inode,
 *                          through symlinks and hard links) or that exists and is not a regular file;
 *                          creates a temporary file in the target's directory (".NAME.sluice-tmp-…",
 *                          O_EXCL); a symlink target is followed, so the file it names is replaced
 *                          and the link stays.
 *   sl_atomic_file_commit  fsync, close, rename over the target, fsync the directory.
 *   sl_atomic_file_abort   close and remove the temporary file; the old target is untouched.
 *
 * Until commit or abort the temporary file is on a process-wide list;
 * sl_atomic_file_remove_pending() (async-signal-safe) removes every one on it, for a signal
 * handler (the sluice command installs one for SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE).
 * A SIGKILL or a crash can still leave the temporary file, never a half-written target.
 */
#ifndef SLUICE_ATOMIC_FILE_H
#define SLUICE_ATOMIC_FILE_H

#include "internal.h"

#include <limits.h>

struct sl_atomic_file {
	int fd;              /* the temporary file, open for writing (and reading) */
	int slot;            /* index in the pending list, -1 when none */
	char path[PATH_MAX]; /* the target (a symlink resolved) */
	char tmp[PATH_MAX];  /* the temporary file */
};

/* input: a path the target must not be (NULL: none). 0 or -errno with a message in err. */
int sl_atomic_file_open(struct sl_atomic_file *af, const char *path, const char *input, struct sl_err *err);
int sl_atomic_file_commit(struct sl_atomic_file *af, struct sl_err *err);
void sl_atomic_file_abort(struct sl_atomic_file *af);
void sl_atomic_file_remove_pending(void);

#endif
