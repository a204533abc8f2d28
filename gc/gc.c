/*
 * gc/gc.c - the collector: a concurrent tri-color mark-sweep collector
 * shaped like the Go runtime's (mgc.go). This file runs the cycle; the
 * other files of gc/ are its parts.
 *
 * Colours. Each heap object is white (mark bit clear), grey (marked, queued
 * for scanning: gc/mark.c) or black (marked and scanned, or marked and
 * pointer-free). Mark bits live beside each span's alloc bits (mm/).
 *
 * The cycle, started by gc_start() when the heap reaches the pacer's
 * trigger (gc/pacer.c) or by gc_collect():
 *
 *   0. sweep termination: the triggering task finishes sweeping the last
 *      cycle's spans, concurrently (world running), so every span's alloc
 *      bits are current before marking begins.
 *   1. mark setup (STW): stop the world, turn the write barrier and
 *      allocate-black on, number the cycle (every task stack becomes
 *      "not scanned in this cycle"), start the world. Nothing here is
 *      proportional to the heap or the task count: the roots are queued as
 *      jobs, not scanned.
 *   2. concurrent mark: the mark worker task (gc_worker, ~25% of the CPU:
 *      it works a slice, then sleeps three) scans the globals, the objects
 *      reachable from finalizable objects, then each task's stack while
 *      that task is switched out (preemption off for the length of one
 *      stack), then drains grey objects. Mutators run between slices,
 *      preempted by the timer; their pointer stores go through the hybrid
 *      barrier (gc/barrier.c), and allocations are born black and pay mark
 *      assists (gc/pacer.c).
 *   3. mark termination (STW): once no root job is left and the queue is
 *      empty, stop the world, drain what the barrier greyed meanwhile,
 *      resurrect and queue unreachable finalizable objects, optionally
 *      verify the mark (checkmark), turn the barrier and allocate-black
 *      off, flip the heap's sweep generation (every span now needs
 *      sweeping: its mark bits become its alloc bits when swept), set the
 *      next goal, start the world.
 *   4. concurrent sweep: the sweeper task sweeps spans in the background a
 *      few at a time; an mcentral sweeps a span lazily before handing it
 *      out (mm/sweep.c). Emptied spans go back to mheap.
 *
 * With gcstoptheworld=1 the whole cycle (mark and sweep) runs with the
 * world stopped, for comparison.
 *
 * Whichever task runs a stop-the-world phase or a worker slice is itself a
 * root (its stack is scanned like any other): it does so inside
 * arch_run_spilled, which pushes its callee-saved registers first, and its
 * stack counts from there up (gc/roots.c). That is Go's reason for running
 * the collector on the system stack: the goroutine that triggered it is
 * then just another stopped goroutine.
 *
 * Waits. Every switch the collector asks for is counted as SWITCH_GC, not
 * under the primitive it happens to use, and shows Go's wait reason: the
 * worker parked outside a mark phase ("GC worker (idle)") or pausing
 * between slices ("GC worker (active)"), the sweeper with nothing to sweep
 * ("GC sweep wait") or yielding between batches, the finalizer task
 * ("finalizer wait", gc/finalizer.c), a task waiting for a cycle to end
 * ("GC assist wait"; in gc_collect, "garbage collection") or yielding to
 * the worker in an assist (gc/pacer.c). Timer preemption of these tasks
 * stays SWITCH_PREEMPTED.
 *
 * States: phase OFF -> MARK (mark setup) -> MARK_TERM (termination, world
 * stopped) -> OFF. gc.barrier_on == (phase != OFF) at every point where the
 * world runs.
 */
#include "gc/gc_internal.h"

gc_state gc;

bool gc_opt_checkmark;
static bool gc_opt_trace, gc_opt_stw;
CMDLINE_BOOL(gc_opt_trace, "gctrace", "print one line per collection (Go's gctrace=1)");
CMDLINE_BOOL(gc_opt_checkmark, "gccheckmark",
	     "after each concurrent mark, re-mark with the world stopped and verify");
CMDLINE_BOOL(gc_opt_stw, "gcstoptheworld", "run whole collections with the world stopped");

#define WORKER_SLICE_NS (1000 * 1000ULL)        /* work this long ... */
#define WORKER_SLEEP_NS (3 * 1000 * 1000ULL)    /* ... then sleep this: 25% */
#define WORKER_DRAIN_CHUNK (64 * 1024)          /* scan bytes between clock reads */

