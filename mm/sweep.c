/*
 * mm/sweep.c - the heap's half of the collector: allocate-black while the
 * collector marks, the sweep-generation flip at mark termination, and
 * sweeping: a span's mark bits become its alloc bits (Go: gcmarkBits ->
 * allocBits), dead slots are released, emptied spans go back to mheap.
 *
 * Sweep states of an IN_USE span against h = mheap_global.sweepgen (the
 * table at MSPAN_SWEEPGEN_CACHED): h - 2 needs sweeping, h swept, h + 3
 * swept and cached. heap_begin_sweep() adds 2 to h with the world stopped
 * and every mcache flushed, which turns every span into "needs sweeping" at
 * once; then the background sweeper (heap_sweep_some) and lazy sweeping
 * (mcentral_cache_span sweeps a span before handing it out) bring them back
 * to h. A span is never allocated from before it is swept: that is what
 * keeps a slot allocated after marking from being freed by its old mark
 * bit. Spans allocated from mheap start at h.
 *
 * Locking: a small span is swept under its mcentral's lock, a large one
 * under the heap lock (mheap_free_large takes it); the walk over the page
 * table reads one entry at a time under the heap lock and re-checks the
 * span under the lock that guards it.
 */
#include "mm/mm_internal.h"

bool heap_clobber_free;
CMDLINE_BOOL(heap_clobber_free, "clobberfree",
	     "poison freed heap slots and verify the poison when they are reused");

volatile bool heap_alloc_black;
volatile bool heap_gc_marking;

/* guarded by the heap lock */
static size_t sweep_cursor;     /* next arena page the background sweep looks at */
static bool sweep_pending;      /* a flip happened and the walk has not finished */
static uint64_t swept_spans, freed_objects_total, freed_bytes_total;

void heap_set_alloc_black(bool on)
{
	heap_alloc_black = on;
	heap_gc_marking = on;
}

void heap_begin_sweep(void)
{
	/* All of this CPU's cached spans go back to their mcentrals first
	 * (with one CPU that is every mcache; with more, each would flush its
	 * own at the safe point). */
	mcache_release_all();
	mheap *h = &mheap_global;
	spin_lock(&h->lock);
	h->sweepgen += 2;
	sweep_cursor = 0;
	sweep_pending = true;
	spin_unlock(&h->lock);
}

/* Frees the dead slots of a small span no mcache holds and puts it on the
 * list its new fill says (or back to mheap). c->lock held. */
void mspan_sweep_small_locked(mcentral *c, mspan *s)
{
	mheap *h = &mheap_global;
	ASSERT_HELD(&c->lock);
	ASSERT(s->state == MSPAN_IN_USE && s->sweepgen == h->sweepgen - 2);
	ASSERT(mspan_sizeclass(s) != 0);
	/* Marking only begins once every span is swept (gc_start). */
	ASSERT(!heap_gc_marking);

	uint32_t words = MSPAN_BITMAP_WORDS(s->nelems);
	uint32_t freed = 0;
	for (uint32_t w = 0; w < words; w++) {
		uint64_t dead = s->alloc_bits[w] & ~s->mark_bits[w];
		while (dead) {
			size_t i = (size_t)w * 64 + (unsigned)__builtin_ctzll(dead);
			dead &= dead - 1;
			if (s->types)
				s->types[i] = NULL;
			if (s->tiny_starts) {
				c->tiny_frees += (uint64_t)__builtin_popcount(s->tiny_starts[i]);
				s->tiny_starts[i] = 0;
			}
			if (MM_POISON_FREED)
				mm_poison((void *)(s->base + i * s->elemsize), s->elemsize);
			freed++;
		}
		s->alloc_bits[w] = s->mark_bits[w];
		s->mark_bits[w] = 0;
	}
	ASSERT(freed <= s->alloc_count);
	s->alloc_count -= freed;
	if (freed)
		s->needzero = true;
	c->nfree += freed;
	s->sweepgen = h->sweepgen;
	freed_objects_total += freed;
	freed_bytes_total += (uint64_t)freed * s->elemsize;
	swept_spans++;
	if (s->list)
		mspan_list_remove(s->list, s);
	mcentral_place_locked(c, s);
}

/* Sweeps a large span: freed if unmarked. Interrupts off, no lock held. */
static void mspan_sweep_large(mspan *s)
{
	mheap *h = &mheap_global;
	ASSERT(!heap_gc_marking);
	if (s->mark_bits[0] & 1) {
		s->mark_bits[0] = 0;
		s->sweepgen = h->sweepgen;
		swept_spans++;
		return;
	}
	s->sweepgen = h->sweepgen; /* so no one else sweeps it meanwhile */
	freed_objects_total++;
	freed_bytes_total += s->elemsize;
	swept_spans++;
	if (s->types)
		s->types[0] = NULL;
	mheap_free_large(s);
}

/* The next span the background sweep should look at, or NULL when the walk
 * is over. Heap lock taken inside. */
