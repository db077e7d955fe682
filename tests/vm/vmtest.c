// SPDX-License-Identifier: GPL-2.0
/*
 * vmtest.c - the tests that run inside the QEMU guest (static binary, /vmtest).
 *
 * Each test prints one line "@@SLUICE PASS: name", "@@SLUICE FAIL: name: why" or
 * "@@SLUICE SKIP: name: why" on the serial console; tests/vm/suite_vm.sh turns
 * them into the runner's PASS/FAIL/SKIP lines.  The marker survives kernel
 * messages interleaved on the same console.
 *
 * Usage: vmtest MODULE.ko
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xf86drm.h>

#include "sluice_dev.h"
#include "sys/pressure.h"
#include "sys/topo.h"

static const char *module_path;

static void result(const char *status, const char *name, const char *fmt, ...)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "@@SLUICE %s: %s", status, name);
	va_list ap;

	if (fmt && n < (int)sizeof(buf)) {
		n += snprintf(buf + n, sizeof(buf) - n, ": ");
		va_start(ap, fmt);
		n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
		va_end(ap);
	}
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line, so the line reaches the console in one piece. */
	if (write(1, buf, n) < 0)
		_exit(2);
}

#define PASS(name) result("PASS", name, NULL)
#define FAIL(name, ...) result("FAIL", name, __VA_ARGS__)
#define SKIP(name, ...) result("SKIP", name, __VA_ARGS__)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int open_dev(void)
{
	return open(SLUICE_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static long read_long(const char *path, int base, long dflt)
{
	char buf[64];

	if (read_file(path, buf, sizeof(buf)))
		return dflt;
	return strtol(buf, NULL, base);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Reclaim slab caches: runs every shrinker, ours included, once. */
static void drop_caches(void)
{
	write_str("/proc/sys/vm/drop_caches", "2");
}

static void drain(int fd)
{
	struct sluice_event ev[16];
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (read(fd, ev, sizeof(ev)) > 0)
		;
	fcntl(fd, F_SETFL, fl);
}

/* Wait up to ms for one event; 1 = got it (in *ev), 0 = timeout, -errno. */
static int wait_event_ms(int fd, int ms, struct sluice_event *ev)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, ms);

	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	if (read(fd, ev, sizeof(*ev)) != sizeof(*ev))
		return -EIO;
	return 1;
}

/* ---- load / unload ---------------------------------------------------- */

static int load_module(void)
{
	int fd = open(module_path, O_RDONLY | O_CLOEXEC), r, i;

	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, "", 0);
	r = r < 0 ? -errno : 0;
	close(fd);
	/* devtmpfs creates the node asynchronously. */
	for (i = 0; !r && i < 200 && access(SLUICE_DEVICE_PATH, F_OK); i++)
		sleep_ms(10);
	return r;
}

static int unload_module(void)
{
	return syscall(SYS_delete_module, "sluice", O_NONBLOCK) < 0 ? -errno : 0;
}

static void test_load(void)
{
	int r = load_module();

	if (r)
		FAIL("load", "finit_module: %s", strerror(-r));
	else if (access(SLUICE_DEVICE_PATH, R_OK))
		FAIL("load", "%s missing after load", SLUICE_DEVICE_PATH);
	else
		PASS("load");
}

/* ---- ioctl validation -------------------------------------------------- */

static void test_get_info(int fd)
{
	struct sluice_info in;

	memset(&in, 0, sizeof(in));
	if (ioctl(fd, SLUICE_IOC_GET_INFO, &in))
		return FAIL("get_info", "ioctl: %s", strerror(errno));
	if (in.api_major != SLUICE_API_MAJOR || in.api_minor != SLUICE_API_MINOR)
		return FAIL("get_info", "API %u.%u", in.api_major, in.api_minor);
	if (in.event_size != sizeof(struct sluice_event) || !(in.features & SLUICE_FEATURE_TOPOLOGY) ||
	    !(in.features & SLUICE_FEATURE_PRESSURE) || in.page_size != (uint32_t)getpagesize() ||
	    !in.total_pages || !in.queue_len)
		return FAIL("get_info", "event_size %u features %#llx page_size %u total %llu",
			    in.event_size, (unsigned long long)in.features, in.page_size,
			    (unsigned long long)in.total_pages);
	PASS("get_info");
}

/* Expect ioctl to fail with err; returns 1 when it did. */
static int expect_err(int fd, unsigned long cmd, void *arg, int err, const char *name, const char *what)
{
	int r = ioctl(fd, cmd, arg);

	if (r == 0 || errno != err) {
		FAIL(name, "%s: got %s, want %s", what, r == 0 ? "success" : strerror(errno), strerror(err));
		return 0;
	}
	return 1;
}

static void test_bad_flags(int fd)
{
	struct sluice_info in = { .flags = 1 };
	struct sluice_topology t = { .flags = 1u << 31 };
	struct sluice_thresholds th = { .flags = 1u << 31 };

	if (expect_err(fd, SLUICE_IOC_GET_INFO, &in, EINVAL, "bad_flags", "GET_INFO") &&
	    expect_err(fd, SLUICE_IOC_GET_TOPOLOGY, &t, EINVAL, "bad_flags", "GET_TOPOLOGY") &&
	    expect_err(fd, SLUICE_IOC_SET_THRESHOLDS, &th, EINVAL, "bad_flags", "SET_THRESHOLDS"))
		PASS("bad_flags");
}

static void test_nonzero_pad(int fd)
{
	struct sluice_info in = { .pad = 1 };
	struct sluice_topology t = { .pad = 0x100 };

	if (expect_err(fd, SLUICE_IOC_GET_INFO, &in, EINVAL, "nonzero_pad", "GET_INFO") &&
	    expect_err(fd, SLUICE_IOC_GET_TOPOLOGY, &t, EINVAL, "nonzero_pad", "GET_TOPOLOGY"))
		PASS("nonzero_pad");
}

static void test_wrong_size(int fd)
{
	char big[64] = { 0 };
	struct sluice_pci_device d[4];
	struct sluice_topology t = { 0 };

	t.devices_ptr = (uintptr_t)d;
	t.devices_count = 4;
	t.device_size = sizeof(d[0]) - 8;
	if (expect_err(fd, _IOWR(SLUICE_IOCTL_BASE, 0x00, char[32]), big, EINVAL, "wrong_size",
		       "GET_INFO with 32-byte argument") &&
	    expect_err(fd, _IOWR(SLUICE_IOCTL_BASE, 0x01, char[48]), big, EINVAL, "wrong_size",
		       "GET_TOPOLOGY with 48-byte argument") &&
	    expect_err(fd, _IOR(SLUICE_IOCTL_BASE, 0x00, struct sluice_info), big, EINVAL, "wrong_size",
		       "GET_INFO as _IOR") &&
	    expect_err(fd, SLUICE_IOC_GET_TOPOLOGY, &t, EINVAL, "wrong_size", "device_size - 8"))
		PASS("wrong_size");
}