/* guarded by gc_lock */
static spinlock gc_lock = SPINLOCK_INIT("gc", LOCK_RANK_GC);
static waitq worker_wait, sweeper_wait, cycle_waiters;
static task *worker_task, *sweeper_task;
static bool gc_ready;

/* statistics, guarded by gc_lock */
static uint64_t cycles_done, pause_total, pause_max, npauses, mark_ns_total, gc_cpu_ns,
	assist_bytes, marked_total;
static uint64_t pauses[GC_PAUSE_HISTORY];
static uint64_t cycle_start_ns, mark_start_ns, stw1_ns, heap_at_start, peak_in_cycle;

static void record_pause(uint64_t ns)
{
	spin_lock(&gc_lock);
	pauses[npauses % GC_PAUSE_HISTORY] = ns;
	npauses++;
	pause_total += ns;
	if (ns > pause_max)
		pause_max = ns;
	gc_cpu_ns += ns;
	spin_unlock(&gc_lock);
}

void gc_note_assist(uint64_t bytes, uint64_t ns)
{
	spin_lock(&gc_lock);
	assist_bytes += bytes;
	gc_cpu_ns += ns;
	spin_unlock(&gc_lock);
}

/* Run at every mark termination, world stopped (gc_set_termination_hook). */
static void (*gc_termination_hook)(void);

void gc_set_termination_hook(void (*fn)(void))
{
	gc_termination_hook = fn;
}

gc_phase gc_get_phase(void)
{
	return gc.phase;
}

uint64_t gc_cycle(void)
{
	return gc.cycle;
}

static uint64_t heap_now(void)
{
	return gc.heap_live + gc.alloc_since_mark;
}

/* ---- sweep ---------------------------------------------------------------- */
static void finish_sweep(void)
{
	heap_finish_sweep();
}

static void sweeper_main(void *unused)
{
	(void)unused;
	for (;;) {
		spin_lock(&gc_lock);
		while (heap_sweep_done() || gc.phase != GC_PHASE_OFF) {
			sched_block_on(&sweeper_wait, &gc_lock, SWITCH_GC,
				       WAIT_REASON_GC_SWEEP_WAIT, &sweeper_wait);
			spin_lock(&gc_lock);
		}
		spin_unlock(&gc_lock);
		/* A few spans at a time, then let mutators run. */
		uint64_t t0 = arch_nanotime();
		heap_sweep_some(8);
		uint64_t dt = arch_nanotime() - t0;
		spin_lock(&gc_lock);
		gc_cpu_ns += dt;
		spin_unlock(&gc_lock);
		task_yield_reason(SWITCH_GC);
	}
}

/* ---- marking ---------------------------------------------------------------- */
/* One root job, or a chunk of grey objects; false when nothing is left. */
static bool mark_some(void)
{
	if (!gc.globals_scanned) {
		gc_scan_globals();
		gc.globals_scanned = true;
		return true;
	}
	if (!gc.finalizer_roots_scanned) {
		gc_finalizer_scan_roots();
		gc.finalizer_roots_scanned = true;
		return true;
	}
	if (!gc.all_stacks_scanned) {
		preempt_disable();
		task *t = sched_claim_unscanned(gc.cycle);
		if (t)
			gc_scan_task(t);
		preempt_enable();
		if (!t)
			gc.all_stacks_scanned = true;
		return true;
	}
	/* A chunk at a time with preemption off: no mutator runs while an
	 * object is half scanned (it could free it, in tests, or race the
	 * termination check); between chunks, mutators get the CPU. */
	preempt_disable();
	uint64_t done = gc_drain(WORKER_DRAIN_CHUNK);
	preempt_enable();
	return done > 0;
}

static void mark_termination(void);

/* A cycle driven by a test (gc_test_*): what termination reports back. */
static const void *const *test_watch;
static bool *test_marked;
static size_t test_nwatch, test_missed;

/* One slice of the worker's marking; ends the mark phase when nothing is
 * left. Runs spilled: the worker's own stack is one of the roots it may
 * claim (and mark termination scans the stopping task's). */
static void worker_slice(void *more_out)
{
	bool *more = more_out;
	uint64_t t0 = arch_nanotime();
	*more = true;
	while (*more && arch_nanotime() - t0 < WORKER_SLICE_NS)
		*more = mark_some();
	spin_lock(&gc_lock);
	gc_cpu_ns += arch_nanotime() - t0;
	spin_unlock(&gc_lock);
	if (!*more)
		mark_termination();
}

