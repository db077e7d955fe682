/* Dimensions whose product overflows, zero dimensions and too many dimensions are refused. */
#include "helpers/testutil.h"

int main(void)
{
	struct t_buf b = { 0 };
	uint64_t ne[4] = { 1ull << 32, 1ull << 32, 4, 1 };
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "big", 4, ne, 0, 0);
	tb_pad(&b, 32);
	t_expect_gguf_error(tb_write(&b, "ovf.gguf"), "overflow", NULL);
	tb_free(&b);

	uint64_t ne2[2] = { 1ull << 62, 1 }; /* fits in elements but not in bytes (f32) */
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "bytes", 2, ne2, 0, 0);
	tb_pad(&b, 32);
	t_expect_gguf_error(tb_write(&b, "ovf2.gguf"), "'bytes'", NULL);
	tb_free(&b);

	uint64_t ne3[2] = { 4, 0 };
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "zero", 2, ne3, 0, 0);
	tb_pad(&b, 32);
	t_expect_gguf_error(tb_write(&b, "zero.gguf"), "dimension 1 is 0", NULL);
	tb_free(&b);

	uint64_t ne4[5] = { 1, 1, 1, 1, 1 };
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "five", 5, ne4, 0, 0);
	tb_pad(&b, 32);
	t_expect_gguf_error(tb_write(&b, "ndims.gguf"), "5 dimensions", NULL);
	tb_free(&b);
	return t_done();
}
