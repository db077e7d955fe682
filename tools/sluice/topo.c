/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/topo.c — `sluice topo [--json] [--source auto|dev|sysfs] [--all]`:
 * GPUs, NVMe drives and accelerators as a tree (NUMA node → host bridge → root
 * port → switch ports → device), each device's link and driver, and for each GPU
 * the NVMe it should stream weights from (runtime/sys/topo.h); then the CUDA devices the driver
 * reports (name, memory, PCI address, and from the tree their NUMA node and nearest NVMe), or why
 * there are none ("no CUDA driver ...").
 */
#include "backend/cuda/cuda_devices.h"
#include "cli.h"
#include "sys/topo.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *o)
{
	fprintf(o, "usage: sluice topo [--json] [--source auto|dev|sysfs] [--all] [--sysfs-root DIR]\n"
		   "  prints GPUs, NVMe controllers and accelerators by NUMA node and PCIe path,\n"
		   "  their links and drivers, the nearest NVMe of each GPU, and the CUDA devices\n"
		   "  --json        machine-readable output\n"
		   "  --source S    dev: /dev/sluice (sluice.ko); sysfs: /sys + libdrm; auto (default): dev if loaded\n"
		   "  --all         every PCI function, not only the three classes\n"
		   "  --sysfs-root  read sysfs from DIR (default $SLUICE_SYSFS_ROOT or /sys)\n");
}

/* Strings come from sysfs (or --sysfs-root): written by the one JSON string writer (cli.h). */
static void json_str_or_null(FILE *o, const char *s)
{
	if (*s)
		cli_json_cstr(o, s);
	else
		fputs("null", o);
}

/* The CUDA devices (NULL *n: none, with why in err), each with its index in t or -1. */
#define MAX_CUDA 64
struct cuda_list {
	struct sl_cuda_dev_info d[MAX_CUDA];
	int n, version, rc;
	struct sl_err err;
};

static void cuda_list(struct cuda_list *l)
{
	l->err.msg[0] = 0;
	l->rc = sl_cuda_list_devices(l->d, MAX_CUDA, &l->n, &l->version, &l->err);
}

static void print_cuda_json(FILE *o, const struct sl_topo *t)
{
	static struct cuda_list l;
	cuda_list(&l);
	if (l.rc) {
		fputs("{\"error\": ", o);
		cli_json_cstr(o, l.err.msg);
		fputs("}", o);
		return;
	}
	fprintf(o, "{\"driver_version\": %d, \"devices\": [", l.version);
	for (int i = 0; i < l.n; i++) {
		const struct sl_cuda_dev_info *d = &l.d[i];
		int k = sl_topo_find(t, d->pci), nv = k >= 0 ? sl_topo_nearest_nvme(t, (uint32_t)k) : -1;
		fprintf(o, "%s\n    {\"ordinal\": %d, \"name\": ", i ? "," : "", d->ordinal);
		cli_json_cstr(o, d->name);
		fprintf(o, ", \"memory_bytes\": %llu, \"compute_capability\": \"%d.%d\", \"pci_bus_id\": ",
			(unsigned long long)d->total, d->cc_major, d->cc_minor);
		cli_json_cstr(o, d->pci);
		if (k >= 0 && t->dev[k].numa_node >= 0)
			fprintf(o, ", \"numa_node\": %d", t->dev[k].numa_node);
		else
			fputs(", \"numa_node\": null", o);
		fprintf(o, ", \"in_topology\": %s, \"nearest_nvme\": ", k >= 0 ? "true" : "false");
		json_str_or_null(o, nv >= 0 ? t->dev[nv].bdf : "");
		fputs("}", o);
	}
	fprintf(o, "%s]}", l.n ? "\n  " : "");
}

/* CUDA devices, from the driver, placed in the tree by their PCI address. */
static void print_cuda(FILE *o, const struct sl_topo *t)
{
	static struct cuda_list l;
	cuda_list(&l);
	if (l.rc) {
		fprintf(o, "CUDA: %s\n", l.err.msg);
		return;
	}
	fprintf(o, "CUDA devices (driver %d.%d): %d\n", l.version / 1000, l.version % 1000 / 10, l.n);
	for (int i = 0; i < l.n; i++) {
		const struct sl_cuda_dev_info *d = &l.d[i];
		int k = sl_topo_find(t, d->pci);
		fprintf(o, "  cuda:%d  %s  %.1f GiB  sm_%d%d  pci %s", d->ordinal, d->name, (double)d->total / (1 << 30),
			d->cc_major, d->cc_minor, d->pci);
		if (k < 0) {
			fputs("  (not in the PCI tree above: NUMA node and nearest NVMe unknown)\n", o);
			continue;
		}
		if (t->dev[k].numa_node >= 0)
			fprintf(o, "  node %d", t->dev[k].numa_node);
		else
			fputs("  node ?", o);
		int nv = sl_topo_nearest_nvme(t, (uint32_t)k);
		if (nv < 0) {
			fputs("  nearest NVMe: none\n", o);
			continue;
		}
		uint32_t hops = 0;
		enum sl_topo_rel rel = sl_topo_relation(t, (uint32_t)k, (uint32_t)nv, &hops);
		fprintf(o, "  nearest NVMe %s (%s, %u bridge%s)\n", t->dev[nv].bdf, sl_topo_rel_name(rel), hops,
			hops == 1 ? "" : "s");
	}
}

