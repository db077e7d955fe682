/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/bench_io.c — `sluice bench io FILE`: bandwidth, IOPS and latency of an I/O
 * engine on the request pattern the streaming engine really issues.
 *
 * Patterns:
 *   seq      bs-sized reads from offset 0, queue depth qd (what fio --rw=read measures)
 *   rand     bs-sized reads at random bs-aligned offsets
 *   tensors  every tensor of a GGUF file in file order, each read into its own buffer from
 *            the pinned staging pool (split into bs-sized commands, adjacent ones merged),
 *            as the weight cache will; for a file that is not GGUF, a synthetic llama-7B
 *            Q4_0 layout (per layer 4 x 9.0 MiB attention + 3 x 24.2 MiB FFN + 2 x 16 KiB
 *            norms, 32-byte aligned) laid over the file.
 * Buffers come from sl_pool, whose slabs are registered I/O memory (io_uring fixed buffers
 * with the uring engine).  --thread reaps completions on the io's own I/O thread.
 * The library reads no environment: $SLUICE_IO_FAULT is read here, --fault wins over it.
 * --iolog FILE writes the engine commands as a fio v2 iolog, so fio can replay the same
 * stream (bench/io.sh compares the two).  The page cache is not dropped here (that needs
 * root and is the script's job); O_DIRECT engines bypass it anyway.
 */
#include "cli.h"
#include "atomic_file.h"
#include "gguf.h"
#include "io/io.h"
#include "mem/pool.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct opts {
	const char *file, *engine, *pattern, *iolog, *fault;
	uint64_t bs, size;
	long qd;
	bool json, buffered, small_pages, thread;
};

struct range {
	uint64_t off, len;
};

static void usage(void)
{
	printf("usage: sluice bench io FILE [--engine auto|uring|pread|mmap] [--bs 1M] [--qd 32]\n"
	       "                 [--size N] [--pattern seq|rand|tensors] [--buffered] [--json]\n"
	       "                 [--iolog OUT] [--fault SPEC] [--small-pages] [--thread]\n"
	       "  --size     bytes to read (default: the whole file; rand: min(file, 1G))\n"
	       "  --buffered uring without O_DIRECT (through the page cache)\n"
	       "  --iolog    write the issued commands as a fio v2 iolog (fio --read_iolog)\n"
	       "  --fault    inject I/O faults (default: $SLUICE_IO_FAULT)\n"
	       "  --thread   reap completions on a dedicated I/O thread\n"
	       "  --small-pages  staging buffers on 4 KiB pages, not huge pages (as fio's malloc)\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "engine", required_argument, 0, 'e' }, { "bs", required_argument, 0, 'b' },
		{ "qd", required_argument, 0, 'q' },	 { "size", required_argument, 0, 's' },
		{ "pattern", required_argument, 0, 'p' }, { "json", no_argument, 0, 'j' },
		{ "iolog", required_argument, 0, 'l' },	 { "buffered", no_argument, 0, 'B' },
		{ "fault", required_argument, 0, 'f' },	 { "help", no_argument, 0, 'h' },
		{ "small-pages", no_argument, 0, 'S' }, { "thread", no_argument, 0, 'T' },
		{ 0, 0, 0, 0 }
	};
	*o = (struct opts){ .engine = "auto", .pattern = "seq", .bs = 1 << 20, .qd = 32 };
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'e': o->engine = optarg; break;
		case 'b':
			if (!cli_size("bench io", "--bs", optarg, &o->bs))
				return 1;
			break;
		case 'q':
			if (!cli_int("bench io", "--qd", optarg, 1, 4096, &o->qd))
				return 1;
			break;
		case 's':
			if (!cli_size("bench io", "--size", optarg, &o->size))
				return 1;
			break;
		case 'p': o->pattern = optarg; break;
		case 'j': o->json = true; break;
		case 'l': o->iolog = optarg; break;
		case 'B': o->buffered = true; break;
		case 'f': o->fault = optarg; break;
		case 'S': o->small_pages = true; break;
		case 'T': o->thread = true; break;
		case 'h': usage(); return -1;
		default: usage(); return 1;
		}
	}
	if (optind != argc - 1) {
		usage();
		return 1;
	}
	o->file = argv[optind];
	if (o->bs < 512 || o->bs > (1u << 30))
		return cli_error("bench io", "--bs must be between 512 and 1G");
	if (strcmp(o->pattern, "seq") && strcmp(o->pattern, "rand") && strcmp(o->pattern, "tensors"))
		return cli_error("bench io", "--pattern: '%s' (seq, rand, tensors)", o->pattern);
	return 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- the request list of each pattern ---- */

