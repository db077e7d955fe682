/* The device tier's range allocator and the eviction order list, on their own (no I/O, no backend):
 * first fit, alignment, coalescing in every direction, exhaustion, and the LRU's victim order. */
#include "helpers/testutil.h"
#include "cache/arena.h"
#include "cache/lru.h"

static void test_arena(void)
{
	struct sl_arena a;
	uint64_t o1, o2, o3, o4;
	CHECK(sl_arena_init(&a, 1000, 3) == -EINVAL); /* alignment must be a power of two */
	CHECK(sl_arena_init(&a, 4096, 256) == 0);
	CHECK(sl_arena_alloc(&a, 1, &o1) == 0 && o1 == 0);      /* rounded to 256 */
	CHECK(sl_arena_alloc(&a, 1000, &o2) == 0 && o2 == 256); /* 1024 */
	CHECK(sl_arena_alloc(&a, 2048, &o3) == 0 && o3 == 1280);
	CHECK(a.used == 256 + 1024 + 2048);
	CHECK(sl_arena_alloc(&a, 1024, &o4) == -ENOMEM); /* 768 left */
	CHECK(sl_arena_largest_free(&a) == 768);
	sl_arena_free(&a, o2, 1000);                      /* a hole between two allocations */
	CHECK(sl_arena_alloc(&a, 1024, &o4) == 0 && o4 == 256); /* first fit takes the hole */
	sl_arena_free(&a, o4, 1024);
	sl_arena_free(&a, o1, 1);                         /* joins the hole after it */
	CHECK(sl_arena_largest_free(&a) == 1280);
	sl_arena_free(&a, o3, 2048);                      /* joins both sides: one range */
	CHECK(a.n_free == 1 && a.free[0].off == 0 && a.free[0].len == 4096 && a.used == 0);
	/* many small pieces freed in a scattered order coalesce back to one range */
	uint64_t off[16];
	for (int i = 0; i < 16; i++)
		CHECK(sl_arena_alloc(&a, 256, &off[i]) == 0 && off[i] == (uint64_t)i * 256);
	for (int i = 0; i < 16; i += 2)
		sl_arena_free(&a, off[i], 256);
	CHECK(a.n_free == 8);
	for (int i = 15; i > 0; i -= 2)
		sl_arena_free(&a, off[i], 256);
	CHECK(a.n_free == 1 && a.used == 0);
	sl_arena_destroy(&a);
	CHECK(sl_arena_init(&a, 0, 64) == 0); /* an empty arena refuses everything */
	CHECK(sl_arena_alloc(&a, 1, &o1) == -ENOMEM);
	sl_arena_destroy(&a);
}

static void test_lru(void)
{
	struct sl_policy p;
	CHECK(sl_policy_init(&p, "fifo", 4) == -ENOENT);
	CHECK(sl_policy_init(&p, "lru", 8) == 0);
	for (int i = 0; i < 5; i++)
		p.ops->insert(&p, i);
	p.ops->touch(&p, 0);  /* 1 2 3 4 0 */
	p.ops->remove(&p, 3); /* 1 2 4 0 */
	p.ops->insert(&p, 2); /* re-insert moves it last: 1 4 0 2 */
	int want[] = { 1, 4, 0, 2 }, n = 0;
	for (int v = p.ops->next_victim(&p, -1); v >= 0; v = p.ops->next_victim(&p, v), n++)
		CHECK(n < 4 && v == want[n]);
	CHECK(n == 4);
	p.ops->remove(&p, 1);
	p.ops->remove(&p, 1); /* removing twice is harmless */
	CHECK(p.ops->next_victim(&p, -1) == 4);
	sl_policy_destroy(&p);
}

int main(void)
{
	test_arena();
	test_lru();
	return t_done();
}
