/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_chat_template.c — runtime/chat: recognising a family from its
 * Jinja source, names, end-of-turn texts, and the rendered prompt of each
 * template for a conversation (system, user, assistant with a <think> part,
 * user, then the assistant prompt), written out by hand from the families'
 * published templates.
 */
#include "chat/chat.h"
#include "helpers/testutil.h"

#include <stdlib.h>
#include <string.h>

#define U "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define A "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"
#define E "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static const struct sl_chat_msg conv[] = {
	{ "system", "Be brief." },
	{ "user", "Hi" },
	{ "assistant", "<think>\nhm\n</think>\n\n Hello! " },
	{ "user", "2+2?" },
};

static void check_render(enum sl_chat_template t, const char *bos, const char *want)
{
	char *out = NULL;
	size_t len = 0;
	struct sl_err err = { "" };
	int rc = sl_chat_render(t, conv, SL_ARRAY_SIZE(conv), true, bos, &out, &len, &err);
	CHECK_MSG(rc == 0, "%s: %s", sl_chat_name(t), err.msg);
	if (!rc) {
		CHECK_MSG(len == strlen(out) && !strcmp(out, want), "%s:\n got [%s]\nwant [%s]", sl_chat_name(t), out, want);
		free(out);
	}
}

int main(void)
{
	/* recognition by the special tokens the Jinja source writes */
	CHECK(sl_chat_detect(NULL) == SL_CHAT_PLAIN);
	CHECK(sl_chat_detect("{{ messages }}") == SL_CHAT_PLAIN);
	CHECK(sl_chat_detect("{{'<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>'}}") == SL_CHAT_CHATML);
	CHECK(sl_chat_detect("{%- set content = message.content.split('</think>')[-1] %}{{'<|im_start|>'}}{{'<|im_end|>'}}") ==
	      SL_CHAT_QWQ);
	CHECK(sl_chat_detect("{{ '<|start_header_id|>' + role + '<|end_header_id|>\\n\\n' + c + '<|eot_id|>' }}") ==
	      SL_CHAT_LLAMA3);
	CHECK(sl_chat_detect("{{'" U "' + c}}{{'" A "' + c + '" E "'}}") == SL_CHAT_DEEPSEEK3);
	CHECK(sl_chat_detect("{% if '</think>' in content %}{{'" U "'}}{{'" A "<think>\\n'}}") == SL_CHAT_DEEPSEEK_R1);

	/* names */
	for (int t = 0; t < SL_CHAT_COUNT; t++)
		CHECK(sl_chat_from_name(sl_chat_name((enum sl_chat_template)t)) == t);
	CHECK(sl_chat_from_name("qwen2") == SL_CHAT_CHATML);
	CHECK(sl_chat_from_name("deepseek-v3") == SL_CHAT_DEEPSEEK3);
	CHECK(sl_chat_from_name("jinja") == -1);
	CHECK(sl_chat_from_name(NULL) == -1);

	CHECK(!strcmp(sl_chat_eot_texts(SL_CHAT_CHATML)[0], "<|im_end|>"));
	CHECK(!strcmp(sl_chat_eot_texts(SL_CHAT_LLAMA3)[0], "<|eot_id|>"));
	CHECK(!strcmp(sl_chat_eot_texts(SL_CHAT_DEEPSEEK_R1)[0], E));
	CHECK(sl_chat_eot_texts(SL_CHAT_PLAIN)[0] == NULL);

	check_render(SL_CHAT_CHATML, "<|endoftext|>",
		     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
		     "<|im_start|>assistant\n<think>\nhm\n</think>\n\n Hello! <|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
		     "<|im_start|>assistant\n");
	check_render(SL_CHAT_QWQ, NULL,
		     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
		     "<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
		     "<|im_start|>assistant\n<think>\n");
	check_render(SL_CHAT_LLAMA3, "<|begin_of_text|>",
		     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
		     "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
		     "<|start_header_id|>assistant<|end_header_id|>\n\n<think>\nhm\n</think>\n\n Hello!<|eot_id|>"
		     "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
		     "<|start_header_id|>assistant<|end_header_id|>\n\n");
	check_render(SL_CHAT_DEEPSEEK3, "<s>",
		     "<s>Be brief." U "Hi" A "<think>\nhm\n</think>\n\n Hello! " E U "2+2?" A);
	check_render(SL_CHAT_DEEPSEEK_R1, "<s>", "<s>Be brief." U "Hi" A "\n\n Hello! " E U "2+2?" A "<think>\n");
	check_render(SL_CHAT_PLAIN, NULL,
		     "Be brief.\n\nUser: Hi\nAssistant: <think>\nhm\n</think>\n\n Hello! \nUser: 2+2?\nAssistant:");

	/* errors */
	char *out;
	size_t len;
	struct sl_err err = { "" };
	struct sl_chat_msg bad[] = { { "user", "x" }, { "system", "late" } };
	CHECK(sl_chat_render(SL_CHAT_CHATML, bad, 2, true, NULL, &out, &len, &err) == -EINVAL);
	CHECK(strstr(err.msg, "system") != NULL);
	struct sl_chat_msg tool[] = { { "tool", "x" } };
	CHECK(sl_chat_render(SL_CHAT_CHATML, tool, 1, true, NULL, &out, &len, &err) == -EINVAL);
	CHECK(sl_chat_render((enum sl_chat_template)99, conv, 1, true, NULL, &out, &len, &err) == -EINVAL);
	CHECK(sl_chat_render(SL_CHAT_CHATML, NULL, 0, false, NULL, &out, &len, &err) == 0 && len == 0);
	free(out);
	return t_done();
}
