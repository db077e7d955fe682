/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/nvme.c — sluice nvme list | bind BDF | unbind BDF: NVMe controllers and the
 * move between the kernel's nvme driver and vfio-pci (for the userspace driver), through
 * sysfs driver_override.
 *
 * bind refuses, naming the reason, when the controller's namespaces are in use: a mounted
 * filesystem (/proc/self/mountinfo, by device number), swap (/proc/swaps), a holder (device
 * mapper, md: /sys/block/X/holders) or a process holding the block device open (/proc/PID/fd);
 * and when its IOMMU group holds other devices, which vfio would take too.  unbind refuses
 * while a process has the VFIO group open (the kernel would block until it closes it).
 */
#include "cli.h"
#include "io/nvme/vfio.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PCI "/sys/bus/pci/devices"

static int read_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char *r = fgets(buf, (int)n, f);
	fclose(f);
	if (!r)
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t r = write(fd, s, strlen(s));
	int e = r < 0 ? -errno : 0;
	close(fd);
	return e;
}

static void link_base(const char *path, char *out, size_t n, const char *none)
{
	char t[PATH_MAX];
	ssize_t r = readlink(path, t, sizeof(t) - 1);
	if (r < 0) {
		snprintf(out, n, "%s", none);
		return;
	}
	t[r] = 0;
	const char *b = strrchr(t, '/');
	snprintf(out, n, "%.*s", (int)(n - 1), b ? b + 1 : t);
}

static bool is_nvme(const char *bdf)
{
	char p[PATH_MAX], cls[32];
	snprintf(p, sizeof(p), PCI "/%s/class", bdf);
	return !read_line(p, cls, sizeof(cls)) && !strncmp(cls, "0x010802", 8);
}

static void driver_of(const char *bdf, char *out, size_t n)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), PCI "/%s/driver", bdf);
	link_base(p, out, n, "none");
}

/* Block devices (disks) of the controller at bdf: /sys/block entries whose path passes it. */
static int block_devs(const char *bdf, char names[][32], int max)
{
	DIR *d = opendir("/sys/block");
	int k = 0;
	if (!d)
		return 0;
	struct dirent *de;
	char needle[32];
	snprintf(needle, sizeof(needle), "/%s/", bdf);
	while ((de = readdir(d)) && k < max) {
		char p[PATH_MAX], t[PATH_MAX];
		snprintf(p, sizeof(p), "/sys/block/%s", de->d_name);
		ssize_t r = readlink(p, t, sizeof(t) - 1);
		if (r < 0)
			continue;
		t[r] = 0;
		if (strstr(t, needle))
			snprintf(names[k++], 32, "%.31s", de->d_name);
	}
	closedir(d);
	return k;
}

static int cmd_list(void)
{
	DIR *d = opendir(PCI);
	if (!d)
		return cli_error("nvme", PCI ": %s", strerror(errno));
	struct dirent *de;
	int found = 0;
	printf("%-13s %-9s %-6s %-5s %s\n", "BDF", "DRIVER", "GROUP", "NODE", "NAMESPACES");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !is_nvme(de->d_name))
			continue;
		const char *bdf = de->d_name;
		char drv[64], grp[32], node[16] = "?", p[PATH_MAX];
		driver_of(bdf, drv, sizeof(drv));
		snprintf(p, sizeof(p), PCI "/%s/iommu_group", bdf);
		link_base(p, grp, sizeof(grp), "-");
		snprintf(p, sizeof(p), PCI "/%s/numa_node", bdf);
		read_line(p, node, sizeof(node));
		char names[16][32];
		int nb = block_devs(bdf, names, 16);
		printf("%-13s %-9s %-6s %-5s", bdf, drv, grp, node);
		for (int i = 0; i < nb; i++) {
			char sz[32] = "0";
			snprintf(p, sizeof(p), "/sys/block/%s/size", names[i]);
			read_line(p, sz, sizeof(sz));
			printf(" %s(%.1f MiB)", names[i], strtoull(sz, NULL, 10) * 512.0 / (1 << 20));
		}
		if (!nb)
			printf(" %s", !strcmp(drv, "vfio-pci") ? "(vfio-pci: sluice info --nvme shows what is staged)" : "-");
		printf("\n");
		found++;
	}
	closedir(d);
	if (!found)
		printf("(no NVMe controllers)\n");
	return 0;
}

