/*
 * sched/sched.h - the task layer: goroutine-like tasks (spawning, joining,
 * the run queue, timer preemption, sleeping), stop-the-world, and the
 * blocking primitives of Go's sync package built on them (mutex, rwmutex,
 * cond, waitgroup, semaphore, once). The overview of the scheduler is at
 * the top of sched/sched.c. Above mm/ (task stacks come from mm/stack.c);
 * below the collector, which stops the world and scans stacks through the
 * queries here.
 *
 * Locks: spinlocks (arch/arch.h, where the lock order is written). With
 * one CPU every spinlock also disables interrupts, which is what actually
 * keeps the timer's preemption out of a critical section.
 */
#pragma once

#include "arch/arch.h"
#include "lib/lib.h"
#include "mm/mm.h"

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
	SWITCH_GC,       /* asked for by the collector: its tasks parking,
			  * sleeping, yielding; a task waiting for a cycle */
	SWITCH_REASON_COUNT,
} switch_reason;

const char *switch_reason_name(switch_reason r);

/*
 * Why a blocked task waits: Go's waitReason (runtime2.go), with Go's text
 * for each in wait_reason_name()'s table (sched/sched.c); "task join" is
 * ours (Go has no join). A closed set: code that decides by the reason
 * (the leak detector, the task profile's grouping) compares these, never
 * the text.
 */
typedef enum wait_reason {
	WAIT_REASON_NONE,                /* "": not blocked */
	WAIT_REASON_SLEEP,               /* "sleep" (a timer wakes it) */
	WAIT_REASON_TASK_JOIN,           /* "task join" */
	WAIT_REASON_SYNC_MUTEX_LOCK,     /* "sync.Mutex.Lock" (also once_do) */
	WAIT_REASON_SYNC_RWMUTEX_RLOCK,  /* "sync.RWMutex.RLock" */
	WAIT_REASON_SYNC_RWMUTEX_LOCK,   /* "sync.RWMutex.Lock" */
	WAIT_REASON_SYNC_COND_WAIT,      /* "sync.Cond.Wait" */
	WAIT_REASON_SYNC_WAITGROUP_WAIT, /* "sync.WaitGroup.Wait" */
	WAIT_REASON_SEMACQUIRE,          /* "semacquire" */
	WAIT_REASON_CHAN_RECEIVE,        /* "chan receive" */
	WAIT_REASON_CHAN_SEND,           /* "chan send" */
	WAIT_REASON_SELECT,              /* "select" */
	WAIT_REASON_CHAN_RECEIVE_NIL_CHAN, /* "chan receive (nil chan)": forever */
	WAIT_REASON_CHAN_SEND_NIL_CHAN,  /* "chan send (nil chan)": forever */
	WAIT_REASON_SELECT_NO_CASES,     /* "select (no cases)": forever */
	/* the collector's waits (all counted as SWITCH_GC) */
	WAIT_REASON_GC_ASSIST_WAIT,      /* "GC assist wait": for the cycle's end */
	WAIT_REASON_GARBAGE_COLLECTION,  /* "garbage collection": in gc_collect */
	WAIT_REASON_GC_WORKER_IDLE,      /* "GC worker (idle)": no mark phase */
	WAIT_REASON_GC_WORKER_ACTIVE,    /* "GC worker (active)": between mark
					  * slices (a timer wakes it) */
	WAIT_REASON_GC_SWEEP_WAIT,       /* "GC sweep wait": nothing to sweep */
	WAIT_REASON_FINALIZER_WAIT,      /* "finalizer wait": no finalizer due */
	WAIT_REASON_COUNT,
} wait_reason;

/* Go's text for r ("" for WAIT_REASON_NONE, "?" out of range). */
const char *wait_reason_name(wait_reason r);

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
bool task_is_idle(const task *t); /* a CPU's idle task (not counted above) */

/* Gives up the CPU to the next runnable task, if any. */
void task_yield(void);
/* Blocks for at least ns nanoseconds; wakes within one tick after.
 * ("sleep", SWITCH_SLEEP) */
void task_sleep(uint64_t ns);
/* task_yield and task_sleep for the runtime's own waits, counted under
 * `why` and shown as `wait` (the collector: SWITCH_GC). */
