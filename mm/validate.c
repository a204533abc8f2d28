/*
 * mm/validate.c - mheap_validate(): walks the whole heap with every lock
 * held and checks each invariant written next to struct mspan (mm/mm.h),
 * struct mcentral and struct mheap (mm/mm_internal.h), and that the
 * statistics agree with the spans. It reports the first violation instead
 * of panicking, so tests can corrupt the heap on purpose and see it caught.
 * See mm/malloc.c for the overview.
 */
#include "mm/mm_internal.h"

/* A debug build tracks every lock a CPU holds; these must fit, with room
 * for a few held around them. */
_Static_assert(SPANCLASS_COUNT + 1 + 8 <= SPIN_HELD_MAX, "mm_lock_all holds too many locks");

void mm_lock_all(void)
{
	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++)
		spin_lock(&mheap_global.central[spc].lock);
	spin_lock(&mheap_global.lock);
}

void mm_unlock_all(void)
{
	spin_unlock(&mheap_global.lock);
	for (unsigned spc = SPANCLASS_COUNT; spc-- > 0;)
		spin_unlock(&mheap_global.central[spc].lock);
}

#define FAIL(...)                                    \
	do {                                         \
		ksnprintf(why, n, __VA_ARGS__);      \
		return false;                        \
	} while (0)

/* What the arena walk counted, to compare with lists and counters. Static:
 * validation holds every lock, so one walk runs at a time. */
static struct {
	size_t pages_in_use, free_committed, free_uncommitted;
	size_t spans_in_use, free_runs, cached, listed, large;
	uint64_t allocated[SPANCLASS_COUNT]; /* sum of alloc_count */
} walk;

/* A list's links, count and owner pointers. */
static bool validate_list(mspan_list *l, const char *what, size_t index,
			  char *why, size_t n)
{
	size_t count = 0;
	mspan *prev = NULL;

	for (mspan *s = l->first; s; prev = s, s = s->next) {
		if (s->list != l)
			FAIL("%s[%zu]: span %p is on it but points to list %p", what,
			     index, (void *)s, (void *)s->list);
		if (s->prev != prev)
			FAIL("%s[%zu]: span %p has a broken prev link", what, index,
			     (void *)s);
		if (++count > l->count)
			FAIL("%s[%zu]: more spans than its count %zu (a cycle?)",
			     what, index, l->count);
	}
	if (l->last != prev || count != l->count)
		FAIL("%s[%zu]: count %zu / last %p, but %zu spans ending at %p", what,
		     index, l->count, (void *)l->last, count, (void *)prev);
	return true;
}

static bool validate_free_run(size_t p, mspan *s, char *why, size_t n)
{
	mheap *h = &mheap_global;
	size_t last = p + s->npages - 1;
	size_t index = s->npages < MHEAP_FREE_LISTS ? s->npages : 0;

	if (h->spans[last] != s)
		FAIL("free run %p at page %zu: last page %zu maps to %p", (void *)s,
		     p, last, (void *)h->spans[last]);
	for (size_t q = p + 1; q < last; q++)
		if (h->spans[q] != NULL)
			FAIL("free run %p: interior page %zu maps to span %p",
			     (void *)s, q, (void *)h->spans[q]);
	for (size_t q = p; q <= last; q++) {
		switch (h->page_state[q]) {
		case MHEAP_PAGE_UNCOMMITTED:
			walk.free_uncommitted++;
			break;
		case MHEAP_PAGE_FREE_CLEAN:
		case MHEAP_PAGE_FREE_DIRTY:
			walk.free_committed++;
			break;
		default:
			FAIL("free run %p: page %zu has state %u", (void *)s, q,
			     h->page_state[q]);
		}
	}
	if (s->list != &h->free[index])
		FAIL("free run %p of %zu pages is not on free list %zu", (void *)s,
		     s->npages, index);
	walk.free_runs++;
	return true;
}

