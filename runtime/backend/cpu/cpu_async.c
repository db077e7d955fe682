/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/cpu_async.c — the deferred mode of the CPU backend
 * ("cpu-async", "cpu-async-zc"): a test device that makes scheduling hazards
 * reproducible.
 *
 * Every op becomes a job on its queue (upload: copy queue; everything else,
 * download included: compute queue) and runs on one worker thread, *as late as
 * possible*: a queue runs only as far as something forces it —
 *   - fence_sync(f) forces f's queue up to f;
 *   - sync() forces both queues to their ends;
 *   - a wait(q, f) job reached by the worker forces f's queue up to f before
 *     q goes on.
 * The worker prefers the compute queue and turns to the copy queue only when
 * the compute queue is done or blocked on a wait, so an upload that no wait
 * ordered before a kernel runs after it: the kernel reads poison (a fresh
 * allocation is poisoned), never the data it "happened" to get in time.
 * The worker runs only while the host is blocked in fence_sync()/sync(), so
 * what runs, and in which order, depends on the calls made, never on timing.
 *
 * discard() and free() poison the bytes at once, on the caller's thread: a
 * job still queued that reads them reads poison.  A job still queued that
 * *writes* them (an upload never waited for) poisons its output again after
 * running — in program order the bytes died at the discard, and a late writer
 * must not resurrect them.  free() also defers the real free() until every job
 * queued before it has run, so a hazard is a wrong result, not a crash.
 *
 * A fence is (queue << 60) | n: complete when the queue's first n jobs ran.
 * Errors of deferred jobs (scratch allocation) are kept, first one wins, and
 * come back from the next fence_sync()/sync().
 */
#include "backend/cpu/cpu.h"
#include "trace.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define POISON 0xFF
#define FENCE_SHIFT 60
#define FENCE_SEQ(f) ((f) & ((1ull << FENCE_SHIFT) - 1))
#define FENCE_Q(f) ((unsigned)((f) >> FENCE_SHIFT))

struct deferred_free {
	void *p;
	uint64_t after[SL_Q_COUNT]; /* free once this many jobs of each queue ran */
	struct deferred_free *next;
};

struct cpu_async {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work;     /* worker: something was forced, or stop */
	pthread_cond_t progress; /* host: a job ran */
	struct cpu_job *head[SL_Q_COUNT], *tail[SL_Q_COUNT];
	uint64_t queued[SL_Q_COUNT]; /* jobs ever queued */
	uint64_t ran[SL_Q_COUNT];    /* jobs ever run (a queue's jobs run in order) */
	uint64_t want[SL_Q_COUNT];   /* run the queue this far */
	struct deferred_free *frees;
	int err_rc;                  /* first deferred error, with its message */
	struct sl_err err;
	bool stop;
};

static struct cpu_async *A(struct sl_backend *b)
{
	return ((struct cpu *)b->priv)->async;
}

static bool all_ran(const struct cpu_async *a, const uint64_t *upto)
{
	for (int q = 0; q < SL_Q_COUNT; q++)
		if (a->ran[q] < upto[q])
			return false;
	return true;
}

/* Free what no queued job can touch any more.  Lock held. */
static void release_frees(struct cpu_async *a)
{
	for (struct deferred_free **pp = &a->frees; *pp;) {
		struct deferred_free *d = *pp;
		if (all_ran(a, d->after)) {
			*pp = d->next;
			free(d->p);
			free(d);
		} else {
			pp = &d->next;
		}
	}
}

static void pop(struct cpu_async *a, int q)
{
	struct cpu_job *j = a->head[q];
	a->head[q] = j->next;
	if (!a->head[q])
		a->tail[q] = NULL;
}

/* The next job to run: the compute queue first, the copy queue when compute is done as far as
 * forced or waits for a copy.  Waits that are satisfied are retired here; a wait that is not
 * forces the other queue (which may be one already passed over: look again).  Lock held. */
static struct cpu_job *pick(struct cpu_async *a, int *qout)
{
	bool forced;
	do {
		forced = false;
		for (int q = SL_Q_COMPUTE; q < SL_Q_COUNT; q++) {
			while (a->ran[q] < a->want[q] && a->head[q]) {
				struct cpu_job *j = a->head[q];
				if (j->kind != CPU_JOB_WAIT) {
					*qout = q;
					return j;
				}
				const unsigned fq = FENCE_Q(j->wait.f);
				const uint64_t seq = FENCE_SEQ(j->wait.f);
				if (a->ran[fq] < seq) {
					if (a->want[fq] < seq)
						a->want[fq] = seq, forced = true;
					break; /* blocked: run the other queue */
				}
				pop(a, q);
				free(j);
				a->ran[q]++;
				pthread_cond_broadcast(&a->progress);
			}
		}
	} while (forced);
	return NULL;
}

