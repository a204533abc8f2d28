/*
 * sched/sched.c - tasks and the scheduler.
 *
 * Overview. A task is a record (fixalloc'd, never scanned by the collector)
 * plus a stack from mm/stack.c with an unmapped gap below it, and an
 * arch_context holding its saved stack pointer. Each CPU (one for now: a
 * per-CPU struct all the same) has a FIFO run queue, the running task and an
 * idle task that halts when nothing is runnable.
 *
 * Switching. schedule_locked() is the one place a task gives up the CPU:
 *   1. the caller holds sched_lock (interrupts off) and has already set the
 *      current task's state: RUNNABLE (yield, preemption: it goes to the
 *      back of the run queue), BLOCKED (it is on some wait queue), DEAD;
 *   2. the switch is counted by reason, CPU time is charged;
 *   3. the next task is the head of the run queue, else the idle task;
 *   4. arch_context_switch() saves the callee-saved registers and the stack
 *      pointer and resumes the next task where it last switched - in its
 *      own schedule_locked() call, or, if new, in task_start();
 *   5. the resumed task reaps a task that died on the way (its stack could
 *      not be freed while still in use) and returns to its caller, which
 *      drops sched_lock and so restores its own interrupt state.
 * sched_lock is held across the switch (as xv6 holds p->lock): the task
 * switched to is the one that releases it.
 *
 * Preemption. The timer tick (interrupt context) wakes sleepers, and after
 * `quantum_ms` of one task running, if another is runnable and preemption
 * is enabled, switches right there: the interrupt entry has saved the full
 * register set on the task's stack, so the task resumes mid-instruction
 * stream when it is next switched to and returns from the interrupt.
 *
 * Faults. A fault in a task (arch fault handler), task_panic() or a stack
 * overflow kills only that task, with a message and a backtrace; a fault in
 * the main or idle task is a kernel fault and panics.
 *
 * Task states (guarded by sched_lock):
 *   RUNNABLE -> RUNNING           picked by schedule_locked
 *   RUNNING  -> RUNNABLE          yield, preemption
 *   RUNNING  -> BLOCKED           sched_block_on, sleep, join
 *   BLOCKED  -> RUNNABLE          sched_wake (wait queue, timer)
 *   RUNNING  -> DEAD              return from fn, task_exit, killed
 * Invariant: a task is on the run queue iff RUNNABLE; exactly one task per
 * CPU is RUNNING, and it is cpu->current.
 */
#include "sched/sched.h"

/* ---- the task record --------------------------------------------------- */
struct task {
	arch_context *context;     /* &ctx; main's is the boot context */
	arch_context ctx;
	uint64_t id;
	char name[32];
	task_state state;          /* guarded by sched_lock */
	wait_reason wait_reason;   /* BLOCKED: why; else WAIT_REASON_NONE */
	const void *wait_object;   /* BLOCKED: what it waits on */
	uint64_t blocked_at;       /* BLOCKED: arch_nanotime() */
	void *wait_data;           /* scratch of the primitive it waits in */
	mstack stack;              /* zero for the main task (boot stack) */
	void (*fn)(void *);
	void *arg;
	uintptr_t create_pc;
	int exit_status;
	bool detached;             /* free the record at death */
	bool reclaim;              /* leaked: dies when next switched to */
	waitq joiners;             /* guarded by sched_lock */
	uint64_t switches[SWITCH_REASON_COUNT];
	uint64_t cpu_cycles;       /* charged at every switch away */
	uint64_t ran_since;        /* arch_cycles() when last switched in */
	uint64_t wake_at;          /* sleeping: arch_nanotime() deadline, else 0 */
	task *queue_next;          /* run queue or one wait queue */
	task *sleep_next;          /* the sleep list */
	task *all_next, *all_prev; /* every task not yet freed */
	uint64_t gc_scan_gen;      /* the collector's cycle that scanned it */
};

/* ---- per-CPU state ----------------------------------------------------- */
struct cpu {
	task *current;
	task *idle;
	task *run_head, *run_tail; /* RUNNABLE tasks, FIFO */
	int preempt_count;         /* > 0: the tick does not preempt */
	bool need_resched;         /* a preemption was held back */
	uint32_t ticks_left;       /* of the running task's quantum */
	uint64_t rng;              /* sched_random() state */
	task *reap;                /* died on the way to the next task */
};

