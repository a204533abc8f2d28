/*
 * mm/mm_internal.h - declarations private to mm/: the heap, mcentral and
 * mcache structures and the functions the files of mm/ call in each
 * other. See mm/malloc.c for the overview.
 *
 * Locks: one per mcentral, the heap's, the persistent allocator's; their
 * order is the lock-rank table in arch/arch.h. The mcache needs no lock:
 * only its own CPU touches it, interrupts off.
 */
#pragma once

#include "lib/lib.h"
#include "mm/mm.h"

/* ---- per-CPU identity -------------------------------------------------- */

/* CPUs the per-CPU structures are sized for, and the current one (only
 * meaningful with interrupts off): the arch's. */
#define MM_MAX_CPUS ARCH_MAX_CPUS

static inline unsigned mm_cpu_id(void)
{
	return arch_cpu_id();
}

/* ---- locks ------------------------------------------------------------- */
/* Every lock in mm/ is a spinlock (arch/arch.h); their ranks, in the lock
 * order there: LOCK_RANK_MCENTRAL, LOCK_RANK_MHEAP, LOCK_RANK_PERSISTENT. */

/* Every mcentral lock in index order, then the heap lock: a consistent view
 * of the whole heap (validation, statistics). mm/validate.c. */
void mm_lock_all(void);
void mm_unlock_all(void);
#define MM_ASSERT_IRQ_OFF() ASSERT(!arch_irq_enabled())

/* Per-CPU data is aligned to this so two CPUs never share a line. */
#define MM_CACHE_LINE 64

/* ---- debug fill -------------------------------------------------------- */

/* TRICOLOR_DEBUG: free slots hold this byte; allocation checks it. */
#define MM_POISON_BYTE 0xa5
#define MM_POISON_WORD 0xa5a5a5a5a5a5a5a5ULL

#ifdef TRICOLOR_DEBUG
#define MM_DEBUG 1
#else
#define MM_DEBUG 0
#endif

/* Freed small slots are poisoned and checked when reused: always in debug
 * builds, and with clobberfree=1 (mm/sweep.c) in any build. */
extern bool heap_clobber_free;
#define MM_POISON_FREED (MM_DEBUG || heap_clobber_free)
void mm_poison(void *p, size_t n);
/* Offset of the first byte that is not poison, or n. */
size_t mm_poison_check(const void *p, size_t n);

/* Zeroes n bytes, n a multiple of 8: inline stores for small slots, memset
 * for the rest. */
static inline void mm_zero(void *p, size_t n)
{
	if (n <= 64) {
		uint64_t *w = p;
		switch (n >> 3) {
		case 8: w[7] = 0; /* fall through */
		case 7: w[6] = 0; /* fall through */
		case 6: w[5] = 0; /* fall through */
		case 5: w[4] = 0; /* fall through */
		case 4: w[3] = 0; /* fall through */
		case 3: w[2] = 0; /* fall through */
		case 2: w[1] = 0; /* fall through */
		case 1: w[0] = 0; /* fall through */
		default: break;
		}
		return;
	}
	memset(p, 0, n);
}

/* ---- span lists (mm/span.c) -------------------------------------------- */

void mspan_list_push(mspan_list *l, mspan *s);
void mspan_list_remove(mspan_list *l, mspan *s);
static inline bool mspan_list_empty(const mspan_list *l)
{
	return l->first == NULL;
}

/* ---- spans (mm/span.c) ------------------------------------------------- */

/* Bytes of side metadata (alloc bits, mark bits, types or tiny starts) a
 * span of this class needs; one block from the class's fixalloc. */
size_t mspan_meta_size(spanclass_t spc, size_t nelems);
/* Points s's bitmaps, types and tiny map into the zeroed block meta. */
void mspan_attach_meta(mspan *s, void *meta);
/* Turns a fresh IN_USE span (base, npages, spanclass, meta set) into an
 * empty span of its class; in debug builds fills its slots with poison. */
void mspan_init_small(mspan *s);

/* Hands out the lowest slot in alloc_cache; -1 if the cache is empty. The
 * owner has interrupts off. */
