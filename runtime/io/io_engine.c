/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io_engine.c — small helpers every engine uses: the common part of engine
 * state, and the FIFO of commands completed at submit time.
 */
#include "io/io_engine.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sl_io_engine_init(struct sl_io_engine *e, const struct sl_io_ops *ops,
		      const struct sl_io_source *src, struct sl_err *err)
{
	e->ops = ops;
	e->fd = -1;
	e->align = e->mem_align = 1;
	e->qd = 1;
	snprintf(e->name, sizeof(e->name), "%s", ops->name);
	e->path = strdup(src && src->path ? src->path : "?");
	if (!e->path)
		return sl_errf(err, ENOMEM, "out of memory");
	return 0;
}

void sl_io_engine_fini(struct sl_io_engine *e)
{
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	free(e->path);
	e->path = NULL;
}

void sl_io_cmdq_push(struct sl_io_cmdq *q, struct sl_io_cmd *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

unsigned sl_io_cmdq_pop(struct sl_io_cmdq *q, struct sl_io_cmd **done, unsigned max)
{
	unsigned n = 0;
	while (n < max && q->head) {
		done[n++] = q->head;
		q->head = q->head->next;
		if (!q->head)
			q->tail = NULL;
	}
	return n;
}
