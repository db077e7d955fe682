/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_forward_ref.c — the llama forward pass against an independent
 * numpy implementation (tests/ref/llama_ref.py), through the public API only.
 *
 * For each model (stories260K F32, llama-2-tiny-random F16, synthetic models
 * in f32, f16, bf16 and q8_0, and a random f32 qwen2 with a BPE vocabulary
 * written by tests/ref/gen_qwen2.py) the engine decodes a prompt and continues it
 * greedily for 16 steps; the reference then runs the same token sequence and the
 * logits must agree at every one of the 16 steps:
 *     max |ours - ref| / max |ref|  <  tol
 * and the greedy token must agree unless the reference's top two are closer than
 * the tolerance.
 *
 * Tolerances.  The reference is float64 and reproduces the one rounding a
 * ggml-style matmul does on purpose: the activation row is converted to the
 * weight's vec_dot type (f16, bf16, q8_0) before the dot.  f32 weights have no
 * such rounding and agree to ~4e-7, so tol is 1e-4.  With rounding, agreement is
 * limited by "flips": ours (float32) and the reference differ by ~1e-7 before
 * rounding, so each step a few of the thousands of rounded elements land on the
 * neighbouring value, a jump of one unit of the type (2^-11 of the element for
 * f16, 2^-8 for bf16, 1/127 of the block maximum for q8_0) that the later
 * layers carry to the logits.  Measured worst cases over 16 steps: f16 ~5e-4,
 * bf16 ~3e-3, q8_0 ~6e-3; tol is 1e-3, 1e-2 and 2e-2.  q8_0 is also compared
 * with the unrounded product (--act exact, measured ~1e-2, tol 5e-2), so a
 * rounding bug shared by the engine and the emulation would still show.  Every
 * structural mistake (RoPE pairs or frequencies, GQA head mapping, a missing
 * norm, a transposed or mis-scaled weight) moves the logits by O(1) of the scale.
 *
 * Also: prompt processing in one call (chunked internally by n_batch) gives the
 * same logits as one token per call, and as calls of varying lengths, to 1e-4.
 */
#include "model/synth.h"
#include "quant/quant.h"
#include "sluice.h"
#include "tests/unit/helpers/testutil.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCRIPT "tests/ref/llama_ref.py"
#define N_STEPS 16
#define TOL_BATCH 1e-4

static const char *const LONG_TEXT =
	"Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
	"with her friend Ben. One day, they saw a big red ball under a tree. \"Can we play with it?\" "
	"asked Ben. Lily said yes, and they ran and laughed until the sun went down and mom called "
	"them home for dinner.";

/* Streaming budgets for the next open_model (0 = unlimited). */
static uint64_t g_vram, g_host_cache;

static int open_model(const char *path, struct sluice_model **m, struct sluice_ctx **c)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.n_threads = 2;
	mp.vram_budget = g_vram;
	mp.host_cache = g_host_cache;
	return t_open_model(path, &mp, 512, m, c);
}

/* Greedy continuation of prompt for N_STEPS, each step's logits checked against the reference. */
static void check_reference(const char *name, const char *path, const char *prompt, double tol, double tol_exact)
{
	struct sluice_model *m;
	struct sluice_ctx *c;
	if (open_model(path, &m, &c)) {
		t_failures++;
		return;
	}
	struct sluice_model_info info;
	sluice_model_get_info(m, &info);
	const size_t V = info.n_vocab;
	int32_t toks[256];
	size_t np = 0;
	CHECK(sluice_tokenize(m, prompt, strlen(prompt), true, toks, 64, &np) == 0);
	CHECK(np > 0 && np < 64);
	float *ours = malloc(N_STEPS * V * sizeof(float));
	const float *lg = NULL;
	size_t n = np;
	int rc = sluice_decode(c, toks, np, &lg);
	CHECK_MSG(rc == 0, "%s: decode prompt: %s", name, sluice_ctx_error(c));
	for (int s = 0; s < N_STEPS && rc == 0; s++) {
		memcpy(ours + (size_t)s * V, lg, V * sizeof(float));
		int32_t t = t_argmax(lg, V);
		if (s == N_STEPS - 1)
			break;
		toks[n++] = t;
		rc = sluice_decode(c, &t, 1, &lg);
		CHECK_MSG(rc == 0, "%s: decode step %d: %s", name, s, sluice_ctx_error(c));
	}
	if (rc == 0 && g_vram) {
		/* streamed: the weights did not all fit, so decoding read some of them again */
		struct sluice_stats st;
		CHECK(sluice_ctx_get_stats(c, &st) == 0);
		printf("%-22s streamed: %.2f MiB read for %.2f MiB of weights, %llu misses\n", name,
		       (double)st.bytes_read / 1048576.0, (double)info.weight_bytes / 1048576.0,
		       (unsigned long long)st.cache_misses);
		CHECK_MSG(st.bytes_read > info.weight_bytes, "%s: the budgets did not make it stream (%llu bytes read)", name,
			  (unsigned long long)st.bytes_read);
	}
	if (rc == 0) {
		/* toks[0..n): prompt + 15 generated; ours[s] are the logits at position np-1+s */
		for (int pass = 0; pass < (tol_exact > 0 ? 2 : 1); pass++) {
			const char *act = pass ? "exact" : "ggml";
			const double tl = pass ? tol_exact : tol;
			float *ref = t_run_ref(SCRIPT, path, toks, n, V, "--act %s", act);
			if (!ref) {
				t_failures++;
				break;
			}
			double worst = 0;
			int worst_step = 0, argmax_bad = 0;
			for (int s = 0; s < N_STEPS; s++) {
				const float *r = ref + (np - 1 + (size_t)s) * V, *o = ours + (size_t)s * V;
				double d = t_rel_diff(o, r, V);
				if (!(d <= worst)) {
					worst = d;
					worst_step = s;
				}
				/* the greedy choice must agree unless the reference's top two are within tolerance */
				int32_t a = t_argmax(o, V), b = t_argmax(r, V);
				if (a != b && fabs((double)r[a] - (double)r[b]) > 4 * tl * t_max_abs(r, V))
					argmax_bad++;
			}
			printf("%-22s %-5s %zu prompt + %d steps: max rel diff %.3g (step %d), logit scale %.3g\n", name,
			       act, np, N_STEPS, worst, worst_step, t_max_abs(ref + (np - 1) * V, V));
			CHECK_MSG(worst < tl, "%s (%s): logits differ from the reference by %.3g of the scale at step %d (tol %g)",
				  name, act, worst, worst_step, tl);
			CHECK_MSG(argmax_bad == 0, "%s (%s): greedy token differs from the reference at %d steps", name,
				  act, argmax_bad);
			free(ref);
		}
	}
	free(ours);
	sluice_ctx_free(c);
	sluice_model_free(m);
}

