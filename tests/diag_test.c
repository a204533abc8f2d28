/*
 * diag_test.c - the collector's diagnostics on constructed scenarios with
 * known answers: the leak detector names exactly the tasks that can never
 * wake (not one blocked on a channel a global still references, nor one
 * blocked on a channel a running task holds); why-alive finds the path a
 * global -> A -> B -> C; the escape checker flags exactly a planted heap
 * pointer into a task's stack, and the dangling pointer once that task is
 * gone; the colour census adds up. Leaks other suites left behind are
 * counted before each test, so every count is exact. Tasks are waited for
 * until they block (an event), never for a time.
 */
#include "chan/chan.h"
#include "diag/diag.h"
#include "tests/gc_test_util.h"
#include "tests/task_test_util.h"

#define MAX_LEAKS 256

static bool has_id(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Blocks on a channel only its own stack knows: leaked. */
static void wait_on_private_channel(void *unused)
{
	(void)unused;
	chan *c = chan_make(sizeof(int), 0);
	int v;
	chan_recv(c, &v);
}

static chan *g_diag_chan; /* a global keeps this channel reachable */

static void wait_on_chan(void *arg)
{
	int v;
	chan_recv(arg, &v);
}

static uint64_t g_leak_ids[MAX_LEAKS], g_base_ids[MAX_LEAKS];

/* The leaks found (ids[0..n)) are exactly the ones there before (base[0..
 * nbase)) plus `added`: none lost, none more. */
static void check_leaks_are(const uint64_t *ids, size_t n, const uint64_t *base, size_t nbase,
			    size_t added)
{
	CHECK_MSG(n == nbase + added, "%zu leaked tasks found: %zu from before and %zu more "
		  "expected", n, nbase, added);
	for (size_t i = 0; i < nbase; i++)
		CHECK_MSG(has_id(ids, n, base[i]), "task %llu, leaked before, no longer found",
			  (unsigned long long)base[i]);
}

GC_TEST(diag, leak_detector_exact)
{
	size_t base = leaks_find(g_base_ids, MAX_LEAKS, false);
	CHECK_LE(base, MAX_LEAKS - 2);

	gc_write(&g_diag_chan, chan_make(sizeof(int), 0));
	chan *held = chan_make(sizeof(int), 0); /* on this (running) stack */
	task *leak1 = task_spawn(wait_on_private_channel, NULL, "leak-private");
	task *leak2 = task_spawn(wait_on_private_channel, NULL, "leak-private");
	task *glob = task_spawn(wait_on_chan, g_diag_chan, "on-global-chan");
	task *stk = task_spawn(wait_on_chan, held, "on-held-chan");
	CHECK(leak1 && leak2 && glob && stk);
	gc_t_wait_blocked(leak1);
	gc_t_wait_blocked(leak2);
	gc_t_wait_blocked(glob);
	gc_t_wait_blocked(stk);

	/* Exactly right about the four planted tasks, and nothing else new
	 * (leaks other suites left are found again, as before). */
	size_t n = leaks_find(g_leak_ids, MAX_LEAKS, true);
	check_leaks_are(g_leak_ids, n, g_base_ids, base, 2);
	CHECK(has_id(g_leak_ids, n, task_id(leak1)));
	CHECK(has_id(g_leak_ids, n, task_id(leak2)));
	CHECK(!has_id(g_leak_ids, n, task_id(glob)));
	CHECK(!has_id(g_leak_ids, n, task_id(stk)));

	/* The reachable ones wake when their channel is closed. */
	chan_close(g_diag_chan);
	chan_close(held);
	CHECK_EQ(task_join(glob), 0);
	CHECK_EQ(task_join(stk), 0);
	gc_write(&g_diag_chan, NULL);
	/* leak1 and leak2 can never wake: left blocked, as the detector says. */
	task_detach(leak1);
	task_detach(leak2);
}

typedef struct dnode {
	struct dnode *next;
	uint64_t tag;
} dnode;
static GC_TYPE_DEFINE(dnode_type, dnode, next);
static dnode *g_diag_root;

/* Built in a frame of its own, so no local of the test holds a, b or c. */
static __attribute__((noinline)) void make_chain(void)
{
	dnode *a = gc_alloc(&dnode_type), *b = gc_alloc(&dnode_type), *c = gc_alloc(&dnode_type);
	CHECK(a && b && c);
	gc_write(&b->next, c);
	gc_write(&a->next, b);
	gc_write(&g_diag_root, a);
}

GC_TEST(diag, why_alive_path)
{
	make_chain();
	gc_t_scrub_stack();
	/* Shortest path: g_diag_root -> a -> b -> c (3 objects), and through
	 * an interior pointer too. */
	CHECK_EQ(why_alive(g_diag_root->next->next), 3);
	CHECK_EQ(why_alive(&g_diag_root->next->next->tag), 3);
	CHECK_EQ(why_alive(g_diag_root), 1);
	CHECK_EQ(why_alive((void *)0x10), WHY_NOT_OBJECT);
	gc_write(&g_diag_root, NULL);
}

struct escaper {
	semaphore go, done;
	void **box; /* heap object that will hold a pointer into our stack */
};

typedef struct box {
	void *p;
} box;
static GC_TYPE_DEFINE(box_type, box, p);

static void escape_a_local(void *arg)
{
	struct escaper *e = arg;
	volatile int local = 42;
	gc_write(e->box, (void *)&local); /* the C form of an escaping local */
	semaphore_release(&e->done);
	semaphore_acquire(&e->go);
}

GC_TEST(diag, escape_checker_flags_planted_pointer)
{
	static struct escaper e;
	semaphore_init(&e.go, 0);
	semaphore_init(&e.done, 0);
	box *bx = gc_alloc(&box_type);
	CHECK(bx);
	e.box = &bx->p;
	size_t base = escape_check(false);
	task *t = task_spawn(escape_a_local, &e, "escaper");
	CHECK(t);
	semaphore_acquire(&e.done);
	CHECK_EQ(escape_check(true), base + 1);
	semaphore_release(&e.go);
	CHECK_EQ(task_join(t), 0);
	/* The stack is gone; the pointer now dangles, and is still flagged
	 * (or, if a new stack took the range, flagged as pointing into it):
	 * one holder either way. */
	CHECK_EQ(escape_check(true), base + 1);
	gc_write(&bx->p, NULL);
	CHECK_EQ(escape_check(false), base);
}

GC_TEST(diag, color_census_adds_up)
{
	void *keep = gc_alloc_noscan(64);
	CHECK(keep);
	gc_colors c;
	gc_color_census(&c);
	CHECK_EQ(c.phase, GC_PHASE_OFF);
	CHECK_GT(c.white, 0);
	CHECK_EQ(c.grey, 0);
	CHECK_EQ(c.black, 0);
	*(volatile char *)keep = 1;
}

GC_TEST(diag, reclaim_frees_only_leaked_tasks)
{
	size_t base = leaks_find(g_base_ids, MAX_LEAKS, false);
	gc_write(&g_diag_chan, chan_make(sizeof(int), 0));
	task *leak = task_spawn(wait_on_private_channel, NULL, "to-reclaim");
	task *live = task_spawn(wait_on_chan, g_diag_chan, "kept");
	CHECK(leak && live);
	gc_t_wait_blocked(leak);
	gc_t_wait_blocked(live);
	size_t stacks_before, bytes;
	stack_usage(&stacks_before, &bytes);
	/* Everything leaked is reclaimed: this one and the `base` left
	 * earlier; the one a global keeps reachable is not. */
	size_t reclaimed = leaks_reclaim(true);
	CHECK_EQ(reclaimed, base + 1);
	CHECK_EQ(task_get_state(leak), TASK_DEAD);
	CHECK_EQ(task_join(leak), TASK_EXIT_FAULT);
	size_t stacks_after;
	stack_usage(&stacks_after, &bytes);
	CHECK_EQ(stacks_after, stacks_before - reclaimed); /* their stacks went back */
	CHECK_EQ(task_get_state(live), TASK_BLOCKED); /* reachable: untouched */
	size_t left = leaks_find(g_leak_ids, MAX_LEAKS, false);
	CHECK(!has_id(g_leak_ids, left, task_id(live)));
	chan_close(g_diag_chan);
	CHECK_EQ(task_join(live), 0);
	gc_write(&g_diag_chan, NULL);
}

/* ---- the leak detector: every kind of wait, exactly ---------------------- */

static void send_on_private_channel(void *unused)
{
	(void)unused;
	chan *c = chan_make(sizeof(int), 0);
	int v = 1;
	chan_send(c, &v);
}

static void select_on_private_channels(void *unused)
{
	(void)unused;
	chan *a = chan_make(sizeof(int), 0), *b = chan_make(sizeof(int), 0);
	int va, vb = 2;
	select_case cases[2] = { { a, SELECT_RECV, &va, NULL }, { b, SELECT_SEND, &vb, NULL } };
	chan_select(cases, 2, false);
}

typedef struct lock_box {
	mutex m;
	waitgroup wg;
	cond c;
} lock_box;
static GC_TYPE_DEFINE_NOPTRS(lock_box_type, lock_box);

static void lock_private_mutex(void *arg)
{
	mutex_lock(&((lock_box *)arg)->m); /* held by a leaked task: never freed */
}

static task *volatile g_mutex_waiter;

/* Holds a private mutex, starts a task that waits for it, then blocks
 * forever itself: both can never wake. */
static void hold_mutex_and_leak(void *unused)
{
	(void)unused;
	lock_box *box = gc_alloc(&lock_box_type);
	CHECK(box);
	mutex_lock(&box->m);
	g_mutex_waiter = task_spawn(lock_private_mutex, box, "leak-mutex-waiter");
	CHECK(g_mutex_waiter);
	chan *c = chan_make(sizeof(int), 0);
	chan_recv(c, NULL);
}

static void wait_private_waitgroup(void *unused)
{
	(void)unused;
	lock_box *box = gc_alloc(&lock_box_type);
	CHECK(box);
	waitgroup_add(&box->wg, 1);
	waitgroup_wait(&box->wg);
}

static void wait_private_cond(void *unused)
{
	(void)unused;
	lock_box *box = gc_alloc(&lock_box_type);
	CHECK(box);
	cond_init(&box->c, &box->m);
	mutex_lock(&box->m);
	cond_wait(&box->c);
}

/* Sleeping is what this task is for (a sleeper can run again: not a leak). */
static volatile int g_sleeper_stop;
static void sleep_until_stopped(void *unused)
{
	(void)unused;
	while (!g_sleeper_stop)
		task_sleep(20 * 1000 * 1000ULL);
}

static mutex g_diag_mutex = MUTEX_INIT;
static void lock_global_mutex(void *unused)
{
	(void)unused;
	mutex_lock(&g_diag_mutex);
	mutex_unlock(&g_diag_mutex);
}

GC_TEST(diag, leak_detector_finds_every_kind_of_leak_and_nothing_else)
{
	size_t base = leaks_find(g_base_ids, MAX_LEAKS, false);
	CHECK_LE(base, MAX_LEAKS - 7);
	g_sleeper_stop = 0;
	g_mutex_waiter = NULL;
	gc_write(&g_diag_chan, chan_make(sizeof(int), 0));
	chan *held = chan_make(sizeof(int), 0); /* on this (running) stack */
	mutex_lock(&g_diag_mutex);
	task *leaks[] = {
		task_spawn(wait_on_private_channel, NULL, "leak-recv"),
		task_spawn(send_on_private_channel, NULL, "leak-send"),
		task_spawn(select_on_private_channels, NULL, "leak-select"),
		task_spawn(hold_mutex_and_leak, NULL, "leak-mutex-holder"),
		task_spawn(wait_private_waitgroup, NULL, "leak-waitgroup"),
		task_spawn(wait_private_cond, NULL, "leak-cond"),
	};
	task *live[] = {
		task_spawn(wait_on_chan, g_diag_chan, "on-global-chan"),
		task_spawn(wait_on_chan, held, "on-held-chan"),
		task_spawn(sleep_until_stopped, NULL, "sleeper"),
		task_spawn(lock_global_mutex, NULL, "on-global-mutex"),
	};
	for (size_t i = 0; i < ARRAY_SIZE(leaks); i++) {
		CHECK(leaks[i]);
		gc_t_wait_blocked(leaks[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(live); i++) {
		CHECK(live[i]);
		gc_t_wait_blocked(live[i]);
	}
	CHECK(g_mutex_waiter);
	gc_t_wait_blocked(g_mutex_waiter);

	size_t n = leaks_find(g_leak_ids, MAX_LEAKS, true);
	/* the six, the task waiting for the leaked mutex, and those from before */
	check_leaks_are(g_leak_ids, n, g_base_ids, base, ARRAY_SIZE(leaks) + 1);
	for (size_t i = 0; i < ARRAY_SIZE(leaks); i++)
		CHECK_MSG(has_id(g_leak_ids, n, task_id(leaks[i])), "leaked task '%s' not found",
			  task_name(leaks[i]));
	CHECK_MSG(has_id(g_leak_ids, n, task_id(g_mutex_waiter)),
		  "a task blocked on a mutex held by a leaked task was not found");
	for (size_t i = 0; i < ARRAY_SIZE(live); i++)
		CHECK_MSG(!has_id(g_leak_ids, n, task_id(live[i])), "live task '%s' reported",
			  task_name(live[i]));

	/* Why each verdict: a path for the ones a runnable task can reach. */
	CHECK_EQ(why_task(task_id(live[0])), 1); /* global -> channel */
	CHECK_EQ(why_task(task_id(live[1])), 1); /* our stack -> channel */
	CHECK_EQ(why_task(task_id(live[2])), 0); /* sleeping: can run */
	CHECK_EQ(why_task(task_id(g_mutex_waiter)), 0); /* leaked */
	CHECK_EQ(why_task(0), WHY_NOT_OBJECT);

	/* The live ones end; the leaked ones are reclaimed. */
	chan_close(g_diag_chan);
	chan_close(held);
	g_sleeper_stop = 1;
	mutex_unlock(&g_diag_mutex);
	for (size_t i = 0; i < ARRAY_SIZE(live); i++)
		CHECK_EQ(task_join(live[i]), 0);
	gc_write(&g_diag_chan, NULL);
	CHECK_EQ(leaks_reclaim(false), base + ARRAY_SIZE(leaks) + 1);
	for (size_t i = 0; i < ARRAY_SIZE(leaks); i++)
		CHECK_EQ(task_join(leaks[i]), TASK_EXIT_FAULT);
	task_detach(g_mutex_waiter);
}

/* ---- the leak detector's verdict for every wait reason, exactly ----------- */
/*
 * The detector decides by the wait reason: a timed wait can run again by
 * itself (live), a nil channel or an empty select never wakes (leaked),
 * anything else wakes if a task that can run reaches its wait object. For
 * every reason, one task blocks with it on a wait object only its own stack
 * reaches and one on a global: the verdicts below, and nothing else. Then
 * the real waits that are not in the scenario above: nil channels, an
 * empty select, a private rwmutex and semaphore, a global semaphore, a
 * join, and the collector's own tasks at rest.
 */
typedef enum wake_class { WAKES_BY_TIMER = 1, WAKES_BY_OBJECT, WAKES_NEVER } wake_class;

static const wake_class g_wake_class[WAIT_REASON_COUNT] = {
	[WAIT_REASON_SLEEP] = WAKES_BY_TIMER,
	[WAIT_REASON_TASK_JOIN] = WAKES_BY_OBJECT,
	[WAIT_REASON_SYNC_MUTEX_LOCK] = WAKES_BY_OBJECT,
	[WAIT_REASON_SYNC_RWMUTEX_RLOCK] = WAKES_BY_OBJECT,
	[WAIT_REASON_SYNC_RWMUTEX_LOCK] = WAKES_BY_OBJECT,
	[WAIT_REASON_SYNC_COND_WAIT] = WAKES_BY_OBJECT,
	[WAIT_REASON_SYNC_WAITGROUP_WAIT] = WAKES_BY_OBJECT,
	[WAIT_REASON_SEMACQUIRE] = WAKES_BY_OBJECT,
	[WAIT_REASON_CHAN_RECEIVE] = WAKES_BY_OBJECT,
	[WAIT_REASON_CHAN_SEND] = WAKES_BY_OBJECT,
	[WAIT_REASON_SELECT] = WAKES_BY_OBJECT,
	[WAIT_REASON_CHAN_RECEIVE_NIL_CHAN] = WAKES_NEVER,
	[WAIT_REASON_CHAN_SEND_NIL_CHAN] = WAKES_NEVER,
	[WAIT_REASON_SELECT_NO_CASES] = WAKES_NEVER,
	[WAIT_REASON_GC_ASSIST_WAIT] = WAKES_BY_OBJECT,
	[WAIT_REASON_GARBAGE_COLLECTION] = WAKES_BY_OBJECT,
	[WAIT_REASON_GC_WORKER_IDLE] = WAKES_BY_OBJECT,
	[WAIT_REASON_GC_WORKER_ACTIVE] = WAKES_BY_TIMER,
	[WAIT_REASON_GC_SWEEP_WAIT] = WAKES_BY_OBJECT,
	[WAIT_REASON_FINALIZER_WAIT] = WAKES_BY_OBJECT,
};

/* What a waiter of the first kind blocks on: a wait queue and its lock. */
typedef struct wait_box {
	spinlock lock;
	waitq q;
	bool open; /* guarded by lock: the waiter may go */
} wait_box;
static GC_TYPE_DEFINE_NOPTRS(wait_box_type, wait_box);

static wait_box g_wait_box = { .lock = SPINLOCK_INIT("diag test", LOCK_RANK_SYNC) };

typedef struct reason_waiter {
	wait_reason reason;
	bool private_box;     /* else g_wait_box */
	uintptr_t hidden_box; /* out: the private box, XORed (no reference) */
	task *t;
} reason_waiter;

static void block_for_reason(void *arg)
{
	reason_waiter *w = arg;
	wait_box *b = &g_wait_box;
	if (w->private_box) {
		b = gc_alloc(&wait_box_type);
		CHECK(b);
		*b = (wait_box){ .lock = SPINLOCK_INIT("diag test", LOCK_RANK_SYNC) };
		w->hidden_box = gc_t_hide(b);
	}
	spin_lock(&b->lock);
	while (!b->open) {
		sched_block_on(&b->q, &b->lock, SWITCH_YIELD, w->reason, b);
		spin_lock(&b->lock);
	}
	spin_unlock(&b->lock);
}

static void open_box(wait_box *b)
{
	spin_lock(&b->lock);
	b->open = true;
	waitq_wake_all(&b->q);
	spin_unlock(&b->lock);
}

typedef struct sync_box {
	rwmutex rw;
	semaphore sem;
} sync_box;
static GC_TYPE_DEFINE_NOPTRS(sync_box_type, sync_box);

static task *volatile g_rlock_waiter, *volatile g_lock_waiter;

static void rlock_shared(void *arg)
{
	rwmutex_rlock(&((sync_box *)arg)->rw);
}

static void lock_exclusive(void *arg)
{
	rwmutex_lock(&((sync_box *)arg)->rw);
}

/* Write-locks a private rwmutex, starts a reader and a writer that wait for
 * it, then blocks forever itself: all three can never wake. */
static void hold_rwmutex_and_leak(void *unused)
{
	(void)unused;
	sync_box *box = gc_alloc(&sync_box_type);
	CHECK(box);
	rwmutex_lock(&box->rw);
	g_rlock_waiter = task_spawn(rlock_shared, box, "leak-rlock");
	g_lock_waiter = task_spawn(lock_exclusive, box, "leak-lock");
	CHECK(g_rlock_waiter && g_lock_waiter);
	chan *c = chan_make(sizeof(int), 0);
	chan_recv(c, NULL);
}

static void acquire_private_semaphore(void *unused)
{
	(void)unused;
	sync_box *box = gc_alloc(&sync_box_type);
	CHECK(box);
	semaphore_acquire(&box->sem);
}

static semaphore g_diag_sem = SEMAPHORE_INIT(0);
static void acquire_global_semaphore(void *unused)
{
	(void)unused;
	semaphore_acquire(&g_diag_sem);
}

static void recv_nil(void *unused)
{
	(void)unused;
	chan_recv(NULL, NULL);
}

static void send_nil(void *unused)
{
	(void)unused;
	int v = 1;
	chan_send(NULL, &v);
}

static void select_nothing(void *unused)
{
	(void)unused;
	chan_select(NULL, 0, false);
}

static void join_task(void *arg)
{
	CHECK_EQ(task_join(arg), 0);
}

struct named_task {
	const char *name;
	task *t;
};

static void find_named(task *t, void *arg)
{
	struct named_task *f = arg;
	if (!f->t && strcmp(task_name(t), f->name) == 0)
		f->t = t;
}

/* t blocks, and for `reason`; then stays so. */
static void wait_blocked_for_reason(task *t, wait_reason reason)
{
	task_info info;
	for (long i = 0;; i++) {
		task_get_info(t, &info);
		if (info.state == TASK_BLOCKED && info.wait_reason == reason)
			return;
		CHECK_MSG(i < GC_T_WAIT_YIELDS, "task '%s' not blocked for \"%s\" (%s, \"%s\")",
			  info.name, wait_reason_name(reason), task_state_name(info.state),
			  wait_reason_name(info.wait_reason));
		task_yield();
	}
}

#define NREASON_WAITERS (2 * (WAIT_REASON_COUNT - 1))
static reason_waiter g_reason_waiters[NREASON_WAITERS];

GC_TEST(diag, leak_verdict_for_every_wait_reason)
{
	for (int r = 1; r < WAIT_REASON_COUNT; r++)
		CHECK_MSG(g_wake_class[r], "wait reason \"%s\" has no verdict in this test",
			  wait_reason_name((wait_reason)r));
	size_t base = leaks_find(g_base_ids, MAX_LEAKS, false);
	CHECK_LE(base, MAX_LEAKS - NREASON_WAITERS - 16);
	gc_write(&g_diag_chan, chan_make(sizeof(int), 0));
	g_wait_box.open = false;
	g_rlock_waiter = g_lock_waiter = NULL;

	/* One waiter per reason on a private box, one on the global box. */
	size_t expect_leaked = 0;
	for (int r = 1; r < WAIT_REASON_COUNT; r++) {
		for (int priv = 0; priv < 2; priv++) {
			reason_waiter *w = &g_reason_waiters[2 * (r - 1) + priv];
			*w = (reason_waiter){ .reason = (wait_reason)r, .private_box = priv };
			w->t = task_spawn(block_for_reason, w, wait_reason_name((wait_reason)r));
			CHECK(w->t);
		}
	}
	/* The real waits. */
	task *chan_target = task_spawn(wait_on_chan, g_diag_chan, "on-global-chan");
	CHECK(chan_target);
	struct { task *t; wait_reason reason; bool leaked; } real[] = {
		{ task_spawn(recv_nil, NULL, "nil-recv"), WAIT_REASON_CHAN_RECEIVE_NIL_CHAN, true },
		{ task_spawn(send_nil, NULL, "nil-send"), WAIT_REASON_CHAN_SEND_NIL_CHAN, true },
		{ task_spawn(select_nothing, NULL, "empty-select"), WAIT_REASON_SELECT_NO_CASES,
		  true },
		{ task_spawn(hold_rwmutex_and_leak, NULL, "leak-rw-holder"),
		  WAIT_REASON_CHAN_RECEIVE, true },
		{ task_spawn(acquire_private_semaphore, NULL, "leak-sem"), WAIT_REASON_SEMACQUIRE,
		  true },
		{ task_spawn(acquire_global_semaphore, NULL, "on-global-sem"),
		  WAIT_REASON_SEMACQUIRE, false },
		{ task_spawn(join_task, chan_target, "joiner"), WAIT_REASON_TASK_JOIN, false },
		{ chan_target, WAIT_REASON_CHAN_RECEIVE, false },
		{ NULL, WAIT_REASON_SYNC_RWMUTEX_RLOCK, true }, /* started by the holder */
		{ NULL, WAIT_REASON_SYNC_RWMUTEX_LOCK, true },
	};
	for (size_t i = 0; i < ARRAY_SIZE(real); i++) {
		if (!real[i].t && real[i].reason == WAIT_REASON_SYNC_RWMUTEX_RLOCK) {
			YIELD_UNTIL(g_rlock_waiter && g_lock_waiter);
			real[i].t = g_rlock_waiter;
			real[i + 1].t = g_lock_waiter;
		}
		CHECK(real[i].t);
		wait_blocked_for_reason(real[i].t, real[i].reason);
		expect_leaked += real[i].leaked;
	}
	for (size_t i = 0; i < NREASON_WAITERS; i++) {
		reason_waiter *w = &g_reason_waiters[i];
		wait_blocked_for_reason(w->t, w->reason);
		wake_class c = g_wake_class[w->reason];
		expect_leaked += w->private_box ? c != WAKES_BY_TIMER : c == WAKES_NEVER;
	}
	/* The collector's own tasks, at rest. */
	const char *const runtime_names[] = { "gc worker", "gc sweeper", "gc finalizer" };
	const wait_reason runtime_reasons[] = { WAIT_REASON_GC_WORKER_IDLE,
						WAIT_REASON_GC_SWEEP_WAIT,
						WAIT_REASON_FINALIZER_WAIT };
	task *runtime[ARRAY_SIZE(runtime_names)];
	for (size_t i = 0; i < ARRAY_SIZE(runtime_names); i++) {
		struct named_task f = { runtime_names[i], NULL };
		sched_for_each_task(find_named, &f);
		CHECK_MSG(f.t, "no task '%s'", runtime_names[i]);
		runtime[i] = f.t;
		wait_blocked_for_reason(runtime[i], runtime_reasons[i]);
	}

	size_t n = leaks_find(g_leak_ids, MAX_LEAKS, false);
	check_leaks_are(g_leak_ids, n, g_base_ids, base, expect_leaked);
	for (size_t i = 0; i < NREASON_WAITERS; i++) {
		const reason_waiter *w = &g_reason_waiters[i];
		wake_class c = g_wake_class[w->reason];
		bool want = w->private_box ? c != WAKES_BY_TIMER : c == WAKES_NEVER;
		CHECK_MSG(has_id(g_leak_ids, n, task_id(w->t)) == want,
			  "\"%s\" on a %s object: %s, expected %s", wait_reason_name(w->reason),
			  w->private_box ? "private" : "global", want ? "not leaked" : "leaked",
			  want ? "leaked" : "not leaked");
	}
	for (size_t i = 0; i < ARRAY_SIZE(real); i++)
		CHECK_MSG(has_id(g_leak_ids, n, task_id(real[i].t)) == real[i].leaked,
			  "task '%s' (\"%s\"): expected %s", task_name(real[i].t),
			  wait_reason_name(real[i].reason), real[i].leaked ? "leaked" : "not leaked");
	for (size_t i = 0; i < ARRAY_SIZE(runtime); i++)
		CHECK_MSG(!has_id(g_leak_ids, n, task_id(runtime[i])), "'%s' reported leaked",
			  runtime_names[i]);

	/* Every waiter of the first kind goes; the live real ones end; the
	 * leaked real ones are reclaimed. */
	for (size_t i = 0; i < NREASON_WAITERS; i++)
		if (g_reason_waiters[i].private_box)
			open_box(gc_t_unhide(g_reason_waiters[i].hidden_box));
	open_box(&g_wait_box);
	for (size_t i = 0; i < NREASON_WAITERS; i++)
		CHECK_EQ(task_join(g_reason_waiters[i].t), 0);
	chan_close(g_diag_chan);
	semaphore_release(&g_diag_sem);
	size_t real_leaked = 0;
	for (size_t i = 0; i < ARRAY_SIZE(real); i++) {
		if (real[i].leaked)
			real_leaked++;
		else if (real[i].t != chan_target) /* the joiner joins it */
			CHECK_EQ(task_join(real[i].t), 0);
	}
	gc_write(&g_diag_chan, NULL);
	CHECK_EQ(leaks_reclaim(false), base + real_leaked);
	for (size_t i = 0; i < ARRAY_SIZE(real); i++)
		if (real[i].leaked)
			CHECK_EQ(task_join(real[i].t), TASK_EXIT_FAULT);
}

/* ---- why-alive: the collector's roots, and its memory --------------------- */

/* A fresh tiny block whose only sub-object we drop at once: then only the
 * allocator's bookkeeping (this CPU's current tiny block) points at it.
 * Returns the block's address, hidden; 0 if no fresh block came. */
static __attribute__((noinline)) uintptr_t fresh_tiny_block(void)
{
	for (int i = 0; i < 4; i++) {
		char *p = gc_alloc_noscan(8);
		CHECK(p);
		if (((uintptr_t)p & 15) == 0)
			return (uintptr_t)p ^ 0x5a5a5a5a5a5a5a5aULL;
	}
	return 0;
}

static __attribute__((noinline)) int why_hidden(uintptr_t h)
{
	return why_alive((const void *)(h ^ 0x5a5a5a5a5a5a5a5aULL));
}

static __attribute__((noinline)) bool allocated_hidden(uintptr_t h)
{
	return gc_find_object((const void *)(h ^ 0x5a5a5a5a5a5a5a5aULL), NULL);
}

GC_TEST(diag, why_alive_uses_the_collectors_roots)
{
	uintptr_t h = fresh_tiny_block();
	CHECK(h);
	gc_t_scrub_stack();
	/* Unreachable: the heap's bookkeeping is no root (the collector
	 * excludes it), and 0 is the documented answer. */
	CHECK_EQ(why_hidden(h), 0);
	gc_t_collect();
	CHECK_MSG(!allocated_hidden(h), "why-alive said unreachable, but the collector kept it");
}

/* Takes page-source memory until about `leave` bytes are left; give_back
 * returns it. */
#define HOG_CHUNKS 4096
static struct {
	void *p[HOG_CHUNKS];
	size_t bytes[HOG_CHUNKS];
	size_t n;
} g_hog;

static void hog_until(size_t leave)
{
	g_hog.n = 0;
	for (size_t chunk = 16u << 20; chunk >= ARCH_PAGE_SIZE && g_hog.n < HOG_CHUNKS;) {
		size_t free_bytes = arch_free_pages() * ARCH_PAGE_SIZE;
		if (free_bytes <= leave + chunk) {
			chunk /= 2;
			continue;
		}
		void *p = arch_reserve(chunk);
		if (!p || !arch_commit(p, chunk)) {
			chunk /= 2;
			continue;
		}
		g_hog.p[g_hog.n] = p;
		g_hog.bytes[g_hog.n++] = chunk;
	}
}

static void give_back(void)
{
	for (size_t i = 0; i < g_hog.n; i++)
		arch_decommit(g_hog.p[i], g_hog.bytes[i]);
	g_hog.n = 0;
}

GC_TEST(diag, why_alive_sizes_its_search_to_the_heap)
{
	gc_collect();
	make_chain();
	gc_t_scrub_stack();
	heap_stats_info hs;
	heap_stats_read(&hs);
	/* At most one 24-byte search node per 16 bytes in use, plus task
	 * records: what a search over this heap can need. */
	size_t need = hs.bytes_in_use / 16 * 24 + (task_count() + 64) * 1024 + (1u << 20);
	test_log("heap %zu bytes in use: leaving %zu KiB of page source", hs.bytes_in_use,
		 need >> 10);
	CHECK_MSG(need < (24u << 20), "heap too big for this check (%zu bytes)", hs.bytes_in_use);
	hog_until(need);
	int depth = why_alive(g_diag_root->next->next);
	give_back();
	CHECK_EQ(depth, 3);
	gc_write(&g_diag_root, NULL);
}

GC_TEST(diag, why_alive_out_of_memory_releases_everything)
{
	/* Enough objects that the search cannot fit in what we leave. */
	enum { N = 20000 };
	uintptr_t *hidden = gc_alloc_noscan(N * sizeof(uintptr_t));
	CHECK(hidden);
	for (size_t i = 0; i < N; i++) {
		hidden[i] = (uintptr_t)gc_alloc_noscan(32);
		CHECK(hidden[i]);
	}
	void *target = gc_alloc_noscan(32);
	CHECK(target);
	hog_until(256u << 10);
	size_t before = arch_free_pages();
	int results[20];
	for (size_t i = 0; i < ARRAY_SIZE(results); i++)
		results[i] = why_alive(target);
	size_t after = arch_free_pages();
	give_back();
	for (size_t i = 0; i < ARRAY_SIZE(results); i++)
		CHECK_EQ(results[i], WHY_NO_MEMORY);
	CHECK_MSG(after >= before, "%zu pages lost over %zu failed searches", before - after,
		  ARRAY_SIZE(results));
	*(volatile char *)target = 1;
	*(volatile uintptr_t *)hidden = 0;
}
