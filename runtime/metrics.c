/* SPDX-License-Identifier: MIT */
/*
 * runtime/metrics.c — statistics as Prometheus text (exposition format 0.0.4).
 *
 * One formatter over struct sluice_stats, so that `sluice run --metrics`, `sluice profile` and a
 * server's /metrics (which sums the stats of its contexts and adds its own request metrics) print
 * the same names with the same meaning.  Counters end in _total, times are seconds, sizes bytes.
 */
#include "internal.h"
#include "sluice.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

struct out {
	char *buf;
	size_t len, pos; /* pos: bytes the full text needs so far (may pass len) */
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	int n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric(struct out *o, const char *name, const char *type, const char *help, double v)
{
	head(o, name, type, help);
	put(o, "%s %.17g\n", name, v);
}

static double sec(uint64_t ns)
{
	return (double)ns / 1e9;
}

SLUICE_API int sluice_stats_prometheus(const struct sluice_stats *st, char *buf, size_t len, size_t *out_len)
{
	if (!st || !out_len || (!buf && len))
		return -EINVAL;
	struct out o = { buf, len, 0 };
	head(&o, "sluice_tokens_total", "counter", "Tokens evaluated, by phase (prompt: calls of several tokens).");
	put(&o, "sluice_tokens_total{phase=\"prompt\"} %llu\n", (unsigned long long)st->prompt_tokens);
	put(&o, "sluice_tokens_total{phase=\"generation\"} %llu\n", (unsigned long long)st->gen_tokens);
	head(&o, "sluice_phase_seconds_total", "counter", "Time spent evaluating tokens, by phase.");
	put(&o, "sluice_phase_seconds_total{phase=\"prompt\"} %.9f\n", sec(st->prompt_ns));
	put(&o, "sluice_phase_seconds_total{phase=\"generation\"} %.9f\n", sec(st->gen_ns));
	metric(&o, "sluice_generation_tokens_per_second", "gauge", "Generated tokens per second so far.",
	       st->gen_ns ? (double)st->gen_tokens / sec(st->gen_ns) : 0.0);
	metric(&o, "sluice_load_seconds", "gauge", "Time the model took to load.", sec(st->load_ns));
	metric(&o, "sluice_weight_read_bytes_total", "counter", "Weight bytes read from storage since load.",
	       (double)st->bytes_read);
	metric(&o, "sluice_io_wait_seconds_total", "counter", "Time compute waited for weights.", sec(st->io_wait_ns));
	metric(&o, "sluice_io_busy_seconds_total", "counter", "Time the I/O engine had reads in flight.",
	       sec(st->io_busy_ns));
	metric(&o, "sluice_compute_seconds_total", "counter", "Time spent computing.", sec(st->compute_ns));
	metric(&o, "sluice_cache_hits_total", "counter", "Weight units found in memory when used.",
	       (double)st->cache_hits);
	metric(&o, "sluice_cache_misses_total", "counter", "Weight units read from storage when used.",
	       (double)st->cache_misses);
	uint64_t looks = st->cache_hits + st->cache_misses;
	metric(&o, "sluice_cache_hit_ratio", "gauge", "cache_hits / (cache_hits + cache_misses); 1 before any use.",
	       looks ? (double)st->cache_hits / (double)looks : 1.0);
	metric(&o, "sluice_prefetch_used_total", "counter", "Weight units read ahead and then used.",
	       (double)st->prefetch_used);
	metric(&o, "sluice_prefetch_wasted_total", "counter", "Weight units read ahead and evicted before their use.",
	       (double)st->prefetch_wasted);
	metric(&o, "sluice_host_cache_peak_bytes", "gauge", "Peak host weight cache in use.",
	       (double)st->host_cache_peak);
	metric(&o, "sluice_device_peak_bytes", "gauge", "Peak device memory in use.", (double)st->device_peak);
	metric(&o, "sluice_pressure_events_total", "counter", "Memory-pressure events acted on.",
	       (double)st->shrink_events);
	/* Mixture of experts (0 for a dense model; Documentation/moe.md). */
	metric(&o, "sluice_experts_routed_total", "counter",
	       "Routed experts chosen (distinct per MoE layer per forward chunk).", (double)st->experts_routed);
	metric(&o, "sluice_expert_hits_total", "counter", "Routed experts already in memory when chosen.",
	       (double)st->expert_hits);
	metric(&o, "sluice_expert_hit_ratio", "gauge", "expert_hits / experts_routed; 0 before any routing.",
	       st->experts_routed ? (double)st->expert_hits / (double)st->experts_routed : 0.0);
	metric(&o, "sluice_expert_read_bytes_total", "counter", "Bytes of expert slices read from storage.",
	       (double)st->expert_bytes_read);
	metric(&o, "sluice_expert_active_bytes_total", "counter",
	       "Bytes of the routed experts: the least any schedule reads or keeps.", (double)st->expert_bytes_active);
	metric(&o, "sluice_pregate_guesses_total", "counter", "Experts guessed ahead by pre-gating.",
	       (double)st->pregate_guesses);
	metric(&o, "sluice_pregate_correct_total", "counter", "Guessed experts the router then chose.",
	       (double)st->pregate_correct);
	metric(&o, "sluice_pregate_routed_total", "counter",
	       "Experts routed in layers that had a guess (pre-gating recall's denominator).", (double)st->pregate_routed);
	metric(&o, "sluice_moe_layer_passes_total", "counter", "MoE layers run (per forward chunk).",
	       (double)st->moe_layer_passes);
	*out_len = o.pos;
	if (o.pos >= len)
		return -ENOSPC;
	return 0;
}
