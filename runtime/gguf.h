/* SPDX-License-Identifier: MIT */
/*
 * runtime/gguf.h — GGUF model files (versions 2 and 3, little-endian).
 *
 * The reader parses the header (metadata and tensor infos) through a file
 * descriptor with pread — never mmap — because the streaming engine reads the
 * tensor data itself with O_DIRECT.  Every length and count is checked against
 * the bytes left in the file before anything is allocated, so a hostile file
 * gives an error, never a crash or a huge allocation.
 *
 * The writer builds a header in memory and lets the caller stream tensor data
 * (gen-model writes files of many GB without holding them).
 */
#ifndef SLUICE_GGUF_H
#define SLUICE_GGUF_H

#include "internal.h"

enum gguf_vtype {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT
};

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NESTING 8

struct gguf_str {
	uint64_t len;
	char *s; /* NUL-terminated copy (the file's bytes may hold NULs; len is authoritative) */
};

struct gguf_value {
	uint32_t type; /* enum gguf_vtype */
	union {
		uint64_t u64;  /* UINT8..UINT64 */
		int64_t i64;   /* INT8..INT64 */
		double f64;    /* FLOAT32, FLOAT64 */
		bool b;
		struct gguf_str str;
		struct {
			uint32_t type; /* element type */
			uint64_t n;
			/* scalars: packed little-endian elements as in the file;
			 * STRING: struct gguf_str[n]; ARRAY: struct gguf_value[n] */
			void *data;
		} arr;
	};
};

struct gguf_kv {
	struct gguf_str key;
	struct gguf_value val;
};

struct gguf_tensor {
	struct gguf_str name;
	uint32_t n_dims;
	uint32_t type;             /* enum sl_type */
	int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous row length; unused dims are 1 */
	uint64_t offset;           /* from the start of the data section */
	uint64_t size;             /* bytes */
	uint64_t file_offset;      /* data_offset + offset */
};

struct gguf_file {
	char *path;
	int fd;                    /* owned unless opened with sl_gguf_open_fd */
	bool own_fd;
	uint32_t version;
	uint64_t file_size;
	uint64_t alignment;
	uint64_t data_offset;
	uint64_t n_kv;
	struct gguf_kv *kv;
	uint64_t n_tensors;
	struct gguf_tensor *tensors;
};

/* Open and parse; on error returns -errno with err naming the file and the problem. */
int sl_gguf_open(const char *path, struct gguf_file **out, struct sl_err *err);
/* Parse from an open fd (not closed by sl_gguf_close); path is used in messages. */
int sl_gguf_open_fd(int fd, const char *path, struct gguf_file **out, struct sl_err *err);
void sl_gguf_close(struct gguf_file *f);

const struct gguf_kv *sl_gguf_find_kv(const struct gguf_file *f, const char *key);
const struct gguf_tensor *sl_gguf_find_tensor(const struct gguf_file *f, const char *name);

/* Typed getters: 0, -ENOENT (absent) or -EINVAL (wrong type; err says which key). */
int sl_gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out, struct sl_err *err);
int sl_gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out, struct sl_err *err);
int sl_gguf_get_f32(const struct gguf_file *f, const char *key, float *out, struct sl_err *err);
int sl_gguf_get_bool(const struct gguf_file *f, const char *key, bool *out, struct sl_err *err);
/* Points into f; valid until sl_gguf_close. */
int sl_gguf_get_str(const struct gguf_file *f, const char *key, const char **out, struct sl_err *err);
/* An array of the given element type (GGUF_TYPE_*); *n and *data as in gguf_value.arr. */
int sl_gguf_get_arr(const struct gguf_file *f, const char *key, uint32_t elem_type, uint64_t *n,
		 const void **data, struct sl_err *err);

const char *sl_gguf_vtype_name(uint32_t t);
/* Size in bytes of a scalar element type, 0 for STRING/ARRAY/unknown. */
size_t sl_gguf_vtype_size(uint32_t t);
/* Number of elements of a tensor. */
int64_t sl_gguf_tensor_nelements(const struct gguf_tensor *t);

/* ---- writer ---- */

struct gguf_writer;

struct gguf_writer *sl_gguf_writer_new(uint32_t alignment);
void sl_gguf_writer_free(struct gguf_writer *w);
int sl_gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
int sl_gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
int sl_gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v);
int sl_gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
int sl_gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
int sl_gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
/* Array of n scalars of elem_type, packed as in the file. */
int sl_gguf_writer_set_arr(struct gguf_writer *w, const char *key, uint32_t elem_type, const void *data,
			uint64_t n);
int sl_gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Add a tensor (ne[0] first); its data goes at the next aligned offset. Returns its index or -errno. */
int sl_gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
			   const int64_t *ne);
/* Write the header to fd at offset 0; afterwards write tensor data with sl_gguf_writer_write_data. */
int sl_gguf_writer_write_header(struct gguf_writer *w, int fd, struct sl_err *err);
/* Write size bytes of tensor idx's data, starting at byte `at` inside that tensor. */
int sl_gguf_writer_write_data(struct gguf_writer *w, int fd, int idx, uint64_t at, const void *data,
			   uint64_t size, struct sl_err *err);
/* Extend the file to its final size (pads the last tensor). */
int sl_gguf_writer_finish(struct gguf_writer *w, int fd, struct sl_err *err);
uint64_t sl_gguf_writer_tensor_size(const struct gguf_writer *w, int idx);
uint64_t sl_gguf_writer_total_size(const struct gguf_writer *w);

#endif
