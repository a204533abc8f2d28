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

static void describe(uintptr_t addr)
{
	gc_object o;
	if (gc_find_object((void *)addr, &o)) {
		kprintf("  %p: %s object of %zu bytes (at +%lu)\n", (void *)addr,
			o.type ? o.type->name : "noscan", o.size,
			(unsigned long)(addr - (uintptr_t)o.base));
		return;
	}
	arch_range data = arch_data_range(), bss = arch_bss_range();
	if ((addr >= data.start && addr < data.end) || (addr >= bss.start && addr < bss.end))
		kprintf("  %p: a global (data/bss)\n", (void *)addr);
	else
		kprintf("  %p: a stack or runtime root\n", (void *)addr);
}

static _Noreturn void report_missed(mspan *s, size_t i)
{
	uintptr_t obj = s->base + i * s->elemsize;
	kprintf("checkmark: object %p (%s, %zu bytes) is reachable but was not "
		"marked by the concurrent mark; path from a root, object first:\n",
		(void *)obj, s->types && s->types[i] ? s->types[i]->name : "noscan",
		s->elemsize);
	uintptr_t at = obj;
	for (int depth = 0; depth < 32 && at; depth++) {
		describe(at);
		gc_object o;
		if (!gc_find_object((void *)at, &o))
			break; /* reached the root */
		at = parent_of((uintptr_t)o.base);
	}
	panic("checkmark: the concurrent mark missed a reachable object");
}

struct compare {
	struct saved *sv;
	size_t used;
};

static void compare_span(mspan *s, void *arg)
{
	struct compare *c = arg;
	size_t w = MSPAN_BITMAP_WORDS(s->nelems);
	const uint64_t *old = c->sv->bits + c->used;
	for (size_t k = 0; k < w; k++) {
		uint64_t missed = s->mark_bits[k] & ~old[k];
		if (missed)
			report_missed(s, k * 64 + (size_t)__builtin_ctzll(missed));
		/* keep the concurrent mark (it may hold floating garbage) */
		s->mark_bits[k] = old[k];
	}
	c->used += w;
}

void gc_checkmark_verify(void)
{
	ASSERT_WORLD_STOPPED();
	struct saved sv = { 0 };
	heap_for_each_span(count_span, &sv);
	parent_cap = sv.objects * 2 + 64;
	size_t bytes = ALIGN_UP(sv.words * sizeof(uint64_t) + parent_cap * sizeof(parent_entry),
				ARCH_PAGE_SIZE);
	void *mem = arch_reserve(bytes);
	if (!mem || !arch_commit(mem, bytes)) {
		kprintf("checkmark: no memory for %zu bytes of check state; skipped\n", bytes);
		return;
	}
	sv.bits = mem;
	parents = (parent_entry *)((char *)mem + sv.words * sizeof(uint64_t));
	heap_for_each_span(save_and_clear, &sv);

	uint64_t marked = gc.marked_bytes, work = gc.scan_work;
	gc.checkmarking = true;
	gc_scan_globals();
	gc_scan_extra_roots();
	gc_finalizer_scan_roots();
	/* Every stack again, under a generation no cycle number uses. */
	gc_scan_stacks(gc.cycle | CHECKMARK_GEN_BIT);
	while (gc_drain(UINT64_MAX) > 0)
		;
	gc.checkmarking = false;
	gc.marked_bytes = marked;
	gc.scan_work = work;

	struct compare c = { &sv, 0 };
	heap_for_each_span(compare_span, &c);
	parents = NULL;
	arch_decommit(mem, bytes);
}