/* One call for the whole (longer than n_batch) prompt == one token per call == calls of 1, 2, 3, ... tokens. */
static void check_batching(const char *name, const char *path)
{
	struct sluice_model *m;
	struct sluice_ctx *c;
	if (open_model(path, &m, &c)) {
		t_failures++;
		return;
	}
	struct sluice_model_info info;
	sluice_model_get_info(m, &info);
	const size_t V = info.n_vocab;
	int32_t toks[512];
	size_t n = 0;
	CHECK(sluice_tokenize(m, LONG_TEXT, strlen(LONG_TEXT), true, toks, 512, &n) == 0);
	CHECK_MSG(n > 64, "%s: the long prompt is only %zu tokens; it should exceed n_batch", name, n);
	float *single = malloc(n * V * sizeof(float));
	const float *lg;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = sluice_decode(c, &toks[i], 1, &lg);
		if (!rc)
			memcpy(single + i * V, lg, V * sizeof(float));
	}
	CHECK_MSG(rc == 0, "%s: token-by-token decode: %s", name, sluice_ctx_error(c));

	double worst_all = 0, worst_chunks = 0;
	if (!rc) {
		sluice_ctx_reset(c);
		rc = sluice_decode(c, toks, n, &lg);
		CHECK_MSG(rc == 0, "%s: batched decode: %s", name, sluice_ctx_error(c));
		if (!rc)
			worst_all = t_rel_diff(lg, single + (n - 1) * V, V);
	}
	if (!rc) {
		sluice_ctx_reset(c);
		for (size_t done = 0, k = 1; done < n && !rc; done += k, k++) {
			size_t take = SL_MIN(k, n - done);
			rc = sluice_decode(c, toks + done, take, &lg);
			CHECK_MSG(rc == 0, "%s: decode of %zu at %zu: %s", name, take, done, sluice_ctx_error(c));
			if (!rc)
				worst_chunks = fmax(worst_chunks, t_rel_diff(lg, single + (done + take - 1) * V, V));
			if (take < k)
				break;
		}
	}
	printf("%-22s batch: %zu tokens, one call vs one per call %.3g, growing chunks %.3g\n", name, n, worst_all,
	       worst_chunks);
	CHECK_MSG(worst_all < TOL_BATCH, "%s: batched prompt differs from token-by-token by %.3g", name, worst_all);
	CHECK_MSG(worst_chunks < TOL_BATCH, "%s: chunked prompt differs from token-by-token by %.3g", name, worst_chunks);
	free(single);
	sluice_ctx_free(c);
	sluice_model_free(m);
}

