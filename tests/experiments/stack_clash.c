/*
 * stack_clash.c - a task whose frame is larger than the unmapped gap below
 * its stack (MSTACK_GAP_BYTES). Built with stack-clash probes, the frame's
 * allocation touches every page on the way down and faults in the gap: the
 * task dies with "stack overflow" and the kernel goes on (that the stack
 * below the gap keeps every byte is checked by the in-kernel test
 * stack.frame_larger_than_the_gap_spares_the_neighbour). Returns 0 when the
 * task died of it.
 */
#include "sched/sched.h"
#include "mm/mm.h"

static int (*volatile deep)(size_t);

static int big_frame(size_t n)
{
	volatile char frame[n];
	frame[0] = 1;
	frame[n - 1] = 2;
	return frame[0] + frame[n - 1];
}

static void clash(void *unused)
{
	(void)unused;
	deep = big_frame;
	deep(2 * MSTACK_GAP_BYTES);
}

int experiment(void)
{
	task *t = task_spawn(clash, NULL, "clash");
	if (!t)
		return 10;
	int status = task_join(t);
	kprintf("clash task: join returned %d (TASK_EXIT_FAULT = %d)\n", status,
		TASK_EXIT_FAULT);
	return status == TASK_EXIT_FAULT ? 0 : 11;
}
