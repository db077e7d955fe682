/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/stage.h — a GGUF model staged on a raw NVMe namespace.
 *
 * Layout from byte lba * block_size:
 *   superblock (struct sl_stage_sb, little-endian), then one xxh64 per tensor (GGUF order),
 *   zero-padded to image_off (a multiple of 4096 and of the block size),
 *   then the GGUF file, byte for byte (image_bytes), padded to a block.
 * The superblock carries its own xxh64 (computed with sb_hash = 0) and one of the hash
 * table and of the GGUF header region (everything before the tensor data), so a damaged
 * superblock or header is named as such, and a damaged tensor by name (verify).
 */
#ifndef SLUICE_IO_NVME_STAGE_H
#define SLUICE_IO_NVME_STAGE_H

#include "io/nvme/nvme.h"

#define SL_STAGE_MAGIC "SLUICEW1"
#define SL_STAGE_VERSION 1

struct sl_stage_sb {
	char magic[8];
	uint32_t version;
	uint32_t block_size;     /* of the namespace when staged */
	uint64_t image_off;      /* bytes from the superblock to the GGUF image */
	uint64_t image_bytes;    /* GGUF file size */
	uint64_t header_bytes;   /* GGUF bytes before the tensor data (what the parser reads) */
	uint64_t n_tensors;
	uint64_t header_hash;    /* xxh64 of the first header_bytes of the image */
	uint64_t table_hash;     /* xxh64 of the per-tensor hashes */
	uint64_t staged_unix;    /* seconds */
	char model_name[128];
	char source[256];        /* the file it came from (informative) */
	uint64_t sb_hash;        /* xxh64 of this struct with sb_hash = 0 */
};

struct sl_stage {
	struct sl_stage_sb sb;
	uint64_t *hashes;        /* n_tensors */
	uint64_t lba;            /* where the superblock is */
	uint64_t image_byte;     /* namespace byte offset of the GGUF image */
};

typedef void (*sl_stage_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Write gguf_path to the namespace at lba behind a superblock. */
int sl_stage_write(struct sl_nvme *n, uint64_t lba, const char *gguf_path, sl_stage_progress_fn fn, void *ctx,
		   struct sl_err *err);
/* Read and check the superblock and hash table at lba.  -ENOENT no superblock there,
 * -EBADMSG damaged. */
int sl_stage_read(struct sl_nvme *n, uint64_t lba, struct sl_stage *st, struct sl_err *err);
void sl_stage_free(struct sl_stage *st);
/* Re-read every tensor through the driver and compare its hash.  -EBADMSG names the first
 * tensor that differs. */
int sl_stage_verify(struct sl_nvme *n, const struct sl_stage *st, sl_stage_progress_fn fn, void *ctx,
		    struct sl_err *err);
/* The GGUF header region in a memfd of the image's size (holes after it), so the GGUF parser
 * reads it as if it were the file: *fd.  Checked against header_hash. */
int sl_stage_header_memfd(struct sl_nvme *n, const struct sl_stage *st, int *fd, struct sl_err *err);

#endif