/* Is a /dev path open in some process?  Writes "PID (comm)" into who. */
static bool open_by_process(const char *devpath, char *who, size_t n)
{
	DIR *d = opendir("/proc");
	if (!d)
		return false;
	struct dirent *de;
	bool hit = false;
	pid_t self = getpid();
	while (!hit && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		char fdd[64];
		snprintf(fdd, sizeof(fdd), "/proc/%ld/fd", pid);
		DIR *f = opendir(fdd);
		if (!f)
			continue;
		struct dirent *fe;
		while ((fe = readdir(f))) {
			char p[PATH_MAX], t[PATH_MAX];
			snprintf(p, sizeof(p), "%s/%s", fdd, fe->d_name);
			ssize_t r = readlink(p, t, sizeof(t) - 1);
			if (r < 0)
				continue;
			t[r] = 0;
			if (!strcmp(t, devpath)) {
				char cp[64], comm[64] = "?";
				snprintf(cp, sizeof(cp), "/proc/%ld/comm", pid);
				read_line(cp, comm, sizeof(comm));
				snprintf(who, n, "process %ld (%s)", pid, comm);
				hit = true;
				break;
			}
		}
		closedir(f);
	}
	closedir(d);
	return hit;
}

/* A reason the block device (disk or partition) `name` is in use, or false. */
static bool dev_in_use(const char *name, const char *sysdir, char *why, size_t n)
{
	char p[PATH_MAX], dev[32], line[1024];
	snprintf(p, sizeof(p), "%s/dev", sysdir);
	if (read_line(p, dev, sizeof(dev)))
		return false;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char mm[32], mnt[512];
		if (sscanf(line, "%*s %*s %31s %*s %511s", mm, mnt) == 2 && !strcmp(mm, dev)) {
			snprintf(why, n, "/dev/%.31s is mounted on %.400s", name, mnt);
			fclose(f);
			return true;
		}
	}
	if (f)
		fclose(f);
	char devpath[64];
	snprintf(devpath, sizeof(devpath), "/dev/%s", name);
	f = fopen("/proc/swaps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, devpath, strlen(devpath)) && (line[strlen(devpath)] == ' ' || line[strlen(devpath)] == '\t')) {
			snprintf(why, n, "%s is in use as swap", devpath);
			fclose(f);
			return true;
		}
	}
	if (f)
		fclose(f);
	snprintf(p, sizeof(p), "%s/holders", sysdir);
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] != '.') {
			snprintf(why, n, "%s is held by %s (device mapper / md)", devpath, de->d_name);
			closedir(d);
			return true;
		}
	}
	if (d)
		closedir(d);
	char who[128];
	if (open_by_process(devpath, who, sizeof(who))) {
		snprintf(why, n, "%s is open in %s", devpath, who);
		return true;
	}
	return false;
}

static bool namespaces_in_use(const char *bdf, char *why, size_t n)
{
	char names[16][32];
	int nb = block_devs(bdf, names, 16);
	for (int i = 0; i < nb; i++) {
		char sys[PATH_MAX];
		snprintf(sys, sizeof(sys), "/sys/block/%s", names[i]);
		if (dev_in_use(names[i], sys, why, n))
			return true;
		DIR *d = opendir(sys);
		struct dirent *de;
		while (d && (de = readdir(d))) { /* partitions: nvme0n1p1 */
			if (strncmp(de->d_name, names[i], strlen(names[i])) || !de->d_name[strlen(names[i])])
				continue;
			char ps[PATH_MAX * 2];
			snprintf(ps, sizeof(ps), "%s/%s", sys, de->d_name);
			if (dev_in_use(de->d_name, ps, why, n)) {
				closedir(d);
				return true;
			}
		}
		if (d)
			closedir(d);
	}
	return false;
}

/* Other devices in bdf's IOMMU group that are not bridges and not already on vfio-pci. */
static bool group_shared(const char *bdf, char *why, size_t n)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), PCI "/%s/iommu_group/devices", bdf);
	DIR *d = opendir(p);
	if (!d)
		return false;
	struct dirent *de;
	size_t k = 0;
	why[0] = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, bdf))
			continue;
		char cls[32] = "", drv[64], cp[PATH_MAX];
		snprintf(cp, sizeof(cp), PCI "/%s/class", de->d_name);
		read_line(cp, cls, sizeof(cls));
		driver_of(de->d_name, drv, sizeof(drv));
		if (!strncmp(cls, "0x0604", 6) || !strcmp(drv, "vfio-pci"))
			continue; /* bridges stay with pcieport; vfio-pci ones are ours already */
		k += (size_t)snprintf(why + k, k < n ? n - k : 0, "%s%s (%s)", k ? ", " : "", de->d_name, drv);
		if (k >= n)
			break;
	}
	closedir(d);
	return why[0] != 0;
}

