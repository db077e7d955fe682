/* GGUF v1 (the real obsolete file in shared/models, and a crafted one), v4 and big-endian files are refused clearly. */
#include "helpers/testutil.h"

int main(void)
{
	struct t_buf b = { 0 };
	tb_bytes(&b, "GGUF", 4);
	tb_u32(&b, 1);
	tb_u32(&b, 0);
	tb_u32(&b, 0);
	t_expect_gguf_error(tb_write(&b, "v1.gguf"), "version 1 is obsolete", NULL);
	tb_free(&b);
	tb_header(&b, 4, 0, 0);
	t_expect_gguf_error(tb_write(&b, "v4.gguf"), "unsupported GGUF version 4", NULL);
	tb_free(&b);
	tb_header(&b, 0x03000000u, 0, 0);
	t_expect_gguf_error(tb_write(&b, "be.gguf"), "big-endian", NULL);
	tb_free(&b);
	if (t_models_dir())
		t_expect_gguf_error(t_model("tinyllamas-stories-260k-f32.gguf"), "version 1 is obsolete", NULL);
	return t_done();
}