static bool validate_span_in_use(size_t p, mspan *s, char *why, size_t n)
{
	mheap *h = &mheap_global;
	uint32_t sg = h->sweepgen;

	for (size_t q = p; q < p + s->npages; q++)
		if (h->spans[q] != s || h->page_state[q] != MHEAP_PAGE_IN_USE)
			FAIL("span %p: page %zu maps to %p with state %u", (void *)s,
			     q, (void *)h->spans[q], h->page_state[q]);
	walk.pages_in_use += s->npages;
	walk.spans_in_use++;
	walk.allocated[s->spanclass] += s->alloc_count;

	if (mspan_sizeclass(s) == 0) {
		/* h: swept; h - 2: waits for sweep; h + 3 (h + 1 after a
		 * flip): still being zeroed by heap_alloc_large. */
		if (s->list ||
		    (s->sweepgen != sg && s->sweepgen != sg - 2 &&
		     s->sweepgen != sg + MSPAN_SWEEPGEN_CACHED &&
		     s->sweepgen != sg + MSPAN_SWEEPGEN_CACHED - 2) ||
		    s->alloc_count != 1)
			FAIL("large span %p: list %p sweepgen %u alloc_count %u",
			     (void *)s, (void *)s->list, s->sweepgen, s->alloc_count);
		walk.large++;
		return true;
	}
	mcentral *c = &h->central[s->spanclass];
	if (s->sweepgen == sg + MSPAN_SWEEPGEN_CACHED) {
		if (s->list)
			FAIL("cached span %p is on a list", (void *)s);
		walk.cached++;
		return true;
	}
	if (s->sweepgen == sg - 2) {
		/* Waiting to be swept: on an unswept list of its mcentral. */
		if (s->list != mcentral_partial_unswept(c) &&
		    s->list != mcentral_full_unswept(c))
			FAIL("unswept span %p is not on an unswept list", (void *)s);
		walk.listed++;
		return true;
	}
	if (s->sweepgen != sg)
		FAIL("span %p: sweepgen %u, heap %u (must be h - 2, h or h + 3)",
		     (void *)s, s->sweepgen, sg);
	if (s->alloc_cache != 0)
		FAIL("uncached span %p has a loaded alloc cache", (void *)s);
	mspan_list *want = s->alloc_count == s->nelems ? mcentral_full_swept(c)
						       : mcentral_partial_swept(c);
	if (s->list != want)
		FAIL("span %p (class %u, %u of %u allocated) is on list %p, not %s %p",
		     (void *)s, mspan_sizeclass(s), s->alloc_count, s->nelems,
		     (void *)s->list,
		     want == mcentral_full_swept(c) ? "full" : "partial",
		     (void *)want);
	walk.listed++;
	return true;
}

static bool validate_arena(char *why, size_t n)
{
	mheap *h = &mheap_global;
	size_t used = mheap_pages_used();
	bool prev_free = false;
	char span_why[192];

	for (size_t p = 0; p < used;) {
		mspan *s = h->spans[p];
		if (!s)
			FAIL("page %zu (0x%lx) is the first page of no span", p,
			     (unsigned long)mheap_page_addr(p));
		if (s->base != mheap_page_addr(p) || s->npages == 0 ||
		    s->npages > used - p)
			FAIL("page %zu maps to span %p [0x%lx +%zu pages]", p,
			     (void *)s, (unsigned long)s->base, s->npages);
		if (!mspan_check(s, span_why, sizeof span_why))
			FAIL("%s", span_why);
		if (s->state == MSPAN_FREE) {
			if (prev_free)
				FAIL("free run %p at page %zu touches the free run "
				     "before it (not coalesced)", (void *)s, p);
			if (!validate_free_run(p, s, why, n))
				return false;
			prev_free = true;
		} else {
			if (!validate_span_in_use(p, s, why, n))
				return false;
			prev_free = false;
		}
		p += s->npages;
	}
	return true;
}

static bool validate_lists(char *why, size_t n)
{
	mheap *h = &mheap_global;
	size_t runs = 0, listed = 0;

	for (size_t i = 0; i < MHEAP_FREE_LISTS; i++) {
		if (!validate_list(&h->free[i], "free", i, why, n))
			return false;
		bool bit = (h->free_nonempty[i / 64] >> (i % 64)) & 1;
		if (i > 0 && bit != !mspan_list_empty(&h->free[i]))
			FAIL("free_nonempty bit %zu is %d, list has %zu runs", i, bit,
			     h->free[i].count);
		if (i == 0 && bit)
			FAIL("free_nonempty bit 0 set");
		for (mspan *s = h->free[i].first; s; s = s->next)
			if (s->state != MSPAN_FREE ||
			    (i ? s->npages != i : s->npages < MHEAP_FREE_LISTS))
				FAIL("free list %zu holds span %p (state %u, %zu pages)",
				     i, (void *)s, s->state, s->npages);
		runs += h->free[i].count;
	}
	if (runs != walk.free_runs)
		FAIL("free lists hold %zu runs, the arena has %zu", runs,
		     walk.free_runs);

	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++) {
		mcentral *c = &h->central[spc];
		mspan_list *lists[4] = { &c->partial[0], &c->partial[1],
					 &c->full[0], &c->full[1] };
		for (unsigned k = 0; k < 4; k++) {
			if (!validate_list(lists[k], k < 2 ? "partial" : "full", spc,
					   why, n))
				return false;
			bool swept = lists[k] == mcentral_partial_swept(c) ||
				     lists[k] == mcentral_full_swept(c);
			/* An unswept list holds only spans waiting for sweep. */
			for (mspan *u = lists[k]->first; !swept && u; u = u->next)
				if (u->sweepgen != h->sweepgen - 2)
					FAIL("mcentral %u: span %p on an unswept list has "
					     "sweepgen %u, heap %u", spc, (void *)u,
					     u->sweepgen, h->sweepgen);
			for (mspan *s = lists[k]->first; s; s = s->next)
				if (s->state != MSPAN_IN_USE || s->spanclass != spc)
					FAIL("mcentral %u holds span %p of class %u state %u",
					     spc, (void *)s, s->spanclass, s->state);
			listed += lists[k]->count;
		}
	}
	if (listed != walk.listed)
		FAIL("mcentral lists hold %zu spans, the arena has %zu uncached "
		     "small spans", listed, walk.listed);
	return true;
}

