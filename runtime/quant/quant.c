/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant.c — the type table and kernel dispatch.
 *
 * Tables are built once (pthread_once): the scalar reference kernels, always
 * present; an AVX2 table (scalar with its dots replaced by AVX2 versions) when
 * CPUID reports AVX2+FMA+F16C; an AVX-512 VNNI table (the AVX2 one with the
 * k-quant and i-quant dots that gain from 512-bit or VNNI replaced) when
 * CPUID also reports AVX-512 F/BW/VL/VNNI and XCR0 says the OS saves opmask
 * and ZMM state (kernels that need more — VBMI, BMI2 — check for it when they
 * register and leave the AVX2 dot in place without it).  The "best" table is the
 * widest of these, unless sluice_set_cpu_features() caps it ("avx2",
 * "scalar"); the library reads no environment (the CLI maps SLUICE_SIMD and
 * SLUICE_NO_SIMD to that call).  The best table is a pointer to one of the
 * three, swapped atomically, so a traits pointer taken before a change stays
 * valid and consistent.  Kernels live in one file per family
 * (quant_plain.c, quant_legacy.c, quant_k.c, quant_kdot.c, quant_avx2.c,
 * quant_avx512.c).
 */
#include "quant/blocks.h"
#include "quant/iq_blocks.h"
#include "sluice.h"

#include <errno.h>
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
	/* i-quants and ternary types (iq_*.c) */
	[SL_TYPE_IQ2_XXS] = { "iq2_xxs", QK_K, sizeof(struct block_iq2_xxs), true, SL_TYPE_Q8_K },
	[SL_TYPE_IQ2_XS] = { "iq2_xs", QK_K, sizeof(struct block_iq2_xs), true, SL_TYPE_Q8_K },
	[SL_TYPE_IQ2_S] = { "iq2_s", QK_K, sizeof(struct block_iq2_s), true, SL_TYPE_Q8_K },
	[SL_TYPE_IQ3_XXS] = { "iq3_xxs", QK_K, sizeof(struct block_iq3_xxs), true, SL_TYPE_Q8_K },
	[SL_TYPE_IQ3_S] = { "iq3_s", QK_K, sizeof(struct block_iq3_s), true, SL_TYPE_Q8_K },
	[SL_TYPE_IQ1_S] = { "iq1_s", QK_K, sizeof(struct block_iq1_s), true, SL_TYPE_Q8_K },
	[SL_TYPE_IQ1_M] = { "iq1_m", QK_K, sizeof(struct block_iq1_m), true, SL_TYPE_Q8_K },
	[SL_TYPE_IQ4_NL] = { "iq4_nl", QK4_NL, sizeof(struct block_iq4_nl), true, SL_TYPE_Q8_0 },
	[SL_TYPE_IQ4_XS] = { "iq4_xs", QK_K, sizeof(struct block_iq4_xs), true, SL_TYPE_Q8_K },
	[SL_TYPE_TQ1_0] = { "tq1_0", QK_K, sizeof(struct block_tq1_0), true, SL_TYPE_Q8_K },
	[SL_TYPE_TQ2_0] = { "tq2_0", QK_K, sizeof(struct block_tq2_0), true, SL_TYPE_Q8_K },
};

static struct sl_type_traits scalar_traits[SL_TYPE_COUNT];
static struct sl_type_traits avx2_traits[SL_TYPE_COUNT];
static struct sl_type_traits avx512_traits[SL_TYPE_COUNT];
static bool have_avx2, have_avx512;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* The widest family allowed (sluice_set_cpu_features), and what it resolved to on this CPU. */
enum isa_cap { CAP_SCALAR = 0, CAP_AVX2 = 1, CAP_AVX512 = 2 };
static int cap_level = CAP_AVX512; /* "auto": everything the CPU has */
static const struct sl_type_traits *best_traits = scalar_traits; /* atomic: one of the three tables */
static const char *active_isa = "scalar";                         /* atomic */

/* AVX-512 VNNI dots (quant_avx512.c); only call when cpu_has_avx512() said yes. */
void sl_quant_avx512_kernels(uint32_t type, struct sl_kernels *k);

