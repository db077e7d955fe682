/* SPDX-License-Identifier: MIT */
/*
 * tests/fakecuda/fake_module.c — modules from PTX text, and kernel launches.
 *
 * cuModuleLoadData gets the PTX the library embeds.  The fake reads from it what the driver's JIT
 * would need to call a kernel: each `.entry NAME(...)` and its `.param` declarations, from which it
 * lays out the parameter buffer exactly as the device reads it — each parameter at the next offset
 * aligned to its alignment (its own size, or `.align N` before the type: `.param .align 8 .b8
 * x[12]`); a `.align` after `.ptr` is the pointee's and does not count.  cuLaunchKernel copies each
 * value (kernelParams[i] points at it) into that buffer at call time, as the driver does, and
 * queues the launch.  When it runs, the kernel of the same name runs on the CPU: one of the fake's
 * own test kernels (fake_toy.c) or the host-compiled firmware (firmware/simt/simt.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fakecuda.h"
#include "firmware/simt/simt.h"

#define MAX_PARAMS 256

/* The PTX without comments (so that a commented-out .entry does not count). */
static char *strip_comments(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	while (*s) {
		if (s[0] == '/' && s[1] == '/') {
			while (*s && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");
			s = e ? e + 2 : s + strlen(s);
			*o++ = ' ';
		} else if (*s == '"') { /* strings (in .file) may hold anything */
			*o++ = *s++;
			while (*s && *s != '"')
				*o++ = *s++;
			if (*s)
				*o++ = *s++;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
	return out;
}

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '$' || c == '.'; }

/* The next token: an identifier-ish word (with its leading '.'), or one punctuation character. */
static const char *token(const char *s, char *tok, size_t cap)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = 0;
	if (!*s) {
		tok[0] = 0;
		return s;
	}
	if (ident_char(*s)) {
		while (ident_char(*s) && n + 1 < cap)
			tok[n++] = *s++;
	} else {
		tok[n++] = *s++;
	}
	tok[n] = 0;
	return s;
}

static size_t type_size(const char *t)
{
	static const struct {
		const char *t;
		size_t n;
	} types[] = {
		{ ".b8", 1 },  { ".u8", 1 },  { ".s8", 1 },  { ".b16", 2 }, { ".u16", 2 }, { ".s16", 2 },
		{ ".f16", 2 }, { ".bf16", 2 }, { ".b32", 4 }, { ".u32", 4 }, { ".s32", 4 }, { ".f32", 4 },
		{ ".b64", 8 }, { ".u64", 8 }, { ".s64", 8 }, { ".f64", 8 }, { ".pred", 1 },
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(t, types[i].t))
			return types[i].n;
	return 0;
}

static int fail(char *log, size_t log_len, const char *fmt, ...)
{
	if (log && log_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(log, log_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* One `.param ...` declaration (after ".param"), up to ',' or ')'.  *pp is left after it. */
static int parse_param(const char **pp, size_t *size, size_t *align, char *log, size_t log_len, const char *entry)
{
	char tok[256];
	size_t tsize = 0, al = 0, count = 1;
	bool after_ptr = false;
	const char *s = *pp;
	for (;;) {
		const char *before = s;
		s = token(s, tok, sizeof tok);
		if (!tok[0])
			return fail(log, log_len, "unterminated parameter list of %s", entry);
		if (!strcmp(tok, ",") || !strcmp(tok, ")")) {
			s = before; /* the caller reads the separator */
			break;
		}
		if (!strcmp(tok, ".align")) {
			s = token(s, tok, sizeof tok);
			size_t v = strtoul(tok, NULL, 10);
			if (!v || (v & (v - 1)))
				return fail(log, log_len, "bad .align %s in %s", tok, entry);
			if (!after_ptr)
				al = v;
		} else if (!strcmp(tok, ".ptr")) {
			after_ptr = true;
		} else if (type_size(tok)) {
			if (tsize)
				return fail(log, log_len, "two types in a parameter of %s", entry);
			tsize = type_size(tok);
		} else if (!strcmp(tok, "[")) {
			s = token(s, tok, sizeof tok);
			count = strtoul(tok, NULL, 10);
			s = token(s, tok, sizeof tok);
			if (!count || strcmp(tok, "]"))
				return fail(log, log_len, "bad array parameter in %s", entry);
		}
		/* anything else: the name, or a state space (.global/.const/.local/.shared) after .ptr */
	}
	if (!tsize)
		return fail(log, log_len, "a parameter of %s has no type", entry);
	*size = tsize * count;
	*align = al ? al : tsize;
	*pp = s;
	return 0;
}

/* Every .entry of the PTX: 0, or -1 with a message in log. */
static int parse_ptx(const char *ptx, struct fk_module *m, char *log, size_t log_len)
{
	char *text = strip_comments(ptx);
	if (!text)
		return fail(log, log_len, "out of memory");
	int rc = 0, cap = 0;
	size_t off[MAX_PARAMS], size[MAX_PARAMS];
	char tok[256];
	if (!strstr(text, ".version") || !strstr(text, ".target")) {
		rc = fail(log, log_len, "not PTX text: no .version/.target directive");
		goto out;
	}
	const char *t = strstr(text, ".target");
	token(t + 7, tok, sizeof tok);
	if (!strncmp(tok, "sm_", 3) && atoi(tok + 3) > 90) {
		rc = fail(log, log_len, "PTX .target %s is newer than the device (sm_90)", tok);
		goto out;
	}
	for (const char *s = text; (s = strstr(s, ".entry"));) {
		bool word = (s == text || isspace((unsigned char)s[-1])) && isspace((unsigned char)s[6]);
		s += 6;
		if (!word)
			continue;
		s = token(s, tok, sizeof tok);
		if (!tok[0] || !(isalpha((unsigned char)tok[0]) || tok[0] == '_' || tok[0] == '$')) {
			rc = fail(log, log_len, "an .entry without a name");
			goto out;
		}
		if (m->n == cap) {
			cap = cap ? 2 * cap : 16;
			struct fk_kernel *nk = realloc(m->k, (size_t)cap * sizeof *nk);
			if (!nk) {
				rc = fail(log, log_len, "out of memory");
				goto out;
			}
			m->k = nk;
		}
		struct fk_kernel *k = &m->k[m->n];
		memset(k, 0, sizeof *k);
		snprintf(k->name, sizeof k->name, "%s", tok);
		const char *after_name = s;
		s = token(s, tok, sizeof tok);
		int np = 0;
		size_t end = 0;
		if (strcmp(tok, "(")) {
			s = after_name; /* no parameter list */
		} else {
			for (;;) {
				s = token(s, tok, sizeof tok);
				if (!strcmp(tok, ")"))
					break;
				if (strcmp(tok, ".param") || np == MAX_PARAMS) {
					rc = fail(log, log_len, "unexpected '%s' in the parameters of %s", tok, k->name);
					goto out;
				}
				size_t sz = 0, al = 1;
				if (parse_param(&s, &sz, &al, log, log_len, k->name)) {
					rc = -1;
					goto out;
				}
				end = (end + al - 1) / al * al;
				off[np] = end;
				size[np] = sz;
				end += sz;
				np++;
				s = token(s, tok, sizeof tok);
				if (!strcmp(tok, ")"))
					break;
				if (strcmp(tok, ",")) {
					rc = fail(log, log_len, "expected ',' in the parameters of %s", k->name);
					goto out;
				}
			}
		}
		k->off = malloc((size_t)(np ? np : 1) * sizeof *k->off);
		k->size = malloc((size_t)(np ? np : 1) * sizeof *k->size);
		if (!k->off || !k->size) {
			free(k->off);
			free(k->size);
			rc = fail(log, log_len, "out of memory");
			goto out;
		}
		memcpy(k->off, off, (size_t)np * sizeof *off);
		memcpy(k->size, size, (size_t)np * sizeof *size);
		k->n_params = np;
		k->params_size = end;
		m->n++;
	}
	if (!m->n)
		rc = fail(log, log_len, "the PTX has no .entry");
out:
	free(text);
	return rc;
}

void fk_module_free(struct fk_module *m)
{
	for (int i = 0; i < m->n; i++) {
		free(m->k[i].off);
		free(m->k[i].size);
	}
	free(m->k);
	free(m);
}

FK_API CUresult cuModuleLoadDataEx(CUmodule *out, const void *image, unsigned n_opts, int *opts, void **vals)
{
	if (!out || !image || (n_opts && (!opts || !vals)))
		return CUDA_ERROR_INVALID_VALUE;
	char *log = NULL;
	size_t log_len = 0;
	for (unsigned i = 0; i < n_opts; i++) {
		if (opts[i] == CU_JIT_ERROR_LOG_BUFFER)
			log = vals[i];
		else if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
			log_len = (size_t)(uintptr_t)vals[i];
	}
	if (log && log_len)
		log[0] = 0;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (!c)
		goto out;
	if (!memcmp(image, "\177ELF", 4)) { /* a cubin or fatbin: the fake runs PTX only */
		r = CUDA_ERROR_NO_BINARY_FOR_GPU;
		fail(log, log_len, "fakecuda loads PTX text only, not ELF images");
		goto out;
	}
	struct fk_module *m = calloc(1, sizeof *m);
	if (!m) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	if (parse_ptx(image, m, log, log_len)) {
		fk_module_free(m);
		r = CUDA_ERROR_INVALID_PTX;
		goto out;
	}
	m->ctx = c;
	for (int i = 0; i < m->n; i++)
		m->k[i].m = m;
	m->next = c->modules;
	c->modules = m;
	*out = (CUmodule)m;
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuModuleLoadData(CUmodule *out, const void *image)
{
	return cuModuleLoadDataEx(out, image, 0, NULL, NULL);
}

static struct fk_module *module_of(CUmodule h, CUresult *r)
{
	struct fk_ctx *c = fk_cur(r);
	if (!c)
		return NULL;
	for (struct fk_module *m = c->modules; m; m = m->next)
		if ((CUmodule)m == h)
			return m;
	*r = CUDA_ERROR_INVALID_HANDLE;
	return NULL;
}

FK_API CUresult cuModuleUnload(CUmodule h)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_module *m = module_of(h, &r);
	if (m) {
		struct fk_ctx *c = m->ctx;
		r = fk_run_ctx(c); /* its queued launches run first */
		for (struct fk_module **pp = &c->modules; *pp; pp = &(*pp)->next)
			if (*pp == m) {
				*pp = m->next;
				break;
			}
		fk_module_free(m);
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuModuleGetFunction(CUfunction *out, CUmodule h, const char *name)
{
	if (!out || !name)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_module *m = module_of(h, &r);
	if (m) {
		r = CUDA_ERROR_NOT_FOUND;
		for (int i = 0; i < m->n; i++)
			if (!strcmp(m->k[i].name, name)) {
				*out = (CUfunction)&m->k[i];
				r = CUDA_SUCCESS;
				break;
			}
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}

static struct fk_kernel *kernel_of(CUfunction h, CUresult *r)
{
	struct fk_ctx *c = fk_cur(r);
	if (!c)
		return NULL;
	for (struct fk_module *m = c->modules; m; m = m->next)
		if ((uintptr_t)h >= (uintptr_t)m->k && (uintptr_t)h < (uintptr_t)(m->k + m->n))
			return (struct fk_kernel *)h;
	*r = CUDA_ERROR_INVALID_HANDLE;
	return NULL;
}

FK_API CUresult cuFuncGetAttribute(int *v, int attr, CUfunction h)
{
	if (!v)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_kernel *k = kernel_of(h, &r);
	if (k) {
		if (attr == CU_FUNC_ATTRIBUTE_NUM_REGS)
			*v = 32;
		else if (attr == CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES)
			*v = 0;
		else
			r = CUDA_ERROR_INVALID_VALUE;
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuLaunchKernel(CUfunction h, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
			       unsigned bz, unsigned shmem, CUstream sh, void **params, void **extra)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_kernel *k = kernel_of(h, &r);
	struct fk_stream *s = k ? fk_stream_of(sh, &r) : NULL;
	if (!s)
		goto out;
	r = CUDA_ERROR_INVALID_HANDLE; /* a kernel runs in its module's context, on a stream of it */
	if (s->ctx != k->m->ctx)
		goto out;
	r = CUDA_ERROR_INVALID_VALUE;
	if (!gx || !gy || !gz || !bx || !by || !bz || gy > 65535 || gz > 65535 || bz > 64 ||
	    (unsigned long long)bx * by * bz > 1024 || shmem > 48 * 1024 || extra ||
	    (k->n_params && !params))
		goto out;
	for (int i = 0; i < k->n_params; i++)
		if (!params[i])
			goto out;
	struct fk_op *op = fk_op_new(FK_LAUNCH);
	if (!op || !(op->owned = calloc(1, k->params_size + 8))) {
		free(op);
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	for (int i = 0; i < k->n_params; i++) /* the values are taken now, as the driver does */
		memcpy((char *)op->owned + k->off[i], params[i], k->size[i]);
	/* A pointer parameter into another device's memory: a GPU without peer access faults on it.
	 * Any 8-byte parameter whose value lies in another device's arena is such a pointer (arenas
	 * are mmap addresses, no size or count comes near them). */
	for (int i = 0; i < k->n_params; i++) {
		uint64_t v;
		if (k->size[i] != sizeof v)
			continue;
		memcpy(&v, params[i], sizeof v);
		int owner = fk_dev_index(v);
		if (owner >= 0 && owner != s->ctx->dev) {
			fprintf(stderr, "fakecuda: launch of %s on device %d: parameter %d points into device %d's memory "
					"(%#llx): no peer access\n", k->name, s->ctx->dev, i, owner, (unsigned long long)v);
			free(op->owned);
			free(op);
			r = CUDA_ERROR_ILLEGAL_ADDRESS;
			goto out;
		}
	}
	op->k = k;
	op->n = k->params_size;
	op->grid[0] = gx, op->grid[1] = gy, op->grid[2] = gz;
	op->block[0] = bx, op->block[1] = by, op->block[2] = bz;
	op->shmem = shmem;
	op->fail = ++fk.n_launch == fk.fail_launch;
	fk_enqueue(s, op);
	r = CUDA_SUCCESS;
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}

/* The firmware's own idea of the buffer size: the same as the PTX's, or padded to 8 (a C struct's
 * sizeof); the buffer has 8 zero bytes of slack for the latter. */
static size_t firmware_size(const char *name, size_t ptx_size)
{
	size_t sz;
	const char *n;
	for (int i = 0; (n = simt_kernel(i, &sz)); i++)
		if (!strcmp(n, name))
			return sz >= ptx_size && sz - ptx_size < 8 ? sz : ptx_size;
	return ptx_size;
}

CUresult fk_run_launch(struct fk_op *op, char *err, size_t err_len)
{
	const unsigned *g = op->grid, *b = op->block;
	int rc = fk_toy_launch(op->k->name, g, b, op->owned, op->n, err, err_len);
	if (rc == -ENOENT) {
		struct simt_dim3 grid = { g[0], g[1], g[2] }, block = { b[0], b[1], b[2] };
		rc = simt_launch(op->k->name, grid, block, op->shmem, op->owned, firmware_size(op->k->name, op->n), err,
				 err_len);
		if (rc == -ENOENT && !err[0])
			snprintf(err, err_len, "no host kernel named %s", op->k->name);
	}
	return rc ? CUDA_ERROR_LAUNCH_FAILED : CUDA_SUCCESS;
}
