/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/fault.c — a failure-injecting decorator around any engine.
 *
 * sl_io_open (or sl_io_open_engine) wraps the engine it opened when the config has a fault
 * spec: the decorator is an engine of its own that holds a pointer to the inner one and
 * forwards every op to it, lying about results on the way.  It knows nothing of io.c.
 *
 * Spec (struct sl_io_config.fault; the CLI fills it from $SLUICE_IO_FAULT):
 * comma-separated items
 *     eio@N       the Nth engine command (1-based, in submission order) fails with EIO
 *     short@N     the Nth command returns half its bytes (a short read)
 *     busy@N      the Nth submit call is refused as if the queue were full (-EBUSY)
 *     again@N     the same with -EAGAIN
 *     trunc@SIZE  the file appears to end at SIZE bytes (K/M/G suffixes)
 *     nodirect    opening with O_DIRECT fails with EINVAL (as tmpfs did before Linux 6.6)
 *     nouring     io_uring_queue_init fails with ENOSYS (as under a seccomp filter)
 * A '+' after N (eio@3+) makes it hit N and everything after it.  The consumer level
 * (io.c) is what turns these into errors; this file only lies about results.
 */
#include "io/io_engine.h"

#include <stdatomic.h>

#include <stdlib.h>
#include <string.h>

enum fault_kind { F_EIO, F_SHORT, F_BUSY, F_AGAIN, F_TRUNC, F_NODIRECT, F_NOURING };

struct rule {
	enum fault_kind kind;
	uint64_t n; /* command / call number, or size for trunc */
	bool sticky;
};

#define MAX_RULES 16

struct fault_engine {
	struct sl_io_engine e;      /* first */
	struct sl_io_engine *inner;
	struct rule rules[MAX_RULES];
	unsigned nrules;
	uint64_t ncmds, ncalls;
	uint64_t trunc;             /* UINT64_MAX: none */
	/* Read by wait() on the I/O thread without the lock, hence atomic. */
	_Atomic unsigned inner_inflight;
	struct sl_io_cmdq injected; /* completions made up here */
	struct sl_io_cmd **shorten; /* commands whose result to halve when reaped */
	unsigned nshorten, cap;
};

static const struct {
	const char *name;
	enum fault_kind kind;
	bool has_arg;
} kinds[] = {
	{ "eio", F_EIO, true },	      { "short", F_SHORT, true }, { "busy", F_BUSY, true },
	{ "again", F_AGAIN, true },   { "trunc", F_TRUNC, true }, { "nodirect", F_NODIRECT, false },
	{ "nouring", F_NOURING, false },
};

static int parse(const char *spec, struct rule *rules, unsigned *nrules, struct sl_err *err)
{
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		return sl_errf(err, ENOMEM, "out of memory");
	int ret = 0;
	*nrules = 0;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		if (!*item)
			continue;
		char *at = strchr(item, '@');
		if (at)
			*at++ = 0;
		unsigned k;
		for (k = 0; k < SL_ARRAY_SIZE(kinds); k++)
			if (!strcmp(item, kinds[k].name))
				break;
		if (k == SL_ARRAY_SIZE(kinds) || (kinds[k].has_arg != (at != NULL)) ||
		    *nrules == MAX_RULES) {
			ret = sl_errf(err, EINVAL,
				      "bad I/O fault item '%s' in '%s' (eio@N short@N busy@N again@N trunc@SIZE nodirect nouring)",
				      item, spec);
			break;
		}
		struct rule *r = &rules[(*nrules)++];
		r->kind = kinds[k].kind;
		r->n = 0;
		r->sticky = false;
		if (at) {
			size_t l = strlen(at);
			if (l && at[l - 1] == '+' && r->kind != F_TRUNC) {
				r->sticky = true;
				at[l - 1] = 0;
			}
			if (sl_parse_size(at, &r->n) < 0 || (r->kind != F_TRUNC && r->n == 0)) {
				ret = sl_errf(err, EINVAL, "bad number '%s' in I/O fault spec '%s'", at,
					      spec);
				break;
			}
		}
	}
	free(copy);
	return ret;
}

