/* Every prefix of a valid file (header and data) is refused with a clean error, never a crash. */
#include "helpers/testutil.h"
#include "gguf.h"

#include <string.h>

int main(void)
{
	struct t_buf b = { 0 };
	uint64_t ne[2] = { 4, 2 };
	tb_header(&b, 3, 1, 2);
	tb_kv_str(&b, "general.architecture", "llama");
	tb_kv_u32(&b, "llama.block_count", 1);
	tb_tensor(&b, "w", 2, ne, 0 /* f32 */, 0);
	tb_pad(&b, 32);
	float data[8] = { 0 };
	tb_bytes(&b, data, sizeof(data));
	const char *full = tb_write(&b, "full.gguf");
	struct gguf_file *f;
	struct sl_err err;
	CHECK(sl_gguf_open(full, &f, &err) == 0);
	if (!t_failures)
		sl_gguf_close(f);
	size_t n = b.len;
	for (size_t len = 0; len < n; len++) {
		b.len = len;
		const char *p = tb_write(&b, "cut.gguf");
		int rc = sl_gguf_open(p, &f, &err);
		CHECK_MSG(rc < 0, "prefix of %zu bytes opened", len);
		if (rc >= 0)
			sl_gguf_close(f);
		else if (len >= 4)
			CHECK_MSG(strstr(err.msg, "truncated") || strstr(err.msg, "past the end") ||
					  strstr(err.msg, "cannot fit") || strstr(err.msg, "exceeds"),
				  "unclear message for %zu bytes: %s", len, err.msg);
	}
	printf("ok: %zu prefixes refused\n", n);
	tb_free(&b);
	return t_done();
}
