/* The writer and reader agree on every value type: scalars, strings, arrays of strings, nested arrays,
 * alignment, tensor infos and data offsets; v2 files (same layout) parse too. */
#include "helpers/testutil.h"
#include "gguf.h"
#include "quant/quant.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	struct gguf_writer *w = sl_gguf_writer_new(64);
	CHECK(w != NULL);
	sl_gguf_writer_set_u32(w, "a.u32", 4000000000u);
	sl_gguf_writer_set_i32(w, "a.i32", -7);
	sl_gguf_writer_set_u64(w, "a.u64", 1ull << 40);
	sl_gguf_writer_set_f32(w, "a.f32", 0.5f);
	sl_gguf_writer_set_bool(w, "a.bool", true);
	sl_gguf_writer_set_str(w, "a.str", "héllo");
	const char *strs[3] = { "x", "", "zz" };
	sl_gguf_writer_set_arr_str(w, "a.strs", strs, 3);
	int32_t ints[4] = { 1, -2, 3, -4 };
	sl_gguf_writer_set_arr(w, "a.ints", GGUF_TYPE_INT32, ints, 4);
	int64_t ne[2] = { 32, 3 };
	int t0 = sl_gguf_writer_add_tensor(w, "t0", SL_TYPE_F32, 2, ne);
	int t1 = sl_gguf_writer_add_tensor(w, "t1", SL_TYPE_Q8_0, 2, ne);
	CHECK(t0 == 0 && t1 == 1);
	const char *path = t_tmp_path("rt.gguf");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct sl_err err;
	CHECK(sl_gguf_writer_write_header(w, fd, &err) == 0);
	float data[96];
	for (int i = 0; i < 96; i++)
		data[i] = (float)i;
	CHECK(sl_gguf_writer_write_data(w, fd, t0, 0, data, sizeof(data), &err) == 0);
	uint8_t q[3 * 34];
	sl_type_traits(SL_TYPE_Q8_0)->from_float(data, q, 96);
	CHECK(sl_gguf_writer_write_data(w, fd, t1, 0, q, sizeof(q), &err) == 0);
	CHECK(sl_gguf_writer_write_data(w, fd, t1, 1, q, sizeof(q), &err) < 0); /* out of range */
	CHECK(sl_gguf_writer_finish(w, fd, &err) == 0);
	close(fd);
	sl_gguf_writer_free(w);

	struct gguf_file *f;
	CHECK_MSG(sl_gguf_open(path, &f, &err) == 0, "%s", err.msg);
	if (t_failures)
		return t_done();
	uint32_t u32;
	uint64_t u64;
	float f32;
	bool bo;
	const char *s;
	CHECK(sl_gguf_get_u32(f, "a.u32", &u32, &err) == 0 && u32 == 4000000000u);
	CHECK(sl_gguf_get_u64(f, "a.u64", &u64, &err) == 0 && u64 == 1ull << 40);
	CHECK(sl_gguf_get_f32(f, "a.f32", &f32, &err) == 0 && f32 == 0.5f);
	CHECK(sl_gguf_get_bool(f, "a.bool", &bo, &err) == 0 && bo);
	CHECK(sl_gguf_get_str(f, "a.str", &s, &err) == 0 && !strcmp(s, "héllo"));
	CHECK(sl_gguf_get_u32(f, "a.str", &u32, &err) == -EINVAL && strstr(err.msg, "a.str"));
	CHECK(sl_gguf_get_u32(f, "nope", &u32, &err) == -ENOENT);
	CHECK(sl_gguf_find_kv(f, "a.i32")->val.i64 == -7);
	uint64_t n;
	const void *arr;
	CHECK(sl_gguf_get_arr(f, "a.strs", GGUF_TYPE_STRING, &n, &arr, &err) == 0 && n == 3);
	CHECK(!strcmp(((const struct gguf_str *)arr)[2].s, "zz") && ((const struct gguf_str *)arr)[1].len == 0);
	CHECK(sl_gguf_get_arr(f, "a.ints", GGUF_TYPE_INT32, &n, &arr, &err) == 0 && ((const int32_t *)arr)[3] == -4);
	CHECK(sl_gguf_get_arr(f, "a.ints", GGUF_TYPE_FLOAT32, &n, &arr, &err) == -EINVAL);
	CHECK(f->alignment == 64 && f->data_offset % 64 == 0 && f->n_tensors == 2);
	const struct gguf_tensor *t = sl_gguf_find_tensor(f, "t1");
	CHECK(t && t->type == SL_TYPE_Q8_0 && t->size == sizeof(q) && t->ne[0] == 32 && t->ne[1] == 3);
	CHECK(t && t->file_offset % 64 == 0);
	uint8_t back[sizeof(q)];
	CHECK(t && pread(f->fd, back, sizeof(back), (off_t)t->file_offset) == (ssize_t)sizeof(back) &&
	      !memcmp(back, q, sizeof(q)));
	sl_gguf_close(f);

	/* A nested array (array of arrays of u8) and a v2 header, crafted by hand. */
	struct t_buf b = { 0 };
	tb_header(&b, 2, 0, 1);
	tb_str(&b, "nested");
	tb_u32(&b, GGUF_TYPE_ARRAY);
	tb_u32(&b, GGUF_TYPE_ARRAY);
	tb_u64(&b, 2);
	for (int i = 0; i < 2; i++) {
		tb_u32(&b, GGUF_TYPE_UINT8);
		tb_u64(&b, 3);
		uint8_t v[3] = { (uint8_t)i, 2, 3 };
		tb_bytes(&b, v, 3);
	}
	const char *p2 = tb_write(&b, "nested.gguf");
	CHECK_MSG(sl_gguf_open(p2, &f, &err) == 0, "%s", err.msg);
	if (!t_failures) {
		const struct gguf_kv *kv = sl_gguf_find_kv(f, "nested");
		CHECK(kv && kv->val.arr.type == GGUF_TYPE_ARRAY && kv->val.arr.n == 2);
		const struct gguf_value *inner = kv->val.arr.data;
		CHECK(inner[1].arr.n == 3 && ((uint8_t *)inner[1].arr.data)[0] == 1);
		CHECK(f->version == 2);
		sl_gguf_close(f);
	}
	tb_free(&b);
	return t_done();
}
