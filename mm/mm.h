/*
 * mm/mm.h - the memory manager's public interface: the span heap (mheap),
 * size classes, spans, per-CPU caches (mcache), the fixed-size metadata
 * allocator (fixalloc), what happens when memory runs out (the reclaim
 * hook), task stacks, heap statistics and the validator. The overview of
 * how these fit together, and the allocation path step by step, is at the
 * top of mm/malloc.c. gc/ builds the typed allocation API (gc_alloc ...) on
 * top of heap_alloc(); mm/ knows gc_type only as an opaque pointer it keeps
 * per slot for the collector.
 */
#pragma once

#include "arch/arch.h"

struct gc_type; /* gc/gc.h; mm/ stores the pointer, never looks inside */

/* ---- geometry ---------------------------------------------------------- */

/* Heap pages are 8 KiB (two arch pages), as in Go: spans, the page->span
 * table and the size-class table are all counted in heap pages. */
#define MHEAP_PAGE_SHIFT 13
#define MHEAP_PAGE_SIZE (1UL << MHEAP_PAGE_SHIFT)
#define MHEAP_ARCH_PAGES_PER_PAGE (MHEAP_PAGE_SIZE / ARCH_PAGE_SIZE)

/* Address space reserved for the heap arena at init; backed page by page on
 * demand. Heap objects live here and nowhere else. */
#define MHEAP_ARENA_BYTES (64UL << 30)

/* ---- size classes (mm/sizeclass.c, table from tools/mksizeclasses.py) -- */

#define SIZECLASS_COUNT 67          /* class 0 = large objects */
#define SIZECLASS_MAX_SIZE 32768    /* largest small object */
#define SIZECLASS_SMALL_MAX 1024    /* below: 8-byte lookup granularity */
#define SIZECLASS_SMALL8_ENTRIES (SIZECLASS_SMALL_MAX / 8 + 1)
#define SIZECLASS_LARGE128_ENTRIES \
	((SIZECLASS_MAX_SIZE - SIZECLASS_SMALL_MAX) / 128 + 1)

extern const uint16_t sizeclass_size[SIZECLASS_COUNT];
extern const uint8_t sizeclass_npages[SIZECLASS_COUNT];
extern const uint16_t sizeclass_nelems[SIZECLASS_COUNT];
extern const uint32_t sizeclass_divmagic[SIZECLASS_COUNT];
extern const uint8_t sizeclass_small8[SIZECLASS_SMALL8_ENTRIES];
extern const uint8_t sizeclass_large128[SIZECLASS_LARGE128_ENTRIES];

/* The class of a small request, 1 <= size <= SIZECLASS_MAX_SIZE: two table
 * loads, no search (Go: size_to_class8 / size_to_class128). */
static inline unsigned sizeclass_of(size_t size)
{
	if (__builtin_expect(size <= SIZECLASS_SMALL_MAX, 1))
		return sizeclass_small8[(size + 7) >> 3];
	return sizeclass_large128[(size - SIZECLASS_SMALL_MAX + 127) >> 7];
}

/* Checks the table (order, alignment, tail-waste bound, lookup tables,
 * division magic) once at init; panics on a broken table. */
void sizeclass_check_table(void);

/* ---- the tiny allocator ------------------------------------------------ */

/* Pointer-free requests smaller than this share 16-byte blocks. */
#define HEAP_TINY_SIZE 16
#define HEAP_TINY_SIZECLASS 2 /* the class of a 16-byte block */

/* ---- span classes ------------------------------------------------------ */
/*
 * A span class is a size class plus "does the span hold pointers": Go's
 * spanClass, sizeclass << 1 | noscan. Objects without pointers live in
 * noscan spans the collector never looks into. Tiny blocks have a class of
 * their own (last index) so their spans can carry the sub-object map.
 */
typedef uint8_t spanclass_t;
#define SPANCLASS_TINY (2 * SIZECLASS_COUNT)
#define SPANCLASS_COUNT (2 * SIZECLASS_COUNT + 1)

static inline spanclass_t spanclass_make(unsigned sizeclass, bool noscan)
{
	return (spanclass_t)(sizeclass << 1 | (noscan ? 1 : 0));
}
static inline unsigned spanclass_sizeclass(spanclass_t spc)
{
	return spc == SPANCLASS_TINY ? HEAP_TINY_SIZECLASS : spc >> 1;
}
static inline bool spanclass_noscan(spanclass_t spc)
{
	return spc == SPANCLASS_TINY || (spc & 1);
}

/* ---- spans (mm/span.c) ------------------------------------------------- */