static void print_json(FILE *o, const struct sl_topo *t)
{
	fputs("{\n  \"source\": ", o);
	cli_json_cstr(o, t->source);
	fputs(",\n  \"devices\": [", o);
	for (uint32_t i = 0; i < t->n_dev; i++) {
		const struct sl_topo_dev *d = &t->dev[i];
		fprintf(o, "%s\n    {\"index\": %u, \"bdf\": ", i ? "," : "", i);
		cli_json_cstr(o, d->bdf);
		fprintf(o, ", \"class\": \"%s\", \"class_code\": \"0x%06x\", "
			   "\"vendor\": \"0x%04x\", \"device\": \"0x%04x\", \"subsystem_vendor\": \"0x%04x\", "
			   "\"subsystem_device\": \"0x%04x\",\n     ",
			sl_dev_class_name(d->cls), d->class_code, d->vendor, d->device,
			d->subsys_vendor, d->subsys_device);
		if (d->numa_node >= 0)
			fprintf(o, "\"numa_node\": %d, ", d->numa_node);
		else
			fputs("\"numa_node\": null, ", o);
		if (d->iommu_group >= 0)
			fprintf(o, "\"iommu_group\": %d, ", d->iommu_group);
		else
			fputs("\"iommu_group\": null, ", o);
		fputs("\"driver\": ", o);
		json_str_or_null(o, d->driver);
		fprintf(o, ", \"pcie\": %s,\n     \"link\": {\"cur_gen\": %u, \"cur_speed\": \"%s\", \"cur_width\": %u, "
			   "\"max_gen\": %u, \"max_speed\": \"%s\", \"max_width\": %u},\n     \"bar_sizes\": [",
			d->pcie ? "true" : "false", d->cur_link_gen, sl_link_gen_name(d->cur_link_gen), d->cur_link_width,
			d->max_link_gen, sl_link_gen_name(d->max_link_gen), d->max_link_width);
		for (int k = 0; k < SL_TOPO_NUM_BARS; k++)
			fprintf(o, "%s%llu", k ? ", " : "", (unsigned long long)d->bar_size[k]);
		fputs("],\n     \"host_bridge\": ", o);
		json_str_or_null(o, d->host);
		fputs(", \"path\": [", o);
		for (int k = 0; k < d->depth; k++) {
			fputs(k ? ", " : "", o);
			cli_json_cstr(o, d->path[k]);
		}
		fputs("]", o);
		if (d->cls == SL_DEV_GPU) {
			int n = sl_topo_nearest_nvme(t, i);
			fputs(",\n     \"drm_card\": ", o);
			json_str_or_null(o, d->drm_card);
			fputs(", \"drm_render\": ", o);
			json_str_or_null(o, d->drm_render);
			fputs(", \"nearest_nvme\": ", o);
			json_str_or_null(o, n >= 0 ? t->dev[n].bdf : "");
		}
		fputs("}", o);
	}
	fprintf(o, "%s],\n  \"links\": [", t->n_dev ? "\n  " : "");
	for (uint32_t k = 0; k < t->n_link; k++) {
		const struct sl_topo_link *l = &t->link[k];
		fprintf(o, "%s\n    {\"a\": ", k ? "," : "");
		cli_json_cstr(o, t->dev[l->a].bdf);
		fputs(", \"b\": ", o);
		cli_json_cstr(o, t->dev[l->b].bdf);
		fprintf(o, ", \"relation\": \"%s\", \"hops\": %u}", sl_topo_rel_name(l->rel), l->hops);
	}
	fprintf(o, "%s],\n  \"cuda\": ", t->n_link ? "\n  " : "");
	print_cuda_json(o, t);
	fputs("\n}\n", o);
}

/* Tree order: NUMA node (unknown last), host bridge, bridge path, BDF. */
static const struct sl_topo *sort_topo;
static int cmp_tree(const void *pa, const void *pb)
{
	const struct sl_topo_dev *a = &sort_topo->dev[*(const uint32_t *)pa], *b = &sort_topo->dev[*(const uint32_t *)pb];
	unsigned na = (unsigned)a->numa_node, nb = (unsigned)b->numa_node; /* -1 sorts last */
	int c;

	if (na != nb)
		return na < nb ? -1 : 1;
	if ((c = strcmp(a->host, b->host)))
		return c;
	for (int k = 0; k < a->depth && k < b->depth; k++)
		if ((c = strcmp(a->path[k], b->path[k])))
			return c;
	if (a->depth != b->depth)
		return a->depth - b->depth;
	return strcmp(a->bdf, b->bdf);
}

