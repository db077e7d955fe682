/* A tensor whose data runs past the end of the file is refused, naming the tensor. */
#include "helpers/testutil.h"

int main(void)
{
	struct t_buf b = { 0 };
	uint64_t ne[2] = { 64, 64 };
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "blk.0.attn_q.weight", 2, ne, 0, 0);
	tb_pad(&b, 32);
	float d[64] = { 0 }; /* one row of 64 present */
	tb_bytes(&b, d, sizeof(d));
	t_expect_gguf_error(tb_write(&b, "short.gguf"), "blk.0.attn_q.weight", "past the end", NULL);
	tb_free(&b);
	/* Offset itself beyond the file. */
	tb_header(&b, 3, 1, 0);
	tb_tensor(&b, "w", 1, ne, 0, 1ull << 40);
	tb_pad(&b, 32);
	t_expect_gguf_error(tb_write(&b, "far.gguf"), "past the end", NULL);
	tb_free(&b);
	return t_done();
}
