/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/queue.c — submission and completion rings in DMA memory, doorbells,
 * PRP lists, and polled completions (phase tags).
 *
 * Ordering: the SQ entry must be in memory before the tail doorbell write makes the
 * controller fetch it (a release fence); a completion's fields are read only after its
 * phase tag was seen to flip (an acquire fence).  BAR0 is uncached MMIO, so the fences
 * order the doorbell after the plain stores on x86 and elsewhere.
 */
#include "io/nvme/nvme.h"

#include <stdatomic.h>
#include <string.h>

#define PAGE 4096u

int sl_nvme_queue_alloc(struct sl_nvme *n, struct nvme_queue *q, uint16_t qid, uint16_t size, struct sl_err *err)
{
	memset(q, 0, sizeof(*q));
	int r = sl_dma_alloc(&n->v, (size_t)size * sizeof(struct nvme_sqe), &q->sq, err);
	if (!r && (r = sl_dma_alloc(&n->v, (size_t)size * sizeof(struct nvme_cqe), &q->cq, err)))
		sl_dma_free(&n->v, &q->sq);
	if (r)
		return r;
	q->qid = qid;
	q->size = size;
	q->sq_db = 0x1000 + (2u * qid) * (4u << n->dstrd);
	q->cq_db = 0x1000 + (2u * qid + 1) * (4u << n->dstrd);
	sl_nvme_queue_reset(n, q);
	return 0;
}

void sl_nvme_queue_free(struct sl_nvme *n, struct nvme_queue *q)
{
	sl_dma_free(&n->v, &q->sq);
	sl_dma_free(&n->v, &q->cq);
}

/* Back to the state of a freshly created queue (after a controller reset). */
void sl_nvme_queue_reset(struct sl_nvme *n, struct nvme_queue *q)
{
	memset(q->cq.va, 0, q->cq.len);
	q->sq_tail = q->cq_head = 0;
	q->phase = 1;
}

void sl_nvme_sq_push(struct sl_nvme *n, struct nvme_queue *q, const struct nvme_sqe *e)
{
	memcpy((struct nvme_sqe *)q->sq.va + q->sq_tail, e, sizeof(*e));
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->size);
	atomic_thread_fence(memory_order_release);
	sl_mmio_w32(&n->v, q->sq_db, q->sq_tail);
}

bool sl_nvme_cq_peek(struct nvme_queue *q)
{
	volatile struct nvme_cqe *c = (volatile struct nvme_cqe *)q->cq.va + q->cq_head;
	return (c->status & 1) == q->phase;
}

void sl_nvme_cq_pop(struct sl_nvme *n, struct nvme_queue *q, struct nvme_cqe *out)
{
	atomic_thread_fence(memory_order_acquire);
	memcpy(out, (struct nvme_cqe *)q->cq.va + q->cq_head, sizeof(*out));
	if (++q->cq_head == q->size) {
		q->cq_head = 0;
		q->phase ^= 1;
	}
	sl_mmio_w32(&n->v, q->cq_db, q->cq_head);
}

int sl_nvme_slot_get(struct sl_nvme *n)
{
	if (n->inflight >= n->nslots)
		return -EAGAIN;
	for (unsigned i = 0; i < n->nslots; i++)
		if (!n->slots[i].busy)
			return (int)i;
	return -EAGAIN;
}

/*
 * With SGLs: one data block descriptor.  Else PRP entries: PRP1 is the first (possibly
 * unaligned) address; the transfer then continues at page boundaries.  Two pages' worth fit in PRP1+PRP2; more take a list in the slot's
 * own page (max_xfer is capped so one list page is enough: no chained lists).
 */
int sl_nvme_submit_rw(struct sl_nvme *n, unsigned slot, bool write, uint64_t lba, uint32_t nlb, uint64_t iova,
		      void *user)
{
	if (n->dead)
		return -EIO;
	uint64_t len = (uint64_t)nlb * n->lba_size;
	if (!nlb || len > n->max_xfer || slot >= n->nslots || n->slots[slot].busy || (iova & 3))
		return -EINVAL;
	struct nvme_sqe e = { 0 };
	e.cdw0 = (write ? 0x01u : 0x02u) | (uint32_t)slot << 16;
	e.nsid = n->nsid;
	e.prp1 = iova;
	uint64_t first = PAGE - (iova & (PAGE - 1)); /* bytes in PRP1's page */
	if (n->sgl) {
		/* PSDT 01b: DPTR is one SGL descriptor — a data block (type 0): address, length.
		 * The region is contiguous in IOVA space, so one descriptor covers any transfer. */
		e.cdw0 |= 1u << 14;
		e.prp2 = len; /* bytes 8-11 length, 12-14 reserved, 15 identifier 0x00 */
	} else if (len > first) {
		uint64_t next = iova + first, rest = len - first;
		if (rest <= PAGE) {
			e.prp2 = next;
		} else {
			uint64_t *list = (uint64_t *)((char *)n->prp.va + (size_t)slot * PAGE);
			unsigned k = 0;
			for (uint64_t a = next; a < iova + len; a += PAGE)
				list[k++] = a;
			e.prp2 = n->prp.iova + (uint64_t)slot * PAGE;
		}
	}
	e.cdw10 = (uint32_t)lba;
	e.cdw11 = (uint32_t)(lba >> 32);
	e.cdw12 = nlb - 1;
	n->slots[slot] = (struct nvme_slot){ .busy = true, .user = user,
					     .deadline_ns = sl_now_ns() + (uint64_t)n->cmd_timeout_ms * 1000000ull };
	n->inflight++;
	sl_nvme_sq_push(n, &n->ioq, &e);
	return 0;
}

int sl_nvme_poll(struct sl_nvme *n, unsigned *slot, uint16_t *status, void **user)
{
	for (;;) {
		if (!sl_nvme_cq_peek(&n->ioq))
			return 0;
		struct nvme_cqe c;
		sl_nvme_cq_pop(n, &n->ioq, &c);
		/* A cid we do not have in flight (a stale completion after a reset): drop it. */
		if (c.cid >= n->nslots || !n->slots[c.cid].busy)
			continue;
		*slot = c.cid;
		*status = c.status >> 1;
		*user = n->slots[c.cid].user;
		n->slots[c.cid].busy = false;
		n->inflight--;
		return 1;
	}
}

bool sl_nvme_pending(struct sl_nvme *n)
{
	return sl_nvme_cq_peek(&n->ioq);
}

bool sl_nvme_timed_out(struct sl_nvme *n, uint64_t now)
{
	for (unsigned i = 0; i < n->nslots; i++)
		if (n->slots[i].busy && now > n->slots[i].deadline_ns)
			return true;
	return false;
}
