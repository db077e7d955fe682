/* SPDX-License-Identifier: MIT */
/*
 * bench/membw.c — read-bandwidth probe: T threads each stream their slice of
 * a buffer much larger than the last-level cache, summing 64-bit words (the
 * sum is used so the loads can't be dropped).  Decode reads weights exactly
 * like this, so this is the ceiling for bytes-of-weights / time-per-token.
 *
 *   membw [MiB=1024] [threads=1] [passes=5]   -> prints best GB/s (1e9 bytes/s)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slice {
	const uint64_t *p;
	size_t n;
	uint64_t sum;
	pthread_barrier_t *bar;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *reader(void *arg)
{
	struct slice *s = arg;
	pthread_barrier_wait(s->bar);
	/* 4 independent chains so the adds never limit the loads. */
	uint64_t a = 0, b = 0, c = 0, d = 0;
	for (size_t i = 0; i + 4 <= s->n; i += 4) {
		a += s->p[i];
		b ^= s->p[i + 1];
		c += s->p[i + 2];
		d ^= s->p[i + 3];
	}
	s->sum = a + b + c + d;
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	int nt = argc > 2 ? atoi(argv[2]) : 1, passes = argc > 3 ? atoi(argv[3]) : 5;
	if (nt < 1 || nt > 64 || mib < 64) {
		fprintf(stderr, "usage: membw [MiB>=64] [threads] [passes]\n");
		return 2;
	}
	size_t bytes = mib << 20, n = bytes / 8;
	uint64_t *buf = aligned_alloc(4096, bytes);
	if (!buf)
		return 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = i * 0x9E3779B97F4A7C15ull;
	double best = 0;
	uint64_t sink = 0;
	for (int p = 0; p < passes; p++) {
		pthread_t th[64];
		struct slice sl[64];
		pthread_barrier_t bar;
		pthread_barrier_init(&bar, NULL, (unsigned)nt + 1);
		for (int t = 0; t < nt; t++) {
			sl[t] = (struct slice){ buf + n / nt * t, n / nt, 0, &bar };
			pthread_create(&th[t], NULL, reader, &sl[t]);
		}
		pthread_barrier_wait(&bar);
		double t0 = now();
		for (int t = 0; t < nt; t++) {
			pthread_join(th[t], NULL);
			sink += sl[t].sum;
		}
		double gbs = (double)(n / nt * nt * 8) / (now() - t0) / 1e9;
		if (gbs > best)
			best = gbs;
		pthread_barrier_destroy(&bar);
	}
	printf("membw: %zu MiB, %d thread(s): %.2f GB/s (best of %d; %llx)\n", mib, nt, best, passes,
	       (unsigned long long)(sink & 0xf));
	free(buf);
	return 0;
}