static inline long mspan_take_cached_slot(mspan *s)
{
	uint64_t cache = s->alloc_cache;
	if (__builtin_expect(cache == 0, 0))
		return -1;
	unsigned bit = (unsigned)__builtin_ctzll(cache);
	DASSERT(!(s->alloc_bits[s->cache_word] & (1ULL << bit)));
	s->alloc_cache = cache & (cache - 1);
	s->alloc_bits[s->cache_word] |= 1ULL << bit;
	s->alloc_count++;
	return (long)s->cache_word * 64 + bit;
}

/* Loads alloc_cache from the next bitmap word that has free slots,
 * searching from word `from`. False if none is left (the span is full as
 * far as this pass goes). */
bool mspan_load_cache(mspan *s, uint32_t from);
/* Marks slot i free; in debug builds poisons it. Caller holds the lock
 * guarding s (mcentral or heap). */
void mspan_free_slot(mspan *s, size_t i);

/* ---- mcentral (mm/mcentral.c) ----------------------------------------- */
/*
 * One per span class: the spans of that class no mcache holds. Indexed by
 * sweepgen parity as in Go so the collector can keep swept and unswept sets
 * apart: the swept set of cycle h is [(h / 2) % 2], the unswept set the
 * other one. Until the collector exists only the swept set is used.
 *
 * Invariants: span on partial[i]: IN_USE, spanclass == this class,
 *             alloc_count < nelems, sweepgen == h;
 *             span on full[i]: the same with alloc_count == nelems.
 */
typedef struct mcentral {
	spinlock lock; /* its span class is its index in mheap_global.central */
	/* guarded by lock */
	mspan_list partial[2];
	mspan_list full[2];
	uint64_t nfree;          /* objects freed in this class, cumulative */
	uint64_t tiny_frees;     /* SPANCLASS_TINY: sub-objects freed */
} __attribute__((aligned(64))) mcentral;

/* A span with at least one free slot for an mcache, cache loaded, state
 * cached (sweepgen h + 3). NULL when out of memory. */
mspan *mcentral_cache_span(mcentral *c);
/* Takes back a span an mcache stops using. */
void mcentral_uncache_span(mcentral *c, mspan *s);
/* Frees slot i of s, moving the span between lists or back to the heap.
 * Returns false (heap_last_error set) if the slot is not allocated. */
bool mcentral_free_slot(mcentral *c, mspan *s, size_t i);
/* Clears the tiny sub-object starting at `offset` of block i of tiny span
 * s; *block_emptied says whether it was the block's last one (the caller
 * then frees the block with mcentral_free_slot). False (heap_last_error
 * set) if no sub-object starts there. */
bool mcentral_free_tiny(mcentral *c, mspan *s, size_t i, unsigned offset,
			bool *block_emptied);
mspan_list *mcentral_partial_swept(mcentral *c);
mspan_list *mcentral_full_swept(mcentral *c);
mspan_list *mcentral_partial_unswept(mcentral *c);
/* Puts a swept span no mcache holds on the list its fill says, or back
 * to mheap if empty. c->lock held. */
void mcentral_place_locked(mcentral *c, mspan *s);
mspan_list *mcentral_full_unswept(mcentral *c);
/* mm/sweep.c: sweeps a small span no mcache holds (sweepgen h - 2) and
 * puts it where its new fill says. c->lock held. */
void mspan_sweep_small_locked(mcentral *c, mspan *s);

/* ---- mcache (mm/mcache.c) ---------------------------------------------- */

/* Counters only the owning CPU writes (no shared cache line on the fast
 * path); readers sum them over CPUs. */
typedef struct mcache_stats {
	uint64_t nmalloc[SIZECLASS_COUNT]; /* small objects handed out */
	uint64_t bytes_requested;          /* small and tiny requests */
	uint64_t tiny_allocs;              /* tiny sub-objects */
	uint64_t tiny_blocks;              /* 16-byte blocks taken for them */
} mcache_stats;

/*
 * mcache - one per CPU. alloc[spc] is the span the CPU allocates class spc
 * from; it points at mspan_empty (whose cache is always empty) when the CPU
 * holds none, so the fast path never tests for NULL.
 * Owner: the CPU, with interrupts off. Nothing else writes it except
 * heap_free_for_test (single CPU, test only) and mcache_release_all.
 */
