/* Robustness: thousands of seeded random corruptions of real model headers (byte flips, counts and
 * lengths set to extreme values, truncations) each either load or fail with a message — never a
 * crash, a hang or a sanitizer report (this test is what `make asan` leans on; SLUICE_MUTATIONS=N
 * runs N per model). The full load path
 * runs: GGUF reader, tokenizer, hyperparameters, tensor shapes, weight placement, one decode. */
#include "helpers/testutil.h"
#include "sluice.h"

#include <stdint.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void mutate(uint8_t *b, size_t len, size_t header)
{
	int n = 1 + (int)(next() % 4);
	for (int i = 0; i < n; i++) {
		size_t at = (size_t)(next() % header);
		switch (next() % 4) {
		case 0: /* flip a byte */
			b[at] ^= (uint8_t)(1 + next() % 255);
			break;
		case 1: /* an extreme 64-bit value (counts, lengths, dims, offsets) */
			if (at + 8 <= len) {
				static const uint64_t v[] = { 0, 1, 0xffffffffull, 0x7fffffffffffffffull, UINT64_MAX, 1ull << 40 };
				uint64_t x = v[next() % 6];
				memcpy(b + at, &x, 8);
			}
			break;
		case 2: /* an extreme 32-bit value (types, n_dims, hyperparameters) */
			if (at + 4 <= len) {
				static const uint32_t v[] = { 0, 1, 3, 5, 13, 31, 0xffff, 0xffffffffu };
				uint32_t x = v[next() % 8];
				memcpy(b + at, &x, 4);
			}
			break;
		default: /* copy a run from elsewhere in the header */
			if (at + 16 <= header) {
				size_t from = (size_t)(next() % (header - 16));
				memmove(b + at, b + from, 16);
			}
		}
	}
}

static int try_load(const char *path)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.n_threads = 1;
	char err[512] = "";
	struct sluice_model *m = NULL;
	int rc = sluice_model_load(path, &mp, &m, err, sizeof(err));
	if (rc) {
		CHECK_MSG(err[0] != 0, "load failed (%d) without a message", rc);
		return 0;
	}
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 8;
	struct sluice_ctx *c = NULL;
	if (!sluice_ctx_new(m, &cp, &c, err, sizeof(err))) {
		int32_t toks[4];
		size_t n = 0;
		if (!sluice_tokenize(m, "Once upon", 9, true, toks, 4, &n) && n)
			sluice_decode(c, toks, n, NULL);
		sluice_ctx_free(c);
	}
	sluice_model_free(m);
	return 1;
}

int main(void)
{
	static const struct { const char *file; size_t header; } models[] = {
		{ "stories260K.gguf", 14176 },
		{ "llama-2-tiny-random.gguf", 724416 },
	};
	const char *out = t_tmp_path("mutant.gguf");
	for (size_t k = 0; k < 2; k++) {
		size_t len;
		uint8_t *orig = t_read_file(t_model(models[k].file), &len);
		CHECK(orig != NULL);
		if (!orig)
			return t_done();
		uint8_t *b = malloc(len);
		/* SLUICE_MUTATIONS=N runs N per model instead (a longer fuzzing session). */
		const char *env = getenv("SLUICE_MUTATIONS");
		int loaded = 0, iters = env ? atoi(env) : k == 0 ? 1500 : 150;
		for (int it = 0; it < iters; it++) {
			memcpy(b, orig, len);
			mutate(b, len, models[k].header);
			size_t cut = next() % 8 == 0 ? (size_t)(next() % len) : len;
			FILE *f = fopen(out, "wb");
			if (!f || fwrite(b, 1, cut, f) != cut || fclose(f))
				return 1;
			loaded += try_load(out);
		}
		printf("%s: %d corruptions, %d still loaded, the rest refused with a message\n", models[k].file, iters,
		       loaded);
		free(b);
		free(orig);
	}
	remove(out);
	return t_done();
}
