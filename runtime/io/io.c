/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io.c — the consumer level of the I/O layer: engine choice, splitting ranges
 * into aligned commands, merging adjacent ones, flow control, and turning every short
 * read or failure into an error that names the file and range.
 *
 * Life of a request: sl_io_submit puts it on q_head..q_tail.  pump() carves commands of
 * at most max_request bytes off the queue head (a command may continue into the next
 * request when file and buffer are both contiguous) and hands them to the engine, never
 * more than queue_depth at once.  Completions decrement the requests' pending counts; a
 * request whose last command completed moves to the done list, which sl_io_reap drains.
 */
#include "io/io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_QD 32u
#define DEFAULT_MAX_REQUEST (1u << 20)
#define BATCH 64u
/* An engine that refuses commands while none are in flight gets this many retries
 * (with a short sleep each) before the requests fail with -EBUSY. */
#define BUSY_TRIES 200
#define BUSY_SLEEP_US 100

/* ---------- open / close ---------- */

int sl_io_engine_open(const struct sl_io_ops *ops, const char *path, const struct sl_io *like,
		      struct sl_io **out, struct sl_err *err)
{
	struct sl_io *io = calloc(1, sizeof(*io));
	if (!io)
		return sl_errf(err, ENOMEM, "out of memory");
	io->ops = ops;
	io->fd = -1;
	io->qd = like->qd;
	io->max_request = like->max_request;
	io->buffered = like->buffered;
	io->open_faults = like->open_faults;
	io->align = io->mem_align = 1;
	snprintf(io->name, sizeof(io->name), "%s", ops->name);
	io->path = strdup(path);
	if (!io->path) {
		free(io);
		return sl_errf(err, ENOMEM, "out of memory");
	}
	int r = ops->open(io, path, err);
	if (r < 0) {
		if (io->fd >= 0)
			close(io->fd);
		free(io->path);
		free(io);
		return r;
	}
	*out = io;
	return 0;
}

void sl_io_engine_close(struct sl_io *io)
{
	if (!io)
		return;
	if (io->ops->close)
		io->ops->close(io);
	if (io->fd >= 0)
		close(io->fd);
	free(io->cmds);
	free(io->path);
	free(io);
}

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

int sl_io_open(const char *engine, const char *path, const struct sl_io_config *cfg,
	       struct sl_io **out, struct sl_err *err)
{
	struct sl_io_config c = { 0 };
	if (cfg)
		c = *cfg;
	if (!engine || !*engine)
		engine = "auto";
	const char *spec = c.fault;
	if (!spec && !c.no_env)
		spec = getenv("SLUICE_IO_FAULT");
	if (spec && !*spec)
		spec = NULL;

	struct sl_io like = { 0 };
	like.qd = c.queue_depth ? c.queue_depth : DEFAULT_QD;
	like.max_request = c.max_request ? c.max_request : DEFAULT_MAX_REQUEST;
	like.buffered = c.buffered;
	if (spec) {
		int r = sl_io_fault_open_flags(spec, &like.open_faults, err);
		if (r < 0)
			return r;
	}

	struct sl_io *io = NULL;
	char notice[256] = "";
	int r;
	if (!strcmp(engine, "auto")) {
		struct sl_err uerr = { "" };
		r = sl_io_engine_open(&sl_io_uring_ops, path, &like, &io, &uerr);
		if (r < 0) {
			/* io_uring or O_DIRECT unavailable (tmpfs, seccomp, old kernel): the
			 * pread engine reads the same bytes, only slower.  If the file itself
			 * is the problem pread fails too and reports it. */
			r = sl_io_engine_open(&sl_io_pread_ops, path, &like, &io, err);
			if (r < 0)
				return r;
			snprintf(notice, sizeof(notice), "io: io_uring unavailable (%.200s); using pread",
				 uerr.msg);
			sl_warn("%s", notice);
		}
	} else {
		const struct sl_io_ops *ops = engine_by_name(engine);
		if (!ops)
			return sl_errf(err, EINVAL, "unknown I/O engine '%s' (auto, uring, pread, mmap)",
				       engine);
		r = sl_io_engine_open(ops, path, &like, &io, err);
		if (r < 0)
			return r;
	}
	snprintf(io->notice, sizeof(io->notice), "%s", notice);

