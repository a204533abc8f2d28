/*
 * tests/demo_test.c - every demo runs to completion (demo_run returns 0)
 * and the numbers behind what it concludes, left in demo_last, say what the
 * demo says. No timing checks: CI runs these emulated on a loaded machine.
 * Each must pass alone (tests=demo.NAME) and after any other suite.
 */
#include "demo/demo.h"
#include "lib/lib.h"

TEST(demo, unknown_name_fails)
{
	CHECK_EQ(demo_run("no-such-demo"), -1);
	CHECK_EQ(demo_run("list"), 0);
}

TEST(demo, stack)
{
	CHECK_EQ(demo_run("stack"), 0);
	CHECK_EQ(demo_last.stack.overflow_status, TASK_EXIT_FAULT);
	CHECK(demo_last.stack.kernel_went_on);
}

TEST(demo, escape)
{
	CHECK_EQ(demo_run("escape"), 0);
	/* Each pointer into a stack is one report of the escape checker, and
	 * each gc_alloc'ed version none (counted with the pointer stored
	 * minus without it, so the rest of the heap does not matter). */
	CHECK_EQ(demo_last.escape.local_kept, 1);
	CHECK_EQ(demo_last.escape.dangling, 1);
	CHECK_EQ(demo_last.escape.stored_local, 1);
	CHECK_EQ(demo_last.escape.stored_heap, 0);
	CHECK_EQ(demo_last.escape.boxed_local, 1);
	CHECK_EQ(demo_last.escape.boxed_heap, 0);
	CHECK_EQ(demo_last.escape.closure_stack, 1);
	CHECK_EQ(demo_last.escape.closure_heap, 0);
}

TEST(demo, smallobjects)
{
	CHECK_EQ(demo_run("smallobjects"), 0);
	const typeof(demo_last.small) *r = &demo_last.small;
	/* 60000 items, every 64th kept: 938 kept records each way */
	for (int k = 0; k < 3; k++)
		CHECK_EQ(r->kept[k], 938);
	/* one allocation per item vs about one per kept record (the pool
	 * also refills after each GC drop, the array is one more) */
	CHECK_GE(r->allocs[0], 60000);
	CHECK_GE(r->allocs[1], r->kept[1]);
	CHECK_LT(r->allocs[1] * 10, r->allocs[0]);
	CHECK_GE(r->allocs[2], r->kept[2] + 1);
	CHECK_LT(r->allocs[2] * 10, r->allocs[0]);
	CHECK_GE(r->gc_cycles[0], 1); /* 7.5 MiB through a 4 MiB goal */
	CHECK_EQ(r->gc_cycles[2], 0);
	CHECK_GE(r->pool_drops, 1); /* the pool is cleared by GCs */
	/* What the demo concludes about fragmentation: the kept records of
	 * the per-item run are spread thin, the others packed (64 to a page;
	 * a partly used span the mcache starts from may add one page, the
	 * pool's refills after a drop another). */
	CHECK_GT(r->frag_permille[0], r->frag_permille[1]);
	CHECK_GT(r->frag_permille[0], r->frag_permille[2]);
	CHECK_GT(r->kept_pages[0], r->kept_pages[1]);
	CHECK_LE(r->kept_pages[1], 938 / 64 + 3);
	CHECK_LE(r->kept_pages[2], 938 / 64 + 2);
}

TEST(demo, globals)
{
	CHECK_EQ(demo_run("globals"), 0);
	CHECK(demo_last.globals.in_data);
	CHECK(demo_last.globals.in_bss);
	CHECK(demo_last.globals.heap_in_heap);
	CHECK(demo_last.globals.stack_in_stack);
	CHECK(demo_last.globals.survived);
	CHECK(demo_last.globals.unreferenced_freed);
	CHECK_EQ(demo_last.globals.path_len, 2); /* g_only_root -> a -> b */
}

