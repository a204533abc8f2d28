/*
 * gc/pacer.c - when to collect. After each cycle the goal is
 *     goal = live * (1 + gogc / 100)      (at least GC_MIN_HEAP)
 * capped by memlimit= (a soft limit: when live heap approaches it, cycles
 * run as often as needed, never more than back to back). The next cycle
 * starts at a trigger below the goal, so that marking, which runs while
 * mutators keep allocating, ends near the goal:
 *     trigger = live + (goal - live) * trigger_ratio
 * trigger_ratio adapts: a cycle that overshot its goal lowers it, one that
 * ended well under raises it (Go's pacer solves for it from measured scan
 * and allocation rates; this is the one-knob version). Allocating tasks
 * pay for marking while it runs: each allocated byte owes assist_ratio
 * bytes of scan work, so a fast allocator cannot outrun the collector.
 * A failed allocation is not counted. And when the page source runs dry,
 * mm/ asks for a collection right away through the reclaim hook below.
 * See gc/gc.c for the overview.
 */
#include "gc/gc_internal.h"

#define GC_MIN_HEAP (4UL << 20)
#define RATIO_ONE 1000 /* trigger_ratio in per-mille */

int64_t gc_opt_gogc = 100;
int64_t gc_opt_memlimit;
static int64_t trigger_permille = 700;

static bool parse_gogc(const cmdline_option *opt, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "off") == 0) {
		*(int64_t *)opt->target = -1;
		return true;
	}
	return cmdline_parse_int(opt, value, err, errlen);
}
CMDLINE_OPTION_(gc_opt_gogc, "gogc", parse_gogc, 1, 100000,
		"heap growth % before a collection (Go's GOGC); off (shown as -1) disables");
CMDLINE_INT(gc_opt_memlimit, "memlimit", 0, INT64_MAX,
	    "soft heap limit in bytes (k/m/g suffixes), 0 = none");

static void set_goal(uint64_t live)
{
	uint64_t goal;
	if (gc_opt_gogc < 0) {
		goal = UINT64_MAX / 2;
	} else {
		goal = live + live * (uint64_t)gc_opt_gogc / 100;
		if (goal < GC_MIN_HEAP)
			goal = GC_MIN_HEAP;
	}
	if (gc_opt_memlimit > 0 && goal > (uint64_t)gc_opt_memlimit) {
		/* Never below the live heap plus a little room: that would
		 * only collect back to back without freeing anything. */
		goal = MAX((uint64_t)gc_opt_memlimit, live + live / 16 + (256 << 10));
	}
	gc.heap_goal = goal;
	gc.heap_trigger = live + (goal - live) * (uint64_t)trigger_permille / RATIO_ONE;
	/* Scan work left is about the live heap; the distance to the goal is
	 * what mutators may allocate meanwhile. */
	uint64_t runway = goal > gc.heap_trigger ? goal - gc.heap_trigger : 1;
	gc.assist_ratio_x16 = MAX((live * 16) / runway, 16);
}

/* ---- out of memory: the heap's reclaim hook ---------------------------- */
/*
 * mm/ calls this when the page source is dry and its own free pages did not
 * suffice (mm/reclaim.c), with interrupts on and no mm lock held: so no
 * spinlock is held. A full collection (gc_collect: the running cycle is
 * finished, a new one runs, its sweep is finished) turns garbage into free
 * pages, which mm then returns to the page source.
 *
 * It collects only where blocking is safe (else it returns false and mm
 * only returns free pages): in a task that may block (preemption on, the
 * world running, not the idle task: sched_may_block), outside the
 * collector (its mark worker and sweeper would wait for themselves; the
 * finalizer task and mark termination are kept out too: gc_collect_allowed,
 * world stopped), and not recursively (an allocation inside gc_collect
 * must not collect again).
 * Deadlock: the task waits in gc_collect for the worker and the sweeper;
 * they never wait for a mutator, take no lock a blocked mutator holds
 * (none: interrupts were on), and never get here themselves; when they need
 * memory mm only returns free pages to them (step 1), it never makes them
 * wait.
 */
static task *reclaiming; /* the task inside the hook; interrupts off */

static bool reclaim_for_heap(void)
{
	if (!sched_may_block() || !gc_collect_allowed())
		return false;
	task *self = task_self();
	arch_irqflags_t irq = arch_irq_save();
	bool recursive = reclaiming == self;
	bool outer = reclaiming == NULL;
	if (outer)
		reclaiming = self;
	arch_irq_restore(irq);
	if (recursive)
		return false;
	/* Another task reclaiming at the same time is no reason to wait for
	 * it: gc_collect serialises the cycles by itself. */
	gc_collect();
	if (outer)
		reclaiming = NULL;
	return true;
}

void gc_pacer_init(void)
{
	set_goal(0);
	heap_set_reclaim_hook(reclaim_for_heap);
}

