/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/mkseeds.c — the seed corpus of the fuzz targets, made from the real models.
 *
 *   mkseeds MODELS_DIR OUT_DIR
 *
 * Writes OUT_DIR/gguf, OUT_DIR/tokenize and OUT_DIR/cli_parse.  Nothing here is
 * committed: models must not be, so the seeds are made again at fuzz time.
 *
 *   gguf:      for each *.gguf model: its metadata alone (header, every key/value, no
 *              tensors), and its metadata with the small tensors (<= 4 KiB: the norms)
 *              laid out again with their data.  Whole models (MBs of weights the
 *              reader never looks at) would only slow the fuzzer down.
 *              Plus one small byte-level BPE vocabulary (tokenizer.ggml.model gpt2) per
 *              pre-tokenizer type, written here, so that bpe.c is fuzzed too.
 *   tokenize:  the first model with a vocabulary: its token texts, 32 tokens a file,
 *              detokenized, behind a flags byte; plus a few hand-picked texts.
 *   cli_parse: option values, valid and not (no model needed).
 */
#include "gguf.h"
#include "token/vocab.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int n_written;

static void put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f)) {
		fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	n_written++;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char *p = NULL;
	if (fd < 0 || fstat(fd, &st) || !(p = malloc((size_t)st.st_size + 1)) ||
	    pread(fd, p, (size_t)st.st_size, 0) != st.st_size) {
		fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void add(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		if (!(b->p = realloc(b->p, b->cap)))
			abort();
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void add_u32(struct buf *b, uint32_t v) { add(b, &v, 4); }  /* x86: little-endian */
static void add_u64(struct buf *b, uint64_t v) { add(b, &v, 8); }

static uint64_t info_size(const struct gguf_tensor *t)
{
	return 8 + t->name.len + 4 + 8ull * t->n_dims + 4 + 8;
}

/*
 * Where the key/value section ends: the tensor infos follow it and end where the data
 * section starts, less the alignment padding.  Of the candidate ends, the one where the
 * first tensor's name is found is it.
 */
static int64_t kv_end(const struct gguf_file *f, const unsigned char *file)
{
	uint64_t infos = 0;
	for (uint64_t i = 0; i < f->n_tensors; i++)
		infos += info_size(&f->tensors[i]);
	if (!f->n_tensors)
		return (int64_t)f->data_offset; /* no padding without tensors? take all */
	for (uint64_t pad = 0; pad < f->alignment && pad + infos <= f->data_offset; pad++) {
		uint64_t at = f->data_offset - pad - infos, len;
		if (at < 24)
			break;
		memcpy(&len, file + at, 8);
		if (len == f->tensors[0].name.len && !memcmp(file + at + 8, f->tensors[0].name.s, len))
			return (int64_t)at;
	}
	return -1;
}

static void gguf_seeds(const char *model, const char *name, const char *out)
{
	struct gguf_file *f;
	struct sl_err err = { { 0 } };
	size_t len;
	unsigned char *file = slurp(model, &len);
	if (sl_gguf_open(model, &f, &err)) {
		fprintf(stderr, "mkseeds: %s (skipped)\n", err.msg);
		free(file);
		return;
	}
	int64_t end = kv_end(f, file);
	if (end < 0) {
		fprintf(stderr, "mkseeds: %s: cannot find the end of its metadata (skipped)\n", model);
		goto out;
	}
	char seed[512];
	/* 1. metadata alone */
	struct buf b = { 0 };
	add(&b, file, 24);
	memset(b.p + 8, 0, 8); /* n_tensors = 0 */
	add(&b, file + 24, (size_t)end - 24);
	snprintf(seed, sizeof(seed), "%s.meta.gguf", name);
	put(out, seed, b.p, b.len);

	/* 2. metadata and the small tensors, with their data */
	uint64_t k = 0, off = 0;
	b.len = 24;
	add(&b, file + 24, (size_t)end - 24);
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		if (t->size > 4096)
			continue;
		add_u64(&b, t->name.len);
		add(&b, t->name.s, t->name.len);
		add_u32(&b, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			add_u64(&b, (uint64_t)t->ne[d]);
		add_u32(&b, t->type);
		add_u64(&b, off);
		off = SL_ALIGN_UP(off + t->size, f->alignment);
		k++;
	}
	memcpy(b.p + 8, &k, 8);
	static const unsigned char zeros[256];
	while (b.len % f->alignment)
		add(&b, zeros, 1);
	size_t data0 = b.len;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		if (t->size > 4096)
			continue;
		add(&b, file + t->file_offset, t->size);
		while ((b.len - data0) % f->alignment)
			add(&b, zeros, 1);
	}
	snprintf(seed, sizeof(seed), "%s.small.gguf", name);
	put(out, seed, b.p, b.len);
	free(b.p);
out:
	sl_gguf_close(f);
	free(file);
}

static bool tokenize_seeds(const char *model, const char *out)
{
	struct gguf_file *f;
	struct sl_vocab *v;
	struct sl_err err = { { 0 } };
	if (sl_gguf_open(model, &f, &err))
		return false;
	if (sl_vocab_load(f, &v, &err)) {
		sl_gguf_close(f);
		return false;
	}
	uint32_t n = sl_vocab_size(v);
	char text[8192], name[64];
	for (uint32_t t0 = 0; t0 < n && t0 < 32 * 64; t0 += 32) {
		int32_t toks[32];
		size_t k = 0, len = 0;
		for (uint32_t t = t0; t < n && t < t0 + 32; t++)
			toks[k++] = (int32_t)t;
		text[0] = (char)(t0 / 32 % 8); /* the flags byte */
		if (sl_detokenize(v, toks, k, text + 1, sizeof(text) - 1, &len))
			continue;
		snprintf(name, sizeof(name), "vocab-%05u", t0);
		put(out, name, text, len + 1);
	}
	sl_vocab_free(v);
	sl_gguf_close(f);
	static const char *const texts[] = {
		"\x01Once upon a time, there was a little girl named Lily.",
		"\x00 leading space and  two  spaces\n\nnewlines\t",
		"\x04<s>special</s> <unk> text",
		"\x03\xe2\x96\x81 U+2581, caf\xc3\xa9, \xf0\x9f\x98\x80, \xe4\xb8\xad\xe6\x96\x87",
		"\x00\xff\xfe\xc3 invalid UTF-8 \xed\xa0\x80 surrogate",
		"\x00",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(name, sizeof(name), "text-%zu", i);
		put(out, name, texts[i], 1 + strlen(texts[i] + 1));
	}
	return true;
}

static void cli_seeds(const char *out)
{
	static const char *const vals[] = {
		"0", "1", "4096", "512M", "8G", "1.5G", "2T", "64k", "1KiB", "3GB", "1e3K", "0x10",
		"-1", " -1", "+5", "1.8e19", "1.9e19", "18446744073709551615", "9223372036854775808",
		"-9223372036854775808", "nan", "inf", "1e-9", "0.7", "2.0000001", "", " ", "12abc", "5 ",
	};
	char name[32];
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(name, sizeof(name), "val-%02zu", i);
		put(out, name, vals[i], strlen(vals[i]));
	}
}

/* A gpt2 vocabulary: GPT-2's 256 byte characters, a few merges and their tokens, three specials. */
static void bpe_seeds(const char *out)
{
	static const char *const pres[] = { "default", "llama-bpe", "qwen2", "gpt-2", "deepseek-llm", "deepseek-v3" };
	static const char *const merges[] = { "\xc4\xa0 t", "h e", "\xc4\xa0t he", "i n", "\xc4\xa0 a", "e r" };
	static const char *const extra[] = { "\xc4\xa0t", "he", "\xc4\xa0the", "in", "\xc4\xa0\x61", "er",
					     "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
	char store[256][3];
	const char *tokens[256 + SL_ARRAY_SIZE(extra)];
	int32_t types[256 + SL_ARRAY_SIZE(extra)];
	int k = 0;
	for (int b = 0; b < 256; b++) {
		bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
		unsigned cp = keep ? (unsigned)b : 256u + (unsigned)k++;
		if (cp < 0x80) {
			store[b][0] = (char)cp;
			store[b][1] = 0;
		} else {
			store[b][0] = (char)(0xC0 | cp >> 6);
			store[b][1] = (char)(0x80 | (cp & 0x3F));
			store[b][2] = 0;
		}
		tokens[b] = store[b];
		types[b] = 1;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(extra); i++) {
		tokens[256 + i] = extra[i];
		types[256 + i] = extra[i][0] == '<' ? 3 : 1;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(pres); i++) {
		struct gguf_writer *w = sl_gguf_writer_new(0);
		sl_gguf_writer_set_str(w, "general.architecture", "qwen2");
		sl_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
		sl_gguf_writer_set_str(w, "tokenizer.ggml.pre", pres[i]);
		sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, SL_ARRAY_SIZE(tokens));
		sl_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, SL_ARRAY_SIZE(types));
		sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, SL_ARRAY_SIZE(merges));
		sl_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 256 + 8);
		char path[4096];
		snprintf(path, sizeof(path), "%s/bpe-%s.gguf", out, pres[i]);
		struct sl_err err = { { 0 } };
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || sl_gguf_writer_write_header(w, fd, &err) || sl_gguf_writer_finish(w, fd, &err)) {
			fprintf(stderr, "mkseeds: %s: %s\n", path, fd < 0 ? strerror(errno) : err.msg);
			exit(1);
		}
		close(fd);
		sl_gguf_writer_free(w);
		n_written++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mkseeds MODELS_DIR OUT_DIR\n");
		return 2;
	}
	const char *models = argv[1], *out = argv[2];
	char dir[4096], path[4096];
	static const char *const subs[] = { "", "/gguf", "/tokenize", "/cli_parse" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(dir, sizeof(dir), "%s%s", out, subs[i]);
		if (mkdir(dir, 0755) && errno != EEXIST) {
			fprintf(stderr, "mkseeds: %s: %s\n", dir, strerror(errno));
			return 1;
		}
	}
	DIR *d = opendir(models);
	if (!d) {
		fprintf(stderr, "mkseeds: %s: %s (the models live in ../shared/models)\n", models, strerror(errno));
		return 1;
	}
	struct dirent *de;
	char *names[64];
	int n = 0;
	while ((de = readdir(d)) && n < 64) {
		size_t l = strlen(de->d_name);
		if (l > 5 && !strcmp(de->d_name + l - 5, ".gguf"))
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	/* readdir's order is the file system's: sort, so the seeds are the same everywhere */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	bool tok = false;
	snprintf(dir, sizeof(dir), "%s/gguf", out);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", models, names[i]);
		gguf_seeds(path, names[i], dir);
	}
	bpe_seeds(dir);
	/* stories260K first: the vocabulary fuzz_tokenize loads */
	snprintf(dir, sizeof(dir), "%s/tokenize", out);
	snprintf(path, sizeof(path), "%s/stories260K.gguf", models);
	tok = tokenize_seeds(path, dir);
	for (int i = 0; i < n && !tok; i++) {
		snprintf(path, sizeof(path), "%s/%s", models, names[i]);
		tok = tokenize_seeds(path, dir);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	snprintf(dir, sizeof(dir), "%s/cli_parse", out);
	cli_seeds(dir);
	if (!tok) {
		fprintf(stderr, "mkseeds: no model with a vocabulary in %s\n", models);
		return 1;
	}
	printf("mkseeds: %d seed files from %d models in %s\n", n_written, n, models);
	return 0;
}
