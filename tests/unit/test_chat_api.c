/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_chat_api.c — the public chat functions (sluice_chat_template, _render,
 * sluice_tokenize_special, sluice_token_is_eot) on generated Llama-3-style and qwen2 models:
 * the template recognised, the rendered text, the buffer-size protocol, special tokens parsed
 * from the text, end-of-turn tokens found by text, and NULL or bad arguments refused.
 */
#include "helpers/testutil.h"
#include "model/synth.h"
#include "quant/quant.h"
#include "sluice.h"

#include <string.h>
#include <unistd.h>

static struct sluice_model *gen(const char *arch, const char *name)
{
	struct sl_synth_params p = { .size_bytes = 1 << 20, .type = SL_TYPE_F32, .seed = 2, .arch = arch, .bpe = true,
				     .n_embd = 64, .n_layer = 1 };
	struct sl_err err = { "" };
	const char *path = t_tmp_path(name);
	struct sluice_model *m = NULL;
	char e[256];
	if (sl_synth_plan(&p, &err) || sl_synth_write(&p, path, NULL, NULL, &err) || sluice_model_load(path, NULL, &m, e, sizeof e)) {
		fprintf(stderr, "FAIL: %s: %s\n", name, err.msg[0] ? err.msg : e);
		t_failures++;
	}
	unlink(path);
	return m;
}

int main(void)
{
	struct sluice_model *l3 = gen("llama", "api-l3.gguf"), *q = gen("qwen2", "api-q.gguf");
	if (!l3 || !q)
		return t_done();
	CHECK(!strcmp(sluice_chat_template(l3), "llama3"));
	CHECK(!strcmp(sluice_chat_template(q), "chatml"));
	CHECK(sluice_chat_template(NULL) == NULL);

	const struct sluice_chat_message msgs[] = { { "system", "S" }, { "user", "Hi <|eot_id|>" } };
	char buf[512], err[256];
	size_t n = 0;
	CHECK(sluice_chat_render(l3, NULL, msgs, 2, true, buf, sizeof buf, &n, err, sizeof err) == 0);
	const char *want = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
			   "<|start_header_id|>user<|end_header_id|>\n\nHi <|eot_id|><|eot_id|>"
			   "<|start_header_id|>assistant<|end_header_id|>\n\n";
	CHECK_MSG(n == strlen(want) && !strcmp(buf, want), "got [%s]", buf);
	/* too small: -ENOSPC and the length; a count-only call */
	size_t need = 0;
	CHECK(sluice_chat_render(l3, NULL, msgs, 2, true, buf, n, &need, err, sizeof err) == -ENOSPC && need == n);
	CHECK(strstr(err, "needs") != NULL);
	CHECK(sluice_chat_render(l3, NULL, msgs, 2, true, NULL, 0, &need, NULL, 0) == -ENOSPC && need == n);
	/* an override; errors */
	CHECK(sluice_chat_render(q, "plain", msgs, 2, false, buf, sizeof buf, &n, err, sizeof err) == 0);
	CHECK_MSG(!strcmp(buf, "S\n\nUser: Hi <|eot_id|>\n"), "plain: [%s]", buf);
	CHECK(sluice_chat_render(q, "jinja", msgs, 2, true, buf, sizeof buf, &n, err, sizeof err) == -EINVAL);
	CHECK(strstr(err, "'jinja'") != NULL);
	const struct sluice_chat_message bad[] = { { "tool", "x" } };
	CHECK(sluice_chat_render(q, NULL, bad, 1, true, buf, sizeof buf, &n, err, sizeof err) == -EINVAL);
	CHECK(sluice_chat_render(NULL, NULL, msgs, 2, true, buf, sizeof buf, &n, err, sizeof err) == -EINVAL);
	CHECK(sluice_chat_render(q, NULL, msgs, 2, true, buf, sizeof buf, NULL, err, sizeof err) == -EINVAL);
	CHECK(sluice_chat_render(q, NULL, NULL, 2, true, buf, sizeof buf, &n, err, sizeof err) == -EINVAL);

	/* special tokens in the text are tokens; sluice_tokenize leaves them as text */
	int32_t t[256];
	size_t nt = 0, nplain = 0;
	CHECK(sluice_tokenize_special(l3, "a<|eot_id|>", 11, t, 256, &nt, err, sizeof err) == 0);
	CHECK(nt >= 2 && sluice_token_is_eot(l3, NULL, t[nt - 1]));
	CHECK(sluice_tokenize(l3, "a<|eot_id|>", 11, false, t, 256, &nplain) == 0 && nplain > nt);
	CHECK(sluice_tokenize_special(l3, "a<|eot_id|>", 11, t, 1, &nt, err, sizeof err) == -ENOSPC);
	CHECK(sluice_tokenize_special(NULL, "a", 1, t, 256, &nt, err, sizeof err) == -EINVAL);
	CHECK(sluice_tokenize_special(l3, NULL, 1, t, 256, &nt, err, sizeof err) == -EINVAL);

	/* qwen2: eos is <|endoftext|>, the turn ends at <|im_end|> too */
	CHECK(sluice_tokenize_special(q, "<|im_end|>", 10, t, 256, &nt, err, sizeof err) == 0 && nt == 1);
	CHECK(sluice_token_is_eot(q, NULL, t[0]));
	CHECK(sluice_tokenize_special(q, "<|im_start|>", 12, t, 256, &nt, err, sizeof err) == 0 && nt == 1);
	CHECK(!sluice_token_is_eot(q, NULL, t[0]));
	CHECK(!sluice_token_is_eot(q, NULL, -1));
	CHECK(!sluice_token_is_eot(NULL, NULL, 0));
	sluice_model_free(l3);
	sluice_model_free(q);
	return t_done();
}
