/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/topo.c — choose a topology source, bring its result into the one
 * canonical form (devices sorted by BDF, links in (a, b) order), and answer
 * questions about it (relation of a pair, nearest NVMe of a GPU).
 */
#include "sys/topo.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum sl_dev_class sl_dev_class_of(uint32_t class_code)
{
	if ((class_code >> 16) == 0x03)
		return SL_DEV_GPU; /* VGA, XGA, 3D and other display controllers */
	if (class_code == 0x010802)
		return SL_DEV_NVME;
	if ((class_code >> 16) == 0x12)
		return SL_DEV_ACCEL;
	return SL_DEV_OTHER;
}

void sl_topo_dev_set_bdf(struct sl_topo_dev *d)
{
	snprintf(d->bdf, sizeof(d->bdf), "%04x:%02x:%02x.%x", d->domain & 0xffffu, d->bus, d->dev, d->func & 7u);
}

const char *sl_dev_class_name(enum sl_dev_class c)
{
	static const char *const n[] = { "other", "gpu", "nvme", "accel" };
	return (unsigned)c < SL_ARRAY_SIZE(n) ? n[c] : "?";
}

const char *sl_topo_rel_name(enum sl_topo_rel r)
{
	static const char *const n[] = { "none", "same-switch", "same-root-port", "same-host-bridge",
					 "same-node", "cross-node" };
	return (unsigned)r < SL_ARRAY_SIZE(n) ? n[r] : "?";
}

const char *sl_link_gen_name(unsigned gen)
{
	static const char *const n[] = { "unknown", "2.5 GT/s", "5.0 GT/s", "8.0 GT/s",
					 "16.0 GT/s", "32.0 GT/s", "64.0 GT/s" };
	return gen < SL_ARRAY_SIZE(n) ? n[gen] : "?";
}

/*
 * The canonical path of a PCI device is <sysfs>/devices/.../pciDDDD:BB/<bridge>/.../<device>:
 * everything after the host bridge's directory is the chain of bridges, root port first.
 * (Platform prefixes such as Hyper-V's VMBUS directories come before the pci directory.)
 */
int sl_topo_read_path(const char *sysfs_root, struct sl_topo_dev *d)
{
	char link[PATH_MAX], real[PATH_MAX], *tok, *save = NULL;
	char parts[SL_TOPO_MAX_DEPTH + 1][16];
	int n = 0;

	snprintf(link, sizeof(link), "%s/bus/pci/devices/%s", sysfs_root, d->bdf);
	if (!realpath(link, real))
		return -errno;
	d->host[0] = 0;
	for (tok = strtok_r(real, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strncmp(tok, "pci", 3) && strchr(tok, ':') && !strchr(tok, '.')) {
			snprintf(d->host, sizeof(d->host), "%s", tok + 3);
			n = 0; /* a bridge directory nested deeper wins: it is the real root bus */
		} else if (d->host[0]) {
			if (n == SL_TOPO_MAX_DEPTH + 1)
				return -E2BIG;
			snprintf(parts[n++], sizeof(parts[0]), "%s", tok);
		}
	}
	if (!d->host[0] || n < 1 || strcmp(parts[n - 1], d->bdf))
		return -EINVAL; /* not below a host bridge, or the last part is not the device itself */
	d->depth = n - 1;
	for (int i = 0; i < d->depth; i++)
		memcpy(d->path[i], parts[i], sizeof(d->path[i]));
	return 0;
}

/* The module's rule (driver/topo.c sluice_fill_link), expressed on paths. */
static void link_from_paths(const struct sl_topo_dev *a, const struct sl_topo_dev *b, struct sl_topo_link *l)
{
	int c = 0;

	while (c < a->depth && c < b->depth && !strcmp(a->path[c], b->path[c]))
		c++;
	if (c > 0) {
		/* path[c - 1] is the lowest common bridge; a bridge right on the root bus is a root port. */
		l->rel = c == 1 ? SL_REL_SAME_ROOT_PORT : SL_REL_SAME_SWITCH;
		l->hops = (uint32_t)(a->depth - c + b->depth - c + 1);
	} else if (!strcmp(a->host, b->host)) {
		l->rel = SL_REL_SAME_HOST_BRIDGE;
		l->hops = (uint32_t)(a->depth + b->depth);
	} else {
		bool cross = a->numa_node >= 0 && b->numa_node >= 0 && a->numa_node != b->numa_node;
		l->rel = cross ? SL_REL_CROSS_NODE : SL_REL_SAME_NODE;
		l->hops = (uint32_t)(a->depth + b->depth);
	}
}