int sl_io_fault_open_flags(const char *spec, struct sl_io_engine_params *of, struct sl_err *err)
{
	struct rule rules[MAX_RULES];
	unsigned n;
	int r = parse(spec, rules, &n, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		if (rules[i].kind == F_NODIRECT)
			of->no_direct = true;
		if (rules[i].kind == F_NOURING)
			of->no_uring = true;
	}
	return 0;
}

bool sl_io_fault_has_runtime(const char *spec)
{
	struct rule rules[MAX_RULES];
	unsigned n;
	if (parse(spec, rules, &n, NULL) < 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (rules[i].kind != F_NODIRECT && rules[i].kind != F_NOURING)
			return true;
	return false;
}

static bool hits(const struct fault_engine *f, enum fault_kind kind, uint64_t count)
{
	for (unsigned i = 0; i < f->nrules; i++) {
		const struct rule *r = &f->rules[i];
		if (r->kind == kind && (count == r->n || (r->sticky && count > r->n)))
			return true;
	}
	return false;
}

static int fault_submit(struct sl_io_engine *e, struct sl_io_cmd **cmds, unsigned n)
{
	struct fault_engine *f = (struct fault_engine *)e;
	f->ncalls++;
	if (hits(f, F_BUSY, f->ncalls))
		return -EBUSY;
	if (hits(f, F_AGAIN, f->ncalls))
		return -EAGAIN;
	unsigned taken = 0;
	/* one at a time, so that "accepted" stays a prefix of cmds whatever gets injected */
	for (unsigned i = 0; i < n; i++) {
		struct sl_io_cmd *c = cmds[i];
		uint64_t nr = f->ncmds + 1;
		if (hits(f, F_EIO, nr)) {
			c->result = -EIO;
			sl_io_cmdq_push(&f->injected, c);
		} else {
			int r = f->inner->ops->submit(f->inner, &c, 1);
			if (r <= 0)
				return taken ? (int)taken : r;
			atomic_fetch_add(&f->inner_inflight, 1);
			if (hits(f, F_SHORT, nr) && f->nshorten < f->cap)
				f->shorten[f->nshorten++] = c;
		}
		f->ncmds = nr;
		taken++;
	}
	return (int)taken;
}

static void adjust(struct fault_engine *f, struct sl_io_cmd *c)
{
	for (unsigned i = 0; i < f->nshorten; i++) {
		if (f->shorten[i] == c) {
			f->shorten[i] = f->shorten[--f->nshorten];
			if (c->result > 0)
				c->result = c->result / 2 / f->e.align * f->e.align;
			break;
		}
	}
	if (c->result > 0 && c->offset + (uint64_t)c->result > f->trunc)
		c->result = c->offset >= f->trunc ? 0 : (int64_t)(f->trunc - c->offset);
}

static int fault_reap(struct sl_io_engine *e, unsigned min, struct sl_io_cmd **done, unsigned max,
		      struct sl_err *err)
{
	struct fault_engine *f = (struct fault_engine *)e;
	unsigned got = sl_io_cmdq_pop(&f->injected, done, max);
	unsigned inner = atomic_load(&f->inner_inflight);
	if (got < max && inner) {
		unsigned want = got >= min ? 0 : SL_MIN(min - got, inner);
		int r = f->inner->ops->reap(f->inner, want, done + got, max - got, err);
		if (r < 0)
			return got ? (int)got : r;
		for (int i = 0; i < r; i++)
			adjust(f, done[got + (unsigned)i]);
		atomic_fetch_sub(&f->inner_inflight, (unsigned)r);
		got += (unsigned)r;
	}
	return (int)got;
}

/* Only reap (the I/O thread) lowers inner_inflight, and wait runs on that thread: when it
 * is non-zero here the inner engine has a command that will complete.  Injected completions
 * need no waiting; when the inner engine holds nothing, return and let reap collect them. */
static void fault_wait(struct sl_io_engine *e)
{
	struct fault_engine *f = (struct fault_engine *)e;
	if (atomic_load(&f->inner_inflight) && f->inner->ops->wait)
		f->inner->ops->wait(f->inner);
}

static int fault_size(struct sl_io_engine *e, uint64_t *size)
{
	struct fault_engine *f = (struct fault_engine *)e;
	uint64_t s = f->inner->size;
	if (f->inner->ops->size) {
		int r = f->inner->ops->size(f->inner, &s);
		if (r < 0)
			return r;
	}
	*size = SL_MIN(s, f->trunc);
	return 0;
}

static int fault_mem_register(struct sl_io_engine *e, struct sl_io_mem *m, struct sl_err *err)
{
	struct fault_engine *f = (struct fault_engine *)e;
	return f->inner->ops->mem_register ? f->inner->ops->mem_register(f->inner, m, err) : 0;
}

static void fault_mem_unregister(struct sl_io_engine *e, struct sl_io_mem *m)
{
	struct fault_engine *f = (struct fault_engine *)e;
	if (f->inner->ops->mem_unregister)
		f->inner->ops->mem_unregister(f->inner, m);
}

static int fault_map(struct sl_io_engine *e, uint64_t off, uint64_t len, const void **ptr)
{
	struct fault_engine *f = (struct fault_engine *)e;
	if (!f->inner->ops->map)
		return -ENOTSUP;
	return f->inner->ops->map(f->inner, off, len, ptr);
}

static void fault_close(struct sl_io_engine *e)
{
	struct fault_engine *f = (struct fault_engine *)e;
	/* let the inner engine's commands land before their buffers go away */
	struct sl_io_cmd *done[64];
	while (atomic_load(&f->inner_inflight)) {
		int r = f->inner->ops->reap(f->inner, 1, done, 64, NULL);
		if (r <= 0)
			break;
		atomic_fetch_sub(&f->inner_inflight, (unsigned)r);
	}
	if (f->inner)
		f->inner->ops->close(f->inner);
	sl_io_engine_fini(e);
	free(f->shorten);
	free(f);
}

static int fault_open(const struct sl_io_source *src, const struct sl_io_engine_params *p,
		      struct sl_io_engine **out, struct sl_err *err)
{
	return sl_errf(err, EINVAL, "the fault engine wraps another; use sl_io_fault_wrap");
}

static const struct sl_io_ops fault_ops = {
	.name = "fault",
	.open = fault_open,
	.submit = fault_submit,
	.reap = fault_reap,
	.wait = fault_wait,
	.size = fault_size,
	.mem_register = fault_mem_register,
	.mem_unregister = fault_mem_unregister,
	.map = fault_map,
	.close = fault_close,
};

int sl_io_fault_wrap(struct sl_io_engine *inner, const char *spec, struct sl_io_engine **out,
		     struct sl_err *err)
{
	struct fault_engine *f = calloc(1, sizeof(*f));
	if (!f)
		return sl_errf(err, ENOMEM, "out of memory");
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = inner->path };
	int r = sl_io_engine_init(&f->e, &fault_ops, &src, err);
	if (r == 0)
		r = parse(spec, f->rules, &f->nrules, err);
	f->cap = SL_MAX(inner->qd, 1u);
	if (r == 0 && !(f->shorten = calloc(f->cap, sizeof(*f->shorten))))
		r = sl_errf(err, ENOMEM, "out of memory");
	if (r < 0) {
		sl_io_engine_fini(&f->e);
		free(f->shorten);
		free(f);
		return r;
	}
	f->inner = inner;
	f->trunc = UINT64_MAX;
	for (unsigned i = 0; i < f->nrules; i++)
		if (f->rules[i].kind == F_TRUNC)
			f->trunc = SL_MIN(f->trunc, f->rules[i].n);
	/* what the generic layer sees: the inner engine's geometry, the file cut at trunc */
	f->e.size = SL_MIN(inner->size, f->trunc);
	f->e.align = inner->align;
	f->e.mem_align = inner->mem_align;
	f->e.qd = inner->qd;
	f->e.sync = inner->sync;
	f->e.maps = inner->maps;
	snprintf(f->e.name, sizeof(f->e.name), "fault(%.24s)", inner->name);
	*out = &f->e;
	return 0;
}
