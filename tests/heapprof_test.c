/*
 * heapprof_test.c - diag/heapprof.c: with heapprof_rate=1 every allocation is
 * attributed to its exact call site, totals and in-use counts match what
 * was allocated and what is still allocated after a collection (tiny
 * objects too); rate 0 records nothing; the sampling weight's fixed-point
 * math; and at a coarse rate the estimate lands in a wide, safe range.
 */
#include "diag/diag.h"
#include "tests/gc_test_util.h"

typedef struct hp_node {
	struct hp_node *next;
	uint64_t payload[5];
} hp_node;
static GC_TYPE_DEFINE(hp_node_type, hp_node, next);

typedef struct hp_leaf {
	uint64_t words[9];
} hp_leaf;
static GC_TYPE_DEFINE_NOPTRS(hp_leaf_type, hp_leaf);

enum { KEPT = 10, DROPPED = 20, TINY = 16 };

/* Roots in bss. volatile: stores to a static nobody reads would be
 * dropped by the compiler, and the objects with them. */
static hp_node *volatile kept[KEPT];
static void *volatile kept_tiny[TINY];

/* One allocation site each; no inlining and no tail call, so each call
 * of gc_alloc* returns into its own function. */
static __attribute__((noinline)) hp_node *alloc_kept(void)
{
	hp_node *n = gc_alloc(&hp_node_type);
	__asm__ volatile("" ::: "memory");
	return n;
}

static __attribute__((noinline)) hp_leaf *alloc_dropped(void)
{
	hp_leaf *l = gc_alloc(&hp_leaf_type);
	__asm__ volatile("" ::: "memory");
	return l;
}

static __attribute__((noinline)) void *alloc_tiny(void)
{
	void *p = gc_alloc_noscan(8);
	__asm__ volatile("" ::: "memory");
	return p;
}

static __attribute__((noinline)) void *alloc_sampled_64(void)
{
	void *p = gc_alloc_noscan(64);
	__asm__ volatile("" ::: "memory");
	return p;
}

static heapprof_site sites[448];

/* The site whose pc lies in function fn (by symbol); false if none. */
static bool site_in(const char *fn, heapprof_site *out)
{
	size_t n = heapprof_read(sites, ARRAY_SIZE(sites));
	for (size_t i = 0; i < n; i++) {
		uintptr_t off;
		const char *name = sites[i].pc ? arch_symbolize(sites[i].pc - 1, &off) : NULL;
		if (name && strcmp(name, fn) == 0) {
			*out = sites[i];
			return true;
		}
	}
	return false;
}

TEST(heapprof, every_allocation_at_its_call_site)
{
	int64_t old_rate = heapprof_set_rate(1);
	heapprof_reset();
	uintptr_t *hidden = gc_t_hidden_buffer(DROPPED);
	for (int i = 0; i < KEPT; i++)
		CHECK((kept[i] = alloc_kept()) != NULL);
	for (int i = 0; i < DROPPED; i++) {
		hidden[i] = (uintptr_t)alloc_dropped();
		CHECK(hidden[i]);
	}
	heapprof_set_rate(old_rate);

	heapprof_site k, d;
	CHECK(site_in("alloc_kept", &k));
	CHECK(site_in("alloc_dropped", &d));
	CHECK(k.pc != d.pc);
	CHECK_EQ(k.alloc_samples, KEPT);
	CHECK_EQ(k.alloc_sample_bytes, KEPT * sizeof(hp_node));
	CHECK_EQ(k.alloc_objects, KEPT); /* rate 1: each sample is one object */
	CHECK_EQ(k.alloc_bytes, KEPT * sizeof(hp_node));
	CHECK_EQ(k.inuse_samples, KEPT);
	CHECK_EQ(k.inuse_sample_bytes, KEPT * sizeof(hp_node));
	CHECK_EQ(k.inuse_bytes, KEPT * sizeof(hp_node));
	CHECK_EQ(d.alloc_samples, DROPPED);
	CHECK_EQ(d.inuse_samples, DROPPED);
	CHECK_EQ(d.inuse_sample_bytes, DROPPED * sizeof(hp_leaf));
	CHECK_EQ(d.alloc_bytes, DROPPED * sizeof(hp_leaf));
	/* heapprof_find_site agrees with the listing. */
	heapprof_site again;
	CHECK(heapprof_find_site(k.pc, &again));
	CHECK_EQ(again.alloc_samples, KEPT);
	CHECK(!heapprof_find_site(1, &again));

	/* After a collection the dropped objects are gone from "in use"
	 * exactly as far as the heap says they are gone. */
	gc_t_collect();
	for (int i = 0; i < KEPT; i++)
		CHECK(gc_t_allocated(kept[i]));
	CHECK(site_in("alloc_kept", &k));
	CHECK(site_in("alloc_dropped", &d));
	CHECK_EQ(k.inuse_samples, KEPT);
	CHECK_EQ(k.alloc_samples, KEPT);
	size_t still = gc_t_count_allocated(hidden, DROPPED);
	CHECK_LE(still, DROPPED / 4); /* stale stack words may keep a few */
	CHECK_EQ(d.inuse_samples, still);
	CHECK_EQ(d.inuse_sample_bytes, still * sizeof(hp_leaf));
	CHECK_EQ(d.inuse_bytes, still * sizeof(hp_leaf));
	CHECK_EQ(d.alloc_samples, DROPPED); /* totals never go down */
	heapprof_print(5);

	for (int i = 0; i < KEPT; i++)
		kept[i] = NULL;
	heapprof_reset();
}

