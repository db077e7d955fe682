/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/topo_sysfs.c — the topology from /sys/bus/pci/devices, for machines
 * without sluice.ko.  Every field matches what the module reports (the VM test
 * compares them), so each attribute is read the way the kernel writes it:
 *
 *   class, vendor, device, subsystem_*   "0x010802"
 *   numa_node                            "-1" when unknown
 *   current_link_speed, max_link_speed   "8.0 GT/s PCIe" (older kernels "8 GT/s"), "Unknown";
 *                                        present only on PCIe functions
 *   current_link_width, max_link_width   lanes
 *   resource                             one "start end flags" line per resource, BARs first
 *   iommu_group, driver                  symlinks whose last component is the value
 *
 * The root is configurable ($SLUICE_SYSFS_ROOT) so the parser runs on fake trees.
 */
#include "sys/topo.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* dir/name into buf; -ENAMETOOLONG rather than a truncated path that names another file. */
static int join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Read a small attribute, without the trailing newline; -errno. */
static int read_attr(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (join(path, sizeof(path), dir, name) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static int read_num(const char *dir, const char *name, int base, long long *out)
{
	char buf[64], *end;
	int r = read_attr(dir, name, buf, sizeof(buf));

	if (r < 0)
		return r;
	errno = 0;
	*out = strtoll(buf, &end, base);
	return errno || end == buf ? -EINVAL : 0;
}

/* "8.0 GT/s PCIe" -> 3; "Unknown" or anything odd -> 0. */
static uint8_t speed_gen(const char *s)
{
	char *end;
	double gts = strtod(s, &end);

	if (end == s)
		return 0;
	static const double gen[] = { 2.5, 5.0, 8.0, 16.0, 32.0, 64.0 };
	for (unsigned i = 0; i < SL_ARRAY_SIZE(gen); i++)
		if (gts > gen[i] - 0.01 && gts < gen[i] + 0.01)
			return (uint8_t)(i + 1);
	return 0;
}

/* Last component of a symlink's target ("../../../kernel/iommu_groups/7" -> "7"); -errno. */
static int link_name(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	if (join(path, sizeof(path), dir, name) < 0)
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	const char *slash = strrchr(target, '/'), *last = slash ? slash + 1 : target;
	if (strlen(last) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, last, strlen(last) + 1);
	return 0;
}

static void read_bars(const char *dir, struct sl_topo_dev *d)
{
	char path[PATH_MAX];
	unsigned long long start, end, flags;
	FILE *f;

	if (join(path, sizeof(path), dir, "resource") < 0)
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	/* pci_resource_len(): 0 when the resource is unset (end 0), else end - start + 1. */
	for (int i = 0; i < SL_TOPO_NUM_BARS; i++) {
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			break;
		d->bar_size[i] = end ? end - start + 1 : 0;
	}
	fclose(f);
}

/* "0000:43:00.0" -> fields; false for anything else (sysfs holds only BDFs here, a fake tree may not). */
static bool parse_bdf(const char *s, struct sl_topo_dev *d)
{
	unsigned dom, bus, dev, fn;
	char tail;

	if (sscanf(s, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4 || bus > 255 || dev > 31 || fn > 7)
		return false;
	d->domain = dom;
	d->bus = (uint8_t)bus;
	d->dev = (uint8_t)dev;
	d->func = (uint8_t)fn;
	return true;
}

/* Fill one device from its directory; -errno when it has no readable class (then it is skipped). */
static int read_device(const char *dir, struct sl_topo_dev *d)
{
	long long v;
	char buf[64];
	int r;

	if ((r = read_num(dir, "class", 16, &v)) < 0)
		return r;
	d->class_code = (uint32_t)v & 0xffffffu;
	if (!read_num(dir, "vendor", 16, &v))
		d->vendor = (uint16_t)v;
	if (!read_num(dir, "device", 16, &v))
		d->device = (uint16_t)v;
	if (!read_num(dir, "subsystem_vendor", 16, &v))
		d->subsys_vendor = (uint16_t)v;
	if (!read_num(dir, "subsystem_device", 16, &v))
		d->subsys_device = (uint16_t)v;
	d->numa_node = !read_num(dir, "numa_node", 10, &v) && v >= 0 ? (int)v : -1;

	d->iommu_group = -1;
	if (!link_name(dir, "iommu_group", buf, sizeof(buf))) {
		char *end;
		long g = strtol(buf, &end, 10);
		if (end != buf && !*end && g >= 0)
			d->iommu_group = (int)g;
	}
	if (link_name(dir, "driver", d->driver, sizeof(d->driver)) < 0)
		d->driver[0] = 0;

	/* The link attributes exist exactly on PCIe functions (pcie_dev_attrs_are_visible). */
	if (!read_attr(dir, "current_link_speed", buf, sizeof(buf))) {
		d->pcie = true;
		d->cur_link_gen = speed_gen(buf);
		if (!read_attr(dir, "max_link_speed", buf, sizeof(buf)))
			d->max_link_gen = speed_gen(buf);
		if (!read_num(dir, "current_link_width", 10, &v) && v > 0 && v < 256)
			d->cur_link_width = (uint8_t)v;
		if (!read_num(dir, "max_link_width", 10, &v) && v > 0 && v < 256)
			d->max_link_width = (uint8_t)v;
	}
	read_bars(dir, d);
	return 0;
}

static int sysfs_load(const struct sl_topo_opts *o, const char *root, struct sl_topo *out, struct sl_err *err)
{
	char top[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	struct dirent *de;
	uint32_t cap = 0;
	DIR *dp;

	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
		return sl_errf(err, ENOENT, "topology: sysfs root %s is not a directory", root);
	if (join(top, sizeof(top), root, "bus/pci/devices") < 0)
		return sl_errf(err, ENAMETOOLONG, "topology: sysfs root too long");
	dp = opendir(top);
	if (!dp) {
		if (errno == ENOENT)
			return 0; /* no PCI bus at all (some containers, non-PCI machines) */
		return sl_errf(err, errno, "topology: %s: %s", top, strerror(errno));
	}
	while ((de = readdir(dp))) {
		struct sl_topo_dev d = { 0 };

		if (de->d_name[0] == '.' || !parse_bdf(de->d_name, &d))
			continue;
		if (join(dir, sizeof(dir), top, de->d_name) < 0)
			continue;
		if (read_device(dir, &d) < 0) {
			sl_info("topology: %s: no readable class, skipped", dir);
			continue;
		}
		if (!o->all_devices && sl_dev_class_of(d.class_code) == SL_DEV_OTHER)
			continue;
		if (out->n_dev == cap) {
			uint32_t ncap = cap ? cap * 2 : 16;
			struct sl_topo_dev *nd = realloc(out->dev, ncap * sizeof(*nd));
			if (!nd) {
				closedir(dp);
				return sl_errf(err, ENOMEM, "topology: out of memory");
			}
			out->dev = nd;
			cap = ncap;
		}
		out->dev[out->n_dev++] = d;
	}
	closedir(dp);
	return 0; /* links: computed from the paths by sl_topo_load */
}

const struct sl_topo_src sl_topo_src_sysfs = { .name = "sysfs", .load = sysfs_load };
