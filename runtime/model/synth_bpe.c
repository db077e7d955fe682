/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/synth_bpe.c — a real byte-level BPE vocabulary for synthetic
 * qwen2 and Llama-3-style models (tokenizer.ggml.model gpt2).
 *
 * Tokens: the 256 byte characters of GPT-2's bytes_to_unicode (so every text
 * has a tokenization), then the tokens made by merges, then the family's
 * special tokens as control tokens.  The merges spell out a word list one
 * symbol at a time, left to right ("Ġ t", "Ġt h", "Ġth e"), with and without
 * the leading space, all merges of result length 2 ranked before those of
 * length 3 and so on: every merge's parts exist before it, as in a trained
 * BPE, and real texts split into whole words, prefixes and bytes.  A few
 * multi-byte words (CJK, Cyrillic, Arabic) make merges inside UTF-8 sequences.
 * Deterministic: no randomness at all.
 */
#include "model/synth.h"
#include "token/vocab.h"

#include <stdlib.h>
#include <string.h>

static const char *const bpe_words[] = {
	"the", "and", "a", "to", "was", "he", "she", "it", "of", "in", "they", "her", "his", "you", "said",
	"that", "with", "on", "for", "day", "one", "big", "little", "happy", "play", "saw", "very", "friend",
	"time", "upon", "once", "there", "girl", "boy", "dog", "cat", "ball", "tree", "park", "sun", "red",
	"blue", "went", "had", "were", "not", "but", "so", "we", "all", "mom", "dad", "toy", "run", "fun",
	"home", "good", "like", "wanted", "loved", "named", "bird", "water", "sky", "car", "book", "help",
	"out", "up", "down", "what", "when", "how", "can", "could", "would", "is", "are", "be", "do",
	"hello", "world", "think", "answer", "question", "user", "assistant", "system",
	"The", "Once", "Hello", "What", "It", "I", "Yes", "No",
	"你好", "世界", "我们", "中文", "привет", "мир", "مرحبا", "123", "00", "...", "!\n", ".\n", "\n\n", "  ", "    ",
};

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others are 256, 257, ... */
static unsigned byte_cpt(unsigned b)
{
	if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
		return b;
	unsigned n = 0;
	for (unsigned i = 0; i < b; i++)
		if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
			n++;
	return 256 + n;
}

/* One byte as its UTF-8 encoded character (2 bytes at most: code points < 0x800). */
static size_t byte_char(unsigned b, char *out)
{
	unsigned c = byte_cpt(b);
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	out[0] = (char)(0xC0 | (c >> 6));
	out[1] = (char)(0x80 | (c & 0x3F));
	return 2;
}

static const char *const specials_qwen2[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
static const char *const specials_llama3[] = {
	"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
	"<|reserved_special_token_0|>",
};

/* A ChatML template in the style of Qwen2.5's (no tool calls, no default system message). */
static const char chatml_template[] =
	"{%- if messages[0]['role'] == 'system' %}\n"
	"    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
	"{%- endif %}\n"
	"{%- for message in messages %}\n"
	"    {%- if not (message.role == 'system' and loop.first) %}\n"
	"        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
	"    {%- endif %}\n"
	"{%- endfor %}\n"
	"{%- if add_generation_prompt %}\n"
	"    {{- '<|im_start|>assistant\\n' }}\n"
	"{%- endif %}\n";

/* Meta-Llama-3-8B-Instruct's template, verbatim. */
static const char llama3_template[] =
	"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
	"'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
	"'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
	"{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

struct strset {
	char **s;
	uint32_t n, cap;
};

static int32_t strset_find(const struct strset *t, const char *s)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (!strcmp(t->s[i], s))
			return (int32_t)i;
	return -1;
}

static int strset_add(struct strset *t, const char *s)
{
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 512;
		char **n = realloc(t->s, cap * sizeof(char *));
		if (!n)
			return -ENOMEM;
		t->s = n;
		t->cap = cap;
	}
	if (!(t->s[t->n] = strdup(s)))
		return -ENOMEM;
	t->n++;
	return 0;
}

