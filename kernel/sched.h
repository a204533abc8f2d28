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
bool task_is_idle(const task *t); /* a CPU's idle task (not counted above) */

/* Gives up the CPU to the next runnable task, if any. */
void task_yield(void);
/* Blocks for at least ns nanoseconds; wakes within one tick after. */
void task_sleep(uint64_t ns);

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
	const char *wait_reason; /* Go's waitReason text; NULL if not blocked */
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
/* For diagnostics that walk every task (kernel/taskdump.c): calls fn for
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
/* The caller may block (wait on a queue, sleep): a task other than the
 * idle task, interrupts and preemption on, the world running. */
bool sched_may_block(void);
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

/* ======================================================================== */
/* ---- sync primitives and channels (kernel/sync.c, kernel/chan.c) ------ */
/*
 * Go's sync package and channels, built on sched_block_on / sched_wake.
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
 * Lock order (outermost first), refining the one at the top of this file:
 *   channel locks, in address order (select)
 *     -> select state lock (kernel/chan.c) -> sudog pool lock
 *   cond lock -> mutex lock
 *   any of these -> sched_lock -> heap locks
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

#define MUTEX_INIT { .lock = SPINLOCK_INIT("mutex") }
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

#define RWMUTEX_INIT { .lock = SPINLOCK_INIT("rwmutex") }
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

#define COND_INIT(mutex_ptr) { .lock = SPINLOCK_INIT("cond"), .m = (mutex_ptr) }
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

#define WAITGROUP_INIT { .lock = SPINLOCK_INIT("waitgroup") }
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

#define SEMAPHORE_INIT(n) { .lock = SPINLOCK_INIT("semaphore"), .count = (n) }
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

#define ONCE_INIT { .lock = SPINLOCK_INIT("once") }
void once_do(once *o, void (*fn)(void *), void *arg);

/* ---- channels (kernel/chan.c; overview there) -------------------------- */
typedef struct chan chan;

/* Largest element; Go's limit too. */
#define CHAN_MAX_ELEM_SIZE (64 * 1024)
/* Most cases one chan_select takes. */
#define CHAN_SELECT_MAX_CASES 128

/* A channel of cap elements of elem_size bytes (cap 0: unbuffered). The
 * header is a typed heap object; the buffer is scanned conservatively, so
 * elements may hold pointers. NULL with heap_last_error() when out of
 * memory or elem_size > CHAN_MAX_ELEM_SIZE or the buffer size overflows. */
chan *chan_make(size_t elem_size, size_t cap);
/* Same, elements of type elem_type: the buffer is scanned precisely (or
 * not at all if the type has no pointers). */
chan *chan_make_typed(const struct gc_type *elem_type, size_t cap);

/* Blocks until a receiver takes *elem or it is buffered ("chan send",
 * SWITCH_CHAN_SEND). Closed channel: the caller dies ("send on closed
 * channel"), also when the close comes while it waits. NULL channel:
 * blocks forever ("chan send (nil chan)"). */
void chan_send(chan *c, const void *elem);
/* Blocks until a value arrives ("chan receive", SWITCH_CHAN_RECV) and
 * stores it in *elem (elem may be NULL: value dropped). Returns false when
 * the channel is closed and drained; *elem is then zeroed. NULL channel:
 * blocks forever ("chan receive (nil chan)"). */
bool chan_recv(chan *c, void *elem);
/* Non-blocking forms: false when the operation would block (always for a
 * NULL channel). try_recv returns true if it received or found the channel
 * closed and drained, with *ok (may be NULL) false in the second case. */
bool chan_try_send(chan *c, const void *elem);
bool chan_try_recv(chan *c, void *elem, bool *ok);
/* Wakes every receiver (zero value, !ok) and every sender (they die).
 * NULL: "close of nil channel"; closed: "close of closed channel". */
void chan_close(chan *c);
size_t chan_len(chan *c);  /* buffered elements; 0 for NULL */
size_t chan_cap(chan *c);  /* 0 for NULL and unbuffered */
bool chan_closed(chan *c); /* false for NULL */
/* Checks the channel's invariants (kernel/chan.c, next to struct chan)
 * under its lock; false with the first violation in why. */
bool chan_validate(chan *c, char *why, size_t n);

typedef enum select_dir { SELECT_SEND, SELECT_RECV } select_dir;
typedef struct select_case {
	chan *c;        /* NULL: the case is never ready */
	select_dir dir;
	void *elem;     /* send: the value; receive: where it goes (or NULL) */
	bool *ok;       /* receive: false if closed and drained (may be NULL) */
} select_case;

/*
 * Go's select: among the cases ready now, picks one uniformly at random
 * and does it; if none is ready returns -1 when has_default, else blocks
 * ("select", SWITCH_SELECT; the wait object is the cases array) until one
 * channel operation completes and returns that case's index. A send case
 * whose channel is closed kills the caller, as chan_send does. n == 0 without default blocks forever
 * ("select (no cases)"). At most CHAN_SELECT_MAX_CASES cases.
 */
int chan_select(select_case *cases, size_t n, bool has_default);
/* The channels a blocked task waits on (its send, receive or select
 * cases); 0 if it is not blocked in a channel operation. World stopped. */
size_t chan_waited_channels(const task *t, const chan **out, size_t max);

/* ======================================================================== */
/* ---- diagnostics: task profile, task-count trend, memstats, shell ------
 * Section owned by the diagnostics work (issue 6). */

/* ---- task profile (kernel/profile.c) ----------------------------------- */
/* Go's goroutine profile (debug=1): live tasks grouped by identical state,
 * wait reason, creation site and backtrace, biggest group first. */
