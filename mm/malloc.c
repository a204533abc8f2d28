/*
 * mm/malloc.c - the allocation path, the test-only free and the object
 * queries; and the overview of the memory manager.
 *
 * Overview
 * ========
 *
 * The heap is shaped like the Go runtime's (malloc.go, mheap.go, mcentral.go,
 * mcache.go). Small objects (up to 32 KiB) are rounded up to one of 66 size
 * classes and carved from spans: runs of 8 KiB heap pages cut into equal
 * slots. Large objects get a span of their own. Everything lives in one
 * arena, a range of address space reserved at init and backed page by page
 * on demand, so "is this a heap object, and which one" is a table lookup.
 *
 * The structures, bottom up:
 *
 *   arena (arena.c)   the reserved range; spans[], the page->span table
 *                     (Go: spanOf) and page_state[], one byte per heap page
 *                     saying free-unbacked / free-clean / free-dirty / in use.
 *   mheap (mheap.c)   the page heap. Free runs of pages sit on lists by
 *                     length; allocation takes the smallest run that fits
 *                     and splits it, freeing coalesces with both neighbours
 *                     (found through spans[]), so no two free runs touch.
 *                     Backs pages when a span needs them; the scavenger gives
 *                     long-free pages back. One lock.
 *   mspan (span.c)    a span: base, pages, slot size and count, an alloc
 *                     bitmap (bit i = slot i allocated), a mark bitmap of the
 *                     same shape for the collector, and a per-slot type
 *                     pointer (or none: a noscan span holds no pointers).
 *   mcentral          per span class (size class x scan/noscan, plus tiny):
 *     (mcentral.c)    the spans no CPU is using, partial or full. One lock
 *                     each.
 *   mcache (mcache.c) per CPU: the span it allocates each class from, and
 *                     its tiny block. No lock: only its CPU touches it, with
 *                     interrupts off.
 *   fixalloc          the runtime's own metadata (span structs, bitmaps),
 *     (fixalloc.c)    outside the arena, never scanned or freed.
 *   reclaim           what every failed commit goes through before an
 *     (reclaim.c)     allocation fails: free pages back to the page
 *                     source, then (through the collector's hook) a
 *                     collection.
 *   stacks (stack.c)  task stacks, each with an unmapped gap below it.
 *
 * The allocation path, heap_alloc(size, type, flags):
 *
 *   1. size 0 or above 32 KiB: the large path (step 7).
 *   2. Interrupts off (arch_irq_save). The timer interrupt will preempt
 *      tasks anywhere, and a task moved to another CPU halfway through, or
 *      an interrupt handler allocating in the middle, would corrupt this
 *      CPU's mcache. Turning interrupts off costs a few cycles in the
 *      kernel and is the whole of the fast path's synchronisation.
 *   3. Tiny: a pointer-free request under 16 bytes goes into the CPU's
 *      current 16-byte block at the next suitably aligned offset if it fits
 *      (Go's tiny allocator); otherwise a new block is taken as in step 4
 *      from the tiny span class.
 *   4. Small: class = sizeclass_of(size), two table loads. The span is
 *      mcache->alloc[spanclass]. Its alloc_cache holds the free slots of one
 *      bitmap word: count-trailing-zeros gives the slot, clearing the lowest
 *      bit consumes it, one OR sets its alloc bit. That is the fast path:
 *      no lock, no search, only this CPU's cache lines.
 *   5. The cache word is empty: mcache_refill() loads the span's next word
 *      with free slots; if there is none, the span goes back to its
 *      mcentral (partial or full list) and the mcentral hands out a partial
 *      span, or, if it has none, a fresh span from the mheap (mcentral lock,
 *      then heap lock). The heap takes the best-fitting free run, or grows
 *      the arena, and backs the pages it needs (arch_commit).
 *   6. The slot is zeroed if its span may hold old data (needzero; fresh
 *      pages are zero already), the slot's type is recorded for a scan
 *      span, the CPU's counters are bumped, and interrupts go back on.
 *      Zeroing comes before the type is published, so the collector never
 *      scans stale words as pointers.
 *   7. Large: the heap allocates a span of ceil(size / 8 KiB) pages with one
 *      slot (heap lock only), the memory is zeroed with interrupts on if
 *      the pages were used before, then the type is published.
 *   8. Out of memory (a commit failed on the way): with interrupts back to
 *      the caller's state, mm/reclaim.c returns the heap's free backed
 *      pages to the page source and, if the caller may block, has the
 *      collector collect; the attempt is repeated while that may help.
 *      Then heap_alloc returns NULL with heap_last_error() saying why.
 *
 * Freeing is the collector's sweep (mm/sweep.c): at mark termination the
 * heap's sweepgen advances, and each span, when it is next swept (by the
 * background sweeper, by an allocation that needs it, or lazily by its
 * mcentral), makes its mark bits the new alloc bits (Go's gcmarkBits ->
 * allocBits); a span left empty goes back to the mheap. While a cycle
 * marks, step 6 also sets the new slot's mark bit (allocate-black), so an
 * object allocated during marking survives the cycle. Tests and benchmarks
 * can also free one object at once with heap_free_for_test(): find the span
 * through spans[], the slot through the span's division magic, check that
 * the slot is allocated and p is its start, clear the bit under the
 * mcentral lock, and move the span between lists.
 *
 * Locks: an mcentral's, the heap's, the persistent allocator's, in the
 * order of the lock-rank table in arch/arch.h.
 */
