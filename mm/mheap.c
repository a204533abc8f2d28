/*
 * mm/mheap.c - the page heap: hands out runs of pages as spans, takes them
 * back and coalesces them so no free run ever sits next to another, grows
 * the arena, and scavenges long-free pages back to the page source while
 * keeping heap_reserve_pages of them backed. Invariants are listed at struct
 * mheap (mm/mm_internal.h); mm/validate.c checks them. See mm/malloc.c for
 * the overview.
 *
 * Locking: mheap_global.lock guards everything here. It is taken under an
 * mcentral lock (span refill and release) and takes the persistent lock
 * (fixalloc) inside it; never the other way round. arch_commit and
 * arch_decommit run under it: committing is proportional to the pages a span
 * needs, which bounds the time interrupts stay off by the request size.
 */
#include "mm/mm_internal.h"

/* Free heap pages the scavenger leaves backed, so a steady allocator does
 * not commit and decommit the same pages over and over. */
static int64_t heap_reserve_pages = 256;
CMDLINE_INT(heap_reserve_pages, "heap_reserve_pages", 0, 1LL << 32,
	    "free heap pages (8 KiB) the scavenger keeps backed");

/* A free run must have been free this long before the scavenger returns
 * its pages; also the shortest interval between two automatic passes. */
static int64_t heap_scavenge_ms = 1000;
CMDLINE_INT(heap_scavenge_ms, "heap_scavenge_ms", 0, 3600 * 1000,
	    "ms a free run stays backed before the scavenger returns it");


mheap mheap_global = {
	.lock = SPINLOCK_INIT("mheap", LOCK_RANK_MHEAP),
	.central = { [0 ... SPANCLASS_COUNT - 1] = {
		.lock = SPINLOCK_INIT("mcentral", LOCK_RANK_MCENTRAL) } },
};

/* ---- init -------------------------------------------------------------- */

static bool mheap_init_locked(void)
{
	mheap *h = &mheap_global;

	ASSERT_HELD(&h->lock);
	sizeclass_check_table();
	fixalloc_init(&h->span_alloc, "mspan", sizeof(mspan), MM_CACHE_LINE);
	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++) {
		size_t nelems = sizeclass_nelems[spanclass_sizeclass((spanclass_t)spc)];
		/* Line-aligned: a cached span's alloc bits are written by
		 * its CPU's fast path and must not share a line with
		 * another span's. */
		fixalloc_init(&h->meta_alloc[spc], "span metadata",
			      mspan_meta_size((spanclass_t)spc, nelems),
			      MM_CACHE_LINE);
	}
	if (!mheap_arena_init_locked())
		return false;
	h->last_scavenge_ns = arch_nanotime();
	__atomic_store_n(&h->initialized, true, __ATOMIC_RELEASE);
	return true;
}

bool mheap_ensure_init(void)
{
	mheap *h = &mheap_global;

	if (__atomic_load_n(&h->initialized, __ATOMIC_ACQUIRE))
		return true;
	spin_lock(&h->lock);
	bool ok = h->initialized || mheap_init_locked();
	spin_unlock(&h->lock);
	return ok;
}

bool heap_init(void)
{
	return mheap_ensure_init();
}

/* ---- free runs --------------------------------------------------------- */

static size_t mheap_free_index(size_t npages)
{
	return npages < MHEAP_FREE_LISTS ? npages : 0;
}

static void mheap_free_list_push(mspan *run)
{
	mheap *h = &mheap_global;
	size_t i = mheap_free_index(run->npages);

	mspan_list_push(&h->free[i], run);
	if (i)
		h->free_nonempty[i / 64] |= 1ULL << (i % 64);
}

static void mheap_free_list_remove(mspan *run)
{
	mheap *h = &mheap_global;
	size_t i = mheap_free_index(run->npages);

	mspan_list_remove(&h->free[i], run);
	if (i && mspan_list_empty(&h->free[i]))
		h->free_nonempty[i / 64] &= ~(1ULL << (i % 64));
}

