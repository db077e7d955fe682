/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io.c — the consumer level of the I/O layer: engine choice, splitting ranges
 * into aligned commands, merging adjacent ones, flow control, and turning every short
 * read or failure into an error that names the source and range.
 *
 * Life of a request: sl_io_submit checks it lies in registered memory and puts it on
 * q_head..q_tail.  sl_io_pump() carves commands of at most max_request bytes off the queue
 * head (a command may continue into the next request when source range and buffer are both
 * contiguous) and hands them to the engine, never more than queue_depth at once.
 * Completions decrement the requests' pending counts; a request whose last command
 * completed moves to the done list, which sl_io_reap drains.  Without the I/O thread the
 * consumer pumps and reaps in sl_io_reap; with it, io_thread.c does (see io.h).
 */
#include "io/io_priv.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_QD 32u
#define DEFAULT_MAX_REQUEST (1u << 20)
#define BATCH 64u

/* ---------- open / close ---------- */

static const struct sl_io_ops *engine_by_name(const char *name)
{
	if (!strcmp(name, "uring") || !strcmp(name, "io_uring"))
		return &sl_io_uring_ops;
	if (!strcmp(name, "pread"))
		return &sl_io_pread_ops;
	if (!strcmp(name, "mmap"))
		return &sl_io_mmap_ops;
	return NULL;
}

int sl_io_open_engine(struct sl_io_engine *e, const struct sl_io_config *cfg, struct sl_io **out,
		      struct sl_err *err)
{
	struct sl_io_config c = { 0 };
	if (cfg)
		c = *cfg;
	int r;
	if (c.fault && *c.fault && sl_io_fault_has_runtime(c.fault)) {
		struct sl_io_engine *f;
		if ((r = sl_io_fault_wrap(e, c.fault, &f, err)) < 0) {
			e->ops->close(e);
			return r;
		}
		e = f;
	}
	struct sl_io *io = calloc(1, sizeof(*io));
	if (!io) {
		e->ops->close(e);
		return sl_errf(err, ENOMEM, "out of memory");
	}
	io->eng = e;
	io->size = e->size;
	io->align = SL_MAX(e->align, 1u);
	io->mem_align = SL_MAX(e->mem_align, 1u);
	io->qd = SL_MIN(c.queue_depth ? c.queue_depth : DEFAULT_QD, SL_MAX(e->qd, 1u));
	io->threaded = c.thread;
	/* Commands are whole aligned blocks, at least one block, at most 1 GiB (an SQE's
	 * length is 32 bits). */
	uint64_t mr = c.max_request ? c.max_request : DEFAULT_MAX_REQUEST;
	mr = SL_MIN(mr, (uint64_t)1 << 30);
	io->max_request = SL_ALIGN_UP(SL_MAX(mr, (uint64_t)io->align), io->align);
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->done_cv, NULL);
	pthread_cond_init(&io->work_cv, NULL);
	io->cmds = calloc(io->qd, sizeof(*io->cmds));
	if (!io->cmds) {
		sl_io_close(io);
		return sl_errf(err, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < io->qd; i++) {
		io->cmds[i].next = io->free_cmds;
		io->free_cmds = &io->cmds[i];
	}
	io->busy_since = sl_now_ns();
	if (io->threaded && (r = sl_io_thread_start(io, err)) < 0) {
		sl_io_close(io);
		return r;
	}
	*out = io;
	return 0;
}

int sl_io_open(const char *engine, const struct sl_io_source *src, const struct sl_io_config *cfg,
	       struct sl_io **out, struct sl_err *err)
{
	if (!src || !src->path)
		return sl_errf(err, EINVAL, "I/O source without a path");
	if (!engine || !*engine)
		engine = "auto";
	const char *spec = cfg && cfg->fault && *cfg->fault ? cfg->fault : NULL;
	struct sl_io_engine_params p = {
		.qd = cfg && cfg->queue_depth ? cfg->queue_depth : DEFAULT_QD,
		.buffered = cfg && cfg->buffered,
	};
	int r;
	if (spec && (r = sl_io_fault_open_flags(spec, &p, err)) < 0)
		return r;