static struct cpu cpu0;
static struct cpu *this_cpu(void) { return &cpu0; }

static spinlock sched_lock = SPINLOCK_INIT("sched", LOCK_RANK_SCHED);
/* guarded by sched_lock */
static task *all_tasks;
static task *sleepers; /* sorted by wake_at */
static size_t live_tasks;
/* The collector's cycle whose stack scan is under way, and how many live
 * tasks it has not scanned yet: "all scanned?" at mark termination costs
 * O(1), not a walk over every task (the pause must not grow with the task
 * count). */
static uint64_t scan_gen;
static size_t scan_left;
static uint64_t next_task_id = 1;
static uint64_t switch_counts[SWITCH_REASON_COUNT];
static fixalloc task_records;
static task *main_task;

static int64_t quantum_ms = 10;
CMDLINE_INT(quantum_ms, "quantum_ms", 1, 1000, "time slice before timer preemption, ms");

static const char *const reason_names[SWITCH_REASON_COUNT] = {
	[SWITCH_PREEMPTED] = "preempted", [SWITCH_YIELD] = "yield",
	[SWITCH_SLEEP] = "sleep",         [SWITCH_CHAN_SEND] = "chan send",
	[SWITCH_CHAN_RECV] = "chan receive", [SWITCH_SELECT] = "select",
	[SWITCH_MUTEX] = "mutex",         [SWITCH_COND] = "cond",
	[SWITCH_WAITGROUP] = "waitgroup", [SWITCH_SEMAPHORE] = "semaphore",
	[SWITCH_JOIN] = "join",           [SWITCH_EXIT] = "exit",
	[SWITCH_GC] = "gc",
};

const char *switch_reason_name(switch_reason r)
{
	return r < SWITCH_REASON_COUNT ? reason_names[r] : "?";
}

/* Go's texts (runtime2.go's waitReasonStrings); tests, the task dump, the
 * task profile and the leak report print them. */
static const char *const wait_reason_names[WAIT_REASON_COUNT] = {
	[WAIT_REASON_NONE] = "",
	[WAIT_REASON_SLEEP] = "sleep",
	[WAIT_REASON_TASK_JOIN] = "task join",
	[WAIT_REASON_SYNC_MUTEX_LOCK] = "sync.Mutex.Lock",
	[WAIT_REASON_SYNC_RWMUTEX_RLOCK] = "sync.RWMutex.RLock",
	[WAIT_REASON_SYNC_RWMUTEX_LOCK] = "sync.RWMutex.Lock",
	[WAIT_REASON_SYNC_COND_WAIT] = "sync.Cond.Wait",
	[WAIT_REASON_SYNC_WAITGROUP_WAIT] = "sync.WaitGroup.Wait",
	[WAIT_REASON_SEMACQUIRE] = "semacquire",
	[WAIT_REASON_CHAN_RECEIVE] = "chan receive",
	[WAIT_REASON_CHAN_SEND] = "chan send",
	[WAIT_REASON_SELECT] = "select",
	[WAIT_REASON_CHAN_RECEIVE_NIL_CHAN] = "chan receive (nil chan)",
	[WAIT_REASON_CHAN_SEND_NIL_CHAN] = "chan send (nil chan)",
	[WAIT_REASON_SELECT_NO_CASES] = "select (no cases)",
	[WAIT_REASON_GC_ASSIST_WAIT] = "GC assist wait",
	[WAIT_REASON_GARBAGE_COLLECTION] = "garbage collection",
	[WAIT_REASON_GC_WORKER_IDLE] = "GC worker (idle)",
	[WAIT_REASON_GC_WORKER_ACTIVE] = "GC worker (active)",
	[WAIT_REASON_GC_SWEEP_WAIT] = "GC sweep wait",
	[WAIT_REASON_FINALIZER_WAIT] = "finalizer wait",
};