static void test_unknown_command(int fd)
{
	struct sluice_info in = { 0 };

	if (expect_err(fd, _IOWR(SLUICE_IOCTL_BASE, 0x7f, struct sluice_info), &in, ENOTTY,
		       "unknown_command", "nr 0x7f") &&
	    expect_err(fd, _IOWR(SLUICE_IOCTL_BASE + 1, 0x00, struct sluice_info), &in, ENOTTY,
		       "unknown_command", "other type") &&
	    expect_err(fd, TCGETS, &in, ENOTTY, "unknown_command", "TCGETS"))
		PASS("unknown_command");
}

static void test_bad_pointer(int fd)
{
	struct sluice_topology t = { 0 };
	struct sluice_event ev;
	int fl;
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	t.devices_ptr = 16;	/* unmapped */
	t.devices_count = 4;
	t.device_size = sizeof(struct sluice_pci_device);
	if (!expect_err(fd, SLUICE_IOC_GET_INFO, (void *)16, EFAULT, "bad_pointer", "GET_INFO arg") ||
	    !expect_err(fd, SLUICE_IOC_GET_TOPOLOGY, &t, EFAULT, "bad_pointer", "devices_ptr") ||
	    !expect_err(fd, SLUICE_IOC_GET_INFO, ro, EFAULT, "bad_pointer", "read-only argument"))
		return;
	/* read() with a short buffer is a size error, not a fault. */
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (read(fd, &ev, sizeof(ev) - 1) >= 0 || errno != EINVAL) {
		fcntl(fd, F_SETFL, fl);
		return FAIL("bad_pointer", "short read: %s", strerror(errno));
	}
	fcntl(fd, F_SETFL, fl);
	munmap(ro, 4096);
	PASS("bad_pointer");
}

static void test_thresholds(int fd)
{
	struct sluice_thresholds th = { 0 };

	th.min_interval_ns = SLUICE_MIN_INTERVAL_NS - 1;
	if (!expect_err(fd, SLUICE_IOC_SET_THRESHOLDS, &th, EINVAL, "thresholds", "interval < 1 ms"))
		return;
	th.min_interval_ns = 0;
	th.min_level = SLUICE_LEVEL_CRITICAL + 1;
	if (!expect_err(fd, SLUICE_IOC_SET_THRESHOLDS, &th, EINVAL, "thresholds", "level > CRITICAL"))
		return;
	memset(&th, 0, sizeof(th));
	if (ioctl(fd, SLUICE_IOC_SET_THRESHOLDS, &th))
		return FAIL("thresholds", "defaults: %s", strerror(errno));
	if (th.min_level != SLUICE_LEVEL_LOW || th.min_interval_ns != SLUICE_DEFAULT_INTERVAL_NS)
		return FAIL("thresholds", "defaults not reported back");
	th.min_level = SLUICE_LEVEL_MEDIUM;
	th.min_interval_ns = 5000000;
	if (ioctl(fd, SLUICE_IOC_SET_THRESHOLDS, &th))
		return FAIL("thresholds", "set: %s", strerror(errno));
	memset(&th, 0, sizeof(th));
	th.flags = SLUICE_THRESH_QUERY;
	if (ioctl(fd, SLUICE_IOC_SET_THRESHOLDS, &th) || th.min_level != SLUICE_LEVEL_MEDIUM ||
	    th.min_interval_ns != 5000000)
		return FAIL("thresholds", "query does not return what was set");
	PASS("thresholds");
}

/* ---- topology against sysfs ----------------------------------------------- */

static void bdf_name(const struct sluice_pci_device *d, char *buf, size_t len)
{
	snprintf(buf, len, "%04x:%02x:%02x.%x", d->domain, d->bus, d->dev, d->func);
}

static int speed_gen(const char *s)
{
	static const char *const names[] = { "2.5 GT/s", "5.0 GT/s", "8.0 GT/s", "16.0 GT/s",
					     "32.0 GT/s", "64.0 GT/s" };
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(s, names[i], strlen(names[i])))
			return i + 1;
	return 0;
}

static int wanted_class(unsigned long cls)
{
	return (cls >> 16) == 0x03 || cls == 0x010802 || (cls >> 16) == 0x12;
}

/* Compare one device with its sysfs directory; returns NULL or what differs. */
static const char *check_sysfs(const struct sluice_pci_device *d, char *why, size_t wl)
{
	char bdf[32], path[PATH_MAX], buf[256], link[PATH_MAX];
	unsigned long long start, end, flags;
	long v;
	ssize_t n;
	FILE *f;
	int i;

	bdf_name(d, bdf, sizeof(bdf));
#define P(attr) (snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr), path)
#define DIFF(...) do { snprintf(why, wl, __VA_ARGS__); return why; } while (0)
	if (read_long(P("vendor"), 16, -1) != d->vendor || read_long(P("device"), 16, -1) != d->device)
		DIFF("%s: vendor/device %04x:%04x", bdf, d->vendor, d->device);
	if (read_long(P("subsystem_vendor"), 16, -1) != d->subsystem_vendor ||
	    read_long(P("subsystem_device"), 16, -1) != d->subsystem_device)
		DIFF("%s: subsystem", bdf);
	if (read_long(P("class"), 16, -1) != (long)d->class_code)
		DIFF("%s: class %06x", bdf, d->class_code);
	v = read_long(P("numa_node"), 10, -1);
	if ((v < 0 && (d->flags & SLUICE_DEV_NUMA)) || (v >= 0 && d->numa_node != (uint32_t)v))
		DIFF("%s: numa_node %u, sysfs %ld", bdf, d->numa_node, v);

	n = readlink(P("iommu_group"), link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		if (!(d->flags & SLUICE_DEV_IOMMU) || d->iommu_group != strtoul(strrchr(link, '/') + 1, NULL, 10))
			DIFF("%s: iommu_group %u, sysfs %s", bdf, d->iommu_group, link);
	} else if (d->flags & SLUICE_DEV_IOMMU) {
		DIFF("%s: iommu_group %u, sysfs none", bdf, d->iommu_group);
	}

	n = readlink(P("driver"), link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		if (!(d->flags & SLUICE_DEV_DRIVER) || strcmp((const char *)d->driver, strrchr(link, '/') + 1))
			DIFF("%s: driver '%s', sysfs %s", bdf, d->driver, link);
	} else if (d->flags & SLUICE_DEV_DRIVER) {
		DIFF("%s: driver '%s', sysfs none", bdf, d->driver);
	}

	if (!read_file(P("current_link_speed"), buf, sizeof(buf)) && speed_gen(buf) != d->cur_link_speed)
		DIFF("%s: cur speed gen %u, sysfs '%s'", bdf, d->cur_link_speed, buf);
	if (!read_file(P("max_link_speed"), buf, sizeof(buf)) && speed_gen(buf) != d->max_link_speed)
		DIFF("%s: max speed gen %u, sysfs '%s'", bdf, d->max_link_speed, buf);
	v = read_long(P("current_link_width"), 10, -1);
	if (v >= 0 && v != d->cur_link_width)
		DIFF("%s: cur width %u, sysfs %ld", bdf, d->cur_link_width, v);
	v = read_long(P("max_link_width"), 10, -1);
	if (v >= 0 && v != d->max_link_width)
		DIFF("%s: max width %u, sysfs %ld", bdf, d->max_link_width, v);

	f = fopen(P("resource"), "r");
	if (!f)
		DIFF("%s: no resource file", bdf);
	for (i = 0; i < SLUICE_NUM_BARS; i++) {
		uint64_t size;

		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3) {
			fclose(f);
			DIFF("%s: resource line %d", bdf, i);
		}
		size = end ? end - start + 1 : 0;
		if (size != d->bar_size[i]) {
			fclose(f);
			DIFF("%s: BAR%d size %llu, sysfs %llu", bdf, i,
			     (unsigned long long)d->bar_size[i], (unsigned long long)size);
		}
	}
	fclose(f);
