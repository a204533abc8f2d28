/*
 * gc/roots.c - where marking starts, defined once. The root set is: the
 * kernel image's data and bss (the globals; linker.ld exports their bounds)
 * minus the heap's and the collector's own bookkeeping globals; memory the
 * runtime registered with gc_add_root(); what finalizable objects point to
 * and the objects waiting for their finalizer (gc/finalizer.c); and every
 * live task's stack from its saved stack pointer (or, for the running task,
 * its arch_run_spilled spill point) to its top, which covers the registers
 * a switch, an interrupt or the spill saved there, plus each task's start
 * argument. Stacks and globals are scanned conservatively: any word that
 * points into an allocated object keeps it, interior pointers included.
 *
 * The set is handed out as gc_root records by the gc_roots_* enumerators
 * (public, in the inspection section of gc.h); marking (gc_mark_root) and
 * the diagnostics (why-alive, the leak detector) walk the very same
 * records, so a diagnostic can never disagree with the collector about
 * what a root is.
 * See gc/gc.c for the overview.
 */
#include "gc/gc_internal.h"

#define EXTRA_ROOTS_MAX 64
/* Ranges of data and bss that are no roots: the heap's metadata globals
 * (heap_metadata_globals) and, in the last slot, the collector's state. */
#define EXCLUDED_GLOBALS_MAX 4

typedef struct extra_root {
	const void *start;
	size_t bytes;
	const char *name;
} extra_root;

/* guarded by interrupts off */
static extra_root extra_roots[EXTRA_ROOTS_MAX];
static size_t extra_root_count;

bool gc_add_root(const void *start, size_t bytes, const char *name)
{
	arch_irqflags_t irq = arch_irq_save();
	bool ok = extra_root_count < EXTRA_ROOTS_MAX;
	if (ok)
		extra_roots[extra_root_count++] = (extra_root){ start, bytes, name };
	arch_irq_restore(irq);
	if (!ok)
		heap_set_error("gc_add_root: more than %d root ranges", EXTRA_ROOTS_MAX);
	return ok;
}

void gc_remove_root(const void *start)
{
	arch_irqflags_t irq = arch_irq_save();
	for (size_t i = 0; i < extra_root_count; i++) {
		if (extra_roots[i].start == start) {
			extra_roots[i] = extra_roots[--extra_root_count];
			break;
		}
	}
	arch_irq_restore(irq);
}

void gc_mark_root(const gc_root *r, void *unused)
{
	(void)unused;
	switch (r->kind) {
	case GC_ROOT_GLOBALS:
	case GC_ROOT_RUNTIME:
	case GC_ROOT_STACK:
		gc_scan_conservative(r->lo, r->hi);
		break;
	case GC_ROOT_TASK_ARG:
	case GC_ROOT_FINALIZER_QUEUE:
		gc_mark_ptr(r->value, 0);
		break;
	case GC_ROOT_FINALIZER:
		gc_scan_object(r->value);
		break;
	}
}

/* Hands out [lo, hi) minus the excluded ranges (sorted or not). */
static void ranges_excluding(uintptr_t lo, uintptr_t hi, const arch_range *ex, size_t nex,
			     gc_root_fn fn, void *arg)
{
	while (lo < hi) {
		uintptr_t next_ex = hi, skip_to = lo;
		for (size_t i = 0; i < nex; i++) {
			if (ex[i].end <= lo || ex[i].start >= hi)
				continue;
			if (ex[i].start <= lo) {
				skip_to = MAX(skip_to, ex[i].end);
			} else if (ex[i].start < next_ex) {
				next_ex = ex[i].start;
			}
		}
		if (skip_to > lo) {
			lo = skip_to;
			continue;
		}
		fn(&(gc_root){ .kind = GC_ROOT_GLOBALS, .lo = lo, .hi = next_ex }, arg);
		lo = next_ex;
	}
}

void gc_roots_globals(gc_root_fn fn, void *arg)
{
	/* The heap's and the collector's own state is bookkeeping: scanning
	 * it would keep whatever lies at the arena's first address alive. */
	arch_range ex[EXCLUDED_GLOBALS_MAX];
	size_t nex = heap_metadata_globals(ex, ARRAY_SIZE(ex) - 1);
	ex[nex++] = (arch_range){ (uintptr_t)&gc, (uintptr_t)(&gc + 1) };
	arch_range data = arch_data_range(), bss = arch_bss_range();
	ranges_excluding(data.start, data.end, ex, nex, fn, arg);
	ranges_excluding(bss.start, bss.end, ex, nex, fn, arg);
	for (size_t i = 0; i < extra_root_count; i++) {
		uintptr_t lo = (uintptr_t)extra_roots[i].start;
		fn(&(gc_root){ .kind = GC_ROOT_RUNTIME, .lo = lo, .hi = lo + extra_roots[i].bytes,
			       .name = extra_roots[i].name },
		   arg);
	}
}

void gc_roots_task(task *t, gc_root_fn fn, void *arg)
{
	uintptr_t lo, hi;
	fn(&(gc_root){ .kind = GC_ROOT_TASK_ARG, .value = (uintptr_t)task_start_arg(t), .task = t },
	   arg);
	if (task_stack_live_range(t, &lo, &hi) && lo < hi)
		fn(&(gc_root){ .kind = GC_ROOT_STACK, .lo = lo, .hi = hi, .task = t }, arg);
}

void gc_scan_globals(void)
{
	gc_roots_globals(gc_mark_root, NULL);
}

/* In checkmark mode: zeroes what lies below a switched-out task's saved
 * stack pointer. Those words are dead, but a later frame of the task may
 * leave some of them unwritten (an uninitialised local array) and so bring
 * them into its live range: the checkmark's rescan would then take a stale
 * address for a reference the concurrent mark missed. Zeroed now, every
 * word there at the rescan was written by the task after this scan. Words
 * still holding the stack's paint are left alone (stack_high_water reads
 * them), as are zero words: only dirty words are written. */
__attribute__((no_sanitize_address)) static void clear_dead_stack(task *t)
{
	if (t == task_self() || task_get_state(t) == TASK_DEAD)
		return;
	/* The saved stack pointer itself, not the live range (which is
	 * empty for the idle task, whose stack is still in use). */
	const arch_context *ctx = task_context(t);
	for (uintptr_t a = (uintptr_t)ctx->stack_base; a + sizeof(uintptr_t) <= ctx->sp;
	     a += sizeof(uintptr_t)) {
		volatile uintptr_t *w = (volatile uintptr_t *)a;
		if (*w != 0 && *w != MSTACK_PAINT)
			*w = 0;
	}
}

void gc_scan_task(task *t)
{
	if (gc_opt_checkmark && !gc.checkmarking)
		clear_dead_stack(t);
	gc_roots_task(t, gc_mark_root, NULL);
}

void gc_scan_stacks(uint64_t gen)
{
	for (;;) {
		/* The task found cannot run while we read its stack: with one
		 * CPU, preemption off means it stays switched out. */
		preempt_disable();
		task *t = sched_claim_unscanned(gen);
		if (t)
			gc_scan_task(t);
		preempt_enable();
		if (!t)
			return;
	}
}
