/* SPDX-License-Identifier: MIT */
/* runtime/cache/plan_model.c — a model's weight units from its GGUF header, and the plan's cost model
 * (plan_model.h; the model is written down in Documentation/plan.md). */
#include "cache/plan_model.h"
#include "gguf.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const sl_unit_class_names[SL_CLASS_COUNT] = { "globals", "attention", "dense FFN",
							  "shared experts", "router", "routed experts" };

static bool has(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

/* "blk.N.rest": N, and *rest; -1 when the name has no layer. */
static long layer_of(const char *name, const char **rest)
{
	*rest = name;
	if (strncmp(name, "blk.", 4))
		return -1;
	const char *p = name + 4;
	long v = 0;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 1 << 20)
			return -2;
	}
	if (*p != '.')
		return -1;
	*rest = p + 1;
	return v;
}

static uint8_t class_of(long layer, const char *rest, bool expert)
{
	if (layer < 0)
		return SL_CLASS_GLOBAL;
	if (expert)
		return SL_CLASS_EXPERT;
	if (!strncmp(rest, "attn_", 5))
		return SL_CLASS_ATTN;
	if (has(rest, "_shexp"))
		return SL_CLASS_SHARED;
	if (!strncmp(rest, "ffn_gate_inp", 12) || !strncmp(rest, "exp_probs_b", 11))
		return SL_CLASS_ROUTER;
	return SL_CLASS_DENSE_FFN;
}

static uint64_t span_of(uint64_t off, uint64_t size, uint64_t a)
{
	uint64_t lo = off / a * a, hi = SL_ALIGN_UP(off + size, a);
	return SL_ALIGN_UP(hi - lo, 4096);
}

static int arch_u32(const struct gguf_file *f, const char *arch, const char *key, uint32_t *out, struct sl_err *err)
{
	char k[96];
	snprintf(k, sizeof k, "%s.%s", arch, key);
	return sl_gguf_get_u32(f, k, out, err);
}