#undef P
#undef DIFF
	return NULL;
}

static void test_topology_sysfs(int fd, const struct sluice_topo_snapshot *s)
{
	char why[256], bdf[32], path[PATH_MAX];
	struct dirent *de;
	unsigned int n_sysfs = 0, i;
	DIR *dir;

	for (i = 0; i < s->ndev; i++) {
		if (check_sysfs(&s->dev[i], why, sizeof(why)))
			return FAIL("topology_sysfs", "%s", why);
		if (!wanted_class(s->dev[i].class_code))
			return FAIL("topology_sysfs", "unexpected class %06x", s->dev[i].class_code);
	}
	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return FAIL("topology_sysfs", "no /sys/bus/pci/devices");
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/class", de->d_name);
		if (!wanted_class(read_long(path, 16, 0)))
			continue;
		n_sysfs++;
		for (i = 0; i < s->ndev; i++) {
			bdf_name(&s->dev[i], bdf, sizeof(bdf));
			if (!strcmp(bdf, de->d_name))
				break;
		}
		if (i == s->ndev) {
			closedir(dir);
			return FAIL("topology_sysfs", "%s in sysfs but not reported", de->d_name);
		}
	}
	closedir(dir);
	if (n_sysfs != s->ndev)
		return FAIL("topology_sysfs", "%u devices, sysfs has %u", s->ndev, n_sysfs);
	if (s->ndev < 4)
		return FAIL("topology_sysfs", "only %u devices; the VM has 2 GPUs + 2 NVMe", s->ndev);
	if (s->nlink != s->ndev * (s->ndev - 1) / 2)
		return FAIL("topology_sysfs", "%u links for %u devices", s->nlink, s->ndev);
	printf("topology: %u devices, %u links\n", s->ndev, s->nlink);
	for (i = 0; i < s->ndev; i++) {
		const struct sluice_pci_device *d = &s->dev[i];

		bdf_name(d, bdf, sizeof(bdf));
		printf("  %s kind %u %04x:%04x node %d group %d gen%u x%u/gen%u x%u bar0 %llu driver %s\n",
		       bdf, d->kind, d->vendor, d->device, (int)d->numa_node, (int)d->iommu_group,
		       d->cur_link_speed, d->cur_link_width, d->max_link_speed, d->max_link_width,
		       (unsigned long long)d->bar_size[0], d->driver);
	}
	(void)fd;
	PASS("topology_sysfs");
}

/*
 * The expected relation, from sysfs alone: the canonical path of a PCI device
 * is /sys/devices/pciDDDD:BB/<bridge>/<bridge>/.../<device>; the bridges two
 * paths share tell where the devices meet.
 */
static int sysfs_path_parts(const struct sluice_pci_device *d, char parts[][16], int max, char *host)
{
	char bdf[32], path[PATH_MAX], real[PATH_MAX], *tok, *save;
	int n = 0;

	bdf_name(d, bdf, sizeof(bdf));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (!realpath(path, real))
		return -1;
	host[0] = 0;
	for (tok = strtok_r(real, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strncmp(tok, "pci", 3) && strchr(tok, ':') && !strchr(tok, '.'))
			snprintf(host, 32, "%s", tok);
		else if (host[0] && n < max)
			snprintf(parts[n++], 16, "%s", tok);
	}
	return n;	/* the last part is the device itself */
}

static void test_topology_links(const struct sluice_topo_snapshot *s)
{
	char pa[16][16], pb[16][16], ha[32], hb[32], ba[32], bb[32];
	unsigned int i, k, n_switch = 0, n_cross = 0;

	for (k = 0; k < s->nlink; k++) {
		const struct sluice_pci_link *l = &s->link[k];
		const struct sluice_pci_device *a = &s->dev[l->a], *b = &s->dev[l->b];
		int na = sysfs_path_parts(a, pa, 16, ha), nb = sysfs_path_parts(b, pb, 16, hb), c = 0;
		uint32_t want, hops;

		if (l->a >= l->b || l->b >= s->ndev || l->flags || l->pad)
			return FAIL("topology_links", "bad link %u: %u-%u", k, l->a, l->b);
		if (na < 1 || nb < 1)
			return FAIL("topology_links", "no sysfs path");
		while (c < na - 1 && c < nb - 1 && !strcmp(pa[c], pb[c]))
			c++;
		if (c > 0) {
			want = c == 1 ? SLUICE_PATH_SAME_ROOT_PORT : SLUICE_PATH_SAME_SWITCH;
			hops = (na - 1 - c) + (nb - 1 - c) + 1;
		} else if (!strcmp(ha, hb)) {
			want = SLUICE_PATH_SAME_HOST_BRIDGE;
			hops = (na - 1) + (nb - 1);
		} else {
			want = a->numa_node != b->numa_node && (a->flags & b->flags & SLUICE_DEV_NUMA) ?
			       SLUICE_PATH_CROSS_NODE : SLUICE_PATH_SAME_NODE;
			hops = (na - 1) + (nb - 1);
		}
		bdf_name(a, ba, sizeof(ba));
		bdf_name(b, bb, sizeof(bb));
		printf("  link %s - %s: relation %u hops %u\n", ba, bb, l->relation, l->hops);
		if (l->relation != want || l->hops != hops)
			return FAIL("topology_links", "%s-%s: relation %u hops %u, sysfs says %u/%u",
				    ba, bb, l->relation, l->hops, want, hops);
		n_switch += l->relation == SLUICE_PATH_SAME_SWITCH;
		n_cross += l->relation == SLUICE_PATH_CROSS_NODE;
	}
	/* The VM puts an NVMe and a display behind one switch, and an NVMe on node 1. */
	if (!n_switch || !n_cross)
		return FAIL("topology_links", "%u same-switch, %u cross-node pairs; want both", n_switch, n_cross);
	for (i = 0; i < s->ndev; i++)
		if (s->dev[i].kind == SLUICE_KIND_OTHER)
			return FAIL("topology_links", "kind OTHER without SLUICE_TOPO_ALL_DEVICES");
	PASS("topology_links");
}

