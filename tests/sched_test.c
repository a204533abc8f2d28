/*
 * sched_test.c - the scheduler core: spawning and joining, timer preemption
 * of a task that never yields, fairness between busy tasks, sleeping,
 * preempt_disable, stop-the-world, and tasks dying by fault, panic or stack
 * overflow while the kernel and the other tasks go on. Nothing here
 * assumes how much time passes: on a loaded host the (v)CPU may stop for
 * many milliseconds and ticks get merged, so fairness is judged in quanta
 * (each task's count of timer preemptions, which a round-robin queue keeps
 * in step whatever the ticks' spacing), and a sleep's lateness in ticks
 * (the first tick past its deadline must wake it), with time used only for
 * lower bounds (a sleep never ends early).
 */
#include "sched/sched.h"
#include "tests/task_test_util.h"
#include "lib/lib.h"

static void set_flag(void *arg)
{
	*(volatile int *)arg = 1;
}

TEST(sched, spawn_join)
{
	volatile int flag = 0;
	/* Preemption off: no other task (a straggler from an earlier test)
	 * can end between the two counts. */
	preempt_disable();
	size_t before = task_count();
	task *t = task_spawn(set_flag, (void *)&flag, "setter");
	CHECK(t);
	CHECK_EQ(task_count(), before + 1);
	CHECK_EQ(task_get_state(t), TASK_RUNNABLE);
	preempt_enable();
	CHECK_EQ(task_join(t), 0);
	CHECK_EQ(flag, 1);
	CHECK_LE(task_count(), before);
}

static void exit_with(void *arg)
{
	task_exit((int)(uintptr_t)arg);
}

TEST(sched, exit_status)
{
	task *t = task_spawn(exit_with, (void *)42, "exit42");
	CHECK(t);
	CHECK_EQ(task_join(t), 42);
}

static void spin_until(void *arg)
{
	volatile int *stop = arg;
	while (!*stop)
		; /* never yields: only the timer can take the CPU away */
}

/* The main task spawns a busy task and yields to it; it comes back only if
 * the timer preempts the spinner. */
TEST(sched, preempts_busy_task)
{
	volatile int stop = 0;
	task *t = task_spawn(spin_until, (void *)&stop, "spinner");
	CHECK(t);
	task_yield();
	/* Back here: the spinner was preempted (it cannot have ended). */
	task_info info;
	task_get_info(t, &info);
	CHECK_EQ(info.state, TASK_RUNNABLE);
	CHECK_GE(info.switches[SWITCH_PREEMPTED], 1);
	CHECK_EQ(info.switches[SWITCH_YIELD], 0);
	stop = 1;
	CHECK_EQ(task_join(t), 0);
}

struct fair_arg {
	volatile int *stop;
	volatile uint64_t count;
};

static void count_busily(void *arg)
{
	struct fair_arg *a = arg;
	while (!*a->stop)
		a->count++;
}

/*
 * N busy tasks that never yield. The run queue is FIFO and the timer
 * preempts each after a quantum of Q delivered ticks, so they take turns in
 * a fixed cycle: their turn counts (timer preemptions) are never more than
 * one apart, and each turn is exactly Q ticks long, however the ticks are
 * spaced in time (other tasks joining the queue, main included, do not
 * change the busy tasks' order). A tick handler in front of the
 * scheduler's charges each tick to the task it interrupts. Checked exactly,
 * in one snapshot taken while none of them runs.
 */
enum { FAIR_N = 4, FAIR_ROUNDS = 10 };

static struct {
	task *volatile task[FAIR_N];
	volatile uint64_t ticks[FAIR_N];
	arch_tick_fn scheduler_tick;
} fair;

static void charge_tick(void)
{
	task *now = task_self();
	for (int i = 0; i < FAIR_N; i++)
		if (fair.task[i] == now)
			fair.ticks[i]++;
	fair.scheduler_tick();
}

