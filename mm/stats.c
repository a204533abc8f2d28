/*
 * mm/stats.c - heap statistics: a snapshot gathered from the per-CPU
 * counters, the mcentrals, the heap and one walk over the spans, and
 * heap_stats(), which prints it as a table. Integer arithmetic only
 * (percentages in tenths). See mm/malloc.c for the overview.
 */
#include "mm/mm_internal.h"

/* Walks the in-use spans; every lock held. */
static void heap_stats_walk_locked(heap_stats_info *st)
{
	mheap *h = &mheap_global;
	ASSERT_HELD(&h->lock);
	size_t used = mheap_pages_used();

	for (size_t p = 0; p < used;) {
		mspan *s = h->spans[p];
		ASSERT(s && s->npages > 0);
		p += s->npages;
		if (s->state != MSPAN_IN_USE)
			continue;
		size_t span_bytes = s->npages * MHEAP_PAGE_SIZE;
		st->spans_in_use++;
		st->span_bytes_in_use += span_bytes;
		st->bytes_in_use += (size_t)s->alloc_count * s->elemsize;
		st->tail_waste += span_bytes - (size_t)s->nelems * s->elemsize;
		if (s->spanclass == SPANCLASS_TINY) {
			st->tiny_spans++;
			st->tiny_slots_free += s->nelems - s->alloc_count;
		} else {
			heap_class_stats *cs = &st->cls[mspan_sizeclass(s)];
			cs->spans++;
			cs->slots_free += s->nelems - s->alloc_count;
		}
	}
}

void heap_stats_read(heap_stats_info *st)
{
	mheap *h = &mheap_global;

	memset(st, 0, sizeof *st);
	if (!mheap_ensure_init())
		return;
	mm_lock_all();
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) {
		const mcache_stats *ms = &mcache_percpu[cpu].stats;
		for (unsigned c = 1; c < SIZECLASS_COUNT; c++)
			st->cls[c].nmalloc += ms->nmalloc[c];
		st->bytes_requested += ms->bytes_requested;
		st->tiny_allocs += ms->tiny_allocs;
		st->tiny_blocks += ms->tiny_blocks;
	}
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		st->cls[c].nfree = h->central[spanclass_make(c, false)].nfree +
				   h->central[spanclass_make(c, true)].nfree;
		st->bytes_allocated += st->cls[c].nmalloc * sizeclass_size[c];
		st->bytes_freed += st->cls[c].nfree * sizeclass_size[c];
	}
	st->tiny_frees = h->central[SPANCLASS_TINY].tiny_frees;
	st->tiny_block_frees = h->central[SPANCLASS_TINY].nfree;
	st->bytes_allocated += st->tiny_blocks * HEAP_TINY_SIZE;
	st->bytes_freed += st->tiny_block_frees * HEAP_TINY_SIZE;

	st->cls[0].nmalloc = h->large_nmalloc;
	st->cls[0].nfree = h->large_nfree;
	st->large_bytes_alloc = h->large_bytes_alloc;
	st->large_bytes_freed = h->large_bytes_freed;
	st->bytes_allocated += h->large_bytes_alloc;
	st->bytes_freed += h->large_bytes_freed;
	st->bytes_requested += h->large_bytes_requested;

	heap_stats_walk_locked(st);
	st->free_runs = h->free_runs;
	st->arena_pages = mheap_pages_used();
	st->pages_in_use = h->pages_in_use;
	st->pages_free_committed = h->pages_free_committed;
	st->pages_free_uncommitted = h->pages_free_uncommitted;
	st->pages_committed_total = h->pages_committed_total;
	st->pages_decommitted_total = h->pages_decommitted_total;
	st->meta_bytes = h->spans_committed + h->state_committed;
	st->oom_scavenges = h->oom_scavenges;
	st->oom_scavenged_pages = h->oom_scavenged_pages;
	mm_unlock_all();
	heap_oom_stats(&st->oom_collections, &st->oom_failures);
	/* After the heap locks: the persistent lock comes last in the order,
	 * and taking it alone is simpler than nesting it. */
	st->meta_bytes += fixalloc_persistent_committed();
}

/* part / whole in tenths of a percent, for "%llu.%llu%%". */
static uint64_t per_mille(uint64_t part, uint64_t whole)
{
	return whole ? part * 1000 / whole : 0;
}

#define KIB(x) ((unsigned long long)((x) >> 10))