static void worker_main(void *unused)
{
	(void)unused;
	for (;;) {
		spin_lock(&gc_lock);
		while (gc.phase != GC_PHASE_MARK || gc.test_held) {
			sched_block_on(&worker_wait, &gc_lock, SWITCH_GC,
				       WAIT_REASON_GC_WORKER_IDLE, &worker_wait);
			spin_lock(&gc_lock);
		}
		spin_unlock(&gc_lock);

		bool more;
		arch_run_spilled(worker_slice, &more);
		if (more)
			task_sleep_reason(WORKER_SLEEP_NS, SWITCH_GC,
					  WAIT_REASON_GC_WORKER_ACTIVE);
	}
}

/* ---- the cycle ------------------------------------------------------------- */
static void mark_setup_locked_world(void)
{
	ASSERT_WORLD_STOPPED();
	gc.cycle++;
	gc.globals_scanned = false;
	gc.finalizer_roots_scanned = false;
	gc.all_stacks_scanned = false;
	gc.marked_bytes = 0;
	gc.scan_work = 0;
	gc.alloc_black_bytes = 0;
	sched_begin_stack_scan(gc.cycle);
	heap_set_alloc_black(true);
	gc.barrier_on = true;
	gc.phase = GC_PHASE_MARK;
}

static void stw_mark_and_terminate(void *unused)
{
	(void)unused;
	while (mark_some())
		;
	gc_scan_stacks(gc.cycle);
	mark_termination();
}

/* 0. sweep termination and 1. mark setup: returns with the world stopped
 * and the cycle numbered, or false (world running) if another task started
 * a cycle first. */
static bool begin_cycle(void)
{
	/* 0. sweep termination, concurrently. Marking must not begin while
	 * any span is unswept (a lazy sweep during marking would turn this
	 * cycle's half-set mark bits into alloc bits), and another task may
	 * run a whole cycle, flip and all, between our sweep and our stop:
	 * so check again with the world stopped, and sweep again if needed. */
	for (;;) {
		finish_sweep();
		if (gc.phase != GC_PHASE_OFF)
			return false; /* another task started one while we swept */
		stop_the_world("GC mark setup");
		if (gc.phase != GC_PHASE_OFF) {
			start_the_world();
			return false;
		}
		if (heap_sweep_complete())
			break;
		start_the_world();
	}
	cycle_start_ns = arch_nanotime();
	heap_at_start = heap_now();
	peak_in_cycle = heap_at_start;
	mark_setup_locked_world();
	return true;
}

void gc_start(const char *why)
{
	(void)why;
	if (!gc_ready || gc.phase != GC_PHASE_OFF || world_stopped() || !begin_cycle())
		return;
	if (gc_opt_stw) {
		/* The whole cycle with the world stopped, on this task: its
		 * own stack is a root, so its registers go on it first. */
		arch_run_spilled(stw_mark_and_terminate, NULL);
		return;
	}
	start_the_world();
	stw1_ns = stw_last_pause_ns();
	record_pause(stw1_ns);
	mark_start_ns = arch_nanotime();
	spin_lock(&gc_lock);
	waitq_wake_all(&worker_wait);
	spin_unlock(&gc_lock);
}

/* What one gctrace line reports, captured with the world still stopped
 * (once it runs, the next cycle may already have begun). */
typedef struct cycle_report {
	uint64_t cycle, at_ns, stw1_ns, mark_ns, start, peak, live, goal, tasks;
} cycle_report;

static void print_trace(const cycle_report *r, uint64_t stw2)
{
	kprintf("gc %llu @%llu.%03llus %u%%: %llu.%03llu+%llu.%03llu+%llu.%03llu ms clock, "
		"%llu->%llu->%llu KiB, %llu KiB goal, %llu tasks%s\n",
		(unsigned long long)r->cycle, (unsigned long long)(r->at_ns / 1000000000ULL),
		(unsigned long long)(r->at_ns / 1000000 % 1000), gc_cpu_permille() / 10,
		(unsigned long long)(r->stw1_ns / 1000000),
		(unsigned long long)(r->stw1_ns / 1000 % 1000),
		(unsigned long long)(r->mark_ns / 1000000),
		(unsigned long long)(r->mark_ns / 1000 % 1000),
		(unsigned long long)(stw2 / 1000000), (unsigned long long)(stw2 / 1000 % 1000),
		(unsigned long long)(r->start >> 10), (unsigned long long)(r->peak >> 10),
		(unsigned long long)(r->live >> 10), (unsigned long long)(r->goal >> 10),
		(unsigned long long)r->tasks, gc_opt_stw ? " (stop-the-world)" : "");
}

