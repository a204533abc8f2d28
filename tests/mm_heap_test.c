/*
 * tests/mm_heap_test.c - the page heap, white-box: large objects map and
 * return pages, free runs coalesce in every order, the scavenger returns
 * pages and keeps its reserve, out-of-memory is survivable, and the
 * validator catches deliberately corrupted spans, lists and counters. It
 * reads mm/'s private structures (mm/mm_internal.h) to look at free runs
 * and to corrupt them.
 */
#include "mm/mm_internal.h"
#include "tests/mm_test_util.h"

#define PAGES_OF(bytes) (((bytes) + ARCH_PAGE_SIZE - 1) / ARCH_PAGE_SIZE)

TEST(mm, large_alloc_maps_and_returns_pages)
{
	const size_t bytes = (1 << 20) + 37 * 1024;

	/* Once to grow the arena and its metadata, so the measured round
	 * needs no memory but the object's. */
	char *warm = gc_alloc_noscan(bytes);
	CHECK(warm);
	CHECK(heap_free_for_test(warm));
	mm_test_quiesce();

	size_t before = arch_free_pages();
	char *p = gc_alloc_noscan(bytes);
	CHECK(p);
	/* The kernel's page source may also spend frames on page tables
	 * (and get them back on decommit): hence >= rather than ==. */
	size_t mapped = before - arch_free_pages();
	CHECK_GE(mapped, PAGES_OF(ALIGN_UP(bytes, MHEAP_PAGE_SIZE)));
	memset(p, 0x77, bytes); /* every page is really there */
	CHECK(heap_free_for_test(p));
	CHECK_HEAP_VALID();
	size_t released = mheap_scavenge(0, 0);
	CHECK_GE(released, ALIGN_UP(bytes, MHEAP_PAGE_SIZE) / MHEAP_PAGE_SIZE);
	CHECK_GE(arch_free_pages(), before);
	CHECK_HEAP_VALID();
}

/* The free run holding page `page`, or NULL. */
static mspan *free_run_at(uintptr_t addr)
{
	mheap *h = &mheap_global;
	size_t page = mheap_page_index(addr);

	/* Walk back to the run's first page: interior entries are NULL. */
	for (size_t p = page + 1; p-- > 0;) {
		mspan *s = h->spans[p];
		if (!s)
			continue;
		if (s->state == MSPAN_FREE && addr < s->base + s->npages * MHEAP_PAGE_SIZE)
			return s;
		return NULL;
	}
	return NULL;
}

#define COALESCE_SPANS 4
#define COALESCE_PAGES 5 /* > 32 KiB: a large object of its own span */

/* Allocates COALESCE_SPANS adjacent large objects, in address order.
 * Best fit may first fill holes elsewhere; those allocations are kept in
 * `holes` until the caller frees them. */
static void alloc_adjacent(char **spans, char **holes, size_t *nholes,
			   size_t max_holes)
{
	const size_t bytes = COALESCE_PAGES * MHEAP_PAGE_SIZE;

	for (;;) {
		for (int i = 0; i < COALESCE_SPANS; i++) {
			spans[i] = gc_alloc_noscan(bytes);
			CHECK(spans[i]);
		}
		/* Insertion sort by address. */
		for (int i = 1; i < COALESCE_SPANS; i++)
			for (int j = i; j > 0 && spans[j] < spans[j - 1]; j--) {
				char *t = spans[j];
				spans[j] = spans[j - 1];
				spans[j - 1] = t;
			}
		bool adjacent = true;
		for (int i = 1; i < COALESCE_SPANS; i++)
			adjacent &= spans[i] == spans[i - 1] + bytes;
		if (adjacent)
			return;
		for (int i = 0; i < COALESCE_SPANS; i++) {
			CHECK_LT(*nholes, max_holes);
			holes[(*nholes)++] = spans[i];
		}
	}
}

TEST(mm, coalescing_in_every_order)
{
	static char *holes[4096];
	size_t nholes = 0;
	int order[COALESCE_SPANS] = { 0, 1, 2, 3 };
	int permutations = 0;

	/* Every permutation of the four frees, in lexicographic order. */
	for (;;) {
		char *spans[COALESCE_SPANS];
		alloc_adjacent(spans, holes, &nholes, ARRAY_SIZE(holes));
		for (int i = 0; i < COALESCE_SPANS; i++) {
			CHECK(heap_free_for_test(spans[order[i]]));
			CHECK_HEAP_VALID(); /* includes "no two free runs touch" */
		}
		mspan *run = free_run_at((uintptr_t)spans[0]);
		CHECK_MSG(run, "no free run at %p", spans[0]);
		CHECK_LE(run->base, (uintptr_t)spans[0]);
		CHECK_GE(run->base + run->npages * MHEAP_PAGE_SIZE,
			 (uintptr_t)spans[COALESCE_SPANS - 1] +
				 COALESCE_PAGES * MHEAP_PAGE_SIZE);
		permutations++;

		/* next permutation */
		int i = COALESCE_SPANS - 2;
		while (i >= 0 && order[i] > order[i + 1])
			i--;
		if (i < 0)
			break;
		int j = COALESCE_SPANS - 1;
		while (order[j] < order[i])
			j--;
		int t = order[i];
		order[i] = order[j];
		order[j] = t;
		for (int a = i + 1, b = COALESCE_SPANS - 1; a < b; a++, b--) {
			t = order[a];
			order[a] = order[b];
			order[b] = t;
		}
	}
	CHECK_EQ(permutations, 24);
	for (size_t i = 0; i < nholes; i++)
		CHECK(heap_free_for_test(holes[i]));
	MM_TEST_FORGET(holes);
	CHECK_HEAP_VALID();
}

