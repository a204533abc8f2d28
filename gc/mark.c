/*
 * gc/mark.c - colours and the grey work queue. An object is white while its
 * mark bit is clear, grey once marked and queued, black once scanned (or at
 * once, for noscan objects: nothing to scan). The queue is per-CPU buffers
 * of object addresses plus a global list of full buffers (Go's gcWork and
 * work.full); buffers come from a pool filled at init and grown (never
 * shrunk) from persistent memory when a cycle holds more grey objects than
 * ever before. See gc/gc.c for the overview.
 *
 * Invariant (checked by checkmark): when the queue is empty and every root
 * is scanned, no black object points to a white one.
 *
 * Stale entries. An address is queued as the base of an allocated object
 * (gc_mark_ptr checks), and the pages of an allocated object are never
 * returned to the page source (the scavenger takes free runs only). In the
 * kernel proper only sweep frees objects, and sweep runs only between mark
 * termination, which empties the queue, and the next mark setup, which
 * first finishes sweeping (gc_start); an object is scanned whole with
 * preemption off (worker, assists) or the world stopped, so nothing frees
 * it halfway. Hence a queued address always names a live object there.
 * The one other way to free is heap_free_for_test(), which tests call at
 * any time: a queued object may then be freed and its pages reused, even
 * by a larger object starting below it, or returned. So gc_scan_object()
 * (through gc_object_for_each_pointer, gc.h) checks that the address is
 * still an allocated object's base before it reads anything
 * (mm.free_of_a_grey_object_is_safe). A stale address is then either free
 * memory (skipped) or the start of a newer object (scanned: allocated, so
 * backed); never scanned for another object's length from inside it,
 * which could run past that object's end into returned pages.
 */
#include "gc/gc_internal.h"

#define WORKBUF_ENTRIES 510
#define WORKBUF_POOL 64 /* at init; the pool grows when a cycle needs more */

typedef struct workbuf {
	struct workbuf *next;
	size_t n;
	uintptr_t obj[WORKBUF_ENTRIES];
} workbuf;
_Static_assert(sizeof(workbuf) == 4096, "a workbuf is one page");

/* guarded by interrupts off (one CPU) */
static workbuf *wb_current;   /* this CPU's buffer */
static workbuf *wb_full;      /* full buffers */
static workbuf *wb_free;      /* empty buffers */
static size_t wb_full_count;

void gc_work_init(void)
{
	for (int i = 0; i < WORKBUF_POOL; i++) {
		workbuf *b = fixalloc_persistent(sizeof(workbuf), 64);
		if (!b)
			panic("gc: no memory for mark work buffers");
		b->next = wb_free;
		wb_free = b;
	}
	wb_current = wb_free;
	wb_free = wb_free->next;
	wb_current->n = 0;
}

static void work_push(uintptr_t obj)
{
	arch_irqflags_t irq = arch_irq_save();
	if (wb_current->n == WORKBUF_ENTRIES) {
		workbuf *b = wb_free;
		if (b) {
			wb_free = b->next;
		} else {
			/* More grey objects than ever before: grow the pool
			 * (buffers are kept for later cycles). */
			b = fixalloc_persistent(sizeof(workbuf), 64);
			if (!b)
				panic("gc: out of memory for mark work buffers");
		}
		wb_current->next = wb_full;
		wb_full = wb_current;
		wb_full_count++;
		b->n = 0;
		wb_current = b;
	}
	wb_current->obj[wb_current->n++] = obj;
	arch_irq_restore(irq);
}

static bool work_pop(uintptr_t *obj)
{
	arch_irqflags_t irq = arch_irq_save();
	bool ok = true;
	if (wb_current->n == 0 && wb_full) {
		workbuf *b = wb_full;
		wb_full = b->next;
		wb_full_count--;
		wb_current->next = wb_free;
		wb_free = wb_current;
		wb_current = b;
	}
	if (wb_current->n > 0)
		*obj = wb_current->obj[--wb_current->n];
	else
		ok = false;
	arch_irq_restore(irq);
	return ok;
}

uint64_t gc_work_count(void)
{
	arch_irqflags_t irq = arch_irq_save();
	uint64_t n = wb_current->n + (uint64_t)wb_full_count * WORKBUF_ENTRIES;
	arch_irq_restore(irq);
	return n;
}

bool gc_work_empty(void)
{
	arch_irqflags_t irq = arch_irq_save();
	bool empty = wb_current->n == 0 && !wb_full;
	arch_irq_restore(irq);
	return empty;
}

void gc_mark_ptr(uintptr_t p, uintptr_t parent)
{
	if (!heap_in_arena((const void *)p))
		return;
	mspan *s = mspan_of((const void *)p);
	if (!s)
		return;
	size_t i = mspan_slot_index(s, p);
	if (i >= s->nelems || !mspan_slot_allocated(s, i))
		return; /* a span's tail or a free slot: not an object */
	uint64_t bit = 1ULL << (i & 63);
	uintptr_t base = s->base + i * s->elemsize;
	/* Setting the bit and queueing the object happen with interrupts off,
	 * as one step: a task preempted between the two (an assist, say)
	 * would leave an object marked but never scanned, and mark
	 * termination, finding the queue empty, would miss its children. */
	arch_irqflags_t irq = arch_irq_save();
	uint64_t *word = &s->mark_bits[i >> 6];
	if (*word & bit) {
		arch_irq_restore(irq);
		return;
	}
	*word |= bit;
	gc.marked_bytes += s->elemsize;
	if (gc.checkmarking)
		gc_checkmark_record(base, parent);
	if (!spanclass_noscan(s->spanclass))
		work_push(base);
	arch_irq_restore(irq);
}

/* The visitors of the walkers (gc.h), inlined into the scans below. A word
 * of a root range is its own parent on checkmark's path; an object's words
 * have the object. */
static inline void mark_root_word(uintptr_t at, uintptr_t v, void *unused)
{
	(void)unused;
	if (heap_in_arena((const void *)v))
		gc_mark_ptr(v, at);
}

static inline void mark_field(uintptr_t at, uintptr_t v, void *obj)
{
	(void)at;
	gc_mark_ptr(v, (uintptr_t)obj); /* it ignores what is no object */
}

__attribute__((no_sanitize_address)) void gc_scan_conservative(uintptr_t lo, uintptr_t hi)
{
	gc_range_for_each_word(lo, hi, mark_root_word, NULL);
	lo = ALIGN_UP(lo, sizeof(uintptr_t));
	gc.scan_work += hi > lo ? hi - lo : 0;
}

void gc_scan_object(uintptr_t obj)
{
	gc.scan_work += gc_object_for_each_pointer(obj, mark_field, (void *)obj);
}

uint64_t gc_drain(uint64_t budget)
{
	uint64_t start = gc.scan_work;
	uintptr_t obj;
	while (gc.scan_work - start < budget && work_pop(&obj))
		gc_scan_object(obj);
	return gc.scan_work - start;
}