TEST(heapprof, tiny_objects_tracked)
{
	int64_t old_rate = heapprof_set_rate(1);
	heapprof_reset();
	for (int i = 0; i < TINY; i++)
		CHECK((kept_tiny[i] = alloc_tiny()) != NULL);
	heapprof_set_rate(old_rate);
	heapprof_site t;
	CHECK(site_in("alloc_tiny", &t));
	CHECK_EQ(t.alloc_samples, TINY);
	CHECK_EQ(t.inuse_samples, TINY);
	gc_t_collect();
	CHECK(site_in("alloc_tiny", &t));
	CHECK_EQ(t.inuse_samples, TINY); /* still referenced from kept_tiny */
	for (int i = 0; i < TINY; i++)
		kept_tiny[i] = NULL;
	heapprof_reset();
}

TEST(heapprof, free_drops_in_use)
{
	int64_t old_rate = heapprof_set_rate(1);
	heapprof_reset();
	hp_leaf *l = alloc_dropped();
	heapprof_set_rate(old_rate);
	CHECK(l);
	heapprof_site d;
	CHECK(site_in("alloc_dropped", &d));
	CHECK_EQ(d.inuse_samples, 1);
	CHECK_EQ(d.inuse_sample_bytes, sizeof(hp_leaf));
	CHECK(heap_free_for_test(l));
	CHECK(site_in("alloc_dropped", &d));
	CHECK_EQ(d.inuse_samples, 0);
	CHECK_EQ(d.inuse_sample_bytes, 0);
	CHECK_EQ(d.alloc_samples, 1);
	heapprof_reset();
}

TEST(heapprof, rate_zero_records_nothing)
{
	int64_t old_rate = heapprof_set_rate(0);
	heapprof_reset();
	for (int i = 0; i < 100; i++)
		CHECK(alloc_sampled_64());
	CHECK_EQ(heapprof_get_rate(), 0);
	heapprof_set_rate(old_rate);
	heapprof_site s;
	CHECK(!site_in("alloc_sampled_64", &s));
	heapprof_reset();
}

/* |got - want| <= want / 200 (0.5%) */
#define CHECK_NEAR_Q16(got, want_x1e5)                                            \
	do {                                                                     \
		uint64_t want_ = (uint64_t)(want_x1e5) * 65536 / 100000;         \
		uint64_t got_ = (got);                                           \
		CHECK_MSG(got_ + want_ / 200 >= want_ && got_ <= want_ + want_ / 200, \
			  "scale %llu, want about %llu", (unsigned long long)got_,  \
			  (unsigned long long)want_);                              \
	} while (0)

TEST(heapprof, scale_fixed_point)
{
	CHECK_EQ(heapprof_scale_q16(100, 1), 65536);
	CHECK_EQ(heapprof_scale_q16(100, 0), 65536);
	CHECK_EQ(heapprof_scale_q16(1 << 20, 4096), 65536);
	/* 1 / (1 - exp(-x)) for x = 1/64, 1/4, 1/2, 1, 2, 8 */
	CHECK_NEAR_Q16(heapprof_scale_q16(64, 4096), 6450130);
	CHECK_NEAR_Q16(heapprof_scale_q16(1024, 4096), 452083);
	CHECK_NEAR_Q16(heapprof_scale_q16(2048, 4096), 254149);
	CHECK_NEAR_Q16(heapprof_scale_q16(4096, 4096), 158198);
	CHECK_NEAR_Q16(heapprof_scale_q16(8192, 4096), 115652);
	CHECK_NEAR_Q16(heapprof_scale_q16(32768, 4096), 100034);
	/* The default rate and a 16-byte object: about 32768.5 */
	CHECK_NEAR_Q16(heapprof_scale_q16(16, 512 * 1024), 3276850000ULL);
}

TEST(heapprof, coarse_rate_estimate_in_range)
{
	enum { N = 1000, SIZE = 64, RATE = 4096 };
	int64_t old_rate = heapprof_set_rate(RATE);
	heapprof_reset();
	for (int i = 0; i < N; i++)
		CHECK(alloc_sampled_64());
	heapprof_set_rate(old_rate);
	/* Expected about N * SIZE / RATE = 15.6 samples; none at all has
	 * probability e^-15.6 (2e-7). The bounds are far wider than chance. */
	heapprof_site s;
	CHECK(site_in("alloc_sampled_64", &s));
	CHECK_GE(s.alloc_samples, 1);
	CHECK_LE(s.alloc_samples, 80);
	CHECK_GE(s.alloc_bytes, (uint64_t)N * SIZE / 4);
	CHECK_LE(s.alloc_bytes, (uint64_t)N * SIZE * 4);
	CHECK_EQ(s.alloc_sample_bytes, s.alloc_samples * SIZE);
	heapprof_reset();
}

TEST(heapprof, huge_failing_sizes_are_harmless)
{
	/* Sizes beyond int64_t only come from calls that fail; the countdown
	 * must not overflow (UBSan in the hosted build would stop here). */
	int64_t rates[] = { 0, 1, 4096, HEAPPROF_DEFAULT_RATE };
	int64_t old_rate = heapprof_get_rate();
	for (size_t i = 0; i < ARRAY_SIZE(rates); i++) {
		heapprof_set_rate(rates[i]);
		CHECK(gc_alloc_noscan(SIZE_MAX) == NULL);
		CHECK(gc_alloc_noscan((size_t)INT64_MAX + 2) == NULL);
		CHECK(gc_alloc_conservative(SIZE_MAX / 2) == NULL);
		void *p = alloc_sampled_64(); /* still works afterwards */
		CHECK(p);
	}
	heapprof_set_rate(old_rate);
	heapprof_reset();
}
