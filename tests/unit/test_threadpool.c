/* The thread pool runs every chunk exactly once per task, over many back-to-back tasks (the decode
 * pattern), for 1..4 threads, including tasks with fewer chunks than threads; sl_split_range covers
 * [0, n) exactly. */
#include "helpers/testutil.h"
#include "backend/cpu/threadpool.h"

#include <stdatomic.h>

struct task {
	atomic_int *hits;
	int max_thread;
	atomic_int bad_thread;
};

static void fn(void *arg, int chunk, int n_chunks, int thread)
{
	struct task *t = arg;
	atomic_fetch_add(&t->hits[chunk], 1);
	if (thread < 0 || thread >= t->max_thread)
		atomic_store(&t->bad_thread, 1);
}

int main(void)
{
	static atomic_int hits[64];
	for (int nth = 1; nth <= 4; nth++) {
		struct sl_threadpool *p;
		CHECK(sl_threadpool_new(nth, &p) == 0);
		CHECK(sl_threadpool_size(p) == nth);
		for (int iter = 0; iter < 3000; iter++) {
			int n = 1 + iter % 64;
			for (int i = 0; i < n; i++)
				atomic_store(&hits[i], 0);
			struct task t = { hits, nth, 0 };
			sl_threadpool_run(p, fn, &t, n);
			for (int i = 0; i < n; i++)
				CHECK_MSG(atomic_load(&hits[i]) == 1, "threads %d task %d chunk %d ran %d times", nth, iter,
					  i, atomic_load(&hits[i]));
			CHECK(!atomic_load(&t.bad_thread));
			if (t_failures)
				return t_done();
		}
		sl_threadpool_free(p);
	}
	for (long n = 0; n < 50; n++)
		for (int nth = 1; nth < 9; nth++) {
			long prev = 0, lo, hi;
			for (int i = 0; i < nth; i++) {
				sl_split_range(n, i, nth, &lo, &hi);
				CHECK(lo == prev && hi >= lo);
				prev = hi;
			}
			CHECK(prev == n);
		}
	return t_done();
}