static void mark_termination(void)
{
	if (!world_stopped())
		stop_the_world("GC mark termination");
	uint64_t mark_ns = gc_opt_stw ? 0 : arch_nanotime() - mark_start_ns;
	gc.phase = GC_PHASE_MARK_TERM;
	/* Roots the worker may not have reached (tasks born late), then
	 * whatever the barrier greyed since the worker's last look. */
	if (!gc.globals_scanned || !gc.finalizer_roots_scanned)
		while (mark_some() && !gc.all_stacks_scanned)
			;
	gc_scan_stacks(gc.cycle);
	while (gc_drain(UINT64_MAX) > 0)
		;
	gc_finalizer_collect();
	while (gc_drain(UINT64_MAX) > 0)
		;
	if (gc_opt_checkmark) {
		size_t missed = gc_checkmark_verify();
		if (gc.test_held)
			test_missed = missed;
		else if (missed)
			panic("checkmark: the concurrent mark missed %zu reachable object(s)", missed);
	}
	if (gc_termination_hook)
		gc_termination_hook();
	for (size_t i = 0; i < test_nwatch; i++)
		test_marked[i] = gc_inspect_marked(test_watch[i]);

	gc.barrier_on = false;
	uint64_t peak = heap_now();
	if (peak > peak_in_cycle)
		peak_in_cycle = peak;
	/* Live: what marking reached plus what was born black meanwhile (Go
	 * counts new objects in bytesMarked the same way). */
	gc.heap_live = gc.marked_bytes + gc.alloc_black_bytes;
	gc.alloc_since_mark = 0;
	gc_pacer_end_cycle(peak_in_cycle);
	/* Flip the sweep generation first: the mcaches it flushes hold spans
	 * with objects born black, legal only while "marking" is still on. */
	heap_begin_sweep();
	heap_set_alloc_black(false);
	gc_pacer_plan_sweep(heap_spans_in_use());
	if (gc_opt_stw)
		finish_sweep();
	gc.phase = GC_PHASE_OFF;

	cycle_report report = {
		.cycle = gc.cycle, .at_ns = cycle_start_ns, .stw1_ns = stw1_ns,
		.mark_ns = mark_ns, .start = heap_at_start, .peak = peak_in_cycle,
		.live = gc.heap_live, .goal = gc.heap_goal, .tasks = task_count(),
	};
	spin_lock(&gc_lock);
	cycles_done++;
	marked_total += gc.marked_bytes;
	mark_ns_total += mark_ns;
	waitq_wake_all(&cycle_waiters);
	waitq_wake_all(&sweeper_wait);
	spin_unlock(&gc_lock);
	start_the_world();
	uint64_t stw2 = stw_last_pause_ns();
	if (gc_opt_stw)
		stw2 = arch_nanotime() - cycle_start_ns;
	record_pause(stw2);
	if (gc_opt_trace)
		print_trace(&report, stw2);
}

void gc_wait_for_cycle_end(void)
{
	spin_lock(&gc_lock);
	uint64_t target = cycles_done + 1;
	while (cycles_done < target && gc.phase != GC_PHASE_OFF) {
		sched_block_on(&cycle_waiters, &gc_lock, SWITCH_GC, WAIT_REASON_GC_ASSIST_WAIT,
			       &cycle_waiters);
		spin_lock(&gc_lock);
	}
	spin_unlock(&gc_lock);
}

bool gc_set_stop_the_world(bool on)
{
	while (gc.phase != GC_PHASE_OFF)
		gc_wait_for_cycle_end();
	bool old = gc_opt_stw;
	gc_opt_stw = on;
	return old;
}

void gc_collect(void)
{
	if (!gc_ready)
		return;
	ASSERT(!world_stopped());
	for (int round = 0; round < 2; round++) {
		/* Round 0 lets a running cycle end (its roots were taken
		 * before our caller's latest changes); round 1 is ours. */
		spin_lock(&gc_lock);
		uint64_t target = cycles_done + 1;
		bool running = gc.phase != GC_PHASE_OFF;
		spin_unlock(&gc_lock);
		if (round == 0 && !running)
			continue;
		if (!running)
			gc_start("gc_collect");
		spin_lock(&gc_lock);
		while (cycles_done < target) {
			sched_block_on(&cycle_waiters, &gc_lock, SWITCH_GC,
				       WAIT_REASON_GARBAGE_COLLECTION, &cycle_waiters);
			spin_lock(&gc_lock);
		}
		spin_unlock(&gc_lock);
	}
	finish_sweep();
}

