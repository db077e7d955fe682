/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme_engine.c — the "nvme" I/O engine: reads go straight to an NVMe
 * namespace through the userspace driver (runtime/io/nvme/), no kernel on the data path.
 *
 * Source: the engine argument "BDF[/NSID][@OFFSET][+LENGTH]" (sl_io_open's engine name
 * "nvme:..."): byte OFFSET on the namespace (a multiple of its block size) is the source's
 * byte 0, and LENGTH bytes (default: to the namespace end) are its size — a staged model
 * image, after its superblock.
 *
 * A command from the generic layer may be longer than the controller's transfer size
 * (MDTS): it becomes several NVMe commands ("pieces"), issued as queue slots free up and
 * counted back in; it completes when all its pieces have.  Memory regions are mapped for
 * the device with VFIO_IOMMU_MAP_DMA at register time, so a command's device address is
 * the region's IO virtual address + offset and no per-I/O pinning or system call happens.
 *
 * Completions are polled (phase tags); wait() spins briefly, then naps, so an idle drive
 * does not burn a core.  A piece not completed within the command timeout resets the
 * controller; every command then in flight fails with -ETIMEDOUT and the engine goes on.
 *
 * Options after the source, for tests: ",prp" (PRP lists even when the controller has SGLs,
 * so both data-pointer paths are tested), ",timeout=MS" (the command timeout, default 5000) and
 * ",stall=N" (after the Nth NVMe command is submitted, disable the controller behind the
 * driver's back — a controller reset in the middle of I/O: nothing in flight is ever
 * answered, which is what the timeout and recovery path must handle).
 */
#include "io/io_engine.h"
#include "io/nvme/nvme.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 4096ull

struct track {
	struct sl_io_cmd *cmd;  /* NULL: free */
	uint64_t len;           /* bytes to read (clamped to the source end) */
	uint64_t issued;        /* bytes handed to pieces */
	unsigned pieces;        /* in flight */
	int error;              /* first failure, -errno */
	struct track *next;     /* FIFO of commands with pieces left to issue */
};

struct nvme_engine {
	struct sl_io_engine e; /* first */
	struct sl_nvme *n;
	uint64_t base;          /* byte offset of the source on the namespace */
	struct track *t;        /* e.qd of them */
	struct track *issue_head, *issue_tail;
	struct sl_io_cmdq done;
	unsigned active;        /* tracks in use */
	struct sl_err err;      /* the last NVMe-level error: the detail of failed commands */
	uint32_t timeout_ms;    /* ",timeout=MS" */
	uint64_t stall_at;      /* ",stall=N": 0 none */
	uint64_t submitted;     /* NVMe commands so far */
	bool prp_only;          /* ",prp": PRP lists even when the controller has SGLs */
};

static int parse_arg(const char *arg, char *bdf, size_t bdf_n, uint32_t *nsid, uint64_t *off, uint64_t *len,
		     struct nvme_engine *st)
{
	*nsid = 0;
	*off = 0;
	*len = 0;
	size_t k = strcspn(arg, "/@+,");
	if (!k || k >= bdf_n)
		return -EINVAL;
	memcpy(bdf, arg, k);
	bdf[k] = 0;
	const char *p = arg + k;
	char *end;
	if (*p == '/') {
		*nsid = (uint32_t)strtoul(p + 1, &end, 10);
		if (end == p + 1)
			return -EINVAL;
		p = end;
	}
	if (*p == '@') {
		*off = strtoull(p + 1, &end, 0);
		if (end == p + 1)
			return -EINVAL;
		p = end;
	}
	if (*p == '+') {
		*len = strtoull(p + 1, &end, 0);
		if (end == p + 1)
			return -EINVAL;
		p = end;
	}
	while (*p == ',') {
		unsigned long long v;
		int used = 0;
		if (sscanf(p, ",timeout=%llu%n", &v, &used) == 1 && used && v > 0 && v < 3600000)
			st->timeout_ms = (uint32_t)v;
		else if (sscanf(p, ",stall=%llu%n", &v, &used) == 1 && used)
			st->stall_at = v;
		else if (!strncmp(p, ",prp", 4) && (p[4] == ',' || !p[4]))
			st->prp_only = true, used = 4;
		else
			return -EINVAL;
		p += used;
	}
	return *p ? -EINVAL : 0;
}

static void nvme_close(struct sl_io_engine *e)
{
	struct nvme_engine *st = (struct nvme_engine *)e;
	sl_nvme_close(st->n);
	free(st->t);
	sl_io_engine_fini(e);
	free(st);
}

