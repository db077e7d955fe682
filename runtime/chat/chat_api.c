/* SPDX-License-Identifier: MIT */
/* runtime/chat/chat_api.c — the public chat functions of sluice.h over runtime/chat and the vocabulary. */
#include "chat/chat.h"
#include "model/model.h"
#include "sluice.h"
#include "token/vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_err(char *buf, size_t len, const char *msg)
{
	if (buf && len)
		snprintf(buf, len, "%s", msg);
}

static int fail(char *buf, size_t len, int rc, const char *fmt, const char *a)
{
	if (buf && len)
		snprintf(buf, len, fmt, a);
	return -rc;
}

static const char *model_jinja(const struct sluice_model *m)
{
	const char *j = NULL;
	if (sl_gguf_find_kv(m->gguf, "tokenizer.chat_template"))
		sl_gguf_get_str(m->gguf, "tokenizer.chat_template", &j, NULL);
	return j;
}

/* The template tmpl names, or the model's; -1 for an unknown name. */
static int pick(const struct sluice_model *m, const char *tmpl)
{
	return tmpl ? sl_chat_from_name(tmpl) : (int)sl_chat_detect(model_jinja(m));
}

SLUICE_API const char *sluice_chat_template(const struct sluice_model *m)
{
	return m ? sl_chat_name(sl_chat_detect(model_jinja(m))) : NULL;
}

SLUICE_API int sluice_chat_render(const struct sluice_model *m, const char *tmpl, const struct sluice_chat_message *msgs,
				  size_t n, bool add_assistant, char *buf, size_t cap, size_t *n_out, char *err,
				  size_t err_len)
{
	if (!m || !n_out || (!msgs && n) || (!buf && cap))
		return fail(err, err_len, EINVAL, "sluice_chat_render: %s is NULL",
			    !m ? "model" : !n_out ? "n_out" : !buf && cap ? "buf (with cap > 0)" : "msgs");
	int t = pick(m, tmpl);
	if (t < 0)
		return fail(err, err_len, EINVAL,
			    "sluice_chat_render: unknown template '%s' (chatml, qwq, llama3, deepseek3, deepseek-r1, plain)", tmpl);
	const struct sl_vocab *v = m->vocab;
	size_t bl;
	int32_t bos = sl_vocab_bos(v);
	const char *bos_text = bos >= 0 && (t != SL_CHAT_PLAIN || sl_vocab_add_bos(v)) ? sl_vocab_text(v, bos, &bl) : NULL;
	/* struct sluice_chat_message and struct sl_chat_msg are the same two pointers */
	_Static_assert(sizeof(struct sluice_chat_message) == sizeof(struct sl_chat_msg), "message layouts differ");
	struct sl_err e = { "" };
	char *out;
	size_t len;
	int rc = sl_chat_render((enum sl_chat_template)t, (const struct sl_chat_msg *)msgs, n, add_assistant, bos_text,
				&out, &len, &e);
	if (rc) {
		put_err(err, err_len, e.msg);
		return rc;
	}
	*n_out = len;
	if (cap <= len) {
		free(out);
		if (err && err_len)
			snprintf(err, err_len, "sluice_chat_render: the text needs %zu bytes and a NUL, the buffer holds %zu", len, cap);
		return -ENOSPC;
	}
	memcpy(buf, out, len + 1);
	free(out);
	return 0;
}

SLUICE_API int sluice_tokenize_special(const struct sluice_model *m, const char *text, size_t len, int32_t *tokens,
				       size_t cap, size_t *n_out, char *err, size_t err_len)
{
	if (!m || !n_out || (!text && len) || (!tokens && cap))
		return fail(err, err_len, EINVAL, "sluice_tokenize_special: %s is NULL",
			    !m ? "model" : !n_out ? "n_out" : !text && len ? "text" : "tokens (with cap > 0)");
	int rc = sl_tokenize_ex(m->vocab, text, len, SL_TOKENIZE_PARSE_SPECIAL, tokens, cap, n_out);
	if (rc == -ENOSPC && err && err_len)
		snprintf(err, err_len, "tokenize: the text needs %zu tokens, the buffer holds %zu", *n_out, tokens ? cap : 0);
	else if (rc)
		fail(err, err_len, -rc, "tokenize: %s", rc == -EINVAL ? "the text cannot be encoded or is too long" : "out of memory");
	return rc;
}

SLUICE_API bool sluice_token_is_eot(const struct sluice_model *m, const char *tmpl, int32_t token)
{
	if (!m)
		return false;
	if (sl_vocab_is_eog(m->vocab, token))
		return true;
	int t = pick(m, tmpl);
	size_t tl;
	const char *tt = sl_vocab_text(m->vocab, token, &tl);
	if (t < 0 || !tt)
		return false;
	for (const char *const *e = sl_chat_eot_texts((enum sl_chat_template)t); *e; e++)
		if (strlen(*e) == tl && !memcmp(*e, tt, tl))
			return true;
	return false;
}