/* Largest slot count of a span (8-byte class, one page); bitmaps are sized
 * from the class's own count, this bounds them. */
#define MSPAN_MAX_SLOTS 1024
#define MSPAN_BITMAP_WORDS(nelems) (((nelems) + 63) / 64)

/*
 * Span states. The state says which structure owns the span; sweepgen (below)
 * refines IN_USE small spans into cached / in an mcentral list.
 *
 *  state    owner / list                 page->span table      bits, types
 *  -------  ---------------------------  --------------------  -------------
 *  DEAD     fixalloc free list           no entry              none
 *  FREE     mheap free[npages] list      first and last page   none
 *  IN_USE   mcentral partial/full list,  every page            alloc, mark,
 *           an mcache, or (large) the                          types (scan)
 *           caller that holds the object
 *
 * Transitions: DEAD -> FREE (arena growth, split), FREE -> IN_USE
 * (mheap_alloc_span), IN_USE -> FREE (mheap_free_span, then coalesced),
 * FREE -> DEAD (absorbed by a neighbour when coalescing).
 */
enum mspan_state {
	MSPAN_DEAD = 0,
	MSPAN_FREE = 1,
	MSPAN_IN_USE = 2,
};

/*
 * sweepgen of an IN_USE small span relative to the heap's sweepgen h (Go's
 * table; the flip at mark termination, mm/sweep.c, advances h by 2 each
 * cycle):
 *   h - 2  needs sweeping
 *   h - 1  being swept
 *   h      swept, in an mcentral list, ready to use
 *   h + 1  cached before sweep began, still cached
 *   h + 3  swept and then cached by an mcache, still cached
 */
#define MSPAN_SWEEPGEN_CACHED 3

struct mspan_list;

/*
 * mspan - a run of heap pages: either free pages (FREE) or a span cut into
 * nelems equal slots of elemsize bytes (IN_USE). 128 bytes, cache-line
 * aligned: the first line is what the allocation fast path touches, and no
 * two CPUs' cached spans share a line.
 *
 * Slot i is allocated iff bit i of alloc_bits is set. The allocator hands
 * out slots of one bitmap word at a time: alloc_cache holds the free slots of
 * word cache_word that are not yet handed out (bit j = slot 64*cache_word +
 * j), so the next free slot is one count-trailing-zeros away. Slots freed
 * behind the cache are found again when the span is next cached.
 *
 * Invariants (mspan_check() checks every one):
 *   IN_USE:  base % MHEAP_PAGE_SIZE == 0
 *            sizeclass > 0: elemsize == sizeclass_size[c],
 *                           nelems == sizeclass_nelems[c],
 *                           npages == sizeclass_npages[c]
 *            sizeclass == 0 (large): nelems == 1, elemsize == npages * page
 *            alloc_count == popcount(alloc_bits[0 .. nelems))
 *            alloc_bits and mark_bits have no bit at or above nelems
 *            alloc_cache & alloc_bits[cache_word] == 0
 *            alloc_cache != 0  =>  sweepgen == h + 3 (cached)
 *            mark_bits all clear, except while the collector marks
 *            and on spans waiting to be swept (sweepgen == h - 2)
 *            scan span: types != NULL; small span: allocated slot i has
 *            types[i] != NULL
 *            tiny span: tiny_starts[i] == 0 for every free slot i
 *            TRICOLOR_DEBUG: every free slot holds the poison pattern
 *   FREE:    alloc_count == 0, no bitmaps, npages >= 1
 */
typedef struct mspan {
	/* ---- line 1: the allocation fast path ------------------------------
	 * Written by the mcache that caches the span (interrupts off), else
	 * under the span's mcentral lock (small) or the heap lock (large). */
	uint64_t alloc_cache;  /* free slots of word cache_word, not handed out */
	uint64_t *alloc_bits;  /* bit i: slot i allocated */
	uintptr_t base;        /* address of slot 0 */
	size_t elemsize;       /* slot size in bytes */
	uint32_t cache_word;   /* bitmap word alloc_cache was loaded from */
	uint32_t nelems;       /* slots in the span */
	uint32_t alloc_count;  /* allocated slots */
	uint32_t divmagic;     /* (offset * divmagic) >> 32 == offset / elemsize */
	const struct gc_type **types; /* per-slot type; NULL in noscan spans */
	spanclass_t spanclass;
	uint8_t state;         /* enum mspan_state */
	bool needzero;         /* slots may hold old data: zero on allocation */
	uint8_t pad_[5];

	/* ---- line 2: lists, collector state, metadata ------------------------
	 * Guarded by the lock of the list the span is on (mcentral or heap). */
	struct mspan *next, *prev;
	struct mspan_list *list; /* list the span is on, NULL if none */
	size_t npages;
	uint64_t *mark_bits;   /* the collector's mark bitmap, swapped in at sweep */
	uint16_t *tiny_starts; /* tiny spans: bit k = a sub-object starts at k */
	uint64_t free_since;   /* FREE: arch_nanotime() when the run became free */
	uint32_t sweepgen;     /* see MSPAN_SWEEPGEN_CACHED */
	uint32_t pad2_;
} __attribute__((aligned(64))) mspan;

