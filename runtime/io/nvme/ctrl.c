/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/ctrl.c — bringing an NVMe controller up and down from userspace.
 *
 * Enable: CC.EN=0 and wait for CSTS.RDY=0, program the admin queue (AQA/ASQ/ACQ), CC.EN=1
 * and wait for RDY=1, each wait bounded by CAP.TO (units of 500 ms).  Then Identify the
 * controller (MDTS, model) and the namespace (size, LBA format), ask for one I/O queue pair
 * (Set Features, Number of Queues) and create it (CQ first, then the SQ bound to it).
 * Close: delete the queues and send a normal shutdown notification (CC.SHN), waiting for
 * CSTS.SHST to say complete, then disable — what the kernel driver does, so that it takes
 * the device back cleanly after `sluice nvme unbind`.
 */
#include "io/nvme/nvme.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AQ_SIZE 32
#define PAGE 4096u
#define CC_EN 1u
#define CC_SHN_NORMAL (1u << 14)
#define CC_IOQES ((6u << 16) | (4u << 20)) /* 64-byte SQ entries, 16-byte CQ entries */
#define CSTS_RDY 1u
#define CSTS_CFS 2u
#define CSTS_SHST_MASK (3u << 2)
#define CSTS_SHST_DONE (2u << 2)

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* Wait until (CSTS & mask) == want, at most timeout_ms.  -ETIMEDOUT. */
static int wait_csts(struct sl_nvme *n, uint32_t mask, uint32_t want, uint32_t timeout_ms)
{
	uint64_t end = sl_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint32_t s = sl_mmio_r32(&n->v, NVME_REG_CSTS);
		if (s == 0xffffffffu)
			return -ENODEV; /* the device fell off the bus */
		if ((s & mask) == want)
			return 0;
		if (sl_now_ns() > end)
			return -ETIMEDOUT;
		nap_us(1000);
	}
}

static int disable(struct sl_nvme *n, struct sl_err *err)
{
	uint32_t cc = sl_mmio_r32(&n->v, NVME_REG_CC);
	if (cc & CC_EN)
		sl_mmio_w32(&n->v, NVME_REG_CC, cc & ~CC_EN);
	int r = wait_csts(n, CSTS_RDY, 0, n->ready_timeout_ms);
	if (r)
		return sl_errf(err, -r, "%s: controller did not become disabled within CAP.TO = %u ms", n->v.bdf,
			       n->ready_timeout_ms);
	return 0;
}

static int enable(struct sl_nvme *n, struct sl_err *err)
{
	sl_mmio_w32(&n->v, NVME_REG_INTMS, 0xffffffffu); /* polled: no interrupts wanted */
	sl_mmio_w32(&n->v, NVME_REG_AQA, (uint32_t)(AQ_SIZE - 1) << 16 | (AQ_SIZE - 1));
	sl_mmio_w64(&n->v, NVME_REG_ASQ, n->aq.sq.iova);
	sl_mmio_w64(&n->v, NVME_REG_ACQ, n->aq.cq.iova);
	sl_mmio_w32(&n->v, NVME_REG_CC, CC_IOQES | CC_EN); /* NVM command set, 4 KiB pages */
	int r = wait_csts(n, CSTS_RDY | CSTS_CFS, CSTS_RDY, n->ready_timeout_ms);
	if (r)
		return sl_errf(err, -r, "%s: controller did not become ready within CAP.TO = %u ms (CSTS 0x%x)", n->v.bdf,
			       n->ready_timeout_ms, sl_mmio_r32(&n->v, NVME_REG_CSTS));
	return 0;
}

/* One admin command, waited for.  *result gets completion dword 0. */
static int admin(struct sl_nvme *n, struct nvme_sqe *e, uint32_t *result, const char *what, struct sl_err *err)
{
	static uint16_t cid;
	e->cdw0 |= (uint32_t)(++cid) << 16;
	sl_nvme_sq_push(n, &n->aq, e);
	uint64_t end = sl_now_ns() + (uint64_t)n->cmd_timeout_ms * 1000000ull;
	while (!sl_nvme_cq_peek(&n->aq)) {
		if (sl_now_ns() > end)
			return sl_errf(err, ETIMEDOUT, "%s: %s: no completion within %u ms", n->v.bdf, what, n->cmd_timeout_ms);
		nap_us(50);
	}
	struct nvme_cqe c;
	sl_nvme_cq_pop(n, &n->aq, &c);
	uint16_t st = c.status >> 1;
	if (st & 0x7ff) {
		char b[128];
		return sl_errf(err, sl_nvme_status_errno(st), "%s: %s failed: %s", n->v.bdf, what,
			       sl_nvme_status_str(st, b, sizeof(b)));
	}
	if (result)
		*result = c.result;
	return 0;
}