static int nvme_open(const struct sl_io_source *src, const struct sl_io_engine_params *p,
		     struct sl_io_engine **out, struct sl_err *err)
{
	const char *arg = p->arg;
	char bdf[64];
	uint32_t nsid;
	uint64_t off, len;
	struct nvme_engine *st = calloc(1, sizeof(*st));
	if (!st)
		return sl_errf(err, ENOMEM, "out of memory");
	if (!arg || parse_arg(arg, bdf, sizeof(bdf), &nsid, &off, &len, st)) {
		free(st);
		return sl_errf(err, EINVAL, "nvme engine: source '%s' is not BDF[/NSID][@OFFSET][+LENGTH][,prp][,timeout=MS][,stall=N]",
			       arg ? arg : "");
	}
	struct sl_io_source named = { .kind = SL_IO_SOURCE_FILE, .path = arg };
	int r = sl_io_engine_init(&st->e, &sl_io_nvme_ops, &named, err);
	unsigned qd = p->qd ? p->qd : 32;
	if (!r)
		r = sl_nvme_open(&st->n, bdf, nsid, 256, st->prp_only ? SL_NVME_PRP_ONLY : 0, err);
	if (!r && !(st->t = calloc(qd, sizeof(*st->t))))
		r = sl_errf(err, ENOMEM, "out of memory");
	if (r) {
		nvme_close(&st->e);
		return r;
	}
	struct sl_nvme *n = st->n;
	if (st->timeout_ms)
		n->cmd_timeout_ms = st->timeout_ms;
	snprintf(st->e.name, sizeof(st->e.name), "nvme(%s)", n->sgl ? "sgl" : "prp");
	uint64_t ns_bytes = n->nlba * n->lba_size;
	if (off % n->lba_size || off > ns_bytes) {
		nvme_close(&st->e);
		return sl_errf(err, EINVAL, "%s: offset %llu is not a block boundary inside the namespace (%u-byte blocks, %llu bytes)",
			       arg, (unsigned long long)off, n->lba_size, (unsigned long long)ns_bytes);
	}
	if (len > ns_bytes - off) {
		nvme_close(&st->e);
		return sl_errf(err, ENOSPC, "%s: [%llu, +%llu) passes the namespace end (%llu bytes)", arg,
			       (unsigned long long)off, (unsigned long long)len, (unsigned long long)ns_bytes);
	}
	st->base = off;
	st->e.size = len ? len : ns_bytes - off;
	st->e.align = n->lba_size;
	st->e.mem_align = 4; /* PRP entries: dword aligned */
	st->e.qd = qd;
	*out = &st->e;
	return 0;
}

static int nvme_mem_register(struct sl_io_engine *e, struct sl_io_mem *m, struct sl_err *err)
{
	struct nvme_engine *st = (struct nvme_engine *)e;
	uintptr_t b = (uintptr_t)m->base, pb = b & ~(uintptr_t)(PAGE - 1);
	size_t len = SL_ALIGN_UP(b + m->len, PAGE) - pb;
	uint64_t iova;
	int r = sl_vfio_dma_map(&st->n->v, (void *)pb, len, &iova, err);
	if (r)
		return r;
	m->iova = iova + (b - pb);
	m->slot = -1;
	return 0;
}

static void nvme_mem_unregister(struct sl_io_engine *e, struct sl_io_mem *m)
{
	struct nvme_engine *st = (struct nvme_engine *)e;
	uintptr_t b = (uintptr_t)m->base, pb = b & ~(uintptr_t)(PAGE - 1);
	sl_vfio_dma_unmap(&st->n->v, m->iova - (b - pb), SL_ALIGN_UP(b + m->len, PAGE) - pb);
}

static void finish(struct nvme_engine *st, struct track *t)
{
	t->cmd->result = t->error ? t->error : (int64_t)t->len;
	/* the words for a failure: st->err is set with every error before it is recorded */
	t->cmd->detail = t->error ? st->err.msg : NULL;
	sl_io_cmdq_push(&st->done, t->cmd);
	t->cmd = NULL;
	st->active--;
}

/* Issue pieces of queued commands while queue slots are free. */
static void pump(struct nvme_engine *st)
{
	struct sl_nvme *n = st->n;
	while (st->issue_head) {
		struct track *t = st->issue_head;
		int slot = sl_nvme_slot_get(n);
		if (slot < 0)
			return;
		/* Whole blocks: a source that ends inside a block (an image padded to one on the
		 * namespace) still reads the block; the buffer spans it (sl_io_span). */
		uint64_t chunk = SL_MIN((uint64_t)n->max_xfer, SL_ALIGN_UP(t->len - t->issued, n->lba_size));
		uint64_t iova = t->cmd->mem->iova + t->cmd->mem_off + t->issued;
		uint64_t at = st->base + t->cmd->offset + t->issued;
		int r = sl_nvme_submit_rw(n, (unsigned)slot, false, at / n->lba_size, (uint32_t)(chunk / n->lba_size), iova, t);
		if (r) {
			sl_errf(&st->err, -r, "%s", r == -EIO ? "the controller failed and could not be reset" : "bad NVMe command");
			t->error = t->error ? t->error : r;
			t->issued = t->len; /* nothing more of it */
		} else {
			t->pieces++;
			t->issued = SL_MIN(t->issued + chunk, t->len);
			if (++st->submitted == st->stall_at) /* test fault: see the top */
				sl_mmio_w32(&n->v, NVME_REG_CC, 0);
		}
		if (t->issued == t->len) {
			st->issue_head = t->next;
			if (!st->issue_head)
				st->issue_tail = NULL;
			if (!t->pieces)
				finish(st, t);
		}
	}
}