/* Absorbs the free run `other` into `run`; other's struct dies. The
 * merged run counts as free since the later of the two: the scavenger may
 * then wait longer than needed, but never returns pages just freed. */
static void mheap_absorb_locked(mspan *run, mspan *other)
{
	mheap *h = &mheap_global;
	ASSERT_HELD(&h->lock);
	size_t first = mheap_page_index(other->base);

	mheap_free_list_remove(other);
	h->spans[first] = NULL;
	h->spans[first + other->npages - 1] = NULL;
	if (other->base < run->base)
		run->base = other->base;
	run->npages += other->npages;
	run->free_since = MAX(run->free_since, other->free_since);
	fixalloc_free(&h->span_alloc, other);
	h->free_runs--;
}

void mheap_insert_free_run_locked(mspan *run)
{
	mheap *h = &mheap_global;

	ASSERT_HELD(&h->lock);
	ASSERT(run->state == MSPAN_FREE && run->list == NULL && run->npages > 0);
	size_t first = mheap_page_index(run->base);
	size_t last = first + run->npages - 1;

	h->free_runs++;
	h->spans[first] = NULL;
	h->spans[last] = NULL;
	if (first > 0) {
		mspan *prev = h->spans[first - 1];
		if (prev && prev->state == MSPAN_FREE)
			mheap_absorb_locked(run, prev);
	}
	if (last + 1 < mheap_pages_used()) {
		mspan *next = h->spans[last + 1];
		if (next && next->state == MSPAN_FREE)
			mheap_absorb_locked(run, next);
	}
	first = mheap_page_index(run->base);
	h->spans[first] = run;
	h->spans[first + run->npages - 1] = run;
	mheap_free_list_push(run);
}

/* The smallest free run of at least npages: the first non-empty exact list
 * at or above npages, else best fit (then lowest address) among the long
 * runs. NULL if none is big enough. */
static mspan *mheap_find_run_locked(size_t npages)
{
	mheap *h = &mheap_global;
	ASSERT_HELD(&h->lock);

	for (size_t w = npages / 64; w < ARRAY_SIZE(h->free_nonempty); w++) {
		uint64_t bits = h->free_nonempty[w];
		if (w == npages / 64)
			bits &= ~0ULL << (npages % 64);
		if (bits)
			return h->free[w * 64 + (size_t)__builtin_ctzll(bits)].first;
	}
	mspan *best = NULL;
	for (mspan *s = h->free[0].first; s; s = s->next) {
		if (s->npages >= npages &&
		    (!best || s->npages < best->npages ||
		     (s->npages == best->npages && s->base < best->base)))
			best = s;
	}
	return best;
}

/* ---- the scavenger ----------------------------------------------------- */

static size_t mheap_scavenge_locked(size_t keep_pages, uint64_t min_idle_ns)
{
	mheap *h = &mheap_global;
	uint64_t now = arch_nanotime();

	ASSERT_HELD(&h->lock);
	h->last_scavenge_ns = now;
	if (h->pages_free_committed <= keep_pages)
		return 0;
	size_t want = h->pages_free_committed - keep_pages, released = 0;
	/* Long runs first (list 0), then from the longest exact list down:
	 * fewer, larger page-source calls. */
	for (size_t k = 0; k < MHEAP_FREE_LISTS && released < want; k++) {
		size_t i = k == 0 ? 0 : MHEAP_FREE_LISTS - k;
		for (mspan *s = h->free[i].first; s && released < want; s = s->next) {
			if (now - s->free_since < min_idle_ns)
				continue;
			released += mheap_decommit_pages_locked(
				mheap_page_index(s->base), s->npages, want - released);
		}
	}
	return released;
}

size_t mheap_scavenge(size_t keep_pages, uint64_t min_idle_ns)
{
	mheap *h = &mheap_global;

	if (!mheap_ensure_init())
		return 0;
	spin_lock(&h->lock);
	size_t released = mheap_scavenge_locked(keep_pages, min_idle_ns);
	spin_unlock(&h->lock);
	return released;
}

