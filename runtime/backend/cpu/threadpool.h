/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/threadpool.h — a fixed set of worker threads, created
 * once, that run one parallel task at a time (fork/join).  No thread is ever
 * created per token: a decode step issues a few hundred small parallel tasks,
 * so dispatch latency matters; workers spin briefly on the generation counter
 * before sleeping on a condition variable.
 */
#ifndef SLUICE_THREADPOOL_H
#define SLUICE_THREADPOOL_H

/* fn(arg, ith, nth) runs on nth threads, ith = 0..nth-1; the caller is thread 0. */
typedef void (*sl_task_fn)(void *arg, int ith, int nth);

struct sl_threadpool;

int sl_threadpool_new(int n_threads, struct sl_threadpool **out);
void sl_threadpool_free(struct sl_threadpool *p);
int sl_threadpool_size(const struct sl_threadpool *p);
/* Run fn on every thread and wait for all to return. Not reentrant. */
void sl_threadpool_run(struct sl_threadpool *p, sl_task_fn fn, void *arg);
/* Split [0, n) into nth nearly equal parts; part ith is [*lo, *hi). */
void sl_split_range(long n, int ith, int nth, long *lo, long *hi);

#endif
