/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io_engine.h — what an I/O engine implements, and the helpers engines share.
 * Only engine implementations (uring.c, pread.c, mmap.c, fault.c, a VFIO NVMe engine) and
 * tests include this; the weight store sees runtime/io/io.h only.
 *
 * An engine reads aligned commands into registered memory, asynchronously.  It owns its
 * state and its handle on the source (a file descriptor, a device queue pair); the generic
 * layer (io.c) never looks behind it: sizes, alignment and queue depth are reported in the
 * struct sl_io_engine the engine allocates (embedded first in its own state).
 *
 * Threading: the generic layer serialises submit, reap, map and size.  With the I/O thread
 * on, wait() runs on that thread without the layer's lock, concurrently with submit (and
 * mem_register) from the consumer: it must touch nothing submit changes except through
 * atomics.  mem_register / mem_unregister come from the consumer thread.
 */
#ifndef SLUICE_IO_ENGINE_H
#define SLUICE_IO_ENGINE_H

#include "io/io.h"

struct sl_io_engine;

/* A registered region.  The generic layer owns it; the engine fills iova and slot. */
struct sl_io_mem {
	void *base;
	size_t len;
	uint64_t iova;  /* the address the engine's device writes to for base: the virtual
			 * address itself for kernel engines; an IOMMU mapping for VFIO */
	int slot;       /* engine's fixed-buffer index (io_uring), -1 when none */
	/* generic layer's */
	unsigned reqs;  /* requests into it not yet finished */
};

/* One aligned command: offset, len multiples of the engine's align (len may pass the end). */
struct sl_io_cmd {
	uint64_t offset;
	uint64_t len;
	void *buf;                /* = mem->base + mem_off, for engines that use addresses */
	struct sl_io_mem *mem;    /* the registered region the command reads into */
	uint64_t mem_off;         /* where in it: the device address is mem->iova + mem_off */
	int64_t result;           /* bytes read, or -errno (set by the engine) */
	const char *detail;       /* with a failed result, the engine's words for it ("unrecovered
				   * read error (NVMe status ...)"), valid until its next reap; or NULL */
	struct sl_io_cmd *next;   /* the engine's to use while it holds the command */
	/* the generic layer's */
	uint64_t submit_ns;
	/* the consumer requests this command serves (several when merged) */
#define SL_IO_CMD_MAX_REQS 8
	unsigned nreq;
	struct sl_io_req *req[SL_IO_CMD_MAX_REQS];
};

/* What the generic layer asks of an engine at open. */
struct sl_io_engine_params {
	uint32_t qd;        /* commands in flight it should allow (it may lower engine->qd) */
	bool buffered;      /* uring: through the page cache, no O_DIRECT */
	/* Open-time faults (fault.c parses them; they simulate tmpfs and seccomp). */
	bool no_direct;     /* O_DIRECT open fails with EINVAL */
	bool no_uring;      /* io_uring_queue_init fails with ENOSYS */
	const char *arg;    /* what followed "NAME:" in the engine name ("nvme:BDF/NSID@OFF"), or NULL */
};

struct sl_io_ops {
	const char *name;
	/* Open src; allocate the engine state with a struct sl_io_engine first in it. */
	int (*open)(const struct sl_io_source *src, const struct sl_io_engine_params *p,
		    struct sl_io_engine **out, struct sl_err *err);
	/* Accept up to n commands; return how many were taken (>= 0; 0 means the queue is
	 * full: -EBUSY/-EAGAIN may be returned for that too) or -errno. */
	int (*submit)(struct sl_io_engine *e, struct sl_io_cmd **cmds, unsigned n);
	/* Wait for at least min completions, return up to max, or -errno. */
	int (*reap)(struct sl_io_engine *e, unsigned min, struct sl_io_cmd **done, unsigned max,
		    struct sl_err *err);
	/* Block until at least one completion is ready, without consuming it (it may return
	 * early).  Called only while the engine holds commands.  NULL for engines that complete
	 * commands inside submit (e->sync). */
	void (*wait)(struct sl_io_engine *e);
	/* The source's size now (it may have shrunk since open); NULL: e->size stays right. */
	int (*size)(struct sl_io_engine *e, uint64_t *size);
	/* Prepare a region for reads (fill m->iova, m->slot); NULL: nothing to do.  An error
	 * fails the registration; a missed optimisation should not. */
	int (*mem_register)(struct sl_io_engine *e, struct sl_io_mem *m, struct sl_err *err);
	void (*mem_unregister)(struct sl_io_engine *e, struct sl_io_mem *m); /* may be NULL */
	int (*map)(struct sl_io_engine *e, uint64_t off, uint64_t len, const void **ptr); /* may be NULL */
	/* Free everything, the fd and e itself.  No commands are in flight. */
	void (*close)(struct sl_io_engine *e);
};

