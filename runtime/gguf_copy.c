/* SPDX-License-Identifier: MIT */
/* runtime/gguf_copy.c — see gguf_copy.h. */
#include "gguf_copy.h"

#include <stdlib.h>

int sl_gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv)
{
	const char *key = kv->key.s;
	const struct gguf_value *v = &kv->val;
	switch (v->type) {
	case GGUF_TYPE_UINT32: return sl_gguf_writer_set_u32(w, key, (uint32_t)v->u64);
	case GGUF_TYPE_INT32: return sl_gguf_writer_set_i32(w, key, (int32_t)v->i64);
	case GGUF_TYPE_UINT64: return sl_gguf_writer_set_u64(w, key, v->u64);
	case GGUF_TYPE_FLOAT32: return sl_gguf_writer_set_f32(w, key, (float)v->f64);
	case GGUF_TYPE_BOOL: return sl_gguf_writer_set_bool(w, key, v->b);
	case GGUF_TYPE_STRING: return sl_gguf_writer_set_str(w, key, v->str.s);
	/* No setter in the writer for these scalars: widen, and say so. */
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16: {
		int rc = sl_gguf_writer_set_u32(w, key, (uint32_t)v->u64);
		return rc ? rc : 1;
	}
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16: {
		int rc = sl_gguf_writer_set_i32(w, key, (int32_t)v->i64);
		return rc ? rc : 1;
	}
	case GGUF_TYPE_INT64: {
		int rc = sl_gguf_writer_set_u64(w, key, (uint64_t)v->i64);
		return rc ? rc : 1;
	}
	case GGUF_TYPE_FLOAT64: {
		int rc = sl_gguf_writer_set_f32(w, key, (float)v->f64);
		return rc ? rc : 1;
	}
	case GGUF_TYPE_ARRAY:
		if (v->arr.type == GGUF_TYPE_STRING) {
			const struct gguf_str *s = v->arr.data;
			const char **p = malloc((v->arr.n ? v->arr.n : 1) * sizeof *p);
			if (!p)
				return -ENOMEM;
			for (uint64_t i = 0; i < v->arr.n; i++)
				p[i] = s[i].s;
			int rc = sl_gguf_writer_set_arr_str(w, key, p, v->arr.n);
			free(p);
			return rc;
		}
		if (v->arr.type == GGUF_TYPE_ARRAY)
			return -ENOTSUP;
		/* scalar arrays are kept packed as in the file */
		return sl_gguf_writer_set_arr(w, key, v->arr.type, v->arr.data, v->arr.n);
	default:
		return -EINVAL;
	}
}