void task_yield_reason(switch_reason why);
void task_sleep_reason(uint64_t ns, switch_reason why, wait_reason wait);

/* Zeroes the dead part of the running task's stack below the caller's
 * frame, about max_bytes of it (SIZE_MAX: all; paint is left alone, so
 * stack_high_water stays right), and the scratch registers. For runtime
 * tasks (the collector's, the finalizer's) before they block, and for tests
 * that count exactly what a collection frees: a stale word there would
 * otherwise come back into the live range in a later frame left partly
 * unwritten and keep garbage alive. Cost: one read of what it covers. */
void task_scrub_stack(size_t max_bytes);

/* Per-task accounting, for diagnostics and tests. */
typedef struct task_info {
	uint64_t id;
	char name[32];
	task_state state;
	wait_reason wait_reason; /* WAIT_REASON_NONE unless blocked */
	const void *wait_object; /* the channel, mutex, ... waited on */
	uint64_t wait_ns;        /* how long it has been blocked */
	uint64_t wake_at;        /* sleeping: the arch_nanotime() it is due; else 0 */
	uint64_t switches[SWITCH_REASON_COUNT];
	uint64_t cpu_ns;
	size_t stack_size, stack_high_water;
	uintptr_t create_pc;     /* the caller of task_spawn */
	int exit_status;
} task_info;
void task_get_info(const task *t, task_info *out);
/* For diagnostics that walk every task (diag/taskdump.c): calls fn for
 * each task record not yet freed (dead ones awaiting a join included) with
 * sched_lock held and interrupts off. fn must not block or take sched_lock;
 * it reads tasks with the _locked queries below. */
void sched_for_each_task(void (*fn)(task *t, void *arg), void *arg);
void task_get_info_locked(const task *t, task_info *out);
/* Return addresses of t's call chain, innermost first: its saved context
 * if switched out, the caller's chain if t is running, none if dead. */
size_t task_backtrace_locked(const task *t, uintptr_t *pcs, size_t max);
/* For the collector's stack scan. With preemption disabled (so the task
 * found cannot run meanwhile): the first live task not yet scanned in cycle
 * `gen`, now recorded as scanned; NULL when every task is. */
task *sched_claim_unscanned(uint64_t gen);
/* Records t as scanned in cycle gen, as sched_claim_unscanned would; false
 * if it already is, or is dead. Preemption disabled. */
bool sched_claim_task_for_scan(task *t, uint64_t gen);
/* World stopped, at mark setup: starts counting the tasks cycle gen has
 * yet to scan, so the final "all scanned?" check is O(1). */
void sched_begin_stack_scan(uint64_t gen);
/* The part of t's stack that is in use: [saved stack pointer, top) for a
 * switched-out task, [its arch_run_spilled spill point, top) for the
 * running task (which panics outside arch_run_spilled: a scan there would
 * miss the task's callee-saved registers), empty for the idle task (it
 * holds nothing live). False if t is dead. */
bool task_stack_live_range(const task *t, uintptr_t *lo, uintptr_t *hi);
/* t's arch context (stack bounds, saved stack pointer). */
const arch_context *task_context(const task *t);
/* The argument t was spawned with, until t starts (then NULL: from then on
 * t's own stack holds it). A root for the collector until then. */
void *task_start_arg(const task *t);
/* Switches since boot by reason, all tasks together. */
void sched_switch_counts(uint64_t out[SWITCH_REASON_COUNT]);

/* ---- preemption and stop-the-world ------------------------------------ */
/* Nesting critical sections during which the timer does not preempt. */
void preempt_disable(void);
void preempt_enable(void);

/* Brings every CPU to a safe point and stops preemption; returns with the
 * world stopped. Calls nest only on one task; the collector is the user. */
void stop_the_world(const char *reason);
void start_the_world(void);
bool world_stopped(void);
/* The caller may block (wait on a queue, sleep): a task other than the
 * idle task, interrupts and preemption on, the world running. */
bool sched_may_block(void);
#define ASSERT_WORLD_STOPPED() ASSERT(world_stopped())
/* The last stop_the_world pause, in ns (the collector keeps its own
 * pauses' history and maximum: gc_read_stats). */
uint64_t stw_last_pause_ns(void);

/* Starts the scheduler: the boot context becomes task 1 "main", an idle
 * task and the preemption tick are set up. Called once by kernel_main. */
