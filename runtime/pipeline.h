/* SPDX-License-Identifier: MIT */
/*
 * runtime/pipeline.h — several devices as a pipeline: the layers in contiguous ranges (stages),
 * one backend per device, the hidden state handed from stage to stage.
 *
 * What each stage has of its own: a backend instance (its device, its streams), a weight store
 * with its own device budget (cache/stages.c routes the model's ids to it), the KV cache of its
 * layers and a full set of activation buffers on its device.  The model's forward loop asks, at
 * the top of every layer, whether the layer begins a stage (sl_pipe_starts) and then crosses
 * (sl_pipe_cross): that is the only change the model code needs.  Crossing moves the rows of the
 * hidden state x to the next device, points the context's activation pointers and m->be at that
 * stage's, and tells the weight store which stage computes now.  Between forward passes everything
 * points at stage 0 (sl_pipe_forward resets before and after).
 *
 * With one device there is no pipeline: m->pipe and c->pipe are NULL and nothing here runs.
 */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H

#include "model/model.h"

#define SL_N_ACT 11 /* activation buffers of a context: x, xb, xb2, q, hb, hb2, logits_dev, k_tmp, v_tmp, xe, ye */

struct sl_pipe {
	int n;                                       /* stages, >= 2 */
	int device[SLUICE_MAX_DEVICES];              /* each stage's device ordinal */
	struct sl_backend *be[SLUICE_MAX_DEVICES];   /* be[0] is also m->be between passes */
	uint32_t first[SLUICE_MAX_DEVICES + 1];      /* stage s runs layers [first[s], first[s + 1]) */
	float *bounce;                               /* host rows the hidden state crosses through */
	size_t bounce_len;
	bool bounce_pinned;
};

struct sl_pipe_ctx {
	float *act[SLUICE_MAX_DEVICES][SL_N_ACT];    /* each stage's activation buffers, on its device */
	int cur;                                     /* the stage c's pointers show now */
};

/* Check p's device list (n_devices, devices, vram_budgets) against the backend name: 0 or -EINVAL. */
int sl_pipe_check_params(const struct sluice_model_params *p, struct sl_err *err);
/* Make one backend per device (p->n_devices >= 2) into m->pipe, m->be = stage 0's. */
int sl_pipe_new(struct sluice_model *m, const struct sluice_model_params *p, const struct sl_backend_config *bc,
		struct sl_err *err);
/* After the weights are committed: the layer ranges, the bounce buffer; logs the split. */
int sl_pipe_commit(struct sluice_model *m, struct sl_err *err);
void sl_pipe_free(struct sluice_model *m);
/* pipeline_io.c: the info log's account of which drive each stage reads from, and how near it is
 * to the stage's GPU (runtime/sys/topo.h). */
void sl_pipe_report_io(struct sluice_model *m);

/* Stages (1 without a pipeline), the stage of a layer, the backend of a stage. */
int sl_pipe_stages(const struct sluice_model *m);
int sl_pipe_stage(const struct sluice_model *m, uint32_t layer);
struct sl_backend *sl_pipe_backend(const struct sluice_model *m, int stage);

/* Does layer l begin a stage after the first (a crossing before it)? */
static inline bool sl_pipe_starts(const struct sluice_model *m, uint32_t l)
{
	return m->pipe && l > 0 && sl_pipe_stage(m, l) != sl_pipe_stage(m, l - 1);
}
/* Move the n rows of the hidden state c->x to layer l's stage and switch c, m->be and the weight
 * store to it.  0 or -errno with c->err set. */
int sl_pipe_cross(struct sluice_ctx *c, uint32_t l, int n);
/* The architecture's forward pass with everything pointing at stage 0 before and after it. */
int sl_pipe_forward(struct sluice_ctx *c, const int32_t *tokens, int n, const struct sl_seg *segs, int n_segs);
/* Point c's activation pointers at stage s's buffers. */
void sl_pipe_ctx_show(struct sluice_ctx *c, int s);
/* Addresses of c's activation pointers, in sl_pipe_ctx.act's order. */
void sl_pipe_act_slots(struct sluice_ctx *c, float **slots[SL_N_ACT]);

#endif