TEST(sched, fairness)
{
	enum { N = FAIR_N, ROUNDS = FAIR_ROUNDS };
	volatile int stop = 0;
	struct fair_arg args[N];
	task *tasks[N];
	/* Interrupts off: our handler must not run before it knows whom to
	 * chain to. */
	arch_irqflags_t irq = arch_irq_save();
	fair.scheduler_tick = arch_set_tick_handler(charge_tick);
	arch_irq_restore(irq);
	CHECK(fair.scheduler_tick);
	preempt_disable(); /* all spawned (and charged) before any runs */
	for (int i = 0; i < N; i++) {
		args[i] = (struct fair_arg){ .stop = &stop };
		fair.ticks[i] = 0;
		fair.task[i] = tasks[i] = task_spawn(count_busily, &args[i], "busy");
	}
	preempt_enable();
	bool spawned = true;
	for (int i = 0; i < N; i++)
		spawned &= tasks[i] != NULL;
	if (!spawned) { /* stop and reap the others first */
		stop = 1;
		for (int i = 0; i < N; i++)
			if (tasks[i])
				task_join(tasks[i]);
		arch_set_tick_handler(fair.scheduler_tick);
		CHECK_MSG(false, "task_spawn: %s", heap_last_error());
	}
	uint64_t t0 = arch_nanotime(), turns = 0, ticks[N];
	task_info info[N];
	for (;;) {
		/* One snapshot: no switch, no tick charged, in between. */
		preempt_disable();
		irq = arch_irq_save();
		turns = 0;
		for (int i = 0; i < N; i++) {
			task_get_info(tasks[i], &info[i]);
			turns += info[i].switches[SWITCH_PREEMPTED];
			ticks[i] = fair.ticks[i];
		}
		arch_irq_restore(irq);
		bool done = turns >= (uint64_t)N * ROUNDS ||
			    arch_nanotime() - t0 >= TEST_WAIT_LIMIT_NS;
		if (done)
			stop = 1;
		preempt_enable();
		if (done)
			break;
		task_yield(); /* back after a turn of each busy task */
	}
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	arch_set_tick_handler(fair.scheduler_tick);
	for (int i = 0; i < N; i++)
		fair.task[i] = NULL;
	CHECK_MSG(turns >= (uint64_t)N * ROUNDS, "%llu turns after %llu s",
		  (unsigned long long)turns, TEST_WAIT_LIMIT_NS / 1000000000ULL);
	uint64_t lo = UINT64_MAX, hi = 0;
	uint64_t q = ticks[0] / info[0].switches[SWITCH_PREEMPTED];
	for (int i = 0; i < N; i++) {
		uint64_t t = info[i].switches[SWITCH_PREEMPTED];
		test_log("task %d: %llu turns, %llu ticks, %llu us of CPU", i,
			 (unsigned long long)t, (unsigned long long)ticks[i],
			 (unsigned long long)(info[i].cpu_ns / 1000));
		lo = MIN(lo, t);
		hi = MAX(hi, t);
		CHECK_EQ(info[i].switches[SWITCH_YIELD], 0);
		CHECK_EQ(ticks[i], t * q); /* every turn Q ticks */
	}
	CHECK_GE(q, 1);
	CHECK_MSG(hi - lo <= 1, "turns between %llu and %llu", (unsigned long long)lo,
		  (unsigned long long)hi);
}

/*
 * Sleepers with different deadlines, put to sleep out of order (so the
 * sorted sleep list is inserted into in the middle): none wakes before
 * its deadline, and each is woken by the first tick at or after it. A
 * tick handler in front of the scheduler's counts, per sleeper, the ticks
 * that find it still asleep past its deadline: the first such tick wakes
 * it, so the count is 0 or 1 under any load (a tick late or merged is
 * still the first one); a second would be a sleeper the scheduler missed.
 */
enum { SLEEPERS = 5 };
static const uint64_t sleep_ms[SLEEPERS] = { 9, 3, 15, 6, 12 };

static struct {
	task *volatile task[SLEEPERS];
	volatile uint64_t late_ticks[SLEEPERS];
	arch_tick_fn scheduler_tick;
} watch;