static void test_numa_expander(const struct sluice_topo_snapshot *s)
{
	unsigned int i;

	/* pxb-pcie,bus_nr=128: its root port is bus 0x80, the device behind it bus 0x81. */
	for (i = 0; i < s->ndev; i++) {
		if (s->dev[i].bus < 0x80)
			continue;
		if (!(s->dev[i].flags & SLUICE_DEV_NUMA) || s->dev[i].numa_node != 1)
			return FAIL("numa_expander", "bus %02x: node %d, want 1", s->dev[i].bus,
				    (int)s->dev[i].numa_node);
		return PASS("numa_expander");
	}
	FAIL("numa_expander", "no device behind the pxb-pcie expander");
}

static void test_iommu(const struct sluice_topo_snapshot *s)
{
	unsigned int i;

	for (i = 0; i < s->ndev; i++)
		if (!(s->dev[i].flags & SLUICE_DEV_IOMMU))
			return FAIL("iommu_groups", "device %u without IOMMU group (intel_iommu=on)", i);
	PASS("iommu_groups");
}

static void test_all_devices(int fd, const struct sluice_topo_snapshot *s)
{
	struct sluice_topo_snapshot all;
	int r = sluice_topo_get(fd, SLUICE_TOPO_ALL_DEVICES, &all);

	if (r)
		return FAIL("topology_all", "%s", strerror(-r));
	if (all.ndev <= s->ndev) {
		sluice_topo_free(&all);
		return FAIL("topology_all", "ALL_DEVICES gives %u, filtered %u", all.ndev, s->ndev);
	}
	/* More than the module's first snapshot array (8): its growth path ran (topo.c). */
	if (all.ndev <= 8) {
		sluice_topo_free(&all);
		return FAIL("topology_all", "only %u functions: the snapshot's growth path did not run", all.ndev);
	}
	sluice_topo_free(&all);
	PASS("topology_all");
}

/* libdrm's view of the display devices must match ours. */
static void test_libdrm(const struct sluice_topo_snapshot *s)
{
	drmDevicePtr devs[16];
	unsigned int i, bound = 0, seen = 0;
	int n, j;

	n = drmGetDevices2(0, devs, 16);
	if (n < 0)
		return FAIL("libdrm", "drmGetDevices2: %s", strerror(-n));
	for (i = 0; i < s->ndev; i++)
		if (s->dev[i].kind == SLUICE_KIND_GPU && !strcmp((const char *)s->dev[i].driver, "bochs-drm"))
			bound++;
	for (j = 0; j < n; j++) {
		drmPciBusInfoPtr b;
		drmPciDeviceInfoPtr di;

		if (devs[j]->bustype != DRM_BUS_PCI)
			continue;
		b = devs[j]->businfo.pci;
		di = devs[j]->deviceinfo.pci;
		for (i = 0; i < s->ndev; i++)
			if (s->dev[i].domain == b->domain && s->dev[i].bus == b->bus &&
			    s->dev[i].dev == b->dev && s->dev[i].func == b->func)
				break;
		if (i == s->ndev) {
			drmFreeDevices(devs, n);
			return FAIL("libdrm", "libdrm device %04x:%02x:%02x.%x not reported",
				    b->domain, b->bus, b->dev, b->func);
		}
		if (s->dev[i].vendor != di->vendor_id || s->dev[i].device != di->device_id ||
		    s->dev[i].kind != SLUICE_KIND_GPU) {
			drmFreeDevices(devs, n);
			return FAIL("libdrm", "%02x:%02x.%x: ids/kind differ", b->bus, b->dev, b->func);
		}
		seen++;
	}
	drmFreeDevices(devs, n);
	if (!seen)
		return FAIL("libdrm", "libdrm sees no PCI card (is bochs-drm bound?)");
	if (seen != bound)
		return FAIL("libdrm", "libdrm sees %u cards, module reports %u bound to bochs-drm", seen, bound);
	PASS("libdrm");
}

/* ---- the runtime's view (runtime/sys/, linked in) ------------------------- */

/* runtime/sys/topo.c must build the same structure from /dev/sluice as from sysfs + libdrm. */
static void test_runtime_topo(void)
{
	struct sl_topo a, b;
	struct sl_err err = { { 0 } };
	char why[256];
	int all;

	for (all = 0; all < 2; all++) {
		struct sl_topo_opts od = { .source = "dev", .all_devices = all };
		struct sl_topo_opts os = { .source = "sysfs", .all_devices = all };
		const char *d;

		if (sl_topo_load(&od, &a, &err))
			return FAIL("runtime_topo_identical", "dev source: %s", err.msg);
		if (sl_topo_load(&os, &b, &err)) {
			sl_topo_free(&a);
			return FAIL("runtime_topo_identical", "sysfs source: %s", err.msg);
		}
		d = sl_topo_diff(&a, &b, why, sizeof(why));
		if (d) {
			sl_topo_free(&a);
			sl_topo_free(&b);
			return FAIL("runtime_topo_identical", "%s: dev vs sysfs: %s", all ? "all devices" : "default", d);
		}
		printf("runtime topo (%s): %u devices, %u links identical\n", all ? "all" : "default", a.n_dev,
		       a.n_link);
		sl_topo_free(&b);
		if (!all) {
			/* The GPUs carry their DRM nodes, and the bochs-display behind the switch pairs with
			 * the NVMe behind the same switch. */
			unsigned int i, n_card = 0, paired = 0;

			for (i = 0; i < a.n_dev; i++) {
				int n;
				uint32_t hops;

				if (a.dev[i].cls != SL_DEV_GPU)
					continue;
				n_card += a.dev[i].drm_card[0] != 0;
				n = sl_topo_nearest_nvme(&a, i);
				if (n >= 0 && sl_topo_relation(&a, i, n, &hops) == SL_REL_SAME_SWITCH)
					paired++;
			}
			if (n_card < 2 || paired != 1) {
				sl_topo_free(&a);
				return FAIL("runtime_topo_identical", "%u GPUs with a DRM card (want 2), %u paired "
					    "same-switch with an NVMe (want 1)", n_card, paired);
			}
		}
		sl_topo_free(&a);
	}
	{
		struct sl_topo_opts oa = { .source = "auto", .no_drm = true };

		if (sl_topo_load(&oa, &a, &err) || strcmp(a.source, "dev"))
			return FAIL("runtime_topo_identical", "auto did not pick /dev/sluice: %s", err.msg);
		sl_topo_free(&a);
	}
	PASS("runtime_topo_identical");
}

static volatile int rt_events, rt_level;

static void rt_on_pressure(void *arg, int level, uint64_t avail_pages)
{
	(void)arg;
	rt_level = level;
	if (avail_pages)
		__sync_fetch_and_add(&rt_events, 1);
}

