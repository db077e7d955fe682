/* SPDX-License-Identifier: MIT */
/*
 * firmware/simt/simt_fiber.c — run one kernel launch on the calling thread: each block's threads are
 * cooperative fibers, switched at every __syncthreads and warp collective; blocks run in order.
 *
 * Why fibers and not OS threads: a barrier is then a handful of register saves, and a launch is
 * deterministic (same interleaving every run), which is what a test of kernels wants.  On x86-64 the
 * switch is a few hand-written instructions (swapcontext would make a sigprocmask syscall per switch,
 * and a 256-thread block switches thousands of times); elsewhere ucontext does it.
 *
 * Sanitizers: ASan is told of every stack switch (__sanitizer_start/finish_switch_fiber), TSan of
 * every fiber (__tsan_create/switch_to_fiber, which also orders the fibers' memory accesses the way a
 * barrier does).
 */
#include "simt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SIMT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIMT_TSAN 1
#endif
#endif

#ifdef SIMT_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#endif
#ifdef SIMT_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#if defined(__x86_64__) && !defined(SIMT_FORCE_UCONTEXT)
#define SIMT_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

/* Sanitized frames are several times larger. */
#if defined(SIMT_ASAN) || defined(SIMT_TSAN)
#define SIMT_STACK (256u << 10)
#else
#define SIMT_STACK (64u << 10)
#endif

struct simt_fiber {
	struct simt_thread_view view;
	int lane, warp;
	int done;
#ifdef SIMT_ASM_SWITCH
	void *sp;
#else
	ucontext_t uc;
#endif
	char *stack; /* lowest usable byte; a guard page lies below */
	void *asan_fake;
	void *tsan_fiber;
	struct simt_launch_state *ls;
};

struct simt_warp {
	unsigned gen, arrived, live;
	unsigned amask;    /* lanes arrived at the open collective */
	unsigned pmask[2]; /* lanes that took part in a released one, by generation parity */
	uint64_t slot[2][32];
};

struct simt_launch_state {
	const struct simt_kernel_desc *k;
	const void *args;
	struct simt_fiber *f;
	int nthreads;
	struct simt_warp *warps;
	int nwarps;
	unsigned bar_gen, bar_arrived, bar_live;
	unsigned long progress;
#ifdef SIMT_ASM_SWITCH
	void *sched_sp;
#else
	ucontext_t sched_uc;
#endif
	void *sched_fake;
	const void *sched_stack_bottom;
	size_t sched_stack_size;
	void *tsan_sched;
	char *map;
	size_t map_len;
};

_Thread_local const struct simt_thread_view *simt_view;
static _Thread_local struct simt_fiber *cur;

#ifdef SIMT_ASM_SWITCH
/* simt_swap(&save_sp, new_sp): push the callee-saved registers, save rsp, load the other rsp, pop. */
void simt_swap(void **save, void *to);
void simt_trampoline(void);
__asm__(".text\n"
	".globl simt_swap\n"
	".hidden simt_swap\n"
	".type simt_swap,@function\n"
	"simt_swap:\n"
	"\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
	"\tret\n"
	".size simt_swap,.-simt_swap\n"
	/* First entry of a fiber: r12 = argument, r13 = function; rsp is 16-aligned here. */
	".globl simt_trampoline\n"
	".hidden simt_trampoline\n"
	".type simt_trampoline,@function\n"
	"simt_trampoline:\n"
	"\tmovq %r12, %rdi\n"
	"\tcallq *%r13\n"
	"\tud2\n"
	".size simt_trampoline,.-simt_trampoline\n");
#endif

static void fiber_main(struct simt_fiber *f);

static void to_fiber(struct simt_launch_state *ls, struct simt_fiber *f)
{
	cur = f;
	simt_view = &f->view;
#ifdef SIMT_TSAN
	__tsan_switch_to_fiber(f->tsan_fiber, 0);
#endif
#ifdef SIMT_ASAN
	__sanitizer_start_switch_fiber(&ls->sched_fake, f->stack, SIMT_STACK);
#endif
#ifdef SIMT_ASM_SWITCH
	simt_swap(&ls->sched_sp, f->sp);
#else
	swapcontext(&ls->sched_uc, &f->uc);
#endif
#ifdef SIMT_ASAN
	__sanitizer_finish_switch_fiber(ls->sched_fake, NULL, NULL);
#endif
	cur = NULL;
	simt_view = NULL;
}

