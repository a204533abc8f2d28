/*
 * kernel/sched.h - goroutine-like tasks: spawning, joining, the run queue,
 * timer preemption, sleeping, stop-the-world, and the blocking primitives
 * built on them (spinlocks, mutex, rwmutex, cond, waitgroup, semaphore,
 * once, channels and select). The overview of the scheduler is at the top
 * of kernel/sched.c.
 *
 * Lock order (outermost first): channel locks in address order (select) ->
 * sync-object locks -> the scheduler lock (sched_lock) -> heap locks. With
 * one CPU every spinlock also disables interrupts, which is what actually
 * keeps the timer's preemption out of a critical section.
 */
#pragma once

#include "kernel/kernel.h"
#include "mm/mm.h"

/* ---- spinlocks --------------------------------------------------------- */
/* IRQ-safe: taking one disables interrupts (saved in the lock) until it is
 * released. Tracks its owner so ASSERT_HELD can check callers of _locked
 * functions. Not recursive. */
typedef struct spinlock {
	volatile uint32_t locked;
	const char *name;
	struct task *owner;        /* task that holds it (NULL before tasks) */
	arch_irqflags_t saved_irq; /* interrupt state before spin_lock */
} spinlock;

#define SPINLOCK_INIT(n) { .locked = 0, .name = (n) }
void spin_lock(spinlock *l);
void spin_unlock(spinlock *l);
bool spin_held(const spinlock *l); /* by the running task */
#define ASSERT_HELD(l) ASSERT(spin_held(l))

/* ---- tasks ------------------------------------------------------------ */
typedef enum task_state {
	TASK_RUNNABLE, /* on a run queue */
	TASK_RUNNING,  /* on a CPU */
	TASK_BLOCKED,  /* waiting: wait_reason / wait_object say on what */
	TASK_DEAD,     /* finished or killed; stack gone, record until joined */
} task_state;

/* Why a task gave up the CPU; every switch is counted by its reason. */
typedef enum switch_reason {
	SWITCH_PREEMPTED,
	SWITCH_YIELD,
	SWITCH_SLEEP,
	SWITCH_CHAN_SEND,
	SWITCH_CHAN_RECV,
	SWITCH_SELECT,
	SWITCH_MUTEX,
	SWITCH_COND,
	SWITCH_WAITGROUP,
	SWITCH_SEMAPHORE,
	SWITCH_JOIN,
	SWITCH_EXIT,
	SWITCH_REASON_COUNT,
} switch_reason;

const char *switch_reason_name(switch_reason r);
const char *task_state_name(task_state s);

typedef struct task task;

/* Exit status of a task killed by a fault, a panic or a stack overflow. */
#define TASK_EXIT_FAULT (-1000)

/* Starts fn(arg) as a new runnable task with a default (16 KiB) stack.
 * The name is copied. NULL (with heap_last_error()) when out of memory. */
task *task_spawn(void (*fn)(void *), void *arg, const char *name);
task *task_spawn_stack(void (*fn)(void *), void *arg, const char *name,
		       size_t stack_size);
/* Waits for t to end and returns its exit status (fn returning = 0,
 * task_exit(n) = n, killed = TASK_EXIT_FAULT), then frees its record. A task
 * may be joined once; joining yourself panics. */
int task_join(task *t);
/* Lets t's record be freed as soon as it ends (no join). */
void task_detach(task *t);
_Noreturn void task_exit(int status);
/* Kills the calling task with a message and a backtrace; the kernel and the
 * other tasks go on. (Go: panic in a goroutine, minus recover.) */
_Noreturn void task_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

task *task_self(void);
uint64_t task_id(const task *t);
const char *task_name(const task *t);
task_state task_get_state(const task *t);
size_t task_count(void); /* live tasks (not dead), like runtime.NumGoroutine */

/* Gives up the CPU to the next runnable task, if any. */
void task_yield(void);
/* Blocks for at least ns nanoseconds; wakes within one tick after. */
void task_sleep(uint64_t ns);

/* Per-task accounting, for diagnostics and tests. */
typedef struct task_info {
	uint64_t id;
	char name[32];
	task_state state;
	const char *wait_reason; /* Go's waitReason text; NULL if not blocked */
	const void *wait_object; /* the channel, mutex, ... waited on */
	uint64_t wait_ns;        /* how long it has been blocked */
	uint64_t switches[SWITCH_REASON_COUNT];
	uint64_t cpu_ns;
	size_t stack_size, stack_high_water;
	uintptr_t create_pc;     /* the caller of task_spawn */
	int exit_status;
} task_info;
void task_get_info(const task *t, task_info *out);
/* Switches since boot by reason, all tasks together. */
void sched_switch_counts(uint64_t out[SWITCH_REASON_COUNT]);
/* Prints every task: id, name, state, wait reason and for how long,
 * switches, CPU time, stack use, backtrace. */
void tasks_dump(void);

/* ---- preemption and stop-the-world ------------------------------------ */
/* Nesting critical sections during which the timer does not preempt. */
void preempt_disable(void);
void preempt_enable(void);

/* Brings every CPU to a safe point and stops preemption; returns with the
 * world stopped. Calls nest only on one task; the collector is the user. */
void stop_the_world(const char *reason);
void start_the_world(void);
bool world_stopped(void);
#define ASSERT_WORLD_STOPPED() ASSERT(world_stopped())
/* The last and the longest stop_the_world pause, in ns. */
uint64_t stw_last_pause_ns(void);

/* Starts the scheduler: the boot context becomes task 1 "main", an idle
 * task and the preemption tick are set up. Called once by kernel_main. */
void sched_init(void);

/* ---- building blocks for blocking primitives (kernel/sched.c) --------- */
/*
 * A wait queue of tasks, FIFO. Guarded by the lock of the object that
 * embeds it. A task is on at most one wait queue (select uses sudogs).
 */
typedef struct waitq {
	task *head, *tail;
} waitq;

/* Blocks the running task: enqueues it on q (if not NULL), records the
 * reason and object, releases `lock` (which the caller holds) and switches
 * away. Returns after a wake, with `lock` NOT held. */
void sched_block_on(waitq *q, spinlock *lock, switch_reason why,
		    const char *wait_reason, const void *wait_object);
/* Wakes the first / every task on q (the caller holds q's lock). Returns
 * the task woken, NULL if q was empty. */
task *waitq_wake_one(waitq *q);
size_t waitq_wake_all(waitq *q);
bool waitq_empty(const waitq *q);
/* Makes a blocked task runnable (it must be on no wait queue). */
void sched_wake(task *t);
/* Per-task scratch the primitives use while a task is blocked. */
void *task_wait_data(const task *t);
void task_set_wait_data(task *t, void *data);

/* A 64-bit xorshift generator (per CPU), for select's fair choice. */
uint64_t sched_random(void);
