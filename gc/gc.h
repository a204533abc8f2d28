/*
 * gc/gc.h - the collector's public interface: the typed allocation API
 * (gc_alloc ...), object queries, the collector itself (cycles, the write
 * barrier, finalizers, stop-the-world mode, statistics) and the hooks the
 * diagnostics above it register. A gc_type names a struct, its size and
 * which of its words hold pointers; mm/ records it per slot, so the
 * collector scans heap objects precisely (stacks and globals are scanned
 * conservatively). The heap underneath is mm/ (see mm/malloc.c); how a
 * cycle runs is told at the top of gc/gc.c.
 *
 *   typedef struct node { int key; struct node *left, *right; } node;
 *   static GC_TYPE_DEFINE(node_type, node, left, right);
 *   node *n = gc_alloc(&node_type);          zeroed, or NULL + gc_last_error()
 *   node **v = gc_alloc_array(&ptr_type, 100);
 *   char *buf = gc_alloc_noscan(4096);       never scanned
 *   void *blob = gc_alloc_conservative(256); every word treated as a pointer
 *   gc_write(&n->left, m);                   every pointer store into the heap
 */
#pragma once

#include <stddef.h>

#include "mm/mm.h"

/* Largest struct a gc_type describes: 512 words (4 KiB). Bigger objects are
 * arrays (gc_alloc_array) or noscan. */
#define GC_TYPE_MAX_WORDS 512
#define GC_TYPE_MASK_WORDS (GC_TYPE_MAX_WORDS / 64)

enum {
	/* Scan every word and accept any value: the object's words may or
	 * may not be pointers (gc_alloc_conservative). */
	GC_TYPE_CONSERVATIVE = 1 << 0,
};

/*
 * A type the collector can scan. An object of type t is an array of
 * elemsize / t->size elements of t (a slot may be larger than requested; the
 * tail is zero, so scanning it finds nothing). Bit w of ptrmask says word w
 * of an element holds a pointer.
 * Invariants: size > 0; nptrs == popcount(ptrmask); no bit at or beyond
 * word size / 8.
 */
typedef struct gc_type {
	const char *name;
	size_t size;      /* bytes of one element (sizeof the struct) */
	uint32_t flags;   /* GC_TYPE_* */
	uint32_t nptrs;   /* pointer words; 0 = allocated noscan */
	uint64_t ptrmask[GC_TYPE_MASK_WORDS];
} gc_type;

/* Every word a pointer, scanned conservatively. */
extern const gc_type gc_type_conservative;

/*
 * GC_TYPE_DEFINE(var, T, field, ...) defines `const gc_type var` for struct
 * type T whose pointer fields are the listed fields (up to 32; a pointer
 * array element may be listed as `slots[3]`). Each field is checked at
 * compile time to be a pointer-sized, aligned pointer, and T to fit
 * GC_TYPE_MAX_WORDS. May be preceded by `static`.
 * GC_TYPE_DEFINE_NOPTRS(var, T) defines a type without pointers.
 */
