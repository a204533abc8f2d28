/*
 * demo/demo.h - the demos (one per topic of the study material), run by
 * `demo=NAME` on the command line, `make run DEMO=NAME`, the shell's `demo
 * NAME` and, all of them, by the boot tour. Each demo prints what it shows
 * and the numbers it measured, and leaves the numbers behind its conclusions in
 * demo_last, so tests/demo_test.c can check that they say what it says.
 */
#pragma once

#include "sched/sched.h"

/* Key numbers of the last demo run; only the part of that demo is set. */
typedef struct demo_result {
	struct { /* stack */
		uint64_t stack_ns_per_op, heap_ns_per_op;
		int overflow_status; /* join status of the overflowing task */
		bool kernel_went_on;
	} stack;
	struct { /* escape: escape_check reports with the pointer minus without */
		size_t local_kept, dangling;      /* a task's local kept in a heap object */
		size_t stored_local, stored_heap; /* obj.p = &x, x a local / gc_alloc'ed */
		size_t boxed_local, boxed_heap;   /* iface.data */
		size_t closure_stack, closure_heap; /* a closure's environment */
	} escape;
	struct { /* smallobjects: [0] many small, [1] pooled, [2] one array */
		uint64_t gc_cycles[3], pause_ns[3], allocs[3];
		unsigned gc_cpu_permille[3];
		uint64_t pool_drops; /* pool emptied because a GC ran */
		size_t kept[3], kept_pages[3]; /* kept records, pages they sit on */
		uint64_t frag_permille[3];     /* free share of those pages */
	} small;
	struct { /* globals */
		bool in_data, in_bss, heap_in_heap, stack_in_stack;
		bool survived;  /* the global-only object lived through gc_collect */
		bool unreferenced_freed; /* and the unreferenced one did not */
		int path_len;   /* why_alive */
	} globals;
	struct { /* heapobjects */
		size_t cases, sites_found;
	} heapobjects;
	struct { /* taskleak */
		size_t planted, leaks_found;
		size_t count_before, count_leaky, count_fixed; /* task_count() */
		uint32_t trend_peak;
	} taskleak;
	struct { /* gcphases */
		size_t samples, samples_marking;
		uint64_t max_grey, max_black, cycles;
		uint64_t pauses, pause_ns;
	} gcphases;
	struct { /* memleak */
		int path_list, path_chan, path_cycle; /* why_alive results */
		bool finalizer_ran;
		bool buffer_kept, cycle_kept;  /* allocated after two collections */
		bool payload_freed, buffer_freed, cycle_freed; /* after the fixes */
	} memleak;
	struct { /* switches: counted in this demo's scenarios */
		uint64_t counts[SWITCH_REASON_COUNT];
	} switches;
	struct { /* heapreuse */
		size_t records;             /* per round */
		size_t pages_round1;        /* distinct pages round 1's records sat on */
		uint64_t committed_round1;  /* pages backed anew during round 1 */
		uint64_t left_after_sweep;  /* round 1's records alive after gc_collect */
		size_t pages_round2;
		uint64_t committed_round2;
		size_t pages_reused;        /* of round 2's pages, round 1's */
		bool concluded_reuse;       /* the demo printed "reused" */
		size_t released;            /* pages mheap_scavenge unbacked */
		uint64_t frames_before, frames_after; /* page source, around it */
		uint64_t list_kept, list_left; /* list records alive with / without the word */
	} heapreuse;
} demo_result;
extern demo_result demo_last;

/* Runs demo `name`: 0 when it ran, -1 for an unknown name (the list is
 * printed), 1 when it ran and something it relies on failed. */
int demo_run(const char *name);
/* Every demo, briefly, one after the other; returns how many failed. */
int demo_tour(void);
/* Prints the demo names with one line each. */
void demo_list(void);

/* The `demo=` option: NULL unless given. */
extern const char *demo_selection;

/* The demos (demo/demo_*.c). */
int demo_stack(void);
int demo_escape(void);
int demo_smallobjects(void);
int demo_heapreuse(void);
int demo_globals(void);
int demo_heapobjects(void);
int demo_gcphases(void);
int demo_memleak(void);
int demo_taskleak(void);
int demo_switches(void);

/* Helpers shared by the demos (demo/demo.c). */
uint64_t demo_cycles_to_ns(uint64_t cycles);
/* Waits until t is blocked (or dead), yielding/sleeping 1 ms at a time. */
void demo_wait_blocked(task *t);