void heap_stats(void)
{
	static heap_stats_info st; /* too big for a kernel stack frame */
	heap_stats_read(&st);

	uint64_t objects_alloc = st.tiny_allocs, objects_freed = st.tiny_frees;
	for (unsigned c = 0; c < SIZECLASS_COUNT; c++) {
		objects_alloc += st.cls[c].nmalloc;
		objects_freed += st.cls[c].nfree;
	}
	kprintf("heap: %llu objects allocated, %llu freed, %llu live; "
		"%llu KiB allocated, %llu KiB freed, %llu KiB in use\n",
		(unsigned long long)objects_alloc, (unsigned long long)objects_freed,
		(unsigned long long)(objects_alloc - objects_freed),
		KIB(st.bytes_allocated), KIB(st.bytes_freed), KIB(st.bytes_in_use));
	kprintf("%5s %6s %6s %10s %10s %10s %10s %10s\n", "class", "size", "spans",
		"objects", "in use KiB", "free slots", "allocated", "freed");
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		const heap_class_stats *cs = &st.cls[c];
		if (cs->nmalloc == 0 && cs->spans == 0)
			continue;
		uint64_t live = cs->nmalloc - cs->nfree;
		kprintf("%5u %6u %6zu %10llu %10llu %10zu %10llu %10llu\n", c,
			sizeclass_size[c], cs->spans, (unsigned long long)live,
			KIB(live * sizeclass_size[c]), cs->slots_free,
			(unsigned long long)cs->nmalloc, (unsigned long long)cs->nfree);
	}
	if (st.tiny_allocs)
		kprintf("%5s %6u %6zu %10llu %10llu %10zu %10llu %10llu  (blocks: %llu live)\n",
			"tiny", HEAP_TINY_SIZE, st.tiny_spans,
			(unsigned long long)(st.tiny_allocs - st.tiny_frees),
			KIB((st.tiny_blocks - st.tiny_block_frees) * HEAP_TINY_SIZE),
			st.tiny_slots_free, (unsigned long long)st.tiny_allocs,
			(unsigned long long)st.tiny_frees,
			(unsigned long long)(st.tiny_blocks - st.tiny_block_frees));
	if (st.cls[0].nmalloc)
		kprintf("%5s %6s %6zu %10llu %10llu %10s %10llu %10llu\n", "large", "-",
			st.cls[0].spans,
			(unsigned long long)(st.cls[0].nmalloc - st.cls[0].nfree),
			KIB(st.large_bytes_alloc - st.large_bytes_freed), "-",
			(unsigned long long)st.cls[0].nmalloc,
			(unsigned long long)st.cls[0].nfree);

	kprintf("spans: %zu in use, %zu free runs\n", st.spans_in_use, st.free_runs);
	kprintf("pages (8 KiB): arena %zu, in use %zu, free backed %zu, free "
		"unbacked %zu; backed %llu and returned %llu so far; metadata %llu KiB\n",
		st.arena_pages, st.pages_in_use, st.pages_free_committed,
		st.pages_free_uncommitted, (unsigned long long)st.pages_committed_total,
		(unsigned long long)st.pages_decommitted_total, KIB(st.meta_bytes));

	if (st.oom_scavenges || st.oom_collections || st.oom_failures)
		kprintf("page source ran dry: free pages returned %llu times (%llu "
			"pages), collections run %llu, allocations failed %llu\n",
			(unsigned long long)st.oom_scavenges,
			(unsigned long long)st.oom_scavenged_pages,
			(unsigned long long)st.oom_collections,
			(unsigned long long)st.oom_failures);

	/* Rounding: slot bytes handed out beyond what was asked for. Spans:
	 * bytes of in-use spans not in a live object (free slots + tails). */
	uint64_t rounding = per_mille(st.bytes_allocated - st.bytes_requested,
				      st.bytes_allocated);
	uint64_t unused = per_mille(st.span_bytes_in_use - st.bytes_in_use,
				    st.span_bytes_in_use);
	kprintf("fragmentation: rounding %llu.%llu%% of allocated bytes; in-use "
		"spans %llu.%llu%% unused (%llu KiB free slots, %llu KiB tails)\n",
		(unsigned long long)(rounding / 10), (unsigned long long)(rounding % 10),
		(unsigned long long)(unused / 10), (unsigned long long)(unused % 10),
		KIB(st.span_bytes_in_use - st.bytes_in_use - st.tail_waste),
		KIB(st.tail_waste));
}