TEST(mm, scavenger_returns_pages_and_keeps_reserve)
{
	static char *objs[64];
	const size_t bytes = 8 * MHEAP_PAGE_SIZE;

	mm_test_quiesce();
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		objs[i] = gc_alloc_noscan(bytes);
		CHECK(objs[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
		CHECK(heap_free_for_test(objs[i]));

	heap_stats_info st;
	heap_stats_read(&st);
	CHECK_GE(st.pages_free_committed, 64 * 8);

	/* Nothing has been free for an hour: nothing goes. */
	CHECK_EQ(mheap_scavenge(0, 3600ULL * 1000 * 1000 * 1000), 0);

	const size_t keep = 100;
	size_t before = arch_free_pages();
	size_t released = mheap_scavenge(keep, 0);
	CHECK_EQ(released, st.pages_free_committed - keep);
	CHECK_GE(arch_free_pages() - before, released * MHEAP_ARCH_PAGES_PER_PAGE);
	heap_stats_read(&st);
	CHECK_EQ(st.pages_free_committed, keep);
	CHECK_GE(st.pages_decommitted_total, released);
	CHECK_HEAP_VALID();

	/* Scavenged pages are backed again, zeroed, when reused. */
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		objs[i] = gc_alloc_noscan(bytes);
		CHECK(objs[i]);
		CHECK(mm_test_is_zero(objs[i], bytes));
	}
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
		CHECK(heap_free_for_test(objs[i]));
	MM_TEST_FORGET(objs);

	/* The automatic pass on frees, with no idle time and a reserve of
	 * 16 pages, leaves at most the reserve backed. Options restored to
	 * their defaults afterwards. */
	char err[128];
	CHECK(cmdline_parse_token("heap_scavenge_ms=0", err, sizeof err));
	CHECK(cmdline_parse_token("heap_reserve_pages=16", err, sizeof err));
	char *p = gc_alloc_noscan(bytes * 4);
	CHECK(p);
	CHECK(heap_free_for_test(p));
	heap_stats_read(&st);
	CHECK(cmdline_parse_token("heap_scavenge_ms=1000", err, sizeof err));
	CHECK(cmdline_parse_token("heap_reserve_pages=256", err, sizeof err));
	CHECK_LE(st.pages_free_committed, 16);
	CHECK_HEAP_VALID();
}

TEST(mm, out_of_memory_returns_null_and_heap_survives)
{
	static void *objs[1 << 14];
	size_t n = 0;

	mm_test_quiesce();
	size_t free_pages = arch_free_pages();
	CHECK(gc_alloc_noscan((free_pages + 1) * ARCH_PAGE_SIZE) == NULL);
	test_log("one big request: %s", gc_last_error());
	CHECK(strncmp(gc_last_error(), "out of memory", 13) == 0);
	CHECK_HEAP_VALID();

	/* Fill memory with large objects until it runs out. */
	const size_t chunk = ARCH_PAGE_SIZE * free_pages / (ARRAY_SIZE(objs) / 2);
	const size_t bytes = MAX(chunk, (size_t)256 * 1024);
	for (;;) {
		CHECK_LT(n, ARRAY_SIZE(objs));
		void *p = gc_alloc_noscan(bytes);
		if (!p)
			break;
		objs[n++] = p;
	}
	test_log("%zu objects of %zu KiB, then: %s", n, bytes >> 10,
		 gc_last_error());
	CHECK_GT(n, 0);
	CHECK_HEAP_VALID();
	/* Then with small objects, until they run out too. */
	for (;;) {
		CHECK_LT(n, ARRAY_SIZE(objs));
		void *p = gc_alloc_noscan(SIZECLASS_MAX_SIZE);
		if (!p)
			break;
		objs[n++] = p;
	}
	CHECK(gc_last_error()[0] != '\0');
	CHECK_HEAP_VALID();

	for (size_t i = 0; i < n; i++)
		CHECK(heap_free_for_test(objs[i]));
	MM_TEST_FORGET(objs);
	mm_test_quiesce();
	CHECK_HEAP_VALID();
	/* Everything works again. */
	void *p = gc_alloc_noscan(bytes);
	void *q = gc_alloc_noscan(100);
	CHECK(p && q);
	CHECK(heap_free_for_test(p));
	CHECK(heap_free_for_test(q));
	CHECK_HEAP_VALID();
}

/* Runs the validator on a corrupted heap; it must fail and say `what`. */
static void expect_invalid(const char *what)
{
	char why[256];
	CHECK_MSG(!mheap_validate(why, sizeof why), "corruption (%s) not caught",
		  what);
	test_log("caught %s: %s", what, why);
}

typedef struct cell {
	struct cell *next;
} cell;
static GC_TYPE_DEFINE(cell_type, cell, next);

TEST(mm, validator_catches_corruption)
{
	static void *objs[600];
	mheap *h = &mheap_global;

	/* A full span and a partial span of class 48 bytes (170 slots), not
	 * cached, a large object and a tiny block. */
	for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
		objs[i] = gc_alloc_noscan(48);
		CHECK(objs[i]);
	}
	void *large = gc_alloc_noscan(100 * 1024);
	cell *typed = gc_alloc(&cell_type);
	CHECK(large && typed);
	mcache_release_all();
	CHECK_HEAP_VALID();

	mspan *s = mspan_of(objs[0]);
	CHECK(s && s->list != NULL && s->alloc_count > 1);
	size_t i = mspan_slot_index(s, (uintptr_t)objs[0]);

	/* An alloc bit lost: count and bitmap disagree. */
	s->alloc_bits[i / 64] ^= 1ULL << (i % 64);
	expect_invalid("a flipped alloc bit");
	s->alloc_bits[i / 64] ^= 1ULL << (i % 64);
	CHECK_HEAP_VALID();

	/* A mark bit while no collector runs. */
	s->mark_bits[0] |= 1;
	expect_invalid("a stray mark bit");
	s->mark_bits[0] = 0;

	/* The count itself. */
	s->alloc_count++;
	expect_invalid("a wrong alloc_count");
	s->alloc_count--;

	/* A wrong slot size. */
	s->elemsize += 16;
	expect_invalid("a wrong elemsize");
	s->elemsize -= 16;

	/* A span on the wrong list. */
	mspan_list *list = s->list;
	s->list = NULL;
	expect_invalid("a span that forgot its list");
	s->list = list;
	list->count++;
	expect_invalid("a list count off by one");
	list->count--;

	/* The page table: a page of the large object pointing nowhere. */
	mspan *ls = mspan_of(large);
	size_t page = mheap_page_index(ls->base) + 1;
	h->spans[page] = NULL;
	expect_invalid("a hole in the page->span table");
	h->spans[page] = ls;

	/* Page state and counters. */
	h->page_state[page] = MHEAP_PAGE_FREE_DIRTY;
	expect_invalid("an in-use page marked free");
	h->page_state[page] = MHEAP_PAGE_IN_USE;
	h->pages_in_use++;
	expect_invalid("a page counter off by one");
	h->pages_in_use--;

	/* A typed slot that lost its type. */
	mspan *ts = mspan_of(typed);
	size_t ti = mspan_slot_index(ts, (uintptr_t)typed);
	const struct gc_type *saved = ts->types[ti];
	ts->types[ti] = NULL;
	expect_invalid("an allocated slot without a type");
	ts->types[ti] = saved;

	/* Statistics that do not add up. */
	h->central[s->spanclass].nfree++;
	expect_invalid("a freed-object count off by one");
	h->central[s->spanclass].nfree--;

	/* Two free runs side by side (not coalesced): split a free run of at
	 * least 2 pages in two by hand, each half on its proper list. */
	mspan *run = NULL;
	for (size_t k = 2; k < MHEAP_FREE_LISTS && !run; k++)
		run = h->free[k].first;
	if (!run)
		run = h->free[0].first;
	CHECK(run);
	{
		size_t first = mheap_page_index(run->base), n = run->npages;
		mspan fake;
		memset(&fake, 0, sizeof fake);
		fake.base = run->base + MHEAP_PAGE_SIZE;
		fake.npages = n - 1;
		fake.state = MSPAN_FREE;
		mspan_list_remove(run->list, run);
		run->npages = 1;
		mspan_list_push(&h->free[1], run);
		mspan_list *fake_list = &h->free[n - 1 < MHEAP_FREE_LISTS ? n - 1 : 0];
		mspan_list_push(fake_list, &fake);
		h->spans[first + 1] = &fake;
		h->spans[first + n - 1] = &fake;
		expect_invalid("two free runs that touch");
		mspan_list_remove(fake_list, &fake);
		mspan_list_remove(&h->free[1], run);
		h->spans[first + 1] = n > 2 ? NULL : run;
		h->spans[first + n - 1] = run;
		run->npages = n;
		mspan_list_push(&h->free[n < MHEAP_FREE_LISTS ? n : 0], run);
	}
	CHECK_HEAP_VALID();

	for (size_t k = 0; k < ARRAY_SIZE(objs); k++)
		CHECK(heap_free_for_test(objs[k]));
	MM_TEST_FORGET(objs);
	CHECK(heap_free_for_test(large));
	CHECK(heap_free_for_test(typed));
	CHECK_HEAP_VALID();
}
