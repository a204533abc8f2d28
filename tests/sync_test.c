/*
 * sync_test.c - sched/sync.c: mutex exclusion under preemption (and a
 * control showing the test would catch a broken lock), starvation handoff,
 * rwmutex reader concurrency and writer preference, cond, waitgroup,
 * semaphore, once, misuse killing only the offender, wait reasons, switch
 * reasons, and tasks_dump. Orderings are forced with yields and "wait
 * until that task is blocked" loops, never with sleeps or timing.
 */
#include "diag/diag.h"
#include "lib/lib.h"
#include "sched/sched.h"
#include "tests/task_test_util.h"

/* Spawns n tasks running fn(arg) with preemption off, so that all of them
 * are runnable before any runs: the tests below count on meeting each
 * other, and a preempted spawn loop could let the first finish alone. */
static void spawn_all(task **tasks, int n, void (*fn)(void *), void *arg, const char *name)
{
	int spawned = 0;
	preempt_disable();
	for (int i = 0; i < n; i++)
		spawned += (tasks[i] = task_spawn(fn, arg, name)) != NULL;
	preempt_enable();
	CHECK_EQ(spawned, n);
}

/* ---- mutex ----------------------------------------------------------- */

struct incrementer {
	mutex *m;                  /* NULL: no locking (the control) */
	volatile uint64_t *counter;
	int iterations;
	int yield_every;           /* yield between read and write */
	uint64_t mutex_switches;   /* out: this task's SWITCH_MUTEX */
};

static void increment(void *arg)
{
	struct incrementer *a = arg;
	for (int i = 0; i < a->iterations; i++) {
		if (a->m)
			mutex_lock(a->m);
		/* A read-modify-write split by a yield: any task that gets in
		 * between loses an update unless the mutex keeps it out. */
		uint64_t v = *a->counter;
		if (i % a->yield_every == 0)
			task_yield();
		*a->counter = v + 1;
		if (a->m)
			mutex_unlock(a->m);
	}
	task_info info;
	task_get_info(task_self(), &info);
	a->mutex_switches = info.switches[SWITCH_MUTEX];
}

TEST(sync, mutex_exclusion_under_preemption)
{
	enum { N = 8, ITERATIONS = 100000 };
	mutex m = MUTEX_INIT;
	volatile uint64_t counter = 0;
	struct incrementer args[N];
	task *tasks[N];
	uint64_t t0 = arch_nanotime();
	for (int i = 0; i < N; i++) {
		args[i] = (struct incrementer){ &m, &counter, ITERATIONS, 1024, 0 };
		tasks[i] = task_spawn(increment, &args[i], "incrementer");
		CHECK(tasks[i]);
	}
	uint64_t contended = 0;
	for (int i = 0; i < N; i++) {
		CHECK_EQ(task_join(tasks[i]), 0);
		contended += args[i].mutex_switches;
	}
	test_log("%llu increments in %llu ms, %llu blocked locks",
		 (unsigned long long)counter,
		 (unsigned long long)((arch_nanotime() - t0) / 1000000),
		 (unsigned long long)contended);
	CHECK_EQ(counter, (uint64_t)N * ITERATIONS);
	/* The yields inside the critical section make the others find it
	 * locked: the mutex really was contended. */
	CHECK_GT(contended, 0);
	CHECK(!m.locked && waitq_empty(&m.waiters));
}

/* The same read-modify-write without the mutex loses updates: proof that
 * the test above would catch a mutex that does not exclude. Deterministic:
 * a task yields between its read and its write, the other runs and writes
 * in between, and one of the two writes is lost. */
TEST(sync, unprotected_control_loses_updates)
{
	enum { N = 4, ITERATIONS = 100 };
	volatile uint64_t counter = 0;
	struct incrementer args[N];
	task *tasks[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct incrementer){ NULL, &counter, ITERATIONS, 1, 0 };
		tasks[i] = task_spawn(increment, &args[i], "racer");
		CHECK(tasks[i]);
	}
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	test_log("%llu of %d increments survived", (unsigned long long)counter,
		 N * ITERATIONS);
	CHECK_LT(counter, (uint64_t)N * ITERATIONS);
}

