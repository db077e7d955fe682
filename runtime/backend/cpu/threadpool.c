/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/threadpool.c — see threadpool.h.
 *
 * Publication is a sequence lock on `seq`: the caller makes it odd, waits until
 * no worker is inside the previous task (`active` == 0), writes the task, and
 * makes it even again.  A worker that sees a new even value enters (active++),
 * re-checks that seq has not moved (else backs out), claims chunks until none
 * are left, and leaves (active--).  The caller claims chunks too and waits only
 * for `done` == n_chunks.
 */
#include "backend/cpu/threadpool.h"
#include "internal.h"
#include "trace.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ITERS 4000

struct sl_threadpool {
	int n;
	pthread_t *threads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	atomic_uint seq;     /* even: a task is published; odd: being written */
	atomic_int active;   /* workers inside the current task */
	atomic_int next;     /* next chunk to claim */
	atomic_int done;     /* chunks finished */
	atomic_bool stop;
	sl_task_fn fn;
	void *arg;
	int n_chunks;
};

struct worker_arg {
	struct sl_threadpool *p;
	int ith;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claim and run chunks of the published task until none are left. */
static void work(struct sl_threadpool *p, int thread)
{
	const int n = p->n_chunks;
	for (;;) {
		int c = atomic_fetch_add(&p->next, 1);
		if (c >= n)
			return;
		p->fn(p->arg, c, n, thread);
		atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
	}
}

static void *worker(void *varg)
{
	struct worker_arg *wa = varg;
	struct sl_threadpool *p = wa->p;
	int ith = wa->ith;
	free(wa);
	unsigned seen = 0;
	SL_TRACE_THREAD("compute pool");
	for (;;) {
		unsigned s;
		int spins = 0;
		while (((s = atomic_load(&p->seq)) == seen || (s & 1)) && !atomic_load(&p->stop)) {
			if (++spins < SPIN_ITERS) {
				cpu_relax();
				continue;
			}
			pthread_mutex_lock(&p->lock);
			while (((s = atomic_load(&p->seq)) == seen || (s & 1)) && !atomic_load(&p->stop))
				pthread_cond_wait(&p->wake, &p->lock);
			pthread_mutex_unlock(&p->lock);
		}
		if (atomic_load(&p->stop))
			return NULL;
		atomic_fetch_add(&p->active, 1);
		if (atomic_load(&p->seq) == s) {
			SL_TRACE_B("pool", "task", "chunks", p->n_chunks, 0, 0, 0);
			work(p, ith);
			SL_TRACE_E();
		}
		atomic_fetch_sub(&p->active, 1);
		seen = s;
	}
}

int sl_threadpool_new(int n, struct sl_threadpool **out)
{
	if (n < 1)
		n = 1;
	struct sl_threadpool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->n = n;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->threads = calloc((size_t)n, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return -ENOMEM;
	}
	for (int i = 1; i < n; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (wa) {
			wa->p = p;
			wa->ith = i;
		}
		int rc = wa ? pthread_create(&p->threads[i], NULL, worker, wa) : ENOMEM;
		if (rc) {
			free(wa);
			p->n = i; /* only threads 1..i-1 exist */
			sl_threadpool_free(p);
			return -rc;
		}
	}
	*out = p;
	return 0;
}

void sl_threadpool_free(struct sl_threadpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stop, true);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p->threads);
	free(p);
}

int sl_threadpool_size(const struct sl_threadpool *p)
{
	return p->n;
}

void sl_threadpool_run(struct sl_threadpool *p, sl_task_fn fn, void *arg, int n_chunks)
{
	if (n_chunks <= 0)
		return;
	if (p->n == 1 || n_chunks == 1) {
		for (int c = 0; c < n_chunks; c++)
			fn(arg, c, n_chunks, 0);
		return;
	}
	atomic_fetch_add(&p->seq, 1); /* odd: writing */
	while (atomic_load(&p->active) > 0)
		cpu_relax();
	p->fn = fn;
	p->arg = arg;
	p->n_chunks = n_chunks;
	atomic_store(&p->next, 0);
	atomic_store(&p->done, 0);
	pthread_mutex_lock(&p->lock);
	atomic_fetch_add(&p->seq, 1); /* even: published */
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	work(p, 0);
	/* Only chunks a worker claimed and is still running remain: short waits. */
	while (atomic_load_explicit(&p->done, memory_order_acquire) < n_chunks)
		cpu_relax();
}

void sl_split_range(long n, int ith, int nth, long *lo, long *hi)
{
	long per = n / nth, rem = n % nth;
	*lo = ith * per + SL_MIN((long)ith, rem);
	*hi = *lo + per + (ith < rem);
}
