/*
 * gc/inspect.c - what the diagnostics reuse of the collector (the
 * inspection section of gc.h, which says why it is public): the quiet-heap
 * bracket that lends them the mark bits, marking and mark queries inside
 * it, and the colour census. The root enumerators are in gc/roots.c, the
 * word walkers inline in gc.h. See gc/gc.c for the overview.
 *
 * Invariant: while `inspecting`, the world is stopped, no cycle runs
 * (phase OFF) and the sweep is complete, so the mark bits are the
 * inspecting task's alone; gc_inspect_end leaves every mark bit clear and
 * gc.marked_bytes / gc.scan_work as gc_inspect_begin found them.
 */
#include "gc/gc_internal.h"

/* written with the world stopped, by the task inside the bracket */
static bool inspecting;
static uint64_t saved_marked_bytes, saved_scan_work;

static void clear_span_marks(mspan *s, void *arg)
{
	(void)arg;
	memset(s->mark_bits, 0, MSPAN_BITMAP_WORDS(s->nelems) * sizeof(uint64_t));
}

void gc_inspect_begin(const char *why)
{
	while (gc_get_phase() != GC_PHASE_OFF)
		gc_wait_for_cycle_end();
	for (;;) {
		heap_finish_sweep();
		stop_the_world(why);
		if (gc_get_phase() == GC_PHASE_OFF && heap_sweep_complete())
			break;
		start_the_world();
		while (gc_get_phase() != GC_PHASE_OFF)
			gc_wait_for_cycle_end();
	}
	ASSERT(!inspecting);
	inspecting = true;
	saved_marked_bytes = gc.marked_bytes;
	saved_scan_work = gc.scan_work;
}

void gc_inspect_end(void)
{
	ASSERT(inspecting);
	heap_for_each_span(clear_span_marks, NULL);
	gc.marked_bytes = saved_marked_bytes;
	gc.scan_work = saved_scan_work;
	inspecting = false;
	start_the_world();
}

void gc_inspect_clear_marks(void)
{
	ASSERT(inspecting);
	heap_for_each_span(clear_span_marks, NULL);
}

void gc_inspect_drain(void)
{
	ASSERT(inspecting);
	while (gc_drain(UINT64_MAX) > 0)
		;
}

bool gc_inspect_marked(const void *p)
{
	gc_object o;
	if (!gc_find_object(p, &o))
		return false;
	size_t i = mspan_slot_index(o.span, (uintptr_t)o.base);
	return (o.span->mark_bits[i >> 6] >> (i & 63)) & 1;
}

bool gc_inspect_visit(const void *p, gc_object *out)
{
	ASSERT(inspecting);
	gc_object o;
	if (!gc_find_object(p, &o))
		return false;
	size_t i = mspan_slot_index(o.span, (uintptr_t)o.base);
	uint64_t *word = &o.span->mark_bits[i >> 6], bit = 1ULL << (i & 63);
	if (*word & bit)
		return false;
	*word |= bit;
	if (out)
		*out = o;
	return true;
}

/* ---- the colour census ------------------------------------------------- */
static void census_span(mspan *s, void *arg)
{
	gc_colors *c = arg;
	for (size_t w = 0; w < MSPAN_BITMAP_WORDS(s->nelems); w++) {
		uint64_t a = s->alloc_bits[w], m = s->mark_bits[w] & a;
		c->white += (uint64_t)__builtin_popcountll(a & ~m);
		c->marked += (uint64_t)__builtin_popcountll(m);
	}
}

void gc_color_census(gc_colors *out)
{
	*out = (gc_colors){ 0 };
	stop_the_world("colour census");
	out->phase = gc_get_phase();
	heap_for_each_span(census_span, out);
	out->grey = gc_work_count();
	out->black = out->marked > out->grey ? out->marked - out->grey : 0;
	if (out->phase == GC_PHASE_OFF) {
		/* Outside marking mark bits mean nothing yet: all white. */
		out->white += out->marked;
		out->marked = out->black = out->grey = 0;
	}
	start_the_world();
}