	struct sl_io_engine *e = NULL;
	char notice[256] = "";
	if (!strcmp(engine, "auto")) {
		struct sl_err uerr = { "" };
		r = sl_io_uring_ops.open(src, &p, &e, &uerr);
		if (r < 0) {
			/* io_uring or O_DIRECT unavailable (tmpfs, seccomp, old kernel): the
			 * pread engine reads the same bytes, only slower.  If the file itself
			 * is the problem pread fails too and reports it. */
			if ((r = sl_io_pread_ops.open(src, &p, &e, err)) < 0)
				return r;
			snprintf(notice, sizeof(notice), "io: io_uring unavailable (%.200s); using pread",
				 uerr.msg);
			sl_warn("%s", notice);
		}
	} else if (!strncmp(engine, "nvme:", 5)) {
		/* the userspace NVMe driver: the argument names the namespace range */
		p.arg = engine + 5;
		if ((r = sl_io_nvme_ops.open(src, &p, &e, err)) < 0)
			return r;
	} else {
		const struct sl_io_ops *ops = engine_by_name(engine);
		if (!ops)
			return sl_errf(err, EINVAL, "unknown I/O engine '%s' (auto, uring, pread, mmap, nvme:BDF[/NSID])",
				       engine);
		if ((r = ops->open(src, &p, &e, err)) < 0)
			return r;
	}
	struct sl_io *io;
	if ((r = sl_io_open_engine(e, cfg, &io, err)) < 0)
		return r;
	snprintf(io->notice, sizeof(io->notice), "%s", notice);
	*out = io;
	return 0;
}

void sl_io_close(struct sl_io *io)
{
	if (!io)
		return;
	if (io->thread_started)
		sl_io_thread_stop(io);
	/* Commands still in the engine point at caller buffers: let them land first. */
	struct sl_io_cmd *done[BATCH];
	while (io->inflight > 0) {
		int n = io->eng->ops->reap(io->eng, 1, done, BATCH, NULL);
		if (n <= 0)
			break;
		io->inflight -= (unsigned)n;
	}
	sl_io_mem_free_all(io);
	io->eng->ops->close(io->eng);
	pthread_cond_destroy(&io->work_cv);
	pthread_cond_destroy(&io->done_cv);
	pthread_mutex_destroy(&io->mu);
	free(io->cmds);
	free(io);
}

/* ---------- accessors ---------- */

const char *sl_io_engine_name(const struct sl_io *io) { return io->eng->name; }
const char *sl_io_path(const struct sl_io *io) { return io->eng->path; }
uint64_t sl_io_file_size(const struct sl_io *io) { return io->size; }
uint32_t sl_io_alignment(const struct sl_io *io) { return io->align; }
uint32_t sl_io_mem_alignment(const struct sl_io *io) { return io->mem_align; }
uint32_t sl_io_queue_depth(const struct sl_io *io) { return io->qd; }
uint64_t sl_io_max_request(const struct sl_io *io) { return io->max_request; }
const char *sl_io_notice(const struct sl_io *io) { return io->notice; }
unsigned sl_io_outstanding(const struct sl_io *io) { return io->outstanding; }

int sl_io_span(const struct sl_io *io, uint64_t off, uint64_t len, uint64_t *aligned_off,
	       uint64_t *aligned_len, uint64_t *skip)
{
	uint64_t end;
	if (sl_add_overflow_u64(off, len, &end) || end > UINT64_MAX - io->align)
		return -EOVERFLOW;
	uint64_t a_off = off / io->align * io->align;
	uint64_t a_end = SL_ALIGN_UP(end, (uint64_t)io->align);
	*aligned_off = a_off;
	*aligned_len = a_end - a_off;
	*skip = off - a_off;
	return 0;
}

bool sl_io_maps(const struct sl_io *io)
{
	return io->eng->maps;
}