static void *worker(void *arg)
{
	struct sl_backend *b = arg;
	struct cpu *c = b->priv;
	struct cpu_async *a = c->async;
	struct sl_err err;
	SL_TRACE_THREAD("device queues (cpu-async)");
	pthread_mutex_lock(&a->lock);
	for (;;) {
		int q;
		struct cpu_job *j = pick(a, &q);
		if (!j) {
			if (a->stop)
				break;
			pthread_cond_wait(&a->work, &a->lock);
			continue;
		}
		pop(a, q);
		pthread_mutex_unlock(&a->lock);
		SL_TRACE_B("device", q == SL_Q_COPY ? "copy queue job" : "compute queue job", "kind", j->kind, 0, 0, 0);
		int rc = sl_cpu_job_run(c, j, &err);
		SL_TRACE_E();
		if (j->poison_hi > j->poison_lo)
			memset(j->poison_lo, POISON, (size_t)(j->poison_hi - j->poison_lo));
		free(j);
		pthread_mutex_lock(&a->lock);
		if (rc && !a->err_rc) {
			a->err_rc = rc;
			a->err = err;
		}
		a->ran[q]++;
		if (a->frees)
			release_frees(a);
		pthread_cond_broadcast(&a->progress);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int sl_cpu_async_start(struct sl_backend *b, struct sl_err *err)
{
	struct cpu *c = b->priv;
	struct cpu_async *a = calloc(1, sizeof(*a));
	if (!a)
		return sl_errf(err, ENOMEM, "out of memory");
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->progress, NULL);
	c->async = a;
	int rc = pthread_create(&a->thread, NULL, worker, b);
	if (rc) {
		c->async = NULL;
		pthread_cond_destroy(&a->progress);
		pthread_cond_destroy(&a->work);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return sl_errf(err, rc, "%s backend: cannot start the worker thread", b->ops->name);
	}
	return 0;
}

void sl_cpu_async_stop(struct sl_backend *b)
{
	struct cpu_async *a = A(b);
	sl_cpu_async_sync(b); /* run what is queued: its deferred frees are owed */
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	release_frees(a);
	pthread_cond_destroy(&a->progress);
	pthread_cond_destroy(&a->work);
	pthread_mutex_destroy(&a->lock);
	free(a);
	((struct cpu *)b->priv)->async = NULL;
}

static enum sl_be_queue queue_of(enum cpu_job_kind k)
{
	return k == CPU_JOB_UPLOAD ? SL_Q_COPY : SL_Q_COMPUTE;
}

static int enqueue(struct sl_backend *b, const struct cpu_job *src, enum sl_be_queue q)
{
	struct cpu_async *a = A(b);
	size_t n_ids = src->kind == CPU_JOB_GET_ROWS ? (size_t)src->get_rows.n
		       : src->kind == CPU_JOB_ADD_ROWS ? 2 * (size_t)src->add_rows.n : 0;
	struct cpu_job *j = malloc(sizeof(*j) + n_ids * sizeof(int32_t));
	if (!j)
		return sl_errf(&b->err, ENOMEM, "%s backend: out of memory queueing an op", b->ops->name);
	*j = *src;
	j->next = NULL;
	j->poison_lo = j->poison_hi = NULL;
	if (n_ids && src->kind == CPU_JOB_GET_ROWS) {
		/* The caller may reuse its ids as soon as we return. */
		memcpy(j->ids_copy, src->get_rows.ids, n_ids * sizeof(int32_t));
		j->get_rows.ids = j->ids_copy;
	} else if (n_ids) { /* add_rows: ids, then the scales (floats, same size) */
		const size_t n = n_ids / 2;
		memcpy(j->ids_copy, src->add_rows.ids, n * sizeof(int32_t));
		memcpy(j->ids_copy + n, src->add_rows.scale, n * sizeof(float));
		j->add_rows.ids = j->ids_copy;
		j->add_rows.scale = (const float *)(const void *)(j->ids_copy + n);
	}
	pthread_mutex_lock(&a->lock);
	if (a->tail[q])
		a->tail[q]->next = j;
	else
		a->head[q] = j;
	a->tail[q] = j;
	a->queued[q]++;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

int sl_cpu_async_queue(struct sl_backend *b, const struct cpu_job *j)
{
	return enqueue(b, j, queue_of(j->kind));
}

int sl_cpu_async_fence(struct sl_backend *b, enum sl_be_queue q, sl_fence *out)
{
	struct cpu_async *a = A(b);
	if ((unsigned)q >= SL_Q_COUNT)
		return sl_errf(&b->err, EINVAL, "%s backend: fence: no queue %d", b->ops->name, (int)q);
	pthread_mutex_lock(&a->lock);
	*out = ((sl_fence)q << FENCE_SHIFT) | a->queued[q];
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* A fence this backend handed out (0 is too); -EINVAL otherwise.  Lock held. */
static int check_fence(struct sl_backend *b, sl_fence f)
{
	struct cpu_async *a = A(b);
	if (FENCE_Q(f) >= SL_Q_COUNT || FENCE_SEQ(f) > a->queued[FENCE_Q(f)])
		return sl_errf(&b->err, EINVAL, "%s backend: 0x%llx is not a fence of this backend", b->ops->name,
			       (unsigned long long)f);
	return 0;
}

int sl_cpu_async_wait(struct sl_backend *b, enum sl_be_queue q, sl_fence f)
{
	struct cpu_async *a = A(b);
	if ((unsigned)q >= SL_Q_COUNT)
		return sl_errf(&b->err, EINVAL, "%s backend: wait: no queue %d", b->ops->name, (int)q);
	pthread_mutex_lock(&a->lock);
	int rc = check_fence(b, f);
	/* Nothing to wait for: the fence's own queue is ordered already, or the fence is done. */
	bool needed = !rc && FENCE_Q(f) != (unsigned)q && a->ran[FENCE_Q(f)] < FENCE_SEQ(f);
	pthread_mutex_unlock(&a->lock);
	if (!needed)
		return rc;
	struct cpu_job j = { .kind = CPU_JOB_WAIT, .wait = { f } };
	return enqueue(b, &j, q);
}

bool sl_cpu_async_fence_done(struct sl_backend *b, sl_fence f)
{
	struct cpu_async *a = A(b);
	if (FENCE_Q(f) >= SL_Q_COUNT)
		return false;
	pthread_mutex_lock(&a->lock);
	bool done = a->ran[FENCE_Q(f)] >= FENCE_SEQ(f);
	pthread_mutex_unlock(&a->lock);
	return done;
}

/* Force each queue up to upto[q], block until it ran, and hand back the first deferred error. */
static int run_until(struct sl_backend *b, const uint64_t *upto)
{
	struct cpu_async *a = A(b);
	bool forced = false;
	for (int q = 0; q < SL_Q_COUNT; q++)
		if (a->want[q] < upto[q])
			a->want[q] = upto[q], forced = true;
	if (forced)
		pthread_cond_signal(&a->work);
	while (!all_ran(a, upto))
		pthread_cond_wait(&a->progress, &a->lock);
	release_frees(a);
	int rc = a->err_rc;
	if (rc) {
		b->err = a->err;
		a->err_rc = 0;
	}
	return rc;
}

int sl_cpu_async_fence_sync(struct sl_backend *b, sl_fence f)
{
	struct cpu_async *a = A(b);
	pthread_mutex_lock(&a->lock);
	int rc = check_fence(b, f);
	if (!rc) {
		uint64_t upto[SL_Q_COUNT] = { 0 };
		upto[FENCE_Q(f)] = FENCE_SEQ(f);
		rc = run_until(b, upto);
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int sl_cpu_async_sync(struct sl_backend *b)
{
	struct cpu_async *a = A(b);
	pthread_mutex_lock(&a->lock);
	uint64_t upto[SL_Q_COUNT];
	memcpy(upto, a->queued, sizeof(upto));
	int rc = run_until(b, upto);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* Queued jobs that write into [p, p+size) poison that part of their output after they run.
 * (One range per job: the hull of the discarded parts, which is exact for the usual single
 * discard of a whole buffer.)  Lock held. */
static void mark_writers(struct cpu_async *a, uint8_t *p, size_t size)
{
	for (int q = 0; q < SL_Q_COUNT; q++)
		for (struct cpu_job *j = a->head[q]; j; j = j->next) {
			uint8_t *o;
			size_t n;
			sl_cpu_job_output(j, &o, &n);
			if (!o || !n)
				continue;
			uint8_t *lo = SL_MAX(o, p), *hi = SL_MIN(o + n, p + size);
			if (hi <= lo)
				continue;
			if (j->poison_hi > j->poison_lo) {
				lo = SL_MIN(lo, j->poison_lo);
				hi = SL_MAX(hi, j->poison_hi);
			}
			j->poison_lo = lo, j->poison_hi = hi;
		}
}

void sl_cpu_async_poison(struct sl_backend *b, void *p, size_t size)
{
	struct cpu_async *a = A(b);
	pthread_mutex_lock(&a->lock);
	mark_writers(a, p, size);
	pthread_mutex_unlock(&a->lock);
	/* The worker is idle unless the host is blocked in a sync, so this races with nothing. */
	memset(p, POISON, size);
}

void sl_cpu_async_free(struct sl_backend *b, void *p, size_t size)
{
	struct cpu_async *a = A(b);
	sl_cpu_async_poison(b, p, size);
	pthread_mutex_lock(&a->lock);
	if (all_ran(a, a->queued)) {
		pthread_mutex_unlock(&a->lock);
		free(p);
		return;
	}
	struct deferred_free *d = malloc(sizeof(*d));
	if (d) {
		d->p = p;
		memcpy(d->after, a->queued, sizeof(d->after));
		d->next = a->frees;
		a->frees = d;
	}
	/* Without memory to remember it, leaking the buffer is safer than freeing it under a job. */
	pthread_mutex_unlock(&a->lock);
}
