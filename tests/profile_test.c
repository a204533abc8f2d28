/*
 * profile_test.c - diag/profile.c and diag/memstats.c: the task profile
 * groups identical blocked tasks into one group with the right count, wait
 * reason and creation site, biggest first; the task-count trend records
 * counts and its maximum; memstats numbers agree with their sources.
 * Orderings are forced with "yield until blocked" loops, never with time.
 */
#include "diag/diag.h"
#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"
#include "tests/task_test_util.h"

enum { GROUP_A = 7, GROUP_B = 3 };

/* One gate per test: a failed test leaves its tasks blocked on its own
 * gate, and the next tests do not wake (and join) the wrong tasks. */
static semaphore gate_groups_a = SEMAPHORE_INIT(0);
static semaphore gate_groups_b = SEMAPHORE_INIT(0);
static semaphore gate_overflow = SEMAPHORE_INIT(0);
static semaphore gate_trend = SEMAPHORE_INIT(0);

static __attribute__((noinline)) void wait_on_a(void *gate)
{
	semaphore_acquire(gate);
	__asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
}

static volatile int b_started;

/* Not identical to wait_on_a, or the compiler may fold the two into one. */
static __attribute__((noinline)) void wait_on_b(void *gate)
{
	b_started++;
	semaphore_acquire(gate);
	__asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
}

/* The one spawn site of every group-A task. */
static __attribute__((noinline)) task *spawn_a(semaphore *gate)
{
	task *t = task_spawn(wait_on_a, gate, "profile-a");
	__asm__ volatile("" ::: "memory"); /* no tail call: the creator is here */
	return t;
}

static task_profile_group groups[TASK_PROFILE_MAX_GROUPS];

/* Whether pc returns into the function named fn. */
static bool pc_in(uintptr_t pc, const char *fn)
{
	uintptr_t off;
	const char *name = arch_symbolize(pc - 1, &off);
	return name && strcmp(name, fn) == 0;
}

/* The first group with a frame in the function named fn; NULL if none. */
static const task_profile_group *group_with_frame(size_t n, const char *fn)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < groups[i].depth; k++)
			if (pc_in(groups[i].pcs[k], fn))
				return &groups[i];
	return NULL;
}

TEST(profile, groups_identical_blocked_tasks)
{
	task *a[GROUP_A], *b[GROUP_B];
	for (int i = 0; i < GROUP_A; i++)
		CHECK((a[i] = spawn_a(&gate_groups_a)) != NULL);
	for (int i = 0; i < GROUP_B; i++)
		CHECK((b[i] = task_spawn(wait_on_b, &gate_groups_b, "profile-b")) != NULL);
	for (int i = 0; i < GROUP_A; i++)
		yield_until_blocked(a[i]);
	for (int i = 0; i < GROUP_B; i++)
		yield_until_blocked(b[i]);

	size_t ntasks = 0, overflow = 0;
	preempt_disable(); /* no task may start or end between the two counts */
	size_t n = task_profile_collect(groups, ARRAY_SIZE(groups), &ntasks, &overflow);
	size_t live = task_count();
	preempt_enable();
	CHECK_EQ(overflow, 0);
	CHECK_EQ(ntasks, live + 1); /* every live task, and the idle task */
	CHECK_GE(ntasks, (size_t)(GROUP_A + GROUP_B + 1));
	/* Biggest first, and the counts add up to every task. */
	size_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		sum += groups[i].count;
		if (i > 0)
			CHECK_GE(groups[i - 1].count, groups[i].count);
	}
	CHECK_EQ(sum, ntasks);

	const task_profile_group *ga = group_with_frame(n, "wait_on_a");
	const task_profile_group *gb = group_with_frame(n, "wait_on_b");
	CHECK(ga && gb && ga != gb);
	CHECK_EQ(ga->count, GROUP_A);
	CHECK_EQ(gb->count, GROUP_B);
	CHECK_EQ(ga->state, TASK_BLOCKED);
	CHECK_EQ(ga->wait_reason, WAIT_REASON_SEMACQUIRE);
	CHECK_EQ(ga->first_id, task_id(a[0]));
	CHECK(pc_in(ga->create_pc, "spawn_a"));
	/* No other task waits in wait_on_a: exactly one such group. */
	size_t with_a = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < groups[i].depth; k++)
			if (pc_in(groups[i].pcs[k], "wait_on_a")) {
				with_a += groups[i].count;
				break;
			}
	CHECK_EQ(with_a, GROUP_A);

	task_profile_print();

	for (int i = 0; i < GROUP_A; i++)
		semaphore_release(&gate_groups_a);
	for (int i = 0; i < GROUP_B; i++)
		semaphore_release(&gate_groups_b);
	for (int i = 0; i < GROUP_A; i++)
		CHECK_EQ(task_join(a[i]), 0);
	for (int i = 0; i < GROUP_B; i++)
		CHECK_EQ(task_join(b[i]), 0);

	/* The group is gone once its tasks are. */
	n = task_profile_collect(groups, ARRAY_SIZE(groups), NULL, NULL);
	CHECK(group_with_frame(n, "wait_on_a") == NULL);
}