static void lock_unlock(void *arg)
{
	mutex_lock(arg);
	mutex_unlock(arg);
}

TEST(sync, mutex_wait_reason_and_try_lock)
{
	mutex m;
	mutex_init(&m);
	mutex_lock(&m);
	CHECK(!mutex_try_lock(&m));
	task *t = task_spawn(lock_unlock, &m, "locker");
	CHECK(t);
	yield_until_blocked(t);
	check_blocked_on(t, WAIT_REASON_SYNC_MUTEX_LOCK, &m);
	mutex_unlock(&m);
	CHECK_EQ(task_join(t), 0);
	CHECK(mutex_try_lock(&m));
	mutex_unlock(&m);
}

static void unlock_it(void *arg)
{
	mutex_unlock(arg);
}

TEST(sync, unlock_of_unlocked_kills_only_the_offender)
{
	mutex m = MUTEX_INIT;
	task *t = task_spawn(unlock_it, &m, "bad unlocker");
	CHECK(t);
	CHECK_EQ(task_join(t), TASK_EXIT_FAULT);
	/* The mutex and everyone else are fine. */
	mutex_lock(&m);
	t = task_spawn(unlock_it, &m, "good unlocker"); /* Go allows this */
	CHECK_EQ(task_join(t), 0);
	CHECK(mutex_try_lock(&m));
	mutex_unlock(&m);
}

struct order_log {
	mutex *m;
	volatile int *next;
	int got[4];
	int slot;
};

static void lock_and_log(void *arg)
{
	struct order_log *a = arg;
	mutex_lock(a->m);
	a->got[a->slot] = (*a->next)++;
	mutex_unlock(a->m);
}

/*
 * Starvation mode, forced: W1 and W2 wait while main holds the mutex for
 * over 1 ms. Main's unlock wakes W1, but main takes the mutex again before
 * W1 runs (normal mode lets newcomers in). W1, having waited over 1 ms,
 * turns starvation mode on as it blocks again, behind W2. From then on
 * unlock hands the mutex over in FIFO order: W2, then W1.
 */
TEST(sync, mutex_starvation_mode_hands_off_fifo)
{
	mutex m = MUTEX_INIT;
	volatile int next = 0;
	struct order_log a1 = { &m, &next, { 0 }, 0 }, a2 = { &m, &next, { 0 }, 1 };
	mutex_lock(&m);
	task *w1 = task_spawn(lock_and_log, &a1, "w1");
	yield_until_blocked(w1);
	task *w2 = task_spawn(lock_and_log, &a2, "w2");
	yield_until_blocked(w2);
	/* Over 1 ms of waiting for w1: a sleep never ends early, however
	 * loaded the machine (only a lower bound on time is relied on). */
	task_sleep(3 * 1000 * 1000);
	/* No preemption in between: w1 must not run before main relocks. */
	preempt_disable();
	mutex_unlock(&m);   /* wakes w1 */
	mutex_lock(&m);     /* before w1 runs */
	bool starving_before = m.starving;
	preempt_enable();
	CHECK(!starving_before);
	yield_until_blocked(w1); /* w1 ran, found it locked, blocked again */
	CHECK(m.starving);
	preempt_disable();  /* look before w2 runs */
	mutex_unlock(&m);   /* handed to w2 */
	bool handed = m.locked && m.owner == w2 && !mutex_try_lock(&m);
	preempt_enable();
	CHECK(handed);
	CHECK_EQ(task_join(w2), 0);
	CHECK_EQ(task_join(w1), 0);
	CHECK_EQ(a2.got[1], 0);
	CHECK_EQ(a1.got[0], 1);
	CHECK(!m.locked && !m.starving);
}

/* ---- rwmutex --------------------------------------------------------- */

