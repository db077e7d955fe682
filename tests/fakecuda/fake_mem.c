/* SPDX-License-Identifier: MIT */
/*
 * tests/fakecuda/fake_mem.c — device memory (one arena per device) and pinned host memory.
 *
 * Each device reserves FAKECUDA_MEM bytes of address space with mmap(PROT_NONE, MAP_NORESERVE); an
 * allocation makes its pages readable and writable, a free returns them (madvise) and makes them
 * inaccessible again, so a kernel that reads freed or unallocated device memory faults instead of
 * reading stale data.  Allocations are page-rounded and placed first-fit; cuMemGetInfo reports the
 * rounded total.  Small allocations come back filled with 0xff bytes (NaN as floats), the stand-in
 * for the garbage real device memory holds; large ones are left as the kernel gives them (zero) so
 * that a big budget does not commit host memory it never uses.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fakecuda.h"

#define POISON_MAX ((size_t)16 << 20)

CUresult fk_dev_init(struct fk_device *d, size_t total)
{
	total = total / FK_PAGE * FK_PAGE;
	if (total) {
		void *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return CUDA_ERROR_OUT_OF_MEMORY;
		d->arena = p;
	}
	d->total = total;
	d->ctx.null_stream.ctx = &d->ctx;
	return CUDA_SUCCESS;
}

/* The allocation containing address p, or NULL. */
static struct fk_alloc *find(struct fk_device *d, uint64_t p)
{
	size_t lo = 0, hi = d->n_allocs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct fk_alloc *a = &d->allocs[mid];
		if (p < a->base)
			hi = mid;
		else if (p >= a->base + a->rounded)
			lo = mid + 1;
		else
			return a;
	}
	return NULL;
}

static struct fk_device *dev_of(uint64_t p)
{
	for (int i = 0; i < fk.n_dev; i++) {
		struct fk_device *d = &fk.dev[i];
		if (p >= (uint64_t)(uintptr_t)d->arena && p < (uint64_t)(uintptr_t)d->arena + d->total)
			return d;
	}
	return NULL;
}

bool fk_dev_range_ok(uint64_t p, size_t n)
{
	struct fk_device *d = dev_of(p);
	struct fk_alloc *a = d ? find(d, p) : NULL;
	return a && n <= a->size && p - a->base <= a->size - n;
}

int fk_dev_index(uint64_t p)
{
	struct fk_device *d = dev_of(p);
	return d ? (int)(d - fk.dev) : -1;
}

FK_API CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total_bytes)
{
	if (!free_bytes || !total_bytes)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c) {
		struct fk_device *d = &fk.dev[c->dev];
		*free_bytes = d->total - d->used;
		*total_bytes = d->total;
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuMemGetInfo, cuMemGetInfo_v2);

FK_API CUresult cuMemAlloc_v2(CUdeviceptr *out, size_t size)
{
	if (!out || !size)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (!c)
		goto out;
	struct fk_device *d = &fk.dev[c->dev];
	size_t rounded = (size + FK_PAGE - 1) / FK_PAGE * FK_PAGE;
	r = CUDA_ERROR_OUT_OF_MEMORY;
	if (++fk.n_alloc == fk.fail_alloc || ++d->n_alloc == d->fail_alloc || rounded < size || rounded > d->total - d->used)
		goto out;
	/* first fit among the gaps between the (sorted) allocations */
	uint64_t base = (uint64_t)(uintptr_t)d->arena, end = base + d->total, at = base;
	size_t i = 0;
	for (; i < d->n_allocs; i++) {
		if (d->allocs[i].base - at >= rounded)
			break;
		at = d->allocs[i].base + d->allocs[i].rounded;
	}
	if (i == d->n_allocs && end - at < rounded)
		goto out;
	if (d->n_allocs == d->cap_allocs) {
		size_t cap = d->cap_allocs ? 2 * d->cap_allocs : 64;
		struct fk_alloc *na = realloc(d->allocs, cap * sizeof *na);
		if (!na)
			goto out;
		d->allocs = na;
		d->cap_allocs = cap;
	}
	if (mprotect((void *)(uintptr_t)at, rounded, PROT_READ | PROT_WRITE))
		goto out;
	memmove(&d->allocs[i + 1], &d->allocs[i], (d->n_allocs - i) * sizeof *d->allocs);
	d->allocs[i] = (struct fk_alloc){ .base = at, .size = size, .rounded = rounded };
	d->n_allocs++;
	d->used += rounded;
	if (size <= POISON_MAX)
		memset((void *)(uintptr_t)at, 0xff, size);
	*out = at;
	r = CUDA_SUCCESS;
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuMemAlloc, cuMemAlloc_v2);

