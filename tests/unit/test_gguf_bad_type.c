/* Unknown tensor types, rows not a multiple of the block size, and misaligned offsets are refused. */
#include "helpers/testutil.h"

int main(void)
{
	struct t_buf b = { 0 };
	uint64_t ne[2] = { 32, 1 };
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "w", 2, ne, 999, 0);
	tb_pad(&b, 32);
	t_expect_gguf_error(tb_write(&b, "type.gguf"), "unknown or unsupported tensor type 999", "'w'", NULL);
	tb_free(&b);

	uint64_t ne2[1] = { 31 };
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "q", 1, ne2, 8 /* q8_0, blocks of 32 */, 0);
	tb_pad(&b, 32);
	t_expect_gguf_error(tb_write(&b, "block.gguf"), "not a multiple of the q8_0 block size", NULL);
	tb_free(&b);

	uint64_t ne3[1] = { 4 };
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "m", 1, ne3, 0, 4);
	tb_pad(&b, 32);
	float d[16] = { 0 };
	tb_bytes(&b, d, sizeof(d));
	t_expect_gguf_error(tb_write(&b, "align.gguf"), "not a multiple of the alignment", NULL);
	tb_free(&b);

	tb_header(&b, 3, 0, 1);
	tb_kv_u32(&b, "general.alignment", 24);
	t_expect_gguf_error(tb_write(&b, "alignkey.gguf"), "general.alignment", NULL);
	tb_free(&b);

	tb_header(&b, 3, 0, 1);
	tb_str(&b, "k");
	tb_u32(&b, 77);
	t_expect_gguf_error(tb_write(&b, "vtype.gguf"), "unknown value type 77", NULL);
	tb_free(&b);
	return t_done();
}