struct rw_shared {
	rwmutex rw;
	volatile int readers_inside, writers_inside, max_readers;
	volatile int violations;
	int readers_wanted;
	int iterations;
	char log[8];
	volatile int log_len;
};

static void reader_waits_for_company(void *arg)
{
	struct rw_shared *s = arg;
	rwmutex_rlock(&s->rw);
	s->readers_inside++;
	if (s->readers_inside > s->max_readers)
		s->max_readers = s->readers_inside;
	/* Bounded: readers that excluded each other would fail, not hang. */
	for (int i = 0; i < 1000 && s->readers_inside < s->readers_wanted; i++)
		task_yield();
	s->readers_inside--;
	rwmutex_runlock(&s->rw);
}

TEST(sync, rwmutex_readers_share)
{
	enum { N = 4 };
	static struct rw_shared s;
	s = (struct rw_shared){ .rw = RWMUTEX_INIT, .readers_wanted = N };
	task *tasks[N];
	spawn_all(tasks, N, reader_waits_for_company, &s, "reader");
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	CHECK_EQ(s.max_readers, N);
	CHECK_EQ(s.rw.readers, 0);
}

static void rw_log(struct rw_shared *s, char c)
{
	s->log[s->log_len++] = c;
}

static void writer_logs(void *arg)
{
	struct rw_shared *s = arg;
	rwmutex_lock(&s->rw);
	rw_log(s, 'W');
	rwmutex_unlock(&s->rw);
}

static void reader_logs(void *arg)
{
	struct rw_shared *s = arg;
	rwmutex_rlock(&s->rw);
	rw_log(s, 'R');
	rwmutex_runlock(&s->rw);
}

/* A waiting writer keeps new readers out, though only readers hold it. */
TEST(sync, rwmutex_writer_preference)
{
	static struct rw_shared s;
	s = (struct rw_shared){ .rw = RWMUTEX_INIT };
	rwmutex_rlock(&s.rw);
	task *w = task_spawn(writer_logs, &s, "writer");
	yield_until_blocked(w);
	check_blocked_on(w, WAIT_REASON_SYNC_RWMUTEX_LOCK, &s.rw);
	task *r = task_spawn(reader_logs, &s, "late reader");
	yield_until_blocked(r);
	check_blocked_on(r, WAIT_REASON_SYNC_RWMUTEX_RLOCK, &s.rw);
	CHECK_EQ(s.log_len, 0);
	preempt_disable(); /* look before the writer runs */
	rwmutex_runlock(&s.rw); /* the last reader hands over to the writer */
	bool handed = s.rw.writer;
	preempt_enable();
	CHECK(handed);
	CHECK_EQ(task_join(w), 0);
	CHECK_EQ(task_join(r), 0);
	CHECK_EQ(s.log_len, 2);
	CHECK_EQ(s.log[0], 'W');
	CHECK_EQ(s.log[1], 'R');
}

static void rw_stress_writer(void *arg)
{
	struct rw_shared *s = arg;
	for (int i = 0; i < s->iterations; i++) {
		rwmutex_lock(&s->rw);
		s->writers_inside++;
		if (s->writers_inside != 1 || s->readers_inside != 0)
			s->violations++;
		task_yield();
		s->writers_inside--;
		rwmutex_unlock(&s->rw);
	}
}

static void rw_stress_reader(void *arg)
{
	struct rw_shared *s = arg;
	for (int i = 0; i < s->iterations; i++) {
		rwmutex_rlock(&s->rw);
		s->readers_inside++;
		if (s->writers_inside != 0)
			s->violations++;
		task_yield();
		s->readers_inside--;
		rwmutex_runlock(&s->rw);
	}
}

