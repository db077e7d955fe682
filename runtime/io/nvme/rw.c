/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/rw.c — synchronous byte-range reads and writes (staging, superblocks):
 * one command at a time, each split to the controller's transfer size, polled.
 * A command that does not complete in cmd_timeout_ms resets the controller and fails.
 */
#include "io/nvme/nvme.h"

#include <sched.h>

int sl_nvme_rw(struct sl_nvme *n, bool write, uint64_t off, uint64_t len, uint64_t iova, struct sl_err *err)
{
	const char *what = write ? "write" : "read";
	if (off % n->lba_size || len % n->lba_size)
		return sl_errf(err, EINVAL, "%s: %s at %llu+%llu not aligned to the %u-byte blocks", n->v.bdf, what,
			       (unsigned long long)off, (unsigned long long)len, n->lba_size);
	uint64_t bytes = n->nlba * n->lba_size;
	if (off > bytes || len > bytes - off)
		return sl_errf(err, ENOSPC, "%s: %s of [%llu, +%llu) past the namespace end (%llu bytes)", n->v.bdf, what,
			       (unsigned long long)off, (unsigned long long)len, (unsigned long long)bytes);
	for (uint64_t done = 0; done < len;) {
		uint32_t chunk = (uint32_t)SL_MIN((uint64_t)n->max_xfer, len - done);
		int slot = sl_nvme_slot_get(n);
		if (slot < 0)
			return sl_errf(err, EBUSY, "%s: I/O queue busy", n->v.bdf);
		int r = sl_nvme_submit_rw(n, (unsigned)slot, write, (off + done) / n->lba_size, chunk / n->lba_size,
					  iova + done, NULL);
		if (r)
			return sl_errf(err, -r, "%s: %s: %s", n->v.bdf, what, r == -EIO ? "controller failed" : "bad command");
		unsigned s;
		uint16_t st;
		void *u;
		while (!sl_nvme_poll(n, &s, &st, &u)) {
			if (sl_nvme_timed_out(n, sl_now_ns())) {
				struct sl_err re;
				int rr = sl_nvme_reset(n, &re);
				return sl_errf(err, ETIMEDOUT, "%s: %s at byte %llu: no completion within %u ms; controller reset %s",
					       n->v.bdf, what, (unsigned long long)(off + done), n->cmd_timeout_ms,
					       rr ? re.msg : "and usable again");
			}
			sched_yield();
		}
		if (st & 0x7ff) {
			char b[128];
			return sl_errf(err, sl_nvme_status_errno(st), "%s: %s at byte %llu: %s", n->v.bdf, what,
				       (unsigned long long)(off + done), sl_nvme_status_str(st, b, sizeof(b)));
		}
		done += chunk;
	}
	return 0;
}
