/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/topo_drm.c — the DRM card and render node of each GPU, from libdrm.
 *
 * drmGetDevices2() walks /sys/class/drm and matches PCI functions by BDF, which is
 * exactly the key our devices carry.  Only GPUs with a DRM driver bound appear;
 * the others keep empty names.  Built without libdrm headers, this is a no-op.
 */
#include "sys/topo.h"

#include <string.h>

#if defined(__has_include)
#if __has_include(<xf86drm.h>) && __has_include(<drm.h>)
#define SL_HAVE_LIBDRM 1
#endif
#endif

#ifdef SL_HAVE_LIBDRM
#include <xf86drm.h>

#define SL_DRM_MAX 64

void sl_topo_add_drm(struct sl_topo *t)
{
	drmDevicePtr devs[SL_DRM_MAX];
	int n;

	bool any_gpu = false;
	for (uint32_t i = 0; i < t->n_dev; i++)
		any_gpu |= t->dev[i].cls == SL_DEV_GPU;
	if (!any_gpu)
		return;
	/* flags 0: do not wake up sleeping GPUs just to read their IDs (DRM_DEVICE_GET_PCI_REVISION). */
	n = drmGetDevices2(0, devs, SL_DRM_MAX);
	if (n <= 0) {
		sl_info("topology: libdrm finds no DRM devices (%d)", n);
		return;
	}
	for (int j = 0; j < n; j++) {
		const drmPciBusInfo *b;

		if (devs[j]->bustype != DRM_BUS_PCI)
			continue;
		b = devs[j]->businfo.pci;
		for (uint32_t i = 0; i < t->n_dev; i++) {
			struct sl_topo_dev *d = &t->dev[i];
			if (d->cls != SL_DEV_GPU || d->domain != b->domain || d->bus != b->bus || d->dev != b->dev ||
			    d->func != b->func)
				continue;
			if (devs[j]->available_nodes & (1 << DRM_NODE_PRIMARY))
				snprintf(d->drm_card, sizeof(d->drm_card), "%s", devs[j]->nodes[DRM_NODE_PRIMARY]);
			if (devs[j]->available_nodes & (1 << DRM_NODE_RENDER))
				snprintf(d->drm_render, sizeof(d->drm_render), "%s", devs[j]->nodes[DRM_NODE_RENDER]);
		}
	}
	drmFreeDevices(devs, n);
}

#else

void sl_topo_add_drm(struct sl_topo *t)
{
	(void)t;
	sl_info("topology: built without libdrm; GPUs have no DRM node names");
}

#endif