static mspan *sweep_next_candidate(void)
{
	mheap *h = &mheap_global;
	mspan *found = NULL;
	spin_lock(&h->lock);
	size_t pages = mheap_pages_used();
	while (sweep_pending && sweep_cursor < pages) {
		mspan *s = h->spans[sweep_cursor];
		/* Spans split and merge between calls, so the cursor may land
		 * inside a free run, whose interior entries can be stale. Trust
		 * an entry only if its span covers the page; then step to the
		 * span's end. */
		if (!s || s->state == MSPAN_DEAD || s->npages == 0 ||
		    mheap_page_index(s->base) > sweep_cursor ||
		    mheap_page_index(s->base) + s->npages <= sweep_cursor) {
			sweep_cursor++;
			continue;
		}
		sweep_cursor = mheap_page_index(s->base) + s->npages;
		if (s->state == MSPAN_IN_USE && s->sweepgen == h->sweepgen - 2) {
			found = s;
			break;
		}
	}
	if (!found)
		sweep_pending = false;
	spin_unlock(&h->lock);
	return found;
}

size_t heap_sweep_some(size_t max_spans)
{
	size_t done = 0;
	while (done < max_spans) {
		arch_irqflags_t irq = arch_irq_save();
		mspan *s = sweep_next_candidate();
		if (!s) {
			arch_irq_restore(irq);
			break;
		}
		/* Interrupts stayed off since the heap lock was dropped, so on
		 * one CPU nothing changed s; the checks below keep it right
		 * with more. */
		if (mspan_sizeclass(s) == 0) {
			mspan_sweep_large(s);
		} else {
			mcentral *c = &mheap_global.central[s->spanclass];
			spin_lock(&c->lock);
			if (s->state == MSPAN_IN_USE &&
			    s->sweepgen == mheap_global.sweepgen - 2)
				mspan_sweep_small_locked(c, s);
			spin_unlock(&c->lock);
		}
		arch_irq_restore(irq);
		done++;
	}
	return done;
}

bool heap_sweep_done(void)
{
	arch_irqflags_t irq = arch_irq_save();
	bool done = !sweep_pending;
	arch_irq_restore(irq);
	return done;
}

void heap_sweep_stats(uint64_t *spans, uint64_t *objects, uint64_t *bytes)
{
	arch_irqflags_t irq = arch_irq_save();
	*spans = swept_spans;
	*objects = freed_objects_total;
	*bytes = freed_bytes_total;
	arch_irq_restore(irq);
}

void heap_finish_sweep(void)
{
	while (heap_sweep_some(64) > 0)
		;
	/* The walk covers every span; the unswept lists are checked too, so
	 * that marking can never meet a span with stale bits. */
	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++) {
		mcentral *c = &mheap_global.central[spc];
		spin_lock(&c->lock);
		mspan *u;
		while ((u = mcentral_partial_unswept(c)->first) != NULL ||
		       (u = mcentral_full_unswept(c)->first) != NULL)
			mspan_sweep_small_locked(c, u);
		spin_unlock(&c->lock);
	}
}

bool heap_sweep_complete(void)
{
	if (!heap_sweep_done())
		return false;
	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++) {
		mcentral *c = &mheap_global.central[spc];
		if (!mspan_list_empty(mcentral_partial_unswept(c)) ||
		    !mspan_list_empty(mcentral_full_unswept(c)))
			return false;
	}
	return true;
}

void heap_for_each_span(void (*fn)(mspan *s, void *arg), void *arg)
{
	mheap *h = &mheap_global;
	size_t pages = mheap_pages_used();
	for (size_t p = 0; p < pages;) {
		mspan *s = h->spans[p];
		if (!s || s->npages == 0 || s->state == MSPAN_DEAD ||
		    mheap_page_index(s->base) > p ||
		    mheap_page_index(s->base) + s->npages <= p) {
			p++;
			continue;
		}
		p = mheap_page_index(s->base) + s->npages;
		if (s->state == MSPAN_IN_USE)
			fn(s, arg);
	}
}

size_t heap_metadata_globals(arch_range *out, size_t max)
{
	/* The heap's own bookkeeping: arena bounds, tables, per-CPU caches,
	 * and the stack allocator's region bounds and free list.
	 * Scanned as roots, words like arena_start would pin whatever object
	 * sits at that address forever. */
	const arch_range r[] = {
		{ (uintptr_t)&mheap_global, (uintptr_t)(&mheap_global + 1) },
		{ (uintptr_t)mcache_percpu, (uintptr_t)(mcache_percpu + MM_MAX_CPUS) },
		stack_metadata_range(),
	};
	size_t n = MIN(max, ARRAY_SIZE(r));
	for (size_t i = 0; i < n; i++)
		out[i] = r[i];
	return n;
}

size_t heap_spans_in_use(void)
{
	return mheap_global.spans_in_use;
}

uint32_t heap_current_sweepgen(void)
{
	return mheap_global.sweepgen;
}