/* runtime/sys/pressure.c with the dev source: a shrinker run reaches the callback. */
static void test_runtime_pressure(void)
{
	struct sl_pressure *p = NULL;
	struct sl_err err = { { 0 } };
	int i;

	if (sl_pressure_start("auto", rt_on_pressure, NULL, &p, &err))
		return FAIL("runtime_pressure_dev", "start: %s", err.msg);
	if (strcmp(sl_pressure_source(p), "dev")) {
		FAIL("runtime_pressure_dev", "auto picked %s, not dev", sl_pressure_source(p));
		return sl_pressure_stop(p);
	}
	drop_caches();
	for (i = 0; i < 500 && !rt_events; i++)
		sleep_ms(10);
	sl_pressure_stop(p);
	if (!rt_events)
		return FAIL("runtime_pressure_dev", "no callback within 5 s of drop_caches");
	if (rt_level < SL_PRESSURE_LOW || rt_level > SL_PRESSURE_CRITICAL)
		return FAIL("runtime_pressure_dev", "level %d", rt_level);
	PASS("runtime_pressure_dev");
}

/* ---- memory pressure ----------------------------------------------------- */

static int check_event(const struct sluice_event *ev, uint64_t t0, const char **why)
{
	uint64_t t1 = now_ns();

	if (ev->type != SLUICE_EVENT_RECLAIM)
		*why = "type";
	else if (ev->level < SLUICE_LEVEL_LOW || ev->level > SLUICE_LEVEL_CRITICAL)
		*why = "level";
	else if (!ev->seq)
		*why = "seq 0";
	else if (ev->timestamp_ns < t0 || ev->timestamp_ns > t1)
		*why = "timestamp outside the test's CLOCK_MONOTONIC window";
	else if (ev->pad)
		*why = "pad";
	else
		return 1;
	return 0;
}

/*
 * A child touches memory 4 MiB at a time until killed.  It volunteers for
 * the OOM killer (oom_score_adj 1000), so an OOM kill shows up as its death.
 */
static void test_pressure(void)
{
	struct sluice_event ev;
	const char *why = "";
	uint64_t t0 = now_ns();
	int fd = open_dev(), r = 0, status, waited;
	pid_t pid;

	if (fd < 0)
		return FAIL("pressure_event", "open: %s", strerror(errno));
	drain(fd);
	pid = fork();
	if (pid == 0) {
		write_str("/proc/self/oom_score_adj", "1000");
		for (;;) {
			char *p = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED) {
				sleep_ms(10);
				continue;
			}
			memset(p, 0x5a, 4 << 20);
		}
	}
	for (waited = 0; waited < 120000; waited += 100) {
		r = wait_event_ms(fd, 100, &ev);
		if (r)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			close(fd);
			return FAIL("pressure_event", "allocator died (%s %d) before any event",
				    WIFSIGNALED(status) ? "signal" : "exit",
				    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd);
	if (r < 0)
		return FAIL("pressure_event", "poll/read: %s", strerror(-r));
	if (r == 0)
		return FAIL("pressure_event", "no event within 120 s of allocating");
	if (!check_event(&ev, t0, &why))
		return FAIL("pressure_event", "bad record: %s", why);
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		return FAIL("pressure_event", "allocator died of signal %d", WTERMSIG(status));
	printf("pressure: event after %.1f s, level %u, available %llu pages, flags %#x\n",
	       (ev.timestamp_ns - t0) / 1e9, ev.level, (unsigned long long)ev.available_pages, ev.flags);
	PASS("pressure_event");
}

static void test_poll_wakes(void)
{
	struct pollfd p;
	uint64_t t0;
	int fd = open_dev(), r, status;
	pid_t pid;

	if (fd < 0)
		return FAIL("poll_wakes", "open: %s", strerror(errno));
	drain(fd);
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, 0) != 0) {
		close(fd);
		return FAIL("poll_wakes", "readable with an empty queue");
	}
	pid = fork();
	if (pid == 0) {
		sleep_ms(300);
		drop_caches();
		_exit(0);
	}
	t0 = now_ns();
	r = poll(&p, 1, 10000);
	waitpid(pid, &status, 0);
	close(fd);
	if (r != 1 || !(p.revents & POLLIN))
		return FAIL("poll_wakes", "poll returned %d revents %#x", r, p.revents);
	if (now_ns() - t0 < 200000000ull)
		return FAIL("poll_wakes", "woke before the event was generated");
	PASS("poll_wakes");
}

static void test_two_readers(void)
{
	struct sluice_event e1, e2;
	uint64_t t0 = now_ns();
	const char *why = "";
	int a = open_dev(), b = open_dev(), r1, r2;

	if (a < 0 || b < 0)
		return FAIL("two_readers", "open: %s", strerror(errno));
	drain(a);
	drain(b);
	drop_caches();
	r1 = wait_event_ms(a, 5000, &e1);
	r2 = wait_event_ms(b, 5000, &e2);
	close(a);
	close(b);
	if (r1 != 1 || r2 != 1)
		return FAIL("two_readers", "reader results %d, %d", r1, r2);
	if (!check_event(&e1, t0, &why) || !check_event(&e2, t0, &why))
		return FAIL("two_readers", "bad record: %s", why);
	if (e1.timestamp_ns != e2.timestamp_ns)
		return FAIL("two_readers", "readers saw different events");
	PASS("two_readers");
}

