/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_errf.c — the error convention of runtime/internal.h: sl_errf takes a positive
 * errno, writes the message and returns the errno negated; a value <= 0 is a caller's bug, turned
 * into EINVAL in release builds and an assertion failure in -DSL_DEBUG builds (make asan).
 */
#include "helpers/testutil.h"
#include "internal.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run sl_errf(err, errnum) in a child: its exit status is -return (release) or it dies (SL_DEBUG). */
static int in_child(int errnum, int *sig)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct sl_err e;
		int r = sl_errf(&e, errnum, "bad %d", errnum);
		_exit(r < 0 && r > -256 ? -r : 255);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	*sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
	struct sl_err e = { "" };
	CHECK(sl_errf(&e, EIO, "read %s at %d", "x.gguf", 7) == -EIO);
	CHECK_MSG(!strcmp(e.msg, "read x.gguf at 7"), "'%s'", e.msg);
	CHECK(sl_errf(NULL, ENOMEM, "no buffer") == -ENOMEM);
	/* the last error wins */
	CHECK(sl_errf(&e, ENOSPC, "second") == -ENOSPC && !strcmp(e.msg, "second"));
	/* a long message is cut, terminated */
	char big[2 * SL_ERR_LEN];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK(sl_errf(&e, EINVAL, "%s", big) == -EINVAL && strlen(e.msg) == SL_ERR_LEN - 1);

	/* the caller's bug: a negative or zero errnum */
	for (int bad = -EIO; bad <= 0; bad += EIO) {
		int sig, rc = in_child(bad, &sig);
#ifdef SL_DEBUG
		CHECK_MSG(sig == SIGABRT, "SL_DEBUG: sl_errf(%d) did not assert (exit %d, signal %d)", bad, rc, sig);
#else
		CHECK_MSG(rc == EINVAL && !sig, "sl_errf(%d): exit %d signal %d, expected EINVAL", bad, rc, sig);
#endif
	}
	return t_done();
}
