/*
 * sched/sync.c - Go's sync package for tasks: mutex, rwmutex, cond,
 * waitgroup, counting semaphore and once, each a spinlock plus FIFO wait
 * queues on top of sched_block_on / sched_wake. The invariants are written
 * next to the structs in sched/sched.h.
 *
 * Blocking, for every primitive the same way: take the object's lock, and
 * if the operation cannot proceed call sched_block_on(), which queues the
 * task, marks it blocked (wait reason, object, switch reason) and only then
 * drops the object's lock; a waker needs that lock to find the task, so no
 * wakeup can fall between "decided to wait" and "waiting", on one CPU or
 * many. Where the woken task is handed what it waited for (rwmutex,
 * semaphore, starving mutex), the waker updates the object before the wake
 * and the woken task simply returns.
 *
 * Locks: each object's spinlock, then sched_lock; cond_wait also takes its
 * mutex's under the cond's. No other primitive here takes a second
 * object's lock. The order is the lock-rank table in arch/arch.h.
 */
#include "sched/sched.h"

/* ---- mutex ------------------------------------------------------------- */

/* A waiter blocked longer than this turns on starvation mode (Go's
 * starvationThresholdNs). */
#define MUTEX_STARVATION_NS (1000 * 1000ULL)

void mutex_init(mutex *m)
{
	*m = (mutex)MUTEX_INIT;
}

bool mutex_try_lock(mutex *m)
{
	bool got = false;

	spin_lock(&m->lock);
	if (!m->locked) {
		m->locked = true;
		m->owner = task_self();
		got = true;
	}
	spin_unlock(&m->lock);
	return got;
}

void mutex_lock(mutex *m)
{
	task *self = task_self();
	uint64_t wait_start = 0;
	bool waited = false;

	spin_lock(&m->lock);
	while (m->locked) {
		uint64_t now = arch_nanotime();
		if (!waited) {
			waited = true;
			wait_start = now;
		} else if (now - wait_start > MUTEX_STARVATION_NS) {
			m->starving = true;
		}
		sched_block_on(&m->waiters, &m->lock, SWITCH_MUTEX, WAIT_REASON_SYNC_MUTEX_LOCK, m);
		spin_lock(&m->lock);
		if (task_wait_data(self) == m) {
			/* Starvation mode: mutex_release_locked made us the
			 * owner. Leave the mode if we were the last waiter or
			 * did not wait long (Go's rule). */
			task_set_wait_data(self, NULL);
			if (waitq_empty(&m->waiters) ||
			    arch_nanotime() - wait_start < MUTEX_STARVATION_NS)
				m->starving = false;
			spin_unlock(&m->lock);
			return;
		}
		/* Normal mode: we were woken to compete; the next unlock may
		 * wake another waiter now. */
		m->woken = false;
	}
	m->locked = true;
	m->owner = self;
	spin_unlock(&m->lock);
}

static void mutex_release_locked(mutex *m)
{
	ASSERT_HELD(&m->lock);
	ASSERT(m->locked);
	if (m->starving && !waitq_empty(&m->waiters)) {
		/* Hand off: the mutex stays locked, now by the first waiter.
		 * Marking it after the wake is safe: it reads the mark only
		 * after taking m->lock, which we hold. */
		task *next = waitq_wake_one(&m->waiters);
		task_set_wait_data(next, m);
		m->owner = next;
		return;
	}
	m->starving = false;
	m->locked = false;
	m->owner = NULL;
	/* One woken waiter at a time: a second would only find the mutex
	 * taken again by the first or by a newcomer (Go's mutexWoken). */
	if (!m->woken && !waitq_empty(&m->waiters)) {
		m->woken = true;
		waitq_wake_one(&m->waiters);
	}
}

/* Unlocks m; false (nothing done) if it was not locked. */
static bool mutex_release(mutex *m)
{
	spin_lock(&m->lock);
	bool was_locked = m->locked;
	if (was_locked)
		mutex_release_locked(m);
	spin_unlock(&m->lock);
	return was_locked;
}

void mutex_unlock(mutex *m)
{
	if (!mutex_release(m))
		task_panic("sync: unlock of unlocked mutex");
}

/* ---- rwmutex ----------------------------------------------------------- */

void rwmutex_init(rwmutex *rw)
{
	*rw = (rwmutex)RWMUTEX_INIT;
}

void rwmutex_rlock(rwmutex *rw)
{
	spin_lock(&rw->lock);
	/* A waiting writer keeps new readers out (writer preference). */
	if (!rw->writer && waitq_empty(&rw->writeq)) {
		rw->readers++;
		spin_unlock(&rw->lock);
		return;
	}
	sched_block_on(&rw->readq, &rw->lock, SWITCH_MUTEX, WAIT_REASON_SYNC_RWMUTEX_RLOCK, rw);
	/* rwmutex_unlock counted us in readers before waking us. */
}

void rwmutex_runlock(rwmutex *rw)
{
	spin_lock(&rw->lock);
	if (rw->readers == 0) {
		spin_unlock(&rw->lock);
		task_panic("sync: RUnlock of unlocked RWMutex");
	}
	if (--rw->readers == 0 && !waitq_empty(&rw->writeq)) {
		/* The last reader out hands the lock to the first writer. */
		rw->writer = true;
		waitq_wake_one(&rw->writeq);
	}
	spin_unlock(&rw->lock);
}

