/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_plan_model.c — sluice plan's library side (runtime/cache/plan_model.h) and the
 * sparse R1 layout (runtime/model/synth_like.h):
 *   - the R1 layout: 671B parameters, a few MB on disk, the vocabulary loads with as many tokens as
 *     token_embd has rows, one unit per expert slice, unit bytes add up to the file's tensor bytes;
 *   - its placement at 24 GiB + 64 GiB: every byte in exactly one tier; too-small budgets fail clearly;
 *   - the cost model on hand-made placements: exact bytes per token, times and the bound;
 *   - a small generated llama: dense units only, everything resident = no drive traffic.
 */
#include "cache/placement.h"
#include "cache/plan_model.h"
#include "gguf.h"
#include "helpers/testutil.h"
#include "internal.h"
#include "model/synth.h"
#include "model/synth_like.h"
#include "quant/quant.h"
#include "token/vocab.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define GiB (1ull << 30)

static bool near(double a, double b)
{
	return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b));
}

static void r1_layout(void)
{
	const char *path = t_tmp_path("r1.gguf");
	struct sl_synth_like_info info;
	struct sl_err err;
	CHECK_MSG(sl_synth_like_write("deepseek-r1", "q4_K_m", path, &info, &err) == 0, "%s", err.msg);
	CHECK(info.n_params == 671026419200ull);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	CHECK((uint64_t)st.st_size == info.file_bytes && info.file_bytes > info.tensor_bytes);
	CHECK_MSG((uint64_t)st.st_blocks * 512 < (64ull << 20), "sparse file allocates %llu bytes",
		  (unsigned long long)st.st_blocks * 512);

	struct gguf_file *f;
	CHECK_MSG(sl_gguf_open(path, &f, &err) == 0, "%s", err.msg);
	const struct gguf_tensor *te = sl_gguf_find_tensor(f, "token_embd.weight");
	CHECK(te && te->ne[0] == 7168 && te->ne[1] == 129280);
	const struct gguf_tensor *kb = sl_gguf_find_tensor(f, "blk.5.attn_k_b.weight");
	CHECK(kb && kb->n_dims == 3 && kb->ne[0] == 128 && kb->ne[1] == 512 && kb->ne[2] == 128);
	CHECK(kb && kb->type == SL_TYPE_Q5_0); /* q4_K cannot block rows of 128: llama.cpp's fallback */
	CHECK(sl_gguf_find_tensor(f, "blk.2.ffn_gate_exps.weight") == NULL);
	CHECK(sl_gguf_find_tensor(f, "blk.3.ffn_gate_exps.weight") != NULL);
	CHECK(sl_gguf_find_tensor(f, "blk.60.exp_probs_b.bias") != NULL);
	uint32_t v32 = 0;
	CHECK(sl_gguf_get_u32(f, "deepseek2.expert_group_count", &v32, &err) == 0 && v32 == 8);
	CHECK(sl_gguf_get_u32(f, "deepseek2.attention.kv_lora_rank", &v32, &err) == 0 && v32 == 512);
	float fl = 0;
	CHECK(sl_gguf_get_f32(f, "deepseek2.rope.scaling.factor", &fl, &err) == 0 && fl == 40.0f);
	struct sl_vocab *v = NULL;
	CHECK_MSG(sl_vocab_load(f, &v, &err) == 0, "%s", err.msg);
	if (v) {
		CHECK(sl_vocab_size(v) == 129280);
		CHECK(sl_vocab_bos(v) == 0 && sl_vocab_eos(v) == 1);
		sl_vocab_free(v);
	}

	struct sl_model_units m;
	CHECK_MSG(sl_model_units(f, 4096, &m, &err) == 0, "%s", err.msg);
	CHECK(m.n_params == 671026419200ull && m.tensor_bytes == info.tensor_bytes);
	CHECK(m.n_layers == 61 && m.first_moe == 3 && m.n_expert == 256 && m.experts_used == 8);
	CHECK(m.n == (int)(f->n_tensors - 58 * 3) + 58 * 3 * 256);
	uint64_t sum = 0, n_exp_units = 0, cls_bytes[SL_CLASS_COUNT] = { 0 };
	for (int i = 0; i < m.n; i++) {
		sum += m.u[i].size;
		cls_bytes[m.cls[i]] += m.u[i].size;
		CHECK(m.u[i].span >= m.u[i].size && m.u[i].span % 4096 == 0);
		if (m.u[i].expert >= 0) {
			n_exp_units++;
			CHECK(m.cls[i] == SL_CLASS_EXPERT && m.u[i].layer >= 3);
		}
	}
	CHECK(sum == info.tensor_bytes);
	CHECK(n_exp_units == 58ull * 3 * 256);
	for (int k = 0; k < SL_CLASS_COUNT; k++)
		CHECK_MSG(cls_bytes[k] > 0, "class %s empty", sl_unit_class_names[k]);
	/* an expert: gate + up (q4_K) + down slices of 7168 x 2048; down is q6_K where llama.cpp gives
	 * more bits (layer 4: the first eighth), q4_K elsewhere (layer 10) */
	CHECK(m.expert_bytes[10] == 3ull * 2048 * 7168 / 256 * 144);
	CHECK(m.expert_bytes[4] == (2ull * 144 + 210) * 2048 * 7168 / 256);

	/* 24 GiB of device memory, 64 GiB of host cache: every unit in exactly one tier */
	struct sl_place_input in = { .units = m.u, .n_units = m.n, .n_layers = m.n_layers, .vram = 24 * GiB,
				     .host = 64 * GiB, .host_tier = true, .experts_used = m.experts_used };
	struct sl_place_plan p;
	CHECK_MSG(sl_place(&in, &p, &err) == 0, "%s", err.msg);
	if (p.where) {
		uint64_t dev = 0, host = 0, str = 0;
		for (int i = 0; i < m.n; i++)
			*(p.where[i] == SL_PLACE_DEVICE ? &dev : p.where[i] == SL_PLACE_HOST ? &host : &str) += m.u[i].size;
		CHECK(dev + host + str == info.tensor_bytes);
		CHECK(dev == p.device_bytes && str == p.stream_bytes && p.host_bytes >= host);
		CHECK(p.device_bytes + p.dev_window <= 24 * GiB && p.host_bytes + p.host_window <= 64 * GiB);
		struct sl_plan_cost_in ci = { .m = &m, .plan = &p, .bw = { 7e9, 25e9, 1e12 }, .device_copy = true };
		struct sl_plan_cost c;
		CHECK(sl_plan_cost(&ci, &c, &err) == 0);
		/* ~37B active parameters at ~4.8 bits: 19..23 GiB per token */
		CHECK_MSG(c.active > 19.0 * GiB && c.active < 23.0 * GiB, "active %.2f GiB", c.active / GiB);
		CHECK(c.disk_dense == 0 && c.disk_experts > 0 && c.expert_hit > 0 && c.expert_hit < 1);
		CHECK(near(c.disk, c.active_min * 0 + c.disk_experts));
		CHECK(c.tok_s > 0 && c.tok_s >= c.tok_s_serial);
		sl_place_plan_free(&p);
	}
	/* Budgets too small: clear errors */
	in.vram = 512ull << 20;
	CHECK(sl_place(&in, &p, &err) == -ENOMEM && strstr(err.msg, "--vram"));
	in.vram = 24 * GiB;
	in.host = 64ull << 20;
	CHECK(sl_place(&in, &p, &err) == -ENOMEM && strstr(err.msg, "--host-cache"));
	sl_model_units_free(&m);
	sl_gguf_close(f);

	/* the UD-IQ1_S mix: experts iq1_s, down iq2_xxs at the ends */
	CHECK(sl_synth_like_write("deepseek-r1", "ud-iq1_s", path, &info, &err) == 0);
	CHECK(sl_gguf_open(path, &f, &err) == 0);
	const struct gguf_tensor *g = sl_gguf_find_tensor(f, "blk.30.ffn_gate_exps.weight");
	const struct gguf_tensor *d3 = sl_gguf_find_tensor(f, "blk.3.ffn_down_exps.weight");
	CHECK(g && g->type == SL_TYPE_IQ1_S && d3 && d3->type == SL_TYPE_IQ2_XXS);
	CHECK(info.tensor_bytes > 125 * GiB && info.tensor_bytes < 140 * GiB);
	sl_gguf_close(f);
	CHECK(sl_synth_like_write("deepseek-r1", "nonsense", path, &info, &err) == -EINVAL && strstr(err.msg, "nonsense"));
	CHECK(sl_synth_like_write("llama-405b", NULL, path, &info, &err) == -EINVAL && strstr(err.msg, "llama-405b"));
	unlink(path);
}