TEST(profile, collect_overflow_counts_the_rest)
{
	task *a[GROUP_A];
	for (int i = 0; i < GROUP_A; i++)
		CHECK((a[i] = spawn_a(&gate_overflow)) != NULL);
	for (int i = 0; i < GROUP_A; i++)
		yield_until_blocked(a[i]);
	size_t ntasks, overflow;
	size_t n = task_profile_collect(groups, 1, &ntasks, &overflow);
	CHECK_EQ(n, 1);
	CHECK_EQ(groups[0].count + overflow, ntasks);
	for (int i = 0; i < GROUP_A; i++)
		semaphore_release(&gate_overflow);
	for (int i = 0; i < GROUP_A; i++)
		CHECK_EQ(task_join(a[i]), 0);
}

TEST(profile, trend_records_counts_and_max)
{
	/* The sampler may be running (the shell starts it): only the newest
	 * samples and the maximum are checked. */
	task_trend_reset();
	task_trend_sample();
	uint32_t s[TASK_TREND_SAMPLES], peak;
	size_t base = task_count();

	task *a[GROUP_A];
	for (int i = 0; i < GROUP_A; i++)
		CHECK((a[i] = spawn_a(&gate_trend)) != NULL);
	for (int i = 0; i < GROUP_A; i++)
		yield_until_blocked(a[i]);
	task_trend_sample();
	size_t n = task_trend_read(s, ARRAY_SIZE(s), &peak);
	CHECK_GE(n, 2);
	CHECK_EQ(s[n - 1], task_count());
	/* At least: other tasks (a sampler, stragglers) may come and go. */
	CHECK_GE(peak, base + GROUP_A);

	for (int i = 0; i < GROUP_A; i++)
		semaphore_release(&gate_trend);
	for (int i = 0; i < GROUP_A; i++)
		CHECK_EQ(task_join(a[i]), 0);
	task_trend_sample();
	n = task_trend_read(s, ARRAY_SIZE(s), &peak);
	CHECK_EQ(s[n - 1], task_count());
	CHECK_GE(peak, base + GROUP_A);

	/* The ring keeps the newest TASK_TREND_SAMPLES. */
	for (int i = 0; i < TASK_TREND_SAMPLES + 5; i++)
		task_trend_sample();
	CHECK_EQ(task_trend_read(s, ARRAY_SIZE(s), NULL), TASK_TREND_SAMPLES);
	CHECK_EQ(task_trend_read(s, 3, NULL), 3);
	task_trend_print();
}

TEST(profile, trend_sampler_starts_and_stops)
{
	bool was_running = task_trend_running();
	size_t before = task_count();
	CHECK(task_trend_start());
	CHECK(task_trend_running());
	CHECK(task_trend_start()); /* idempotent */
	CHECK_LE(task_count(), before + 1);
	/* The sampler records: wait for its next sample (it samples, then
	 * sleeps a period; how long that takes is not the point). */
	task_trend_reset();
	uint32_t s[1];
	YIELD_UNTIL(task_trend_read(s, 1, NULL) > 0);
	if (!was_running) {
		task_trend_stop();
		CHECK(!task_trend_running());
		CHECK_LE(task_count(), before);
	}
}

static void *volatile memstats_kept; /* a root: volatile keeps the store */

TEST(profile, memstats_agrees_with_sources)
{
	memstats_kept = gc_alloc_noscan(4096);
	CHECK(memstats_kept);
	memstats m;
	memstats_read(&m);
	gc_stats gs;
	gc_read_stats(&gs);
	CHECK_GE(gs.cycles, m.gc_cycles);
	CHECK_GE(m.heap_in_use, 4096);
	CHECK_GE(m.heap_alloc_total, m.heap_in_use);
	CHECK_GT(m.spans_in_use, 0);
	CHECK_GE(m.stacks, 2); /* at least the collector's tasks */
	CHECK_GT(m.stack_bytes, 0);
	CHECK_GT(m.frames_free, 0);
	CHECK_GT(m.tasks, 0);
	CHECK_LE(m.gc_cpu_permille, 1000);
	CHECK_LE(m.gc_npauses, MEMSTATS_PAUSES);
	for (size_t i = 0; i < m.gc_npauses; i++)
		CHECK_LE(m.gc_pauses_ns[i], m.gc_pause_max_ns);

	uint64_t cycles = m.gc_cycles;
	gc_collect();
	memstats_read(&m);
	CHECK_GT(m.gc_cycles, cycles);
	CHECK_GE(m.gc_npauses, 1);
	CHECK_GE(m.heap_in_use, 4096); /* memstats_kept survived */
	memstats_print();
	memstats_kept = NULL;
}
