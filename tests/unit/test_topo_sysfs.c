/*
 * The sysfs topology parser on a fake tree shaped like the VM harness's guest:
 *
 *   pci0000:00 ── 00:01.0 VGA (bochs-drm, no PCIe, node unknown)
 *              └─ 00:02.0 network (not listed unless all_devices)
 *   pci0000:40 (node 0) ── root port 40:00.0 ── switch up 41:00.0 ─┬─ down 42:00.0 ── 43:00.0 nvme
 *                                                                └─ down 42:01.0 ── 44:00.0 display
 *   pci0000:80 (node 1, a pxb-pcie) ── root port 80:00.0 ─┬─ 81:00.0 nvme
 *                                                          └─ 81:00.1 accelerator
 */
#include "helpers/testutil.h"
#include "sys/topo.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[1024]; /* short, so paths built from it fit PATH_MAX */

static void mkdirs(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static void put(const char *dir, const char *name, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

static void link_to(const char *target, const char *dir, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (symlink(target, path)) {
		fprintf(stderr, "symlink %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

struct fake {
	const char *rel; /* below <root>/devices */
	unsigned cls, vendor, device;
	int node, group;
	const char *driver;
	const char *cur_speed, *max_speed; /* NULL: not PCIe (no link attributes) */
	int cur_w, max_w;
	unsigned long long bar0, bar2;
};

static void add(const struct fake *f)
{
	char dir[PATH_MAX], bus[PATH_MAX], tmp[PATH_MAX];
	const char *bdf = strrchr(f->rel, '/') + 1;

	snprintf(dir, sizeof(dir), "%s/devices/%s", root, f->rel);
	mkdirs(dir);
	put(dir, "class", "0x%06x\n", f->cls);
	put(dir, "vendor", "0x%04x\n", f->vendor);
	put(dir, "device", "0x%04x\n", f->device);
	put(dir, "subsystem_vendor", "0x%04x\n", f->vendor);
	put(dir, "subsystem_device", "0x1100\n");
	put(dir, "numa_node", "%d\n", f->node);
	if (f->cur_speed) {
		put(dir, "current_link_speed", "%s\n", f->cur_speed);
		put(dir, "max_link_speed", "%s\n", f->max_speed);
		put(dir, "current_link_width", "%d\n", f->cur_w);
		put(dir, "max_link_width", "%d\n", f->max_w);
	}
	/* 6 BARs, the ROM, then bridge windows: the parser must stop after the sixth line. */
	char res[PATH_MAX + 16];
	snprintf(res, sizeof(res), "%s/resource", dir);
	FILE *r = fopen(res, "w");
	for (int i = 0; i < 13; i++) {
		unsigned long long size = i == 0 ? f->bar0 : i == 2 ? f->bar2 : i == 6 ? 0x10000 : 0;
		unsigned long long start = size ? 0xfe000000ull + (unsigned long long)i * 0x1000000 : 0;
		fprintf(r, "0x%016llx 0x%016llx 0x%016llx\n", start, size ? start + size - 1 : 0, size ? 0x40200ull : 0);
	}
	fclose(r);
	if (f->group >= 0) {
		snprintf(tmp, sizeof(tmp), "%s/kernel/iommu_groups/%d", root, f->group);
		mkdirs(tmp);
		link_to(tmp, dir, "iommu_group");
	}
	if (f->driver) {
		snprintf(tmp, sizeof(tmp), "%s/bus/pci/drivers/%s", root, f->driver);
		mkdirs(tmp);
		link_to(tmp, dir, "driver");
	}
	snprintf(bus, sizeof(bus), "%s/bus/pci/devices", root);
	mkdirs(bus);
	/* Relative, like the kernel's: ../../../devices/pci0000:40/... */
	snprintf(tmp, sizeof(tmp), "../../../devices/%s", f->rel);
	link_to(tmp, bus, bdf);
}

static void build_tree(void)
{
	static const struct fake devs[] = {
		{ "pci0000:00/0000:00:01.0", 0x030000, 0x1234, 0x1111, -1, 1, "bochs-drm", NULL, NULL, 0, 0, 16 << 20, 4096 },
		{ "pci0000:00/0000:00:02.0", 0x020000, 0x8086, 0x10d3, -1, 2, "e1000e", NULL, NULL, 0, 0, 0x20000, 0 },
		{ "pci0000:40/0000:40:00.0", 0x060400, 0x1b36, 0x000c, 0, 3, "pcieport", "16.0 GT/s PCIe", "16.0 GT/s PCIe", 4, 4, 0x1000, 0 },
		{ "pci0000:40/0000:40:00.0/0000:41:00.0", 0x060400, 0x104c, 0x8232, 0, 3, "pcieport", "2.5 GT/s PCIe", "2.5 GT/s PCIe", 1, 1, 0, 0 },
		{ "pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:00.0", 0x060400, 0x104c, 0x8233, 0, 3, "pcieport", "2.5 GT/s PCIe", "2.5 GT/s PCIe", 1, 1, 0, 0 },
		{ "pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:01.0", 0x060400, 0x104c, 0x8233, 0, 3, "pcieport", "2.5 GT/s PCIe", "2.5 GT/s PCIe", 1, 1, 0, 0 },
		{ "pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:00.0/0000:43:00.0", 0x010802, 0x1b36, 0x0010, 0, 7, "nvme", "8.0 GT/s PCIe", "16.0 GT/s PCIe", 4, 4, 0x4000, 0 },
		{ "pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:01.0/0000:44:00.0", 0x038000, 0x1234, 0x1111, 0, 8, NULL, "5 GT/s", "Unknown", 1, 1, 16 << 20, 0 },
		{ "pci0000:80/0000:80:00.0", 0x060400, 0x1b36, 0x000c, 1, 9, "pcieport", "16.0 GT/s PCIe", "16.0 GT/s PCIe", 4, 4, 0, 0 },
		{ "pci0000:80/0000:80:00.0/0000:81:00.0", 0x010802, 0x1b36, 0x0010, 1, 9, "nvme", "16.0 GT/s PCIe", "16.0 GT/s PCIe", 4, 4, 0x4000, 0 },
		{ "pci0000:80/0000:80:00.0/0000:81:00.1", 0x120000, 0x1ded, 0x0001, 1, 9, NULL, "16.0 GT/s PCIe", "32.0 GT/s PCIe", 4, 16, 1ull << 34, 0 },
	};
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
		add(&devs[i]);
	/* Entries the parser must ignore: a non-BDF name and a device without class. */
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/devices/pci0000:00/0000:00:1f.0", root);
	mkdirs(tmp);
	snprintf(tmp, sizeof(tmp), "%s/bus/pci/devices", root);
	link_to("../../../devices/pci0000:00/0000:00:1f.0", tmp, "0000:00:1f.0");
	link_to("../../../devices/pci0000:00", tmp, "garbage");
}

static void check_fields(const struct sl_topo *t)
{
	int gpu0 = sl_topo_find(t, "0000:00:01.0"), nvme0 = sl_topo_find(t, "0000:43:00.0");
	int gpu1 = sl_topo_find(t, "0000:44:00.0"), nvme1 = sl_topo_find(t, "0000:81:00.0");
	int acc = sl_topo_find(t, "0000:81:00.1");

	CHECK(gpu0 == 0 && nvme0 == 1 && gpu1 == 2 && nvme1 == 3 && acc == 4); /* BDF order */
	if (gpu0 < 0 || nvme0 < 0 || gpu1 < 0 || nvme1 < 0 || acc < 0)
		return;
	const struct sl_topo_dev *g = &t->dev[gpu0], *n = &t->dev[nvme0], *g1 = &t->dev[gpu1], *a = &t->dev[acc];
	CHECK(g->cls == SL_DEV_GPU && g->class_code == 0x030000 && g->vendor == 0x1234 && g->device == 0x1111);
	CHECK(g->subsys_vendor == 0x1234 && g->subsys_device == 0x1100);
	CHECK(g->numa_node == -1 && g->iommu_group == 1 && !strcmp(g->driver, "bochs-drm"));
	CHECK(!g->pcie && g->cur_link_gen == 0 && g->max_link_width == 0);
	CHECK(g->bar_size[0] == 16 << 20 && g->bar_size[1] == 0 && g->bar_size[2] == 4096 && g->bar_size[5] == 0);
	CHECK(!strcmp(g->host, "0000:00") && g->depth == 0);
	CHECK(!g->drm_card[0]); /* no_drm */

	CHECK(n->cls == SL_DEV_NVME && n->numa_node == 0 && n->iommu_group == 7 && !strcmp(n->driver, "nvme"));
	CHECK(n->pcie && n->cur_link_gen == 3 && n->cur_link_width == 4 && n->max_link_gen == 4 && n->max_link_width == 4);
	CHECK(n->bar_size[0] == 0x4000);
	CHECK_MSG(!strcmp(n->host, "0000:40") && n->depth == 3 && !strcmp(n->path[0], "0000:40:00.0") &&
			  !strcmp(n->path[1], "0000:41:00.0") && !strcmp(n->path[2], "0000:42:00.0"),
		  "host %s depth %d", n->host, n->depth);

	CHECK(g1->cls == SL_DEV_GPU && g1->class_code == 0x038000 && !g1->driver[0]);
	CHECK(g1->pcie && g1->cur_link_gen == 2 && g1->max_link_gen == 0); /* "5 GT/s" (old kernels), "Unknown" */
	CHECK(a->cls == SL_DEV_ACCEL && a->numa_node == 1 && a->max_link_gen == 5 && a->max_link_width == 16);
	CHECK(a->bar_size[0] == 1ull << 34);
	CHECK(t->dev[nvme1].numa_node == 1 && !strcmp(t->dev[nvme1].host, "0000:80")); /* the pxb-style node-1 bus */

	/* Relations (the module's rules) */
	uint32_t hops = 0;
	CHECK(t->n_link == 10);
	CHECK(sl_topo_relation(t, nvme0, gpu1, &hops) == SL_REL_SAME_SWITCH && hops == 3);
	CHECK(sl_topo_relation(t, gpu1, nvme0, &hops) == SL_REL_SAME_SWITCH); /* either order */
	CHECK(sl_topo_relation(t, nvme0, nvme1, &hops) == SL_REL_CROSS_NODE && hops == 4);
	CHECK(sl_topo_relation(t, gpu0, nvme0, &hops) == SL_REL_SAME_NODE && hops == 3); /* node unknown */
	CHECK(sl_topo_relation(t, nvme1, acc, &hops) == SL_REL_SAME_ROOT_PORT && hops == 1);
	CHECK(sl_topo_relation(t, gpu1, acc, &hops) == SL_REL_CROSS_NODE && hops == 4);
	CHECK(sl_topo_relation(t, gpu0, gpu0, NULL) == SL_REL_NONE);
	CHECK(sl_topo_relation(t, gpu0, 99, NULL) == SL_REL_NONE);
	for (uint32_t k = 0; k < t->n_link; k++)
		CHECK(t->link[k].a < t->link[k].b);

	/* Nearest NVMe: same switch beats everything; among same-node, fewer bridges win. */
	CHECK(sl_topo_nearest_nvme(t, gpu1) == nvme0);
	CHECK(sl_topo_nearest_nvme(t, gpu0) == nvme1);
	CHECK(sl_topo_nearest_nvme(t, acc) == nvme1);
}

int main(void)
{
	const char *base = getenv("SLUICE_TMP");
	struct sl_topo t, t2;
	struct sl_err err = { { 0 } };
	char why[256];

	snprintf(root, sizeof(root), "%s/fake-sysfs-%d", base && *base ? base : "/var/tmp", (int)getpid());
	mkdirs(root);
	build_tree();

	struct sl_topo_opts o = { .source = "sysfs", .sysfs_root = root, .no_drm = true };
	int r = sl_topo_load(&o, &t, &err);
	CHECK_MSG(r == 0, "%s", err.msg);
	if (r)
		return t_done();
	CHECK(!strcmp(t.source, "sysfs"));
	CHECK_MSG(t.n_dev == 5, "%u devices", t.n_dev);
	check_fields(&t);

	/* The same tree read again: identical structure. */
	struct sl_topo_opts o2 = { .source = "sysfs", .sysfs_root = root, .no_drm = true };
	CHECK(sl_topo_load(&o2, &t2, &err) == 0);
	CHECK_MSG(sl_topo_diff(&t, &t2, why, sizeof(why)) == NULL, "%s", why);
	/* ... and the diff notices a change. */
	t2.dev[1].numa_node = 5;
	CHECK(sl_topo_diff(&t, &t2, why, sizeof(why)) && strstr(why, "numa node"));
	t2.dev[1].numa_node = t.dev[1].numa_node;
	t2.link[3].hops++;
	CHECK(sl_topo_diff(&t, &t2, why, sizeof(why)) && strstr(why, "link"));
	sl_topo_free(&t2);

	/* The library reads no environment: $SLUICE_SYSFS_ROOT is the CLI's (tests/cli/test_topo.sh);
	 * without sysfs_root the real /sys is read, never the fake tree. */
	setenv("SLUICE_SYSFS_ROOT", root, 1);
	struct sl_topo_opts o3 = { .source = "sysfs", .no_drm = true };
	r = sl_topo_load(&o3, &t2, &err);
	CHECK_MSG(r != 0 || sl_topo_diff(&t, &t2, why, sizeof(why)) != NULL, "$SLUICE_SYSFS_ROOT was read");
	if (r == 0)
		sl_topo_free(&t2);
	unsetenv("SLUICE_SYSFS_ROOT");

	/* Every function, bridges included: 5 + 5 bridges + the network card (the class-less one is skipped). */
	o.all_devices = true;
	CHECK(sl_topo_load(&o, &t2, &err) == 0);
	CHECK_MSG(t2.n_dev == 11 && t2.n_link == 55, "%u devices %u links", t2.n_dev, t2.n_link);
	int rp = sl_topo_find(&t2, "0000:40:00.0"), sw = sl_topo_find(&t2, "0000:42:01.0");
	CHECK(rp >= 0 && t2.dev[rp].cls == SL_DEV_OTHER && t2.dev[rp].depth == 0);
	CHECK(sw >= 0 && t2.dev[sw].depth == 2);
	sl_topo_free(&t2);
	o.all_devices = false;

	/* No PCI bus at all: 0 devices, success.  A root that does not exist: an error. */
	char empty[PATH_MAX];
	snprintf(empty, sizeof(empty), "%s-empty", root);
	mkdirs(empty);
	o.sysfs_root = empty;
	CHECK(sl_topo_load(&o, &t2, &err) == 0 && t2.n_dev == 0 && t2.n_link == 0);
	sl_topo_free(&t2);
	snprintf(empty, sizeof(empty), "%s-missing", root);
	CHECK(sl_topo_load(&o, &t2, &err) == -ENOENT && strstr(err.msg, "missing"));

	/* The dev source without the module says so, and names the fallback. */
	struct sl_topo_opts od = { .source = "dev", .dev_path = "/nonexistent/sluice", .no_drm = true };
	CHECK(sl_topo_load(&od, &t2, &err) == -ENOENT && strstr(err.msg, "/nonexistent/sluice"));
	od.source = "bogus";
	CHECK(sl_topo_load(&od, &t2, &err) == -EINVAL && strstr(err.msg, "bogus"));
	/* auto without the node: sysfs. */
	od.source = "auto";
	od.sysfs_root = root;
	CHECK(sl_topo_load(&od, &t2, &err) == 0 && !strcmp(t2.source, "sysfs") && t2.n_dev == 5);
	sl_topo_free(&t2);

	CHECK(!strcmp(sl_topo_rel_name(SL_REL_SAME_SWITCH), "same-switch"));
	CHECK(!strcmp(sl_link_gen_name(4), "16.0 GT/s") && !strcmp(sl_link_gen_name(0), "unknown"));
	sl_topo_free(&t);
	return t_done();
}
