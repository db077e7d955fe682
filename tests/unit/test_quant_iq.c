/* SPDX-License-Identifier: MIT */
/*
 * test_quant_iq — the i-quants' scalar reference dots, and the iq4_nl /
 * iq4_xs quantizers.
 *
 * Dots: for random blocks w (random bits, finite scale) and activations v
 * quantized to the vec_dot_type, vec_dot(w, vq) must equal the float dot of
 * the two dequantized rows, sum(wd * vd), within 1e-5 * (1 + log2 n) *
 * sum|wd * vd|.  Why that bound: the dot sums each block's terms as exact
 * integers and rounds once per block, while each wd is a float product of
 * 3-4 factors (a few ulps); so the only differences are float roundings, and
 * a wrong index, sign, scale or delta is O(1) of the magnitude.  Also checked
 * against the unquantized v: within sum|wd| * (max q8 rounding step) plus the
 * above, the error q8 quantization of the activations can bring.
 *
 * Quantizers (no importance matrix, ggml's quantize_row_iq4_*_ref):
 * dequantize(quantize(x)) must be within the RMS error bound below of x on
 * gaussian rows, and all-zero input must stay zero.
 */
#include "test_quant_iq_util.h"

static void check_dot(const struct iq_case *c, int64_t nblk, int pattern)
{
	const struct sl_type_traits *t = sl_type_traits_scalar(c->type), *a = sl_type_traits(t->vec_dot_type);
	const int64_t n = nblk * t->block_size;
	unsigned char *w = malloc(nblk * t->type_size);
	void *vq = malloc(sl_row_size(t->vec_dot_type, n));
	float *wd = malloc(n * 4), *v = malloc(n * 4), *vd = malloc(n * 4);
	iq_random_blocks(c, t->type_size, w, (int)nblk);
	for (int64_t i = 0; i < n; i++)
		v[i] = pattern == 0 ? tq_normal() : pattern == 1 ? tq_normal() * 100.f + 3.f : (i % 37 ? 0.01f : 20.f) * tq_normal();
	a->from_float(v, vq, n);
	a->to_float(vq, vd, n);
	t->to_float(w, wd, n);
	double ref = 0, mag = 0, wabs = 0, vstep = 0;
	for (int64_t i = 0; i < n; i++) {
		ref += (double)wd[i] * vd[i];
		mag += fabs((double)wd[i] * vd[i]);
		wabs += fabs((double)wd[i]);
		vstep = fmax(vstep, fabs((double)v[i] - vd[i]));
	}
	float s = 0;
	t->vec_dot(n, &s, w, vq);
	const double tol = 1e-5 * (1 + log2((double)n)) * mag + 1e-30;
	CHECK_MSG(fabs(s - ref) <= tol, "%s n=%lld p=%d: vec_dot %.9g, dequantized dot %.9g (tol %.3g)", t->name,
		 (long long)n, pattern, s, ref, tol);
	double exact = 0;
	for (int64_t i = 0; i < n; i++)
		exact += (double)wd[i] * v[i];
	CHECK_MSG(fabs(s - exact) <= tol + wabs * vstep, "%s n=%lld p=%d: vec_dot %.9g, float dot %.9g", t->name,
		 (long long)n, pattern, s, exact);
	free(w), free(vq), free(wd), free(v), free(vd);
}

/* RMS of dequantize(quantize(x)) - x relative to RMS(x), gaussian rows: ggml's iq4_nl/xs land near 0.09;
 * the bound catches a broken quantizer (wrong levels or scales give > 0.3). */
static void check_quantizer(uint32_t type)
{
	const struct sl_type_traits *t = sl_type_traits(type);
	const int64_t n = 4096;
	float *x = malloc(n * 4), *y = malloc(n * 4);
	void *q = malloc(sl_row_size(type, n));
	double err = 0, ref = 0;
	for (int64_t i = 0; i < n; i++)
		x[i] = tq_normal() * (1 + (i / 512) * 10.f);
	CHECK_MSG(sl_quantize_rows(type, x, q, 1, n) == sl_row_size(type, n), "%s: quantize_rows", t->name);
	t->to_float(q, y, n);
	for (int64_t i = 0; i < n; i++) {
		err += (double)(y[i] - x[i]) * (y[i] - x[i]);
		ref += (double)x[i] * x[i];
	}
	const double rel = sqrt(err / ref);
	CHECK_MSG(rel < 0.12, "%s: relative RMS error %.4f", t->name, rel);
	printf("%s: quantize/dequantize relative RMS error %.4f\n", t->name, rel);
	memset(x, 0, n * 4);
	sl_quantize_rows(type, x, q, 1, n);
	t->to_float(q, y, n);
	for (int64_t i = 0; i < n; i++)
		if (y[i] != 0) {
			CHECK_MSG(0, "%s: zeros do not stay zero (%lld: %g)", t->name, (long long)i, y[i]);
			break;
		}
	free(x), free(y), free(q);
}

int main(void)
{
	int checked = 0;
	for (size_t c = 0; c < IQ_NCASES; c++) {
		const struct sl_type_traits *t = sl_type_traits_scalar(iq_cases[c].type);
		CHECK_MSG(t && t->to_float && t->vec_dot, "type %u: not registered or no dot", iq_cases[c].type);
		if (!t || !t->vec_dot)
			continue;
		const int64_t per = t->block_size == 32 ? 8 : 1; /* iq4_nl: 8 blocks per step */
		for (int64_t nb = 1; nb <= 12; nb++)
			for (int p = 0; p < 3; p++, checked++)
				check_dot(&iq_cases[c], nb * per, p);
		for (int p = 0; p < 3; p++, checked++)
			check_dot(&iq_cases[c], 43 * per, p);
	}
	printf("%d scalar dots checked against the dequantized dot\n", checked);
	check_quantizer(SL_TYPE_IQ4_NL);
	check_quantizer(SL_TYPE_IQ4_XS);
	return t_failures ? 1 : 0;
}