int sl_io_map(struct sl_io *io, uint64_t off, uint64_t len, const void **ptr, struct sl_err *err)
{
	struct sl_io_engine *e = io->eng;
	if (!e->ops->map)
		return sl_errf(err, ENOTSUP, "%s: engine %s cannot map", e->path, e->name);
	uint64_t end;
	if (sl_add_overflow_u64(off, len, &end) || end > io->size)
		return sl_errf(err, ENODATA, "%s: ends at %llu, before the end of [%llu, +%llu)",
			       e->path, (unsigned long long)io->size, (unsigned long long)off,
			       (unsigned long long)len);
	int r = e->ops->map(e, off, len, ptr);
	return r < 0 ? sl_errf(err, -r, "%s: map failed", e->path) : 0;
}

void sl_io_set_trace(struct sl_io *io, sl_io_trace_fn fn, void *ctx)
{
	pthread_mutex_lock(&io->mu);
	io->trace = fn;
	io->trace_ctx = ctx;
	pthread_mutex_unlock(&io->mu);
}

/* ---------- requests (all with mu held) ---------- */

static void done_push(struct sl_io *io, struct sl_io_req *r)
{
	r->priv.next = NULL;
	if (io->done_tail)
		io->done_tail->priv.next = r;
	else
		io->done_head = r;
	io->done_tail = r;
	io->ndone++;
	if (io->threaded)
		pthread_cond_broadcast(&io->done_cv);
}