TEST(demo, heapobjects)
{
	CHECK_EQ(demo_run("heapobjects"), 0);
	CHECK_EQ(demo_last.heapobjects.sites_found, demo_last.heapobjects.cases);
}

TEST(demo, taskleak)
{
	CHECK_EQ(demo_run("taskleak"), 0);
	/* conservative stack scanning may hide a few; most are found */
	CHECK_GE(demo_last.taskleak.leaks_found, demo_last.taskleak.planted / 2);
	CHECK_LE(demo_last.taskleak.leaks_found, demo_last.taskleak.planted);
	CHECK_GE(demo_last.taskleak.count_leaky,
		 demo_last.taskleak.count_before + demo_last.taskleak.planted);
	CHECK_GE(demo_last.taskleak.trend_peak, demo_last.taskleak.count_leaky);
	CHECK_EQ(demo_last.taskleak.count_fixed, 0); /* flat after cancel */
}

TEST(demo, gcphases)
{
	CHECK_EQ(demo_run("gcphases"), 0);
	CHECK_GE(demo_last.gcphases.cycles, 1);
	CHECK_GE(demo_last.gcphases.pauses, 2); /* mark setup + termination */
	CHECK_GE(demo_last.gcphases.samples, 1);
}

TEST(demo, memleak)
{
	CHECK_EQ(demo_run("memleak"), 0);
	CHECK_GE(demo_last.memleak.path_list, 2); /* global -> entries -> payload */
	CHECK_GE(demo_last.memleak.path_chan, 1); /* task frame -> buffer */
	CHECK_EQ(demo_last.memleak.path_cycle, 2); /* a's finalizer root -> b -> a */
	/* what the demo says: the cycle outlives two collections, its
	 * finalizer never runs, and after the fixes all three are freed */
	CHECK(demo_last.memleak.buffer_kept);
	CHECK(demo_last.memleak.cycle_kept);
	CHECK(!demo_last.memleak.finalizer_ran);
	CHECK(demo_last.memleak.payload_freed);
	CHECK(demo_last.memleak.buffer_freed);
	CHECK(demo_last.memleak.cycle_freed);
}

TEST(demo, switches)
{
	CHECK_EQ(demo_run("switches"), 0);
	static const switch_reason reasons[] = {
		SWITCH_CHAN_RECV, SWITCH_MUTEX, SWITCH_WAITGROUP, SWITCH_COND,
		SWITCH_SELECT,    SWITCH_SEMAPHORE, SWITCH_SLEEP, SWITCH_YIELD,
		SWITCH_PREEMPTED,
	};
	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++)
		CHECK_MSG(demo_last.switches.counts[reasons[i]] > 0, "no %s switch",
			  switch_reason_name(reasons[i]));
}

TEST(demo, heapreuse)
{
	CHECK_EQ(demo_run("heapreuse"), 0);
	const typeof(demo_last.heapreuse) *r = &demo_last.heapreuse;
	/* 128 records of 128 bytes fill a one-page span */
	CHECK_GE(r->pages_round1, r->records / 64);
	/* Nothing but the global array (cleared by the exited task) ever
	 * held a record, so the collection frees all of round 1, and the
	 * same requests are served from its still-backed pages: nothing
	 * backed anew, every page one of round 1's. This is what the demo
	 * prints as "reused". */
	CHECK_EQ(r->left_after_sweep, 0);
	CHECK_EQ(r->committed_round2, 0);
	CHECK_EQ(r->pages_reused, r->pages_round2);
	CHECK(r->concluded_reuse);
	/* mheap_scavenge unbacks at least round 2's pages, and the page
	 * source gets their frames back */
	CHECK_GE(r->released, r->pages_round2);
	CHECK_GE(r->frames_after, r->frames_before + r->released * MHEAP_ARCH_PAGES_PER_PAGE);
	/* one word pointing at the head keeps every record of the list */
	CHECK_GE(r->list_kept, r->records);
	CHECK_EQ(r->list_left, 0);
}
