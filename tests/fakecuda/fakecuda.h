/* SPDX-License-Identifier: MIT */
/*
 * tests/fakecuda/fakecuda.h — the stand-in CUDA driver's insides (shared by its files only).
 *
 * The fake implements the Driver API slice of runtime/backend/cuda/cuda_abi.h on host memory, so
 * that the CUDA backend can be tested on a machine without a GPU.  It is a test double, not an
 * emulator of speed: what it reproduces faithfully is what a backend can get wrong —
 *   - asynchrony: every stream operation is queued and runs only when some call needs its result,
 *     in an adversarial order (see fake_sched.c), so a missing event wait gives wrong output;
 *   - host memory: pageable sources are read at call time, pinned ones when the copy runs;
 *   - bounds: device ranges must lie inside live allocations;
 *   - failures: injected through FAKECUDA_* environment variables (fake_core.c).
 * Device memory is host memory (an mmap arena per device), so a CUdeviceptr is a host address and
 * kernels from the host-compiled firmware (firmware/simt/simt.h) can run on it directly.
 * One mutex (fk.lock) serializes every API call.
 */
#ifndef SLUICE_FAKECUDA_H
#define SLUICE_FAKECUDA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/backend/cuda/cuda_abi.h"

#define FK_API __attribute__((visibility("default")))
/* Export `plain` as a second name of the versioned function (the real driver has both). */
#define FK_ALIAS(plain, versioned) \
	extern __typeof__(versioned) plain __attribute__((alias(#versioned), visibility("default")))

#define FK_MAX_DEVICES 16
#define FK_PAGE 4096u

/* A completion: what an event record sets, what a stream wait waits for.  Refcounted because the
 * record op, the event (its latest record) and any number of wait ops share it. */
struct fk_done {
	int refs;
	bool done;
	uint64_t t_ns;       /* when the record ran */
	struct fk_stream *s; /* the stream of the record; valid while !done (streams drain before they die) */
	uint64_t seq;        /* the record op's sequence number */
};

enum fk_op_kind { FK_HTOD, FK_DTOH, FK_DTOD, FK_MEMSET, FK_LAUNCH, FK_RECORD, FK_WAIT };

struct fk_op {
	struct fk_op *next;
	enum fk_op_kind kind;
	uint64_t seq; /* submission order, global */
	bool fail;    /* injected: fails when it runs */
	bool pinned;  /* copies: the host side is registered memory */
	bool internal;
	void *dst;
	const void *src;
	size_t n;    /* bytes (memset: bytes too) */
	void *owned; /* pageable HtoD: the snapshot taken at call time; launch: the parameter buffer */
	unsigned val;
	struct fk_kernel *k;
	unsigned grid[3], block[3], shmem;
	struct fk_done *c;  /* record: the completion it sets; wait: the one it waits for */
	unsigned event_id; /* for the log */
};

struct fk_stream {
	struct fk_stream *next; /* in its context's list */
	struct fk_ctx *ctx;
	unsigned id; /* for the log; 0 = the context's NULL stream */
	unsigned flags;
	struct fk_op *head, *tail;
};

struct fk_event {
	struct fk_event *next;
	struct fk_ctx *ctx;
	unsigned id;
	unsigned flags;
	struct fk_done *latest; /* the latest record, NULL before the first */
};

struct fk_kernel {
	struct fk_module *m;
	char name[256];
	int n_params;
	size_t *off, *size; /* n_params each */
	size_t params_size; /* end of the last parameter */
};

struct fk_module {
	struct fk_module *next;
	struct fk_ctx *ctx;
	int n;
	struct fk_kernel *k;
};

struct fk_alloc {
	uint64_t base;  /* host address */
	size_t size;    /* as asked */
	size_t rounded; /* page-rounded, what it takes from the arena */
};

struct fk_ctx {
	int dev;
	int refs; /* primary context retain count; 0 = not alive */
	CUresult sticky; /* a launch or copy failure poisons the context, as on hardware */
	struct fk_stream null_stream;
	struct fk_stream *streams; /* created ones (not the NULL stream) */
	struct fk_event *events;
	struct fk_module *modules;
};

struct fk_device {
	uint8_t *arena; /* FAKECUDA_MEM bytes of address space, PROT_NONE outside live allocations */
	size_t total, used;
	long fail_alloc, n_alloc; /* FAKECUDA_FAIL=alloc@D:N: this device's Nth allocation fails */
	char pci[16];             /* cuDeviceGetPCIBusId's answer (FAKECUDA_PCI) */
	struct fk_alloc *allocs; /* sorted by base */
	size_t n_allocs, cap_allocs;
	struct fk_ctx ctx;
};

struct fk_hostreg {
	uintptr_t start;
	size_t size;
	bool alloc_host; /* from cuMemAllocHost: freed with cuMemFreeHost only */
};

struct fk_state {
	pthread_mutex_t lock;
	bool initialized;
	int n_dev;
	size_t mem;
	long fail_alloc, fail_launch, fail_copy, fail_register; /* 1-based call numbers; 0 = never */
	long n_alloc, n_launch, n_copy, n_register;             /* calls so far */
	FILE *log;
	uint64_t seq;
	unsigned next_id;
	struct fk_device dev[FK_MAX_DEVICES];
	struct fk_hostreg *regs;
	size_t n_regs, cap_regs;
};

extern struct fk_state fk;
extern _Thread_local struct fk_ctx *fk_current;

/* fake_core.c */
uint64_t fk_now_ns(void);
/* The current context, checked: NULL with *r set (not initialized, no context, sticky error). */
struct fk_ctx *fk_cur(CUresult *r);
CUresult fk_ctx_ok(struct fk_ctx *c);

/* fake_mem.c */
CUresult fk_dev_init(struct fk_device *d, size_t total);
/* Whether [p, p + n) lies inside one live allocation (of any device). */
bool fk_dev_range_ok(uint64_t p, size_t n);
/* The device whose arena holds p, or -1 (a kernel reaches only its own device's memory). */
int fk_dev_index(uint64_t p);
/* Whether [p, p + n) lies inside a registered (pinned) host range. */
bool fk_host_pinned(const void *p, size_t n);
void fk_dev_free_all(struct fk_device *d);

/* fake_sched.c */
struct fk_stream *fk_stream_of(CUstream s, CUresult *r);
struct fk_op *fk_op_new(enum fk_op_kind kind);
/* Queue op on s (adding the NULL stream's implicit ordering).  Takes ownership of op. */
void fk_enqueue(struct fk_stream *s, struct fk_op *op);
/* Run s's queue up to and including op seq (and what it waits for).  0 or the error it hit. */
CUresult fk_run_until(struct fk_stream *s, uint64_t seq);
/* Run everything queued on ctx, newest-headed stream first. */
CUresult fk_run_ctx(struct fk_ctx *c);
/* Run everything queued anywhere. */
CUresult fk_run_everything(void);
void fk_done_put(struct fk_done *c);
void fk_ctx_teardown(struct fk_ctx *c);

/* fake_module.c */
CUresult fk_run_launch(struct fk_op *op, char *err, size_t err_len);
void fk_module_free(struct fk_module *m);

/* fake_toy.c: a few kernels of the fake's own, for its tests; -ENOENT for other names. */
int fk_toy_launch(const char *name, const unsigned grid[3], const unsigned block[3], const void *params,
		  size_t params_size, char *err, size_t err_len);

#endif