void sl_synth_vocab_free(struct sl_synth_vocab *v)
{
	for (uint32_t i = 0; i < v->n; i++)
		free(v->toks[i]);
	for (uint32_t i = 0; i < v->n_merges; i++)
		free(v->merges[i]);
	free(v->toks);
	free(v->types);
	free(v->merges);
	memset(v, 0, sizeof(*v));
}

int sl_synth_bpe_vocab(bool llama3, struct sl_synth_vocab *out, struct sl_err *err)
{
	struct strset toks = { 0 }, merges = { 0 };
	int rc = 0;
	memset(out, 0, sizeof(*out));
	for (unsigned b = 0; b < 256 && !rc; b++) {
		char c[3] = { 0 };
		byte_char(b, c);
		rc = strset_add(&toks, c);
	}
	/* Each word as byte characters, with a leading space ("Ġ") and without. */
	enum { MAXW = 2 * SL_ARRAY_SIZE(bpe_words) };
	char (*sym)[48][4] = calloc(MAXW, sizeof(*sym)); /* word, symbol, its bytes (NUL-terminated) */
	int nsym[MAXW];
	if (!sym)
		rc = -ENOMEM;
	size_t nw = 0;
	for (size_t i = 0; i < SL_ARRAY_SIZE(bpe_words) && sym; i++) {
		for (int sp = 0; sp < 2; sp++, nw++) {
			const char *w = bpe_words[i];
			nsym[nw] = 0;
			if (sp)
				byte_char(' ', sym[nw][nsym[nw]++]);
			for (; *w && nsym[nw] < 47; w++)
				byte_char((uint8_t)*w, sym[nw][nsym[nw]++]);
		}
	}
	/* Merges by the length of what they make: "ab" before "abc", so every part exists first. */
	for (int len = 2; len < 48 && !rc; len++) {
		for (size_t i = 0; i < nw && !rc; i++) {
			if (nsym[i] < len)
				continue;
			char left[200] = "", right[8];
			for (int k = 0; k < len - 1; k++)
				strcat(left, sym[i][k]);
			snprintf(right, sizeof right, "%s", sym[i][len - 1]);
			char whole[208], merge[212];
			snprintf(whole, sizeof whole, "%s%s", left, right);
			snprintf(merge, sizeof merge, "%s %s", left, right);
			if (strset_find(&toks, whole) >= 0)
				continue;
			if ((rc = strset_add(&toks, whole)) || (rc = strset_add(&merges, merge)))
				break;
		}
	}
	free(sym);
	out->first_special = toks.n;
	const char *const *sp = llama3 ? specials_llama3 : specials_qwen2;
	size_t nsp = llama3 ? SL_ARRAY_SIZE(specials_llama3) : SL_ARRAY_SIZE(specials_qwen2);
	for (size_t i = 0; i < nsp && !rc; i++)
		rc = strset_add(&toks, sp[i]);
	if (!rc && !(out->types = malloc(toks.n * sizeof(int32_t))))
		rc = -ENOMEM;
	out->toks = toks.s;
	out->n = toks.n;
	out->merges = merges.s;
	out->n_merges = merges.n;
	if (rc) {
		sl_synth_vocab_free(out);
		return sl_errf(err, -rc, "out of memory");
	}
	for (uint32_t i = 0; i < toks.n; i++)
		out->types[i] = i < out->first_special ? SL_TOK_NORMAL : SL_TOK_CONTROL;
	/* Base-model ids, as the converted files of both families have them: eos is the end of
	 * text, not the chat template's end of turn (<|im_end|>, <|eot_id|>), which chat finds by
	 * its text. */
	out->bos = (int32_t)out->first_special;
	out->eos = (int32_t)out->first_special + (llama3 ? 1 : 0);
	out->add_bos = llama3;
	out->pre = llama3 ? "llama-bpe" : "qwen2";
	out->chat_template = llama3 ? llama3_template : chatml_template;
	return 0;
}
