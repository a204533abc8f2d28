/*
 * sched_test.c - the scheduler core: spawning and joining, timer preemption
 * of a task that never yields, fairness between busy tasks, sleeping,
 * preempt_disable, stop-the-world, and tasks dying by fault, panic or stack
 * overflow while the kernel and the other tasks go on. Timing checks use
 * bounds far wider than emulation noise.
 */
#include "kernel/sched.h"
#include "tests/test.h"

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

/* N busy tasks for a while: each gets close to 1/N of the CPU, judged by
 * the scheduler's own CPU-time accounting. */
TEST(sched, fairness)
{
	enum { N = 4 };
	volatile int stop = 0;
	struct fair_arg args[N];
	task *tasks[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct fair_arg){ .stop = &stop };
		tasks[i] = task_spawn(count_busily, &args[i], "busy");
		CHECK(tasks[i]);
	}
	task_sleep(400 * 1000 * 1000ULL);
	stop = 1;
	uint64_t cpu[N], total = 0;
	for (int i = 0; i < N; i++) {
		task_info info;
		task_get_info(tasks[i], &info);
		cpu[i] = info.cpu_ns;
		total += cpu[i];
	}
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	for (int i = 0; i < N; i++) {
		test_log("task %d: %llu us of %llu us", i, (unsigned long long)(cpu[i] / 1000),
			 (unsigned long long)(total / 1000));
		/* 1/N within 10% of the total: [0.15, 0.35] of it for N = 4 */
		CHECK_MSG(cpu[i] * 100 >= total * 15 && cpu[i] * 100 <= total * 35,
			  "task %d got %llu of %llu ns", i, (unsigned long long)cpu[i],
			  (unsigned long long)total);
	}
}

TEST(sched, sleep_wakes_within_a_tick)
{
	uint64_t tick_ns = 1000000000ULL / arch_tick_hz();
	for (int i = 0; i < 5; i++) {
		uint64_t want = (uint64_t)(i + 1) * 3 * 1000 * 1000;
		uint64_t t0 = arch_nanotime();
		task_sleep(want);
		uint64_t slept = arch_nanotime() - t0;
		CHECK_GE(slept, want);
		/* late by at most one tick, plus generous slack for emulation */
		CHECK_LE(slept, want + tick_ns + 20 * 1000 * 1000ULL);
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

TEST(sched, many_tasks_return_everything)
{
	enum { N = 10000 };
	size_t pages, tasks = task_count(), stacks_before, stack_bytes;
	/* warm up: the first spawns create metadata that stays */
	task_join(task_spawn(set_flag, (void *)&(int){ 0 }, "warm"));
	pages = arch_free_pages();
	stack_usage(&stacks_before, &stack_bytes);
	volatile int flags[64] = { 0 };
	for (int i = 0; i < N; i += 64) {
		task *batch[64];
		int n = MIN(64, N - i);
		for (int j = 0; j < n; j++) {
			batch[j] = task_spawn(set_flag, (void *)&flags[j], "many");
			CHECK(batch[j]);
		}
		for (int j = 0; j < n; j++)
			CHECK_EQ(task_join(batch[j]), 0);
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
	task_info yi, si, mi;
	while (task_get_state(yielder) != TASK_DEAD || task_get_state(sleeper) != TASK_DEAD)
		task_sleep(1000 * 1000);
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
	task_get_info(task_self(), &mi);
	CHECK_GE(mi.switches[SWITCH_SLEEP], 1);
	sched_switch_counts(after);
	CHECK_GE(after[SWITCH_YIELD] - before[SWITCH_YIELD], 5);
	CHECK_GE(after[SWITCH_EXIT] - before[SWITCH_EXIT], 3);
}

TEST(sched, preempt_disable_holds_off_the_timer)
{
	volatile int stop = 0;
	task *spinner = task_spawn(spin_until, (void *)&stop, "spinner");
	CHECK(spinner);
	preempt_disable();
	uint64_t t0 = arch_nanotime(), k0 = arch_ticks();
	/* several quanta of busy time: no switch may happen */
	while (arch_ticks() - k0 < (uint64_t)arch_tick_hz() / 20 ||
	       arch_nanotime() - t0 < 50 * 1000 * 1000ULL)
		arch_cpu_relax();
	task_info info;
	task_get_info(spinner, &info);
	CHECK_EQ(info.cpu_ns, 0); /* never ran */
	preempt_enable();
	task_yield();
	stop = 1;
	CHECK_EQ(task_join(spinner), 0);
}

TEST(sched, stop_the_world_is_measured)
{
	stop_the_world("test");
	CHECK(world_stopped());
	start_the_world();
	CHECK(!world_stopped());
	CHECK_GT(stw_last_pause_ns(), 0);
	CHECK_LT(stw_last_pause_ns(), 1000ULL * 1000 * 1000);
}