bool gc_collect_allowed(void)
{
	task *self = task_self();
	/* A cycle a test holds ends only when that test ends it. */
	return gc_ready && !gc.test_held && self != worker_task &&
	       self != sweeper_task && !gc_finalizer_is_task(self);
}

void gc_init(void)
{
	gc_work_init();
	gc_pacer_init();
	gc_finalizer_init();
	worker_task = task_spawn(worker_main, NULL, "gc worker");
	sweeper_task = task_spawn(sweeper_main, NULL, "gc sweeper");
	if (!worker_task || !sweeper_task)
		panic("gc: cannot start the collector's tasks: %s", heap_last_error());
	task_detach(worker_task);
	task_detach(sweeper_task);
	gc_ready = true;
}

/* ---- statistics ---------------------------------------------------------- */
void gc_read_stats(gc_stats *out)
{
	heap_stats_info hs;
	heap_stats_read(&hs);
	uint64_t swept_spans, freed_objects, freed_bytes;
	heap_sweep_stats(&swept_spans, &freed_objects, &freed_bytes);
	spin_lock(&gc_lock);
	*out = (gc_stats){
		.cycles = cycles_done,
		.phase = gc.phase,
		.heap_live = gc.heap_live,
		.heap_in_use = hs.bytes_in_use,
		.heap_goal = gc.heap_goal,
		.heap_trigger = gc.heap_trigger,
		.pause_total_ns = pause_total,
		.pause_max_ns = pause_max,
		.npauses = npauses,
		.mark_ns_total = mark_ns_total,
		.gc_cpu_ns = gc_cpu_ns,
		.uptime_ns = arch_nanotime(),
		.assist_bytes = assist_bytes,
		.marked_bytes_total = marked_total,
		.freed_objects = freed_objects,
		.gogc = gc_opt_gogc,
		.memlimit = (uint64_t)gc_opt_memlimit,
	};
	memcpy(out->pauses_ns, pauses, sizeof(pauses));
	spin_unlock(&gc_lock);
	out->finalizers_run = gc_finalizers_run_count();
}

unsigned gc_cpu_permille(void)
{
	uint64_t up = arch_nanotime();
	return up ? (unsigned)(gc_cpu_ns * 1000 / up) : 0;
}

/* ---- a cycle driven step by step (tests) ------------------------------------ */
static bool test_saved_checkmark;

void gc_test_cycle_begin(bool checkmark)
{
	ASSERT(gc_ready && !world_stopped());
	for (;;) {
		while (gc.phase != GC_PHASE_OFF)
			gc_wait_for_cycle_end();
		if (begin_cycle())
			break;
	}
	gc.test_held = true; /* before the world restarts: no worker slice */
	test_saved_checkmark = gc_opt_checkmark;
	gc_opt_checkmark = checkmark;
	start_the_world();
	stw1_ns = stw_last_pause_ns();
	record_pause(stw1_ns);
	mark_start_ns = arch_nanotime();
}

void gc_test_scan_globals(void)
{
	ASSERT(gc.test_held && !gc.globals_scanned);
	preempt_disable();
	gc_scan_globals();
	gc.globals_scanned = true;
	preempt_enable();
}

static void test_scan_task(void *t)
{
	if (sched_claim_task_for_scan(t, gc.cycle))
		gc_scan_task(t);
}

void gc_test_scan_task(task *t)
{
	ASSERT(gc.test_held);
	preempt_disable();
	arch_run_spilled(test_scan_task, t);
	preempt_enable();
}

void gc_test_drain(void)
{
	ASSERT(gc.test_held);
	preempt_disable();
	while (gc_drain(UINT64_MAX) > 0)
		;
	preempt_enable();
}

static void test_terminate(void *unused)
{
	(void)unused;
	mark_termination();
}

size_t gc_test_cycle_end(const void *const *watch, bool *marked, size_t n)
{
	ASSERT(gc.test_held && gc.phase == GC_PHASE_MARK);
	test_watch = watch;
	test_marked = marked;
	test_nwatch = n;
	test_missed = 0;
	arch_run_spilled(test_terminate, NULL);
	test_nwatch = 0;
	gc_opt_checkmark = test_saved_checkmark;
	gc.test_held = false;
	return test_missed;
}
