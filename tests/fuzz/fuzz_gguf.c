/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_gguf.c — libFuzzer harness: the GGUF reader, then the vocabulary load.
 *
 * Each input is written to one memfd (the reader takes a descriptor and uses pread,
 * exactly as for a model file) and parsed with sl_gguf_open_fd.  When it parses, every
 * metadata value goes through the typed getters, every tensor is looked up by name,
 * and the vocabulary is loaded; when that loads too, a fixed text is tokenized and
 * every token turned back into text.  Errors are the expected outcome for most inputs;
 * a crash, a sanitizer report, a leak or a hang is a finding.
 *
 * Seeds: tests/fuzz/mkseeds.c, from the real models (never committed).  Run by
 * tests/fuzz/run.sh (`make fuzz`).
 */
#include "gguf.h"
#include "token/vocab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int mfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mfd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
	if (mfd < 0) {
		perror("memfd_create");
		abort();
	}
	return 0;
}

static void touch_metadata(const struct gguf_file *f)
{
	struct sl_err err;
	for (uint64_t i = 0; i < f->n_kv; i++) {
		const struct gguf_kv *kv = &f->kv[i];
		const char *key = kv->key.s, *s;
		uint32_t u32;
		uint64_t u64, n;
		float f32;
		bool b;
		const void *d;
		/* Keys may hold NUL bytes; lookups by C string only find the ones that don't. */
		bool plain = strlen(key) == kv->key.len;
		/* Each getter on each key: the right type succeeds, the others say -EINVAL. */
		(void)sl_gguf_get_u32(f, key, &u32, &err);
		(void)sl_gguf_get_u64(f, key, &u64, &err);
		(void)sl_gguf_get_f32(f, key, &f32, &err);
		(void)sl_gguf_get_bool(f, key, &b, &err);
		if (sl_gguf_get_str(f, key, &s, &err) == 0 && plain && strlen(s) > kv->val.str.len)
			abort(); /* the NUL-terminated copy is never longer than the value */
		if (kv->val.type == GGUF_TYPE_ARRAY)
			(void)sl_gguf_get_arr(f, key, kv->val.arr.type, &n, &d, &err);
		if (plain && sl_gguf_find_kv(f, key) != kv)
			abort();
	}
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		if (strlen(t->name.s) == t->name.len && sl_gguf_find_tensor(f, t->name.s) != t)
			abort();
		/* The reader promised every tensor lies inside the file. */
		if (t->file_offset > f->file_size || t->size > f->file_size - t->file_offset)
			abort();
	}
}

static void touch_vocab(const struct sl_vocab *v)
{
	static const char text[] = "Once upon a time, <s> a \xe2\x96\x81 cat\n\xff\xfe said \"hi\" </s>";
	int32_t toks[256];
	char buf[4096];
	size_t n = 0, len;
	uint32_t size = sl_vocab_size(v);

	for (unsigned flags = 0; flags < 8; flags++)
		if (sl_tokenize_ex(v, text, sizeof(text) - 1, flags, toks, SL_ARRAY_SIZE(toks), &n) == 0) {
			for (size_t i = 0; i < n; i++)
				if (toks[i] < 0 || (uint32_t)toks[i] >= size)
					abort();
			(void)sl_detokenize(v, toks, n, buf, sizeof(buf), &len);
		}
	for (uint32_t t = 0; t < size && t < 4096; t++) {
		(void)sl_token_to_piece(v, (int32_t)t, buf, sizeof(buf), &len);
		(void)sl_vocab_text(v, (int32_t)t, &len);
		(void)sl_vocab_type(v, (int32_t)t);
	}
	(void)sl_vocab_find(v, "a", 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f;
	struct sl_vocab *v;
	struct sl_err err;

	if (ftruncate(mfd, 0) || (size && pwrite(mfd, data, size, 0) != (ssize_t)size))
		abort();
	if (sl_gguf_open_fd(mfd, "fuzz.gguf", &f, &err))
		return 0;
	touch_metadata(f);
	if (sl_vocab_load(f, &v, &err) == 0) {
		touch_vocab(v);
		sl_vocab_free(v);
	}
	sl_gguf_close(f);
	return 0;
}