void sched_init(void);

/* ---- building blocks for blocking primitives (sched/sched.c) ---------- */
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
		    wait_reason wait, const void *wait_object);
/* Wakes the first / every task on q (the caller holds q's lock). Returns
 * the task woken, NULL if q was empty. */
task *waitq_wake_one(waitq *q);
size_t waitq_wake_all(waitq *q);
bool waitq_empty(const waitq *q);
/* For the leak detector's reclaim: the blocked task with this id dies
 * (TASK_EXIT_FAULT, with a message) as soon as it is switched to, without
 * touching what it waited on. Only for tasks proven unable to wake: their
 * wait queues are unreachable. False if no such blocked task. */
bool task_reclaim(uint64_t id);
/* Makes a blocked task runnable (it must be on no wait queue). */
void sched_wake(task *t);
/* Per-task scratch the primitives use while a task is blocked. */
void *task_wait_data(const task *t);
void task_set_wait_data(task *t, void *data);

/* A 64-bit xorshift generator (per CPU), for select's fair choice. */
uint64_t sched_random(void);

/* ---- sync primitives (sched/sync.c) ----------------------------------- */
/*
 * Go's sync package, built on sched_block_on / sched_wake (channels, in
 * chan/, are built the same way).
 * Every object embeds its own spinlock; the fields under it are listed as
 * "guarded by lock". Each blocking call records Go's wait reason and the
 * object as the task's wait object, and counts the switch under its
 * switch_reason. Misuse that Go reports with a panic (unlocking an
 * unlocked mutex, a negative WaitGroup counter, send on a closed channel,
 * closing a closed or nil channel) kills the calling task with task_panic;
 * in the main task that is a kernel panic. Zeroed memory is a valid,
 * unlocked object of every type here except cond (cond_init names its
 * mutex) and semaphore (zero units, which is valid).
 *
 * Lock order: the lock-rank table in arch/arch.h. A cond's lock has rank
 * LOCK_RANK_COND, the others LOCK_RANK_SYNC (a zeroed lock counts as that).
 */

/* ---- mutex (Go's sync.Mutex) ------------------------------------------ */
/*
 * Normal mode: unlock frees the mutex and wakes one waiter, which competes
 * with tasks arriving meanwhile (cheap when uncontended, no lock convoy).
 * A waiter that has waited over 1 ms switches the mutex to starvation mode,
 * where unlock hands ownership straight to the first waiter, FIFO; it
 * ends when a handed-off waiter waited less than that or was the last.
 * As in Go, a locked mutex belongs to no task: another task may unlock it
 * (owner only records the last locker, for diagnostics).
 * Invariants (under lock): owner != NULL => locked;
 *   !waitq_empty(&waiters) => locked || woken;  starving => locked.
 */
typedef struct mutex {
	spinlock lock;
	/* guarded by lock */
	bool locked;
	bool starving; /* unlock hands off to the first waiter */
	bool woken;    /* a waiter was woken and has not run yet */
	task *owner;   /* the task that locked it (diagnostics) */
	waitq waiters;
} mutex;

#define MUTEX_INIT { .lock = SPINLOCK_INIT("mutex", LOCK_RANK_SYNC) }
void mutex_init(mutex *m);
void mutex_lock(mutex *m);      /* wait reason "sync.Mutex.Lock", SWITCH_MUTEX */
bool mutex_try_lock(mutex *m);  /* never blocks */
void mutex_unlock(mutex *m);    /* unlocked: "sync: unlock of unlocked mutex" */

/* ---- rwmutex (Go's sync.RWMutex) --------------------------------------- */
/*
 * Writer preference: once a writer waits, new readers wait too, so a
 * stream of readers cannot starve writers; the readers that waited behind
 * a writer are all let in when it unlocks, before the next writer, so
 * writers cannot starve readers either. Ownership is handed over by the
 * unlocker (readers counted in, writer set) before the wake.
 * Invariants (under lock): !(writer && readers > 0);
 *   !waitq_empty(&writeq) => writer || readers > 0;
 *   !waitq_empty(&readq) => writer || !waitq_empty(&writeq).
 */