const char *wait_reason_name(wait_reason r)
{
	return (unsigned)r < WAIT_REASON_COUNT && wait_reason_names[r] ? wait_reason_names[r]
								  : "?";
}

const char *task_state_name(task_state s)
{
	static const char *const names[] = { "runnable", "running", "blocked", "dead" };
	return s <= TASK_DEAD ? names[s] : "?";
}

/* ---- queues (sched_lock or the embedding object's lock) ----------------- */
static void runq_push(struct cpu *c, task *t)
{
	t->queue_next = NULL;
	if (c->run_tail)
		c->run_tail->queue_next = t;
	else
		c->run_head = t;
	c->run_tail = t;
}

static task *runq_pop(struct cpu *c)
{
	task *t = c->run_head;
	if (t) {
		c->run_head = t->queue_next;
		if (!c->run_head)
			c->run_tail = NULL;
		t->queue_next = NULL;
	}
	return t;
}

static void waitq_push(waitq *q, task *t)
{
	t->queue_next = NULL;
	if (q->tail)
		q->tail->queue_next = t;
	else
		q->head = t;
	q->tail = t;
}

static task *waitq_pop(waitq *q)
{
	task *t = q->head;
	if (t) {
		q->head = t->queue_next;
		if (!q->head)
			q->tail = NULL;
		t->queue_next = NULL;
	}
	return t;
}

bool waitq_empty(const waitq *q) { return q->head == NULL; }

/* ---- switching ---------------------------------------------------------- */
static void free_task_record(task *t);

/* Frees what a task that died on the way here left behind. */
static void reap_locked(struct cpu *c)
{
	ASSERT_HELD(&sched_lock);
	task *dead = c->reap;
	if (!dead)
		return;
	c->reap = NULL;
	stack_free(&dead->stack);
	if (dead->detached)
		free_task_record(dead);
}

static void schedule_locked(switch_reason why)
{
	struct cpu *c = this_cpu();
	task *prev = c->current;
	ASSERT_HELD(&sched_lock);
	ASSERT(prev->state != TASK_RUNNING);
	ASSERT(c->preempt_count == 0 || prev->state == TASK_DEAD);

	if (prev->state == TASK_RUNNABLE && prev != c->idle)
		runq_push(c, prev);
	task *next = runq_pop(c);
	if (!next)
		next = c->idle;
	if (next == prev) { /* yield with nobody else runnable */
		prev->state = TASK_RUNNING;
		return;
	}
	if (prev != c->idle) {
		prev->switches[why]++;
		switch_counts[why]++;
	}
	uint64_t now = arch_cycles();
	prev->cpu_cycles += now - prev->ran_since;
	next->ran_since = now;
	next->state = TASK_RUNNING;
	c->current = next;
	c->ticks_left = (uint32_t)(quantum_ms * arch_tick_hz() / 1000);
	if (c->ticks_left == 0)
		c->ticks_left = 1;
	c->need_resched = false;

	arch_irqflags_t my_irq = sched_lock.saved_irq;
	sched_lock.owner = next->context;
	arch_context_switch(prev->context, next->context);
	/* Back on prev, switched to by someone holding sched_lock. */
	sched_lock.owner = prev->context;
	sched_lock.saved_irq = my_irq;
	reap_locked(c);
}

/* A new task's first code: finish the switch the way schedule_locked's
 * tail would, then run the task's function. */
static void task_start(void *arg)
{
	task *self = arg;
	sched_lock.owner = self->context;
	sched_lock.saved_irq = 0; /* stay off until the lock is dropped */
	reap_locked(this_cpu());
	spin_unlock(&sched_lock);
	arch_irq_enable(); /* tasks start with interrupts on */
	/* From here on the argument lives where fn keeps it (its registers
	 * and stack, scanned like any); the record stops being a root for
	 * it, so a task does not pin its argument after it is done with it. */
	void *fn_arg = self->arg;
	self->arg = NULL;
	self->fn(fn_arg);
	task_exit(0);
}

/* ---- spawning, joining, dying -------------------------------------------- */
static void free_task_record(task *t)
{
	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		all_tasks = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	fixalloc_free(&task_records, t);
}