/* Record the first error of a request (later commands of a failed request add nothing). */
static void req_fail(struct sl_io *io, struct sl_io_req *r, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void req_fail(struct sl_io *io, struct sl_io_req *r, int errnum, const char *fmt, ...)
{
	if (r->result < 0)
		return;
	r->result = -errnum;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(io->last_err, sizeof(io->last_err), fmt, ap);
	va_end(ap);
}

static void req_maybe_finish(struct sl_io *io, struct sl_io_req *r)
{
	if (r->priv.pending || r->priv.issued < r->priv.a_end - r->priv.a_off)
		return;
	if (r->result >= 0)
		r->result = (int64_t)r->len;
	else
		io->stats.errors++;
	io->stats.requests++;
	r->priv.mem->reqs--;
	SL_TRACE_AE("io", "read", r);
	SL_TRACE_CADD(SL_TC_IO_BYTES_IN_FLIGHT, -(int64_t)r->len);
	done_push(io, r);
}

static bool eof_at(struct sl_io *io, uint64_t pos)
{
	/* The source may have shrunk since open: ask again before blaming the device. */
	uint64_t now;
	if (io->eng->ops->size && io->eng->ops->size(io->eng, &now) == 0 && now < io->size)
		io->size = now;
	return pos >= io->size;
}

static void complete_cmd(struct sl_io *io, struct sl_io_cmd *c)
{
	const char *path = io->eng->path;
	uint64_t now = sl_now_ns();
	if (c->submit_ns)
		sl_io_stats_record_latency(&io->stats, now - c->submit_ns);
	io->stats.commands++;
	if (c->result > 0)
		io->stats.bytes += (uint64_t)c->result;
	for (unsigned i = 0; i < c->nreq; i++) {
		struct sl_io_req *r = c->req[i];
		unsigned long long ro = r->offset, rl = r->len;
		if (c->result < 0) {
			req_fail(io, r, (int)-c->result,
				 "%s: read of [%llu, +%llu) failed at offset %llu: %s", path, ro, rl,
				 (unsigned long long)c->offset,
				 c->detail && *c->detail ? c->detail : strerror((int)-c->result));
		} else {
			/* bytes of this command the request needs (the tail past its end is padding) */
			uint64_t need = SL_MIN(r->offset + r->len, c->offset + c->len) - c->offset;
			uint64_t got = (uint64_t)c->result;
			if (got > c->len) {
				req_fail(io, r, EIO, "%s: engine returned %llu bytes for a %llu-byte read",
					 path, (unsigned long long)got, (unsigned long long)c->len);
			} else if (got < need) {
				if (eof_at(io, c->offset + got))
					req_fail(io, r, ENODATA,
						 "%s: file ends at %llu, before the end of [%llu, +%llu)",
						 path, (unsigned long long)io->size, ro, rl);
				else
					req_fail(io, r, EIO,
						 "%s: short read: %llu of %llu bytes at offset %llu (range [%llu, +%llu))",
						 path, (unsigned long long)got, (unsigned long long)need,
						 (unsigned long long)c->offset, ro, rl);
			}
		}
		r->priv.pending--;
		req_maybe_finish(io, r);
	}
	c->nreq = 0;
	c->next = io->free_cmds;
	io->free_cmds = c;
}

static void q_pop(struct sl_io *io)
{
	io->q_head = io->q_head->priv.next;
	if (!io->q_head)
		io->q_tail = NULL;
}

/* Carve one command off the queue head, continuing into following requests when both the
 * source range and the buffer are contiguous (consecutive tensors into one staging slab). */
static struct sl_io_cmd *carve(struct sl_io *io)
{
	struct sl_io_req *r = io->q_head;
	struct sl_io_cmd *c = io->free_cmds;
	io->free_cmds = c->next;
	c->next = NULL;
	c->offset = r->priv.a_off + r->priv.issued;
	c->len = 0;
	c->mem = r->priv.mem;
	c->mem_off = r->priv.mem_off + r->priv.issued;
	c->buf = (char *)r->buf + r->priv.issued;
	c->result = 0;
	c->detail = NULL;
	c->submit_ns = 0;
	c->nreq = 0;
	while (r && c->nreq < SL_IO_CMD_MAX_REQS) {
		uint64_t span = r->priv.a_end - r->priv.a_off;
		if (c->nreq > 0 && (r->priv.issued != 0 || r->priv.a_off != c->offset + c->len ||
				    r->priv.mem != c->mem || r->priv.mem_off != c->mem_off + c->len))
			break;
		uint64_t take = SL_MIN(span - r->priv.issued, io->max_request - c->len);
		if (take == 0)
			break;
		c->len += take;
		r->priv.issued += take;
		r->priv.pending++;
		c->req[c->nreq++] = r;
		if (r->priv.issued < span)
			break;
		q_pop(io);
		r = io->q_head;
		/* a request that already failed (queued before its error was known) is not read */
		while (r && r->result < 0) {
			r->priv.issued = r->priv.a_end - r->priv.a_off;
			q_pop(io);
			req_maybe_finish(io, r);
			r = io->q_head;
		}
		if (c->len >= io->max_request)
			break;
	}
	return c;
}

static void ready_push(struct sl_io *io, struct sl_io_cmd *c)
{
	c->next = NULL;
	if (io->ready_tail)
		io->ready_tail->next = c;
	else
		io->ready_head = c;
	io->ready_tail = c;
	io->nready++;
}

static struct sl_io_cmd *ready_pop(struct sl_io *io)
{
	struct sl_io_cmd *c = io->ready_head;
	io->ready_head = c->next;
	if (!io->ready_head)
		io->ready_tail = NULL;
	io->nready--;
	c->next = NULL;
	return c;
}

bool sl_io_pump(struct sl_io *io)
{
	struct sl_io_engine *e = io->eng;
	/* A sync engine does the reading inside submit: on the I/O thread, not under the lock
	 * (the consumer never issues to a sync engine when the thread runs, so nothing races). */
	bool unlock = io->threaded && e->sync;
	for (;;) {
		while (io->q_head && io->inflight + io->nready < io->qd) {
			struct sl_io_req *h = io->q_head;
			if (h->result < 0) {
				/* failed while partly issued: the rest of it is not worth reading */
				q_pop(io);
				h->priv.issued = h->priv.a_end - h->priv.a_off;
				req_maybe_finish(io, h);
				continue;
			}
			ready_push(io, carve(io));
		}
		if (!io->ready_head)
			return false;
		/* Off the ready list before the engine sees them: engines reuse cmd->next. */
		struct sl_io_cmd *batch[BATCH];
		unsigned k = 0;
		uint64_t now = sl_now_ns();
		while (io->ready_head && k < BATCH) {
			batch[k] = ready_pop(io);
			batch[k++]->submit_ns = now;
		}
		if (unlock)
			pthread_mutex_unlock(&io->mu);
		int r = e->ops->submit(e, batch, k);
		if (unlock)
			pthread_mutex_lock(&io->mu);
		if (r < 0 && r != -EBUSY && r != -EAGAIN) {
			/* the engine rejected the commands themselves: they fail, the rest goes on */
			for (unsigned i = 0; i < k; i++) {
				batch[i]->result = r;
				complete_cmd(io, batch[i]);
			}
			continue;
		}
		unsigned taken = r < 0 ? 0 : (unsigned)r;
		for (unsigned i = k; i-- > taken;) { /* back to the front, in order */
			batch[i]->next = io->ready_head;
			io->ready_head = batch[i];
			if (!io->ready_tail)
				io->ready_tail = batch[i];
			io->nready++;
		}
		if (taken == 0) {
			io->stats.busy_retries++;
			return true;
		}
		if (io->inflight == 0)
			io->busy_since = now;
		io->inflight += taken;
		SL_TRACE_C("io queue depth", io->inflight);
		if (io->trace) /* offsets and lengths only: the commands may be complete already */
			for (unsigned i = 0; i < taken; i++)
				io->trace(io->trace_ctx, batch[i]->offset, batch[i]->len);
		if (taken < k)
			return true;
	}
}

int sl_io_submit(struct sl_io *io, struct sl_io_req **reqs, unsigned n, struct sl_err *err)
{
	const char *path = io->eng->path;
	int ret = 0;
	pthread_mutex_lock(&io->mu);
	for (unsigned i = 0; i < n; i++) {
		struct sl_io_req *r = reqs[i];
		uint64_t skip, alen;
		if (!r->len || !r->buf) {
			ret = sl_errf(err, EINVAL, "%s: empty read request", path);
			break;
		}
		if (sl_io_span(io, r->offset, r->len, &r->priv.a_off, &alen, &skip) < 0) {
			ret = sl_errf(err, EOVERFLOW, "%s: read range overflows", path);
			break;
		}
		if ((uintptr_t)r->buf % io->mem_align) {
			ret = sl_errf(err, EINVAL, "%s: buffer %p not aligned to %u bytes (engine %s)",
				      path, r->buf, io->mem_align, io->eng->name);
			break;
		}
		struct sl_io_mem *m = sl_io_mem_find(io, r->buf, alen);
		if (!m) {
			ret = sl_errf(err, EINVAL,
				      "%s: read buffer %p (%llu bytes for [%llu, +%llu)) is not inside memory registered with sl_io_mem_register",
				      path, r->buf, (unsigned long long)alen,
				      (unsigned long long)r->offset, (unsigned long long)r->len);
			break;
		}
		r->priv.a_end = r->priv.a_off + alen;
		r->priv.mem = m;
		r->priv.mem_off = (uint64_t)((char *)r->buf - (char *)m->base);
		r->priv.issued = 0;
		r->priv.pending = 0;
		r->priv.next = NULL;
		r->data = (char *)r->buf + skip;
		r->result = 0;
		m->reqs++;
		io->outstanding++;
		SL_TRACE_AB("io", "read", r, "bytes,offset,queue depth,$engine", r->len, r->offset, io->inflight,
			    io->eng->ops->name);
		SL_TRACE_CADD(SL_TC_IO_BYTES_IN_FLIGHT, r->len);
		if (r->offset + r->len > io->size) {
			/* known before any I/O: the source is shorter than the caller believes */
			r->priv.issued = alen;
			req_fail(io, r, ENODATA, "%s: file ends at %llu, before the end of [%llu, +%llu)",
				 path, (unsigned long long)io->size, (unsigned long long)r->offset,
				 (unsigned long long)r->len);
			req_maybe_finish(io, r);
			continue;
		}
		if (io->q_tail)
			io->q_tail->priv.next = r;
		else
			io->q_head = r;
		io->q_tail = r;
	}
	if (!io->threaded) {
		sl_io_pump(io);
	} else {
		/* An asynchronous engine takes commands at once from here (no hand-off latency);
		 * a sync one reads in submit, which is the thread's job. */
		if (!io->eng->sync)
			sl_io_pump(io);
		pthread_cond_signal(&io->work_cv);
	}
	pthread_mutex_unlock(&io->mu);
	return ret;
}

unsigned sl_io_take_done(struct sl_io *io, struct sl_io_req **done, unsigned max, bool *failed)
{
	unsigned n = 0;
	while (n < max && io->done_head) {
		struct sl_io_req *r = io->done_head;
		io->done_head = r->priv.next;
		if (!io->done_head)
			io->done_tail = NULL;
		r->priv.next = NULL;
		io->ndone--;
		io->outstanding--;
		if (r->result < 0)
			*failed = true;
		done[n++] = r;
	}
	return n;
}

int sl_io_engine_reap(struct sl_io *io, unsigned min, struct sl_err *err)
{
	struct sl_io_cmd *cmds[BATCH];
	int r = io->eng->ops->reap(io->eng, min, cmds, BATCH, err);
	if (r < 0)
		return r;
	io->inflight -= (unsigned)r;
	SL_TRACE_C("io queue depth", io->inflight);
	if (r > 0 && io->inflight == 0)
		io->stats.busy_ns += sl_now_ns() - io->busy_since;
	for (int i = 0; i < r; i++)
		complete_cmd(io, cmds[i]);
	return r;
}

void sl_io_fail_stuck(struct sl_io *io)
{
	const char *path = io->eng->path, *name = io->eng->name;
	while (io->ready_head) {
		struct sl_io_cmd *c = ready_pop(io);
		for (unsigned i = 0; i < c->nreq; i++)
			req_fail(io, c->req[i], EBUSY,
				 "%s: I/O queue of engine %s stays full with nothing in flight (range [%llu, +%llu))",
				 path, name, (unsigned long long)c->req[i]->offset,
				 (unsigned long long)c->req[i]->len);
		c->result = -EBUSY;
		complete_cmd(io, c);
	}
	while (io->q_head) {
		struct sl_io_req *r = io->q_head;
		q_pop(io);
		r->priv.issued = r->priv.a_end - r->priv.a_off;
		req_fail(io, r, EBUSY, "%s: I/O queue of engine %s stays full with nothing in flight",
			 path, name);
		req_maybe_finish(io, r);
	}
}

/* Without the thread: the consumer drives the engine here. */
static int reap_inline(struct sl_io *io, unsigned min, struct sl_io_req **done, unsigned max,
		       bool *failed, struct sl_err *err)
{
	unsigned n = 0, spins = 0;
	for (;;) {
		bool busy = sl_io_pump(io);
		if (io->inflight) {
			unsigned wait = (n + io->ndone < min) ? 1 : 0;
			int r = sl_io_engine_reap(io, wait, err);
			if (r < 0)
				return r;
			if (r > 0)
				spins = 0;
		}
		n += sl_io_take_done(io, done + n, max - n, failed);
		if (n >= min || n == max)
			break;
		if (!io->inflight && busy) {
			/* the engine says full with nothing of ours in flight: give it a moment,
			 * then stop waiting and fail what it will not take */
			if (++spins <= SL_IO_BUSY_TRIES) {
				usleep(SL_IO_BUSY_SLEEP_US);
				continue;
			}
			sl_io_fail_stuck(io);
			continue;
		}
		if (!io->inflight && !io->ready_head && !io->q_head && !io->done_head)
			break; /* nothing left that could complete */
	}
	return (int)n;
}

int sl_io_reap(struct sl_io *io, unsigned min, struct sl_io_req **done, unsigned max,
	       struct sl_err *err)
{
	if (min > max)
		min = max;
	if (min > io->outstanding)
		min = io->outstanding;
	if (io->threaded)
		return sl_io_thread_reap(io, min, done, max, err);
	bool failed = false;
	pthread_mutex_lock(&io->mu);
	int n = reap_inline(io, min, done, max, &failed, err);
	if (n >= 0 && failed)
		sl_errf(err, EIO, "%s", io->last_err);
	pthread_mutex_unlock(&io->mu);
	return n;
}
