/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/nvme.h — a userspace NVMe driver over VFIO: one controller, one
 * namespace, one polled I/O queue pair (no interrupts: completions are found by their
 * phase tag).
 *
 *   ctrl.c    reset/enable with CAP.TO timeouts, identify, queue creation, shutdown
 *   queue.c   submission/completion rings, doorbells, PRP lists, polled completions
 *   status.c  NVMe status codes as messages
 *   rw.c      synchronous reads and writes of byte ranges (staging, superblocks)
 *
 * Not thread-safe: one thread drives a controller at a time (the I/O engine serialises).
 */
#ifndef SLUICE_IO_NVME_H
#define SLUICE_IO_NVME_H

#include "io/nvme/vfio.h"

struct nvme_sqe {
	uint32_t cdw0; /* opcode | cid << 16 */
	uint32_t nsid;
	uint32_t rsvd[2];
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct nvme_cqe {
	uint32_t result;
	uint32_t rsvd;
	uint16_t sq_head, sq_id;
	uint16_t cid;
	uint16_t status; /* phase bit 0, status field 15:1 */
};

struct nvme_queue {
	struct sl_dma sq, cq;
	uint16_t qid, size, sq_tail, cq_head;
	uint8_t phase;
	uint32_t sq_db, cq_db; /* BAR0 offsets of the doorbells */
};

/* Per-command slot of the I/O queue (cid = index): its PRP list page. */
struct nvme_slot {
	bool busy;
	uint64_t deadline_ns;
	void *user;
};

struct sl_nvme {
	struct sl_vfio v;
	uint64_t cap;
	uint32_t ready_timeout_ms; /* CAP.TO */
	uint32_t cmd_timeout_ms;   /* a command not completed by then: controller reset */
	uint32_t dstrd;
	struct nvme_queue aq, ioq;
	struct sl_dma ident;       /* 4 KiB for identify data */
	struct sl_dma prp;         /* one PRP list page per I/O slot */
	struct nvme_slot *slots;   /* ioq.size - 1 of them */
	unsigned nslots, inflight;
	/* namespace */
	uint32_t nsid, lba_size;
	uint64_t nlba;
	uint32_t max_xfer;         /* bytes per command (MDTS, capped at what one PRP page lists) */
	bool sgl;                  /* data pointers as one SGL data block (the controller has SGLs
				    * and the opener did not ask for PRPs): no PRP list to build */
	char model[41], serial[21];
	uint64_t resets;
	bool dead;                 /* a reset failed: every command fails */
	struct sl_err last;        /* the last controller-level error, for messages */
};

/* Open the controller at bdf and namespace nsid (0: the first active one).  ioq_size: I/O
 * queue entries (capped by CAP.MQES).  flags: SL_NVME_PRP_ONLY (no SGLs even when the
 * controller has them: tests run both paths). */
#define SL_NVME_PRP_ONLY 1u
int sl_nvme_open(struct sl_nvme **out, const char *bdf, uint32_t nsid, unsigned ioq_size, unsigned flags,
		 struct sl_err *err);
/* Delete the queues, notify shutdown (the kernel driver can take the device back), free. */
void sl_nvme_close(struct sl_nvme *n);

/* Disable and re-enable the controller, recreate the queues; commands in flight are lost
 * (the caller fails them).  0 or -errno. */
int sl_nvme_reset(struct sl_nvme *n, struct sl_err *err);

/* Issue a read (write=false) or write of nlb blocks at lba from/to iova (contiguous in IOVA
 * space, dword aligned, len = nlb * lba_size <= max_xfer) with cid = slot.  The slot must be
 * free.  -EAGAIN when the queue is full. */
int sl_nvme_submit_rw(struct sl_nvme *n, unsigned slot, bool write, uint64_t lba, uint32_t nlb, uint64_t iova,
		      void *user);
/* A free slot, or -EAGAIN. */
int sl_nvme_slot_get(struct sl_nvme *n);
/* Take one completion of the I/O queue if there is one: 1 (slot, status filled, slot freed),
 * 0 none. */
int sl_nvme_poll(struct sl_nvme *n, unsigned *slot, uint16_t *status, void **user);
/* Is a completion waiting (does not consume it)? */
bool sl_nvme_pending(struct sl_nvme *n);
/* The earliest deadline among busy slots has passed. */
bool sl_nvme_timed_out(struct sl_nvme *n, uint64_t now_ns);

/* Status field (cqe.status >> 1) as a message: "LBA out of range (sct 0 sc 0x80)". */
const char *sl_nvme_status_str(uint16_t status, char *buf, size_t n);
/* errno for a status: EIO for media errors, ENODATA for LBA out of range, ... */
int sl_nvme_status_errno(uint16_t status);

/* Synchronous byte-range I/O through a DMA-mapped region: off and len multiples of
 * lba_size; buf at iova.  Splits by max_xfer; waits up to cmd_timeout_ms per command
 * (then resets the controller and fails with -ETIMEDOUT). */
int sl_nvme_rw(struct sl_nvme *n, bool write, uint64_t off, uint64_t len, uint64_t iova, struct sl_err *err);

/* ---- queue.c internals shared with ctrl.c ---- */
int sl_nvme_queue_alloc(struct sl_nvme *n, struct nvme_queue *q, uint16_t qid, uint16_t size, struct sl_err *err);
void sl_nvme_queue_free(struct sl_nvme *n, struct nvme_queue *q);
void sl_nvme_queue_reset(struct sl_nvme *n, struct nvme_queue *q);
void sl_nvme_sq_push(struct sl_nvme *n, struct nvme_queue *q, const struct nvme_sqe *e);
bool sl_nvme_cq_peek(struct nvme_queue *q);
void sl_nvme_cq_pop(struct sl_nvme *n, struct nvme_queue *q, struct nvme_cqe *out);

#define NVME_REG_CAP 0x00
#define NVME_REG_VS 0x08
#define NVME_REG_INTMS 0x0c
#define NVME_REG_CC 0x14
#define NVME_REG_CSTS 0x1c
#define NVME_REG_AQA 0x24
#define NVME_REG_ASQ 0x28
#define NVME_REG_ACQ 0x30

#endif
