/*
 * mm/mcache.c - the per-CPU caches: one current span per span class, the
 * tiny block, and counters only their CPU writes. The allocation fast path
 * (mm/malloc.c) reads and writes them with interrupts off and no lock; this
 * file is the slow path that swaps spans with the mcentrals. See mm/malloc.c
 * for the overview.
 */
#include "mm/mm_internal.h"

/* The span every empty cache entry points at: its alloc_cache is always 0,
 * so the fast path falls through to mcache_refill() without a NULL test. */
mspan mspan_empty = { .state = MSPAN_DEAD };

mcache mcache_percpu[MM_MAX_CPUS] = {
	[0 ... MM_MAX_CPUS - 1] = {
		.alloc = { [0 ... SPANCLASS_COUNT - 1] = &mspan_empty },
	},
};

mspan *mcache_refill(mcache *c, spanclass_t spc)
{
	MM_ASSERT_IRQ_OFF();
	mspan *old = c->alloc[spc];

	if (old != &mspan_empty) {
		/* The cache word ran dry; later words may still have room. */
		if (mspan_load_cache(old, old->cache_word + 1))
			return old;
		c->alloc[spc] = &mspan_empty;
		mcentral_uncache_span(&mheap_global.central[spc], old);
	}
	mspan *s = mcentral_cache_span(&mheap_global.central[spc]);
	if (!s)
		return NULL;
	c->alloc[spc] = s;
	return s;
}

static void mcache_drop_tiny(mcache *c)
{
	c->tiny = 0;
	c->tiny_offset = 0;
	c->tiny_span = NULL;
	c->tiny_slot = 0;
}

void mcache_forget_tiny_block(uintptr_t block)
{
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		if (mcache_percpu[cpu].tiny == block)
			mcache_drop_tiny(&mcache_percpu[cpu]);
}

void mcache_release_all(void)
{
	arch_irqflags_t irq = arch_irq_save();
	mcache *c = mcache_current();

	/* The tiny block stays allocated while it has sub-objects; only this
	 * cache's claim on its free bytes goes. */
	mcache_drop_tiny(c);
	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++) {
		mspan *s = c->alloc[spc];
		if (s == &mspan_empty)
			continue;
		c->alloc[spc] = &mspan_empty;
		mcentral_uncache_span(&mheap_global.central[spc], s);
	}
	arch_irq_restore(irq);
}