	if (spec && sl_io_fault_has_runtime(spec)) {
		r = sl_io_fault_attach(io, spec, err);
		if (r < 0) {
			sl_io_engine_close(io);
			return r;
		}
	}

	/* Commands are whole aligned blocks, at least one block, at most 1 GiB (an SQE's
	 * length is 32 bits). */
	io->max_request = SL_MIN(io->max_request, (uint64_t)1 << 30);
	io->max_request = SL_ALIGN_UP(SL_MAX(io->max_request, (uint64_t)io->align), io->align);
	io->cmds = calloc(io->qd, sizeof(*io->cmds));
	if (!io->cmds) {
		sl_io_engine_close(io);
		return sl_errf(err, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < io->qd; i++) {
		io->cmds[i].next = io->free_cmds;
		io->free_cmds = &io->cmds[i];
	}
	*out = io;
	return 0;
}

void sl_io_close(struct sl_io *io)
{
	if (!io)
		return;
	/* Commands still in the engine point at caller buffers: let them land first. */
	struct sl_io_cmd *done[BATCH];
	while (io->inflight > 0) {
		int n = io->ops->reap(io, 1, done, BATCH, NULL);
		if (n <= 0)
			break;
		io->inflight -= (unsigned)n;
	}
	sl_io_engine_close(io);
}

/* ---------- accessors ---------- */

const char *sl_io_engine_name(const struct sl_io *io) { return io->name; }
const char *sl_io_path(const struct sl_io *io) { return io->path; }
uint64_t sl_io_file_size(const struct sl_io *io) { return io->file_size; }
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

int sl_io_register_buffer(struct sl_io *io, unsigned slot, void *base, size_t len,
			  struct sl_err *err)
{
	if (slot >= SL_IO_MAX_FIXED)
		return sl_errf(err, EINVAL, "fixed buffer slot %u out of range", slot);
	if (!io->ops->register_buffer)
		return 0;
	return io->ops->register_buffer(io, slot, base, len, err);
}

int sl_io_map(struct sl_io *io, uint64_t off, uint64_t len, const void **ptr, struct sl_err *err)
{
	if (!io->ops->map)
		return sl_errf(err, ENOTSUP, "%s: engine %s cannot map", io->path, io->name);
	uint64_t end;
	if (sl_add_overflow_u64(off, len, &end) || end > io->file_size)
		return sl_errf(err, ENODATA, "%s: ends at %llu, before the end of [%llu, +%llu)",
			       io->path, (unsigned long long)io->file_size, (unsigned long long)off,
			       (unsigned long long)len);
	int r = io->ops->map(io, off, len, ptr);
	return r < 0 ? sl_errf(err, -r, "%s: map failed", io->path) : 0;
}

/* ---------- stats ---------- */

static unsigned hist_index(uint64_t ns)
{
	if (ns < 8)
		return (unsigned)ns;
	unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)(ns >> (msb - 3)) & 7u;
	return (msb - 2) * 8 + sub;
}

static uint64_t hist_mid(unsigned idx)
{
	if (idx < 8)
		return idx;
	unsigned msb = idx / 8 + 2, sub = idx % 8;
	uint64_t lo = (uint64_t)(8 + sub) << (msb - 3);
	return lo + ((1ull << (msb - 3)) >> 1);
}

void sl_io_stats_record_latency(struct sl_io_stats *s, uint64_t ns)
{
	s->lat_hist[hist_index(ns)]++;
	s->lat_count++;
}

uint64_t sl_io_stats_quantile(const struct sl_io_stats *s, double q)
{
	if (!s->lat_count)
		return 0;
	uint64_t want = (uint64_t)(q * (double)s->lat_count);
	if (want >= s->lat_count)
		want = s->lat_count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < SL_IO_HIST_BUCKETS; i++) {
		seen += s->lat_hist[i];
		if (seen > want)
			return hist_mid(i);
	}
	return hist_mid(SL_IO_HIST_BUCKETS - 1);
}