typedef struct mcache {
	mspan *alloc[SPANCLASS_COUNT];
	/* tiny allocator: the current 16-byte block, the next free offset in it */
	uintptr_t tiny;
	size_t tiny_offset;
	mspan *tiny_span;
	size_t tiny_slot;
	mcache_stats stats;
	char error[256]; /* heap_last_error() of this CPU */
} __attribute__((aligned(64))) mcache;

extern mspan mspan_empty;
extern mcache mcache_percpu[MM_MAX_CPUS];

/* The current CPU's cache. Interrupts must be off while it is used. */
static inline mcache *mcache_current(void)
{
	return &mcache_percpu[mm_cpu_id()];
}

/* Replaces c->alloc[spc] with a span that has a free slot (cache loaded);
 * NULL when memory runs out. Interrupts off. */
mspan *mcache_refill(mcache *c, spanclass_t spc);
/* Makes every CPU's cache forget `block` as its current tiny block (its
 * last sub-object was freed). Single CPU / world stopped. */
void mcache_forget_tiny_block(uintptr_t block);

/* ---- mheap (mm/mheap.c, mm/arena.c) ------------------------------------ */

/* Free runs of 1 .. MHEAP_FREE_LISTS-1 pages sit on free[npages]; longer
 * runs on free[0], searched best-fit. */
#define MHEAP_FREE_LISTS 128

/* Pages by which the arena frontier advances at least; reserved address
 * space only, committed when a span is carved from it. */
#define MHEAP_GROW_PAGES 64

/* Per-page state, one byte per heap page below the frontier. */
enum mheap_page_state {
	MHEAP_PAGE_UNCOMMITTED = 0, /* free, not backed (never or scavenged) */
	MHEAP_PAGE_FREE_CLEAN = 1,  /* free, backed, known to be zero */
	MHEAP_PAGE_FREE_DIRTY = 2,  /* free, backed, may hold old data */
	MHEAP_PAGE_IN_USE = 3,      /* part of an IN_USE span (backed) */
};

/*
 * mheap - the page heap: the arena, the page->span table and the free runs.
 *
 * Invariants (mheap_validate() checks them):
 *   every page below arena_used belongs to exactly one FREE or IN_USE span;
 *   spans[first page] == s for every span, spans[p] == s for every page of
 *   an IN_USE span; for a FREE run spans[last page] == s and its interior
 *   pages map to NULL;
 *   no FREE run is adjacent to another FREE run (coalescing is complete);
 *   a FREE run of n pages is on free[n < MHEAP_FREE_LISTS ? n : 0];
 *   bit n of free_nonempty is set iff free[n] is non-empty (n >= 1);
 *   page_state[p] == IN_USE iff p is in an IN_USE span;
 *   the page counters equal the counts of the page states.
 */
typedef struct mheap {
	spinlock lock;

	/* Set once by heap_init, read-only after. */
	bool initialized;
	uintptr_t arena_start, arena_end; /* reserved [start, end) */
	mspan **spans;        /* page -> span table, reserved for the arena */
	uint8_t *page_state;  /* enum mheap_page_state per page */

	/* guarded by lock */
	uintptr_t arena_used;          /* frontier: pages below are the heap's */
	size_t spans_committed;        /* bytes of spans[] backed so far */
	size_t state_committed;        /* bytes of page_state backed so far */
	mspan_list free[MHEAP_FREE_LISTS];
	uint64_t free_nonempty[MHEAP_FREE_LISTS / 64];
	uint32_t sweepgen;             /* h; advanced by the collector */
	fixalloc span_alloc;           /* mspan structs */
	fixalloc meta_alloc[SPANCLASS_COUNT]; /* per-class side metadata */
	size_t spans_in_use, free_runs;
	size_t pages_in_use, pages_free_committed, pages_free_uncommitted;
	uint64_t pages_committed_total, pages_decommitted_total;
	uint64_t last_scavenge_ns;
	uint64_t oom_scavenges;        /* mheap_release_free_pages passes that ran */
	uint64_t oom_scavenged_pages;  /* heap pages they returned */
	/* large objects */
	uint64_t large_nmalloc, large_nfree;
	uint64_t large_bytes_alloc, large_bytes_freed, large_bytes_requested;

	/* one per span class, each with its own lock (LOCK_RANK_MCENTRAL) */
	mcentral central[SPANCLASS_COUNT];
} mheap;

