/*
 * tests/task_test_util.h - helpers the task, sync and channel suites share:
 * waiting for a task to end, and checking that a finished task switched
 * exactly once, for exactly the reason its scenario forces.
 */
#pragma once

#include "kernel/sched.h"
#include "tests/test.h"

static inline void yield_until_dead(const task *t)
{
	while (task_get_state(t) != TASK_DEAD)
		task_yield();
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