#define GC_TYPE_DEFINE(var, T, ...)                                        \
	const gc_type var = {                                              \
		.name = #T,                                                \
		.size = sizeof(T),                                         \
		.nptrs = GC_NARGS_(__VA_ARGS__),                           \
		.ptrmask = { GC_MASK_WORDS_(T, __VA_ARGS__) },             \
	};                                                                 \
	_Static_assert(sizeof(T) <= GC_TYPE_MAX_WORDS * sizeof(void *),    \
		       "gc_type " #T ": larger than GC_TYPE_MAX_WORDS");   \
	GC_MAP_(GC_FIELD_ASSERT_, T, __VA_ARGS__)                          \
	_Static_assert(1, "")

#define GC_TYPE_DEFINE_NOPTRS(var, T)                                      \
	const gc_type var = { .name = #T, .size = sizeof(T) };             \
	_Static_assert(sizeof(T) > 0, "gc_type " #T ": empty")

/* ---- allocation (gc/alloc.c) ------------------------------------------ */
/*
 * All return zeroed memory, 16-aligned from 16 bytes up, or NULL with the
 * reason in gc_last_error(): NULL type, zero size, a size that overflows or
 * that the heap arena cannot hold, out of memory. They never crash on bad
 * arguments. Callable with interrupts on or off. Before reporting out of
 * memory the heap returns its free pages to the page source and, where the
 * caller may block (interrupts and preemption on, not a collector task),
 * runs a full collection first (mm/reclaim.c, gc/pacer.c).
 */
void *gc_alloc(const gc_type *t);
void *gc_alloc_array(const gc_type *t, size_t n);
/* No pointers inside: never scanned. Under 16 bytes, packed into shared
 * 16-byte blocks (the tiny allocator). */
void *gc_alloc_noscan(size_t size);
/* Scanned word by word; any word that looks like a heap pointer counts. */
void *gc_alloc_conservative(size_t size);
/* gc_alloc for callers that cannot handle failure: panics with the reason
 * instead of returning NULL. */
void *gc_alloc_or_panic(const gc_type *t);
/* Why the last allocation on this CPU failed. */
const char *gc_last_error(void);

/* ---- allocation sampling: the heap profile's hook (gc/alloc.c) -------- */
/*
 * Every successful gc_alloc* subtracts its size from gc_sample_countdown
 * (one subtraction and a branch: Go's mcache.nextSample); when it runs out
 * it calls the sampler registered here, which records the object and sets
 * the countdown to the next distance. A hook, not a call: the heap profile
 * (diag/heapprof.c) is a diagnostic above the collector. With no sampler
 * the countdown is parked at INT64_MAX. One CPU: a lost update only moves a
 * sample.
 */
typedef void (*gc_sampler_fn)(void *obj, size_t size, uintptr_t site);
extern int64_t gc_sample_countdown;
/* Registers fn (NULL: none) and starts counting from 0 (the next
 * allocation calls it). */
void gc_set_sampler(gc_sampler_fn fn);

/* ---- object queries (gc/alloc.c), O(1) from any address --------------- */

typedef struct gc_object {
	void *base;          /* start of the object p points into */
	size_t size;         /* its slot size */
	const gc_type *type; /* NULL for noscan objects */
	mspan *span;
} gc_object;

/* True if p lies in the heap arena (else it is never a heap object). */
bool gc_in_heap(const void *p);
/* True if p points at or into an allocated object (interior pointers
 * allowed); fills *out (may be NULL). */
bool gc_find_object(const void *p, gc_object *out);

/* ---- the collector (gc/gc.c; overview at its top) ---------------------- */
/*
 * One cycle: (1) mark setup, STW: finish the last sweep, barrier and
 * allocate-black on, root jobs queued; (2) concurrent mark: a background
 * worker task (~25% of the CPU) scans globals, then each task's stack while
 * that task is suspended, then drains grey objects, while allocating tasks
 * pay assists; (3) mark termination, STW: drain what is left, barrier off,
 * the heap's sweep generation flips, the next goal is set; (4) concurrent
 * sweep: a background sweeper plus lazy sweeping of a span before reuse.
 */
typedef enum gc_phase {
	GC_PHASE_OFF,       /* not collecting (sweep may still be running) */
	GC_PHASE_MARK,      /* concurrent mark: barrier on, allocate-black */
	GC_PHASE_MARK_TERM, /* mark termination, world stopped */
} gc_phase;

/* Starts the collector's tasks (mark worker, sweeper, finalizers). Called
 * by kernel_main after sched_init. */
void gc_init(void);
/* Runs a full cycle now and waits until it, and its sweep, are done
 * (Go: runtime.GC). A cycle already running is finished first. */
void gc_collect(void);
gc_phase gc_get_phase(void);
/* Registers fn (NULL: none) to run at every mark termination, with the
 * world stopped and the marks complete, before the barrier goes off: the
 * escape checker's `escapecheck=1` (diag/diag.c). A hook, because the
 * diagnostics sit above the collector. fn must not allocate or block. */
void gc_set_termination_hook(void (*fn)(void));
/* The number of the cycle running now, or of the last one (0: none yet). */
uint64_t gc_cycle(void);
/* gcstoptheworld= at run time: true runs whole cycles (mark and sweep) with
 * the world stopped. Returns the previous setting. Waits out a cycle that
 * is running, so no cycle mixes the two modes. */
bool gc_set_stop_the_world(bool on);

/*
 * The write barrier: every store of a pointer into a heap object or a
 * global goes through gc_write (or gc_copy for a block of words). Outside
 * marking it is one flag test and the store. While marking it shades both
 * the old value of the slot and the new one (Go's hybrid barrier: Yuasa's
 * deletion barrier + Dijkstra's insertion barrier), which is what lets a
 * stack be scanned once, without being rescanned at mark termination.
 * The flag test and the store cannot be split by a preemption (the barrier
 * holds preemption off), so no cycle can start in between.
 */
void gc_write(void *slot, const void *ptr);
/* Copies n bytes (a multiple of 8, both word-aligned) of words that may be
 * pointers from src to dst, with the barrier on every destination word. */
void gc_copy(void *dst, const void *src, size_t n);
/* Greys p's object (if p points into one) as the barrier would. */
void gc_shade(const void *p);

/*
 * Finalizers: fn(obj) runs once on the finalizer task after obj is found
 * unreachable; obj (and what it reaches) stays alive until the cycle after
 * fn ran. obj must be the base of a heap object. Returns false (with
 * gc_last_error()) otherwise, or if obj already has one. fn == NULL removes
 * it. Pitfall, as in Go: an object reachable from its own finalized object
 * (a cycle through a finalized object) is never collected.
 */
bool gc_set_finalizer(void *obj, void (*fn)(void *obj));

/*
 * A cycle driven step by step, for tests (the role of Go's export_test.go):
 * the mark worker and mutator assists stay out of it, so a test can put a
 * mutator's move at an exact point between the root jobs and the drain,
 * and so catch each half of the barrier, allocate-black and stack scanning
 * on every run instead of when the timer happens to land in the window.
 * begin: sweep termination and mark setup (STW; barrier and allocate-black
 * on), world restarted; checkmark turns gccheckmark on for this cycle.
 * scan_globals / scan_task / drain: one root job, or every grey object.
 * A running task (the caller) is scanned from where it calls. end: mark
 * termination as the worker runs it (the root jobs not done, drain,
 * finalizers, checkmark); marked[i] tells whether watch[i]'s object was
 * marked (so survives the sweep); returns the objects checkmark found
 * reachable but unmarked (0 without checkmark; no panic in this mode).
 */
struct task;
void gc_test_cycle_begin(bool checkmark);
void gc_test_scan_globals(void);
void gc_test_scan_task(struct task *t);
void gc_test_drain(void);
size_t gc_test_cycle_end(const void *const *watch, bool *marked, size_t n);

/* Memory the collector cannot see (runtime metadata, not heap, data or
 * bss, nor a stack) that holds heap pointers: its words are scanned as
 * roots, conservatively. */
bool gc_add_root(const void *start, size_t bytes, const char *name);
void gc_remove_root(const void *start);

#define GC_PAUSE_HISTORY 64
typedef struct gc_stats {
	uint64_t cycles;              /* completed */
	gc_phase phase;
	uint64_t heap_live;           /* marked bytes at the last termination */
	uint64_t heap_in_use;         /* slot bytes of allocated objects now */
	uint64_t heap_goal;           /* next cycle ends by this much in use */
	uint64_t heap_trigger;        /* next cycle starts at this much */
	uint64_t pause_total_ns;
	uint64_t pause_max_ns;
	uint64_t pauses_ns[GC_PAUSE_HISTORY]; /* ring, newest at (npauses-1) % N */
	uint64_t npauses;
	uint64_t mark_ns_total;       /* wall time in concurrent mark */
	uint64_t gc_cpu_ns;           /* worker + assists + STW, all cycles */
	uint64_t uptime_ns;           /* arch_nanotime() when read */
	uint64_t assist_bytes;        /* scan work done by assists, cumulative */
	uint64_t marked_bytes_total;  /* scan work done, cumulative */
	uint64_t freed_objects;       /* by sweep, cumulative */
	uint64_t finalizers_run;
	int64_t gogc;                 /* -1 = off */
	uint64_t memlimit;            /* 0 = none */
} gc_stats;
void gc_read_stats(gc_stats *out);
/* GC CPU fraction since boot in per-mille. */
unsigned gc_cpu_permille(void);

/* ---- inspection: what the diagnostics reuse (gc/roots.c, gc/inspect.c) --
 *
 * The diagnostics (diag/: the task-leak detector, why-alive paths, the
 * escape checker; the colour census's users) sit above the collector and
 * answer their questions with the collector's own machinery, as Go's
 * checkmark mode and heap dump reuse the GC's roots and mark bits instead
 * of keeping their own: the root set as the very gc_root records marking
 * walks, the object walk and word scan marking is built on, marking itself
 * and the mark bits. So a diagnostic can never disagree with the collector
 * about what a root is, which words of an object are pointers, or what is
 * reachable. This section is that interface, and all of it: the
 * collector's state (gc_internal.h) stays private.
 *
 * Marks belong to the collector while it runs a cycle. A diagnostic takes
 * them inside a quiet-heap bracket, gc_inspect_begin ... gc_inspect_end:
 * the world stopped, no cycle marking, the sweep finished, so every mark
 * bit is clear and free for the diagnostic's own use (a "reached" or
 * "visited" set); the bracket clears them again and restores the
 * collector's counters that marking moved, so a cycle afterwards sees
 * nothing of it. The root enumerators, the walkers and the census need no
 * bracket (the census stops the world itself).
 */

/* One piece of the root set. Range kinds are scanned conservatively word by
 * word; value kinds are one possible pointer; a finalizer root is an object
 * whose fields (by its type) are roots while the object itself is not. */
typedef enum gc_root_kind {
	GC_ROOT_GLOBALS,         /* [lo, hi) of data or bss */
	GC_ROOT_RUNTIME,         /* [lo, hi) registered with gc_add_root (name) */
	GC_ROOT_STACK,           /* [lo, hi): task's live stack */
	GC_ROOT_TASK_ARG,        /* value: task's start argument */
	GC_ROOT_FINALIZER,       /* value: a finalizable object (its fields) */
	GC_ROOT_FINALIZER_QUEUE, /* value: an object waiting for its finalizer */
} gc_root_kind;

typedef struct gc_root {
	gc_root_kind kind;
	uintptr_t lo, hi;   /* range kinds */
	uintptr_t value;    /* value kinds */
	const char *name;   /* GC_ROOT_RUNTIME */
	struct task *task;  /* GC_ROOT_STACK, GC_ROOT_TASK_ARG */
} gc_root;

typedef void (*gc_root_fn)(const gc_root *r, void *arg);
/* The enumerators: every root of one kind of root job, to fn. With the
 * world stopped (or, for the collector, within its root jobs). */
void gc_roots_globals(gc_root_fn fn, void *arg);             /* globals + gc_add_root ranges */
void gc_roots_task(struct task *t, gc_root_fn fn, void *arg); /* t's live stack and argument */
void gc_roots_finalizers(gc_root_fn fn, void *arg);          /* gc/finalizer.c */

/*
 * The word walkers: the one walk over an object's pointer words and the
 * one scan of a word range. Marking (gc/mark.c) is built on them, and so
 * are why-alive and the escape checker, so a diagnostic reads exactly the
 * words the collector reads. Inline, so that marking pays no call per word
 * or object: fn is a constant at every use and the compiler folds it in
 * (the object walk is always_inline; the range scan cannot be, as ASan
 * builds do not inline its no_sanitize body into sanitized code, and need
 * not be: GCC inlines it at -O2).
 *
 * fn(at, value, arg): `at` is the address of the word, `value` what it
 * held when read.
 */
typedef void (*gc_word_fn)(uintptr_t at, uintptr_t value, void *arg);

/* Every word of [lo, hi), from lo rounded up to a word, whatever it holds
 * (callers judge the value: any word may be a pointer here). Each word is
 * read once, as a volatile load: stacks and globals change under a
 * concurrent scan. Exempt from ASan: stacks and globals hold redzones it
 * would report. */
__attribute__((no_sanitize_address)) static inline void
gc_range_for_each_word(uintptr_t lo, uintptr_t hi, gc_word_fn fn, void *arg)
{
	for (uintptr_t a = ALIGN_UP(lo, sizeof(uintptr_t)); a + sizeof(uintptr_t) <= hi;
	     a += sizeof(uintptr_t))
		fn(a, *(volatile const uintptr_t *)a, arg);
}

/*
 * The words of the object at obj that may hold pointers, read by the
 * slot's type: for each element of a typed object (or array) the words its
 * ptrmask names, skipping null ones, in address order; every word of the
 * slot for a conservative object (as gc_range_for_each_word). Returns the
 * slot size walked, or 0 (fn never called) unless obj is the base of an
 * allocated object of a scan span whose type is set: a noscan object, a
 * free slot, an interior or stale address, or a large object whose type is
 * not published yet (it is zeroed first, so it holds nothing yet). The
 * checks come before any read of the object: marking may hold a stale
 * address (gc/mark.c, "Stale entries").
 */
__attribute__((always_inline)) static inline size_t
gc_object_for_each_pointer(uintptr_t obj, gc_word_fn fn, void *arg)
{
	mspan *s = mspan_of((const void *)obj);
	if (!s || !s->types)
		return 0;
	size_t i = mspan_slot_index(s, obj);
	if (s->state != MSPAN_IN_USE || i >= s->nelems || !mspan_slot_allocated(s, i) ||
	    s->base + i * s->elemsize != obj)
		return 0;
	/* A large object's type is published after it is zeroed. */
	const gc_type *t = __atomic_load_n(&s->types[i], __ATOMIC_ACQUIRE);
	if (!t)
		return 0;
	if (t->flags & GC_TYPE_CONSERVATIVE) {
		gc_range_for_each_word(obj, obj + s->elemsize, fn, arg);
		return s->elemsize;
	}
	size_t nelem = s->elemsize / t->size;
	size_t mask_words = (t->size / sizeof(uintptr_t) + 63) / 64;
	for (size_t e = 0; e < nelem; e++) {
		const uintptr_t *elem = (const uintptr_t *)(obj + e * t->size);
		for (size_t mw = 0; mw < mask_words; mw++) {
			uint64_t m = t->ptrmask[mw];
			while (m) {
				size_t w = mw * 64 + (unsigned)__builtin_ctzll(m);
				m &= m - 1;
				uintptr_t v = __atomic_load_n(&elem[w], __ATOMIC_RELAXED);
				if (v)
					fn((uintptr_t)&elem[w], v, arg);
			}
		}
	}
	return s->elemsize;
}

/* The quiet-heap bracket (see above). begin waits out any cycle, finishes
 * the sweep and stops the world with no cycle running; every mark bit is
 * then clear. end clears every mark bit, restores the collector's mark
 * counters and starts the world. Not nested; not from a collector task. */
void gc_inspect_begin(const char *why);
void gc_inspect_end(void);
/* Inside the bracket: clears every mark bit again (between two searches). */
void gc_inspect_clear_marks(void);

/* Marking, inside the bracket (the collector uses the same, in its cycle).
 * gc_mark_root greys what r points to, exactly as a cycle's root jobs do:
 * a gc_root_fn for the enumerators. gc_inspect_drain then scans grey
 * objects until none is left: every object reachable from what was greyed
 * is marked. */
void gc_mark_root(const gc_root *r, void *unused);
void gc_inspect_drain(void);

/* The mark bit of p's object (interior pointers allowed); false if p is no
 * allocated object. Meaningful inside the bracket, and to the collector's
 * tests during a cycle. */
bool gc_inspect_marked(const void *p);
/* Inside the bracket, the mark bits as a visited set: if p points into an
 * allocated object whose bit is clear, sets it (the object is not queued
 * for marking), fills *out (may be NULL) and returns true; false if p is
 * no allocated object or its bit was set already. */
bool gc_inspect_visit(const void *p, gc_object *out);

/* Objects by colour now (white: allocated, unmarked; grey: queued; black:
 * marked and scanned), counted with the world stopped (it stops it, so
 * not inside the bracket). Outside marking everything is white. */
typedef struct gc_colors {
	gc_phase phase;
	uint64_t white, grey, black, marked;
} gc_colors;
void gc_color_census(gc_colors *out);

/* ---- macro machinery for GC_TYPE_DEFINE -------------------------------- */

/* Bit of field f in mask word w of T's pointer bitmap, or 0. */
#define GC_FIELD_BIT_(T, w, f)                                          \
	((offsetof(T, f) / sizeof(void *)) / 64 == (w)                 \
		 ? 1ULL << ((offsetof(T, f) / sizeof(void *)) % 64)     \
		 : 0)
#define GC_BIT_OR_(ctx, f) | GC_BIT_CALL_(GC_UNPACK_ ctx, f)
#define GC_UNPACK_(T, w) T, w
#define GC_BIT_CALL_(...) GC_FIELD_BIT_(__VA_ARGS__)
#define GC_MASK_WORD_(T, w, ...) (0 GC_MAP_(GC_BIT_OR_, (T, w), __VA_ARGS__))
#define GC_MASK_WORDS_(T, ...)                                           \
	GC_MASK_WORD_(T, 0, __VA_ARGS__), GC_MASK_WORD_(T, 1, __VA_ARGS__), \
	GC_MASK_WORD_(T, 2, __VA_ARGS__), GC_MASK_WORD_(T, 3, __VA_ARGS__), \
	GC_MASK_WORD_(T, 4, __VA_ARGS__), GC_MASK_WORD_(T, 5, __VA_ARGS__), \
	GC_MASK_WORD_(T, 6, __VA_ARGS__), GC_MASK_WORD_(T, 7, __VA_ARGS__)
_Static_assert(GC_TYPE_MASK_WORDS == 8, "GC_MASK_WORDS_ lists 8 words");

/* __builtin_classify_type: 5 is pointer_type_class (GCC and clang). */
#define GC_FIELD_ASSERT_(T, f)                                               \
	_Static_assert(offsetof(T, f) % sizeof(void *) == 0 &&               \
			       sizeof(((T *)0)->f) == sizeof(void *) &&      \
			       __builtin_classify_type(((T *)0)->f) == 5,    \
		       "gc_type " #T ": field " #f                           \
		       " is not an aligned pointer");

#define GC_CAT_(a, b) GC_CAT2_(a, b)
#define GC_CAT2_(a, b) a##b
/* m(ctx, f) for each f (1 to 32 of them). */
#define GC_MAP_(m, ctx, ...) \
	GC_CAT_(GC_MAP_, GC_NARGS_(__VA_ARGS__))(m, ctx, __VA_ARGS__)
#define GC_NARGS_(...)                                                     \
	GC_NARGS_PICK_(__VA_ARGS__, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, \
		       22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, \
		       8, 7, 6, 5, 4, 3, 2, 1, 0)
#define GC_NARGS_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12,  \
		       _13, _14, _15, _16, _17, _18, _19, _20, _21, _22,   \
		       _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, n, \
		       ...)                                                \
	n
#define GC_MAP_1(m, ctx, f) m(ctx, f)
#define GC_MAP_2(m, ctx, f, ...) m(ctx, f) GC_MAP_1(m, ctx, __VA_ARGS__)
#define GC_MAP_3(m, ctx, f, ...) m(ctx, f) GC_MAP_2(m, ctx, __VA_ARGS__)
#define GC_MAP_4(m, ctx, f, ...) m(ctx, f) GC_MAP_3(m, ctx, __VA_ARGS__)
#define GC_MAP_5(m, ctx, f, ...) m(ctx, f) GC_MAP_4(m, ctx, __VA_ARGS__)
#define GC_MAP_6(m, ctx, f, ...) m(ctx, f) GC_MAP_5(m, ctx, __VA_ARGS__)
#define GC_MAP_7(m, ctx, f, ...) m(ctx, f) GC_MAP_6(m, ctx, __VA_ARGS__)
#define GC_MAP_8(m, ctx, f, ...) m(ctx, f) GC_MAP_7(m, ctx, __VA_ARGS__)
#define GC_MAP_9(m, ctx, f, ...) m(ctx, f) GC_MAP_8(m, ctx, __VA_ARGS__)
#define GC_MAP_10(m, ctx, f, ...) m(ctx, f) GC_MAP_9(m, ctx, __VA_ARGS__)
#define GC_MAP_11(m, ctx, f, ...) m(ctx, f) GC_MAP_10(m, ctx, __VA_ARGS__)
#define GC_MAP_12(m, ctx, f, ...) m(ctx, f) GC_MAP_11(m, ctx, __VA_ARGS__)
#define GC_MAP_13(m, ctx, f, ...) m(ctx, f) GC_MAP_12(m, ctx, __VA_ARGS__)
#define GC_MAP_14(m, ctx, f, ...) m(ctx, f) GC_MAP_13(m, ctx, __VA_ARGS__)
#define GC_MAP_15(m, ctx, f, ...) m(ctx, f) GC_MAP_14(m, ctx, __VA_ARGS__)
#define GC_MAP_16(m, ctx, f, ...) m(ctx, f) GC_MAP_15(m, ctx, __VA_ARGS__)
#define GC_MAP_17(m, ctx, f, ...) m(ctx, f) GC_MAP_16(m, ctx, __VA_ARGS__)
#define GC_MAP_18(m, ctx, f, ...) m(ctx, f) GC_MAP_17(m, ctx, __VA_ARGS__)
#define GC_MAP_19(m, ctx, f, ...) m(ctx, f) GC_MAP_18(m, ctx, __VA_ARGS__)
#define GC_MAP_20(m, ctx, f, ...) m(ctx, f) GC_MAP_19(m, ctx, __VA_ARGS__)
#define GC_MAP_21(m, ctx, f, ...) m(ctx, f) GC_MAP_20(m, ctx, __VA_ARGS__)
#define GC_MAP_22(m, ctx, f, ...) m(ctx, f) GC_MAP_21(m, ctx, __VA_ARGS__)
#define GC_MAP_23(m, ctx, f, ...) m(ctx, f) GC_MAP_22(m, ctx, __VA_ARGS__)
#define GC_MAP_24(m, ctx, f, ...) m(ctx, f) GC_MAP_23(m, ctx, __VA_ARGS__)
#define GC_MAP_25(m, ctx, f, ...) m(ctx, f) GC_MAP_24(m, ctx, __VA_ARGS__)
#define GC_MAP_26(m, ctx, f, ...) m(ctx, f) GC_MAP_25(m, ctx, __VA_ARGS__)
#define GC_MAP_27(m, ctx, f, ...) m(ctx, f) GC_MAP_26(m, ctx, __VA_ARGS__)
#define GC_MAP_28(m, ctx, f, ...) m(ctx, f) GC_MAP_27(m, ctx, __VA_ARGS__)
#define GC_MAP_29(m, ctx, f, ...) m(ctx, f) GC_MAP_28(m, ctx, __VA_ARGS__)
#define GC_MAP_30(m, ctx, f, ...) m(ctx, f) GC_MAP_29(m, ctx, __VA_ARGS__)
#define GC_MAP_31(m, ctx, f, ...) m(ctx, f) GC_MAP_30(m, ctx, __VA_ARGS__)
#define GC_MAP_32(m, ctx, f, ...) m(ctx, f) GC_MAP_31(m, ctx, __VA_ARGS__)