#include "mm/mm_internal.h"

/* ---- errors ------------------------------------------------------------ */

void heap_set_error(const char *fmt, ...)
{
	mcache *c = &mcache_percpu[mm_cpu_id()];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
}

const char *heap_last_error(void)
{
	return mcache_percpu[mm_cpu_id()].error;
}

/* ---- small objects ----------------------------------------------------- */

/* Readies a slot for its new object: in debug builds checks that nothing
 * wrote to it while it was free, then zeroes it if needed. */
static inline __attribute__((always_inline)) void
heap_prepare_slot(const mspan *s, void *p)
{
	if (MM_POISON_FREED) {
		size_t bad = mm_poison_check(p, s->elemsize);
		if (bad != s->elemsize)
			panic("heap: slot %p (span %p, class %u) written after free "
			      "at offset %zu", p, (const void *)s,
			      mspan_sizeclass(s), bad);
	}
	if (s->needzero)
		mm_zero(p, s->elemsize);
}

/* Steps 4-5: a slot of span class spc; s and the slot index come back
 * through the pointers. NULL when out of memory. Interrupts off. */
static inline __attribute__((always_inline)) void *
heap_take_slot(mcache *c, spanclass_t spc, mspan **sp, size_t *ip)
{
	mspan *s = c->alloc[spc];
	long i = mspan_take_cached_slot(s);

	if (__builtin_expect(i < 0, 0)) {
		s = mcache_refill(c, spc);
		if (!s)
			return NULL;
		i = mspan_take_cached_slot(s);
		ASSERT(i >= 0);
	}
	void *p = (void *)(s->base + (size_t)i * s->elemsize);
	heap_prepare_slot(s, p);
	/* Allocate black: born during marking, the object survives the cycle
	 * (it holds no pointers yet; any stored later pass the barrier). */
	if (__builtin_expect(heap_alloc_black, 0))
		s->mark_bits[(size_t)i >> 6] |= 1ULL << (i & 63);
	*sp = s;
	*ip = (size_t)i;
	return p;
}

static void *heap_alloc_tiny(mcache *c, size_t size)
{
	/* Align the sub-object like Go: by 8, 4 or 2 if the size is a
	 * multiple of it, so a uint64_t or uint32_t inside stays aligned. */
	size_t off = c->tiny_offset;
	if ((size & 7) == 0)
		off = ALIGN_UP(off, 8);
	else if ((size & 3) == 0)
		off = ALIGN_UP(off, 4);
	else if ((size & 1) == 0)
		off = ALIGN_UP(off, 2);

	if (c->tiny && off + size <= HEAP_TINY_SIZE) {
		c->tiny_span->tiny_starts[c->tiny_slot] |= (uint16_t)(1U << off);
		/* The block may predate the cycle: a new sub-object blackens it. */
		if (__builtin_expect(heap_alloc_black, 0))
			c->tiny_span->mark_bits[c->tiny_slot >> 6] |= 1ULL << (c->tiny_slot & 63);
		c->tiny_offset = off + size;
		c->stats.tiny_allocs++;
		c->stats.bytes_requested += size;
		return (void *)(c->tiny + off);
	}

	mspan *s;
	size_t i;
	void *block = heap_take_slot(c, SPANCLASS_TINY, &s, &i);
	if (!block)
		return NULL;
	s->tiny_starts[i] = 1;
	c->stats.tiny_blocks++;
	c->stats.tiny_allocs++;
	c->stats.bytes_requested += size;
	/* Keep whichever block has more room left (Go does the same). */
	if (!c->tiny || size < c->tiny_offset) {
		c->tiny = (uintptr_t)block;
		c->tiny_offset = size;
		c->tiny_span = s;
		c->tiny_slot = i;
	}
	return block;
}