static void print_device(FILE *o, const struct sl_topo *t, uint32_t i, int indent)
{
	const struct sl_topo_dev *d = &t->dev[i];

	fprintf(o, "%*s%s  %-5s %04x:%04x", indent, "", d->bdf, sl_dev_class_name(d->cls), d->vendor, d->device);
	if (d->pcie)
		fprintf(o, "  %s x%u (max %s x%u)", sl_link_gen_name(d->cur_link_gen), d->cur_link_width,
			sl_link_gen_name(d->max_link_gen), d->max_link_width);
	else
		fputs("  conventional PCI", o);
	fprintf(o, "  driver %s", d->driver[0] ? d->driver : "(none)");
	if (d->iommu_group >= 0)
		fprintf(o, "  iommu %d", d->iommu_group);
	if (d->drm_card[0])
		fprintf(o, "  %s", d->drm_card);
	if (d->drm_render[0])
		fprintf(o, " %s", d->drm_render);
	fputc('\n', o);
}

static void print_tree(FILE *o, const struct sl_topo *t)
{
	uint32_t *ord = calloc(t->n_dev ? t->n_dev : 1, sizeof(*ord));
	const struct sl_topo_dev *prev = NULL;
	uint32_t n_gpu = 0;

	fprintf(o, "source: %s (%s), %u device%s\n", t->source,
		!strcmp(t->source, "dev") ? "/dev/sluice" : "sysfs + libdrm", t->n_dev, t->n_dev == 1 ? "" : "s");
	if (!t->n_dev) {
		fputs("no GPU, NVMe controller or accelerator on the PCI bus\n", o);
		free(ord);
		return;
	}
	if (!ord) {
		fputs("out of memory\n", o);
		return;
	}
	for (uint32_t i = 0; i < t->n_dev; i++)
		ord[i] = i;
	sort_topo = t;
	qsort(ord, t->n_dev, sizeof(*ord), cmp_tree);
	for (uint32_t j = 0; j < t->n_dev; j++) {
		const struct sl_topo_dev *d = &t->dev[ord[j]];
		/* Print each level that differs from the previous device, and everything below it. */
		bool changed = !prev || prev->numa_node != d->numa_node;
		if (changed) {
			if (d->numa_node >= 0)
				fprintf(o, "node %d\n", d->numa_node);
			else
				fputs("node ? (firmware gives no NUMA affinity)\n", o);
		}
		changed = changed || strcmp(prev->host, d->host);
		if (changed)
			fprintf(o, "  host bridge %s\n", d->host[0] ? d->host : "?");
		for (int k = 0; k < d->depth; k++) {
			changed = changed || k >= prev->depth || strcmp(prev->path[k], d->path[k]);
			if (changed)
				fprintf(o, "%*s%s %s\n", 4 + 2 * k, "", k ? "switch port" : "root port", d->path[k]);
		}
		print_device(o, t, ord[j], 4 + 2 * d->depth);
		n_gpu += d->cls == SL_DEV_GPU;
		prev = d;
	}
	free(ord);
	if (!n_gpu)
		return;
	fputs("nearest NVMe:\n", o);
	for (uint32_t i = 0; i < t->n_dev; i++) {
		uint32_t hops = 0;
		int n;

		if (t->dev[i].cls != SL_DEV_GPU)
			continue;
		n = sl_topo_nearest_nvme(t, i);
		if (n < 0) {
			fprintf(o, "  gpu %s -> none\n", t->dev[i].bdf);
			continue;
		}
		enum sl_topo_rel rel = sl_topo_relation(t, i, (uint32_t)n, &hops);
		fprintf(o, "  gpu %s -> nvme %s (%s, %u bridge%s)\n", t->dev[i].bdf, t->dev[n].bdf, sl_topo_rel_name(rel),
			hops, hops == 1 ? "" : "s");
	}
}

int cmd_topo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, 0, 'j' },	 { "source", required_argument, 0, 's' },
		{ "all", no_argument, 0, 'a' },		 { "sysfs-root", required_argument, 0, 'r' },
		{ "help", no_argument, 0, 'h' },	 { 0, 0, 0, 0 },
	};
	struct sl_topo_opts to = { 0 };
	struct sl_topo t;
	struct sl_err err;
	bool json = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 's': to.source = optarg; break;
		case 'a': to.all_devices = true; break;
		case 'r': to.sysfs_root = optarg; break;
		case 'h': usage(stdout); return 0;
		case ':': return cli_error("topo", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("topo", "unknown option '%s' (see sluice topo --help)", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_error("topo", "unexpected argument '%s' (see sluice topo --help)", argv[optind]);
	if (!to.sysfs_root) /* the library reads no environment: the command does */
		to.sysfs_root = getenv("SLUICE_SYSFS_ROOT");
	if (to.source && strcmp(to.source, "auto") && strcmp(to.source, "dev") && strcmp(to.source, "sysfs"))
		return cli_error("topo", "--source: '%s' is not one of auto, dev, sysfs", to.source);
	if (sl_topo_load(&to, &t, &err))
		return cli_error("topo", "%s", err.msg);
	if (json)
		print_json(stdout, &t);
	else
		print_tree(stdout, &t);
	if (!json)
		print_cuda(stdout, &t);
	sl_topo_free(&t);
	return 0;
}
