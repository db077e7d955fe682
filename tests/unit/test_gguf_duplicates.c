/* Duplicate metadata keys and duplicate tensor names are refused, naming the duplicate. */
#include "helpers/testutil.h"

int main(void)
{
	struct t_buf b = { 0 };
	tb_header(&b, 3, 0, 3);
	tb_kv_u32(&b, "llama.block_count", 1);
	tb_kv_str(&b, "general.name", "x");
	tb_kv_u32(&b, "llama.block_count", 2);
	t_expect_gguf_error(tb_write(&b, "dupkey.gguf"), "duplicate metadata key 'llama.block_count'", NULL);
	tb_free(&b);

	uint64_t ne[1] = { 8 };
	tb_header(&b, 3, 2, 0);
	tb_tensor(&b, "blk.0.ffn_up.weight", 1, ne, 0, 0);
	tb_tensor(&b, "blk.0.ffn_up.weight", 1, ne, 0, 32);
	tb_pad(&b, 32);
	float d[16] = { 0 };
	tb_bytes(&b, d, sizeof(d));
	t_expect_gguf_error(tb_write(&b, "dupt.gguf"), "duplicate tensor name 'blk.0.ffn_up.weight'", NULL);
	tb_free(&b);
	return t_done();
}