/* ---- large objects ----------------------------------------------------- */

static void *heap_alloc_large(size_t size, const struct gc_type *type,
			      bool noscan)
{
	if (size == 0) {
		heap_set_error("zero-size allocation");
		return NULL;
	}
	if (size > MHEAP_ARENA_BYTES) {
		heap_set_error("allocation of %zu bytes exceeds the %lu GiB heap arena",
			       size, MHEAP_ARENA_BYTES >> 30);
		return NULL;
	}
	size_t npages = (size + MHEAP_PAGE_SIZE - 1) >> MHEAP_PAGE_SHIFT;
	bool needzero;
	heap_oom oom = { 0 };
	mspan *s;
	while (!(s = mheap_alloc_large(npages, size, noscan, &needzero)))
		if (!heap_oom_retry(&oom, npages * MHEAP_ARCH_PAGES_PER_PAGE))
			return NULL;
	/* Interrupts stay on: zeroing a big object may take a while, and the
	 * object has no type yet, so the collector would not scan it. */
	if (needzero)
		memset((void *)s->base, 0, s->elemsize);
	/* Publish: the type, the span as swept in the current generation
	 * (whatever cycles ran while we zeroed), and black if one is marking
	 * now. One step, interrupts off, so no phase change splits it. */
	arch_irqflags_t irq = arch_irq_save();
	if (!noscan)
		__atomic_store_n(&s->types[0], type, __ATOMIC_RELEASE);
	s->sweepgen = mheap_global.sweepgen;
	/* A mark left by a cycle that ended while we zeroed means nothing
	 * now (that cycle's sweep skipped this span). */
	s->mark_bits[0] = heap_alloc_black ? 1 : 0;
	arch_irq_restore(irq);
	return (void *)s->base;
}

/* ---- heap_alloc -------------------------------------------------------- */

/* Steps 2-6, one attempt. NULL when out of memory. */
static inline __attribute__((always_inline)) void *
heap_alloc_small(size_t size, const struct gc_type *type, bool noscan)
{
	arch_irqflags_t irq = arch_irq_save();
	mcache *c = mcache_current();
	void *p;

	if (noscan && size < HEAP_TINY_SIZE) {
		p = heap_alloc_tiny(c, size);
	} else {
		unsigned sizeclass = sizeclass_of(size);
		mspan *s;
		size_t i;
		p = heap_take_slot(c, spanclass_make(sizeclass, noscan), &s, &i);
		if (p) {
			if (!noscan)
				s->types[i] = type;
			c->stats.nmalloc[sizeclass]++;
			c->stats.bytes_requested += size;
		}
	}
	arch_irq_restore(irq);
	return p;
}

/* Step 8: the attempt ran out of memory. Reclaim (mm/reclaim.c) and try
 * again while that says it may help. Interrupts are back to the caller's
 * state: on, the reclaim hook may collect. */
static __attribute__((noinline)) void *
heap_alloc_small_retry(size_t size, const struct gc_type *type, bool noscan)
{
	unsigned sizeclass = noscan && size < HEAP_TINY_SIZE ? HEAP_TINY_SIZECLASS
							     : sizeclass_of(size);
	size_t arch_pages = sizeclass_npages[sizeclass] * MHEAP_ARCH_PAGES_PER_PAGE;
	heap_oom oom = { 0 };

	while (heap_oom_retry(&oom, arch_pages)) {
		void *p = heap_alloc_small(size, type, noscan);
		if (p)
			return p;
	}
	return NULL;
}