static task *new_task_locked(const char *name)
{
	ASSERT_HELD(&sched_lock);
	task *t = fixalloc_alloc(&task_records);
	if (!t)
		return NULL;
	t->id = next_task_id++;
	size_t n = strlen(name);
	if (n >= sizeof(t->name))
		n = sizeof(t->name) - 1;
	memcpy(t->name, name, n);
	t->name[n] = '\0';
	t->all_next = all_tasks;
	if (all_tasks)
		all_tasks->all_prev = t;
	all_tasks = t;
	return t;
}

static __attribute__((noinline)) task *spawn(void (*fn)(void *), void *arg, const char *name,
					   size_t stack_size, uintptr_t create_pc)
{
	mstack stack;
	if (!stack_alloc(stack_size, &stack))
		return NULL;
	spin_lock(&sched_lock);
	task *t = new_task_locked(name ? name : "task");
	if (!t) {
		spin_unlock(&sched_lock);
		stack_free(&stack);
		heap_set_error("out of memory for a task record");
		return NULL;
	}
	t->stack = stack;
	t->fn = fn;
	t->arg = arg;
	t->create_pc = create_pc;
	arch_context_init(&t->ctx, stack.base, stack.size, task_start, t);
	t->context = &t->ctx;
	t->state = TASK_RUNNABLE;
	live_tasks++;
	scan_left++; /* born unscanned (gc_scan_gen 0) */
	runq_push(this_cpu(), t);
	spin_unlock(&sched_lock);
	return t;
}

task *task_spawn(void (*fn)(void *), void *arg, const char *name)
{
	return spawn(fn, arg, name, 0, (uintptr_t)__builtin_return_address(0));
}

task *task_spawn_stack(void (*fn)(void *), void *arg, const char *name, size_t stack_size)
{
	return spawn(fn, arg, name, stack_size, (uintptr_t)__builtin_return_address(0));
}

static _Noreturn void die_locked(int status)
{
	ASSERT_HELD(&sched_lock);
	struct cpu *c = this_cpu();
	task *self = c->current;
	ASSERT(self != main_task && self != c->idle);
	self->exit_status = status;
	self->state = TASK_DEAD;
	self->context->dying = true;
	live_tasks--;
	if (self->gc_scan_gen != scan_gen && scan_left > 0)
		scan_left--;
	/* A task killed with preemption disabled must not leave it so. */
	c->preempt_count = 0;
	task *joiner;
	while ((joiner = waitq_pop(&self->joiners)) != NULL) {
		joiner->state = TASK_RUNNABLE;
		joiner->wait_reason = WAIT_REASON_NONE;
		joiner->wait_object = NULL;
		runq_push(c, joiner);
	}
	ASSERT(c->reap == NULL);
	c->reap = self;
	schedule_locked(SWITCH_EXIT);
	panic("a dead task was switched back to");
}

_Noreturn void task_exit(int status)
{
	spin_lock(&sched_lock);
	die_locked(status);
}

static _Noreturn void kill_current(const char *why)
{
	task *self = task_self();
	kprintf("task %llu '%s' killed: %s\n", (unsigned long long)self->id, self->name, why);
	arch_irq_disable();
	spin_lock(&sched_lock);
	die_locked(TASK_EXIT_FAULT);
}

_Noreturn void task_panic(const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kprintf("panic in task %llu '%s': %s\n", (unsigned long long)task_self()->id,
		task_self()->name, msg);
	print_backtrace();
	kill_current(msg);
}

/* arch fault handler: kills the faulting task; returns (-> kernel panic)
 * when the fault is not a task's. */
static void sched_fault(const arch_fault *f)
{
	struct cpu *c = this_cpu();
	task *t = c->current;
	/* Not a task's own fault: in the scheduler itself (its lock held) or
	 * with the world stopped, the kernel proper faulted: panic. */
	if (!t || t == main_task || t == c->idle || world_stopped() || spin_held(&sched_lock))
		return;
	char why[96];
	if (stack_in_guard(&t->stack, f->addr))
		ksnprintf(why, sizeof(why), "stack overflow in task %llu '%s' (%zu KiB stack)",
			  (unsigned long long)t->id, t->name, t->stack.asked >> 10);
	else
		ksnprintf(why, sizeof(why), "%s at ip 0x%llx (address 0x%llx)",
			  arch_fault_name(f->vector), (unsigned long long)f->ip,
			  (unsigned long long)f->addr);
	kill_current(why);
}