/*
 * AVX-512 F/BW/VL/VNNI in CPUID, and the OS enabling their register state:
 * CPUID.1:ECX.OSXSAVE, then XCR0 bits 1-2 (SSE/AVX) and 5-7 (opmask, ZMM
 * upper halves, ZMM16-31).  XGETBV is issued directly rather than trusting
 * every compiler's __builtin_cpu_supports to have checked XCR0.
 */
static bool cpu_has_avx512(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
		return false;
	unsigned xlo, xhi;
	__asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
	(void)xhi;
	if ((xlo & 0xE6) != 0xE6)
		return false;
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
	return false;
#endif
}

static bool cpu_has_avx2(void)
{
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

/* Point the best table at the widest family the CPU has within the cap. */
static void choose(int cap)
{
	const struct sl_type_traits *t = scalar_traits;
	const char *name = "scalar";
	if (cap >= CAP_AVX512 && have_avx512)
		t = avx512_traits, name = "avx512vnni";
	else if (cap >= CAP_AVX2 && have_avx2)
		t = avx2_traits, name = "avx2";
	__atomic_store_n(&active_isa, name, __ATOMIC_RELEASE);
	__atomic_store_n(&best_traits, t, __ATOMIC_RELEASE);
}

static void build_tables(void)
{
	have_avx2 = cpu_has_avx2();
	have_avx512 = have_avx2 && cpu_has_avx512();
	for (uint32_t type = 0; type < SL_TYPE_COUNT; type++) {
		if (!descs[type].name)
			continue;
		struct sl_kernels k = { 0 };
		sl_quant_plain_kernels(type, &k);
		sl_quant_legacy_kernels(type, &k);
		sl_quant_k_kernels(type, &k);
		sl_quant_kdot_kernels(type, &k);
		sl_quant_iq_kernels(type, &k);
		fill(&scalar_traits[type], type, &k);
#if defined(__x86_64__) || defined(__i386__)
		if (have_avx2) {
			sl_quant_avx2_kernels(type, &k);
			sl_quant_iq_avx2_kernels(type, &k);
			fill(&avx2_traits[type], type, &k);
		}
		if (have_avx512) {
			sl_quant_avx512_kernels(type, &k);
			fill(&avx512_traits[type], type, &k);
		}
#endif
	}
	choose(__atomic_load_n(&cap_level, __ATOMIC_ACQUIRE));
}

SLUICE_API int sluice_set_cpu_features(const char *level)
{
	int cap;
	if (!level || !strcasecmp(level, "auto") || !strcasecmp(level, "avx512") || !strcasecmp(level, "avx512vnni"))
		cap = CAP_AVX512;
	else if (!strcasecmp(level, "avx2"))
		cap = CAP_AVX2;
	else if (!strcasecmp(level, "scalar"))
		cap = CAP_SCALAR;
	else
		return -EINVAL;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock); /* table and name change together */
	__atomic_store_n(&cap_level, cap, __ATOMIC_RELEASE);
	pthread_once(&tables_once, build_tables);
	choose(cap);
	pthread_mutex_unlock(&lock);
	return 0;
}

const struct sl_type_traits *sl_type_traits_isa(uint32_t type, const char *isa)
{
	pthread_once(&tables_once, build_tables);
	if (type >= SL_TYPE_COUNT || !descs[type].name || !isa)
		return NULL;
	if (!strcmp(isa, "scalar"))
		return &scalar_traits[type];
	if (!strcmp(isa, "avx2"))
		return have_avx2 ? &avx2_traits[type] : NULL;
	if (!strcmp(isa, "avx512vnni"))
		return have_avx512 ? &avx512_traits[type] : NULL;
	return NULL;
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
	const struct sl_type_traits *best = __atomic_load_n(&best_traits, __ATOMIC_ACQUIRE);
	if (type >= SL_TYPE_COUNT || !best[type].name)
		return NULL;
	return &best[type];
}

const char *sl_quant_isa(void)
{
	pthread_once(&tables_once, build_tables);
	return __atomic_load_n(&active_isa, __ATOMIC_ACQUIRE);
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
