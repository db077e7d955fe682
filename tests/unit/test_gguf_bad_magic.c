/* A file that does not start with "GGUF" is refused, naming the bytes found. */
#include "helpers/testutil.h"

int main(void)
{
	struct t_buf b = { 0 };
	tb_bytes(&b, "GGML", 4);
	tb_u32(&b, 3);
	tb_u64(&b, 0);
	tb_u64(&b, 0);
	t_expect_gguf_error(tb_write(&b, "magic.gguf"), "bad magic", NULL);
	tb_free(&b);
	tb_bytes(&b, "GG", 2); /* shorter than the magic itself */
	t_expect_gguf_error(tb_write(&b, "tiny.gguf"), "not a GGUF file", NULL);
	tb_free(&b);
	t_expect_gguf_error(tb_write(&b, "empty.gguf"), "not a GGUF file", NULL);
	return t_done();
}