/* Overflow the queue: every event is either delivered or counted in dropped/seq. */
static void test_dropped(void)
{
	struct sluice_thresholds th = { 0 };
	struct sluice_info info = { 0 };
	struct sluice_event ev[256];
	uint64_t expect_seq = 1, lost = 0;
	int fd = open_dev(), i, n, k, total = 0;

	if (fd < 0 || ioctl(fd, SLUICE_IOC_GET_INFO, &info))
		return FAIL("dropped_count", "open/info: %s", strerror(errno));
	th.min_interval_ns = SLUICE_MIN_INTERVAL_NS;
	if (ioctl(fd, SLUICE_IOC_SET_THRESHOLDS, &th))
		return FAIL("dropped_count", "thresholds: %s", strerror(errno));
	drain(fd);
	for (i = 0; i < (int)info.queue_len + 16; i++) {
		drop_caches();
		sleep_ms(3);
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	n = read(fd, ev, sizeof(ev));
	if (n <= 0 || n % (int)sizeof(ev[0]))
		return FAIL("dropped_count", "read %d", n);
	n /= sizeof(ev[0]);
	if (n != (int)info.queue_len)
		return FAIL("dropped_count", "read %d records, queue holds %u", n, info.queue_len);
	drop_caches();
	sleep_ms(5);
	drop_caches();
	k = read(fd, ev + n, sizeof(ev) - n * sizeof(ev[0]));
	if (k > 0)
		n += k / sizeof(ev[0]);
	close(fd);
	expect_seq = ev[0].seq;
	for (i = 0; i < n; i++) {
		if (ev[i].seq != expect_seq + ev[i].dropped)
			return FAIL("dropped_count", "record %d: seq %llu, want %llu + dropped %u", i,
				    (unsigned long long)ev[i].seq, (unsigned long long)expect_seq, ev[i].dropped);
		lost += ev[i].dropped;
		total++;
		expect_seq = ev[i].seq + 1;
	}
	if (n <= (int)info.queue_len || !lost)
		return FAIL("dropped_count", "%d records, %llu dropped: overflow not reported", n,
			    (unsigned long long)lost);
	printf("dropped: %d records, %llu dropped and reported\n", total, (unsigned long long)lost);
	PASS("dropped_count");
}

/* Read every queued record without blocking; returns how many (or -errno). */
static int read_all_nb(int fd, struct sluice_event *ev, int max)
{
	int fl = fcntl(fd, F_GETFL), n = 0;
	ssize_t r;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (n < max && (r = read(fd, ev + n, (size_t)(max - n) * sizeof(*ev))) > 0)
		n += (int)(r / (ssize_t)sizeof(*ev));
	r = errno;
	fcntl(fd, F_SETFL, fl);
	return n ? n : (r == EAGAIN ? 0 : -(int)r);
}

/*
 * A fault in the middle of read(): the records that reached the buffer whole
 * count, the others stay queued.  (Before, a batch of up to 8 records was
 * dequeued first and lost with -EFAULT when the copy faulted.)
 */
static void test_read_fault(void)
{
	struct sluice_thresholds th = { 0 };
	struct sluice_event ev[64], *e;
	long pg = getpagesize();
	int a = open_dev(), b = open_dev(), n = 0, i, k;
	uint64_t first;
	ssize_t r;
	char *map;

	if (a < 0 || b < 0)
		return FAIL("read_fault", "open: %s", strerror(errno));
	th.min_interval_ns = SLUICE_MIN_INTERVAL_NS;
	if (ioctl(a, SLUICE_IOC_SET_THRESHOLDS, &th) || ioctl(b, SLUICE_IOC_SET_THRESHOLDS, &th))
		return FAIL("read_fault", "thresholds: %s", strerror(errno));
	drain(a);
	drain(b);
	/* Queue at least 4 records; b sees the same events as a and counts them. */
	for (i = 0; i < 100 && n < 4; i++) {
		drop_caches();
		sleep_ms(3);
		k = read_all_nb(b, ev, 64);
		n += k > 0 ? k : 0;
	}
	close(b);
	if (n < 4 || n > 32) {
		close(a);
		return FAIL("read_fault", "%d records queued, want 4..32", n);
	}
	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || munmap(map + pg, pg)) {
		close(a);
		return FAIL("read_fault", "mmap: %s", strerror(errno));
	}
	/* The first record fits before the unmapped page, the second straddles it. */
	e = (struct sluice_event *)(map + pg - sizeof(*e) - sizeof(*e) / 2);
	fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
	r = read(a, e, 4 * sizeof(*e));
	if (r != (ssize_t)sizeof(*e)) {
		close(a);
		return FAIL("read_fault", "read of 4 records into a buffer ending in an unmapped page: %zd (%s), "
			    "want one record", r, r < 0 ? strerror(errno) : "short");
	}
	first = e->seq;
	munmap(map, pg);
	r = read(a, map + pg, sizeof(*e));	/* both pages are unmapped now */
	if (r >= 0 || errno != EFAULT) {
		close(a);
		return FAIL("read_fault", "read into an unmapped buffer: %zd (%s), want EFAULT", r,
			    r < 0 ? strerror(errno) : "success");
	}
	k = read_all_nb(a, ev, 64);
	close(a);
	if (k < n - 1)
		return FAIL("read_fault", "%d records after the faults, want %d: records were lost", k, n - 1);
	for (i = 0; i < k; i++)
		if (ev[i].seq != first + 1 + (uint64_t)i || ev[i].dropped)
			return FAIL("read_fault", "record %d after the fault: seq %llu dropped %u, want seq %llu", i,
				    (unsigned long long)ev[i].seq, ev[i].dropped,
				    (unsigned long long)(first + 1 + i));
	printf("read_fault: %d records, 1 before the fault, %d after it, none lost\n", n, k);
	PASS("read_fault");
}

static long module_param_get(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/sluice/parameters/%s", name);
	return read_long(path, 10, -1);
}

static int module_param_set(const char *name, long v)
{
	char path[128], val[32];

	snprintf(path, sizeof(path), "/sys/module/sluice/parameters/%s", name);
	snprintf(val, sizeof(val), "%ld", v);
	return write_str(path, val);
}

/* Open up to max descriptors; returns how many opened, *err the errno that stopped it (0: none). */
static int open_many(int *fds, int max, int *err)
{
	int n;

	*err = 0;
	for (n = 0; n < max; n++) {
		fds[n] = open_dev();
		if (fds[n] < 0) {
			*err = errno;
			break;
		}
	}
	return n;
}

static void close_many(int *fds, int n)
{
	while (n > 0)
		close(fds[--n]);
}

/* A child that drops to uid (no capabilities left), opens until refused, reports, and holds. */
static pid_t spawn_opener(uid_t uid, int report_fd, int hold_fd, int hold_wfd)
{
	static int fds[256];
	pid_t pid = fork();
	int msg[2] = { -1, 0 };
	char c;

	if (pid != 0)
		return pid;
	close(hold_wfd);	/* the parent's close of it is the signal to exit */
	if (!setgroups(0, NULL) && !setresgid(uid, uid, uid) && !setresuid(uid, uid, uid))
		msg[0] = open_many(fds, 256, &msg[1]);
	else
		msg[1] = errno;
	if (write(report_fd, msg, sizeof(msg)) != sizeof(msg))
		_exit(1);
	if (read(hold_fd, &c, 1) < 0)
		_exit(1);
	_exit(0);
}

/*
 * Who may open /dev/sluice: everyone (mode 0444), but a descriptor opened
 * without CAP_SYS_RESOURCE gets at most one event per 2 s (PSI's unprivileged
 * resolution), and each such user holds at most max_open_per_user of them.
 */
