/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_nvme_parts.c — the parts of the userspace NVMe driver that need no device:
 * PCI address parsing, NVMe status codes as messages and errnos, and the errors of opening a
 * controller that is not there (the VM suite, tests/vm/nvme.sh, drives a real emulated one).
 */
#include "helpers/testutil.h"
#include "io/io.h"
#include "io/nvme/nvme.h"

#include <string.h>

int main(void)
{
	char bdf[16];
	struct sl_err e = { "" };
	CHECK(sl_pci_bdf_parse("01:00.0", bdf, &e) == 0 && !strcmp(bdf, "0000:01:00.0"));
	CHECK(sl_pci_bdf_parse("0001:c1:1f.7", bdf, &e) == 0 && !strcmp(bdf, "0001:c1:1f.7"));
	const char *bad[] = { "", "01:00", "01:00.8", "01:20.0", "1:2:3:4.0", "0000:100:00.0", "01:00.0x", "nvme0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = sl_pci_bdf_parse(bad[i], bdf, &e);
		CHECK_MSG(r == -EINVAL && strstr(e.msg, "not a PCI address"), "'%s': %d %s", bad[i], r, e.msg);
	}

	char b[128];
	/* status field: SC in bits 7:0, SCT in 10:8, DNR in bit 14 */
	CHECK_MSG(strstr(sl_nvme_status_str(0x0080, b, sizeof(b)), "LBA out of range"), "%s", b);
	CHECK(sl_nvme_status_errno(0x0080) == ENODATA);
	CHECK_MSG(strstr(sl_nvme_status_str(0x0281 | 0x4000, b, sizeof(b)), "unrecovered read error") &&
		  strstr(b, "do not retry"), "%s", b);
	CHECK(sl_nvme_status_errno(0x0281) == EIO);
	CHECK_MSG(strstr(sl_nvme_status_str(0x0101, b, sizeof(b)), "invalid queue identifier"), "%s", b);
	CHECK_MSG(strstr(sl_nvme_status_str(0x0002, b, sizeof(b)), "invalid field"), "%s", b);
	CHECK(sl_nvme_status_errno(0x0002) == EINVAL);
	CHECK_MSG(strstr(sl_nvme_status_str(0x0777, b, sizeof(b)), "vendor specific"), "%s", b);

	struct sl_nvme *n = NULL;
	int r = sl_nvme_open(&n, "0000:ff:1f.7", 1, 16, 0, &e);
	CHECK_MSG(r == -ENODEV && strstr(e.msg, "no PCI device 0000:ff:1f.7"), "%d %s", r, e.msg);
	r = sl_nvme_open(&n, "garbage", 1, 16, SL_NVME_PRP_ONLY, &e);
	CHECK_MSG(r == -EINVAL, "%d %s", r, e.msg);

	/* the engine by name: a malformed source and a missing device are errors at open */
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = "x" };
	struct sl_io *io = NULL;
	r = sl_io_open("nvme:", &src, NULL, &io, &e);
	CHECK_MSG(r == -EINVAL && strstr(e.msg, "is not BDF"), "%d %s", r, e.msg);
	r = sl_io_open("nvme:0000:ff:1f.7/1@0,bogus=1", &src, NULL, &io, &e);
	CHECK_MSG(r == -EINVAL && strstr(e.msg, "is not BDF"), "%d %s", r, e.msg);
	r = sl_io_open("nvme:0000:ff:1f.7/1@4096+8192,timeout=50,stall=2,prp", &src, NULL, &io, &e);
	CHECK_MSG(r == -ENODEV && strstr(e.msg, "no PCI device"), "%d %s", r, e.msg);
	CHECK(io == NULL);
	return t_done();
}
