/* The real models in shared/models parse, with the header facts SOURCES.md records. */
#include "helpers/testutil.h"
#include "gguf.h"
#include "quant/quant.h"

#include <string.h>

int main(void)
{
	struct gguf_file *f;
	struct sl_err err;
	const char *p = t_model("stories260K.gguf");
	CHECK_MSG(sl_gguf_open(p, &f, &err) == 0, "%s", err.msg);
	if (t_failures)
		return t_done();
	CHECK(f->version == 3 && f->n_kv == 19 && f->n_tensors == 48 && f->data_offset == 14176);
	uint64_t total = 0;
	for (uint64_t i = 0; i < f->n_tensors; i++)
		total += f->tensors[i].size;
	CHECK(total == 1171200);
	const struct gguf_tensor *t = sl_gguf_find_tensor(f, "blk.0.ffn_down.weight");
	CHECK(t && t->ne[0] == 172 && t->ne[1] == 64 && t->type == SL_TYPE_F32);
	uint32_t heads;
	CHECK(sl_gguf_get_u32(f, "llama.attention.head_count_kv", &heads, &err) == 0 && heads == 4);
	sl_gguf_close(f);

	p = t_model("llama-2-tiny-random.gguf");
	CHECK_MSG(sl_gguf_open(p, &f, &err) == 0, "%s", err.msg);
	if (t_failures)
		return t_done();
	CHECK(f->n_kv == 18 && f->n_tensors == 12 && f->data_offset == 724416);
	uint64_t n;
	const void *toks;
	CHECK(sl_gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &n, &toks, &err) == 0 && n == 32000);
	t = sl_gguf_find_tensor(f, "token_embd.weight");
	CHECK(t && t->type == SL_TYPE_F16 && t->ne[0] == 8 && t->ne[1] == 32000);
	sl_gguf_close(f);
	return t_done();
}