static void test_unprivileged(void)
{
	struct sluice_thresholds th = { 0 };
	struct sluice_topo_snapshot topo;
	struct sluice_info info = { 0 };
	struct sluice_event ev[64];
	int fu, fr, nu, nr, r, rep[2], hold[2], ma[2], mb[2], fx;
	long per_user = module_param_get("max_open_per_user");
	pid_t pa, pb;
	struct stat st;

	if (stat(SLUICE_DEVICE_PATH, &st) || (st.st_mode & 0777) != 0444)
		return FAIL("unprivileged_open", "%s mode %o, want 0444", SLUICE_DEVICE_PATH, st.st_mode & 0777);
	/* seteuid drops the effective capabilities; the descriptor keeps the opener's credentials. */
	if (seteuid(65534))
		return FAIL("unprivileged_open", "seteuid: %s", strerror(errno));
	fu = open_dev();
	r = errno;
	if (seteuid(0))
		return FAIL("unprivileged_open", "seteuid(0): %s", strerror(errno));
	if (fu < 0)
		return FAIL("unprivileged_open", "open as uid 65534: %s", strerror(r));
	if (ioctl(fu, SLUICE_IOC_GET_INFO, &info) || sluice_topo_get(fu, 0, &topo)) {
		close(fu);
		return FAIL("unprivileged_open", "GET_INFO/GET_TOPOLOGY unprivileged: %s", strerror(errno));
	}
	sluice_topo_free(&topo);
	th.flags = SLUICE_THRESH_QUERY;
	if (ioctl(fu, SLUICE_IOC_SET_THRESHOLDS, &th) || th.min_interval_ns != SLUICE_UNPRIV_MIN_INTERVAL_NS) {
		close(fu);
		return FAIL("unprivileged_open", "unprivileged default interval %llu ns, want %llu",
			    (unsigned long long)th.min_interval_ns, SLUICE_UNPRIV_MIN_INTERVAL_NS);
	}
	memset(&th, 0, sizeof(th));
	th.min_interval_ns = SLUICE_MIN_INTERVAL_NS;
	if (!expect_err(fu, SLUICE_IOC_SET_THRESHOLDS, &th, EPERM, "unprivileged_open", "1 ms unprivileged"))
		return (void)close(fu);
	th.min_interval_ns = SLUICE_UNPRIV_MIN_INTERVAL_NS - 1;
	if (!expect_err(fu, SLUICE_IOC_SET_THRESHOLDS, &th, EPERM, "unprivileged_open", "2 s - 1 ns unprivileged"))
		return (void)close(fu);
	th.min_interval_ns = 0;
	if (ioctl(fu, SLUICE_IOC_SET_THRESHOLDS, &th) || th.min_interval_ns != SLUICE_UNPRIV_MIN_INTERVAL_NS) {
		close(fu);
		return FAIL("unprivileged_open", "set 0: %s, interval %llu", strerror(errno),
			    (unsigned long long)th.min_interval_ns);
	}
	/* Two reclaim passes 50 ms apart: the privileged 1 ms descriptor gets both, fu only the first. */
	fr = open_dev();
	th.min_interval_ns = SLUICE_MIN_INTERVAL_NS;
	if (fr < 0 || ioctl(fr, SLUICE_IOC_SET_THRESHOLDS, &th)) {
		close(fu);
		return FAIL("unprivileged_open", "privileged 1 ms descriptor: %s", strerror(errno));
	}
	drain(fu);
	drain(fr);
	drop_caches();
	sleep_ms(50);
	drop_caches();
	sleep_ms(50);
	nu = read_all_nb(fu, ev, 64);
	nr = read_all_nb(fr, ev, 64);
	close(fu);
	close(fr);
	if (nr < 2 || nu != 1)
		return FAIL("unprivileged_open", "two passes 50 ms apart: privileged got %d records (want >= 2), "
			    "unprivileged %d (want 1)", nr, nu);

	/* Per-user limit: two users get max_open_per_user each (EMFILE after), root is still let in. */
	if (per_user < 1 || per_user > 200)
		return FAIL("unprivileged_open", "max_open_per_user = %ld", per_user);
	if (pipe(rep) || pipe(hold))
		return FAIL("unprivileged_open", "pipe: %s", strerror(errno));
	pa = spawn_opener(65534, rep[1], hold[0], hold[1]);
	pb = spawn_opener(65533, rep[1], hold[0], hold[1]);
	r = read(rep[0], ma, sizeof(ma)) == sizeof(ma) && read(rep[0], mb, sizeof(mb)) == sizeof(mb);
	fx = open_dev();
	close(hold[1]);
	waitpid(pa, NULL, 0);
	waitpid(pb, NULL, 0);
	close(hold[0]);
	close(rep[0]);
	close(rep[1]);
	if (fx >= 0)
		close(fx);
	if (!r)
		return FAIL("unprivileged_open", "no report from the opener children");
	if (ma[0] != per_user || ma[1] != EMFILE || mb[0] != per_user || mb[1] != EMFILE)
		return FAIL("unprivileged_open", "users 65534 and 65533 opened %d (%s) and %d (%s), want %ld each, "
			    "then EMFILE", ma[0], strerror(ma[1]), mb[0], strerror(mb[1]), per_user);
	if (fx < 0)
		return FAIL("unprivileged_open", "root refused while users hold their limit: %s", strerror(errno));
	/* max_open_per_user 0: only privileged openers. */
	if (module_param_set("max_open_per_user", 0))
		return FAIL("unprivileged_open", "cannot set max_open_per_user");
	fu = -1;
	r = 0;
	if (seteuid(65534) == 0) {
		fu = open_dev();
		r = errno;
		if (seteuid(0))
			_exit(3);
	}
	fr = open_dev();
	module_param_set("max_open_per_user", per_user);
	if (fr >= 0)
		close(fr);
	if (fu >= 0) {
		close(fu);
		return FAIL("unprivileged_open", "opened with max_open_per_user = 0");
	}
	if (r != EMFILE || fr < 0)
		return FAIL("unprivileged_open", "max_open_per_user = 0: unprivileged %s (want EMFILE), root %s",
			    strerror(r), fr < 0 ? strerror(errno) : "ok");
	printf("unprivileged: 2 s floor, %ld descriptors per user\n", per_user);
	PASS("unprivileged_open");
}

/*
 * 10,000 opens.  The shrinker walks every descriptor under one spinlock, so
 * their number is bounded: max_open (default 1024) for everyone together
 * (ENFILE beyond).  Raised to 10,000, all of them open and one reclaim pass
 * reaches each; after closing, the count is back to zero.
 */
static void test_open_10000(void)
{
	enum { N = 10000 };
	static int fds[N + 1];
	struct rlimit rl = { N + 64, N + 64 };
	struct sluice_event ev;
	long max_open = module_param_get("max_open");
	int n, err, i, got = 0;

	if (max_open < 16 || max_open >= N)
		return FAIL("open_10000", "max_open = %ld", max_open);
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return FAIL("open_10000", "setrlimit: %s", strerror(errno));
	n = open_many(fds, N, &err);
	close_many(fds, n);
	if (n != max_open || err != ENFILE)
		return FAIL("open_10000", "10000 opens: %d succeeded, then %s; want %ld, then ENFILE", n,
			    err ? strerror(err) : "none failed", max_open);
	if (module_param_set("max_open", N))
		return FAIL("open_10000", "cannot set max_open");
	n = open_many(fds, N + 1, &err);
	if (n != N || err != ENFILE) {
		close_many(fds, n);
		module_param_set("max_open", max_open);
		return FAIL("open_10000", "max_open %d: %d opened, then %s", N, n, err ? strerror(err) : "none failed");
	}
	drop_caches();
	for (i = 0; i < N; i++)
		got += read_all_nb(fds[i], &ev, 1) == 1;
	close_many(fds, n);
	module_param_set("max_open", max_open);
	if (got != N)
		return FAIL("open_10000", "one reclaim pass reached %d of %d descriptors", got, N);
	/* All closed: the whole max_open is available again. */
	n = open_many(fds, (int)max_open + 1, &err);
	close_many(fds, n);
	if (n != max_open || err != ENFILE)
		return FAIL("open_10000", "after closing: %d opened, then %s; want %ld", n,
			    err ? strerror(err) : "none failed", max_open);
	printf("open_10000: %ld by default, then %d, all reached by one reclaim pass\n", max_open, N);
	PASS("open_10000");
}

static long long cg_current(const char *cg)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/memory.current", cg);
	return read_long(path, 10, -1);
}

