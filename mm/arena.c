/*
 * mm/arena.c - the heap arena: one reserved range of address space, the
 * page->span table that makes spanOf O(1), the per-page state, and the
 * frontier below which pages belong to the heap. Pages are backed (arch_commit)
 * when a span needs them and returned (arch_decommit) by the scavenger.
 * Invariant: every table entry below the frontier is backed. A failed
 * commit returns the heap's free pages first (mm/reclaim.c). See
 * mm/malloc.c for the overview.
 */
#include "mm/mm_internal.h"

#define MHEAP_ARENA_PAGES (MHEAP_ARENA_BYTES >> MHEAP_PAGE_SHIFT)

/* Reserves space for a table of `bytes`, not backed. */
static void *arena_reserve_table(size_t bytes, const char *what)
{
	void *p = arch_reserve(ALIGN_UP(bytes, ARCH_PAGE_SIZE));

	if (!p)
		heap_set_error("cannot reserve %zu KiB of address space for the %s",
			       bytes >> 10, what);
	return p;
}

bool mheap_arena_init_locked(void)
{
	mheap *h = &mheap_global;

	ASSERT_HELD(&h->lock);
	/* One heap page extra so the start can be aligned to a heap page. */
	void *arena = arch_reserve(MHEAP_ARENA_BYTES + MHEAP_PAGE_SIZE);
	if (!arena) {
		heap_set_error("cannot reserve %lu GiB of address space for the heap arena",
			       MHEAP_ARENA_BYTES >> 30);
		return false;
	}
	h->spans = arena_reserve_table(MHEAP_ARENA_PAGES * sizeof(mspan *),
				       "page->span table");
	h->page_state = arena_reserve_table(MHEAP_ARENA_PAGES, "page states");
	if (!h->spans || !h->page_state)
		return false;
	h->arena_start = ALIGN_UP((uintptr_t)arena, MHEAP_PAGE_SIZE);
	h->arena_end = h->arena_start + MHEAP_ARENA_BYTES;
	h->arena_used = h->arena_start;
	return true;
}

/* Backs table bytes [*committed, want) of `table`; false when out of
 * memory. */
static bool arena_commit_table(void *table, size_t *committed, size_t want)
{
	want = ALIGN_UP(want, ARCH_PAGE_SIZE);
	if (want <= *committed)
		return true;
	if (!heap_commit((char *)table + *committed, want - *committed)) {
		heap_set_error("out of memory backing %zu KiB of the page tables "
			       "(page source has %zu free pages)",
			       (want - *committed) >> 10, arch_free_pages());
		return false;
	}
	*committed = want;
	return true;
}

bool mheap_arena_grow_locked(size_t npages)
{
	mheap *h = &mheap_global;

	ASSERT_HELD(&h->lock);
	size_t used = mheap_pages_used(), left = MHEAP_ARENA_PAGES - used;
	if (npages > left) {
		heap_set_error("heap arena exhausted: %zu pages wanted, %zu of %lu left",
			       npages, left, MHEAP_ARENA_PAGES);
		return false;
	}
	size_t grow = MIN(ALIGN_UP(npages, (size_t)MHEAP_GROW_PAGES), left);
	size_t end = used + grow;
	if (!arena_commit_table(h->spans, &h->spans_committed,
				end * sizeof(mspan *)) ||
	    !arena_commit_table(h->page_state, &h->state_committed, end))
		return false;
	mspan *run = fixalloc_alloc(&h->span_alloc);
	if (!run)
		return false;

	/* Fresh table memory reads as zero: NULL spans, UNCOMMITTED pages. */
	run->base = mheap_page_addr(used);
	run->npages = grow;
	run->state = MSPAN_FREE;
	__atomic_store_n(&h->arena_used, mheap_page_addr(end), __ATOMIC_RELEASE);
	h->pages_free_uncommitted += grow;
	mheap_insert_free_run_locked(run);
	return true;
}

bool mheap_commit_pages_locked(size_t page, size_t n)
{
	mheap *h = &mheap_global;

	ASSERT_HELD(&h->lock);
	for (size_t p = page; p < page + n;) {
		if (h->page_state[p] != MHEAP_PAGE_UNCOMMITTED) {
			p++;
			continue;
		}
		size_t run = 1;
		while (p + run < page + n &&
		       h->page_state[p + run] == MHEAP_PAGE_UNCOMMITTED)
			run++;
		if (!arch_commit((void *)mheap_page_addr(p), run * MHEAP_PAGE_SIZE)) {
			heap_set_error("out of memory: cannot back %zu KiB of heap pages "
				       "(page source has %zu free pages)",
				       (run * MHEAP_PAGE_SIZE) >> 10, arch_free_pages());
			return false;
		}
		memset(&h->page_state[p], MHEAP_PAGE_FREE_CLEAN, run);
		h->pages_free_uncommitted -= run;
		h->pages_free_committed += run;
		h->pages_committed_total += run;
		p += run;
	}
	return true;
}

size_t mheap_decommit_pages_locked(size_t page, size_t n, size_t limit)
{
	mheap *h = &mheap_global;
	size_t released = 0;

	ASSERT_HELD(&h->lock);
	/* From the top down, so a partly scavenged run keeps its low pages,
	 * which the allocator (it carves from the bottom) uses first. */
	for (size_t end = page + n; end > page && released < limit;) {
		uint8_t st = h->page_state[end - 1];
		if (st != MHEAP_PAGE_FREE_CLEAN && st != MHEAP_PAGE_FREE_DIRTY) {
			ASSERT(st == MHEAP_PAGE_UNCOMMITTED);
			end--;
			continue;
		}
		size_t run = 1;
		while (end - run > page && released + run < limit &&
		       (h->page_state[end - run - 1] == MHEAP_PAGE_FREE_CLEAN ||
			h->page_state[end - run - 1] == MHEAP_PAGE_FREE_DIRTY))
			run++;
		size_t first = end - run;
		arch_decommit((void *)mheap_page_addr(first), run * MHEAP_PAGE_SIZE);
		memset(&h->page_state[first], MHEAP_PAGE_UNCOMMITTED, run);
		h->pages_free_committed -= run;
		h->pages_free_uncommitted += run;
		h->pages_decommitted_total += run;
		released += run;
		end = first;
	}
	return released;
}

bool heap_in_arena(const void *p)
{
	const mheap *h = &mheap_global;

	return (uintptr_t)p - h->arena_start < h->arena_end - h->arena_start;
}

mspan *mspan_of(const void *p)
{
	const mheap *h = &mheap_global;
	uintptr_t off = (uintptr_t)p - h->arena_start;

	/* Unsigned: addresses below the arena wrap to huge offsets. Before
	 * init arena_used == arena_start == 0 and nothing matches. */
	if (off >= __atomic_load_n(&h->arena_used, __ATOMIC_ACQUIRE) - h->arena_start)
		return NULL;
	mspan *s = h->spans[off >> MHEAP_PAGE_SHIFT];
	if (!s || s->state != MSPAN_IN_USE)
		return NULL;
	return s;
}
