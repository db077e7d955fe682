/* SPDX-License-Identifier: MIT */
/* runtime/backend/cpu/threadpool.c — see threadpool.h. */
#include "backend/cpu/threadpool.h"
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ITERS 20000

struct sl_threadpool {
	int n;
	pthread_t *threads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t done_cv;
	atomic_uint gen;     /* bumped for each task */
	atomic_int pending;  /* workers still running the current task */
	atomic_bool stop;
	sl_task_fn fn;
	void *arg;
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

static void *worker(void *varg)
{
	struct worker_arg *wa = varg;
	struct sl_threadpool *p = wa->p;
	int ith = wa->ith;
	free(wa);
	unsigned seen = 0; /* gen starts at 0; a task may be issued before this thread first runs */
	for (;;) {
		int spins = 0;
		while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
			if (++spins < SPIN_ITERS) {
				cpu_relax();
				continue;
			}
			pthread_mutex_lock(&p->lock);
			while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
				pthread_cond_wait(&p->wake, &p->lock);
			pthread_mutex_unlock(&p->lock);
		}
		if (atomic_load(&p->stop))
			return NULL;
		seen = atomic_load(&p->gen);
		p->fn(p->arg, ith, p->n);
		if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&p->lock);
			pthread_cond_signal(&p->done_cv);
			pthread_mutex_unlock(&p->lock);
		}
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
	pthread_cond_init(&p->done_cv, NULL);
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
			p->n = i; /* only i-1 workers exist */
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
	pthread_cond_destroy(&p->done_cv);
	free(p->threads);
	free(p);
}

int sl_threadpool_size(const struct sl_threadpool *p)
{
	return p->n;
}

void sl_threadpool_run(struct sl_threadpool *p, sl_task_fn fn, void *arg)
{
	if (p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n - 1);
	pthread_mutex_lock(&p->lock);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	fn(arg, 0, p->n);
	int spins = 0;
	while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
		if (++spins < SPIN_ITERS) {
			cpu_relax();
			continue;
		}
		pthread_mutex_lock(&p->lock);
		while (atomic_load(&p->pending) > 0)
			pthread_cond_wait(&p->done_cv, &p->lock);
		pthread_mutex_unlock(&p->lock);
	}
}

void sl_split_range(long n, int ith, int nth, long *lo, long *hi)
{
	long per = n / nth, rem = n % nth;
	*lo = ith * per + SL_MIN((long)ith, rem);
	*hi = *lo + per + (ith < rem);
}