static int cmd_bind(const char *arg)
{
	char bdf[16], why[512], drv[64], p[PATH_MAX];
	struct sl_err err;
	if (sl_pci_bdf_parse(arg, bdf, &err))
		return cli_error("nvme", "%s", err.msg);
	snprintf(p, sizeof(p), PCI "/%s", bdf);
	if (access(p, F_OK))
		return cli_error("nvme", "bind: no PCI device %s (sluice nvme list shows the controllers)", bdf);
	if (!is_nvme(bdf))
		return cli_error("nvme", "bind: %s is not an NVMe controller", bdf);
	driver_of(bdf, drv, sizeof(drv));
	if (!strcmp(drv, "vfio-pci")) {
		printf("%s: already bound to vfio-pci\n", bdf);
		return 0;
	}
	snprintf(p, sizeof(p), PCI "/%s/iommu_group", bdf);
	if (access(p, F_OK))
		return cli_error("nvme", "bind: %s has no IOMMU group: the IOMMU is off (boot with intel_iommu=on or amd_iommu=on)", bdf);
	if (namespaces_in_use(bdf, why, sizeof(why)))
		return cli_error("nvme", "bind: refusing: %s", why);
	if (group_shared(bdf, why, sizeof(why)))
		return cli_error("nvme", "bind: refusing: the IOMMU group of %s also holds %s, which vfio would take too", bdf, why);
	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK))
		return cli_error("nvme", "bind: the vfio-pci driver is not loaded (modprobe vfio-pci)");
	int r;
	snprintf(p, sizeof(p), PCI "/%s/driver_override", bdf);
	if ((r = write_str(p, "vfio-pci")))
		return cli_error("nvme", "bind: %s: %s", p, strerror(-r));
	if (strcmp(drv, "none")) {
		snprintf(p, sizeof(p), PCI "/%s/driver/unbind", bdf);
		if ((r = write_str(p, bdf)))
			return cli_error("nvme", "bind: unbinding %s from %s: %s", bdf, drv, strerror(-r));
	}
	write_str("/sys/bus/pci/drivers_probe", bdf);
	driver_of(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci"))
		return cli_error("nvme", "bind: %s did not bind to vfio-pci (driver now: %s)", bdf, drv);
	printf("%s: bound to vfio-pci\n", bdf);
	return 0;
}

static int cmd_unbind(const char *arg)
{
	char bdf[16], drv[64], p[PATH_MAX], grp[32], who[128];
	struct sl_err err;
	if (sl_pci_bdf_parse(arg, bdf, &err))
		return cli_error("nvme", "%s", err.msg);
	snprintf(p, sizeof(p), PCI "/%s", bdf);
	if (access(p, F_OK))
		return cli_error("nvme", "unbind: no PCI device %s", bdf);
	driver_of(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio-pci"))
		return cli_error("nvme", "unbind: %s is bound to %s, not vfio-pci: nothing to give back", bdf, drv);
	snprintf(p, sizeof(p), PCI "/%s/iommu_group", bdf);
	link_base(p, grp, sizeof(grp), "");
	char gdev[64];
	snprintf(gdev, sizeof(gdev), "/dev/vfio/%s", grp);
	if (grp[0] && open_by_process(gdev, who, sizeof(who)))
		return cli_error("nvme", "unbind: %s is in use by %s", bdf, who);
	int r;
	snprintf(p, sizeof(p), PCI "/%s/driver_override", bdf);
	if ((r = write_str(p, "\n")))
		return cli_error("nvme", "unbind: %s: %s", p, strerror(-r));
	snprintf(p, sizeof(p), PCI "/%s/driver/unbind", bdf);
	if ((r = write_str(p, bdf)))
		return cli_error("nvme", "unbind: %s: %s", p, strerror(-r));
	write_str("/sys/bus/pci/drivers_probe", bdf);
	driver_of(bdf, drv, sizeof(drv));
	if (strcmp(drv, "nvme"))
		return cli_error("nvme", "unbind: %s released, but the nvme driver did not take it (driver now: %s; modprobe nvme?)", bdf, drv);
	printf("%s: given back to nvme\n", bdf);
	return 0;
}

static int usage(FILE *o)
{
	fprintf(o, "usage: sluice nvme list | bind BDF | unbind BDF\n"
		   "  list         NVMe controllers: driver, IOMMU group, NUMA node, namespaces\n"
		   "  bind BDF     move a controller from nvme to vfio-pci (for sluice stage / run --nvme);\n"
		   "               refused while its namespaces are mounted, swap, held or open, or when its\n"
		   "               IOMMU group has other devices\n"
		   "  unbind BDF   give it back to the kernel's nvme driver\n");
	return o == stderr ? 1 : 0;
}

int cmd_nvme(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return usage(stdout);
	if (!strcmp(argv[1], "list") && argc == 2)
		return cmd_list();
	if (!strcmp(argv[1], "bind") && argc == 3)
		return cmd_bind(argv[2]);
	if (!strcmp(argv[1], "unbind") && argc == 3)
		return cmd_unbind(argv[2]);
	return usage(stderr);
}