static void watch_sleepers_tick(void)
{
	uint64_t now = arch_nanotime(); /* before the scheduler's own look */
	for (int i = 0; i < SLEEPERS; i++) {
		if (!watch.task[i])
			continue;
		task_info in;
		task_get_info(watch.task[i], &in);
		if (in.state == TASK_BLOCKED && in.wake_at && now >= in.wake_at)
			watch.late_ticks[i]++;
	}
	watch.scheduler_tick();
}

struct sleeper {
	uint64_t want_ns, slept_ns;
};

static void sleep_once(void *arg)
{
	struct sleeper *s = arg;
	uint64_t t0 = arch_nanotime();
	task_sleep(s->want_ns);
	s->slept_ns = arch_nanotime() - t0;
}

TEST(sched, sleep_wakes_within_a_tick)
{
	static struct sleeper sl[SLEEPERS];
	task *t[SLEEPERS];
	arch_irqflags_t irq = arch_irq_save(); /* see sched.fairness */
	watch.scheduler_tick = arch_set_tick_handler(watch_sleepers_tick);
	arch_irq_restore(irq);
	CHECK(watch.scheduler_tick);
	preempt_disable(); /* all asleep before the first can wake */
	for (int i = 0; i < SLEEPERS; i++) {
		sl[i] = (struct sleeper){ .want_ns = sleep_ms[i] * 1000 * 1000 };
		watch.late_ticks[i] = 0;
		t[i] = watch.task[i] = task_spawn(sleep_once, &sl[i], "sleeper");
	}
	preempt_enable();
	int status[SLEEPERS];
	for (int i = 0; i < SLEEPERS; i++) {
		status[i] = -1;
		if (t[i] && task_reaches(t[i], TASK_DEAD)) {
			watch.task[i] = NULL;
			status[i] = task_join(t[i]);
		}
	}
	arch_set_tick_handler(watch.scheduler_tick);
	for (int i = 0; i < SLEEPERS; i++) {
		test_log("sleep %llu ms: %llu us, %llu ticks found it late",
			 (unsigned long long)sleep_ms[i],
			 (unsigned long long)(sl[i].slept_ns / 1000),
			 (unsigned long long)watch.late_ticks[i]);
		CHECK(t[i]);
		CHECK_EQ(status[i], 0);
		CHECK_GE(sl[i].slept_ns, sl[i].want_ns);
		CHECK_LE(watch.late_ticks[i], 1);
	}
}

/* Through a variable, so the compiler cannot see the bad address. */
static volatile uintptr_t bad_address = 8;

static void null_write(void *unused)
{
	(void)unused;
	*(volatile int *)bad_address = 1;
}

TEST(sched, fault_kills_only_the_task)
{
	size_t before = task_count();
	task *t = task_spawn(null_write, NULL, "faulter");
	CHECK(t);
	CHECK_EQ(task_join(t), TASK_EXIT_FAULT);
	CHECK_LE(task_count(), before); /* the dead task is not counted */
	volatile int flag = 0;
	task *u = task_spawn(set_flag, (void *)&flag, "after");
	CHECK_EQ(task_join(u), 0);
	CHECK_EQ(flag, 1);
}

static int (*volatile recurse_ptr)(int);
static int recurse(int depth)
{
	volatile char frame[256];
	frame[0] = (char)depth;
	return recurse_ptr(depth + 1) + frame[0];
}

static void overflow(void *unused)
{
	(void)unused;
	recurse_ptr = recurse;
	recurse_ptr(0);
}

TEST(sched, stack_overflow_kills_only_the_task)
{
	task *t = task_spawn(overflow, NULL, "overflower");
	CHECK(t);
	CHECK_EQ(task_join(t), TASK_EXIT_FAULT);
	volatile int flag = 0;
	CHECK_EQ(task_join(task_spawn(set_flag, (void *)&flag, "after")), 0);
	CHECK_EQ(flag, 1);
}

static void panicker(void *unused)
{
	(void)unused;
	task_panic("deliberate %d", 7);
}