static void copy_str(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = 0;
	for (size_t i = n; i > 0 && (dst[i - 1] == ' ' || dst[i - 1] == 0); i--)
		dst[i - 1] = 0;
}

static int create_io_queues(struct sl_nvme *n, struct sl_err *err)
{
	struct nvme_sqe e = { .cdw0 = 0x05, .prp1 = n->ioq.cq.iova,
			      .cdw10 = (uint32_t)(n->ioq.size - 1) << 16 | 1, .cdw11 = 1 /* contiguous, no irq */ };
	int r = admin(n, &e, NULL, "create I/O completion queue", err);
	if (r)
		return r;
	e = (struct nvme_sqe){ .cdw0 = 0x01, .prp1 = n->ioq.sq.iova,
			       .cdw10 = (uint32_t)(n->ioq.size - 1) << 16 | 1, .cdw11 = 1u << 16 | 1 };
	return admin(n, &e, NULL, "create I/O submission queue", err);
}

static int identify(struct sl_nvme *n, uint32_t nsid, struct sl_err *err)
{
	const uint8_t *id = n->ident.va;
	struct nvme_sqe e = { .cdw0 = 0x06, .prp1 = n->ident.iova, .cdw10 = 1 };
	int r = admin(n, &e, NULL, "identify controller", err);
	if (r)
		return r;
	copy_str(n->serial, id + 4, 20);
	copy_str(n->model, id + 24, 40);
	unsigned mdts = id[77];
	uint32_t nn, sgls;
	memcpy(&nn, id + 516, 4);
	memcpy(&sgls, id + 536, 4);
	n->sgl = (sgls & 3) != 0; /* 01b: any alignment, 10b: dword (our buffers are dword aligned) */
	if (!nsid) { /* the first active namespace */
		memset(n->ident.va, 0, PAGE);
		e = (struct nvme_sqe){ .cdw0 = 0x06, .prp1 = n->ident.iova, .cdw10 = 2 };
		if ((r = admin(n, &e, NULL, "identify active namespaces", err)))
			return r;
		memcpy(&nsid, id, 4);
		if (!nsid)
			return sl_errf(err, ENODEV, "%s: the controller has no active namespace", n->v.bdf);
	}
	if (nsid > nn)
		return sl_errf(err, ENODEV, "%s: no namespace %u (the controller has %u)", n->v.bdf, nsid, nn);
	memset(n->ident.va, 0, PAGE);
	e = (struct nvme_sqe){ .cdw0 = 0x06, .nsid = nsid, .prp1 = n->ident.iova, .cdw10 = 0 };
	if ((r = admin(n, &e, NULL, "identify namespace", err)))
		return r;
	uint64_t nsze;
	memcpy(&nsze, id, 8);
	if (!nsze)
		return sl_errf(err, ENODEV, "%s: namespace %u is not active", n->v.bdf, nsid);
	unsigned fmt = id[26] & 0xf;
	uint32_t lbaf;
	memcpy(&lbaf, id + 128 + 4 * fmt, 4);
	unsigned lbads = (lbaf >> 16) & 0xff;
	if ((lbaf & 0xffff) || lbads < 9 || lbads > 12)
		return sl_errf(err, ENOTSUP, "%s: namespace %u: LBA format %u (2^%u bytes, %u metadata bytes) not supported",
			       n->v.bdf, nsid, fmt, lbads, lbaf & 0xffff);
	n->nsid = nsid;
	n->nlba = nsze;
	n->lba_size = 1u << lbads;
	/* MDTS is in units of the minimum page size; one PRP list page lists 512 pages. */
	uint64_t mps_min = 4096ull << ((n->cap >> 48) & 0xf);
	uint64_t mx = mdts ? mps_min << mdts : UINT64_MAX;
	mx = SL_MIN(mx, 512ull * PAGE);
	mx = SL_MIN(mx, 65536ull * n->lba_size);
	n->max_xfer = (uint32_t)(mx / n->lba_size * n->lba_size);
	return 0;
}

