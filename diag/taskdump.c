/*
 * diag/taskdump.c - tasks_dump(): every task with its state, what it
 * waits on and for how long, its switches by reason, CPU time, stack use,
 * creation site and backtrace (Go: the goroutine dump of a crash or
 * SIGQUIT). Reads the tasks through sched_for_each_task, so sched_lock is
 * held and interrupts are off for the whole dump: a consistent snapshot,
 * at the cost of holding the CPU while the console prints. The list has
 * every task record: the live tasks task_count() counts, the idle task
 * (which it leaves out, as NumGoroutine leaves out the runtime's idle
 * work) and dead tasks nobody has joined yet; the closing line counts
 * each kind, from the same snapshot.
 */
#include "diag/diag.h"
#include "sched/sched.h"

#define TASKDUMP_BACKTRACE_MAX 24

/* "12.345 ms" */
static void taskdump_print_ms(uint64_t ns)
{
	kprintf("%llu.%03llu ms", (unsigned long long)(ns / NS_PER_MS),
		(unsigned long long)(ns % NS_PER_MS / NS_PER_US));
}

typedef struct taskdump_counts {
	bool first;
	size_t listed, dead, live; /* live: task_count() during the walk */
} taskdump_counts;

static void taskdump_one(task *t, void *arg)
{
	taskdump_counts *n = arg;
	if (n->first) {
		n->live = task_count(); /* sched_lock held: the same snapshot */
		n->first = false;
	}
	task_info info;
	task_get_info_locked(t, &info);

	kprintf("task %llu '%s': %s", (unsigned long long)info.id, info.name,
		task_state_name(info.state));
	if (info.state == TASK_BLOCKED && info.wait_reason != WAIT_REASON_NONE) {
		kprintf(", %s for ", wait_reason_name(info.wait_reason));
		taskdump_print_ms(info.wait_ns);
		if (info.wait_object)
			kprintf(" on %p", info.wait_object);
	}
	if (info.state == TASK_DEAD)
		kprintf(", exit status %d", info.exit_status);
	kprintf("\n  cpu ");
	taskdump_print_ms(info.cpu_ns);
	n->listed++;
	n->dead += info.state == TASK_DEAD;
	/* In use now: from the saved stack pointer, or for the task running
	 * this dump (the shell's) from here. */
	const arch_context *ctx = task_context(t);
	uintptr_t hi = (uintptr_t)ctx->stack_base + ctx->stack_size;
	uintptr_t lo = t == task_self() ? (uintptr_t)__builtin_frame_address(0) : ctx->sp;
	if (info.stack_high_water == 0 && info.state != TASK_DEAD && lo >= (uintptr_t)ctx->stack_base &&
	    lo <= hi)
		/* The boot stack (main's) is set up by the boot code, not by
		 * stack_alloc, so it is not painted and has no high-water
		 * mark: what is in use at this moment is what can be shown. */
		kprintf(", stack %zu of %zu bytes in use now (the boot stack, not painted: no "
			"high-water mark)\n", (size_t)(hi - lo), info.stack_size);
	else
		kprintf(", stack %zu of %zu bytes used at most\n", info.stack_high_water,
			info.stack_size);

	kprintf("  switches:");
	bool any = false;
	for (int r = 0; r < SWITCH_REASON_COUNT; r++) {
		if (info.switches[r]) {
			kprintf(" %s=%llu", switch_reason_name((switch_reason)r),
				(unsigned long long)info.switches[r]);
			any = true;
		}
	}
	kprintf("%s\n", any ? "" : " none");

	if (info.create_pc) {
		/* A return address: look up the call instruction before it. */
		uintptr_t offset;
		const char *name = arch_symbolize(info.create_pc - 1, &offset);
		if (name)
			kprintf("  created by %s+0x%lx\n", name, (unsigned long)offset + 1);
		else
			kprintf("  created by %p\n", (void *)info.create_pc);
	} else {
		kprintf("  created at boot\n");
	}

	uintptr_t pcs[TASKDUMP_BACKTRACE_MAX];
	size_t depth = task_backtrace_locked(t, pcs, ARRAY_SIZE(pcs));
	if (depth > 0)
		print_backtrace_from(pcs, depth);
}

void tasks_dump(void)
{
	taskdump_counts n = { .first = true };
	kprintf("tasks (every task record):\n");
	sched_for_each_task(taskdump_one, &n);
	size_t not_dead = n.listed - n.dead;
	kprintf("tasks: %zu listed: %zu live (task_count), %zu idle, %zu dead awaiting a join\n",
		n.listed, n.live, not_dead > n.live ? not_dead - n.live : 0, n.dead);
}