size_t mheap_release_free_pages(void)
{
	mheap *h = &mheap_global;

	if (!__atomic_load_n(&h->initialized, __ATOMIC_ACQUIRE))
		return 0;
	/* Called from inside the heap (a commit under the heap lock failed)
	 * and from outside it (metadata, stacks). */
	bool held = spin_held(&h->lock);
	if (!held)
		spin_lock(&h->lock);
	size_t released = 0;
	if (h->pages_free_committed > 0) {
		released = mheap_scavenge_locked(0, 0);
		h->oom_scavenges++;
		h->oom_scavenged_pages += released;
	}
	if (!held)
		spin_unlock(&h->lock);
	return released;
}

/* The automatic pass, run on frees: at most once per heap_scavenge_ms. */
static void mheap_scavenge_periodic_locked(void)
{
	mheap *h = &mheap_global;
	ASSERT_HELD(&h->lock);
	uint64_t period = (uint64_t)heap_scavenge_ms * NS_PER_MS;

	if (h->pages_free_committed > (uint64_t)heap_reserve_pages &&
	    arch_nanotime() - h->last_scavenge_ns >= period)
		mheap_scavenge_locked((size_t)heap_reserve_pages, period);
}

/* ---- spans ------------------------------------------------------------- */

/* Backs [page, page + npages) of a free run. On failure, returns the free
 * backed pages of every run to the page source and tries once more (step 1
 * of mm/reclaim.c): a fragmented heap may hold enough memory that the page
 * source lacks. The retry starts over, as the scavenge may have returned
 * pages of this very run. */
static bool mheap_commit_or_scavenge_locked(size_t page, size_t npages)
{
	ASSERT_HELD(&mheap_global.lock);
	if (mheap_commit_pages_locked(page, npages))
		return true;
	if (mheap_release_free_pages() == 0)
		return false;
	return mheap_commit_pages_locked(page, npages);
}

static mspan *mheap_alloc_span_locked(size_t npages, spanclass_t spc,
				      bool *needzero)
{
	mheap *h = &mheap_global;
	unsigned sizeclass = spanclass_sizeclass(spc);

	ASSERT_HELD(&h->lock);
	ASSERT(npages > 0 && spc < SPANCLASS_COUNT);
	/* Everything that can fail comes before anything changes. */
	mspan *s = fixalloc_alloc(&h->span_alloc);
	if (!s)
		return NULL;
	void *meta = fixalloc_alloc(&h->meta_alloc[spc]);
	if (!meta)
		goto fail_span;
	mspan *run = mheap_find_run_locked(npages);
	if (!run) {
		/* Growing reserves address space and backs page tables for it:
		 * not worth doing for a request memory cannot hold anyway. */
		size_t could_back = arch_free_pages() / MHEAP_ARCH_PAGES_PER_PAGE +
				    h->pages_free_committed;
		if (npages > could_back) {
			heap_set_error("out of memory: %zu heap pages wanted, at most "
				       "%zu can be backed", npages, could_back);
			goto fail_meta;
		}
		if (!mheap_arena_grow_locked(npages))
			goto fail_meta;
		run = mheap_find_run_locked(npages);
		ASSERT(run && run->npages >= npages);
	}
	size_t first = mheap_page_index(run->base);
	if (!mheap_commit_or_scavenge_locked(first, npages))
		goto fail_meta;

	/* Carve the span from the bottom of the run. */
	mheap_free_list_remove(run);
	if (run->npages > npages) {
		run->base += npages * MHEAP_PAGE_SIZE;
		run->npages -= npages;
		h->spans[first + npages] = run;
		mheap_free_list_push(run);
	} else {
		fixalloc_free(&h->span_alloc, run);
		h->free_runs--;
	}
	bool dirty = false;
	for (size_t p = first; p < first + npages; p++) {
		dirty |= h->page_state[p] == MHEAP_PAGE_FREE_DIRTY;
		ASSERT(h->page_state[p] != MHEAP_PAGE_UNCOMMITTED);
		h->page_state[p] = MHEAP_PAGE_IN_USE;
		h->spans[p] = s;
	}
	h->pages_free_committed -= npages;
	h->pages_in_use += npages;
	h->spans_in_use++;

	s->base = mheap_page_addr(first);
	s->npages = npages;
	s->spanclass = spc;
	s->state = MSPAN_IN_USE;
	s->sweepgen = h->sweepgen;
	s->needzero = dirty;
	s->nelems = sizeclass_nelems[sizeclass];
	mspan_attach_meta(s, meta);
	if (sizeclass == 0) {
		s->elemsize = npages * MHEAP_PAGE_SIZE;
		s->divmagic = 0;
	}
	*needzero = dirty;
	return s;

fail_meta:
	fixalloc_free(&h->meta_alloc[spc], meta);
fail_span:
	fixalloc_free(&h->span_alloc, s);
	return NULL;
}

