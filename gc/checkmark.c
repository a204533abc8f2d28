/*
 * gc/checkmark.c - checkmark mode (gccheckmark=1): after each concurrent
 * mark, with the world stopped, the mark bits are saved and cleared and the
 * heap is marked again from scratch from the same roots. Every object the
 * fresh mark reaches must already have been marked by the concurrent one;
 * an object reachable but left white means a missing barrier or a missed
 * root: the kernel panics, naming the object, its type and the path from a
 * root to it. Floating garbage (marked concurrently, unreachable now) is
 * allowed. Slow by design: a debugging tool.
 *
 * Only real misses may be reported. Stacks are scanned conservatively, and
 * a stack can change between the concurrent scan and the rescan without
 * the mutator doing anything the barrier should have seen: a new frame may
 * leave words unwritten (an uninitialised local array) that held a stale
 * address below the stack pointer at the concurrent scan. So in checkmark
 * mode the concurrent scan zeroes every switched-out task's dead stack
 * (gc/roots.c): what the rescan then finds there, the task wrote after its
 * scan. The running task is rescanned from the same spill point as at
 * termination (arch_run_spilled), with nothing of it run in between.
 *
 * Memory: the saved bitmaps and the parent table (object -> where it was
 * found) live in a range reserved and committed for the check, released
 * afterwards.
 */
#include "gc/gc_internal.h"

#define CHECKMARK_GEN_BIT (1ULL << 63)

typedef struct parent_entry {
	uintptr_t obj, parent;
} parent_entry;

static parent_entry *parents;
static size_t parent_cap;

void gc_checkmark_record(uintptr_t obj, uintptr_t parent)
{
	if (!parents)
		return;
	size_t h = (obj >> 4) * 0x9e3779b97f4a7c15ULL % parent_cap;
	for (size_t n = 0; n < parent_cap; n++, h = (h + 1) % parent_cap) {
		if (parents[h].obj == 0 || parents[h].obj == obj) {
			parents[h] = (parent_entry){ obj, parent };
			return;
		}
	}
}

static uintptr_t parent_of(uintptr_t obj)
{
	size_t h = (obj >> 4) * 0x9e3779b97f4a7c15ULL % parent_cap;
	for (size_t n = 0; n < parent_cap && parents[h].obj; n++, h = (h + 1) % parent_cap)
		if (parents[h].obj == obj)
			return parents[h].parent;
	return 0;
}

struct saved {
	uint64_t *bits;
	size_t words, used, objects;
};

static void count_span(mspan *s, void *arg)
{
	struct saved *sv = arg;
	sv->words += MSPAN_BITMAP_WORDS(s->nelems);
	sv->objects += s->alloc_count;
}

static void save_and_clear(mspan *s, void *arg)
{
	struct saved *sv = arg;
	size_t w = MSPAN_BITMAP_WORDS(s->nelems);
	memcpy(sv->bits + sv->used, s->mark_bits, w * sizeof(uint64_t));
	memset(s->mark_bits, 0, w * sizeof(uint64_t));
	sv->used += w;
}

/* The saved (concurrent) mark bits, for the report. */
static struct saved *saved_marks;

struct find_bits {
	const mspan *target;
	size_t offset;
	bool found;
};

static void find_span_bits(mspan *s, void *arg)
{
	struct find_bits *f = arg;
	if (f->found)
		return;
	if (s == f->target) {
		f->found = true;
		return;
	}
	f->offset += MSPAN_BITMAP_WORDS(s->nelems);
}

/* 1 if the concurrent mark had marked the object at base, 0 if not. */
static int concurrently_marked(const gc_object *o)
{
	struct find_bits f = { o->span, 0, false };
	heap_for_each_span(find_span_bits, &f);
	size_t i = mspan_slot_index(o->span, (uintptr_t)o->base);
	return (int)((saved_marks->bits[f.offset + i / 64] >> (i % 64)) & 1);
}

