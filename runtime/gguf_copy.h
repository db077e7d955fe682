/* SPDX-License-Identifier: MIT */
/*
 * runtime/gguf_copy.h — copy metadata from a parsed GGUF file into a writer
 * (used by `sluice quantize`, which keeps every key of its input).
 */
#ifndef SLUICE_GGUF_COPY_H
#define SLUICE_GGUF_COPY_H

#include "gguf.h"

/*
 * Append kv to w with the same key and value.  Returns 0 when copied exactly,
 * 1 when the value had to be widened because the writer has no setter for its
 * scalar type (u8/u16 -> u32, i8/i16 -> i32, i64 -> u64 bit pattern,
 * f64 -> f32), -ENOTSUP for arrays of arrays (not copied), -errno on error.
 */
int sl_gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv);

#endif
