/* Two tensors sharing bytes of the data section are refused. */
#include "helpers/testutil.h"

int main(void)
{
	struct t_buf b = { 0 };
	uint64_t ne[1] = { 16 };
	tb_header(&b, 3, 2, 0);
	tb_tensor(&b, "a", 1, ne, 0, 0);
	tb_tensor(&b, "b", 1, ne, 0, 32); /* a spans [0, 64) */
	tb_pad(&b, 32);
	float d[32] = { 0 };
	tb_bytes(&b, d, sizeof(d));
	t_expect_gguf_error(tb_write(&b, "overlap.gguf"), "overlap", NULL);
	tb_free(&b);
	return t_done();
}