static bool validate_mcaches(char *why, size_t n)
{
	size_t cached = 0;

	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		mcache *c = &mcache_percpu[cpu];
		for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++) {
			mspan *s = c->alloc[spc];
			if (s == &mspan_empty)
				continue;
			if (mspan_of((void *)s->base) != s || s->spanclass != spc ||
			    s->sweepgen != mheap_global.sweepgen + MSPAN_SWEEPGEN_CACHED)
				FAIL("mcache %u class %u: span %p is not a cached span of "
				     "that class", cpu, spc, (void *)s);
			cached++;
		}
		if (mspan_empty.alloc_cache != 0 || mspan_empty.state != MSPAN_DEAD)
			FAIL("mspan_empty was written to");
		if (!c->tiny)
			continue;
		mspan *t = c->tiny_span;
		if (mspan_of((void *)c->tiny) != t || t->spanclass != SPANCLASS_TINY ||
		    c->tiny != t->base + c->tiny_slot * HEAP_TINY_SIZE ||
		    !mspan_slot_allocated(t, c->tiny_slot) ||
		    t->tiny_starts[c->tiny_slot] == 0 ||
		    c->tiny_offset > HEAP_TINY_SIZE)
			FAIL("mcache %u: tiny block 0x%lx (slot %zu, offset %zu) is not "
			     "an allocated tiny block", cpu, (unsigned long)c->tiny,
			     c->tiny_slot, c->tiny_offset);
	}
	if (cached != walk.cached)
		FAIL("mcaches hold %zu spans, the arena has %zu cached spans", cached,
		     walk.cached);
	return true;
}

static bool validate_counters(char *why, size_t n)
{
	mheap *h = &mheap_global;

	if (walk.pages_in_use != h->pages_in_use ||
	    walk.free_committed != h->pages_free_committed ||
	    walk.free_uncommitted != h->pages_free_uncommitted)
		FAIL("page counters in use %zu / free backed %zu / free unbacked %zu, "
		     "arena has %zu / %zu / %zu", h->pages_in_use,
		     h->pages_free_committed, h->pages_free_uncommitted,
		     walk.pages_in_use, walk.free_committed, walk.free_uncommitted);
	if (walk.spans_in_use != h->spans_in_use || walk.free_runs != h->free_runs)
		FAIL("span counters in use %zu / free runs %zu, arena has %zu / %zu",
		     h->spans_in_use, h->free_runs, walk.spans_in_use, walk.free_runs);
	if (walk.large != h->large_nmalloc - h->large_nfree)
		FAIL("%zu large spans, but %llu allocated - %llu freed", walk.large,
		     (unsigned long long)h->large_nmalloc,
		     (unsigned long long)h->large_nfree);

	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		uint64_t nmalloc = 0;
		for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
			nmalloc += mcache_percpu[cpu].stats.nmalloc[c];
		spanclass_t scan = spanclass_make(c, false);
		spanclass_t noscan = spanclass_make(c, true);
		uint64_t nfree = h->central[scan].nfree + h->central[noscan].nfree;
		uint64_t live = walk.allocated[scan] + walk.allocated[noscan];
		if (nmalloc - nfree != live)
			FAIL("class %u: %llu allocated - %llu freed, but %llu slots "
			     "are allocated", c, (unsigned long long)nmalloc,
			     (unsigned long long)nfree, (unsigned long long)live);
	}
	uint64_t blocks = 0;
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		blocks += mcache_percpu[cpu].stats.tiny_blocks;
	if (blocks - h->central[SPANCLASS_TINY].nfree !=
	    walk.allocated[SPANCLASS_TINY])
		FAIL("tiny: %llu blocks taken - %llu freed, but %llu allocated",
		     (unsigned long long)blocks,
		     (unsigned long long)h->central[SPANCLASS_TINY].nfree,
		     (unsigned long long)walk.allocated[SPANCLASS_TINY]);
	return true;
}

bool mheap_validate(char *why, size_t n)
{
	mheap *h = &mheap_global;

	ASSERT(why && n > 0);
	why[0] = '\0';
	if (!__atomic_load_n(&h->initialized, __ATOMIC_ACQUIRE))
		return true;
	mm_lock_all();
	memset(&walk, 0, sizeof walk);
	bool ok = validate_arena(why, n) && validate_lists(why, n) &&
		  validate_mcaches(why, n) && validate_counters(why, n);
	mm_unlock_all();
	return ok;
}
