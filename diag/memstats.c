/*
 * diag/memstats.c - the `memstats` view (Go's runtime.MemStats in one
 * screen): the heap (in use, live, goal, spans, pages), the page source,
 * metadata, task stacks, the collector (cycles, pauses, CPU fraction) and
 * the task count, gathered from the subsystems' own snapshot calls. Each
 * source is read once; the numbers of different sources may be a few
 * allocations apart.
 */
#include "diag/diag.h"
#include "gc/gc.h"
#include "sched/sched.h"


void memstats_read(memstats *out)
{
	gc_stats gs;
	gc_read_stats(&gs);
	/* heap_stats_info is 2.6 KiB: kept off task stacks. */
	static mutex hs_lock = MUTEX_INIT;
	static heap_stats_info hs; /* guarded by hs_lock */
	mutex_lock(&hs_lock);
	heap_stats_read(&hs);
	memstats m = {
		.heap_in_use = hs.bytes_in_use,
		.heap_alloc_total = hs.bytes_allocated,
		.heap_freed_total = hs.bytes_freed,
		.spans_in_use = hs.spans_in_use,
		.span_bytes = hs.span_bytes_in_use,
		.tail_waste = hs.tail_waste,
		.heap_pages_in_use = hs.pages_in_use,
		.heap_pages_free_committed = hs.pages_free_committed,
		.heap_pages_free_uncommitted = hs.pages_free_uncommitted,
		.meta_bytes = hs.meta_bytes,
	};
	mutex_unlock(&hs_lock);

	m.heap_live = gs.heap_live;
	m.heap_goal = gs.heap_goal;
	m.heap_trigger = gs.heap_trigger;
	m.gc_cycles = gs.cycles;
	m.gc_pause_total_ns = gs.pause_total_ns;
	m.gc_pause_max_ns = gs.pause_max_ns;
	m.gc_npauses = (size_t)MIN(gs.npauses, (uint64_t)MEMSTATS_PAUSES);
	for (size_t i = 0; i < m.gc_npauses; i++)
		m.gc_pauses_ns[i] = gs.pauses_ns[(gs.npauses - 1 - i) % GC_PAUSE_HISTORY];
	m.gc_cpu_permille = gc_cpu_permille();
	m.gc_freed_objects = gs.freed_objects;
	m.finalizers_run = gs.finalizers_run;
	m.gogc = gs.gogc;

	size_t stacks, stack_bytes;
	stack_usage(&stacks, &stack_bytes);
	m.stacks = stacks;
	m.stack_bytes = stack_bytes;
	m.frames_free = arch_free_pages();
	m.persistent_bytes = fixalloc_persistent_committed();
	m.tasks = task_count();
	m.uptime_ns = arch_nanotime();
	*out = m;
}

/* Bytes below 10 KiB, KiB below 10 MiB, else MiB. */
static void print_size(const char *label, uint64_t bytes)
{
	unsigned long long b = bytes;
	if (b < 10 * 1024)
		kprintf("  %-22s %10llu B\n", label, b);
	else if (b < 10 * 1024 * 1024)
		kprintf("  %-22s %10llu KiB\n", label, b >> 10);
	else
		kprintf("  %-22s %10llu MiB\n", label, b >> 20);
}

static void print_us(uint64_t ns)
{
	kprintf("%llu.%03llu ms", (unsigned long long)(ns / NS_PER_MS),
		(unsigned long long)(ns % NS_PER_MS / NS_PER_US));
}

void memstats_print(void)
{
	memstats m;
	memstats_read(&m);
	kprintf("memstats at %llu.%03llu s\n", (unsigned long long)(m.uptime_ns / 1000000000ULL),
		(unsigned long long)(m.uptime_ns / NS_PER_MS % 1000));
	kprintf(" heap\n");
	print_size("in use (slots)", m.heap_in_use);
	print_size("live at last GC", m.heap_live);
	print_size("next GC trigger", m.heap_trigger);
	print_size("goal", m.heap_goal);
	print_size("allocated, total", m.heap_alloc_total);
	print_size("freed, total", m.heap_freed_total);
	kprintf("  %-22s %10llu (%llu KiB, tail waste %llu KiB)\n", "spans in use",
		(unsigned long long)m.spans_in_use, (unsigned long long)(m.span_bytes >> 10),
		(unsigned long long)(m.tail_waste >> 10));
	kprintf("  %-22s %10llu in use, %llu free backed, %llu free returned\n",
		"heap pages (8 KiB)", (unsigned long long)m.heap_pages_in_use,
		(unsigned long long)m.heap_pages_free_committed,
		(unsigned long long)m.heap_pages_free_uncommitted);
	kprintf(" memory\n");
	kprintf("  %-22s %10llu (%llu MiB)\n", "free frames (4 KiB)",
		(unsigned long long)m.frames_free, (unsigned long long)(m.frames_free >> 8));
	print_size("heap metadata", m.meta_bytes);
	print_size("persistent (fixalloc)", m.persistent_bytes);
	kprintf("  %-22s %10llu (%llu KiB)\n", "task stacks", (unsigned long long)m.stacks,
		(unsigned long long)(m.stack_bytes >> 10));
	kprintf(" collector\n");
	kprintf("  %-22s %10llu", "cycles", (unsigned long long)m.gc_cycles);
	if (m.gogc < 0)
		kprintf(" (GOGC off)\n");
	else
		kprintf(" (GOGC=%lld)\n", (long long)m.gogc);
	kprintf("  %-22s ", "last pauses");
	for (size_t i = 0; i < m.gc_npauses; i++) {
		print_us(m.gc_pauses_ns[i]);
		kprintf(i + 1 < m.gc_npauses ? ", " : "");
	}
	kprintf("%s\n", m.gc_npauses ? "" : "none");
	kprintf("  %-22s ", "pause total / max");
	print_us(m.gc_pause_total_ns);
	kprintf(" / ");
	print_us(m.gc_pause_max_ns);
	kprintf("\n  %-22s %7u.%u %%\n", "GC CPU fraction", m.gc_cpu_permille / 10,
		m.gc_cpu_permille % 10);
	kprintf("  %-22s %10llu\n", "objects freed", (unsigned long long)m.gc_freed_objects);
	kprintf("  %-22s %10llu\n", "finalizers run", (unsigned long long)m.finalizers_run);
	kprintf(" tasks\n");
	kprintf("  %-22s %10zu\n", "live", m.tasks);
}
