/* SPDX-License-Identifier: MIT */
/* sl_storage_of_file on a fake sysfs tree: a file on a partition of an NVMe namespace resolves to
 * the disk (nvme0n1), the controller's PCI function and its NUMA node; a device sysfs does not
 * list is -ENODEV with a message naming the file. */
#include "sys/storage.h"
#include "helpers/testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* setup steps must hold for the rest to mean anything */
#define REQUIRE(c)                                                                                                 \
	do {                                                                                                       \
		if (!(c)) {                                                                                        \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);                              \
			return 1;                                                                                  \
		}                                                                                                  \
	} while (0)

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

int main(void)
{
	const char *tmp = getenv("SLUICE_TMP") ? getenv("SLUICE_TMP") : "/tmp";
	char root[PATH_MAX], dev[PATH_MAX + 128], link[PATH_MAX + 64], p[PATH_MAX + 256];
	snprintf(root, sizeof(root), "%s/storage-sysfs-%d", tmp, (int)getpid());
	/* the file to look up: this test program itself */
	struct stat st;
	REQUIRE(stat("/proc/self/exe", &st) == 0);
	snprintf(dev, sizeof(dev), "%s/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2", root);
	REQUIRE(mkdirs(dev) == 0);
	snprintf(p, sizeof(p), "%s/partition", dev);
	REQUIRE(write_file(p, "2\n") == 0);
	snprintf(p, sizeof(p), "%s/devices/pci0000:00/0000:00:04.0/numa_node", root);
	REQUIRE(write_file(p, "1\n") == 0);
	snprintf(p, sizeof(p), "%s/dev/block", root);
	REQUIRE(mkdirs(p) == 0);
	snprintf(link, sizeof(link), "%s/dev/block/%u:%u", root, major(st.st_dev), minor(st.st_dev));
	REQUIRE(symlink("../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p2", link) == 0);

	struct sl_storage s;
	struct sl_err err = { "" };
	REQUIRE(sl_storage_of_file("/proc/self/exe", root, &s, &err) == 0);
	printf("fake tree: %s on %s, node %d\n", s.block, s.bdf, s.numa_node);
	REQUIRE(!strcmp(s.block, "nvme0n1") && !strcmp(s.bdf, "0000:00:04.0") && s.numa_node == 1);

	/* not a block device sysfs knows: an empty tree */
	snprintf(p, sizeof(p), "%s/empty", root);
	REQUIRE(mkdirs(p) == 0);
	REQUIRE(sl_storage_of_file("/proc/self/exe", p, &s, &err) == -ENODEV);
	REQUIRE(strstr(err.msg, "/proc/self/exe") && strstr(err.msg, "not a block device"));
	REQUIRE(sl_storage_of_file("/no/such/file", root, &s, &err) == -ENOENT && strstr(err.msg, "/no/such/file"));

	/* this machine's own sysfs: whatever it says, it says it without failing oddly */
	int rc = sl_storage_of_file("/proc/self/exe", NULL, &s, &err);
	printf("this machine: rc %d, %s on '%s', node %d (%s)\n", rc, s.block, s.bdf, s.numa_node, rc ? err.msg : "");
	REQUIRE(rc == 0 || rc == -ENODEV);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : 1;
}