int task_join(task *t)
{
	task *self = task_self();
	if (t == self)
		panic("task %llu '%s' joins itself", (unsigned long long)t->id, t->name);
	spin_lock(&sched_lock);
	ASSERT(!t->detached);
	while (t->state != TASK_DEAD) {
		waitq_push(&t->joiners, self);
		self->state = TASK_BLOCKED;
		self->wait_reason = WAIT_REASON_TASK_JOIN;
		self->wait_object = t;
		self->blocked_at = arch_nanotime();
		schedule_locked(SWITCH_JOIN);
	}
	int status = t->exit_status;
	/* Its stack was freed by the first task to run after it died (every
	 * switch reaps); the record is ours to free. */
	ASSERT(this_cpu()->reap != t);
	free_task_record(t);
	spin_unlock(&sched_lock);
	return status;
}

void task_detach(task *t)
{
	spin_lock(&sched_lock);
	t->detached = true;
	if (t->state == TASK_DEAD && this_cpu()->reap != t)
		free_task_record(t);
	spin_unlock(&sched_lock);
}

/* ---- simple queries ------------------------------------------------------ */
task *task_self(void) { return this_cpu()->current; }
uint64_t task_id(const task *t) { return t->id; }
const char *task_name(const task *t) { return t->name; }
task_state task_get_state(const task *t) { return t->state; }

bool task_is_idle(const task *t)
{
	return t == this_cpu()->idle;
}

size_t task_count(void)
{
	return live_tasks;
}

void *task_wait_data(const task *t) { return t->wait_data; }
void task_set_wait_data(task *t, void *data) { t->wait_data = data; }

void sched_switch_counts(uint64_t out[SWITCH_REASON_COUNT])
{
	spin_lock(&sched_lock);
	memcpy(out, switch_counts, sizeof(switch_counts));
	spin_unlock(&sched_lock);
}

void task_get_info(const task *t, task_info *out)
{
	spin_lock(&sched_lock);
	task_get_info_locked(t, out);
	spin_unlock(&sched_lock);
}

void task_get_info_locked(const task *t, task_info *out)
{
	ASSERT_HELD(&sched_lock);
	*out = (task_info){
		.id = t->id,
		.state = t->state,
		.wait_reason = t->state == TASK_BLOCKED ? t->wait_reason : WAIT_REASON_NONE,
		.wait_object = t->state == TASK_BLOCKED ? t->wait_object : NULL,
		.wait_ns = t->state == TASK_BLOCKED ? arch_nanotime() - t->blocked_at : 0,
		.wake_at = t->state == TASK_BLOCKED ? t->wake_at : 0,
		.stack_size = t->stack.size ? t->stack.size : t->context->stack_size,
		.stack_high_water = t->stack.base ? stack_high_water(&t->stack) : 0,
		.create_pc = t->create_pc,
		.exit_status = t->exit_status,
	};
	memcpy(out->name, t->name, sizeof(out->name));
	memcpy(out->switches, t->switches, sizeof(out->switches));
	uint64_t cycles = t->cpu_cycles;
	if (t == task_self())
		cycles += arch_cycles() - t->ran_since;
	uint64_t hz = arch_cycles_per_sec();
	out->cpu_ns = cycles / hz * 1000000000ULL + cycles % hz * 1000000000ULL / hz;
}

void sched_for_each_task(void (*fn)(task *t, void *arg), void *arg)
{
	spin_lock(&sched_lock);
	for (task *t = all_tasks; t; t = t->all_next)
		fn(t, arg);
	spin_unlock(&sched_lock);
}

size_t task_backtrace_locked(const task *t, uintptr_t *pcs, size_t max)
{
	ASSERT_HELD(&sched_lock);
	if (t->state == TASK_DEAD)
		return 0; /* its stack is gone */
	if (t == task_self())
		return arch_backtrace(pcs, max);
	return arch_context_backtrace(t->context, pcs, max);
}

