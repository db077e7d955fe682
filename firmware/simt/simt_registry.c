/* SPDX-License-Identifier: MIT */
/*
 * firmware/simt/simt_registry.c — every firmware kernel by name, and simt_launch: unpack the launch's
 * parameter buffer the way the device reads it (each parameter at the next offset aligned to its own
 * size, in declaration order; the buffer's size is the end of the last parameter) and run the
 * kernel's blocks on fibers.
 *
 * Generated from firmware/fw_kernels.inc, so a kernel added there is launchable here; the kernel
 * prototypes below are the ones firmware/fw_common.h declares for the definitions, so a signature
 * that disagrees with the list does not compile.
 */
#include "simt_internal.h"

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "firmware/fw_kernels.inc"

#define SIMT_APPLY(m, ...) m(__VA_ARGS__)
#define SIMT_DROP1(x, ...) __VA_ARGS__
#define SIMT_PARAM(t, n) , t n
#define SIMT_FIELD(t, n) t n;
#define SIMT_ARG(t, n) , a->n
#define SIMT_UNPACK(t, n)                                    \
	o = (o + sizeof(t) - 1) & ~(sizeof(t) - 1);          \
	memcpy(&a->n, p + o, sizeof(t));                     \
	o += sizeof(t);
#define SIMT_SIZE(t, n) o = ((o + sizeof(t) - 1) & ~(sizeof(t) - 1)) + sizeof(t);

/* Per signature: the argument struct, its unpacker and the buffer's size. */
#define SIMT_SIG(SIG)                                                            \
	struct args_##SIG {                                                      \
		FW_SIG_##SIG(SIMT_FIELD)                                         \
	};                                                                       \
	static void unpack_##SIG(const unsigned char *p, void *out)              \
	{                                                                        \
		struct args_##SIG *a = out;                                      \
		size_t o = 0;                                                    \
		FW_SIG_##SIG(SIMT_UNPACK)                                        \
	}                                                                        \
	static size_t size_##SIG(void)                                           \
	{                                                                        \
		size_t o = 0;                                                    \
		FW_SIG_##SIG(SIMT_SIZE) return o;                                \
	}
SIMT_SIG(CONVERT)
SIMT_SIG(MMV)
SIMT_SIG(MMV_CONV)
SIMT_SIG(GET_ROWS)
SIMT_SIG(RMSNORM)
SIMT_SIG(ROPE)
SIMT_SIG(ATTENTION)
SIMT_SIG(SILU_MUL)
SIMT_SIG(ADD)
SIMT_SIG(SOFTMAX)
SIMT_SIG(ATTN_SPLIT)
SIMT_SIG(ATTN_COMBINE)
SIMT_SIG(MLA_KV)
SIMT_SIG(MLA_ATTN)
SIMT_SIG(ADD_ROWS)
SIMT_SIG(MLA_Q)
SIMT_SIG(MLA_SPLIT)
SIMT_SIG(MLA_COMBINE)

/* Per kernel: its prototype and the call from unpacked arguments. */
#define SIMT_KERNEL(name, SIG)                                                      \
	void name(SIMT_APPLY(SIMT_DROP1, 0 FW_SIG_##SIG(SIMT_PARAM)));              \
	static void invoke_##name(const void *v)                                    \
	{                                                                           \
		const struct args_##SIG *a = v;                                     \
		name(SIMT_APPLY(SIMT_DROP1, 0 FW_SIG_##SIG(SIMT_ARG)));             \
	}
FW_KERNEL_LIST(SIMT_KERNEL)

#define SIMT_ENTRY(name, SIG) { #name, size_##SIG, sizeof(struct args_##SIG), unpack_##SIG, invoke_##name },
static const struct simt_kernel_desc kernels[] = { FW_KERNEL_LIST(SIMT_ENTRY) };
#define N_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))

const char *simt_kernel(int i, size_t *params_size)
{
	if (i < 0 || i >= N_KERNELS)
		return NULL;
	if (params_size)
		*params_size = kernels[i].params_size();
	return kernels[i].name;
}

int simt_launch(const char *name, struct simt_dim3 grid, struct simt_dim3 block, size_t shmem, const void *params,
		size_t params_size, char *err, size_t err_len)
{
	char dummy[1];
	if (!err || !err_len) {
		err = dummy;
		err_len = sizeof dummy;
	}
	err[0] = 0;
	int i = 0;
	while (i < N_KERNELS && strcmp(kernels[i].name, name ? name : ""))
		i++;
	if (i == N_KERNELS) {
		snprintf(err, err_len, "simt: no kernel named '%s' in the firmware", name ? name : "(null)");
		return -ENOENT;
	}
	const struct simt_kernel_desc *k = &kernels[i];
	const size_t want = k->params_size();
	if (params_size != want || !params) {
		snprintf(err, err_len, "simt: %s: parameter buffer of %zu bytes, the kernel takes %zu", name,
			 params_size, want);
		return -EINVAL;
	}
	if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z) {
		snprintf(err, err_len, "simt: %s: zero dimension in grid (%u,%u,%u) or block (%u,%u,%u)", name, grid.x,
			 grid.y, grid.z, block.x, block.y, block.z);
		return -EINVAL;
	}
	if ((unsigned long long)block.x * block.y * block.z > 1024) {
		snprintf(err, err_len, "simt: %s: block (%u,%u,%u) has more than 1024 threads", name, block.x, block.y,
			 block.z);
		return -EINVAL;
	}
	if (grid.y > 65535 || grid.z > 65535) {
		snprintf(err, err_len, "simt: %s: grid (%u,%u,%u) exceeds the device's y/z limit of 65535", name,
			 grid.x, grid.y, grid.z);
		return -EINVAL;
	}
	(void)shmem; /* no firmware kernel uses dynamic shared memory */
	alignas(16) unsigned char args[128];
	_Static_assert(sizeof(struct args_ATTENTION) <= sizeof args, "argument buffer");
	k->unpack(params, args);
	return simt_run(k, args, grid, block, err, err_len);
}