void sl_io_set_trace(struct sl_io *io, sl_io_trace_fn fn, void *ctx)
{
	io->trace = fn;
	io->trace_ctx = ctx;
}

void sl_io_get_stats(const struct sl_io *io, struct sl_io_stats *out)
{
	*out = io->stats;
	if (io->inflight)
		out->busy_ns += sl_now_ns() - io->busy_since;
}

void sl_io_reset_stats(struct sl_io *io)
{
	memset(&io->stats, 0, sizeof(io->stats));
	io->busy_since = sl_now_ns();
}

/* ---------- requests ---------- */

static void done_push(struct sl_io *io, struct sl_io_req *r)
{
	r->next = NULL;
	if (io->done_tail)
		io->done_tail->next = r;
	else
		io->done_head = r;
	io->done_tail = r;
	io->ndone++;
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
	if (r->pending || r->issued < r->a_end - r->a_off)
		return;
	if (r->result >= 0) {
		r->result = (int64_t)r->len;
	} else {
		io->stats.errors++;
	}
	io->stats.requests++;
	done_push(io, r);
}

static bool eof_at(struct sl_io *io, uint64_t pos)
{
	/* The file may have shrunk since open: ask again before blaming the device. */
	struct stat st;
	if (fstat(io->fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < io->file_size)
		io->file_size = (uint64_t)st.st_size;
	return pos >= io->file_size;
}

static void complete_cmd(struct sl_io *io, struct sl_io_cmd *c)
{
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
				 "%s: read of [%llu, +%llu) failed at offset %llu: %s", io->path, ro, rl,
				 (unsigned long long)c->offset, strerror((int)-c->result));
		} else {
			/* bytes of this command the request needs (the tail past its end is padding) */
			uint64_t need = SL_MIN(r->offset + r->len, c->offset + c->len) - c->offset;
			uint64_t got = (uint64_t)c->result;
			if (got > c->len) {
				req_fail(io, r, EIO, "%s: engine returned %llu bytes for a %llu-byte read",
					 io->path, (unsigned long long)got, (unsigned long long)c->len);
			} else if (got < need) {
				if (eof_at(io, c->offset + got))
					req_fail(io, r, ENODATA,
						 "%s: file ends at %llu, before the end of [%llu, +%llu)",
						 io->path, (unsigned long long)(c->offset + got), ro, rl);
				else
					req_fail(io, r, EIO,
						 "%s: short read: %llu of %llu bytes at offset %llu (range [%llu, +%llu))",
						 io->path, (unsigned long long)got, (unsigned long long)need,
						 (unsigned long long)c->offset, ro, rl);
			}
		}
		r->pending--;
		req_maybe_finish(io, r);
	}
	c->nreq = 0;
	c->next = io->free_cmds;
	io->free_cmds = c;
}

/* Carve one command off the queue head, continuing into following requests when both the
 * file range and the buffer are contiguous (consecutive tensors into one staging slab). */