/* ---- yielding, blocking, waking ------------------------------------------ */
void task_yield_reason(switch_reason why)
{
	spin_lock(&sched_lock);
	this_cpu()->current->state = TASK_RUNNABLE;
	schedule_locked(why);
	spin_unlock(&sched_lock);
}

void task_yield(void)
{
	task_yield_reason(SWITCH_YIELD);
}

void sched_block_on(waitq *q, spinlock *lock, switch_reason why, wait_reason wait,
		    const void *wait_object)
{
	task *self = task_self();
	ASSERT(self != this_cpu()->idle);
	ASSERT(!world_stopped());
	/* The interrupt state to return to is the one `lock` saved; dropping
	 * `lock` below must keep interrupts off until the switch. */
	arch_irqflags_t irq = lock ? lock->saved_irq : arch_irq_save();
	if (lock)
		lock->saved_irq = 0;
	spin_lock(&sched_lock);
	if (q)
		waitq_push(q, self);
	self->state = TASK_BLOCKED;
	self->wait_reason = wait;
	self->wait_object = wait_object;
	self->blocked_at = arch_nanotime();
	if (lock)
		spin_unlock(lock);
	schedule_locked(why);
	if (self->reclaim) {
		/* The leak detector proved nothing can wake us; the user
		 * asked to reclaim leaked tasks. What we waited on is
		 * unreachable, so leaving it untouched is safe. */
		kprintf("task %llu '%s' reclaimed: it could never wake (%s)\n",
			(unsigned long long)self->id, self->name, wait_reason_name(wait));
		die_locked(TASK_EXIT_FAULT);
	}
	spin_unlock(&sched_lock);
	arch_irq_restore(irq);
}

bool task_reclaim(uint64_t id)
{
	bool done = false;
	spin_lock(&sched_lock);
	for (task *t = all_tasks; t; t = t->all_next) {
		if (t->id != id || t->state != TASK_BLOCKED || t == main_task)
			continue;
		t->reclaim = true;
		t->state = TASK_RUNNABLE;
		runq_push(this_cpu(), t);
		done = true;
		break;
	}
	spin_unlock(&sched_lock);
	return done;
}

void sched_wake(task *t)
{
	spin_lock(&sched_lock);
	if (t->state == TASK_BLOCKED) {
		t->state = TASK_RUNNABLE;
		t->wait_reason = WAIT_REASON_NONE;
		t->wait_object = NULL;
		runq_push(this_cpu(), t);
	}
	spin_unlock(&sched_lock);
}

task *waitq_wake_one(waitq *q)
{
	task *t = waitq_pop(q);
	if (t)
		sched_wake(t);
	return t;
}

size_t waitq_wake_all(waitq *q)
{
	size_t n = 0;
	while (waitq_wake_one(q))
		n++;
	return n;
}

void task_scrub_stack(size_t max_bytes)
{
	/* Interrupts off: no interrupt frame is pushed below us after the
	 * clear. arch_clear_stack clears right up to its own return address,
	 * so only this small frame (no heap pointers in it) stays. */
	arch_irqflags_t irq = arch_irq_save();
	const arch_context *ctx = this_cpu()->current->context;
	uintptr_t here = (uintptr_t)__builtin_frame_address(0), lo = (uintptr_t)ctx->stack_base;
	if (here > lo && here - lo > max_bytes)
		lo = here - max_bytes;
	arch_clear_stack(lo, MSTACK_PAINT);
	arch_irq_restore(irq);
}

/* ---- sleeping and the tick ----------------------------------------------- */
void task_sleep(uint64_t ns)
{
	task_sleep_reason(ns, SWITCH_SLEEP, WAIT_REASON_SLEEP);
}