mspan *mheap_alloc_span(size_t npages, spanclass_t spc, bool *needzero)
{
	mheap *h = &mheap_global;

	if (!mheap_ensure_init())
		return NULL;
	spin_lock(&h->lock);
	mspan *s = mheap_alloc_span_locked(npages, spc, needzero);
	spin_unlock(&h->lock);
	return s;
}

void mheap_free_span_locked(mspan *s)
{
	mheap *h = &mheap_global;

	ASSERT_HELD(&h->lock);
	ASSERT(s->state == MSPAN_IN_USE && s->list == NULL);
	ASSERT(s->alloc_count == 0);
	size_t first = mheap_page_index(s->base), npages = s->npages;

	if (MM_DEBUG)
		mm_poison((void *)s->base, npages * MHEAP_PAGE_SIZE);
	fixalloc_free(&h->meta_alloc[s->spanclass], s->alloc_bits);
	for (size_t p = first; p < first + npages; p++) {
		ASSERT(h->spans[p] == s && h->page_state[p] == MHEAP_PAGE_IN_USE);
		h->page_state[p] = MHEAP_PAGE_FREE_DIRTY;
		h->spans[p] = NULL;
	}
	h->pages_in_use -= npages;
	h->pages_free_committed += npages;
	h->spans_in_use--;

	memset(s, 0, sizeof *s);
	s->base = mheap_page_addr(first);
	s->npages = npages;
	s->state = MSPAN_FREE;
	s->free_since = arch_nanotime();
	mheap_insert_free_run_locked(s);
	mheap_scavenge_periodic_locked();
}

void mheap_free_span(mspan *s)
{
	spin_lock(&mheap_global.lock);
	mheap_free_span_locked(s);
	spin_unlock(&mheap_global.lock);
}

/* ---- large objects ----------------------------------------------------- */

mspan *mheap_alloc_large(size_t npages, size_t requested, bool noscan,
			 bool *needzero)
{
	mheap *h = &mheap_global;

	if (!mheap_ensure_init())
		return NULL;
	spin_lock(&h->lock);
	mspan *s = mheap_alloc_span_locked(npages, spanclass_make(0, noscan),
					   needzero);
	if (s) {
		s->alloc_bits[0] = 1;
		s->alloc_count = 1;
		/* "Cached" until heap_alloc_large has zeroed and published the
		 * object: a collection may end meanwhile (zeroing runs with
		 * interrupts on), and its sweep must not free the span then. */
		s->sweepgen = h->sweepgen + MSPAN_SWEEPGEN_CACHED;
		h->large_nmalloc++;
		h->large_bytes_alloc += s->elemsize;
		h->large_bytes_requested += requested;
	}
	spin_unlock(&h->lock);
	return s;
}

void mheap_free_large(mspan *s)
{
	mheap *h = &mheap_global;

	spin_lock(&h->lock);
	ASSERT(s->state == MSPAN_IN_USE && mspan_sizeclass(s) == 0);
	ASSERT(s->alloc_count == 1);
	s->alloc_bits[0] = 0;
	s->alloc_count = 0;
	h->large_nfree++;
	h->large_bytes_freed += s->elemsize;
	mheap_free_span_locked(s);
	spin_unlock(&h->lock);
}