TEST(sched, task_panic_kills_only_the_task)
{
	task *t = task_spawn(panicker, NULL, "panicker");
	CHECK_EQ(task_join(t), TASK_EXIT_FAULT);
}

/* Spawns and joins n tasks at once (n <= BATCH). */
enum { BATCH = 64 };
static void spawn_join_batch(int n, volatile int *flags)
{
	task *batch[BATCH];
	for (int j = 0; j < n; j++) {
		batch[j] = task_spawn(set_flag, (void *)&flags[j], "many");
		CHECK(batch[j]);
	}
	for (int j = 0; j < n; j++)
		CHECK_EQ(task_join(batch[j]), 0);
}

TEST(sched, many_tasks_return_everything)
{
	enum { N = 10000 };
	size_t pages, tasks = task_count(), stacks_before, stack_bytes;
	volatile int flags[BATCH] = { 0 };
	/* Warm up with a whole batch: records for BATCH tasks and their
	 * freed stack ranges come from persistent memory, committed 64 KiB
	 * at a time and kept for reuse; where the last commit ends depends
	 * on what earlier suites allocated. After this the loop needs none. */
	spawn_join_batch(BATCH, flags);
	pages = arch_free_pages();
	stack_usage(&stacks_before, &stack_bytes);
	for (int i = 0; i < N; i += BATCH) {
		int n = MIN(BATCH, N - i);
		spawn_join_batch(n, flags);
	}
	/* Everything came back (more may have: a straggler from an earlier
	 * test may have ended meanwhile). */
	CHECK_LE(task_count(), tasks);
	CHECK_GE(arch_free_pages(), pages);
	size_t stacks, bytes;
	stack_usage(&stacks, &bytes);
	CHECK_LE(stacks, stacks_before);
}

struct script {
	volatile int *stop;
	int n;
};

static void yield_n(void *arg)
{
	struct script *s = arg;
	for (int i = 0; i < s->n; i++)
		task_yield();
	*s->stop = 1;
}

static void sleep_n(void *arg)
{
	for (int i = 0; i < (int)(uintptr_t)arg; i++)
		task_sleep(1000 * 1000);
}

/* A scripted scenario with known switch counts: a yielder next to a spinner
 * that is always runnable (so every yield really switches), a sleeper, and
 * main joining them. */
TEST(sched, switch_reasons_counted)
{
	volatile int stop = 0;
	struct script y = { &stop, 5 };
	uint64_t before[SWITCH_REASON_COUNT], after[SWITCH_REASON_COUNT];
	sched_switch_counts(before);
	task *spinner = task_spawn(spin_until, (void *)&stop, "spinner");
	task *yielder = task_spawn(yield_n, &y, "yielder");
	task *sleeper = task_spawn(sleep_n, (void *)3, "sleeper");
	CHECK(spinner && yielder && sleeper);
	task_info yi, si;
	yield_until_dead(yielder);
	yield_until_dead(sleeper);
	task_get_info(yielder, &yi);
	task_get_info(sleeper, &si);
	CHECK_EQ(yi.switches[SWITCH_YIELD], 5);
	CHECK_EQ(yi.switches[SWITCH_EXIT], 1);
	CHECK_EQ(yi.switches[SWITCH_SLEEP], 0);
	CHECK_EQ(si.switches[SWITCH_SLEEP], 3);
	CHECK_EQ(si.switches[SWITCH_EXIT], 1);
	CHECK_EQ(si.switches[SWITCH_YIELD], 0);
	CHECK_EQ(task_join(yielder), 0);
	CHECK_EQ(task_join(sleeper), 0);
	CHECK_EQ(task_join(spinner), 0);
	sched_switch_counts(after);
	CHECK_GE(after[SWITCH_YIELD] - before[SWITCH_YIELD], 5);
	CHECK_GE(after[SWITCH_EXIT] - before[SWITCH_EXIT], 3);
}

/* Go's texts, exactly (runtime2.go's waitReasonStrings; "task join" is
 * ours): the task dump, the task profile and the leak report print them,
 * and people compare them with Go's. Every reason has one. */