static int bring_up(struct sl_nvme *n, struct sl_err *err)
{
	int r = disable(n, err);
	if (r)
		return r;
	sl_nvme_queue_reset(n, &n->aq);
	sl_nvme_queue_reset(n, &n->ioq);
	return enable(n, err);
}

int sl_nvme_open(struct sl_nvme **out, const char *bdf, uint32_t nsid, unsigned ioq_size, unsigned flags,
		 struct sl_err *err)
{
	struct sl_nvme *n = calloc(1, sizeof(*n));
	if (!n)
		return sl_errf(err, ENOMEM, "out of memory");
	int r = sl_vfio_open(&n->v, bdf, err);
	if (r) {
		free(n);
		return r;
	}
	n->cap = sl_mmio_r64(&n->v, NVME_REG_CAP);
	if (n->cap == UINT64_MAX) {
		r = sl_errf(err, ENODEV, "%s: BAR0 reads all ones: the device is not responding", n->v.bdf);
		goto fail;
	}
	if (!(n->cap >> 37 & 1)) {
		r = sl_errf(err, ENOTSUP, "%s: the controller does not support the NVM command set", n->v.bdf);
		goto fail;
	}
	n->ready_timeout_ms = SL_MAX(1u, (unsigned)((n->cap >> 24) & 0xff)) * 500u;
	n->cmd_timeout_ms = 5000;
	n->dstrd = (n->cap >> 32) & 0xf;
	unsigned mqes = (unsigned)(n->cap & 0xffff) + 1;
	ioq_size = SL_MAX(4u, SL_MIN(ioq_size ? ioq_size : 256u, mqes));
	if ((r = sl_nvme_queue_alloc(n, &n->aq, 0, AQ_SIZE, err)) ||
	    (r = sl_nvme_queue_alloc(n, &n->ioq, 1, (uint16_t)ioq_size, err)) ||
	    (r = sl_dma_alloc(&n->v, PAGE, &n->ident, err)))
		goto fail;
	n->nslots = ioq_size - 1;
	n->slots = calloc(n->nslots, sizeof(*n->slots));
	if (!n->slots) {
		r = sl_errf(err, ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = sl_dma_alloc(&n->v, (size_t)n->nslots * PAGE, &n->prp, err)) || (r = bring_up(n, err)) ||
	    (r = identify(n, nsid, err)))
		goto fail;
	if (flags & SL_NVME_PRP_ONLY)
		n->sgl = false;
	uint32_t got;
	struct nvme_sqe e = { .cdw0 = 0x09, .cdw10 = 0x07, .cdw11 = 0 /* one SQ, one CQ */ };
	if ((r = admin(n, &e, &got, "set features (number of queues)", err)) || (r = create_io_queues(n, err)))
		goto fail;
	*out = n;
	return 0;
fail:
	sl_nvme_close(n);
	return r;
}

int sl_nvme_reset(struct sl_nvme *n, struct sl_err *err)
{
	n->resets++;
	for (unsigned i = 0; i < n->nslots; i++)
		n->slots[i].busy = false;
	n->inflight = 0;
	int r = bring_up(n, err);
	if (!r)
		r = create_io_queues(n, err);
	n->dead = r != 0;
	return r;
}

void sl_nvme_close(struct sl_nvme *n)
{
	if (!n)
		return;
	if (n->v.bar0 && !n->dead && (sl_mmio_r32(&n->v, NVME_REG_CSTS) & CSTS_RDY)) {
		struct sl_err e;
		struct nvme_sqe d = { .cdw0 = 0x00, .cdw10 = 1 };
		if (!admin(n, &d, NULL, "delete I/O submission queue", &e)) {
			d = (struct nvme_sqe){ .cdw0 = 0x04, .cdw10 = 1 };
			admin(n, &d, NULL, "delete I/O completion queue", &e);
		}
		uint32_t cc = sl_mmio_r32(&n->v, NVME_REG_CC);
		sl_mmio_w32(&n->v, NVME_REG_CC, (cc & ~(3u << 14)) | CC_SHN_NORMAL);
		wait_csts(n, CSTS_SHST_MASK, CSTS_SHST_DONE, n->ready_timeout_ms);
		disable(n, &e);
	}
	if (n->v.container >= 0) {
		sl_nvme_queue_free(n, &n->aq);
		sl_nvme_queue_free(n, &n->ioq);
		sl_dma_free(&n->v, &n->ident);
		sl_dma_free(&n->v, &n->prp);
	}
	sl_vfio_close(&n->v);
	free(n->slots);
	free(n);
}