static void release(struct fk_device *d, size_t i)
{
	struct fk_alloc a = d->allocs[i];
	madvise((void *)(uintptr_t)a.base, a.rounded, MADV_DONTNEED);
	mprotect((void *)(uintptr_t)a.base, a.rounded, PROT_NONE);
	memmove(&d->allocs[i], &d->allocs[i + 1], (d->n_allocs - i - 1) * sizeof *d->allocs);
	d->n_allocs--;
	d->used -= a.rounded;
}

void fk_dev_free_all(struct fk_device *d)
{
	while (d->n_allocs)
		release(d, d->n_allocs - 1);
}

/* cuMemFree synchronizes (the device's queued work runs first), as the real one may. */
FK_API CUresult cuMemFree_v2(CUdeviceptr p)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (!c)
		goto out;
	struct fk_device *d = dev_of(p);
	struct fk_alloc *a = d ? find(d, p) : NULL;
	if (!a || a->base != p) {
		r = CUDA_ERROR_INVALID_VALUE;
		goto out;
	}
	r = fk_run_ctx(&d->ctx);
	if (!r)
		release(d, (size_t)(a - d->allocs));
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuMemFree, cuMemFree_v2);

/* ---- pinned host memory ---- */

bool fk_host_pinned(const void *p, size_t n)
{
	uintptr_t s = (uintptr_t)p;
	for (size_t i = 0; i < fk.n_regs; i++) {
		struct fk_hostreg *g = &fk.regs[i];
		if (s >= g->start && s - g->start < g->size && n <= g->size - (s - g->start))
			return true;
	}
	return false;
}

static CUresult reg_add(void *p, size_t size, bool alloc_host)
{
	uintptr_t s = (uintptr_t)p;
	for (size_t i = 0; i < fk.n_regs; i++) {
		struct fk_hostreg *g = &fk.regs[i];
		if (s < g->start + g->size && g->start < s + size)
			return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	}
	if (fk.n_regs == fk.cap_regs) {
		size_t cap = fk.cap_regs ? 2 * fk.cap_regs : 32;
		struct fk_hostreg *nr = realloc(fk.regs, cap * sizeof *nr);
		if (!nr)
			return CUDA_ERROR_OUT_OF_MEMORY;
		fk.regs = nr;
		fk.cap_regs = cap;
	}
	fk.regs[fk.n_regs++] = (struct fk_hostreg){ .start = s, .size = size, .alloc_host = alloc_host };
	return CUDA_SUCCESS;
}

/* Unregistering (or freeing pinned memory) waits for every queued operation, so that none reads or
 * writes the range after it is gone. */
static CUresult reg_remove(void *p, bool alloc_host)
{
	for (size_t i = 0; i < fk.n_regs; i++) {
		if (fk.regs[i].start != (uintptr_t)p || fk.regs[i].alloc_host != alloc_host)
			continue;
		CUresult r = fk_run_everything();
		fk.regs[i] = fk.regs[--fk.n_regs];
		return r;
	}
	return alloc_host ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

FK_API CUresult cuMemHostRegister_v2(void *p, size_t size, unsigned flags)
{
	if (!p || !size || (flags & ~(unsigned)CU_MEMHOSTREGISTER_PORTABLE))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c)
		r = ++fk.n_register == fk.fail_register ? CUDA_ERROR_OUT_OF_MEMORY : reg_add(p, size, false);
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuMemHostRegister, cuMemHostRegister_v2);

FK_API CUresult cuMemHostUnregister(void *p)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c)
		r = reg_remove(p, false);
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuMemAllocHost_v2(void **out, size_t size)
{
	if (!out || !size)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c) {
		size_t rounded = (size + FK_PAGE - 1) / FK_PAGE * FK_PAGE;
		void *p = aligned_alloc(FK_PAGE, rounded);
		r = CUDA_ERROR_OUT_OF_MEMORY;
		if (p && !(r = reg_add(p, size, true)))
			*out = p;
		else
			free(p);
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuMemAllocHost, cuMemAllocHost_v2);

FK_API CUresult cuMemFreeHost(void *p)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c && !(r = reg_remove(p, true)))
		free(p);
	pthread_mutex_unlock(&fk.lock);
	return r;
}