static uint64_t n_pairs(uint32_t n)
{
	return n ? (uint64_t)n * (n - 1) / 2 : 0;
}

/* Slot of pair (a, b), a < b, in the canonical order. */
static uint64_t pair_index(uint32_t n, uint32_t a, uint32_t b)
{
	return (uint64_t)a * n - (uint64_t)a * (a + 1) / 2 + (b - a - 1);
}

int sl_topo_links_from_paths(struct sl_topo *t)
{
	uint64_t np = n_pairs(t->n_dev);

	free(t->link);
	t->link = NULL;
	t->n_link = 0;
	if (np > UINT32_MAX)
		return -E2BIG;
	if (!np)
		return 0;
	t->link = calloc(np, sizeof(*t->link));
	if (!t->link)
		return -ENOMEM;
	for (uint32_t a = 0; a < t->n_dev; a++)
		for (uint32_t b = a + 1; b < t->n_dev; b++) {
			struct sl_topo_link *l = &t->link[pair_index(t->n_dev, a, b)];
			l->a = a;
			l->b = b;
			link_from_paths(&t->dev[a], &t->dev[b], l);
		}
	t->n_link = (uint32_t)np;
	return 0;
}

static int cmp_dev(const void *pa, const void *pb)
{
	const struct sl_topo_dev *a = pa, *b = pb;
	if (a->domain != b->domain)
		return a->domain < b->domain ? -1 : 1;
	if (a->bus != b->bus)
		return a->bus < b->bus ? -1 : 1;
	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	return (int)a->func - (int)b->func;
}

/*
 * Sort devices by BDF and move each link to its canonical slot.  The source's
 * order (the kernel's device list, or readdir) carries no meaning, and two
 * sources can only be compared field by field once both are canonical.
 */
static int canonicalize(struct sl_topo *t, struct sl_err *err)
{
	uint32_t n = t->n_dev, *rank = NULL;
	struct sl_topo_link *links = NULL;
	uint64_t np = n_pairs(n);

	if (!n)
		return 0;
	/* Remember where each device ends up: the BDF is unique, so tag with the old index. */
	struct { struct sl_topo_dev d; uint32_t old; } *tmp = calloc(n, sizeof(*tmp));
	rank = calloc(n, sizeof(*rank));
	if (!tmp || !rank)
		goto nomem;
	for (uint32_t i = 0; i < n; i++) {
		tmp[i].d = t->dev[i];
		tmp[i].old = i;
	}
	/* struct sl_topo_dev is the first member, so cmp_dev compares the right thing. */
	qsort(tmp, n, sizeof(*tmp), cmp_dev);
	for (uint32_t i = 0; i < n; i++) {
		t->dev[i] = tmp[i].d;
		rank[tmp[i].old] = i;
		if (i && !cmp_dev(&t->dev[i - 1], &t->dev[i])) {
			free(tmp);
			free(rank);
			return sl_errf(err, EPROTO, "topology: device %s listed twice", t->dev[i].bdf);
		}
	}
	free(tmp);
	tmp = NULL;
	if (t->n_link) {
		if (t->n_link != np) {
			free(rank);
			return sl_errf(err, EPROTO, "topology: %u links for %u devices, want %llu", t->n_link, n,
				       (unsigned long long)np);
		}
		links = calloc(np, sizeof(*links));
		if (!links)
			goto nomem;
		for (uint32_t k = 0; k < t->n_link; k++) {
			struct sl_topo_link l = t->link[k];
			if (l.a >= n || l.b >= n || l.a == l.b) {
				free(links);
				free(rank);
				return sl_errf(err, EPROTO, "topology: link %u joins %u and %u of %u devices", k, l.a,
					       l.b, n);
			}
			uint32_t a = rank[l.a], b = rank[l.b];
			l.a = SL_MIN(a, b);
			l.b = SL_MAX(a, b);
			links[pair_index(n, l.a, l.b)] = l;
		}
		for (uint64_t k = 0; k < np; k++)
			if (links[k].a == links[k].b) { /* a slot nobody filled: some pair was listed twice */
				free(links);
				free(rank);
				return sl_errf(err, EPROTO, "topology: a pair of devices has no link");
			}
		free(t->link);
		t->link = links;
	}
	free(rank);
	return 0;
nomem:
	free(tmp);
	free(rank);
	return sl_errf(err, ENOMEM, "topology: out of memory");
}