static int nvme_submit(struct sl_io_engine *e, struct sl_io_cmd **cmds, unsigned n)
{
	struct nvme_engine *st = (struct nvme_engine *)e;
	unsigned taken = 0;
	for (; taken < n && st->active < e->qd; taken++) {
		struct sl_io_cmd *c = cmds[taken];
		struct track *t = NULL;
		for (unsigned i = 0; i < e->qd && !t; i++)
			if (!st->t[i].cmd)
				t = &st->t[i];
		*t = (struct track){ .cmd = c };
		st->active++;
		/* A read past the source end is short (the generic layer says -ENODATA). */
		t->len = c->offset >= e->size ? 0 : SL_MIN(c->len, e->size - c->offset);
		if (!t->len || !c->mem) {
			if (!c->mem)
				sl_errf(&st->err, EINVAL, "a command without registered memory");
			t->error = c->mem ? 0 : -EINVAL;
			finish(st, t);
			continue;
		}
		if (st->issue_tail)
			st->issue_tail->next = t;
		else
			st->issue_head = t;
		st->issue_tail = t;
	}
	pump(st);
	return (int)taken;
}

/* The controller stopped answering: reset it and fail everything in flight. */
static void timeout_reset(struct nvme_engine *st)
{
	struct sl_err re;
	int r = sl_nvme_reset(st->n, &re);
	sl_errf(&st->err, ETIMEDOUT, "NVMe command got no completion within %u ms; controller reset%s%s",
		st->n->cmd_timeout_ms, r ? " failed: " : ", usable again", r ? re.msg : "");
	for (unsigned i = 0; i < st->e.qd; i++) {
		struct track *t = &st->t[i];
		if (!t->cmd)
			continue;
		t->error = -ETIMEDOUT;
		t->pieces = 0;
		t->issued = t->len;
		t->next = NULL;
		finish(st, t);
	}
	st->issue_head = st->issue_tail = NULL;
}

static void collect(struct nvme_engine *st)
{
	unsigned slot;
	uint16_t status;
	void *u;
	while (sl_nvme_poll(st->n, &slot, &status, &u) == 1) {
		struct track *t = u;
		if (status & 0x7ff) {
			char b[128];
			int en = sl_nvme_status_errno(status);
			sl_errf(&st->err, en, "%s", sl_nvme_status_str(status, b, sizeof(b)));
			if (!t->error)
				t->error = -en;
		}
		if (--t->pieces == 0 && t->issued == t->len)
			finish(st, t);
	}
	pump(st);
}

static void nap(unsigned *spins)
{
	if (++*spins < 64) {
		sched_yield();
		return;
	}
	struct timespec ts = { 0, 20000 };
	nanosleep(&ts, NULL);
}

static int nvme_reap(struct sl_io_engine *e, unsigned min, struct sl_io_cmd **done, unsigned max,
		     struct sl_err *err)
{
	struct nvme_engine *st = (struct nvme_engine *)e;
	unsigned got = 0, spins = 0;
	for (;;) {
		collect(st);
		got += sl_io_cmdq_pop(&st->done, done + got, max - got);
		if (got >= min || got == max || !st->active)
			break;
		if (sl_nvme_timed_out(st->n, sl_now_ns())) {
			timeout_reset(st);
			continue;
		}
		nap(&spins);
	}
	for (unsigned i = 0; i < got; i++)
		if (done[i]->result < 0 && err && st->err.msg[0])
			*err = st->err;
	return (int)got;
}

static void nvme_wait(struct sl_io_engine *e)
{
	struct nvme_engine *st = (struct nvme_engine *)e;
	uint64_t end = sl_now_ns() + 100000000ull; /* return now and then: reap checks timeouts */
	unsigned spins = 0;
	/* Only the completion queue: its head moves in reap, on this same thread; the done list
	 * and the slots are submit's, which may run concurrently. */
	while (!sl_nvme_pending(st->n) && sl_now_ns() < end)
		nap(&spins);
}

const struct sl_io_ops sl_io_nvme_ops = {
	.name = "nvme",
	.open = nvme_open,
	.submit = nvme_submit,
	.reap = nvme_reap,
	.wait = nvme_wait,
	.mem_register = nvme_mem_register,
	.mem_unregister = nvme_mem_unregister,
	.close = nvme_close,
};