/* A generated llama: dense units, one per tensor; all resident = nothing from the drive. */
static void small_llama(void)
{
	const char *path = t_tmp_path("llama.gguf");
	struct sl_synth_params sp = { .size_bytes = 4ull << 20, .type = SL_TYPE_Q8_0, .seed = 1 };
	struct sl_err err;
	CHECK(sl_synth_plan(&sp, &err) == 0);
	CHECK_MSG(sl_synth_write(&sp, path, NULL, NULL, &err) == 0, "%s", err.msg);
	struct gguf_file *f;
	CHECK(sl_gguf_open(path, &f, &err) == 0);
	struct sl_model_units m;
	CHECK_MSG(sl_model_units(f, 512, &m, &err) == 0, "%s", err.msg);
	CHECK(m.n == (int)f->n_tensors && m.experts_used == 0 && m.first_moe == m.n_layers);
	CHECK(m.n_layers == (int)sp.n_layer);
	uint64_t sum = 0;
	for (int i = 0; i < m.n; i++)
		sum += m.u[i].size;
	CHECK(sum == m.tensor_bytes);
	struct sl_place_input in = { .units = m.u, .n_units = m.n, .n_layers = m.n_layers, .vram = UINT64_MAX,
				     .host = UINT64_MAX, .host_visible = true, .host_tier = true };
	struct sl_place_plan p;
	CHECK(sl_place(&in, &p, &err) == 0);
	struct sl_plan_cost_in ci = { .m = &m, .plan = &p, .bw = { 1e9, 0, 1e10 } };
	struct sl_plan_cost c;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0);
	CHECK(c.disk == 0 && c.pcie == 0 && !strcmp(c.bound, "compute") && c.expert_hit == 1.0);
	/* active = everything but token_embd, plus one of its rows */
	const struct gguf_tensor *te = sl_gguf_find_tensor(f, "token_embd.weight");
	CHECK(near(c.active, (double)(m.tensor_bytes - te->size + te->size / (uint64_t)te->ne[1])));
	CHECK(near(c.tok_s, 1e10 / c.active));
	const uint64_t globals = p.global_bytes;
	CHECK(globals == te->size + sl_gguf_find_tensor(f, "output.weight")->size +
				 sl_gguf_find_tensor(f, "output_norm.weight")->size);
	sl_place_plan_free(&p);

	/* Stream everything but the globals: the drive reads every layer each token */
	in.vram = globals;
	in.host_tier = false; /* mmap-like: no host cache of ours, so all of rest streams */
	CHECK_MSG(sl_place(&in, &p, &err) == 0, "%s", err.msg);
	CHECK(sl_plan_cost(&ci, &c, &err) == 0);
	CHECK(near(c.disk, (double)p.stream_bytes) && c.disk_dense == c.disk);
	CHECK(near(c.t_token, fmax(c.disk / 1e9, c.active / 1e10)) && !strcmp(c.bound, "disk"));
	CHECK(near(c.t_serial, c.disk / 1e9 + c.active / 1e10));
	ci.bw.disk = 0;
	CHECK(sl_plan_cost(&ci, &c, &err) == -EINVAL);
	sl_place_plan_free(&p);
	sl_model_units_free(&m);
	sl_gguf_close(f);
	unlink(path);
}

