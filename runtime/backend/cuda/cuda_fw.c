/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cuda/cuda_fw.c — load the firmware (firmware/embed.h's PTX) into the device's
 * context and look its kernels up (names per firmware/kernels.h).
 *
 * The PTX is the newest the device runs: compute_90 for compute capability 9.0 and up, compute_80
 * for 8.x; older devices are refused by name.  The driver JIT-compiles it at load; its log is
 * part of the message when that fails.  A weight type whose kernels the module lacks is simply
 * unsupported (supports_op says so, and the engine refuses such a model by name); a missing
 * core kernel (rmsnorm, attention, ...) is a broken firmware build and fails the backend.
 */
#include "backend/cuda/cuda.h"
#include "firmware/embed.h"
#include "firmware/kernels.h"

#include <string.h>

static const struct {
	uint32_t type;
	const char *name;
} fw_types[] = {
	{ SL_TYPE_F32, "f32" },   { SL_TYPE_F16, "f16" },   { SL_TYPE_BF16, "bf16" }, { SL_TYPE_Q8_0, "q8_0" },
	{ SL_TYPE_Q4_0, "q4_0" }, { SL_TYPE_Q4_1, "q4_1" }, { SL_TYPE_Q5_0, "q5_0" }, { SL_TYPE_Q5_1, "q5_1" },
	{ SL_TYPE_Q2_K, "q2_K" }, { SL_TYPE_Q3_K, "q3_K" }, { SL_TYPE_Q4_K, "q4_K" }, { SL_TYPE_Q5_K, "q5_K" },
	{ SL_TYPE_Q6_K, "q6_K" },
};

/* Activation conversions, by the vec_dot_type they produce. */
static const struct {
	uint32_t type;
	const char *kernel;
} fw_convs[] = {
	{ SL_TYPE_Q8_0, "sl_quantize_q8_0" }, { SL_TYPE_Q8_1, "sl_quantize_q8_1" }, { SL_TYPE_Q8_K, "sl_quantize_q8_K" },
	{ SL_TYPE_F16, "sl_convert_f16" },    { SL_TYPE_BF16, "sl_convert_bf16" },
};

const char *sl_cuda_fw_type(uint32_t type)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(fw_types); i++)
		if (fw_types[i].type == type)
			return fw_types[i].name;
	return NULL;
}

/* A kernel by name; *f = NULL and 0 when the module does not have it. */
static int get_fn(struct sl_backend *b, const char *name, CUfunction *f, struct sl_err *err)
{
	struct cuda *c = b->priv;
	CUresult r = c->cu->cuModuleGetFunction(f, c->mod, name);
	if (r == CUDA_ERROR_NOT_FOUND) {
		*f = NULL;
		return 0;
	}
	return r ? sl_cuda_fail(c->cu, r, err, "cuModuleGetFunction(%s)", name) : 0;
}

static int need_fn(struct sl_backend *b, const char *name, CUfunction *f, struct sl_err *err)
{
	int rc = get_fn(b, name, f, err);
	if (!rc && !*f)
		rc = sl_errf(err, ENOENT, "the CUDA firmware has no kernel %s (a broken build of firmware/)", name);
	return rc;
}

int sl_cuda_fw_load(struct sl_backend *b, struct sl_err *err)
{
	struct cuda *c = b->priv;
	const char *ptx;
	size_t len;
	if (c->cc_major >= 9) {
		ptx = sl_fw_ptx_compute_90, len = sl_fw_ptx_compute_90_len;
	} else if (c->cc_major >= 8) {
		ptx = sl_fw_ptx_compute_80, len = sl_fw_ptx_compute_80_len;
	} else {
		return sl_errf(err, ENOTSUP,
			       "CUDA device %d (%s) has compute capability %d.%d; sluice's firmware needs 8.0 or newer",
			       c->ordinal, c->dev_name, c->cc_major, c->cc_minor);
	}
	if (!len)
		return sl_errf(err, ENOEXEC, "firmware missing: libsluice was built without nvcc");
	char log[2048] = "";
	int opts[2] = { CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES };
	void *vals[2] = { log, (void *)(uintptr_t)sizeof(log) };
	CUresult r = c->cu->cuModuleLoadDataEx(&c->mod, ptx, 2, opts, vals);
	if (r) {
		log[sizeof(log) - 1] = 0;
		int rc = sl_cuda_fail(c->cu, r, err, "cuModuleLoadDataEx(firmware PTX for compute_%d0, %zu bytes)",
				      c->cc_major >= 9 ? 9 : 8, len);
		if (log[0]) {
			char *nl = strchr(log, '\n');
			if (nl)
				*nl = 0;
			size_t l = strlen(err->msg);
			snprintf(err->msg + l, sizeof(err->msg) - l, " (JIT: %s)", log);
		}
		c->mod = NULL;
		return rc;
	}
	int rc = 0;
	for (size_t i = 0; i < SL_ARRAY_SIZE(fw_convs) && !rc; i++)
		rc = get_fn(b, fw_convs[i].kernel, &c->conv[fw_convs[i].type], err);
	for (size_t i = 0; i < SL_ARRAY_SIZE(fw_types) && !rc; i++) {
		char name[64];
		snprintf(name, sizeof(name), "sl_mmv_%s", fw_types[i].name);
		rc = get_fn(b, name, &c->mmv[fw_types[i].type], err);
		snprintf(name, sizeof(name), "sl_mmv_conv_%s", fw_types[i].name);
		if (!rc)
			rc = get_fn(b, name, &c->mmv_conv[fw_types[i].type], err);
		snprintf(name, sizeof(name), "sl_get_rows_%s", fw_types[i].name);
		if (!rc)
			rc = get_fn(b, name, &c->get_rows[fw_types[i].type], err);
	}
	if (!rc)
		rc = need_fn(b, "sl_rmsnorm", &c->rmsnorm, err);
	if (!rc)
		rc = need_fn(b, "sl_rope", &c->rope, err);
	if (!rc)
		rc = need_fn(b, "sl_attention", &c->attention, err);
	if (!rc)
		rc = need_fn(b, "sl_silu_mul", &c->silu_mul, err);
	if (!rc)
		rc = need_fn(b, "sl_add", &c->add, err);
	if (!rc)
		rc = need_fn(b, "sl_attention_split", &c->attn_split, err);
	if (!rc)
		rc = need_fn(b, "sl_attention_combine", &c->attn_combine, err);
	if (!rc)
		rc = need_fn(b, "sl_mla_kv", &c->mla_kv, err);
	if (!rc)
		rc = need_fn(b, "sl_mla_attention", &c->mla_attention, err);
	if (!rc)
		rc = need_fn(b, "sl_add_rows", &c->add_rows, err);
	if (!rc)
		rc = need_fn(b, "sl_mla_q", &c->mla_q, err);
	if (!rc)
		rc = need_fn(b, "sl_mla_split", &c->mla_split, err);
	if (!rc)
		rc = need_fn(b, "sl_mla_combine", &c->mla_combine, err);
	return rc;
}

void sl_cuda_fw_unload(struct sl_backend *b)
{
	struct cuda *c = b->priv;
	if (c->mod)
		c->cu->cuModuleUnload(c->mod);
	c->mod = NULL;
}
