/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/storage.c — the drive under a file, from sysfs.
 *
 * stat() gives the file system's device number; /sys/dev/block/MAJ:MIN links to the block device's
 * place in the device tree, e.g. /sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2.
 * A partition (it has a "partition" attribute) is replaced by its parent disk; the PCI function is
 * the last path component shaped like a BDF; its numa_node attribute says where it sits.
 */
#include "sys/storage.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static bool is_bdf(const char *s, size_t n)
{
	/* dddd:bb:dd.f, hex */
	static const char shape[] = "xxxx:xx:xx.x";
	if (n != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	return true;
}

int sl_storage_of_file(const char *path, const char *sysfs_root, struct sl_storage *out, struct sl_err *err)
{
	const char *root = sysfs_root && *sysfs_root ? sysfs_root : "/sys";
	memset(out, 0, sizeof(*out));
	out->numa_node = -1;
	struct stat st;
	if (stat(path, &st))
		return sl_errf(err, errno, "%s: %s", path, strerror(errno));
	char link[PATH_MAX], dir[PATH_MAX], attr[PATH_MAX + 32];
	snprintf(link, sizeof(link), "%s/dev/block/%u:%u", root, major(st.st_dev), minor(st.st_dev));
	if (!realpath(link, dir))
		return sl_errf(err, ENODEV, "%s: on device %u:%u, which is not a block device in %s/dev/block", path,
			       major(st.st_dev), minor(st.st_dev), root);
	snprintf(attr, sizeof(attr), "%s/partition", dir);
	if (access(attr, F_OK) == 0) { /* a partition: its disk is the parent directory */
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
	}
	const char *base = strrchr(dir, '/');
	snprintf(out->block, sizeof(out->block), "%.31s", base ? base + 1 : dir);
	/* the deepest BDF-shaped component is the function the disk hangs off */
	const char *pci = NULL;
	size_t pci_len = 0;
	for (const char *p = dir; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (is_bdf(p, n)) {
			pci = p;
			pci_len = n;
		}
		if (!e)
			break;
		p = e + 1;
	}
	if (!pci)
		return 0;
	memcpy(out->bdf, pci, pci_len);
	out->bdf[pci_len] = 0;
	snprintf(attr, sizeof(attr), "%.*s/numa_node", (int)(pci - dir + pci_len), dir);
	FILE *f = fopen(attr, "r");
	if (f) {
		if (fscanf(f, "%d", &out->numa_node) != 1)
			out->numa_node = -1;
		fclose(f);
	}
	return 0;
}