extern mheap mheap_global;

static inline size_t mheap_page_index(uintptr_t addr)
{
	return (addr - mheap_global.arena_start) >> MHEAP_PAGE_SHIFT;
}
static inline uintptr_t mheap_page_addr(size_t page)
{
	return mheap_global.arena_start + (page << MHEAP_PAGE_SHIFT);
}
static inline size_t mheap_pages_used(void)
{
	return (mheap_global.arena_used - mheap_global.arena_start) >>
	       MHEAP_PAGE_SHIFT;
}

/* Reserves the arena and its tables; heap lock held. */
bool mheap_arena_init_locked(void);
/* Extends the frontier by at least npages as one uncommitted free run
 * (coalesced with a free run ending at the frontier). False when the arena
 * or the table memory is exhausted. Heap lock held. */
bool mheap_arena_grow_locked(size_t npages);
/* Backs the UNCOMMITTED pages of [page, page + n) (they are free); false
 * with nothing changed if the page source is out of memory. */
bool mheap_commit_pages_locked(size_t page, size_t n);
/* Returns the backed free pages of [page, page + n) to the page source;
 * returns how many heap pages that was. Stops after `limit` pages. */
size_t mheap_decommit_pages_locked(size_t page, size_t n, size_t limit);

/* Makes `run` (state FREE, base and npages set, spans[] not yet pointing
 * at it) a free run: coalesces it with free neighbours and puts the result
 * on its free list. Page states and counters are the caller's. */
void mheap_insert_free_run_locked(mspan *run);

/* Allocates a span of npages pages for span class spc (class 0 = large),
 * IN_USE with its metadata attached; sets *needzero if its pages may hold
 * old data. NULL when out of memory (heap_last_error set). Takes the heap
 * lock. */
mspan *mheap_alloc_span(size_t npages, spanclass_t spc, bool *needzero);
/* Returns an IN_USE span's pages to the heap, coalescing. */
void mheap_free_span(mspan *s);
void mheap_free_span_locked(mspan *s);
/* A large object: a span of npages with its one slot allocated and counted
 * (requested bytes asked for). NULL when out of memory. */
mspan *mheap_alloc_large(size_t npages, size_t requested, bool noscan,
			 bool *needzero);
/* Frees a large object's span (its slot must be allocated). */
void mheap_free_large(mspan *s);
/* Takes the heap lock and initialises the heap if needed. */
bool mheap_ensure_init(void);
/* Step 1 of mm/reclaim.c: returns every free backed heap page to the page
 * source, whatever the reserve and however recently freed; returns how
 * many heap pages that was. Takes the heap lock unless this CPU holds it
 * (a commit inside the heap failed); the persistent lock must not be held
 * (it comes after the heap lock). */
size_t mheap_release_free_pages(void);

/* mm/stack.c: the stack allocator's globals (for heap_metadata_globals). */
arch_range stack_metadata_range(void);

/* ---- out of memory (mm/reclaim.c; the steps are described there) -------- */

/* One allocation's way through out-of-memory. Zero it before the first
 * attempt. */
typedef struct heap_oom {
	bool scavenged;     /* step 1 ran */
	bool collect_tried; /* step 2 was considered */
	bool collected;     /* ... and the hook collected */
} heap_oom;

/* After an attempt that failed because a commit of about arch_pages pages
 * failed (heap_last_error() set): runs the next step and returns true if
 * the caller should try again, or appends what was tried to the error and
 * returns false. May block in the reclaim hook if interrupts are on; the
 * caller holds no mm lock. */
bool heap_oom_retry(heap_oom *o, size_t arch_pages);
/* Cumulative: collections the hook ran, allocations that failed anyway. */
void heap_oom_stats(uint64_t *collections, uint64_t *failures);