static int add(struct range **v, size_t *n, size_t *cap, uint64_t off, uint64_t len)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		struct range *nv = realloc(*v, *cap * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[(*n)++] = (struct range){ off, len };
	return 0;
}

static int plan_tensors(const struct opts *o, uint64_t file_size, struct range **v, size_t *n)
{
	size_t cap = 0;
	struct gguf_file *g = NULL;
	struct sl_err err;
	if (sl_gguf_open(o->file, &g, &err) == 0) {
		for (uint64_t i = 0; i < g->n_tensors; i++)
			if (g->tensors[i].size && add(v, n, &cap, g->tensors[i].file_offset, g->tensors[i].size))
				return -ENOMEM;
		sl_gguf_close(g);
		return 0;
	}
	/* not GGUF: llama-7B Q4_0 shapes (18 bytes per 32 weights) */
	static const uint64_t layer[] = { 4096 * 4, 4096ull * 4096 / 32 * 18, 4096ull * 4096 / 32 * 18,
					  4096ull * 4096 / 32 * 18, 4096ull * 4096 / 32 * 18, 4096 * 4,
					  11008ull * 4096 / 32 * 18, 11008ull * 4096 / 32 * 18,
					  11008ull * 4096 / 32 * 18 };
	uint64_t off = 4096; /* a header */
	for (;;) {
		for (unsigned i = 0; i < SL_ARRAY_SIZE(layer); i++) {
			if (off + layer[i] > file_size)
				return 0;
			if (add(v, n, &cap, off, layer[i]))
				return -ENOMEM;
			off = SL_ALIGN_UP(off + layer[i], 32ull);
		}
	}
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int plan(const struct opts *o, uint64_t file_size, struct range **v, size_t *n)
{
	size_t cap = 0;
	*v = NULL;
	*n = 0;
	if (!strcmp(o->pattern, "tensors")) {
		int r = plan_tensors(o, file_size, v, n);
		if (r < 0 || !o->size)
			return r;
		uint64_t total = 0; /* --size: the first tensors up to that many bytes */
		for (size_t i = 0; i < *n; i++) {
			total += (*v)[i].len;
			if (total >= o->size) {
				*n = i + 1;
				break;
			}
		}
		return 0;
	}
	if (file_size < o->bs)
		return -ENODATA;
	uint64_t blocks = file_size / o->bs;
	if (!strcmp(o->pattern, "seq")) {
		uint64_t want = o->size ? SL_MIN(o->size, blocks * o->bs) : blocks * o->bs;
		for (uint64_t i = 0; i * o->bs < want; i++)
			if (add(v, n, &cap, i * o->bs, o->bs))
				return -ENOMEM;
		return 0;
	}
	uint64_t want = o->size ? o->size : SL_MIN(blocks * o->bs, (uint64_t)1 << 30);
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (uint64_t done = 0; done < want; done += o->bs)
		if (add(v, n, &cap, rng_next(&seed) % blocks * o->bs, o->bs))
			return -ENOMEM;
	return 0;
}

/* ---- running it ---- */

struct iolog {
	FILE *f;
	const char *path;
};

static void trace_cmd(void *ctx, uint64_t off, uint64_t len)
{
	struct iolog *l = ctx;
	fprintf(l->f, "%s read %llu %llu\n", l->path, (unsigned long long)off, (unsigned long long)len);
}

struct slot {
	struct sl_io_req req;
	void *buf;
};

/* Stream the ranges through io with buffers from pool; a range waits for room in the pool. */
static int run(struct sl_io *io, struct sl_pool *pool, const struct range *v, size_t n,
	       uint64_t *bytes, struct sl_err *err)
{
	size_t max_slots = 4096;
	struct slot *slots = calloc(max_slots, sizeof(*slots));
	struct sl_io_req **done = calloc(max_slots, sizeof(*done));
	struct slot **free_slots = calloc(max_slots, sizeof(*free_slots));
	if (!slots || !done || !free_slots) {
		free(slots);
		free(done);
		free(free_slots);
		return sl_errf(err, ENOMEM, "out of memory");
	}
	size_t nfree = max_slots;
	for (size_t i = 0; i < max_slots; i++)
		free_slots[i] = &slots[max_slots - 1 - i];
	int ret = 0;
	size_t next = 0;
	*bytes = 0;
	while ((next < n || sl_io_outstanding(io)) && ret == 0) {
		/* queue as many as the pool and the slot table allow */
		while (next < n && nfree) {
			uint64_t aoff, alen, skip;
			sl_io_span(io, v[next].off, v[next].len, &aoff, &alen, &skip);
			struct slot *s = free_slots[nfree - 1];
			if (sl_pool_alloc(pool, alen, &s->buf, NULL) < 0) {
				if (!sl_io_outstanding(io)) {
					ret = sl_errf(err, ENOMEM, "a %llu-byte read does not fit the staging pool",
						      (unsigned long long)alen);
				}
				break;
			}
			nfree--;
			s->req = (struct sl_io_req){ .offset = v[next].off, .len = v[next].len,
						     .buf = s->buf, .user = s };
			struct sl_io_req *rp = &s->req;
			ret = sl_io_submit(io, &rp, 1, err);
			if (ret < 0)
				break;
			next++;
			/* keep a window: more than enough requests to fill the queue */
			if (sl_io_outstanding(io) >= 2 * sl_io_queue_depth(io))
				break;
		}
		if (ret < 0 || !sl_io_outstanding(io))
			continue;
		int k = sl_io_reap(io, 1, done, (unsigned)max_slots, err);
		if (k < 0) {
			ret = k;
			break;
		}
		for (int i = 0; i < k; i++) {
			struct slot *s = done[i]->user;
			if (done[i]->result < 0 && ret == 0)
				ret = (int)done[i]->result;
			else
				*bytes += done[i]->len;
			sl_pool_free(pool, s->buf);
			free_slots[nfree++] = s;
		}
	}
	/* on error, let what is in flight land before the buffers go */
	while (sl_io_outstanding(io)) {
		int k = sl_io_reap(io, 1, done, (unsigned)max_slots, NULL);
		if (k <= 0)
			break;
		for (int i = 0; i < k; i++)
			sl_pool_free(pool, ((struct slot *)done[i]->user)->buf);
	}
	free(slots);
	free(done);
	free(free_slots);
	return ret;
}

/* Map, lock and register the whole pool now, so a run measures reads, not page faults and mlock
 * (the slabs stay when their buffers are freed). */
static void warm_pool(struct sl_pool *pool, uint64_t budget)
{
	void **warm = calloc(budget / (2 << 20) + 1, sizeof(*warm));
	size_t k = 0;
	while (warm && sl_pool_alloc(pool, 2 << 20, &warm[k], NULL) == 0)
		k++;
	while (k)
		sl_pool_free(pool, warm[--k]);
	free(warm);
}

/* What the drive gives for this file read the way bench io reads by default: sequential 1 MiB
 * reads at queue depth 32 with O_DIRECT (the page cache cannot flatter it), `size` bytes from the
 * start (0: the whole file).  `sluice profile` states its bottleneck against this figure. */
int bench_io_probe(const char *path, const char *engine, uint64_t size, double *mb_per_s, struct sl_err *err)
{
	struct opts o = { .file = path, .engine = engine, .pattern = "seq", .bs = 1 << 20, .qd = 32, .size = size };
	struct sl_io_config cfg = { .queue_depth = 32, .max_request = o.bs };
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = path };
	struct sl_io *io = NULL;
	struct sl_pool *pool = NULL;
	struct range *v = NULL;
	size_t n = 0;
	int r = sl_io_open(engine, &src, &cfg, &io, err);
	if (r < 0)
		return r;
	if ((r = plan(&o, sl_io_file_size(io), &v, &n)) < 0 || n == 0) {
		r = sl_errf(err, ENODATA, "%s: too small to measure (%llu bytes)", path,
			    (unsigned long long)sl_io_file_size(io));
		goto out;
	}
	struct sl_pool_config pc = { .budget = 64 * SL_ALIGN_UP(o.bs + 8192, 4096) };
	if ((r = sl_pool_create(&pc, &pool, err)) < 0)
		goto out;
	warm_pool(pool, pc.budget); /* measure reads, not page faults and mlock */
	if ((r = sl_pool_attach_io(pool, io, err)) < 0)
		goto out;
	uint64_t bytes = 0, t0 = sl_now_ns();
	r = run(io, pool, v, n, &bytes, err);
	uint64_t dt = sl_now_ns() - t0;
	if (r >= 0)
		*mb_per_s = dt ? (double)bytes / 1e6 / ((double)dt / 1e9) : 0;
out:
	if (pool)
		sl_pool_destroy(pool);
	if (io)
		sl_io_close(io);
	free(v);
	return r < 0 ? r : 0;
}

