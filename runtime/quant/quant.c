/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant.c — the type table and kernel dispatch.
 *
 * Two tables are built once (pthread_once): the scalar reference kernels,
 * always present, and the "best" table, which starts as a copy of the scalar
 * one and has its dots / conversions replaced by AVX2 versions when CPUID
 * reports AVX2+FMA+F16C and SLUICE_NO_SIMD is not set to a non-zero value.
 * Kernels live in one file per family (quant_plain.c, quant_legacy.c,
 * quant_k.c, quant_kdot.c, quant_avx2.c).
 */
#include "quant/blocks.h"

#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct type_desc {
	const char *name;
	int64_t block_size;
	size_t type_size;
	bool quantized;
	uint32_t vec_dot_type;
};

/* Names as ggml spells them; vec_dot_type as documented in quant.h. */
static const struct type_desc descs[SL_TYPE_COUNT] = {
	[SL_TYPE_F32] = { "f32", 1, 4, false, SL_TYPE_F32 },
	[SL_TYPE_F16] = { "f16", 1, 2, false, SL_TYPE_F16 },
	[SL_TYPE_BF16] = { "bf16", 1, 2, false, SL_TYPE_BF16 },
	[SL_TYPE_Q4_0] = { "q4_0", QK4_0, sizeof(struct block_q4_0), true, SL_TYPE_Q8_0 },
	[SL_TYPE_Q4_1] = { "q4_1", QK4_1, sizeof(struct block_q4_1), true, SL_TYPE_Q8_1 },
	[SL_TYPE_Q5_0] = { "q5_0", QK5_0, sizeof(struct block_q5_0), true, SL_TYPE_Q8_0 },
	[SL_TYPE_Q5_1] = { "q5_1", QK5_1, sizeof(struct block_q5_1), true, SL_TYPE_Q8_1 },
	[SL_TYPE_Q8_0] = { "q8_0", QK8_0, sizeof(struct block_q8_0), true, SL_TYPE_Q8_0 },
	[SL_TYPE_Q8_1] = { "q8_1", QK8_1, sizeof(struct block_q8_1), true, SL_TYPE_Q8_1 },
	[SL_TYPE_Q2_K] = { "q2_K", QK_K, sizeof(struct block_q2_K), true, SL_TYPE_Q8_K },
	[SL_TYPE_Q3_K] = { "q3_K", QK_K, sizeof(struct block_q3_K), true, SL_TYPE_Q8_K },
	[SL_TYPE_Q4_K] = { "q4_K", QK_K, sizeof(struct block_q4_K), true, SL_TYPE_Q8_K },
	[SL_TYPE_Q5_K] = { "q5_K", QK_K, sizeof(struct block_q5_K), true, SL_TYPE_Q8_K },
	[SL_TYPE_Q6_K] = { "q6_K", QK_K, sizeof(struct block_q6_K), true, SL_TYPE_Q8_K },
	[SL_TYPE_Q8_K] = { "q8_K", QK_K, sizeof(struct block_q8_K), true, SL_TYPE_Q8_K },
};

static struct sl_type_traits scalar_traits[SL_TYPE_COUNT];
static struct sl_type_traits best_traits[SL_TYPE_COUNT];
static const char *active_isa = "scalar";
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static bool want_simd(void)
{
	const char *e = getenv("SLUICE_NO_SIMD");
	if (e && *e && strcmp(e, "0"))
		return false;
#if defined(__x86_64__) || defined(__i386__)
	/* __builtin_cpu_supports knows avx2 and fma everywhere but "f16c" only in newer
	 * compilers, so F16C (CPUID.1:ECX bit 29) is read directly. */
	unsigned a, b, c, d;
	__builtin_cpu_init();
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 29)))
		return false;
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return false;
#endif
}

static void fill(struct sl_type_traits *t, uint32_t type, const struct sl_kernels *k)
{
	const struct type_desc *d = &descs[type];
	*t = (struct sl_type_traits){ d->name, d->block_size, d->type_size, d->quantized, k->to_float,
				      k->from_float, d->vec_dot_type, k->vec_dot };
}

static void build_tables(void)
{
	bool simd = want_simd();
	for (uint32_t type = 0; type < SL_TYPE_COUNT; type++) {
		if (!descs[type].name)
			continue;
		struct sl_kernels k = { 0 };
		sl_quant_plain_kernels(type, &k);
		sl_quant_legacy_kernels(type, &k);
		sl_quant_k_kernels(type, &k);
		sl_quant_kdot_kernels(type, &k);
		fill(&scalar_traits[type], type, &k);
#if defined(__x86_64__) || defined(__i386__)
		if (simd)
			sl_quant_avx2_kernels(type, &k);
#endif
		fill(&best_traits[type], type, &k);
	}
	if (simd)
		active_isa = "avx2";
}

const struct sl_type_traits *sl_type_traits_scalar(uint32_t type)
{
	pthread_once(&tables_once, build_tables);
	if (type >= SL_TYPE_COUNT || !scalar_traits[type].name)
		return NULL;
	return &scalar_traits[type];
}

const struct sl_type_traits *sl_type_traits(uint32_t type)
{
	pthread_once(&tables_once, build_tables);
	if (type >= SL_TYPE_COUNT || !best_traits[type].name)
		return NULL;
	return &best_traits[type];
}

const char *sl_quant_isa(void)
{
	pthread_once(&tables_once, build_tables);
	return active_isa;
}

const char *sl_type_name(uint32_t type)
{
	const struct sl_type_traits *t = sl_type_traits(type);
	return t ? t->name : "unknown";
}

int sl_type_from_name(const char *name)
{
	for (uint32_t i = 0; i < SL_TYPE_COUNT; i++)
		if (descs[i].name && !strcasecmp(descs[i].name, name))
			return (int)i;
	return -1;
}

size_t sl_row_size(uint32_t type, int64_t n)
{
	if (type >= SL_TYPE_COUNT || !descs[type].name || n < 0 || n % descs[type].block_size)
		return 0;
	return (size_t)(n / descs[type].block_size) * descs[type].type_size;
}

size_t sl_quantize_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row)
{
	const struct sl_type_traits *t = sl_type_traits(type);
	size_t rs = sl_row_size(type, n_per_row);
	if (!t || !t->from_float || !rs)
		return 0;
	for (int64_t r = 0; r < nrows; r++)
		t->from_float(src + r * n_per_row, (char *)dst + (size_t)r * rs, n_per_row);
	return rs * (size_t)nrows;
}