#define TASK_PROFILE_DEPTH 16      /* backtrace frames kept per group */
#define TASK_PROFILE_MAX_GROUPS 64 /* groups printed by task_profile_print */
typedef struct task_profile_group {
	size_t count;            /* tasks in the group */
	task_state state;
	const char *wait_reason; /* NULL unless blocked */
	uintptr_t create_pc;     /* caller of task_spawn (0: boot) */
	size_t depth;
	uintptr_t pcs[TASK_PROFILE_DEPTH]; /* innermost first */
	uint64_t first_id;       /* lowest task id in the group */
	uint64_t max_wait_ns;    /* longest a member has been blocked */
} task_profile_group;
/* Snapshot of every live task (dead ones awaiting a join are left out)
 * into at most max groups, sorted by count (ties: lowest first_id). Tasks
 * that fit no group once max groups exist are counted in *overflow (may
 * be NULL); *ntasks (may be NULL) is every task seen. Returns the groups. */
size_t task_profile_collect(task_profile_group *out, size_t max, size_t *ntasks,
			    size_t *overflow);
void task_profile_print(void);

/* ---- task-count trend (kernel/profile.c) -------------------------------- */
/* task_count() sampled every TASK_TREND_PERIOD_MS into a ring of
 * TASK_TREND_SAMPLES by a sampler task (runtime.NumGoroutine over time). */
#define TASK_TREND_SAMPLES 600
#define TASK_TREND_PERIOD_MS 100
/* Starts the sampler task if it is not running (the shell does); false if
 * it cannot be spawned. */
bool task_trend_start(void);
/* Stops the sampler and waits for it to end. */
void task_trend_stop(void);
bool task_trend_running(void);
/* Records task_count() now, as the sampler does each period. */
void task_trend_sample(void);
/* Forgets the samples and the maximum. */
void task_trend_reset(void);
/* Copies up to max samples, oldest first; *peak (may be NULL) gets the
 * largest sample since the last reset. Returns how many it copied. */
size_t task_trend_read(uint32_t *out, size_t max, uint32_t *peak);
/* A small text chart of the trend, with its max and the current count. */
void task_trend_print(void);

/* ---- memstats (kernel/memstats.c) ----------------------------------------- */
#define MEMSTATS_PAUSES 5 /* most recent pauses reported */
typedef struct memstats {
	uint64_t heap_in_use, heap_live, heap_goal, heap_trigger; /* bytes */
	uint64_t heap_alloc_total, heap_freed_total;              /* bytes, cumulative */
	uint64_t spans_in_use, span_bytes, tail_waste;
	uint64_t heap_pages_in_use, heap_pages_free_committed, heap_pages_free_uncommitted;
	uint64_t frames_free;   /* page source: free 4 KiB frames (arch_free_pages) */
	uint64_t meta_bytes;    /* heap metadata (tables, spans, bitmaps) */
	uint64_t persistent_bytes; /* fixalloc's persistent memory committed */
	uint64_t stacks, stack_bytes; /* task stacks allocated now */
	uint64_t gc_cycles, gc_pause_total_ns, gc_pause_max_ns;
	uint64_t gc_pauses_ns[MEMSTATS_PAUSES]; /* newest first */
	size_t gc_npauses;      /* valid entries of gc_pauses_ns */
	unsigned gc_cpu_permille;
	uint64_t gc_freed_objects, finalizers_run;
	int64_t gogc;
	size_t tasks;           /* live tasks (task_count) */
	uint64_t uptime_ns;
} memstats;
void memstats_read(memstats *out);
/* Prints the `memstats` view. */
void memstats_print(void);

/* ---- serial shell (kernel/shell.c) ---------------------------------------- */
/* True when `shell=1` is on the command line (`make run` passes it when
 * its stdin is a terminal). */
bool shell_requested(void);
/* The interactive shell on the console; returns the exit status once the
 * user types `halt`. */
int shell_run(void);

#define SHELL_LINE_MAX 120 /* characters in one command line */
/* The line editor, fed one input byte at a time. */
typedef struct shell_line {
	char buf[SHELL_LINE_MAX + 1];
	size_t len;
	bool too_long;  /* a character did not fit: the line will be rejected */
	bool after_cr;  /* last byte was CR: an LF right after it ends nothing */
	bool complete;  /* buf holds the line just returned; cleared on the next byte */
	uint8_t escape; /* 0; 1 after ESC; 2 inside ESC [ ...; 3 after ESC O */
} shell_line;
typedef enum shell_feed {
	SHELL_FEED_MORE,     /* keep feeding */
	SHELL_FEED_LINE,     /* buf holds a complete line (NUL-terminated) */
	SHELL_FEED_TOO_LONG, /* a line ended that did not fit: rejected */
	SHELL_FEED_CANCEL,   /* Ctrl-C: the line was dropped */
} shell_feed;
void shell_line_init(shell_line *l);
/* Handles byte c: printable characters are added (and echoed), backspace
 * (0x08) and DEL (0x7f) erase one ("\b \b"), CR or LF ends the line (CR LF
 * counts once), Ctrl-C cancels, escape sequences (arrow keys) and other
 * control bytes are ignored. After LINE / TOO_LONG / CANCEL the editor is
 * ready for the next line. echo (may be NULL) gets what a terminal should
 * show. */
shell_feed shell_line_feed(shell_line *l, int c, void (*echo)(const char *s, size_t n));

typedef enum shell_status {
	SHELL_OK,      /* the command ran */
	SHELL_UNKNOWN, /* no such command */
	SHELL_USAGE,   /* bad or missing arguments (usage printed) */
	SHELL_FAILED,  /* it ran and failed (e.g. a test failed) */
	SHELL_HALT,    /* `halt`: the caller should leave */
} shell_status;
/* Runs one command line (split in place); prints errors. */
shell_status shell_exec(char *line);