_Static_assert(sizeof(mspan) == 128, "mspan is two cache lines");

/* A doubly linked list of spans; each span knows its list. */
typedef struct mspan_list {
	mspan *first, *last;
	size_t count;
} mspan_list;

static inline unsigned mspan_sizeclass(const mspan *s)
{
	return spanclass_sizeclass(s->spanclass);
}

/* Slot index of an address inside the span (interior pointers allowed):
 * a multiply and a shift. Large spans have one slot and divmagic 0. */
static inline size_t mspan_slot_index(const mspan *s, uintptr_t p)
{
	return (size_t)(((uint64_t)(p - s->base) * s->divmagic) >> 32);
}
static inline bool mspan_slot_allocated(const mspan *s, size_t i)
{
	return (s->alloc_bits[i >> 6] >> (i & 63)) & 1;
}

/* Checks the span's invariants (the list above). Returns false and writes
 * the first violation to why. The caller holds the lock that guards s. */
bool mspan_check(const mspan *s, char *why, size_t n);

/* ---- allocation (mm/malloc.c) ----------------------------------------- */

enum {
	HEAP_NOSCAN = 1 << 0, /* the object holds no pointers */
};

/*
 * Allocates size bytes of zeroed memory. Without HEAP_NOSCAN, type must be
 * non-NULL and is recorded for the slot (the collector scans the object by
 * it). Objects of 16 bytes or more are 16-aligned. Returns NULL on size 0,
 * sizes the arena cannot hold, or when memory runs out; heap_last_error()
 * then says why. Callable with interrupts on or off.
 */
void *heap_alloc(size_t size, const struct gc_type *type, unsigned flags);

/*
 * Frees one object at once, for tests and benchmarks that need a slot back
 * without a collection (the collector's sweep frees everything else). p must be an object's base address as returned by heap_alloc.
 * Returns false, prints a report and sets heap_last_error() when p is not
 * an allocated object (double free, interior pointer, outside the heap).
 * Single CPU (or world stopped) only: it may touch another CPU's cache.
 * Safe while the collector marks: the object may sit in the mark queue, and
 * the collector skips a queued address that is no longer an object's base
 * (see "Stale entries" in gc/mark.c). The object's own pointers are not
 * shaded: whatever the test still uses must be reachable otherwise.
 */
bool heap_free_for_test(void *p);

/* Why the last failing call on this CPU failed ("" if none did). */
const char *heap_last_error(void);
/* Sets this CPU's error (for gc/'s own argument checks). */
void heap_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- object queries (mm/malloc.c), O(1), any address ------------------ */

typedef enum heap_where {
	HEAP_OUTSIDE,      /* not in the heap arena: never a heap object */
	HEAP_UNUSED_PAGES, /* in the arena, but no span holds objects there */
	HEAP_FREE_SLOT,    /* inside a span, in a slot that is free */
	HEAP_OBJECT,       /* inside an allocated object */
} heap_where;

typedef struct heap_object {
	mspan *span;       /* HEAP_FREE_SLOT, HEAP_OBJECT */
	size_t index;      /* slot index in the span */
	uintptr_t base;    /* object start (tiny: the sub-object's start) */
	size_t size;       /* slot size (tiny: up to the next sub-object) */
	const struct gc_type *type; /* NULL for noscan objects */
} heap_object;

/* Where p points; fills *out (may be NULL) for FREE_SLOT and OBJECT. */
heap_where heap_lookup(const void *p, heap_object *out);
/* The in-use span containing p, or NULL (O(1) page-table lookup). */
mspan *mspan_of(const void *p);
/* True if p lies in the arena's reserved range. */
bool heap_in_arena(const void *p);

/* ---- heap control ------------------------------------------------------ */

/* Reserves the arena and checks the size-class table. Called at boot after
 * the command line is parsed; the first allocation calls it otherwise.
 * Returns false (with heap_last_error()) if the reservation fails. */
bool heap_init(void);

/* Returns the current CPU's cached spans to their mcentrals and drops its
 * tiny block, so spans emptied by frees can go back to the heap. */
