/* SPDX-License-Identifier: MIT */
/*
 * test_quant_matmul — sl_quantize_activations + sl_matmul_rows: row ranges
 * split across threads give exactly the single-call result, which equals
 * vec_dot row by row, and agrees with a float64 product of the dequantized
 * operands; batches of 1..4 columns.  The CPU backend's matmul op (which runs
 * this same loop, rows split across its thread pool) gives exactly that result too.
 */
#include "test_quant_util.h"
#include "backend/backend.h"

#include <pthread.h>
#include <string.h>

struct job {
	uint32_t type;
	const void *w, *xq;
	int64_t cols, rows, r0, r1;
	int nb;
	float *y;
};

static void *worker(void *p)
{
	struct job *j = p;
	sl_matmul_rows(j->type, j->w, j->cols, j->r0, j->r1, j->xq, j->nb, j->y, j->rows);
	return NULL;
}

static struct sl_backend *be;

static void one(uint32_t type, int64_t rows, int64_t cols, int nb)
{
	const struct sl_type_traits *t = sl_type_traits(type), *a = sl_type_traits(t->vec_dot_type);
	if (cols % t->block_size)
		return;
	float *wf = malloc(rows * cols * 4), *x = malloc(nb * cols * 4), *wd = malloc(rows * cols * 4);
	float *xd = malloc(nb * cols * 4);
	size_t wrs = sl_row_size(type, cols);
	void *w = malloc(wrs * rows);
	for (int64_t i = 0; i < rows * cols; i++)
		wf[i] = tq_normal() * 0.05f;
	for (int64_t i = 0; i < nb * cols; i++)
		x[i] = tq_normal();
	CHECK_MSG(sl_quantize_rows(type, wf, w, rows, cols) == wrs * rows, "%s: sl_quantize_rows size", t->name);
	size_t scratch = sl_matmul_scratch_size(type, cols, nb);
	void *xq = malloc(scratch);
	sl_quantize_activations(type, x, cols, nb, xq);
	float *y1 = calloc(nb * rows, 4), *y2 = calloc(nb * rows, 4);
	sl_matmul_rows(type, w, cols, 0, rows, xq, nb, y1, rows);

	/* three uneven ranges on three threads */
	struct job jobs[3];
	pthread_t th[3];
	int64_t cut[4] = { 0, rows / 3 + 1, rows - rows / 5, rows };
	for (int k = 0; k < 3; k++) {
		jobs[k] = (struct job){ type, w, xq, cols, rows, cut[k], cut[k + 1], nb, y2 };
		pthread_create(&th[k], NULL, worker, &jobs[k]);
	}
	for (int k = 0; k < 3; k++)
		pthread_join(th[k], NULL);
	CHECK_MSG(!memcmp(y1, y2, nb * rows * 4), "%s %lldx%lld b=%d: threaded result differs", t->name,
		 (long long)rows, (long long)cols, nb);

	/* the backend op: same loop, its own row split and activation conversion */
	memset(y2, 0, nb * rows * 4);
	CHECK_MSG(be->ops->supports_op(be, SL_OP_MATMUL, type), "%s: cpu backend does not support matmul", t->name);
	int rc = be->ops->matmul(be, y2, w, type, rows, cols, x, nb);
	CHECK_MSG(rc == 0, "%s: backend matmul: %d %s", t->name, rc, be->err.msg);
	CHECK_MSG(!memcmp(y1, y2, nb * rows * 4), "%s %lldx%lld b=%d: backend matmul differs", t->name,
		 (long long)rows, (long long)cols, nb);

	/* vs vec_dot and vs float64 of dequantized operands */
	for (int64_t r = 0; r < rows; r++)
		t->to_float((char *)w + r * wrs, wd + r * cols, cols);
	size_t xrs = sl_row_size(t->vec_dot_type, cols);
	for (int b = 0; b < nb; b++)
		a->to_float((char *)xq + b * xrs, xd + b * cols, cols);
	for (int b = 0; b < nb; b++)
		for (int64_t r = 0; r < rows; r++) {
			float s;
			t->vec_dot(cols, &s, (char *)w + r * wrs, (char *)xq + b * xrs);
			CHECK_MSG(s == y1[b * rows + r], "%s: y != vec_dot at b=%d r=%lld", t->name, b, (long long)r);
			double ref = 0, mag = 0;
			for (int64_t c = 0; c < cols; c++) {
				ref += (double)wd[r * cols + c] * xd[b * cols + c];
				mag += fabs((double)wd[r * cols + c] * xd[b * cols + c]);
			}
			double tol = 4e-6 * (1 + log2((double)cols)) * mag;
			if (t->vec_dot_type == SL_TYPE_Q8_1)
				tol += 2e-3 * mag; /* fp16 s = d*sum(q) in q8_1 */
			CHECK_MSG(fabs(y1[b * rows + r] - ref) <= tol, "%s b=%d r=%lld: %.8g vs %.8g", t->name, b,
				 (long long)r, y1[b * rows + r], ref);
		}
	free(wf), free(x), free(wd), free(xd), free(w), free(xq), free(y1), free(y2);
}

int main(void)
{
	/* three threads, and rows * cols * batch above the backend's single-thread cut-off for
	 * the larger shapes, so its pool really splits the rows */
	struct sl_backend_config cfg = { .n_threads = 3 };
	struct sl_err err = { { 0 } };
	if (sl_backend_new("cpu", &cfg, &be, &err)) {
		fprintf(stderr, "FAIL: cpu backend: %s\n", err.msg);
		return 1;
	}
	for (size_t ti = 0; ti < TQ_NW; ti++) {
		one(tq_wtypes[ti], 37, 256, 1);
		one(tq_wtypes[ti], 64, 512, 3);
		one(tq_wtypes[ti], 19, 1536, 4);
		one(tq_wtypes[ti], 300, 512, 1);
	}
	sl_backend_free(be);
	printf("matmul (%s): %d failure(s)\n", sl_quant_isa(), t_failures);
	return t_failures ? 1 : 0;
}