void *heap_alloc(size_t size, const struct gc_type *type, unsigned flags)
{
	bool noscan = flags & HEAP_NOSCAN;

	if (__builtin_expect(!noscan && type == NULL, 0)) {
		heap_set_error("scan allocation of %zu bytes without a type", size);
		return NULL;
	}
	/* size 0 wraps to the maximum and takes the large path, which
	 * rejects it. */
	if (__builtin_expect(size - 1 >= SIZECLASS_MAX_SIZE, 0))
		return heap_alloc_large(size, type, noscan);

	void *p = heap_alloc_small(size, type, noscan);
	if (__builtin_expect(p == NULL, 0))
		return heap_alloc_small_retry(size, type, noscan);
	return p;
}

/* ---- object queries ---------------------------------------------------- */

heap_where heap_lookup(const void *p, heap_object *out)
{
	if (!heap_in_arena(p))
		return HEAP_OUTSIDE;
	mspan *s = mspan_of(p);
	if (!s)
		return HEAP_UNUSED_PAGES;
	size_t i = mspan_slot_index(s, (uintptr_t)p);
	if (i >= s->nelems)
		return HEAP_UNUSED_PAGES; /* the span's tail, after the last slot */

	heap_object obj = {
		.span = s,
		.index = i,
		.base = s->base + i * s->elemsize,
		.size = s->elemsize,
		.type = s->types ? __atomic_load_n(&s->types[i], __ATOMIC_ACQUIRE)
				 : NULL,
	};
	heap_where where = mspan_slot_allocated(s, i) ? HEAP_OBJECT : HEAP_FREE_SLOT;
	if (where == HEAP_OBJECT && s->tiny_starts) {
		/* The sub-object is the last one starting at or before p. */
		unsigned off = (unsigned)((uintptr_t)p - obj.base);
		unsigned mask = s->tiny_starts[i];
		unsigned upto = mask & ((2U << off) - 1);
		if (upto == 0) {
			where = HEAP_FREE_SLOT;
		} else {
			unsigned start = 31 - (unsigned)__builtin_clz(upto);
			unsigned after = mask & ~((2U << off) - 1);
			unsigned end = after ? (unsigned)__builtin_ctz(after)
					     : HEAP_TINY_SIZE;
			obj.base += start;
			obj.size = end - start;
		}
	}
	if (out)
		*out = obj;
	return where;
}

/* ---- heap_free_for_test ------------------------------------------------ */

static bool heap_free_irqoff(void *p)
{
	heap_object obj;

	switch (heap_lookup(p, &obj)) {
	case HEAP_OUTSIDE:
		heap_set_error("%p is not a heap address", p);
		return false;
	case HEAP_UNUSED_PAGES:
		heap_set_error("%p is not in any object (free heap pages or a span's "
			       "tail): double free of a large object?", p);
		return false;
	case HEAP_FREE_SLOT:
		heap_set_error("double free: %p is in free slot %zu of span %p "
			       "(class %u)", p, obj.index, (void *)obj.span,
			       mspan_sizeclass(obj.span));
		return false;
	case HEAP_OBJECT:
		break;
	}
	if (obj.base != (uintptr_t)p) {
		heap_set_error("%p is inside object %p (+%lu), not its start%s", p,
			       (void *)obj.base, (unsigned long)((uintptr_t)p - obj.base),
			       obj.span->tiny_starts ? " (or a tiny object freed twice)"
						     : "");
		return false;
	}

	mspan *s = obj.span;
	if (mspan_sizeclass(s) == 0) {
		mheap_free_large(s);
		return true;
	}
	mcentral *c = &mheap_global.central[s->spanclass];
	if (s->spanclass == SPANCLASS_TINY) {
		uintptr_t block = s->base + obj.index * s->elemsize;
		bool emptied;
		if (!mcentral_free_tiny(c, s, obj.index,
					(unsigned)((uintptr_t)p - block), &emptied))
			return false;
		if (!emptied)
			return true;
		mcache_forget_tiny_block(block);
	}
	return mcentral_free_slot(c, s, obj.index);
}

bool heap_free_for_test(void *p)
{
	arch_irqflags_t irq = arch_irq_save();
	bool ok = heap_free_irqoff(p);
	arch_irq_restore(irq);

	if (!ok)
		kprintf("heap_free_for_test: %s\n", heap_last_error());
	return ok;
}