int sl_model_units(const struct gguf_file *f, uint32_t align, struct sl_model_units *out, struct sl_err *err)
{
	memset(out, 0, sizeof(*out));
	const uint64_t a = align ? align : 4096;
	const char *arch = NULL;
	if (sl_gguf_get_str(f, "general.architecture", &arch, NULL) || !arch || !*arch)
		return sl_errf(err, EINVAL, "%s: no general.architecture", f->path);
	snprintf(out->arch, sizeof out->arch, "%s", arch);
	uint32_t blocks = 0, used = 0, n_exp = 0;
	int rc = arch_u32(f, out->arch, "block_count", &blocks, err);
	if (rc == -EINVAL)
		return rc;
	if (rc || !blocks || blocks > 4096)
		return sl_errf(err, EINVAL, "%s: no usable %s.block_count", f->path, out->arch);
	if ((rc = arch_u32(f, out->arch, "expert_used_count", &used, err)) == -EINVAL ||
	    (rc = arch_u32(f, out->arch, "expert_count", &n_exp, err)) == -EINVAL)
		return rc;
	out->n_layers = (int)blocks;

	/* Count the units first. */
	uint64_t n = 0;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		const char *rest;
		long l = layer_of(t->name.s, &rest);
		if (l >= (long)blocks || l == -2)
			return sl_errf(err, EINVAL, "%s: tensor '%s' belongs to layer %ld but %s.block_count is %u", f->path,
				       t->name.s, l, out->arch, blocks);
		bool exps = t->n_dims == 3 && has(rest, "_exps");
		if (exps && l < 0)
			return sl_errf(err, EINVAL, "%s: expert tensor '%s' is not in a layer", f->path, t->name.s);
		if (exps) {
			if (t->ne[2] <= 0 || t->ne[2] > 65536 || t->size % (uint64_t)t->ne[2])
				return sl_errf(err, EINVAL, "%s: expert tensor '%s' has %lld experts", f->path, t->name.s,
					       (long long)t->ne[2]);
			if (n_exp && (uint64_t)t->ne[2] != n_exp)
				return sl_errf(err, EINVAL, "%s: expert tensor '%s' has %lld experts but %s.expert_count is %u",
					       f->path, t->name.s, (long long)t->ne[2], out->arch, n_exp);
			n_exp = (uint32_t)t->ne[2];
			n += (uint64_t)t->ne[2];
		} else
			n++;
	}
	if (n > INT32_MAX / 2)
		return sl_errf(err, EINVAL, "%s: too many weight units (%llu)", f->path, (unsigned long long)n);
	out->u = calloc(n ? n : 1, sizeof(*out->u));
	out->cls = calloc(n ? n : 1, 1);
	out->use = calloc(n ? n : 1, sizeof(*out->use));
	out->expert_bytes = calloc(blocks, sizeof(uint64_t));
	if (!out->u || !out->cls || !out->use || !out->expert_bytes) {
		sl_model_units_free(out);
		return sl_errf(err, ENOMEM, "out of memory for %llu units", (unsigned long long)n);
	}
	out->first_moe = (int)blocks;
	int k = 0;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		const char *rest;
		long l = layer_of(t->name.s, &rest);
		bool exps = t->n_dims == 3 && has(rest, "_exps");
		out->n_params += (uint64_t)sl_gguf_tensor_nelements(t);
		out->tensor_bytes += t->size;
		if (!exps) {
			out->u[k] = (struct sl_place_unit){ t->size, span_of(t->file_offset, t->size, a), (int)l, -1 };
			out->cls[k] = class_of(l, rest, false);
			/* an embedding table: a token reads its row */
			out->use[k] = !strcmp(t->name.s, "token_embd.weight") && t->n_dims == 2 && t->ne[1] > 0
					      ? t->size / (uint64_t)t->ne[1]
					      : t->size;
			k++;
			continue;
		}
		const uint64_t slice = t->size / (uint64_t)t->ne[2];
		for (int64_t e = 0; e < t->ne[2]; e++, k++) {
			out->u[k] = (struct sl_place_unit){ slice, span_of(t->file_offset + (uint64_t)e * slice, slice, a),
							    (int)l, (int)e };
			out->cls[k] = SL_CLASS_EXPERT;
			out->use[k] = slice;
		}
		out->expert_bytes[l] += slice;
		out->first_moe = SL_MIN(out->first_moe, (int)l);
	}
	out->n = k;
	if (out->first_moe < (int)blocks) {
		if (!used || used > n_exp) {
			int r = sl_errf(err, EINVAL, "%s: the model has %u experts per layer but %s.expert_used_count is %u",
					f->path, n_exp, out->arch, used);
			sl_model_units_free(out);
			return r;
		}
		out->n_expert = (int)n_exp;
		out->experts_used = (int)used;
	}
	for (uint32_t l = 0; l < blocks; l++)
		out->expert_bytes_max = SL_MAX(out->expert_bytes_max, out->expert_bytes[l]);
	return 0;
}

void sl_model_units_free(struct sl_model_units *m)
{
	if (!m)
		return;
	free(m->u);
	free(m->cls);
	free(m->use);
	free(m->expert_bytes);
	memset(m, 0, sizeof(*m));
}