TEST(sync, rwmutex_writers_exclusive)
{
	enum { WRITERS = 3, READERS = 3 };
	static struct rw_shared s;
	s = (struct rw_shared){ .rw = RWMUTEX_INIT, .iterations = 300 };
	task *tasks[WRITERS + READERS];
	for (int i = 0; i < WRITERS + READERS; i++)
		CHECK((tasks[i] = task_spawn(i < WRITERS ? rw_stress_writer : rw_stress_reader,
					     &s, "rw stress")));
	for (int i = 0; i < WRITERS + READERS; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	CHECK_EQ(s.violations, 0);
	CHECK(!s.rw.writer && s.rw.readers == 0);
}

static void runlock_it(void *arg)
{
	rwmutex_runlock(arg);
}

static void wunlock_it(void *arg)
{
	rwmutex_unlock(arg);
}

TEST(sync, rwmutex_unlock_of_unlocked_kills)
{
	rwmutex rw;
	rwmutex_init(&rw);
	CHECK_EQ(task_join(task_spawn(runlock_it, &rw, "bad runlock")), TASK_EXIT_FAULT);
	CHECK_EQ(task_join(task_spawn(wunlock_it, &rw, "bad unlock")), TASK_EXIT_FAULT);
	rwmutex_lock(&rw);
	rwmutex_unlock(&rw);
}

/* ---- cond ------------------------------------------------------------ */

struct cond_shared {
	mutex m;
	cond c;
	volatile bool ready;
	volatile int tokens, woke;
};

static void wait_until_ready(void *arg)
{
	struct cond_shared *s = arg;
	mutex_lock(&s->m);
	while (!s->ready)
		cond_wait(&s->c);
	s->woke++;
	mutex_unlock(&s->m);
}

TEST(sync, cond_broadcast_wakes_all)
{
	enum { N = 5 };
	static struct cond_shared s;
	s = (struct cond_shared){ .m = MUTEX_INIT };
	cond_init(&s.c, &s.m);
	task *tasks[N];
	for (int i = 0; i < N; i++)
		CHECK((tasks[i] = task_spawn(wait_until_ready, &s, "cond waiter")));
	for (int i = 0; i < N; i++) {
		yield_until_blocked(tasks[i]);
		check_blocked_on(tasks[i], WAIT_REASON_SYNC_COND_WAIT, &s.c);
	}
	mutex_lock(&s.m);
	s.ready = true;
	cond_broadcast(&s.c);
	mutex_unlock(&s.m);
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	CHECK_EQ(s.woke, N);
}

static void take_token(void *arg)
{
	struct cond_shared *s = arg;
	mutex_lock(&s->m);
	while (s->tokens == 0)
		cond_wait(&s->c);
	s->tokens--;
	s->woke++;
	mutex_unlock(&s->m);
}

TEST(sync, cond_signal_wakes_one)
{
	enum { N = 3 };
	static struct cond_shared s;
	s = (struct cond_shared){ .m = MUTEX_INIT };
	cond_init(&s.c, &s.m);
	task *tasks[N];
	for (int i = 0; i < N; i++)
		CHECK((tasks[i] = task_spawn(take_token, &s, "token taker")));
	for (int i = 0; i < N; i++)
		yield_until_blocked(tasks[i]);
	mutex_lock(&s.m);
	s.tokens = 1;
	cond_signal(&s.c);
	mutex_unlock(&s.m);
	YIELD_UNTIL(s.woke >= 1);
	int still_blocked = 0;
	for (int i = 0; i < N; i++)
		still_blocked += task_get_state(tasks[i]) == TASK_BLOCKED;
	CHECK_EQ(still_blocked, N - 1);
	mutex_lock(&s.m);
	s.tokens = N - 1;
	for (int i = 0; i < N - 1; i++)
		cond_signal(&s.c);
	mutex_unlock(&s.m);
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	CHECK_EQ(s.woke, N);
	CHECK_EQ(s.tokens, 0);
}

/* ---- waitgroup ------------------------------------------------------- */

struct wg_shared {
	waitgroup wg;
	volatile int finished;
};

static void work_then_done(void *arg)
{
	struct wg_shared *s = arg;
	for (int i = 0; i < 3; i++)
		task_yield();
	s->finished++;
	waitgroup_done(&s->wg);
}

static void wg_wait(void *arg)
{
	struct wg_shared *s = arg;
	waitgroup_wait(&s->wg);
}

TEST(sync, waitgroup_waits_for_all)
{
	enum { N = 6 };
	static struct wg_shared s;
	s = (struct wg_shared){ .wg = WAITGROUP_INIT };
	waitgroup_add(&s.wg, N);
	task *tasks[N];
	for (int i = 0; i < N; i++)
		CHECK((tasks[i] = task_spawn(work_then_done, &s, "worker")));
	task *waiter = task_spawn(wg_wait, &s, "wg waiter");
	yield_until_blocked(waiter);
	check_blocked_on(waiter, WAIT_REASON_SYNC_WAITGROUP_WAIT, &s.wg);
	waitgroup_wait(&s.wg);
	CHECK_EQ(s.finished, N);
	CHECK_EQ(task_join(waiter), 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	waitgroup_wait(&s.wg); /* zero: returns at once */
}

static void wg_done(void *arg)
{
	waitgroup_done(arg);
}

TEST(sync, waitgroup_negative_counter_kills)
{
	waitgroup wg;
	waitgroup_init(&wg);
	CHECK_EQ(task_join(task_spawn(wg_done, &wg, "over-done")), TASK_EXIT_FAULT);
	CHECK_EQ(wg.count, 0); /* not applied */
	waitgroup_add(&wg, 1);
	CHECK_EQ(task_join(task_spawn(wg_done, &wg, "done")), 0);
	CHECK_EQ(wg.count, 0);
}

/* ---- semaphore ------------------------------------------------------- */

struct sem_shared {
	semaphore sem;
	volatile int inside, max_inside;
};

static void use_a_unit(void *arg)
{
	struct sem_shared *s = arg;
	semaphore_acquire(&s->sem);
	s->inside++;
	if (s->inside > s->max_inside)
		s->max_inside = s->inside;
	for (int i = 0; i < 5; i++)
		task_yield();
	s->inside--;
	semaphore_release(&s->sem);
}

TEST(sync, semaphore_limits_concurrency)
{
	enum { N = 8, UNITS = 3 };
	static struct sem_shared s;
	s = (struct sem_shared){ .sem = SEMAPHORE_INIT(UNITS) };
	task *tasks[N];
	spawn_all(tasks, N, use_a_unit, &s, "sem user");
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	CHECK_EQ(s.max_inside, UNITS);
	CHECK_EQ(s.sem.count, UNITS);
}

static void acquire_one(void *arg)
{
	semaphore_acquire(arg);
}

TEST(sync, semaphore_try_acquire_and_handoff)
{
	semaphore sem;
	semaphore_init(&sem, 1);
	CHECK(semaphore_try_acquire(&sem));
	CHECK(!semaphore_try_acquire(&sem));
	task *t = task_spawn(acquire_one, &sem, "acquirer");
	yield_until_blocked(t);
	check_blocked_on(t, WAIT_REASON_SEMACQUIRE, &sem);
	semaphore_release(&sem); /* handed to the waiter, not to the count */
	CHECK_EQ(sem.count, 0);
	CHECK(!semaphore_try_acquire(&sem));
	CHECK_EQ(task_join(t), 0);
	semaphore_release(&sem);
	CHECK(semaphore_try_acquire(&sem));
}

/* ---- once ------------------------------------------------------------ */

struct once_shared {
	once o;
	volatile int runs, finished, early_returns;
	uint64_t mutex_switches;
};

static void once_body(void *arg)
{
	struct once_shared *s = arg;
	s->runs++;
	/* Let the other callers arrive while this runs. */
	for (int i = 0; i < 10; i++)
		task_yield();
	s->finished = 1;
}

static void call_once(void *arg)
{
	struct once_shared *s = arg;
	once_do(&s->o, once_body, s);
	if (!s->finished)
		s->early_returns++;
	task_info info;
	task_get_info(task_self(), &info);
	__atomic_fetch_add(&s->mutex_switches, info.switches[SWITCH_MUTEX], __ATOMIC_RELAXED);
}

TEST(sync, once_runs_exactly_once)
{
	enum { N = 8 };
	static struct once_shared s;
	s = (struct once_shared){ .o = ONCE_INIT };
	task *tasks[N];
	spawn_all(tasks, N, call_once, &s, "once caller");
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	CHECK_EQ(s.runs, 1);
	CHECK_EQ(s.early_returns, 0);
	CHECK_GT(s.mutex_switches, 0); /* some really waited for the first */
	once_do(&s.o, once_body, &s);
	CHECK_EQ(s.runs, 1);
}

static once recursive_once = ONCE_INIT;

static void once_recurse(void *arg)
{
	once_do(&recursive_once, once_recurse, arg);
}

TEST(sync, once_recursive_call_kills)
{
	CHECK_EQ(task_join(task_spawn(once_recurse, NULL, "recursive once")),
		 TASK_EXIT_FAULT);
}

/* ---- switch reasons and the dump ------------------------------------- */

struct script {
	mutex m;
	cond c;
	waitgroup wg;
	semaphore sem;
	volatile bool signalled;
};

static void script_mutex(void *arg)
{
	struct script *s = arg;
	mutex_lock(&s->m);
	mutex_unlock(&s->m);
}

static void script_cond(void *arg)
{
	struct script *s = arg;
	mutex_lock(&s->m);
	while (!s->signalled)
		cond_wait(&s->c);
	mutex_unlock(&s->m);
}

static void script_wg(void *arg)
{
	struct script *s = arg;
	waitgroup_wait(&s->wg);
}

static void script_sem(void *arg)
{
	struct script *s = arg;
	semaphore_acquire(&s->sem);
}

/* Each task blocks exactly once, each in a different primitive. */
TEST(sync, switch_reasons_counted)
{
	static struct script s;
	s = (struct script){ .m = MUTEX_INIT, .wg = WAITGROUP_INIT,
			     .sem = SEMAPHORE_INIT(0) };
	cond_init(&s.c, &s.m);
	waitgroup_add(&s.wg, 1);
	mutex_lock(&s.m);
	task *tm = task_spawn(script_mutex, &s, "s-mutex");
	yield_until_blocked(tm);
	mutex_unlock(&s.m);
	task *tc = task_spawn(script_cond, &s, "s-cond");
	yield_until_blocked(tc);
	preempt_disable(); /* unlock before tc runs: it relocks without waiting */
	mutex_lock(&s.m);
	s.signalled = true;
	cond_signal(&s.c);
	mutex_unlock(&s.m);
	preempt_enable();
	task *tw = task_spawn(script_wg, &s, "s-wg");
	yield_until_blocked(tw);
	waitgroup_done(&s.wg);
	task *ts = task_spawn(script_sem, &s, "s-sem");
	yield_until_blocked(ts);
	semaphore_release(&s.sem);

	struct { task *t; switch_reason r; } want[] = {
		{ tm, SWITCH_MUTEX }, { tc, SWITCH_COND },
		{ tw, SWITCH_WAITGROUP }, { ts, SWITCH_SEMAPHORE },
	};
	const switch_reason sync_reasons[] = { SWITCH_MUTEX, SWITCH_COND, SWITCH_WAITGROUP,
					       SWITCH_SEMAPHORE, SWITCH_YIELD, SWITCH_SLEEP };
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		check_switched_once_for(want[i].t, want[i].r, sync_reasons, ARRAY_SIZE(sync_reasons));
}

TEST(sync, tasks_dump_shows_waiters)
{
	mutex m = MUTEX_INIT;
	mutex_lock(&m);
	task *t = task_spawn(lock_unlock, &m, "dump-me");
	CHECK(t);
	yield_until_blocked(t);
	tasks_dump();
	mutex_unlock(&m);
	CHECK_EQ(task_join(t), 0);
}