TEST(sched, wait_reason_names)
{
	static const char *const want[WAIT_REASON_COUNT] = {
		[WAIT_REASON_NONE] = "",
		[WAIT_REASON_SLEEP] = "sleep",
		[WAIT_REASON_TASK_JOIN] = "task join",
		[WAIT_REASON_SYNC_MUTEX_LOCK] = "sync.Mutex.Lock",
		[WAIT_REASON_SYNC_RWMUTEX_RLOCK] = "sync.RWMutex.RLock",
		[WAIT_REASON_SYNC_RWMUTEX_LOCK] = "sync.RWMutex.Lock",
		[WAIT_REASON_SYNC_COND_WAIT] = "sync.Cond.Wait",
		[WAIT_REASON_SYNC_WAITGROUP_WAIT] = "sync.WaitGroup.Wait",
		[WAIT_REASON_SEMACQUIRE] = "semacquire",
		[WAIT_REASON_CHAN_RECEIVE] = "chan receive",
		[WAIT_REASON_CHAN_SEND] = "chan send",
		[WAIT_REASON_SELECT] = "select",
		[WAIT_REASON_CHAN_RECEIVE_NIL_CHAN] = "chan receive (nil chan)",
		[WAIT_REASON_CHAN_SEND_NIL_CHAN] = "chan send (nil chan)",
		[WAIT_REASON_SELECT_NO_CASES] = "select (no cases)",
		[WAIT_REASON_GC_ASSIST_WAIT] = "GC assist wait",
		[WAIT_REASON_GARBAGE_COLLECTION] = "garbage collection",
		[WAIT_REASON_GC_WORKER_IDLE] = "GC worker (idle)",
		[WAIT_REASON_GC_WORKER_ACTIVE] = "GC worker (active)",
		[WAIT_REASON_GC_SWEEP_WAIT] = "GC sweep wait",
		[WAIT_REASON_FINALIZER_WAIT] = "finalizer wait",
	};
	for (int r = 0; r < WAIT_REASON_COUNT; r++) {
		CHECK_MSG(want[r], "wait reason %d: no expected text in this test", r);
		CHECK_STREQ(wait_reason_name((wait_reason)r), want[r]);
	}
	CHECK_STREQ(wait_reason_name(WAIT_REASON_COUNT), "?");
	for (int r = 0; r < SWITCH_REASON_COUNT; r++)
		CHECK_MSG(strcmp(switch_reason_name((switch_reason)r), "?") != 0,
			  "switch reason %d has no name", r);
	CHECK_STREQ(switch_reason_name(SWITCH_GC), "gc");
}

/* A task joining another shows "task join", on the task it joins. */
static void join_arg(void *arg)
{
	CHECK_EQ(task_join(arg), 0);
}

static void spin_flag(void *arg)
{
	volatile int *stop = arg;
	while (!*stop)
		task_yield();
}

TEST(sched, join_wait_reason)
{
	volatile int stop = 0;
	task *target = task_spawn(spin_flag, (void *)&stop, "join-target");
	CHECK(target);
	task *joiner = task_spawn(join_arg, target, "joiner");
	CHECK(joiner);
	yield_until_blocked(joiner);
	check_blocked_on(joiner, WAIT_REASON_TASK_JOIN, target);
	stop = 1;
	CHECK_EQ(task_join(joiner), 0);
}

/* The runtime's own waits (the collector's): task_sleep_reason and
 * task_yield_reason count the switch under the reason asked for, never as
 * SWITCH_SLEEP or SWITCH_YIELD, and show the wait reason asked for. */
struct runtime_sleeper {
	volatile int *stop;
	int sleeps; /* out: how many times it slept */
};

static void sleep_as_gc_worker(void *arg)
{
	struct runtime_sleeper *s = arg;
	while (!*s->stop) {
		task_sleep_reason(1000 * 1000, SWITCH_GC, WAIT_REASON_GC_WORKER_ACTIVE);
		s->sleeps++;
	}
}