int main(void)
{
	t_need_ref(SCRIPT);

	/* synthetic models: every weight type the generator's users rely on */
	static const struct {
		uint32_t type;
		const char *name;
		double tol, tol_exact; /* see the top of this file */
	} synth[] = {
		{ SL_TYPE_F32, "synth-f32", 1e-4, 0 },
		{ SL_TYPE_F16, "synth-f16", 1e-3, 0 },
		{ SL_TYPE_BF16, "synth-bf16", 1e-2, 0 },
		{ SL_TYPE_Q8_0, "synth-q8_0", 2e-2, 5e-2 },
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(synth); i++) {
		struct sl_synth_params p = { .size_bytes = 2u << 20, .type = synth[i].type, .seed = 11 + i,
					     .n_embd = 128, .n_layer = 4 };
		struct sl_err err = { "" };
		const char *path = t_tmp_path(synth[i].name);
		if (sl_synth_plan(&p, &err) || sl_synth_write(&p, path, NULL, NULL, &err)) {
			fprintf(stderr, "FAIL: synth %s: %s\n", synth[i].name, err.msg);
			t_failures++;
			continue;
		}
		check_reference(synth[i].name, path, "Once upon a time there was a little dog", synth[i].tol,
				synth[i].tol_exact);
		if (synth[i].type == SL_TYPE_F16 || synth[i].type == SL_TYPE_Q8_0)
			check_batching(synth[i].name, path);
		unlink(path);
	}

	/* qwen2: q/k/v biases, NeoX rope, rope base 1e6, a byte-level BPE vocabulary (tests/ref/gen_qwen2.py) */
	{
		const char *path = t_tmp_path("qwen2-f32");
		char cmd[8400];
		snprintf(cmd, sizeof(cmd), "python3 tests/ref/gen_qwen2.py '%s' 7", path);
		if (system(cmd) != 0) {
			fprintf(stderr, "FAIL: %s\n", cmd);
			t_failures++;
		} else {
			check_reference("qwen2 (f32)", path, "The cat was in the hat, with 12345 \xe4\xbd\xa0\xe5\xa5\xbd!", 1e-4, 0);
			check_batching("qwen2 (f32)", path);
			unlink(path);
		}
	}

	/* gen-model's qwen2 and Llama-3-style models (runtime/model/synth_bpe.c: byte-level BPE
	 * vocabularies; qwen2 biases and NeoX rope, base 1e6; Llama-3 rope base 500000, and with
	 * rope_freqs Llama-3.1's frequency factors), whole in memory and streamed under small
	 * budgets (the file's size / 3 of device memory and of host cache). */
	static const struct {
		const char *name, *arch;
		bool rope_freqs, stream;
		uint32_t type;
		double tol, tol_exact;
	} gens[] = {
		{ "gen-qwen2 f32", "qwen2", false, false, SL_TYPE_F32, 1e-4, 0 },
		{ "gen-qwen2 f32 stream", "qwen2", false, true, SL_TYPE_F32, 1e-4, 0 },
		{ "gen-qwen2 q8_0", "qwen2", false, false, SL_TYPE_Q8_0, 2e-2, 5e-2 },
		{ "gen-llama3 f32", "llama", false, false, SL_TYPE_F32, 1e-4, 0 },
		{ "gen-llama3 f16 stream", "llama", false, true, SL_TYPE_F16, 1e-3, 0 },
		{ "gen-llama3.1 f32", "llama", true, false, SL_TYPE_F32, 1e-4, 0 },
		{ "gen-llama3.1 f32 strm", "llama", true, true, SL_TYPE_F32, 1e-4, 0 },
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(gens); i++) {
		struct sl_synth_params p = { .size_bytes = 2u << 20, .type = gens[i].type, .seed = 21 + i,
					     .arch = gens[i].arch, .bpe = true, .rope_freqs = gens[i].rope_freqs,
					     .n_embd = 128, .n_layer = 4 };
		struct sl_err err = { "" };
		const char *path = t_tmp_path("gen-bpe");
		if (sl_synth_plan(&p, &err) || sl_synth_write(&p, path, NULL, NULL, &err)) {
			fprintf(stderr, "FAIL: %s: %s\n", gens[i].name, err.msg);
			t_failures++;
			continue;
		}
		if (gens[i].stream) {
			struct stat sb;
			CHECK(stat(path, &sb) == 0);
			g_vram = g_host_cache = (uint64_t)sb.st_size / 3;
		}
		check_reference(gens[i].name, path, "Hello world, the cat said: \xe4\xbd\xa0\xe5\xa5\xbd 12345!",
				gens[i].tol, gens[i].tol_exact);
		if (!gens[i].stream && gens[i].type == SL_TYPE_F32)
			check_batching(gens[i].name, path);
		g_vram = g_host_cache = 0;
		unlink(path);
	}

	/* real models; skipped only when the shared model folder is absent */
	if (t_models_dir()) {
		check_reference("stories260K (f32)", t_model("stories260K.gguf"), "Once upon a time", 1e-4, 0);
		check_batching("stories260K (f32)", t_model("stories260K.gguf"));
		check_reference("tiny-random (f16)", t_model("llama-2-tiny-random.gguf"), "Hello world, this is", 1e-3, 0);
		check_batching("tiny-random (f16)", t_model("llama-2-tiny-random.gguf"));
	} else {
		printf("shared model folder absent: stories260K and llama-2-tiny-random not checked\n");
	}
	return t_done();
}
