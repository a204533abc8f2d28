/*
 * tests/task_test_util.h - helpers the task, sync, channel and profile
 * suites share: waiting for another task to block or end, or for a
 * condition, with a bound (a stuck test fails and says what it waited for
 * instead of hanging the run); checking what a blocked task waits on; and
 * checking that a finished task switched exactly once, for exactly the
 * reason its scenario forces.
 */
#pragma once

#include "sched/sched.h"
#include "lib/lib.h"

/* How long a test waits for another task before it fails. Not a timing
 * expectation: far beyond anything a loaded machine takes (waits here are
 * milliseconds), still well short of the run's own timeout. */
#define TEST_WAIT_LIMIT_NS (60ULL * 1000 * 1000 * 1000)

/* Yields until t is in `state`; false if it is not after
 * TEST_WAIT_LIMIT_NS. Also for helper tasks, which cannot fail the test. */
static inline bool task_reaches(const task *t, task_state state)
{
	uint64_t t0 = arch_nanotime();
	while (task_get_state(t) != state) {
		if (arch_nanotime() - t0 >= TEST_WAIT_LIMIT_NS)
			return false;
		task_yield();
	}
	return true;
}

/* In the test's own task: wait, or fail naming the task and its state. */
#define YIELD_UNTIL_STATE_(t, state)                                            \
	CHECK_MSG(task_reaches((t), (state)), "task '%s' still %s, not %s, after %llu s", \
		  task_name(t), task_state_name(task_get_state(t)),                 \
		  task_state_name(state), TEST_WAIT_LIMIT_NS / 1000000000ULL)
#define yield_until_blocked(t) YIELD_UNTIL_STATE_(t, TASK_BLOCKED)
#define yield_until_dead(t) YIELD_UNTIL_STATE_(t, TASK_DEAD)

/* In the test's own task: yields until cond holds, or fails quoting it. */
#define YIELD_UNTIL(cond)                                                        \
	do {                                                                     \
		uint64_t yield_t0_ = arch_nanotime();                            \
		while (!(cond)) {                                                \
			CHECK_MSG(arch_nanotime() - yield_t0_ < TEST_WAIT_LIMIT_NS, \
				  "waited %llu s for %s", TEST_WAIT_LIMIT_NS / 1000000000ULL, \
				  #cond);                                        \
			task_yield();                                            \
		}                                                                \
	} while (0)

/* A task_info's wait reason is `want`, or the check fails naming both. */
#define CHECK_WAIT_REASON(info, want)                                            \
	CHECK_MSG((info).wait_reason == (want), "task '%s' waits for \"%s\", not \"%s\"", \
		  (info).name, wait_reason_name((info).wait_reason), wait_reason_name(want))

/* t is blocked, for `reason`, on `object`. */
static inline void check_blocked_on(const task *t, wait_reason reason, const void *object)
{
	task_info info;
	task_get_info(t, &info);
	CHECK_EQ(info.state, TASK_BLOCKED);
	CHECK_WAIT_REASON(info, reason);
	CHECK(info.wait_object == object);
}

/* Waits for t to end, then checks that of the `reasons` only `expected`
 * shows a switch, exactly one, plus its one exit switch; then joins it. */
static inline void check_switched_once_for(task *t, switch_reason expected,
					   const switch_reason *reasons, size_t n)
{
	yield_until_dead(t);
	task_info info;
	task_get_info(t, &info);
	for (size_t j = 0; j < n; j++) {
		switch_reason r = reasons[j];
		CHECK_MSG(info.switches[r] == (r == expected ? 1u : 0u),
			  "task %s: %llu switches for %s", info.name,
			  (unsigned long long)info.switches[r], switch_reason_name(r));
	}
	CHECK_EQ(info.switches[SWITCH_EXIT], 1);
	CHECK_EQ(task_join(t), 0);
}
