/*
 * mm/mcentral.c - one mcentral per span class: the class's spans that no
 * mcache holds, on a partial list (free slots left) or a full list. Hands
 * spans to mcaches, takes them back, moves them between lists as objects are
 * freed, and returns empty spans to the heap. Invariants at struct mcentral
 * (mm/mm_internal.h). See mm/malloc.c for the overview.
 *
 * Locking: c->lock guards the lists and the spans on them, and the slots of
 * a cached span when someone other than its mcache frees one. It is taken
 * before the heap lock (span growth, span release).
 */
#include "mm/mm_internal.h"

static spanclass_t mcentral_spanclass(const mcentral *c)
{
	return (spanclass_t)(c - mheap_global.central);
}

/* The swept / unswept halves, as in Go (see struct mcentral). */
mspan_list *mcentral_partial_swept(mcentral *c)
{
	return &c->partial[(mheap_global.sweepgen / 2) % 2];
}

mspan_list *mcentral_full_swept(mcentral *c)
{
	return &c->full[(mheap_global.sweepgen / 2) % 2];
}

mspan_list *mcentral_partial_unswept(mcentral *c)
{
	return &c->partial[(mheap_global.sweepgen / 2 + 1) % 2];
}

mspan_list *mcentral_full_unswept(mcentral *c)
{
	return &c->full[(mheap_global.sweepgen / 2 + 1) % 2];
}

static bool mcentral_span_cached(const mspan *s)
{
	return s->sweepgen == mheap_global.sweepgen + MSPAN_SWEEPGEN_CACHED;
}

/* A new span of the class from the heap, all slots free. */
static mspan *mcentral_grow_locked(mcentral *c)
{
	spanclass_t spc = mcentral_spanclass(c);
	unsigned sizeclass = spanclass_sizeclass(spc);
	bool needzero;

	ASSERT_HELD(&c->lock);
	mspan *s = mheap_alloc_span(sizeclass_npages[sizeclass], spc, &needzero);
	if (!s)
		return NULL;
	mspan_init_small(s);
	return s;
}

mspan *mcentral_cache_span(mcentral *c)
{
	spin_lock(&c->lock);
	mspan_list *partial = mcentral_partial_swept(c);
	mspan *s;

	/* Lazy sweep (Go's cacheSpan): a span left unswept since the last
	 * collection is swept before anyone allocates from it; sweeping may
	 * free it entirely or move it to the swept partial list. */
	for (;;) {
		s = partial->first;
		if (s) {
			mspan_list_remove(partial, s);
			break;
		}
		mspan *u = mcentral_partial_unswept(c)->first;
		if (!u)
			u = mcentral_full_unswept(c)->first;
		if (!u) {
			s = mcentral_grow_locked(c);
			break;
		}
		mspan_sweep_small_locked(c, u);
	}
	if (s) {
		ASSERT(s->alloc_count < s->nelems);
		s->sweepgen = mheap_global.sweepgen + MSPAN_SWEEPGEN_CACHED;
		bool has_free = mspan_load_cache(s, 0);
		ASSERT(has_free);
		if (MM_DEBUG) {
			char why[160];
			if (!mspan_check(s, why, sizeof why))
				panic("mcentral_cache_span: %s", why);
		}
	}
	spin_unlock(&c->lock);
	return s;
}

/* Puts a span no mcache holds where it belongs; empty spans go back to the
 * heap. */
void mcentral_place_locked(mcentral *c, mspan *s)
{
	ASSERT_HELD(&c->lock);
	if (s->alloc_count == 0)
		mheap_free_span(s);
	else if (s->alloc_count == s->nelems)
		mspan_list_push(mcentral_full_swept(c), s);
	else
		mspan_list_push(mcentral_partial_swept(c), s);
}

void mcentral_uncache_span(mcentral *c, mspan *s)
{
	spin_lock(&c->lock);
	ASSERT(s->state == MSPAN_IN_USE && mcentral_span_cached(s));
	ASSERT(s->spanclass == mcentral_spanclass(c) && s->list == NULL);
	s->sweepgen = mheap_global.sweepgen;
	s->alloc_cache = 0;
	if (MM_DEBUG) {
		char why[160];
		if (!mspan_check(s, why, sizeof why))
			panic("mcentral_uncache_span: %s", why);
	}
	mcentral_place_locked(c, s);
	spin_unlock(&c->lock);
}

bool mcentral_free_slot(mcentral *c, mspan *s, size_t i)
{
	spin_lock(&c->lock);
	bool ok = false;

	/* The caller found s without a lock: make sure it is still the span
	 * it looked at. */
	if (s->state != MSPAN_IN_USE || s->spanclass != mcentral_spanclass(c)) {
		heap_set_error("span %p changed while freeing", (void *)s);
		goto out;
	}
	if (s->sweepgen == mheap_global.sweepgen - 2) {
		/* Not swept since the last collection: sweep first, so the
		 * span's bits are current. If the object was garbage, the
		 * sweep has freed it and there is nothing left to do. */
		mspan_sweep_small_locked(c, s);
		if (s->state != MSPAN_IN_USE || s->spanclass != mcentral_spanclass(c) ||
		    !mspan_slot_allocated(s, i)) {
			ok = true;
			goto out;
		}
	}
	if (!mspan_slot_allocated(s, i)) {
		heap_set_error("double free: slot %zu of span %p (class %u, %zu bytes) "
			       "is not allocated", i, (void *)s, mspan_sizeclass(s),
			       s->elemsize);
		goto out;
	}
	if (s->tiny_starts)
		s->tiny_starts[i] = 0;
	mspan_free_slot(s, i);
	c->nfree++;
	if (!mcentral_span_cached(s)) {
		/* Full -> partial, or partial -> empty -> heap. */
		mspan_list_remove(s->list, s);
		mcentral_place_locked(c, s);
	}
	ok = true;
out:
	spin_unlock(&c->lock);
	return ok;
}

bool mcentral_free_tiny(mcentral *c, mspan *s, size_t i, unsigned offset,
			bool *block_emptied)
{
	spin_lock(&c->lock);
	bool ok = false;

	*block_emptied = false;
	if (s->state != MSPAN_IN_USE || s->spanclass != SPANCLASS_TINY ||
	    !mspan_slot_allocated(s, i) ||
	    !(s->tiny_starts[i] & (1U << offset))) {
		heap_set_error("double free: no tiny object starts at offset %u of "
			       "block %zu of span %p", offset, i, (void *)s);
		goto out;
	}
	s->tiny_starts[i] &= (uint16_t)~(1U << offset);
	c->tiny_frees++;
	*block_emptied = s->tiny_starts[i] == 0;
	ok = true;
out:
	spin_unlock(&c->lock);
	return ok;
}
