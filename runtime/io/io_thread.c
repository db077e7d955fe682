/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io_thread.c — the optional completion thread (sl_io_config.thread).
 *
 * Why: without it, completions are only noticed when the consumer calls sl_io_reap, and the
 * engine queue is only refilled then.  A layer's reads (200 MiB at QD 32 × 1 MiB) drain in
 * about 10 ms while the model thread computes for longer, so the drive idles for the rest
 * of the layer.  The thread reaps each completion as it arrives and immediately hands the
 * engine the next command of what was submitted, keeping the queue full.
 *
 * The loop, all under io->mu except the two blocking calls:
 *   pump (issue queued work) → reap what is ready without waiting → if nothing was ready,
 *   drop the lock and block in the engine's wait() until a completion is ready, or on
 *   work_cv when nothing is in flight at all.
 * Only this thread reaps the engine, so while it blocks in wait() the engine keeps at least
 * the commands it saw in flight, and wait() returns.  Finished requests go to the done list
 * (done_push broadcasts done_cv), where sl_io_reap picks them up.
 */
#include "io/io_priv.h"
#include "trace.h"

#include <string.h>
#include <unistd.h>

static void *thread_main(void *arg)
{
	struct sl_io *io = arg;
	struct sl_io_engine *e = io->eng;
	unsigned spins = 0;
	SL_TRACE_THREAD("io");
	pthread_mutex_lock(&io->mu);
	while (!io->stop) {
		bool busy = sl_io_pump(io);
		if (io->stop)
			break;
		if (io->inflight) {
			struct sl_err err = { "" };
			int n = sl_io_engine_reap(io, 0, &err);
			if (n < 0) {
				/* the engine as a whole failed: every later reap reports it */
				io->fatal = n;
				snprintf(io->fatal_msg, sizeof(io->fatal_msg), "%s", err.msg);
				pthread_cond_broadcast(&io->done_cv);
				break;
			}
			if (n > 0) {
				spins = 0;
				continue;
			}
			if (e->ops->wait) {
				pthread_mutex_unlock(&io->mu);
				e->ops->wait(e);
				pthread_mutex_lock(&io->mu);
			}
			continue;
		}
		if (busy) {
			/* the engine refuses with nothing of ours in flight: give it a moment, then
			 * fail what it will not take (as the inline reap does) */
			if (++spins <= SL_IO_BUSY_TRIES) {
				pthread_mutex_unlock(&io->mu);
				usleep(SL_IO_BUSY_SLEEP_US);
				pthread_mutex_lock(&io->mu);
			} else {
				sl_io_fail_stuck(io);
				spins = 0;
			}
			continue;
		}
		spins = 0;
		if (!io->q_head && !io->ready_head && !io->stop)
			pthread_cond_wait(&io->work_cv, &io->mu);
	}
	pthread_mutex_unlock(&io->mu);
	return NULL;
}

int sl_io_thread_start(struct sl_io *io, struct sl_err *err)
{
	int r = pthread_create(&io->thread, NULL, thread_main, io);
	if (r)
		return sl_errf(err, r, "%s: starting the I/O thread: %s", io->eng->path, strerror(r));
	io->thread_started = true;
	return 0;
}

void sl_io_thread_stop(struct sl_io *io)
{
	pthread_mutex_lock(&io->mu);
	io->stop = true;
	pthread_cond_broadcast(&io->work_cv);
	pthread_mutex_unlock(&io->mu);
	/* If the thread is inside the engine's wait(), a command it saw in flight completes
	 * and wakes it; it then sees stop. */
	pthread_join(io->thread, NULL);
	io->thread_started = false;
}

int sl_io_thread_reap(struct sl_io *io, unsigned min, struct sl_io_req **done, unsigned max,
		      struct sl_err *err)
{
	unsigned n = 0;
	bool failed = false;
	int ret;
	pthread_mutex_lock(&io->mu);
	for (;;) {
		n += sl_io_take_done(io, done + n, max - n, &failed);
		if (n >= min || n == max)
			break;
		if (io->fatal) {
			if (!n) {
				ret = sl_errf(err, -io->fatal, "%s", io->fatal_msg);
				pthread_mutex_unlock(&io->mu);
				return ret;
			}
			break;
		}
		pthread_cond_wait(&io->done_cv, &io->mu);
	}
	if (failed)
		sl_errf(err, EIO, "%s", io->last_err);
	pthread_mutex_unlock(&io->mu);
	return (int)n;
}