void mcache_release_all(void);

/* ---- running out of memory (mm/reclaim.c) ------------------------------ */
/*
 * When a commit fails anywhere in mm (heap pages, the arena's tables,
 * metadata, task stacks), mm first returns every free backed heap page to
 * the page source and tries again; if that is not enough and the caller may
 * block, it calls the reclaim hook, returns what that freed and tries once
 * more; only then does the allocation fail (NULL / false, heap_last_error()
 * says so). Details and the blocking rule: mm/reclaim.c.
 *
 * The hook is registered by the collector (mm/ cannot call up by name). It
 * is called with interrupts on and no mm lock held, runs a full collection
 * with its sweep finished and returns true, or returns false without doing
 * anything where collecting is not safe for the calling task.
 */
typedef bool (*heap_reclaim_fn)(void);
void heap_set_reclaim_hook(heap_reclaim_fn hook);

/* arch_commit for the runtime's own memory outside the heap (scratch
 * tables and the like): if the page source is dry, the heap's free backed
 * pages go back to it and the commit is tried once more. Never collects or
 * blocks; any context but one holding the persistent lock (mm/fixalloc.c,
 * which comes after the heap lock). */
bool heap_commit(void *addr, size_t bytes);

/*
 * The scavenger: decommits (arch_decommit) the pages of free runs that have
 * been free for at least min_idle_ns, until at most keep_pages free pages
 * stay committed. Returns the heap pages released. The heap also calls it
 * by itself on frees, at most once per heap_scavenge_ms, with
 * heap_reserve_pages and heap_scavenge_ms (command-line options).
 */
size_t mheap_scavenge(size_t keep_pages, uint64_t min_idle_ns);

/*
 * Walks every span of the arena, every free list, mcentral list and mcache
 * and checks every invariant written next to the structures, plus the
 * statistics against the spans. Returns false with the first violation in
 * why (never panics), true if the heap is consistent. Takes every heap lock
 * with interrupts off: on SMP the world must be stopped.
 */
bool mheap_validate(char *why, size_t n);

/* ---- statistics (mm/stats.c) ------------------------------------------ */

typedef struct heap_class_stats {
	uint64_t nmalloc, nfree; /* objects allocated / freed, cumulative */
	size_t spans;            /* spans in use */
	size_t slots_free;       /* free slots in those spans */
} heap_class_stats;

typedef struct heap_stats_info {
	/* [0] is large objects (their own span); [c] small class c. Tiny
	 * blocks are counted under tiny_*, not under class 2. */
	heap_class_stats cls[SIZECLASS_COUNT];
	uint64_t large_bytes_alloc, large_bytes_freed; /* span bytes */
	uint64_t tiny_allocs, tiny_frees;   /* sub-objects */
	uint64_t tiny_blocks, tiny_block_frees;
	size_t tiny_spans, tiny_slots_free;
	uint64_t bytes_requested; /* sum of requested sizes, cumulative */
	uint64_t bytes_allocated; /* sum of slot sizes handed out, cumulative */
	uint64_t bytes_freed;
	size_t bytes_in_use;     /* slot bytes of live objects */
	size_t span_bytes_in_use;/* bytes of in-use spans */
	size_t tail_waste;       /* bytes after the last slot of in-use spans */
	size_t spans_in_use, free_runs;
	size_t arena_pages;      /* heap pages below the arena frontier */
	size_t pages_in_use, pages_free_committed, pages_free_uncommitted;
	uint64_t pages_committed_total, pages_decommitted_total;
	size_t meta_bytes;       /* committed metadata: tables, spans, bitmaps */
	/* out of memory (mm/reclaim.c), cumulative */
	uint64_t oom_scavenges;       /* the page source ran dry: free pages returned */
	uint64_t oom_scavenged_pages; /* heap pages those passes returned */
	uint64_t oom_collections;     /* collections the reclaim hook ran */
	uint64_t oom_failures;        /* allocations that failed even so */
} heap_stats_info;

/* A snapshot of the counters (consistent on one CPU). */
void heap_stats_read(heap_stats_info *out);
/* Prints the counters as a table (classes in use, spans, pages,
 * fragmentation). */
void heap_stats(void);

/* ---- fixalloc (mm/fixalloc.c) ----------------------------------------- */
/*
 * Fixed-size objects for the runtime's own metadata (span structs, bitmaps,
 * per-task records): never scanned, never collected, memory never returned
 * to the page source, only recycled through a free list. Objects come back
 * zeroed. Not locked: the owner's lock guards a fixalloc.
 */
