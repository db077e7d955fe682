/* SPDX-License-Identifier: MIT */
/*
 * runtime/chat/chat.h — built-in chat templates: a conversation rendered to the
 * prompt text a model family was trained on, without a Jinja engine.
 *
 * A GGUF's tokenizer.chat_template (Jinja source) is recognised by the special
 * tokens it writes (sl_chat_detect); the families known are ChatML (Qwen2,
 * QwQ), Llama-3 and DeepSeek-V3/R1.  Anything else is "plain" ("User: ...").
 * The rendered text holds special tokens as text ("<|im_start|>"): tokenize it
 * with special-token parsing and without adding BOS (the templates that want
 * BOS write its text themselves).
 */
#ifndef SLUICE_CHAT_H
#define SLUICE_CHAT_H

#include "internal.h"

enum sl_chat_template {
	SL_CHAT_PLAIN = 0,  /* "User: ...\nAssistant: ..." lines; ends at the vocabulary's EOS */
	SL_CHAT_CHATML,     /* <|im_start|>role\n...<|im_end|>\n (Qwen2, Qwen2.5) */
	SL_CHAT_QWQ,        /* ChatML; earlier replies lose their <think>...</think>; replies start in <think>\n */
	SL_CHAT_LLAMA3,     /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
	SL_CHAT_DEEPSEEK3,  /* <｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜> (DeepSeek-V3) */
	SL_CHAT_DEEPSEEK_R1, /* as V3; earlier replies lose their <think>...</think>; replies start in <think>\n */
	SL_CHAT_COUNT
};

struct sl_chat_msg {
	const char *role;    /* "system", "user" or "assistant" */
	const char *content;
};

/* "plain", "chatml", "qwq", "llama3", "deepseek3", "deepseek-r1". */
const char *sl_chat_name(enum sl_chat_template t);
/* The template of a name (also "qwen2", "llama-3", "deepseek-v3", "deepseek-r1"); -1 if unknown. */
int sl_chat_from_name(const char *name);
/* The family a tokenizer.chat_template's Jinja source is written for; PLAIN when NULL or unknown. */
enum sl_chat_template sl_chat_detect(const char *jinja);
/* The texts of the tokens that end an assistant turn (NULL-terminated list, most specific first). */
const char *const *sl_chat_eot_texts(enum sl_chat_template t);

/*
 * Render msgs[0..n) into a malloc'd NUL-terminated *out (*len bytes), followed by
 * the start of an assistant reply when add_assistant.  bos is the text of the
 * vocabulary's BOS token, written where the family's template writes bos_token
 * (NULL: none).  -EINVAL for a role other than system/user/assistant, a NULL
 * content, a system message not first or an unknown template; -ENOMEM.
 */
int sl_chat_render(enum sl_chat_template t, const struct sl_chat_msg *msgs, size_t n, bool add_assistant,
		   const char *bos, char **out, size_t *len, struct sl_err *err);

#endif