void rwmutex_lock(rwmutex *rw)
{
	spin_lock(&rw->lock);
	if (!rw->writer && rw->readers == 0) {
		/* By the invariants both queues are empty here. */
		rw->writer = true;
		spin_unlock(&rw->lock);
		return;
	}
	sched_block_on(&rw->writeq, &rw->lock, SWITCH_MUTEX, WAIT_REASON_SYNC_RWMUTEX_LOCK, rw);
	/* The last reader or the previous writer set rw->writer for us. */
}

void rwmutex_unlock(rwmutex *rw)
{
	spin_lock(&rw->lock);
	if (!rw->writer) {
		spin_unlock(&rw->lock);
		task_panic("sync: Unlock of unlocked RWMutex");
	}
	rw->writer = false;
	if (!waitq_empty(&rw->readq)) {
		/* Readers that queued behind this writer go first, all at
		 * once; waiting writers wait for them (no reader starvation). */
		rw->readers += (uint32_t)waitq_wake_all(&rw->readq);
	} else if (!waitq_empty(&rw->writeq)) {
		rw->writer = true;
		waitq_wake_one(&rw->writeq);
	}
	spin_unlock(&rw->lock);
}

/* ---- cond -------------------------------------------------------------- */

void cond_init(cond *c, mutex *m)
{
	*c = (cond)COND_INIT(m);
}

void cond_wait(cond *c)
{
	ASSERT(c->m);
	spin_lock(&c->lock);
	/* Unlock the mutex while holding c->lock: a signal needs c->lock, so
	 * it cannot run between the unlock and our joining the queue (which
	 * Go's notifyList gets from its tickets). */
	if (!mutex_release(c->m)) {
		spin_unlock(&c->lock);
		task_panic("sync: unlock of unlocked mutex");
	}
	sched_block_on(&c->waiters, &c->lock, SWITCH_COND, WAIT_REASON_SYNC_COND_WAIT, c);
	mutex_lock(c->m);
}

void cond_signal(cond *c)
{
	spin_lock(&c->lock);
	waitq_wake_one(&c->waiters);
	spin_unlock(&c->lock);
}

void cond_broadcast(cond *c)
{
	spin_lock(&c->lock);
	waitq_wake_all(&c->waiters);
	spin_unlock(&c->lock);
}

/* ---- waitgroup --------------------------------------------------------- */

void waitgroup_init(waitgroup *wg)
{
	*wg = (waitgroup)WAITGROUP_INIT;
}

void waitgroup_add(waitgroup *wg, int64_t delta)
{
	spin_lock(&wg->lock);
	int64_t count;
	if (__builtin_add_overflow(wg->count, delta, &count) || count < 0) {
		spin_unlock(&wg->lock);
		task_panic("sync: negative WaitGroup counter");
	}
	wg->count = count;
	if (count == 0)
		waitq_wake_all(&wg->waiters);
	spin_unlock(&wg->lock);
}

void waitgroup_done(waitgroup *wg)
{
	waitgroup_add(wg, -1);
}

void waitgroup_wait(waitgroup *wg)
{
	spin_lock(&wg->lock);
	if (wg->count == 0) {
		spin_unlock(&wg->lock);
		return;
	}
	sched_block_on(&wg->waiters, &wg->lock, SWITCH_WAITGROUP, WAIT_REASON_SYNC_WAITGROUP_WAIT,
		       wg);
}

/* ---- semaphore --------------------------------------------------------- */

void semaphore_init(semaphore *s, uint64_t count)
{
	*s = (semaphore)SEMAPHORE_INIT(count);
}

void semaphore_acquire(semaphore *s)
{
	spin_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		spin_unlock(&s->lock);
		return;
	}
	sched_block_on(&s->waiters, &s->lock, SWITCH_SEMAPHORE, WAIT_REASON_SEMACQUIRE, s);
	/* semaphore_release handed us its unit (count was not raised). */
}

bool semaphore_try_acquire(semaphore *s)
{
	bool got = false;

	spin_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		got = true;
	}
	spin_unlock(&s->lock);
	return got;
}

void semaphore_release(semaphore *s)
{
	spin_lock(&s->lock);
	/* FIFO handoff: a newcomer cannot take the unit from a waiter. */
	if (!waitq_wake_one(&s->waiters))
		s->count++;
	spin_unlock(&s->lock);
}

/* ---- once -------------------------------------------------------------- */

enum { ONCE_NOT_RUN = 0, ONCE_RUNNING = 1, ONCE_DONE = 2 };

void once_do(once *o, void (*fn)(void *), void *arg)
{
	/* Fast path, no lock: DONE is final, and the release store below
	 * makes fn's writes visible to whoever sees it. */
	if (__atomic_load_n(&o->state, __ATOMIC_ACQUIRE) == ONCE_DONE)
		return;
	task *self = task_self();
	spin_lock(&o->lock);
	while (o->state == ONCE_RUNNING) {
		if (o->runner == self) {
			spin_unlock(&o->lock);
			task_panic("sync: once_do called from its own function");
		}
		sched_block_on(&o->waiters, &o->lock, SWITCH_MUTEX, WAIT_REASON_SYNC_MUTEX_LOCK, o);
		spin_lock(&o->lock);
	}
	if (o->state == ONCE_DONE) {
		spin_unlock(&o->lock);
		return;
	}
	o->state = ONCE_RUNNING;
	o->runner = self;
	spin_unlock(&o->lock);

	fn(arg);

	spin_lock(&o->lock);
	o->runner = NULL;
	__atomic_store_n(&o->state, ONCE_DONE, __ATOMIC_RELEASE);
	waitq_wake_all(&o->waiters);
	spin_unlock(&o->lock);
}