static void describe(uintptr_t addr)
{
	gc_object o;
	if (gc_find_object((void *)addr, &o)) {
		kprintf("  %p: %s object of %zu bytes (at +%lu), %s by the concurrent mark\n",
			(void *)addr, o.type ? o.type->name : "noscan", o.size,
			(unsigned long)(addr - (uintptr_t)o.base),
			concurrently_marked(&o) ? "marked" : "NOT marked");
		return;
	}
	arch_range data = arch_data_range(), bss = arch_bss_range();
	if ((addr >= data.start && addr < data.end) || (addr >= bss.start && addr < bss.end))
		kprintf("  %p: a global (data/bss)\n", (void *)addr);
	else
		kprintf("  %p: a stack or runtime root\n", (void *)addr);
}

static void report_missed(mspan *s, size_t i)
{
	uintptr_t obj = s->base + i * s->elemsize;
	kprintf("checkmark: object %p (%s, %zu bytes) is reachable but was not "
		"marked by the concurrent mark; path from a root, object first:\n",
		(void *)obj, s->types && s->types[i] ? s->types[i]->name : "noscan",
		s->elemsize);
	/* Print the first steps, then skip along the unmarked run to the
	 * first ancestor the concurrent mark did reach (where the broken
	 * edge is), then on to the root. */
	uintptr_t at = obj;
	int printed = 0, skipped = 0, last_marked = -1;
	for (int depth = 0; depth < 1000000 && at; depth++) {
		gc_object o;
		bool heap = gc_find_object((void *)at, &o);
		int marked = heap ? concurrently_marked(&o) : 1;
		if (printed < 4 || marked != last_marked || !heap) {
			if (skipped)
				kprintf("  ... %d more\n", skipped);
			skipped = 0;
			describe(at);
			if (heap)
				kprintf("      span %p sweepgen %u (heap %u) class %u\n",
					(void *)o.span, o.span->sweepgen, heap_current_sweepgen(),
					mspan_sizeclass(o.span));
			printed++;
		} else {
			skipped++;
		}
		last_marked = marked;
		if (!heap)
			break; /* reached the root */
		at = parent_of((uintptr_t)o.base);
	}
}

struct compare {
	struct saved *sv;
	size_t used;
	size_t missed; /* objects the fresh mark reached and the concurrent one did not */
};

static void compare_span(mspan *s, void *arg)
{
	struct compare *c = arg;
	size_t w = MSPAN_BITMAP_WORDS(s->nelems);
	const uint64_t *old = c->sv->bits + c->used;
	for (size_t k = 0; k < w; k++) {
		uint64_t missed = s->mark_bits[k] & ~old[k];
		if (missed && c->missed == 0) /* the first one, with its path */
			report_missed(s, k * 64 + (size_t)__builtin_ctzll(missed));
		c->missed += (size_t)__builtin_popcountll(missed);
		/* keep the concurrent mark (it may hold floating garbage) */
		s->mark_bits[k] = old[k];
	}
	c->used += w;
}

size_t gc_checkmark_verify(void)
{
	ASSERT_WORLD_STOPPED();
	struct saved sv = { 0 };
	heap_for_each_span(count_span, &sv);
	parent_cap = sv.objects * 2 + 64;
	size_t bytes = ALIGN_UP(sv.words * sizeof(uint64_t) + parent_cap * sizeof(parent_entry),
				ARCH_PAGE_SIZE);
	void *mem = arch_reserve(bytes);
	if (!mem || !heap_commit(mem, bytes)) {
		kprintf("checkmark: no memory for %zu bytes of check state; skipped\n", bytes);
		return 0;
	}
	sv.bits = mem;
	saved_marks = &sv;
	parents = (parent_entry *)((char *)mem + sv.words * sizeof(uint64_t));
	heap_for_each_span(save_and_clear, &sv);

	uint64_t marked = gc.marked_bytes, work = gc.scan_work;
	gc.checkmarking = true;
	gc_scan_globals();
	gc_finalizer_scan_roots();
	/* Every stack again, under a generation no cycle number uses. */
	gc_scan_stacks(gc.cycle | CHECKMARK_GEN_BIT);
	while (gc_drain(UINT64_MAX) > 0)
		;
	gc.checkmarking = false;
	gc.marked_bytes = marked;
	gc.scan_work = work;

	struct compare c = { &sv, 0, 0 };
	heap_for_each_span(compare_span, &c);
	parents = NULL;
	arch_decommit(mem, bytes);
	return c.missed;
}
