/*
 * gc/roots.c - where marking starts: the kernel image's data and bss (the
 * globals; linker.ld exports their bounds), every task's stack from its
 * saved stack pointer to its top (which also covers the registers a switch
 * or an interrupt saved there), each task's start argument, and memory the
 * runtime registered with gc_add_root() (the heap's and the collector's own
 * bookkeeping globals excepted). All are scanned conservatively:
 * any word that points into an allocated object keeps it, interior
 * pointers included. See gc/gc.c for the overview.
 */
#include "gc/gc_internal.h"

#define EXTRA_ROOTS_MAX 64

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

void gc_scan_extra_roots(void)
{
	for (size_t i = 0; i < extra_root_count; i++) {
		uintptr_t lo = (uintptr_t)extra_roots[i].start;
		gc_scan_conservative(lo, lo + extra_roots[i].bytes, 0);
	}
}

/* Scans [lo, hi) minus the excluded ranges (sorted, disjoint or not). */
static void scan_excluding(uintptr_t lo, uintptr_t hi, const arch_range *ex, size_t nex)
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
		gc_scan_conservative(lo, next_ex, 0);
		lo = next_ex;
	}
}

void gc_scan_globals(void)
{
	/* The heap's and the collector's own state is bookkeeping: scanning
	 * it would keep whatever lies at the arena's first address alive. */
	arch_range ex[4];
	size_t nex = heap_metadata_globals(ex, 3);
	ex[nex++] = (arch_range){ (uintptr_t)&gc, (uintptr_t)(&gc + 1) };
	arch_range data = arch_data_range(), bss = arch_bss_range();
	scan_excluding(data.start, data.end, ex, nex);
	scan_excluding(bss.start, bss.end, ex, nex);
}

void gc_scan_task(task *t)
{
	uintptr_t lo, hi;
	gc_mark_ptr((uintptr_t)task_start_arg(t), 0);
	if (task_stack_live_range(t, &lo, &hi))
		gc_scan_conservative(lo, hi, 0);
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