typedef struct fixalloc {
	const char *name;
	size_t size;      /* object size, rounded up to align */
	size_t align;
	void *free_list;  /* freed objects, linked through their first word */
	size_t in_use;    /* objects handed out and not freed */
	size_t total;     /* objects ever carved from persistent memory */
} fixalloc;

void fixalloc_init(fixalloc *f, const char *name, size_t size, size_t align);
/* NULL when persistent memory runs out (heap_last_error() says so). */
void *fixalloc_alloc(fixalloc *f);
void fixalloc_free(fixalloc *f, void *p);

/* Persistent memory: bump-allocated from a reserved range, committed on
 * demand, never freed. Zeroed. NULL when out of memory. Own lock. */
void *fixalloc_persistent(size_t size, size_t align);
/* Bytes committed for persistent memory so far. */
size_t fixalloc_persistent_committed(void);

/* ---- task stacks (mm/stack.c) ----------------------------------------- */

#define MSTACK_DEFAULT_SIZE (16 * 1024)
#define MSTACK_MIN_SIZE (8 * 1024)
#define MSTACK_MAX_SIZE (8 * 1024 * 1024)
#define MSTACK_PAINT 0x57ac57ac57ac57acULL /* unused stack words */
/* Unmapped address space below every stack (why this size: mm/stack.c).
 * Frames are built with stack-clash probes, and none is larger than half
 * of it (-Wframe-larger-than=, Makefile and arch/hosted/hosted.mk). */
#define MSTACK_GAP_BYTES (64 * 1024)

/* A task stack: [base, base + size) committed, [guard, base) its gap,
 * MSTACK_GAP_BYTES reserved and never mapped. */
typedef struct mstack {
	void *base;
	size_t size;  /* committed: asked + the arch's interrupt reserve */
	size_t asked; /* what the task asked for */
	uintptr_t guard; /* start of the gap: base - MSTACK_GAP_BYTES */
} mstack;

/* size 0 = MSTACK_DEFAULT_SIZE; rounded up to pages. False (with
 * heap_last_error()) on a bad size or when memory runs out even after
 * reclaiming (mm/reclaim.c: may collect if interrupts are on). */
bool stack_alloc(size_t size, mstack *out);
/* Decommits the stack (frames back to the page source). */
void stack_free(mstack *s);
/* Bytes of the stack ever used (the painted words that were overwritten). */
size_t stack_high_water(const mstack *s);
/* True if addr lies in the range of a stack that was freed (and not yet
 * reused): a pointer there dangles. */
bool stack_is_freed_range(uintptr_t addr);
/* True if addr lies in the stack's gap, [guard, base): a stack overflow. */
bool stack_in_guard(const mstack *s, uintptr_t addr);
/* Stacks allocated now and their committed bytes (gaps are address space
 * only and not counted). */
void stack_usage(size_t *count, size_t *bytes);

/* ---- the collector's hooks (mm/sweep.c) -------------------------------- */

/* While set, every new object is allocated marked (black): the collector
 * is marking, and an object born during marking survives the cycle. */
extern volatile bool heap_alloc_black;
/* Set while the collector marks: mark bits may be set on swept spans. */
extern volatile bool heap_gc_marking;
void heap_set_alloc_black(bool on);
/* World stopped, marking done: flushes the mcaches and advances the sweep
 * generation, so every in-use span needs sweeping before it is used. */
void heap_begin_sweep(void);
/* Sweeps up to max_spans spans that still need it; returns how many it
 * swept (0: none left). */
size_t heap_sweep_some(size_t max_spans);
bool heap_sweep_done(void);
/* Sweeps everything still unswept (before a new mark may begin). */
void heap_finish_sweep(void);
/* True when no span waits to be swept. World stopped (or one CPU with
 * interrupts off) for the answer to stay true. */
bool heap_sweep_complete(void);
/* The heap's metadata globals (in data/bss), which the collector must not
 * scan as roots: their words are bookkeeping, not references. Returns how
 * many ranges it wrote (at most max). */
size_t heap_metadata_globals(arch_range *out, size_t max);
/* Spans in use now (each needs one sweep after a flip). */
size_t heap_spans_in_use(void);
/* The heap's sweep generation h (see MSPAN_SWEEPGEN_CACHED). */
uint32_t heap_current_sweepgen(void);
/* Cumulative sweep counters. */
void heap_sweep_stats(uint64_t *spans, uint64_t *objects, uint64_t *bytes);
/* Calls fn on every in-use span; world stopped (checkmark, diagnostics). */
void heap_for_each_span(void (*fn)(mspan *s, void *arg), void *arg);