void gc_pacer_end_cycle(uint64_t peak)
{
	if (gc_opt_gogc >= 0 && gc.heap_goal < UINT64_MAX / 2) {
		if (peak > gc.heap_goal)
			trigger_permille = MAX(trigger_permille - 50, 400);
		else if (peak < gc.heap_goal - (gc.heap_goal - gc.heap_live) / 4)
			trigger_permille = MIN(trigger_permille + 25, 950);
	}
	set_goal(gc.heap_live);
}

/* Scan work this task still owes from allocating during marking. */
static int64_t assist_debt;

/* Proportional sweep (Go's deductSweepCredit): after a cycle, every
 * allocated byte owes a share of the sweeping, so that all spans are swept
 * well before the next trigger and garbage does not linger as "in use". */
static uint64_t sweep_spans_per_mib; /* set at each termination */
static uint64_t sweep_credit;        /* bytes allocated not yet paid for */

void gc_pacer_plan_sweep(uint64_t spans)
{
	uint64_t runway = gc.heap_trigger > gc.heap_live ? gc.heap_trigger - gc.heap_live : 1;
	/* Finish by half the runway; at least one span per MiB. */
	sweep_spans_per_mib = MAX(spans * 2 * (1 << 20) / MAX(runway, 1), 1);
	sweep_credit = 0;
}

static void sweep_proportionally(size_t size)
{
	sweep_credit += size;
	uint64_t owed = sweep_credit * sweep_spans_per_mib >> 20;
	if (owed == 0)
		return;
	sweep_credit = 0;
	if (heap_sweep_some((size_t)owed) == 0)
		sweep_spans_per_mib = 0; /* all swept: nothing owed until the next cycle */
}

/* What an allocation of `size` bytes really takes: its size class's slot,
 * or whole heap pages for a large object (the pacer's unit, like the mark
 * phase's marked bytes). Tiny requests are counted as asked. */
static size_t slot_bytes(size_t size)
{
	if (size == 0 || size < HEAP_TINY_SIZE)
		return size;
	if (size <= SIZECLASS_MAX_SIZE)
		return sizeclass_size[sizeclass_of(size)];
	return ALIGN_UP(size, MHEAP_PAGE_SIZE);
}

void gc_alloc_uncharge(gc_charge charge)
{
	/* Taken back only from the counters it went into: a cycle that began
	 * or ended meanwhile (in the heap's reclaim hook, say) has reset them. */
	arch_irqflags_t irq = arch_irq_save();
	if (gc.cycle == charge.cycle && gc.phase == charge.phase) {
		gc.alloc_since_mark -= MIN(charge.bytes, gc.alloc_since_mark);
		if (charge.phase != GC_PHASE_OFF)
			gc.alloc_black_bytes -= MIN(charge.bytes, gc.alloc_black_bytes);
	}
	arch_irq_restore(irq);
}

gc_charge gc_alloc_hook(size_t size)
{
	size = slot_bytes(size);
	gc_charge charge = { .cycle = gc.cycle, .phase = gc.phase, .bytes = size };
	gc.alloc_since_mark += size;
	if (gc.phase != GC_PHASE_OFF)
		gc.alloc_black_bytes += size; /* born marked: live at termination */
	/* A caller holding a spinlock (interrupts off) cannot start a cycle
	 * or assist: both may switch tasks. It pays nothing this time. */
	if (!arch_irq_enabled())
		return charge;
	gc_phase phase = gc.phase;
	if (phase == GC_PHASE_OFF && sweep_spans_per_mib)
		sweep_proportionally(size);
	if (phase == GC_PHASE_OFF) {
		if (gc.heap_live + gc.alloc_since_mark >= gc.heap_trigger && gc_opt_gogc >= 0)
			gc_start("heap trigger");
		return charge;
	}
	/* Waiting and assisting switch tasks: not with preemption off. */
	if (phase != GC_PHASE_MARK || !sched_may_block() || gc.test_held)
		return charge;
	/* Past the goal with marking still under way: the collector is
	 * behind. Wait for the cycle to end rather than grow the heap further
	 * (Go parks such assists on its assist queue). */
	if (gc.heap_live + gc.alloc_since_mark > gc.heap_goal) {
		gc_wait_for_cycle_end();
		return charge;
	}
	/* Assist: pay for this allocation with scan work. One debt for all
	 * tasks is enough with one CPU: whoever allocates pays. */
	assist_debt += (int64_t)(size * gc.assist_ratio_x16 / 16);
	if (assist_debt < 64 * 1024)
		return charge;
	uint64_t t0 = arch_nanotime();
	/* Preemption off while assisting: an object popped from the queue but
	 * only half scanned when the worker finds the queue empty would let
	 * mark termination miss the rest of its children. */
	preempt_disable();
	uint64_t done = gc_drain((uint64_t)assist_debt);
	preempt_enable();
	assist_debt -= (int64_t)done;
	gc_note_assist(done, arch_nanotime() - t0);
	if (assist_debt > 0) {
		/* Nothing grey left to scan: the worker is busy with roots.
		 * Give it the CPU instead of allocating further ahead. */
		assist_debt = 0;
		task_yield_reason(SWITCH_GC);
	}
	return charge;
}