void task_sleep_reason(uint64_t ns, switch_reason why, wait_reason wait)
{
	if (ns == 0) {
		task_yield_reason(why == SWITCH_SLEEP ? SWITCH_YIELD : why);
		return;
	}
	task *self = task_self();
	spin_lock(&sched_lock);
	self->wake_at = arch_nanotime() + ns;
	task **pp = &sleepers;
	while (*pp && (*pp)->wake_at <= self->wake_at)
		pp = &(*pp)->sleep_next;
	self->sleep_next = *pp;
	*pp = self;
	self->state = TASK_BLOCKED;
	self->wait_reason = wait;
	self->wait_object = NULL;
	self->blocked_at = arch_nanotime();
	schedule_locked(why);
	spin_unlock(&sched_lock);
}

/* Timer interrupt, interrupts off. */
static void sched_tick(void)
{
	struct cpu *c = this_cpu();
	if (!c->current)
		return;
	spin_lock(&sched_lock);
	uint64_t now = arch_nanotime();
	while (sleepers && sleepers->wake_at <= now) {
		task *t = sleepers;
		sleepers = t->sleep_next;
		t->sleep_next = NULL;
		t->wake_at = 0;
		t->state = TASK_RUNNABLE;
		t->wait_reason = WAIT_REASON_NONE;
		runq_push(c, t);
	}
	if (c->ticks_left > 0)
		c->ticks_left--;
	bool want = c->run_head && (c->current == c->idle || c->ticks_left == 0);
	if (want && c->preempt_count > 0) {
		c->need_resched = true;
	} else if (want) {
		c->current->state = TASK_RUNNABLE;
		schedule_locked(SWITCH_PREEMPTED);
	}
	spin_unlock(&sched_lock);
}

void preempt_disable(void)
{
	arch_irqflags_t irq = arch_irq_save();
	this_cpu()->preempt_count++;
	arch_irq_restore(irq);
}

void preempt_enable(void)
{
	arch_irqflags_t irq = arch_irq_save();
	struct cpu *c = this_cpu();
	ASSERT(c->preempt_count > 0);
	bool resched = --c->preempt_count == 0 && c->need_resched;
	arch_irq_restore(irq);
	if (resched) {
		spin_lock(&sched_lock);
		c->current->state = TASK_RUNNABLE;
		schedule_locked(SWITCH_PREEMPTED);
		spin_unlock(&sched_lock);
	}
}

/* ---- stop the world ------------------------------------------------------- */
static bool world_is_stopped;
static uint64_t stw_started, stw_last;

void stop_the_world(const char *reason)
{
	(void)reason;
	uint64_t t0 = arch_nanotime();
	preempt_disable();
	/* One CPU: with preemption off, every other task is switched out at
	 * a point where it can be inspected. More CPUs would be sent an IPI
	 * here and waited for. */
	ASSERT(!world_is_stopped);
	world_is_stopped = true;
	stw_started = t0;
}

void start_the_world(void)
{
	ASSERT(world_is_stopped);
	world_is_stopped = false;
	stw_last = arch_nanotime() - stw_started;
	preempt_enable();
}

bool world_stopped(void) { return world_is_stopped; }

bool sched_may_block(void)
{
	struct cpu *c = this_cpu();
	return arch_irq_enabled() && c->preempt_count == 0 && !world_is_stopped &&
	       c->current && c->current != c->idle;
}
uint64_t stw_last_pause_ns(void) { return stw_last; }

/* ---- start-up ---------------------------------------------------------------- */
static void idle_loop(void *unused)
{
	(void)unused;
	struct cpu *c = this_cpu();
	for (;;) {
		arch_irq_disable();
		if (c->run_head) {
			spin_lock(&sched_lock);
			c->idle->state = TASK_RUNNABLE;
			schedule_locked(SWITCH_YIELD);
			spin_unlock(&sched_lock);
		} else {
			arch_wait_for_interrupt(); /* enables interrupts, halts */
		}
	}
}

uint64_t sched_random(void)
{
	arch_irqflags_t irq = arch_irq_save();
	uint64_t x = this_cpu()->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	this_cpu()->rng = x;
	arch_irq_restore(irq);
	return x;
}