/* The part of an engine's state the generic layer reads. */
struct sl_io_engine {
	const struct sl_io_ops *ops;
	char name[32];      /* "uring", "uring-buffered", "fault(pread)" */
	char *path;         /* the source's name, for messages */
	int fd;             /* the engine's own handle on a file source (-1: none) */
	uint64_t size;      /* bytes in the source */
	uint32_t align;     /* command offset and length granularity */
	uint32_t mem_align; /* buffer address granularity */
	uint32_t qd;        /* commands it takes in flight at most */
	bool sync;          /* submit does the I/O itself (pread, mmap): the generic layer calls
			     * it only from the I/O thread, without the lock, when there is one */
	bool maps;          /* map() hands out pointers into the page cache (mmap): a capability,
			     * so a decorator passes on its inner engine's */
};

extern const struct sl_io_ops sl_io_uring_ops;
extern const struct sl_io_ops sl_io_pread_ops;
extern const struct sl_io_ops sl_io_mmap_ops;
extern const struct sl_io_ops sl_io_nvme_ops; /* nvme_engine.c: userspace NVMe over VFIO */

/*
 * Wrap an engine the caller opened itself (a test engine, a VFIO engine) in the generic
 * layer.  It takes e in every case: closed by sl_io_close, or here on failure.
 * cfg->fault's run-time faults wrap it as in sl_io_open (open-time ones cannot apply).
 */
int sl_io_open_engine(struct sl_io_engine *e, const struct sl_io_config *cfg, struct sl_io **out,
		      struct sl_err *err);

/* ---- helpers shared by engines ---- */

/* Set the common fields (fd -1, align 1, name from ops, path copied from src). */
int sl_io_engine_init(struct sl_io_engine *e, const struct sl_io_ops *ops,
		      const struct sl_io_source *src, struct sl_err *err);
/* Close e->fd, free e->path (not e). */
void sl_io_engine_fini(struct sl_io_engine *e);

/* file.c: open e->path read-only (O_DIRECT if direct), fill e->fd and e->size (block devices
 * too).  Fails for sources that are not files. */
int sl_io_file_open(struct sl_io_engine *e, const struct sl_io_source *src, bool direct,
		    const struct sl_io_engine_params *p, struct sl_err *err);
/* The size op of file engines: fstat again (a regular file may have been truncated). */
int sl_io_file_size_now(struct sl_io_engine *e, uint64_t *size);
/* Set e->align/mem_align to the O_DIRECT alignment of e->fd: BLKSSZGET, statx DIOALIGN,
 * else probing. */
void sl_io_probe_alignment(struct sl_io_engine *e);

/* A FIFO of commands completed at submit time (pread, mmap, injected faults). */
struct sl_io_cmdq {
	struct sl_io_cmd *head, *tail;
};
void sl_io_cmdq_push(struct sl_io_cmdq *q, struct sl_io_cmd *c);
/* Move up to max commands into done[]; returns how many. */
unsigned sl_io_cmdq_pop(struct sl_io_cmdq *q, struct sl_io_cmd **done, unsigned max);

/* fault.c: the decorator. */
/* Parse spec; set the open-time switches in p.  0 or -EINVAL with a message. */
int sl_io_fault_open_flags(const char *spec, struct sl_io_engine_params *p, struct sl_err *err);
/* True when spec has run-time faults (anything beyond the open-time switches). */
bool sl_io_fault_has_runtime(const char *spec);
/* An engine that forwards to inner and lies as spec says.  On success it owns inner. */
int sl_io_fault_wrap(struct sl_io_engine *inner, const char *spec, struct sl_io_engine **out,
		     struct sl_err *err);

#endif