/* From the running fiber back to the scheduler; returns when the scheduler resumes it. */
static void to_sched(struct simt_fiber *f, int final)
{
	struct simt_launch_state *ls = f->ls;
#ifdef SIMT_TSAN
	__tsan_switch_to_fiber(ls->tsan_sched, 0);
#endif
#ifdef SIMT_ASAN
	__sanitizer_start_switch_fiber(final ? NULL : &f->asan_fake, ls->sched_stack_bottom, ls->sched_stack_size);
#else
	(void)final;
#endif
#ifdef SIMT_ASM_SWITCH
	simt_swap(&f->sp, ls->sched_sp);
#else
	swapcontext(&f->uc, &ls->sched_uc);
#endif
#ifdef SIMT_ASAN
	__sanitizer_finish_switch_fiber(f->asan_fake, NULL, NULL);
#endif
}

#ifndef SIMT_ASM_SWITCH
static void uc_entry(unsigned lo, unsigned hi)
{
	fiber_main((struct simt_fiber *)(((uintptr_t)hi << 32) | lo));
}
#endif

static void fiber_start(struct simt_launch_state *ls, struct simt_fiber *f)
{
	f->done = 0;
	f->asan_fake = NULL;
#ifdef SIMT_ASM_SWITCH
	uintptr_t top = ((uintptr_t)f->stack + SIMT_STACK) & ~(uintptr_t)15;
	void **sp = (void **)top;
	*--sp = (void *)simt_trampoline; /* popped by ret: after it rsp == top, 16-aligned */
	*--sp = NULL;                    /* rbp */
	*--sp = NULL;                    /* rbx */
	*--sp = (void *)f;               /* r12: argument */
	*--sp = (void *)fiber_main;      /* r13: function */
	*--sp = NULL;                    /* r14 */
	*--sp = NULL;                    /* r15 */
	f->sp = sp;
#else
	getcontext(&f->uc);
	f->uc.uc_stack.ss_sp = f->stack;
	f->uc.uc_stack.ss_size = SIMT_STACK;
	f->uc.uc_link = NULL;
	uintptr_t p = (uintptr_t)f;
	makecontext(&f->uc, (void (*)(void))uc_entry, 2, (unsigned)p, (unsigned)(p >> 32));
#endif
	(void)ls;
}

/* Release a barrier whose arrivals reached the live count. */
static void bar_check(struct simt_launch_state *ls)
{
	if (ls->bar_arrived && ls->bar_arrived >= ls->bar_live) {
		ls->bar_arrived = 0;
		ls->bar_gen++;
		ls->progress++;
	}
}

static void warp_check(struct simt_launch_state *ls, struct simt_warp *w)
{
	if (w->arrived && w->arrived >= w->live) {
		w->pmask[w->gen & 1] = w->amask;
		w->arrived = 0;
		w->amask = 0;
		w->gen++;
		ls->progress++;
	}
}

static void fiber_main(struct simt_fiber *f)
{
	struct simt_launch_state *ls = f->ls;
#ifdef SIMT_ASAN
	__sanitizer_finish_switch_fiber(NULL, &ls->sched_stack_bottom, &ls->sched_stack_size);
#endif
	ls->k->invoke(ls->args);
	f->done = 1;
	ls->bar_live--;
	ls->warps[f->warp].live--;
	ls->progress++;
	bar_check(ls);
	warp_check(ls, &ls->warps[f->warp]);
	to_sched(f, 1);
	abort(); /* a finished fiber is never resumed */
}

void simt_syncthreads(void)
{
	struct simt_fiber *f = cur;
	struct simt_launch_state *ls = f->ls;
	unsigned g = ls->bar_gen;
	ls->bar_arrived++;
	bar_check(ls);
	while (ls->bar_gen == g)
		to_sched(f, 0);
}

uint64_t simt_warp_exchange(uint64_t v, int src)
{
	struct simt_fiber *f = cur;
	struct simt_launch_state *ls = f->ls;
	struct simt_warp *w = &ls->warps[f->warp];
	unsigned g = w->gen;
	/* Two slot sets: a lane can be one collective ahead of a slower lane still reading, never two. */
	w->slot[g & 1][f->lane] = v;
	w->arrived++;
	w->amask |= 1u << f->lane;
	warp_check(ls, w);
	while (w->gen == g)
		to_sched(f, 0);
	/* a lane outside the warp or not at this collective (returned) gives the caller its own value */
	if (src < 0 || src > 31 || !(w->pmask[g & 1] >> src & 1))
		return v;
	return w->slot[g & 1][src];
}

int simt_lane(void)
{
	return cur->lane;
}

/* The lanes of the last collective this lane took part in. */
unsigned simt_warp_live_mask(void)
{
	struct simt_fiber *f = cur;
	struct simt_warp *w = &f->ls->warps[f->warp];
	return w->pmask[(w->gen - 1) & 1];
}