static void yield_as_gc(void *arg)
{
	struct script *s = arg;
	for (int i = 0; i < s->n; i++)
		task_yield_reason(SWITCH_GC);
	*s->stop = 1;
}

TEST(sched, runtime_waits_counted_as_asked)
{
	/* A yielder next to an always runnable spinner: every yield switches. */
	volatile int stop = 0;
	struct script y = { &stop, 4 };
	task *spinner = task_spawn(spin_until, (void *)&stop, "spinner");
	task *yielder = task_spawn(yield_as_gc, &y, "gc-yielder");
	CHECK(spinner && yielder);
	yield_until_dead(yielder);
	task_info yi;
	task_get_info(yielder, &yi);
	CHECK_EQ(yi.switches[SWITCH_GC], 4);
	CHECK_EQ(yi.switches[SWITCH_YIELD], 0);
	CHECK_EQ(task_join(yielder), 0);
	CHECK_EQ(task_join(spinner), 0);

	/* A sleeper, seen blocked: whenever it is, it is in this sleep. */
	volatile int stop_sleeping = 0;
	struct runtime_sleeper sl = { &stop_sleeping, 0 };
	task *sleeper = task_spawn(sleep_as_gc_worker, &sl, "gc-sleeper");
	CHECK(sleeper);
	task_info si;
	uint64_t t0 = arch_nanotime();
	for (;;) {
		task_get_info(sleeper, &si);
		if (si.state == TASK_BLOCKED)
			break;
		CHECK_MSG(arch_nanotime() - t0 < TEST_WAIT_LIMIT_NS, "the sleeper never slept");
		task_yield();
	}
	CHECK_WAIT_REASON(si, WAIT_REASON_GC_WORKER_ACTIVE);
	CHECK(si.wait_object == NULL);
	CHECK_NE(si.wake_at, 0);
	stop_sleeping = 1;
	yield_until_dead(sleeper);
	task_get_info(sleeper, &si);
	CHECK_GE(sl.sleeps, 1);
	CHECK_EQ(si.switches[SWITCH_GC], (uint64_t)sl.sleeps);
	CHECK_EQ(si.switches[SWITCH_SLEEP], 0);
	CHECK_EQ(si.switches[SWITCH_YIELD], 0);
	CHECK_EQ(task_join(sleeper), 0);
}

TEST(sched, preempt_disable_holds_off_the_timer)
{
	volatile int stop = 0;
	task *spinner = task_spawn(spin_until, (void *)&stop, "spinner");
	CHECK(spinner);
	preempt_disable();
	task_info self0, self1;
	task_get_info(task_self(), &self0);
	/* Several quanta's worth of ticks: each would have preempted us. */
	uint64_t t0 = arch_nanotime(), k0 = arch_ticks();
	uint64_t quanta_ticks = arch_tick_hz() / 20 + 1; /* 5 quanta of the default 10 ms */
	while (arch_ticks() - k0 < quanta_ticks && arch_nanotime() - t0 < TEST_WAIT_LIMIT_NS)
		arch_cpu_relax();
	uint64_t ticks = arch_ticks() - k0;
	task_info info;
	task_get_info(spinner, &info);
	task_get_info(task_self(), &self1);
	preempt_enable();
	CHECK_GE(ticks, quanta_ticks);
	CHECK_EQ(self1.switches[SWITCH_PREEMPTED], self0.switches[SWITCH_PREEMPTED]);
	CHECK_EQ(info.cpu_ns, 0); /* never ran */
	CHECK_EQ(info.switches[SWITCH_PREEMPTED], 0);
	task_yield();
	stop = 1;
	CHECK_EQ(task_join(spinner), 0);
}

TEST(sched, stop_the_world_is_measured)
{
	uint64_t before = arch_nanotime();
	stop_the_world("test");
	CHECK(world_stopped());
	start_the_world();
	uint64_t after = arch_nanotime();
	CHECK(!world_stopped());
	/* Within what we saw from outside; how long that is depends on the
	 * host, not on us. */
	CHECK_GT(stw_last_pause_ns(), 0);
	CHECK_LE(stw_last_pause_ns(), after - before);
}
