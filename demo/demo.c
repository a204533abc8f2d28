/*
 * demo/demo.c - the demo registry: `demo=NAME` on the command line,
 * demo_run for the shell and kernel_main, and the boot tour that runs every
 * demo once. The demos themselves live in demo/demo_*.c; each fills its
 * part of demo_last for tests/demo_test.c.
 */
#include "demo/demo.h"

#include "gc/gc.h"

demo_result demo_last;

const char *demo_selection;
CMDLINE_STRING(demo_selection, "demo", "run one demo (demo=list for the names) and exit");

typedef struct demo_entry {
	const char *name;
	int (*fn)(void);
	const char *what;
} demo_entry;

static const demo_entry demos[] = {
	{ "stack", demo_stack, "stack vs heap allocation cost; fixed-size stacks: an overflow caught by the guard region" },
	{ "escape", demo_escape, "what Go's escape analysis moves to the heap, what C does, what the escape checker flags" },
	{ "smallobjects", demo_smallobjects, "one object per item vs a GC-cleared pool vs one array: allocations, cycles, pauses, GC CPU, fragmentation" },
	{ "globals", demo_globals, "where globals, heap and stacks live; an object kept only by a global survives" },
	{ "heapobjects", demo_heapobjects, "the cases Go's escape analysis sends to the heap, each found at its site in the heap profile" },
	{ "taskleak", demo_taskleak, "tasks blocked forever: count climbing, profile, leak detector, the fixed version" },
	{ "gcphases", demo_gcphases, "one cycle phase by phase: barrier, STW pauses, colours during mark, sweep" },
	{ "memleak", demo_memleak, "memory kept by a global list, a blocked task, a finalizer cycle; why-alive paths" },
	{ "switches", demo_switches, "one scenario per context-switch reason, with the counters" },
	{ "heapreuse", demo_heapreuse, "swept spans' pages reused by the next round; scavenged pages; one word pinning a list" },
};

void demo_list(void)
{
	kprintf("demos (make run DEMO=name, demo=name, shell: demo name):\n");
	for (size_t i = 0; i < ARRAY_SIZE(demos); i++)
		kprintf("  %-13s %s\n", demos[i].name, demos[i].what);
}

int demo_run(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(demos); i++) {
		if (strcmp(name, demos[i].name) != 0)
			continue;
		kprintf("\n== demo %s: %s ==\n", demos[i].name, demos[i].what);
		uint64_t t0 = arch_nanotime();
		int r = demos[i].fn();
		kprintf("== demo %s %s in %llu ms ==\n", demos[i].name, r == 0 ? "done" : "FAILED",
			(unsigned long long)((arch_nanotime() - t0) / 1000000));
		return r == 0 ? 0 : 1;
	}
	if (strcmp(name, "list") != 0)
		kprintf("demo: no demo named '%s'\n", name);
	demo_list();
	return strcmp(name, "list") == 0 ? 0 : -1;
}

int demo_tour(void)
{
	int failed = 0;
	uint64_t t0 = arch_nanotime();
	kprintf("\n== tour: every demo once (timings under QEMU are emulated, not the "
		"hardware's speed) ==\n");
	for (size_t i = 0; i < ARRAY_SIZE(demos); i++)
		if (demo_run(demos[i].name) != 0)
			failed++;
	kprintf("\n== tour done: %zu demos, %d failed, %llu ms; `make run DEMO=name` runs one, "
		"`make test` the self-tests ==\n",
		ARRAY_SIZE(demos), failed, (unsigned long long)((arch_nanotime() - t0) / 1000000));
	return failed;
}

uint64_t demo_cycles_to_ns(uint64_t cycles)
{
	uint64_t hz = arch_cycles_per_sec();
	if (hz == 0)
		return 0;
	/* cycles * 1e9 / hz without overflowing 64 bits */
	return cycles / hz * 1000000000ULL + cycles % hz * 1000000000ULL / hz;
}

void demo_wait_blocked(task *t)
{
	for (int i = 0; i < 10000; i++) {
		task_state s = task_get_state(t);
		if (s == TASK_BLOCKED || s == TASK_DEAD)
			return;
		task_sleep(1000000);
	}
}
