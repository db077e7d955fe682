/* Counts and lengths far beyond the file's size are refused before anything is allocated. */
#include "helpers/testutil.h"
#include "gguf.h"

int main(void)
{
	struct t_buf b = { 0 };
	tb_header(&b, 3, 0, UINT64_MAX / 2);
	t_expect_gguf_error(tb_write(&b, "kv.gguf"), "metadata count", NULL);
	tb_free(&b);

	tb_header(&b, 3, 1ull << 60, 0);
	t_expect_gguf_error(tb_write(&b, "tensors.gguf"), "tensor count", NULL);
	tb_free(&b);

	tb_header(&b, 3, 0, 1);
	tb_u64(&b, 1ull << 62); /* key length */
	tb_bytes(&b, "general.name", 12);
	t_expect_gguf_error(tb_write(&b, "keylen.gguf"), "string length", NULL);
	tb_free(&b);

	tb_header(&b, 3, 0, 1);
	tb_str(&b, "general.name");
	tb_u32(&b, GGUF_TYPE_STRING);
	tb_u64(&b, UINT64_MAX);
	t_expect_gguf_error(tb_write(&b, "strlen.gguf"), "string length", "general.name", NULL);
	tb_free(&b);

	tb_header(&b, 3, 0, 1);
	tb_str(&b, "tokenizer.ggml.tokens");
	tb_u32(&b, GGUF_TYPE_ARRAY);
	tb_u32(&b, GGUF_TYPE_STRING);
	tb_u64(&b, 1ull << 40);
	t_expect_gguf_error(tb_write(&b, "arr.gguf"), "array of", "tokenizer.ggml.tokens", NULL);
	tb_free(&b);

	tb_header(&b, 3, 0, 1);
	tb_str(&b, "x");
	tb_u32(&b, GGUF_TYPE_ARRAY);
	tb_u32(&b, GGUF_TYPE_UINT64);
	tb_u64(&b, (1ull << 61) + 1); /* n * 8 would wrap */
	t_expect_gguf_error(tb_write(&b, "wrap.gguf"), "array of", NULL);
	tb_free(&b);
	return t_done();
}