/* Each descriptor's ~3 KB queue is charged to the opener's memory cgroup (__GFP_ACCOUNT). */
static void test_open_memcg(void)
{
	enum { N = 1000 };
	static int fds[N];
	const char *cg = "/sys/fs/cgroup/sluice-test";
	long long m[4] = { -1, -1, -1, -1 }, grow;
	char pid[32];
	int p[2], status = 0;
	pid_t child;

	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) &&
	    mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL))
		return FAIL("open_memcg_charged", "mount cgroup2: %s", strerror(errno));
	write_str("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(cg, 0755) && errno != EEXIST)
		return FAIL("open_memcg_charged", "mkdir %s: %s", cg, strerror(errno));
	if (pipe(p))
		return FAIL("open_memcg_charged", "pipe: %s", strerror(errno));
	child = fork();
	if (child == 0) {
		char procs[256];
		int err;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		if (write_str(procs, pid))
			_exit(2);
		m[0] = cg_current(cg);
		m[3] = open_many(fds, N, &err);
		m[1] = cg_current(cg);
		close_many(fds, (int)m[3]);
		m[2] = cg_current(cg);
		if (write(p[1], m, sizeof(m)) != sizeof(m))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], m, sizeof(m)) != sizeof(m))
		m[0] = -1;
	close(p[0]);
	waitpid(child, &status, 0);
	rmdir(cg);
	if (m[0] < 0 || m[1] < 0 || m[2] < 0)
		return FAIL("open_memcg_charged", "no memory.current (child status %d)", status);
	if (m[3] != N)
		return FAIL("open_memcg_charged", "opened %lld of %d", m[3], N);
	grow = m[1] - m[0];
	printf("memcg: %d opens charged %lld bytes (%lld each); %lld left after closing\n", N, grow, grow / N,
	       m[2] - m[0]);
	if (grow < (long long)N * 3072)
		return FAIL("open_memcg_charged", "%d opens charged %lld bytes to the cgroup, want >= %d "
			    "(3 KB queue each)", N, grow, N * 3072);
	if (m[2] - m[0] > grow / 2)
		return FAIL("open_memcg_charged", "%lld of %lld bytes still charged after closing", m[2] - m[0], grow);
	PASS("open_memcg_charged");
}

static void test_threshold_filters(void)
{
	struct sluice_thresholds th = { 0 };
	struct sluice_event ev;
	int fd = open_dev(), r;

	if (fd < 0)
		return FAIL("threshold_filter", "open: %s", strerror(errno));
	th.min_level = SLUICE_LEVEL_CRITICAL;
	if (ioctl(fd, SLUICE_IOC_SET_THRESHOLDS, &th))
		return FAIL("threshold_filter", "set: %s", strerror(errno));
	drain(fd);
	drop_caches();	/* MEDIUM (not kswapd) with plenty of memory: filtered */
	r = wait_event_ms(fd, 300, &ev);
	close(fd);
	if (r != 0)
		return FAIL("threshold_filter", "got %d (level %u) despite min_level CRITICAL", r,
			    r == 1 ? ev.level : 0);
	PASS("threshold_filter");
}

/* ---- unload ------------------------------------------------------------- */

static void test_unload_busy(void)
{
	int fd = open_dev(), r;

	if (fd < 0)
		return FAIL("unload_open_fd", "open: %s", strerror(errno));
	r = unload_module();
	if (r == 0) {
		close(fd);
		return FAIL("unload_open_fd", "module unloaded under an open descriptor");
	}
	if (r != -EWOULDBLOCK && r != -EBUSY) {
		close(fd);
		return FAIL("unload_open_fd", "delete_module: %s", strerror(-r));
	}
	/* The descriptor still works after the refused unload. */
	{
		struct sluice_info in = { 0 };

		if (ioctl(fd, SLUICE_IOC_GET_INFO, &in)) {
			close(fd);
			return FAIL("unload_open_fd", "descriptor broken after refused unload");
		}
	}
	close(fd);
	r = unload_module();
	if (r)
		return FAIL("unload_open_fd", "unload after close: %s", strerror(-r));
	PASS("unload_open_fd");
}

static void test_reload(void)
{
	int i, r, fd;

	for (i = 0; i < 3; i++) {
		struct sluice_info in = { 0 };

		r = load_module();
		if (r)
			return FAIL("reload", "load %d: %s", i, strerror(-r));
		fd = open_dev();
		if (fd < 0 || ioctl(fd, SLUICE_IOC_GET_INFO, &in))
			return FAIL("reload", "cycle %d: open/ioctl: %s", i, strerror(errno));
		close(fd);
		r = unload_module();
		if (r)
			return FAIL("reload", "unload %d: %s", i, strerror(-r));
	}
	if (!access(SLUICE_DEVICE_PATH, F_OK)) {
		sleep_ms(200);
		if (!access(SLUICE_DEVICE_PATH, F_OK))
			return FAIL("reload", "%s still there after unload", SLUICE_DEVICE_PATH);
	}
	PASS("reload");
}

/* The kernel log must show no splat from the whole run. */
static void test_dmesg(void)
{
	static char log[1 << 20];
	static const char *const bad[] = { "BUG:", "WARNING:", "Oops", "general protection",
					   "refcount_t", "list_del corruption", "sluice: " "error" };
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);
	unsigned int i;

	if (n < 0)
		return FAIL("dmesg_clean", "klogctl: %s", strerror(errno));
	log[n] = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *p = strstr(log, bad[i]), *e;

		if (!p)
			continue;
		e = strchr(p, '\n');
		if (e)
			*e = 0;
		return FAIL("dmesg_clean", "%s", p);
	}
	PASS("dmesg_clean");
}

int main(int argc, char **argv)
{
	struct sluice_topo_snapshot topo;
	int fd, r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	module_path = argc > 1 ? argv[1] : "/sluice.ko";

	test_load();
	fd = open_dev();
	if (fd < 0) {
		FAIL("open", "%s: %s", SLUICE_DEVICE_PATH, strerror(errno));
		return 1;
	}
	test_get_info(fd);
	test_bad_flags(fd);
	test_nonzero_pad(fd);
	test_wrong_size(fd);
	test_unknown_command(fd);
	test_bad_pointer(fd);
	test_thresholds(fd);

	r = sluice_topo_get(fd, 0, &topo);
	if (r) {
		FAIL("topology_sysfs", "GET_TOPOLOGY: %s", strerror(-r));
	} else {
		test_topology_sysfs(fd, &topo);
		test_topology_links(&topo);
		test_numa_expander(&topo);
		test_iommu(&topo);
		test_all_devices(fd, &topo);
		test_libdrm(&topo);
		sluice_topo_free(&topo);
	}
	close(fd);
	test_runtime_topo();
	test_runtime_pressure();

	test_poll_wakes();
	test_two_readers();
	test_threshold_filters();
	test_dropped();
	test_read_fault();
	test_unprivileged();
	test_open_memcg();
	test_open_10000();
	test_pressure();

	test_unload_busy();
	test_reload();
	test_dmesg();
	return 0;
}
