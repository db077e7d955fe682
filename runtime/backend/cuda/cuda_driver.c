/* SPDX-License-Identifier: MIT */
/* runtime/backend/cuda/cuda_driver.c — find libcuda.so.1, fetch its functions, initialise it. */
#include "backend/cuda/cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static struct sl_cuda cuda;
static int load_rc;
static struct sl_err load_err;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static const char *err_name(const struct sl_cuda *cu, CUresult r)
{
	const char *s = NULL;
	if (!cu || !cu->cuGetErrorName || cu->cuGetErrorName(r, &s) || !s)
		return NULL;
	return s;
}

int sl_cuda_fail(const struct sl_cuda *cu, CUresult r, struct sl_err *err, const char *fmt, ...)
{
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *name = err_name(cu, r), *text = NULL;
	if (!cu || !cu->cuGetErrorString || cu->cuGetErrorString(r, &text))
		text = NULL;
	int e = r == CUDA_ERROR_OUT_OF_MEMORY ? ENOMEM
		: r == CUDA_ERROR_NO_DEVICE || r == CUDA_ERROR_INVALID_DEVICE ? ENODEV
		: EIO;
	/* These errors are sticky: any later call returns them, so the call named is where it was
	 * seen, not what failed (unless it already says so). */
	const bool sticky = r == CUDA_ERROR_ILLEGAL_ADDRESS || r == CUDA_ERROR_LAUNCH_FAILED;
	const char *note = sticky && !strstr(what, "earlier") && strncmp(what, "cuLaunchKernel", 14)
				   ? " (an earlier queued kernel or copy failed)"
				   : "";
	if (name)
		return sl_errf(err, e, "%s: %s: %s%s", what, name, text ? text : "(no description)", note);
	return sl_errf(err, e, "%s: CUDA error %d%s", what, r, note);
}

static void load(void)
{
	struct sl_err *err = &load_err;
	/* dlerror() is the one way to learn why dlopen failed; clear a stale one first. */
	(void)dlerror();
	void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *why = dlerror();
		/* glibc's text already starts with the file's name; say it once. */
		if (why && !strncmp(why, "libcuda.so.1", 12))
			load_rc = sl_errf(err, ENODEV, "no CUDA driver (%s)", why);
		else
			load_rc = sl_errf(err, ENODEV, "no CUDA driver (libcuda.so.1: %s)", why ? why : "not found");
		return;
	}
	/* The library stays loaded for the life of the process: the driver does not support being
	 * unloaded and reloaded, and function pointers handed out must stay valid. */
	fn_cuGetProcAddress_v2 gpa2 = (fn_cuGetProcAddress_v2)dlsym(lib, "cuGetProcAddress_v2");
	fn_cuGetProcAddress gpa1 = gpa2 ? NULL : (fn_cuGetProcAddress)dlsym(lib, "cuGetProcAddress");
	if (!gpa2 && !gpa1) {
		load_rc = sl_errf(err, ENOSYS,
				  "no CUDA driver (libcuda.so.1 has no cuGetProcAddress: a driver for CUDA 12 or newer is "
				  "needed)");
		return;
	}
#define SL_CUDA_FETCH(name)                                                                                   \
	if (!load_rc) {                                                                                       \
		void *p = NULL;                                                                               \
		CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;                              \
		CUresult r = gpa2 ? gpa2(#name, &p, SL_CUDA_API_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &st)    \
				  : gpa1(#name, &p, SL_CUDA_API_VERSION, CU_GET_PROC_ADDRESS_DEFAULT);        \
		if (r || !p || st != CU_GET_PROC_ADDRESS_SUCCESS)                                             \
			load_rc = sl_errf(err, ENOSYS,                                                        \
					  "the CUDA driver (libcuda.so.1) lacks %s at API version %d (error %d, " \
					  "status %d): a driver for CUDA 12 or newer is needed",                  \
					  #name, SL_CUDA_API_VERSION, r, (int)st);                                \
		else                                                                                          \
			cuda.name = (fn_##name)p;                                                             \
	}
	SL_CUDA_FUNCS(SL_CUDA_FETCH)
#undef SL_CUDA_FETCH
	if (load_rc)
		return;
	CUresult r = cuda.cuInit(0);
	if (r) {
		const char *name = err_name(&cuda, r);
		load_rc = sl_errf(err, ENODEV, "no CUDA device (cuInit: %s)", name ? name : "failed");
		return;
	}
	if ((r = cuda.cuDeviceGetCount(&cuda.n_devices))) {
		const char *name = err_name(&cuda, r);
		load_rc = sl_errf(err, ENODEV, "no CUDA device (cuDeviceGetCount: %s)", name ? name : "failed");
		return;
	}
	if (cuda.n_devices <= 0) {
		load_rc = sl_errf(err, ENODEV, "no CUDA device (the driver found none)");
		return;
	}
	if (cuda.cuDriverGetVersion(&cuda.version))
		cuda.version = 0;
}

int sl_cuda_driver(const struct sl_cuda **out, struct sl_err *err)
{
	pthread_once(&load_once, load);
	if (load_rc) {
		if (err)
			*err = load_err;
		return load_rc;
	}
	*out = &cuda;
	return 0;
}
