/* SPDX-License-Identifier: MIT */
/*
 * runtime/chat/chat.c — the chat templates of chat.h, written out from the
 * families' Jinja sources:
 *   ChatML (Qwen2.5):  [<|im_start|>system\nS<|im_end|>\n] then per message
 *                      <|im_start|>ROLE\nC<|im_end|>\n; prompt <|im_start|>assistant\n
 *   QwQ:               as ChatML, but an assistant message keeps only what follows its
 *                      last </think> (left-stripped of newlines); prompt ...assistant\n<think>\n
 *   Llama-3:           bos, then per message <|start_header_id|>ROLE<|end_header_id|>\n\n
 *                      trim(C)<|eot_id|>; prompt <|start_header_id|>assistant<|end_header_id|>\n\n
 *   DeepSeek-V3:       bos S, then <｜User｜>C, <｜Assistant｜>C<｜end▁of▁sentence｜>; prompt <｜Assistant｜>
 *   DeepSeek-R1:       as V3, assistant messages after their last </think>; prompt <｜Assistant｜><think>\n
 * Recognition compares distinctive pieces of the Jinja source: the special tokens
 * each family's template writes, and "</think>" for the reasoning variants.
 */
#include "chat/chat.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[SL_CHAT_COUNT] = { "plain", "chatml", "qwq", "llama3", "deepseek3", "deepseek-r1" };

const char *sl_chat_name(enum sl_chat_template t)
{
	return (unsigned)t < SL_CHAT_COUNT ? names[t] : "?";
}

int sl_chat_from_name(const char *name)
{
	static const struct { const char *alias; int t; } aliases[] = {
		{ "qwen2", SL_CHAT_CHATML }, { "llama-3", SL_CHAT_LLAMA3 }, { "deepseek-v3", SL_CHAT_DEEPSEEK3 },
		{ "deepseek-r1", SL_CHAT_DEEPSEEK_R1 }, { "r1", SL_CHAT_DEEPSEEK_R1 },
	};
	if (!name)
		return -1;
	for (int i = 0; i < SL_CHAT_COUNT; i++)
		if (!strcmp(name, names[i]))
			return i;
	for (size_t i = 0; i < SL_ARRAY_SIZE(aliases); i++)
		if (!strcmp(name, aliases[i].alias))
			return aliases[i].t;
	return -1;
}

#define DS_USER "<\xef\xbd\x9c" "User\xef\xbd\x9c>"                     /* <｜User｜> */
#define DS_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"           /* <｜Assistant｜> */
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>" /* <｜end▁of▁sentence｜> */

enum sl_chat_template sl_chat_detect(const char *j)
{
	if (!j)
		return SL_CHAT_PLAIN;
	const bool think = strstr(j, "</think>") != NULL;
	if (strstr(j, DS_USER) && strstr(j, DS_ASSISTANT))
		return think ? SL_CHAT_DEEPSEEK_R1 : SL_CHAT_DEEPSEEK3;
	if (strstr(j, "<|start_header_id|>") && strstr(j, "<|end_header_id|>") && strstr(j, "<|eot_id|>"))
		return SL_CHAT_LLAMA3;
	if (strstr(j, "<|im_start|>") && strstr(j, "<|im_end|>"))
		return think ? SL_CHAT_QWQ : SL_CHAT_CHATML;
	return SL_CHAT_PLAIN;
}

const char *const *sl_chat_eot_texts(enum sl_chat_template t)
{
	static const char *const chatml[] = { "<|im_end|>", "<|endoftext|>", NULL };
	static const char *const llama3[] = { "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", NULL };
	static const char *const deepseek[] = { DS_EOS, NULL };
	static const char *const none[] = { NULL };
	switch (t) {
	case SL_CHAT_CHATML:
	case SL_CHAT_QWQ: return chatml;
	case SL_CHAT_LLAMA3: return llama3;
	case SL_CHAT_DEEPSEEK3:
	case SL_CHAT_DEEPSEEK_R1: return deepseek;
	default: return none;
	}
}

struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = SL_MAX(b->cap * 2, b->n + n + 1 + 256);
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* What a reasoning model's earlier reply keeps: the text after its last </think>. */
static const char *after_think(const char *c, bool lstrip_nl)
{
	for (const char *p; (p = strstr(c, "</think>"));)
		c = p + 8;
	while (lstrip_nl && *c == '\n')
		c++;
	return c;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int sl_chat_render(enum sl_chat_template t, const struct sl_chat_msg *msgs, size_t n, bool add_assistant,
		   const char *bos, char **out, size_t *len, struct sl_err *err)
{
	if ((unsigned)t >= SL_CHAT_COUNT)
		return sl_errf(err, EINVAL, "unknown chat template %d", (int)t);
	for (size_t i = 0; i < n; i++) {
		const char *r = msgs[i].role;
		if (!r || !msgs[i].content || (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")))
			return sl_errf(err, EINVAL, "chat message %zu: role must be system, user or assistant, with content", i);
		if (!strcmp(r, "system") && i)
			return sl_errf(err, EINVAL, "chat message %zu: a system message must come first", i);
	}
	struct sbuf b = { 0 };
	puts_(&b, ""); /* an empty conversation is "" */
	const bool deepseek = t == SL_CHAT_DEEPSEEK3 || t == SL_CHAT_DEEPSEEK_R1;
	if (bos && (t == SL_CHAT_LLAMA3 || deepseek || t == SL_CHAT_PLAIN))
		puts_(&b, bos);
	for (size_t i = 0; i < n; i++) {
		const char *role = msgs[i].role, *c = msgs[i].content;
		const bool asst = !strcmp(role, "assistant"), sys = !strcmp(role, "system");
		switch (t) {
		case SL_CHAT_CHATML:
		case SL_CHAT_QWQ:
			if (asst && t == SL_CHAT_QWQ)
				c = after_think(c, true);
			puts_(&b, "<|im_start|>");
			puts_(&b, role);
			puts_(&b, "\n");
			puts_(&b, c);
			puts_(&b, "<|im_end|>\n");
			break;
		case SL_CHAT_LLAMA3: {
			size_t k = strlen(c);
			while (k && is_space(c[k - 1]))
				k--;
			while (k && is_space(*c))
				c++, k--;
			puts_(&b, "<|start_header_id|>");
			puts_(&b, role);
			puts_(&b, "<|end_header_id|>\n\n");
			put(&b, c, k);
			puts_(&b, "<|eot_id|>");
			break;
		}
		case SL_CHAT_DEEPSEEK3:
		case SL_CHAT_DEEPSEEK_R1:
			if (sys) {
				puts_(&b, c);
			} else if (asst) {
				puts_(&b, DS_ASSISTANT);
				puts_(&b, t == SL_CHAT_DEEPSEEK_R1 ? after_think(c, false) : c);
				puts_(&b, DS_EOS);
			} else {
				puts_(&b, DS_USER);
				puts_(&b, c);
			}
			break;
		default:
			puts_(&b, sys ? "" : asst ? "Assistant: " : "User: ");
			puts_(&b, c);
			puts_(&b, sys ? "\n\n" : "\n");
			break;
		}
	}
	if (add_assistant) {
		switch (t) {
		case SL_CHAT_CHATML: puts_(&b, "<|im_start|>assistant\n"); break;
		case SL_CHAT_QWQ: puts_(&b, "<|im_start|>assistant\n<think>\n"); break;
		case SL_CHAT_LLAMA3: puts_(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n"); break;
		case SL_CHAT_DEEPSEEK3: puts_(&b, DS_ASSISTANT); break;
		case SL_CHAT_DEEPSEEK_R1: puts_(&b, DS_ASSISTANT "<think>\n"); break;
		default: puts_(&b, "Assistant:"); break;
		}
	}
	if (b.oom) {
		free(b.p);
		return sl_errf(err, ENOMEM, "out of memory rendering the chat");
	}
	*out = b.p;
	*len = b.n;
	return 0;
}
