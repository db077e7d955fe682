/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io_stats.c — counters and the latency histogram of an io.
 *
 * The histogram has log2 buckets with 8 linear sub-buckets each (~12% wide): fixed size, no
 * allocation, good enough for p50/p99/p99.9 of command latencies from microseconds to
 * seconds.
 */
#include "io/io_priv.h"

#include <string.h>

static unsigned hist_index(uint64_t ns)
{
	if (ns < 8)
		return (unsigned)ns;
	unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)(ns >> (msb - 3)) & 7u;
	return (msb - 2) * 8 + sub;
}

static uint64_t hist_mid(unsigned idx)
{
	if (idx < 8)
		return idx;
	unsigned msb = idx / 8 + 2, sub = idx % 8;
	uint64_t lo = (uint64_t)(8 + sub) << (msb - 3);
	return lo + ((1ull << (msb - 3)) >> 1);
}

void sl_io_stats_record_latency(struct sl_io_stats *s, uint64_t ns)
{
	s->lat_hist[hist_index(ns)]++;
	s->lat_count++;
}

uint64_t sl_io_stats_quantile(const struct sl_io_stats *s, double q)
{
	if (!s->lat_count)
		return 0;
	uint64_t want = (uint64_t)(q * (double)s->lat_count);
	if (want >= s->lat_count)
		want = s->lat_count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < SL_IO_HIST_BUCKETS; i++) {
		seen += s->lat_hist[i];
		if (seen > want)
			return hist_mid(i);
	}
	return hist_mid(SL_IO_HIST_BUCKETS - 1);
}

void sl_io_get_stats(struct sl_io *io, struct sl_io_stats *out)
{
	pthread_mutex_lock(&io->mu);
	*out = io->stats;
	if (io->inflight)
		out->busy_ns += sl_now_ns() - io->busy_since;
	pthread_mutex_unlock(&io->mu);
}

void sl_io_reset_stats(struct sl_io *io)
{
	pthread_mutex_lock(&io->mu);
	memset(&io->stats, 0, sizeof(io->stats));
	io->busy_since = sl_now_ns();
	pthread_mutex_unlock(&io->mu);
}
