/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/vfio.h — a PCI function opened through VFIO (container + group, type1
 * IOMMU): its BAR0 mapped into this process, and IO virtual addresses for our memory.
 *
 * Everything the NVMe driver does to the device goes through this: register reads and
 * writes (BAR0), bus mastering (config space), and DMA mappings (VFIO_IOMMU_MAP_DMA).
 */
#ifndef SLUICE_IO_NVME_VFIO_H
#define SLUICE_IO_NVME_VFIO_H

#include "internal.h"

struct sl_vfio {
	int container, group, device;
	volatile uint8_t *bar0;
	size_t bar0_len;
	uint64_t iova_next; /* bump allocator of IO virtual addresses */
	char bdf[16];
};

/* Canonical "DDDD:BB:DD.F" from "BB:DD.F" or "DDDD:BB:DD.F"; -EINVAL otherwise. */
int sl_pci_bdf_parse(const char *s, char out[16], struct sl_err *err);

/* Open bdf (bound to vfio-pci), map BAR0, turn on memory space and bus mastering.
 * Errors name the cause: not a device, bound to another driver, no IOMMU group (IOMMU off),
 * a group that is not viable (other devices in it not bound to vfio-pci), no permission. */
int sl_vfio_open(struct sl_vfio *v, const char *bdf, struct sl_err *err);
void sl_vfio_close(struct sl_vfio *v);

/* Map [vaddr, vaddr+len) (both page aligned) for device reads and writes; *iova receives
 * the address the device uses. */
int sl_vfio_dma_map(struct sl_vfio *v, void *vaddr, size_t len, uint64_t *iova, struct sl_err *err);
void sl_vfio_dma_unmap(struct sl_vfio *v, uint64_t iova, size_t len);

/* DMA memory: anonymous pages, zeroed, mapped. */
struct sl_dma {
	void *va;
	uint64_t iova;
	size_t len;
};
int sl_dma_alloc(struct sl_vfio *v, size_t len, struct sl_dma *d, struct sl_err *err);
void sl_dma_free(struct sl_vfio *v, struct sl_dma *d);

static inline uint32_t sl_mmio_r32(struct sl_vfio *v, uint32_t off)
{
	return *(volatile uint32_t *)(v->bar0 + off);
}
static inline void sl_mmio_w32(struct sl_vfio *v, uint32_t off, uint32_t val)
{
	*(volatile uint32_t *)(v->bar0 + off) = val;
}
/* 64-bit registers as two 32-bit accesses, low first (what the spec allows everywhere). */
static inline uint64_t sl_mmio_r64(struct sl_vfio *v, uint32_t off)
{
	uint64_t lo = sl_mmio_r32(v, off), hi = sl_mmio_r32(v, off + 4);
	return lo | hi << 32;
}
static inline void sl_mmio_w64(struct sl_vfio *v, uint32_t off, uint64_t val)
{
	sl_mmio_w32(v, off, (uint32_t)val);
	sl_mmio_w32(v, off + 4, (uint32_t)(val >> 32));
}

#endif