int sl_plan_cost(const struct sl_plan_cost_in *in, struct sl_plan_cost *out, struct sl_err *err)
{
	memset(out, 0, sizeof(*out));
	const struct sl_model_units *m = in->m;
	const struct sl_place_plan *p = in->plan;
	if (!m || !p || !p->where)
		return sl_errf(err, EINVAL, "plan cost: no model or no placement");
	if (!(in->bw.disk > 0) || !(in->bw.compute > 0) || (in->device_copy && !(in->bw.pcie > 0)))
		return sl_errf(err, EINVAL, "plan cost: bandwidths must be positive");
	const int L = m->n_layers;
	/* Per layer: expert bytes placed DEVICE / HOST / STREAM (for the uniform estimate). */
	double *dev = calloc((size_t)L, sizeof(double)), *host = calloc((size_t)L, sizeof(double)),
	       *str = calloc((size_t)L, sizeof(double));
	if (!dev || !host || !str) {
		free(dev), free(host), free(str);
		return sl_errf(err, ENOMEM, "out of memory");
	}
	double streamed_experts = 0; /* expert-sized bytes that stream, over all layers */
	for (int i = 0; i < m->n; i++) {
		const struct sl_place_unit *u = &m->u[i];
		const uint8_t w = p->where[i];
		if (u->expert >= 0) {
			(w == SL_PLACE_DEVICE ? dev : w == SL_PLACE_HOST ? host : str)[u->layer] += (double)u->size;
			if (w == SL_PLACE_STREAM)
				streamed_experts += (double)u->size;
			continue;
		}
		const double use = (double)m->use[i];
		out->active += use;
		if (w == SL_PLACE_DEVICE)
			out->from_device += use;
		else {
			out->from_host += use;
			if (in->device_copy)
				out->pcie += (double)u->size;
		}
		if (w == SL_PLACE_STREAM) {
			out->disk_dense += (double)u->size;
			out->active_min += (double)u->size;
		}
	}
	/* Streamed experts, in experts: the dynamic cache holds this fraction of them. */
	double dyn_frac = 0;
	if (m->expert_bytes_max && streamed_experts > 0) {
		double n_str = 0;
		for (int l = 0; l < L; l++)
			if (m->expert_bytes[l])
				n_str += str[l] / (double)m->expert_bytes[l];
		dyn_frac = n_str > 0 ? SL_MIN(1.0, (double)in->dyn_cache_experts / n_str) : 0;
	}
	const double k = SL_MIN(m->experts_used, m->n_expert);
	double uses = 0, hits = 0;
	for (int l = 0; l < L; l++) {
		const double eb = (double)m->expert_bytes[l];
		const double all = dev[l] + host[l] + str[l];
		if (!eb || !(all > 0))
			continue;
		double hit, dhit;
		if (in->hit) {
			hit = in->hit[l];
			dhit = in->dev_hit ? in->dev_hit[l] : dev[l] / all;
		} else {
			const double placed = (dev[l] + host[l]) / all;
			hit = placed + (1 - placed) * dyn_frac;
			dhit = dev[l] / all;
		}
		hit = SL_MAX(0.0, SL_MIN(1.0, hit));
		dhit = SL_MAX(0.0, SL_MIN(hit, dhit));
		const double act = k * eb;
		out->active += act;
		out->active_min += act;
		out->from_device += act * dhit;
		out->from_host += act * (1 - dhit);
		if (in->whole_layers) {
			out->disk_experts += str[l];
			if (in->device_copy)
				out->pcie += host[l] + str[l];
		} else {
			out->disk_experts += act * (1 - hit);
			if (in->device_copy)
				out->pcie += act * (1 - dhit);
			if (in->pregate > 0 && str[l] > 0) {
				const double p = SL_MAX(0.0, SL_MIN(1.0, in->pregate_precision));
				const double waste = SL_MIN((double)in->pregate, (double)m->n_expert) * (1 - p) * eb;
				out->disk_pregate += waste;
				out->disk_experts += waste;
			}
		}
		uses += k;
		hits += k * hit;
	}
	free(dev), free(host), free(str);
	out->expert_hit = uses > 0 ? hits / uses : 1.0;
	out->disk = out->disk_dense + out->disk_experts;
	out->t_disk = out->disk / in->bw.disk;
	out->t_pcie = in->device_copy ? out->pcie / in->bw.pcie : 0;
	out->t_compute = out->active / in->bw.compute;
	const double ser = SL_MAX(0.0, SL_MIN(1.0, in->expert_serial));
	out->t_serial_exp = ser * out->disk_experts / in->bw.disk;
	const double t_disk_ov = out->t_disk - out->t_serial_exp;
	const double t_ov = SL_MAX(t_disk_ov, SL_MAX(out->t_pcie, out->t_compute));
	out->t_token = t_ov + out->t_serial_exp;
	out->bound = t_ov == out->t_compute && out->t_compute >= out->t_serial_exp ? "compute"
		     : t_ov == out->t_pcie && out->t_pcie > t_disk_ov                  ? "pcie"
										       : "disk";
	out->t_serial = out->t_disk + out->t_pcie + out->t_compute;
	out->tok_s = out->t_token > 0 ? 1.0 / out->t_token : 0;
	out->tok_s_serial = out->t_serial > 0 ? 1.0 / out->t_serial : 0;
	return 0;
}