typedef struct rwmutex {
	spinlock lock;
	/* guarded by lock */
	uint32_t readers; /* tasks holding it for reading */
	bool writer;      /* a task holds it for writing */
	waitq readq, writeq;
} rwmutex;

#define RWMUTEX_INIT { .lock = SPINLOCK_INIT("rwmutex", LOCK_RANK_SYNC) }
void rwmutex_init(rwmutex *rw);
void rwmutex_rlock(rwmutex *rw);   /* "sync.RWMutex.RLock", SWITCH_MUTEX */
void rwmutex_runlock(rwmutex *rw); /* "sync: RUnlock of unlocked RWMutex" */
void rwmutex_lock(rwmutex *rw);    /* "sync.RWMutex.Lock", SWITCH_MUTEX */
void rwmutex_unlock(rwmutex *rw);  /* "sync: Unlock of unlocked RWMutex" */

/* ---- cond (Go's sync.Cond) --------------------------------------------- */
/* m is a plain pointer: a cond inside a heap object that points to a mutex
 * in another heap object needs `m` listed in its gc_type. */
typedef struct cond {
	spinlock lock;
	mutex *m;      /* held by callers of cond_wait; set at init */
	/* guarded by lock */
	waitq waiters;
} cond;

#define COND_INIT(mutex_ptr) \
	{ .lock = SPINLOCK_INIT("cond", LOCK_RANK_COND), .m = (mutex_ptr) }
void cond_init(cond *c, mutex *m);
/* Unlocks c->m, waits for a signal ("sync.Cond.Wait", SWITCH_COND), locks
 * c->m again. Atomic with respect to signal/broadcast: a signal sent after
 * the unlock is not lost. No spurious wakeups, but callers loop anyway. */
void cond_wait(cond *c);
void cond_signal(cond *c);    /* wakes the longest waiter, if any */
void cond_broadcast(cond *c); /* wakes every waiter */

/* ---- waitgroup (Go's sync.WaitGroup) ----------------------------------- */
/* Invariant (under lock): count >= 0; count == 0 => waitq_empty(&waiters). */
typedef struct waitgroup {
	spinlock lock;
	/* guarded by lock */
	int64_t count;
	waitq waiters;
} waitgroup;

#define WAITGROUP_INIT { .lock = SPINLOCK_INIT("waitgroup", LOCK_RANK_SYNC) }
void waitgroup_init(waitgroup *wg);
/* A count going below zero kills the caller ("sync: negative WaitGroup
 * counter") and is not applied; reaching zero wakes every waiter. */
void waitgroup_add(waitgroup *wg, int64_t delta);
void waitgroup_done(waitgroup *wg);
void waitgroup_wait(waitgroup *wg); /* "sync.WaitGroup.Wait", SWITCH_WAITGROUP */

/* ---- semaphore (counting, like the runtime's semacquire/semrelease) ---- */
/* release hands its unit to the longest waiter, FIFO.
 * Invariant (under lock): count > 0 => waitq_empty(&waiters). */
typedef struct semaphore {
	spinlock lock;
	/* guarded by lock */
	uint64_t count; /* units available */
	waitq waiters;
} semaphore;

#define SEMAPHORE_INIT(n) { .lock = SPINLOCK_INIT("semaphore", LOCK_RANK_SYNC), .count = (n) }
void semaphore_init(semaphore *s, uint64_t count);
void semaphore_acquire(semaphore *s); /* "semacquire", SWITCH_SEMAPHORE */
bool semaphore_try_acquire(semaphore *s);
void semaphore_release(semaphore *s);

/* ---- once (Go's sync.Once) --------------------------------------------- */
/* Waiters show Go's text for a goroutine blocked in Once.Do,
 * "sync.Mutex.Lock" (Once is a mutex inside), with the once as object.
 * If fn kills its task, the once stays "running" and its waiters block for
 * good (the leak detector reports them); calling once_do on the same once
 * from inside fn kills the task instead of deadlocking. */
typedef struct once {
	spinlock lock;
	uint32_t state; /* ONCE_* in sync.c; read unlocked once DONE */
	/* guarded by lock */
	task *runner;   /* the task running fn */
	waitq waiters;
} once;

#define ONCE_INIT { .lock = SPINLOCK_INIT("once", LOCK_RANK_SYNC) }
void once_do(once *o, void (*fn)(void *), void *arg);