static bool dev_node_usable(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int sl_topo_load(const struct sl_topo_opts *opts, struct sl_topo *out, struct sl_err *err)
{
	static const struct sl_topo_opts dflt = { 0 };
	const struct sl_topo_opts *o = opts ? opts : &dflt;
	const char *root = o->sysfs_root;
	const char *src = o->source && *o->source ? o->source : "auto";
	const char *devpath = o->dev_path ? o->dev_path : "/dev/sluice";
	const struct sl_topo_src *s;
	struct sl_topo_opts oo = *o;
	int r;

	memset(out, 0, sizeof(*out));
	if (!root || !*root)
		root = "/sys";
	oo.dev_path = devpath;
	if (!strcmp(src, "auto"))
		s = dev_node_usable(devpath) ? &sl_topo_src_dev : &sl_topo_src_sysfs;
	else if (!strcmp(src, "dev"))
		s = &sl_topo_src_dev;
	else if (!strcmp(src, "sysfs"))
		s = &sl_topo_src_sysfs;
	else
		return sl_errf(err, EINVAL, "topology source '%s': want auto, dev or sysfs", src);

	r = s->load(&oo, root, out, err);
	if (r < 0) {
		sl_topo_free(out);
		return r;
	}
	snprintf(out->source, sizeof(out->source), "%s", s->name);
	for (uint32_t i = 0; i < out->n_dev; i++) {
		sl_topo_dev_set_bdf(&out->dev[i]);
		out->dev[i].cls = sl_dev_class_of(out->dev[i].class_code);
		/* Without a path the device still counts; it just prints below its host bridge "?". */
		if (sl_topo_read_path(root, &out->dev[i]) < 0)
			sl_info("topology: no sysfs path for %s under %s", out->dev[i].bdf, root);
	}
	r = canonicalize(out, err);
	if (!r && !out->n_link && out->n_dev > 1 && (r = sl_topo_links_from_paths(out)) < 0)
		sl_errf(err, -r, "topology: links: %s", strerror(-r));
	if (r < 0) {
		sl_topo_free(out);
		return r;
	}
	if (!o->no_drm)
		sl_topo_add_drm(out);
	sl_info("topology from %s: %u devices", out->source, out->n_dev);
	return 0;
}

void sl_topo_free(struct sl_topo *t)
{
	if (!t)
		return;
	free(t->dev);
	free(t->link);
	memset(t, 0, sizeof(*t));
}

enum sl_topo_rel sl_topo_relation(const struct sl_topo *t, uint32_t i, uint32_t j, uint32_t *hops)
{
	if (i == j || i >= t->n_dev || j >= t->n_dev || t->n_link != n_pairs(t->n_dev))
		return SL_REL_NONE;
	const struct sl_topo_link *l = &t->link[pair_index(t->n_dev, SL_MIN(i, j), SL_MAX(i, j))];
	if (hops)
		*hops = l->hops;
	return l->rel;
}

int sl_topo_nearest_nvme(const struct sl_topo *t, uint32_t gpu_index)
{
	int best = -1;
	uint32_t best_rel = 0, best_hops = 0;

	for (uint32_t i = 0; i < t->n_dev; i++) {
		uint32_t hops = 0;
		enum sl_topo_rel rel;

		if (i == gpu_index || t->dev[i].cls != SL_DEV_NVME)
			continue;
		rel = sl_topo_relation(t, gpu_index, i, &hops);
		if (rel == SL_REL_NONE)
			continue;
		/* Devices are in BDF order, so strict '<' keeps the lowest BDF on a tie. */
		if (best < 0 || rel < best_rel || (rel == best_rel && hops < best_hops)) {
			best = (int)i;
			best_rel = rel;
			best_hops = hops;
		}
	}
	return best;
}

int sl_topo_find(const struct sl_topo *t, const char *bdf)
{
	for (uint32_t i = 0; i < t->n_dev; i++)
		if (!strcmp(t->dev[i].bdf, bdf))
			return (int)i;
	return -1;
}

const char *sl_topo_diff(const struct sl_topo *a, const struct sl_topo *b, char *why, size_t len)
{
#define DIFF(...) do { snprintf(why, len, __VA_ARGS__); return why; } while (0)
	if (a->n_dev != b->n_dev)
		DIFF("%u devices vs %u", a->n_dev, b->n_dev);
	if (a->n_link != b->n_link)
		DIFF("%u links vs %u", a->n_link, b->n_link);
	for (uint32_t i = 0; i < a->n_dev; i++) {
		const struct sl_topo_dev *x = &a->dev[i], *y = &b->dev[i];
		const char *n = x->bdf;
		if (strcmp(x->bdf, y->bdf))
			DIFF("device %u: %s vs %s", i, x->bdf, y->bdf);
		if (x->cls != y->cls || x->class_code != y->class_code)
			DIFF("%s: class %06x vs %06x", n, x->class_code, y->class_code);
		if (x->vendor != y->vendor || x->device != y->device)
			DIFF("%s: id %04x:%04x vs %04x:%04x", n, x->vendor, x->device, y->vendor, y->device);
		if (x->subsys_vendor != y->subsys_vendor || x->subsys_device != y->subsys_device)
			DIFF("%s: subsystem %04x:%04x vs %04x:%04x", n, x->subsys_vendor, x->subsys_device,
			     y->subsys_vendor, y->subsys_device);
		if (x->numa_node != y->numa_node)
			DIFF("%s: numa node %d vs %d", n, x->numa_node, y->numa_node);
		if (x->iommu_group != y->iommu_group)
			DIFF("%s: iommu group %d vs %d", n, x->iommu_group, y->iommu_group);
		if (x->pcie != y->pcie)
			DIFF("%s: pcie %d vs %d", n, x->pcie, y->pcie);
		if (x->cur_link_gen != y->cur_link_gen || x->cur_link_width != y->cur_link_width ||
		    x->max_link_gen != y->max_link_gen || x->max_link_width != y->max_link_width)
			DIFF("%s: link gen%u x%u/gen%u x%u vs gen%u x%u/gen%u x%u", n, x->cur_link_gen,
			     x->cur_link_width, x->max_link_gen, x->max_link_width, y->cur_link_gen,
			     y->cur_link_width, y->max_link_gen, y->max_link_width);
		for (int k = 0; k < SL_TOPO_NUM_BARS; k++)
			if (x->bar_size[k] != y->bar_size[k])
				DIFF("%s: BAR%d %llu vs %llu", n, k, (unsigned long long)x->bar_size[k],
				     (unsigned long long)y->bar_size[k]);
		if (strcmp(x->driver, y->driver))
			DIFF("%s: driver '%s' vs '%s'", n, x->driver, y->driver);
		if (strcmp(x->drm_card, y->drm_card) || strcmp(x->drm_render, y->drm_render))
			DIFF("%s: drm '%s' '%s' vs '%s' '%s'", n, x->drm_card, x->drm_render, y->drm_card,
			     y->drm_render);
		if (strcmp(x->host, y->host) || x->depth != y->depth)
			DIFF("%s: host %s depth %d vs %s depth %d", n, x->host, x->depth, y->host, y->depth);
		for (int k = 0; k < x->depth; k++)
			if (strcmp(x->path[k], y->path[k]))
				DIFF("%s: bridge %d %s vs %s", n, k, x->path[k], y->path[k]);
	}
	for (uint32_t k = 0; k < a->n_link; k++) {
		const struct sl_topo_link *x = &a->link[k], *y = &b->link[k];
		if (x->a != y->a || x->b != y->b || x->rel != y->rel || x->hops != y->hops)
			DIFF("link %s-%s: %s/%u hops vs %s-%s: %s/%u hops", a->dev[x->a].bdf, a->dev[x->b].bdf,
			     sl_topo_rel_name(x->rel), x->hops, b->dev[y->a].bdf, b->dev[y->b].bdf,
			     sl_topo_rel_name(y->rel), y->hops);
	}
#undef DIFF
	return NULL;
}