static struct sl_io_cmd *carve(struct sl_io *io)
{
	struct sl_io_req *r = io->q_head;
	struct sl_io_cmd *c = io->free_cmds;
	io->free_cmds = c->next;
	c->next = NULL;
	c->offset = r->a_off + r->issued;
	c->len = 0;
	c->buf = (char *)r->buf + r->issued;
	c->result = 0;
	c->submit_ns = 0;
	c->nreq = 0;
	while (r && c->nreq < SL_IO_CMD_MAX_REQS) {
		uint64_t span = r->a_end - r->a_off;
		if (c->nreq > 0 && (r->issued != 0 || r->a_off != c->offset + c->len ||
				    (char *)r->buf != (char *)c->buf + c->len))
			break;
		uint64_t take = SL_MIN(span - r->issued, io->max_request - c->len);
		if (take == 0)
			break;
		c->len += take;
		r->issued += take;
		r->pending++;
		c->req[c->nreq++] = r;
		if (r->issued < span)
			break;
		io->q_head = r->next;
		if (!io->q_head)
			io->q_tail = NULL;
		r = io->q_head;
		/* a request that already failed (queued before its error was known) is not read */
		while (r && r->result < 0) {
			r->issued = r->a_end - r->a_off;
			io->q_head = r->next;
			if (!io->q_head)
				io->q_tail = NULL;
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

/* Hand queued work to the engine until it is full or nothing is left.  Returns true when the
 * engine refused (queue full). */
static bool pump(struct sl_io *io)
{
	for (;;) {
		while (io->q_head && io->inflight + io->nready < io->qd) {
			struct sl_io_req *h = io->q_head;
			if (h->result < 0) {
				/* failed while partly issued: the rest of it is not worth reading */
				io->q_head = h->next;
				if (!io->q_head)
					io->q_tail = NULL;
				h->issued = h->a_end - h->a_off;
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
		int r = io->ops->submit(io, batch, k);
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
		if (io->trace)
			for (unsigned i = 0; i < taken; i++)
				io->trace(io->trace_ctx, batch[i]->offset, batch[i]->len);
		if (taken < k)
			return true;
	}
}

int sl_io_submit(struct sl_io *io, struct sl_io_req **reqs, unsigned n, struct sl_err *err)
{
	for (unsigned i = 0; i < n; i++) {
		struct sl_io_req *r = reqs[i];
		uint64_t skip, alen;
		if (!r->len || !r->buf)
			return sl_errf(err, EINVAL, "%s: empty read request", io->path);
		if (sl_io_span(io, r->offset, r->len, &r->a_off, &alen, &skip) < 0)
			return sl_errf(err, EOVERFLOW, "%s: read range overflows", io->path);
		if ((uintptr_t)r->buf % io->mem_align)
			return sl_errf(err, EINVAL, "%s: buffer %p not aligned to %u bytes (engine %s)",
				       io->path, r->buf, io->mem_align, io->name);
		r->a_end = r->a_off + alen;
		r->data = (char *)r->buf + skip;
		r->result = 0;
		r->issued = 0;
		r->pending = 0;
		r->next = NULL;
		io->outstanding++;
		if (r->offset + r->len > io->file_size) {
			/* known before any I/O: the file is shorter than the caller believes */
			r->issued = alen;
			req_fail(io, r, ENODATA, "%s: file ends at %llu, before the end of [%llu, +%llu)",
				 io->path, (unsigned long long)io->file_size,
				 (unsigned long long)r->offset, (unsigned long long)r->len);
			req_maybe_finish(io, r);
			continue;
		}
		if (io->q_tail)
			io->q_tail->next = r;
		else
			io->q_head = r;
		io->q_tail = r;
	}
	pump(io);
	return 0;
}

static unsigned take_done(struct sl_io *io, struct sl_io_req **done, unsigned max, bool *failed)
{
	unsigned n = 0;
	while (n < max && io->done_head) {
		struct sl_io_req *r = io->done_head;
		io->done_head = r->next;
		if (!io->done_head)
			io->done_tail = NULL;
		r->next = NULL;
		io->ndone--;
		io->outstanding--;
		if (r->result < 0)
			*failed = true;
		done[n++] = r;
	}
	return n;
}

static int engine_reap(struct sl_io *io, unsigned min, struct sl_err *err)
{
	struct sl_io_cmd *cmds[BATCH];
	int r = io->ops->reap(io, min, cmds, BATCH, err);
	if (r < 0)
		return r;
	io->inflight -= (unsigned)r;
	if (io->inflight == 0)
		io->stats.busy_ns += sl_now_ns() - io->busy_since;
	for (int i = 0; i < r; i++)
		complete_cmd(io, cmds[i]);
	return r;
}

int sl_io_reap(struct sl_io *io, unsigned min, struct sl_io_req **done, unsigned max,
	       struct sl_err *err)
{
	if (min > max)
		min = max;
	if (min > io->outstanding)
		min = io->outstanding;
	unsigned n = 0, spins = 0;
	bool failed = false;
	for (;;) {
		bool busy = pump(io);
		if (io->inflight) {
			unsigned wait = (n + io->ndone < min) ? 1 : 0;
			int r = engine_reap(io, wait, err);
			if (r < 0)
				return r;
			if (r > 0)
				spins = 0;
		}
		n += take_done(io, done + n, max - n, &failed);
		if (n >= min || n == max)
			break;
		if (!io->inflight && busy) {
			/* the engine says full with nothing of ours in flight: give it a moment,
			 * then stop waiting and fail what it will not take */
			if (++spins <= BUSY_TRIES) {
				usleep(BUSY_SLEEP_US);
				continue;
			}
			while (io->ready_head) {
				struct sl_io_cmd *c = ready_pop(io);
				for (unsigned i = 0; i < c->nreq; i++)
					req_fail(io, c->req[i], EBUSY,
						 "%s: I/O queue of engine %s stays full with nothing in flight (range [%llu, +%llu))",
						 io->path, io->name, (unsigned long long)c->req[i]->offset,
						 (unsigned long long)c->req[i]->len);
				c->result = -EBUSY;
				complete_cmd(io, c);
			}
			while (io->q_head) {
				struct sl_io_req *r = io->q_head;
				io->q_head = r->next;
				if (!io->q_head)
					io->q_tail = NULL;
				r->issued = r->a_end - r->a_off;
				req_fail(io, r, EBUSY,
					 "%s: I/O queue of engine %s stays full with nothing in flight",
					 io->path, io->name);
				req_maybe_finish(io, r);
			}
			continue;
		}
		if (!io->inflight && !io->ready_head && !io->q_head && !io->done_head)
			break; /* nothing left that could complete */
	}
	if (failed)
		sl_errf(err, EIO, "%s", io->last_err);
	return (int)n;
}

/* ---------- synchronous read ---------- */

static int read_one(struct sl_io *io, struct sl_io_req *r, struct sl_err *err)
{
	struct sl_io_req *rp = r, *done;
	int n = sl_io_submit(io, &rp, 1, err);
	if (n < 0)
		return n;
	n = sl_io_reap(io, 1, &done, 1, err);
	if (n < 0)
		return n;
	if (n != 1)
		return sl_errf(err, EIO, "%s: read did not complete", io->path);
	return r->result < 0 ? (int)r->result : 0;
}

int sl_io_read(struct sl_io *io, uint64_t off, uint64_t len, void *buf, struct sl_err *err)
{
	if (io->outstanding)
		return sl_errf(err, EBUSY, "%s: sl_io_read with asynchronous requests outstanding",
			       io->path);
	if (len == 0)
		return 0;
	if (off % io->align == 0 && len % io->align == 0 && (uintptr_t)buf % io->mem_align == 0) {
		struct sl_io_req r = { .offset = off, .len = len, .buf = buf };
		return read_one(io, &r, err);
	}
	/* Unaligned: through a bounce buffer big enough to keep the queue full. */
	uint64_t window = SL_MIN((uint64_t)io->qd * io->max_request, (uint64_t)64 << 20);
	window = SL_MAX(window, (uint64_t)io->align * 2);
	uint64_t a_off, a_len, skip;
	if (sl_io_span(io, off, len, &a_off, &a_len, &skip) < 0)
		return sl_errf(err, EOVERFLOW, "%s: read range overflows", io->path);
	window = SL_MIN(window, a_len);
	void *bounce = sl_aligned_alloc(SL_MAX(io->mem_align, 4096u), window);
	if (!bounce)
		return sl_errf(err, ENOMEM, "out of memory for a %llu-byte bounce buffer",
			       (unsigned long long)window);
	int ret = 0;
	uint64_t pos = off, end = off + len;
	while (pos < end) {
		uint64_t a = pos / io->align * io->align;
		uint64_t piece_end = SL_MIN(end, a + window);
		struct sl_io_req r = { .offset = pos, .len = piece_end - pos, .buf = bounce };
		ret = read_one(io, &r, err);
		if (ret < 0)
			break;
		memcpy((char *)buf + (pos - off), r.data, r.len);
		pos = piece_end;
	}
	free(bounce);
	return ret;
}

void sl_io_cmdq_push(struct sl_io_cmdq *q, struct sl_io_cmd *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

unsigned sl_io_cmdq_pop(struct sl_io_cmdq *q, struct sl_io_cmd **done, unsigned max)
{
	unsigned n = 0;
	while (n < max && q->head) {
		done[n++] = q->head;
		q->head = q->head->next;
		if (!q->head)
			q->tail = NULL;
	}
	return n;
}