unsigned simt_warp_ballot(int pred)
{
	struct simt_fiber *f = cur;
	struct simt_launch_state *ls = f->ls;
	struct simt_warp *w = &ls->warps[f->warp];
	unsigned g = w->gen, m = 0;
	/* every lane deposits, then reads all the slots of that generation (one barrier, not 32) */
	w->slot[g & 1][f->lane] = (uint64_t)(pred != 0);
	w->arrived++;
	w->amask |= 1u << f->lane;
	warp_check(ls, w);
	while (w->gen == g)
		to_sched(f, 0);
	for (int l = 0; l < 32; l++)
		if ((w->pmask[g & 1] >> l & 1) && w->slot[g & 1][l])
			m |= 1u << l;
	return m;
}

static int fibers_make(struct simt_launch_state *ls, int n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), per = SIMT_STACK + page;
	ls->map_len = per * (size_t)n;
	ls->map = mmap(NULL, ls->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ls->map == MAP_FAILED) {
		ls->map = NULL;
		return -ENOMEM;
	}
	ls->f = calloc((size_t)n, sizeof *ls->f);
	ls->warps = calloc((size_t)(n + 31) / 32, sizeof *ls->warps);
	if (!ls->f || !ls->warps)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		char *g = ls->map + per * (size_t)i;
		mprotect(g, page, PROT_NONE); /* overflow faults instead of corrupting the neighbour */
		ls->f[i].stack = g + page;
		ls->f[i].ls = ls;
#ifdef SIMT_TSAN
		ls->f[i].tsan_fiber = __tsan_create_fiber(0);
#endif
	}
	return 0;
}

static void fibers_free(struct simt_launch_state *ls, int n)
{
#ifdef SIMT_TSAN
	for (int i = 0; ls->f && i < n; i++)
		if (ls->f[i].tsan_fiber)
			__tsan_destroy_fiber(ls->f[i].tsan_fiber);
#else
	(void)n;
#endif
	free(ls->f);
	free(ls->warps);
	if (ls->map)
		munmap(ls->map, ls->map_len);
}

int simt_run(const struct simt_kernel_desc *k, const void *args, struct simt_dim3 grid, struct simt_dim3 block,
	     char *err, size_t err_len)
{
	const int n = (int)(block.x * block.y * block.z);
	struct simt_launch_state ls = { .k = k, .args = args, .nthreads = n, .nwarps = (n + 31) / 32 };
	int rc = fibers_make(&ls, n);
	if (rc) {
		snprintf(err, err_len, "simt: %s: no memory for %d fibers", k->name, n);
		fibers_free(&ls, n);
		return rc;
	}
#ifdef SIMT_TSAN
	ls.tsan_sched = __tsan_get_current_fiber();
#endif
	for (int i = 0; i < n; i++) {
		ls.f[i].view.tid = (struct simt_uint3){ (unsigned)i % block.x, ((unsigned)i / block.x) % block.y,
							(unsigned)i / (block.x * block.y) };
		ls.f[i].view.bdim = (struct simt_uint3){ block.x, block.y, block.z };
		ls.f[i].view.gdim = (struct simt_uint3){ grid.x, grid.y, grid.z };
		ls.f[i].lane = i % 32;
		ls.f[i].warp = i / 32;
	}
	for (unsigned bz = 0; bz < grid.z && !rc; bz++)
		for (unsigned by = 0; by < grid.y && !rc; by++)
			for (unsigned bx = 0; bx < grid.x && !rc; bx++) {
				ls.bar_gen = ls.bar_arrived = 0;
				ls.bar_live = (unsigned)n;
				for (int w = 0; w < ls.nwarps; w++) {
					ls.warps[w].gen = ls.warps[w].arrived = ls.warps[w].amask = 0;
					ls.warps[w].live = (unsigned)(n - w * 32 < 32 ? n - w * 32 : 32);
				}
				for (int i = 0; i < n; i++) {
					ls.f[i].view.bid = (struct simt_uint3){ bx, by, bz };
					fiber_start(&ls, &ls.f[i]);
				}
				int live = n;
				while (live) {
					unsigned long before = ls.progress;
					live = 0;
					for (int i = 0; i < n; i++)
						if (!ls.f[i].done) {
							to_fiber(&ls, &ls.f[i]);
							live += !ls.f[i].done;
						}
					if (live && ls.progress == before) {
						snprintf(err, err_len,
							 "simt: %s: block (%u,%u,%u) deadlocked: %d threads wait at a "
							 "barrier or warp collective the others never reach",
							 k->name, bx, by, bz, live);
						rc = -EDEADLK;
						break;
					}
				}
			}
	fibers_free(&ls, n);
	return rc;
}