int cmd_bench_io(int argc, char **argv)
{
	struct opts o;
	int pr = parse(argc, argv, &o);
	if (pr)
		return pr < 0 ? 0 : 1;
	struct sl_err err = { "" };
	if (!o.fault)
		o.fault = getenv("SLUICE_IO_FAULT");
	struct sl_io_config cfg = { .queue_depth = (uint32_t)o.qd, .max_request = o.bs,
				    .buffered = o.buffered, .fault = o.fault, .thread = o.thread };
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = o.file };
	struct sl_io *io = NULL;
	if (cli_check_input("bench io", o.file))
		return 1;
	int r = sl_io_open(o.engine, &src, &cfg, &io, &err);
	if (r < 0)
		return cli_error("bench io", "%s", err.msg);
	if (*sl_io_notice(io))
		fprintf(stderr, "sluice bench io: %s\n", sl_io_notice(io));

	struct range *v = NULL;
	size_t n = 0;
	r = plan(&o, sl_io_file_size(io), &v, &n);
	if (r < 0 || n == 0) {
		sl_io_close(io);
		free(v);
		return cli_error("bench io", "%s: nothing to read for pattern %s (file of %llu bytes)",
				 o.file, o.pattern, (unsigned long long)sl_io_file_size(io));
	}
	/* staging: enough for 2*qd requests in flight, and for the largest single range */
	uint64_t biggest = 0;
	for (size_t i = 0; i < n; i++)
		biggest = SL_MAX(biggest, v[i].len);
	uint64_t budget = SL_MAX((uint64_t)o.qd * 2 * SL_ALIGN_UP(o.bs + 8192, 4096),
				 SL_ALIGN_UP(biggest + 8192, 4096) * 2);
	struct sl_pool_config pc = { .budget = budget, .small_pages = o.small_pages };
	struct sl_pool *pool = NULL;
	if (sl_pool_create(&pc, &pool, &err) < 0) {
		sl_io_close(io);
		free(v);
		return cli_error("bench io", "%s", err.msg);
	}
	warm_pool(pool, budget);
	if (sl_pool_attach_io(pool, io, &err) < 0) {
		sl_pool_destroy(pool);
		sl_io_close(io);
		free(v);
		return cli_error("bench io", "%s", err.msg);
	}

	/* The iolog is written like every file sluice writes: a temporary file renamed over
	 * OUT when complete, never the benchmarked file itself (runtime/atomic_file.h). */
	struct iolog log = { NULL, o.file };
	struct sl_atomic_file af = { .fd = -1, .slot = -1 };
	if (o.iolog) {
		int lfd = -1;
		if (sl_atomic_file_open(&af, o.iolog, o.file, &err) < 0 || (lfd = dup(af.fd)) < 0 ||
		    !(log.f = fdopen(lfd, "w"))) {
			if (lfd >= 0)
				close(lfd);
			if (af.fd >= 0)
				snprintf(err.msg, sizeof(err.msg), "%s: %s", o.iolog, strerror(errno));
			sl_atomic_file_abort(&af);
			sl_pool_destroy(pool);
			sl_io_close(io);
			free(v);
			return cli_error("bench io", "%s", err.msg);
		}
		fprintf(log.f, "fio version 2 iolog\n%s add\n%s open\n", o.file, o.file);
		sl_io_set_trace(io, trace_cmd, &log);
	}

	sl_io_reset_stats(io);
	uint64_t bytes = 0, t0 = sl_now_ns();
	/* CPU time of the reads alone (all threads: an engine's own thread counts too), so an
	 * engine's set-up (opening a controller, pinning memory) does not blur CPU per GB. */
	double cpu0 = cpu_seconds();
	r = run(io, pool, v, n, &bytes, &err);
	uint64_t t1 = sl_now_ns();
	double cpu = cpu_seconds() - cpu0;
	if (log.f) {
		fprintf(log.f, "%s close\n", o.file);
		bool bad = ferror(log.f);
		if ((fclose(log.f) || bad) && r >= 0) {
			r = -EIO;
			snprintf(err.msg, sizeof(err.msg), "%s: write error: %s", o.iolog, strerror(errno ? errno : EIO));
		}
		if (r >= 0 && sl_atomic_file_commit(&af, &err) < 0)
			r = -EIO;
		sl_atomic_file_abort(&af); /* after a commit: nothing left to do */
	}
	struct sl_io_stats st;
	sl_io_get_stats(io, &st);
	struct sl_pool_stats ps;
	sl_pool_get_stats(pool, &ps);
	int status = 0;
	if (r < 0) {
		status = cli_error("bench io", "%s", err.msg);
	} else {
		double secs = (double)(t1 - t0) / 1e9;
		double mibs = (double)bytes / (1 << 20) / secs;
		double iops = (double)st.commands / secs;
		double p50 = sl_io_stats_quantile(&st, 0.50) / 1e3;
		double p99 = sl_io_stats_quantile(&st, 0.99) / 1e3;
		double p999 = sl_io_stats_quantile(&st, 0.999) / 1e3;
		double busy = st.busy_ns ? (double)st.busy_ns / (double)(t1 - t0) * 100 : 0;
		double avg_cmd = st.commands ? (double)st.bytes / (double)st.commands : 0;
		if (o.json) {
			/* Strings through the one JSON string writer, numbers through the one number
			 * writer (a run too short to time gives null, not inf): cli.h. */
			FILE *j = stdout;
			const struct { const char *key; double v; int dec; } nums[] = {
				{ "seconds", secs, 6 }, { "mib_per_s", mibs, 1 }, { "iops", iops, 1 },
				{ "avg_command_bytes", avg_cmd, 0 },
			};
			fputs("{\"file\":", j);
			cli_json_cstr(j, o.file);
			fputs(",\"engine\":", j);
			cli_json_cstr(j, sl_io_engine_name(io));
			fputs(",\"pattern\":", j);
			cli_json_cstr(j, o.pattern);
			fprintf(j, ",\"bs\":%llu,\"qd\":%ld,\"alignment\":%u,\"requests\":%zu,\"commands\":%llu,"
				   "\"bytes\":%llu",
				(unsigned long long)o.bs, o.qd, sl_io_alignment(io), n, (unsigned long long)st.commands,
				(unsigned long long)bytes);
			for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
				fprintf(j, ",\"%s\":", nums[k].key);
				cli_json_num(j, nums[k].v, nums[k].dec);
			}
			fputs(",\"lat_us\":{\"p50\":", j);
			cli_json_num(j, p50, 1);
			fputs(",\"p99\":", j);
			cli_json_num(j, p99, 1);
			fputs(",\"p999\":", j);
			cli_json_num(j, p999, 1);
			fputs("},\"busy_pct\":", j);
			cli_json_num(j, busy, 1);
			fputs(",\"cpu_s\":", j);
			cli_json_num(j, cpu, -6);
			fprintf(j, ",\"busy_retries\":%llu,\"pool_locked\":%s,\"notice\":",
				(unsigned long long)st.busy_retries, ps.locked ? "true" : "false");
			cli_json_cstr(j, sl_io_notice(io));
			fputs("}\n", j);
		} else {
			char sf[1024];
			printf("file      %s (%llu bytes)\n", cli_safe(o.file, strlen(o.file), sf, sizeof sf),
			       (unsigned long long)sl_io_file_size(io));
			printf("engine    %s  alignment %u  qd %u  bs %llu  pattern %s\n", sl_io_engine_name(io),
			       sl_io_alignment(io), sl_io_queue_depth(io), (unsigned long long)o.bs, o.pattern);
			printf("read      %llu bytes in %zu requests, %llu commands (avg %.0f KiB) in %.3f s\n",
			       (unsigned long long)bytes, n, (unsigned long long)st.commands, avg_cmd / 1024,
			       secs);
			printf("bandwidth %.1f MiB/s  (%.3f GB/s)\n", mibs, (double)bytes / 1e9 / secs);
			printf("iops      %.0f\n", iops);
			printf("latency   p50 %.0f us  p99 %.0f us  p99.9 %.0f us\n", p50, p99, p999);
			printf("busy      %.1f%% of the run with a command in flight\n", busy);
			printf("cpu       %.3f s user+sys during the reads, %.3f s per GB\n", cpu,
			       bytes ? cpu / ((double)bytes / 1e9) : 0.0);
			if (!ps.locked)
				printf("note      %s\n", sl_pool_notice(pool));
		}
	}
	sl_pool_detach_io(pool);
	sl_pool_destroy(pool);
	sl_io_close(io);
	free(v);
	return status;
}