void sched_init(void)
{
	struct cpu *c = this_cpu();
	fixalloc_init(&task_records, "task", sizeof(task), 64);
	c->rng = arch_cycles() | 1;

	spin_lock(&sched_lock);
	main_task = new_task_locked("main");
	ASSERT(main_task);
	main_task->context = arch_boot_context();
	main_task->state = TASK_RUNNING;
	main_task->ran_since = arch_cycles();
	live_tasks = 1;
	spin_unlock(&sched_lock);

	mstack idle_stack;
	if (!stack_alloc(0, &idle_stack))
		panic("sched: no stack for the idle task: %s", heap_last_error());
	spin_lock(&sched_lock);
	task *idle = new_task_locked("idle");
	ASSERT(idle);
	idle->stack = idle_stack;
	idle->fn = idle_loop;
	arch_context_init(&idle->ctx, idle_stack.base, idle_stack.size, task_start, idle);
	idle->context = &idle->ctx;
	idle->state = TASK_RUNNABLE;
	c->idle = idle;
	/* From here on the boot context is main's. */
	c->current = main_task;
	spin_unlock(&sched_lock);

	arch_set_fault_handler(sched_fault);
	arch_set_tick_handler(sched_tick);
}

/* ---- for the collector ------------------------------------------------------ */
void sched_begin_stack_scan(uint64_t gen)
{
	ASSERT_WORLD_STOPPED();
	spin_lock(&sched_lock);
	/* A new generation: no live task has been scanned in it yet. The
	 * idle task is live but not counted in live_tasks. */
	scan_gen = gen;
	scan_left = live_tasks + 1;
	spin_unlock(&sched_lock);
}

task *sched_claim_unscanned(uint64_t gen)
{
	ASSERT(this_cpu()->preempt_count > 0 || world_stopped());
	task *found = NULL;
	spin_lock(&sched_lock);
	if (gen == scan_gen && scan_left == 0) {
		spin_unlock(&sched_lock);
		return NULL;
	}
	for (task *t = all_tasks; t; t = t->all_next) {
		if (t->state != TASK_DEAD && t->gc_scan_gen != gen) {
			t->gc_scan_gen = gen;
			if (gen == scan_gen && scan_left > 0)
				scan_left--;
			found = t;
			break;
		}
	}
	spin_unlock(&sched_lock);
	return found;
}

bool sched_claim_task_for_scan(task *t, uint64_t gen)
{
	ASSERT(this_cpu()->preempt_count > 0 || world_stopped());
	spin_lock(&sched_lock);
	bool claimed = t->state != TASK_DEAD && t->gc_scan_gen != gen;
	if (claimed) {
		t->gc_scan_gen = gen;
		if (gen == scan_gen && scan_left > 0)
			scan_left--;
	}
	spin_unlock(&sched_lock);
	return claimed;
}

bool task_stack_live_range(const task *t, uintptr_t *lo, uintptr_t *hi)
{
	if (t->state == TASK_DEAD)
		return false;
	const arch_context *ctx = t->context;
	*hi = (uintptr_t)ctx->stack_base + ctx->stack_size;
	if (t == this_cpu()->idle) {
		/* The idle loop holds no heap pointer, and what its interrupt
		 * frames hold is provably dead: nothing of it is live. */
		*lo = *hi;
		return true;
	}
	if (t == task_self()) {
		/* The running task: only from where arch_run_spilled pushed its
		 * registers. Without that, values it keeps in callee-saved
		 * registers would be missed (and the runtime's own frames
		 * taken for the task's). */
		if (!ctx->spill_sp)
			panic("task %llu '%s': its own stack scanned outside arch_run_spilled "
			      "(its registers are not on it)", (unsigned long long)t->id, t->name);
		*lo = ctx->spill_sp;
	} else {
		*lo = ctx->sp;
	}
	/* A saved stack pointer outside the task's own stack would make its
	 * stack unscannable: never silently skip it. */
	if (*lo < (uintptr_t)ctx->stack_base || *lo > *hi)
		panic("task %llu '%s': stack pointer %p outside its stack [%p, %p)",
		      (unsigned long long)t->id, t->name, (void *)*lo, ctx->stack_base,
		      (void *)*hi);
	return true;
}

const arch_context *task_context(const task *t)
{
	return t->context;
}

void *task_start_arg(const task *t)
{
	return t->arg;
}