/* Hand-made MoE units: the uniform estimate with a dynamic cache, and given hit rates. */
static void moe_cost(void)
{
	/* 2 layers: layer 0 dense (100 bytes), layer 1: router 10 bytes + 4 experts x 1000 bytes; k = 2 */
	struct sl_place_unit u[] = { { 100, 4096, 0, -1 }, { 10, 4096, 1, -1 }, { 1000, 4096, 1, 0 },
				     { 1000, 4096, 1, 1 }, { 1000, 4096, 1, 2 }, { 1000, 4096, 1, 3 } };
	uint8_t cls[] = { SL_CLASS_DENSE_FFN, SL_CLASS_ROUTER, SL_CLASS_EXPERT, SL_CLASS_EXPERT, SL_CLASS_EXPERT,
			  SL_CLASS_EXPERT };
	uint64_t use[] = { 100, 10, 1000, 1000, 1000, 1000 }, eb[] = { 0, 1000 };
	struct sl_model_units m = { .u = u, .cls = cls, .use = use, .n = 6, .n_layers = 2, .n_expert = 4,
				    .experts_used = 2, .first_moe = 1, .expert_bytes = eb, .expert_bytes_max = 1000 };
	/* experts 0 on the device, 1 pinned in host, 2 and 3 streamed; dense units on the device */
	uint8_t where[] = { SL_PLACE_DEVICE, SL_PLACE_DEVICE, SL_PLACE_DEVICE, SL_PLACE_HOST, SL_PLACE_STREAM,
			    SL_PLACE_STREAM };
	struct sl_place_plan p = { .where = where };
	struct sl_plan_cost_in ci = { .m = &m, .plan = &p, .bw = { 1000, 500, 1e6 }, .device_copy = true };
	struct sl_plan_cost c;
	struct sl_err err;
	/* uniform, no dynamic cache: hit = 2/4, device 1/4: disk = 2 x 1000 x 0.5, pcie = 2000 x 0.75 */
	CHECK(sl_plan_cost(&ci, &c, &err) == 0);
	CHECK(near(c.active, 110 + 2000) && near(c.expert_hit, 0.5));
	CHECK(near(c.disk, 1000) && near(c.disk_experts, 1000) && c.disk_dense == 0);
	CHECK(near(c.pcie, 1500) && near(c.from_device, 110 + 500));
	CHECK(near(c.t_disk, 1.0) && near(c.t_pcie, 3.0) && !strcmp(c.bound, "pcie"));
	/* a dynamic cache of 1 expert: half of the 2 streamed ones: hit = 0.5 + 0.5 x 0.5 */
	ci.dyn_cache_experts = 1;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0 && near(c.expert_hit, 0.75) && near(c.disk, 500));
	ci.dyn_cache_experts = 100;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0 && near(c.expert_hit, 1.0) && c.disk == 0);
	/* hit rates from a replay */
	double hit[] = { 0, 0.9 }, dev[] = { 0, 0.6 };
	ci.hit = hit;
	ci.dev_hit = dev;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0);
	CHECK(near(c.disk, 200) && near(c.pcie, 800) && near(c.expert_hit, 0.9));
	/* half the expert reads' time overlaps nothing: 0.1 s of the 0.2 s come after the 1.6 s of PCIe */
	ci.expert_serial = 0.5;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0);
	CHECK(near(c.t_serial_exp, 0.1) && near(c.t_token, 1.7) && !strcmp(c.bound, "pcie"));
	ci.expert_serial = 0;
	/* pre-gating: 2 guesses per layer at precision 0.5 read one unused expert per token */
	ci.pregate = 2;
	ci.pregate_precision = 0.5;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0);
	CHECK(near(c.disk, 200 + 1000) && near(c.disk_pregate, 1000) && near(c.pcie, 800));
	ci.pregate_precision = 1.0;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0 && near(c.disk, 200) && c.disk_pregate == 0);
	ci.pregate = 0;
	/* the whole-layer baseline: both streamed experts read, the 3 not on the device copied; compute the same */
	ci.whole_layers = true;
	CHECK(sl_plan_cost(&ci, &c, &err) == 0);
	CHECK(near(c.disk, 2000) && near(c.pcie, 3000) && near(c.active, 2110));
}

int main(void)
{
	r1_layout();
	small_llama();
	moe_cost();
	return t_done();
}
