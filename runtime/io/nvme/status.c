/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/status.c — NVMe completion status (type + code) as words and an errno.
 */
#include "io/nvme/nvme.h"

#include <stdio.h>

static const char *generic(unsigned sc)
{
	switch (sc) {
	case 0x00: return "success";
	case 0x01: return "invalid command opcode";
	case 0x02: return "invalid field in command";
	case 0x03: return "command ID conflict";
	case 0x04: return "data transfer error";
	case 0x05: return "commands aborted due to power loss";
	case 0x06: return "internal error";
	case 0x07: return "command abort requested";
	case 0x08: return "command aborted: submission queue deleted";
	case 0x0b: return "invalid namespace or format";
	case 0x13: return "invalid PRP offset";
	case 0x80: return "LBA out of range";
	case 0x81: return "capacity exceeded";
	case 0x82: return "namespace not ready";
	default: return "generic error";
	}
}

static const char *specific(unsigned sc)
{
	switch (sc) {
	case 0x00: return "completion queue invalid";
	case 0x01: return "invalid queue identifier";
	case 0x02: return "invalid queue size";
	case 0x06: return "invalid firmware slot";
	case 0x80: return "conflicting attributes";
	case 0x82: return "attempted write to read-only range";
	default: return "command specific error";
	}
}

static const char *media(unsigned sc)
{
	switch (sc) {
	case 0x80: return "write fault";
	case 0x81: return "unrecovered read error";
	case 0x82: return "end-to-end guard check error";
	case 0x85: return "compare failure";
	case 0x86: return "access denied";
	case 0x87: return "deallocated or unwritten logical block";
	default: return "media or data integrity error";
	}
}

const char *sl_nvme_status_str(uint16_t status, char *buf, size_t n)
{
	unsigned sc = status & 0xff, sct = (status >> 8) & 7;
	const char *w = sct == 0 ? generic(sc) : sct == 1 ? specific(sc) : sct == 2 ? media(sc) :
			sct == 3 ? "path related error" : "vendor specific error";
	snprintf(buf, n, "%s (NVMe status type %u code 0x%02x%s)", w, sct, sc, status & 0x4000 ? ", do not retry" : "");
	return buf;
}

int sl_nvme_status_errno(uint16_t status)
{
	unsigned sc = status & 0xff, sct = (status >> 8) & 7;
	if (sct == 0 && (sc == 0x80 || sc == 0x81))
		return ENODATA;
	if (sct == 0 && (sc == 0x01 || sc == 0x02 || sc == 0x0b))
		return EINVAL;
	if (sct == 2 && sc == 0x86)
		return EACCES;
	return EIO;
}
