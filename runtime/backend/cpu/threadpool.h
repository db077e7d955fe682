/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/threadpool.h — a fixed set of worker threads, created
 * once, that run one parallel task at a time.  No thread is ever created per
 * token: a decode step issues a few hundred small parallel tasks, so dispatch
 * latency matters.
 *
 * A task is cut into chunks that threads claim from a shared counter, and the
 * caller returns as soon as every chunk is done — not when every worker has
 * checked in.  So when the machine is oversubscribed and a worker is not
 * scheduled, the caller simply does its chunks (no fork/join stall of a whole
 * time slice per matmul); when it is idle, all threads share the work.
 */
#ifndef SLUICE_THREADPOOL_H
#define SLUICE_THREADPOOL_H

/* fn(arg, chunk, n_chunks, thread): run chunk `chunk` of n_chunks on thread `thread`
 * (0 = the caller, < sl_threadpool_size) — thread is for per-thread scratch. */
typedef void (*sl_task_fn)(void *arg, int chunk, int n_chunks, int thread);

struct sl_threadpool;

int sl_threadpool_new(int n_threads, struct sl_threadpool **out);
void sl_threadpool_free(struct sl_threadpool *p);
int sl_threadpool_size(const struct sl_threadpool *p);
/* Run chunks 0..n_chunks-1 of fn across the pool and return when all are done. Not reentrant. */
void sl_threadpool_run(struct sl_threadpool *p, sl_task_fn fn, void *arg, int n_chunks);
/* Split [0, n) into nth nearly equal parts; part ith is [*lo, *hi). */
void sl_split_range(long n, int ith, int nth, long *lo, long *hi);

#endif
