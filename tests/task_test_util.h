/*
 * tests/task_test_util.h - helpers the task, sync and channel suites share:
 * waiting for a task to end, checking what a blocked task waits on, and
 * checking that a finished task switched exactly once, for exactly the
 * reason its scenario forces.
 */
#pragma once

#include "kernel/sched.h"
#include "tests/test.h"

static inline void yield_until_dead(const task *t)
{
	while (task_get_state(t) != TASK_DEAD)
		task_yield();
}

static inline void yield_until_blocked(const task *t)
{
	while (task_get_state(t) != TASK_BLOCKED)
		task_yield();
}

/* t is blocked, for `reason` (Go's wait-reason text), on `object`. */
static inline void check_blocked_on(const task *t, const char *reason, const void *object)
{
	task_info info;
	task_get_info(t, &info);
	CHECK_EQ(info.state, TASK_BLOCKED);
	CHECK(info.wait_reason);
	CHECK_STREQ(info.wait_reason, reason);
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
