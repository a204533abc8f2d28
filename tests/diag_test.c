/*
 * diag_test.c - the collector's diagnostics on constructed scenarios with
 * known answers: the leak detector names exactly the tasks that can never
 * wake (not one blocked on a channel a global still references, nor one
 * blocked on a channel a running task holds); why-alive finds the path a
 * global -> A -> B -> C; the escape checker flags exactly a planted heap
 * pointer into a task's stack, and the dangling pointer once that task is
 * gone; the colour census adds up.
 */
#include "gc/gc.h"
#include "kernel/sched.h"
#include "tests/test.h"

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

TEST(diag, leak_detector_exact)
{
	size_t base = gc_find_leaks(g_base_ids, MAX_LEAKS, false);
	CHECK_LE(base, MAX_LEAKS);

	gc_write(&g_diag_chan, chan_make(sizeof(int), 0));
	chan *held = chan_make(sizeof(int), 0); /* on this (running) stack */
	task *leak1 = task_spawn(wait_on_private_channel, NULL, "leak-private");
	task *leak2 = task_spawn(wait_on_private_channel, NULL, "leak-private");
	task *glob = task_spawn(wait_on_chan, g_diag_chan, "on-global-chan");
	task *stk = task_spawn(wait_on_chan, held, "on-held-chan");
	CHECK(leak1 && leak2 && glob && stk);
	while (task_get_state(leak1) != TASK_BLOCKED || task_get_state(leak2) != TASK_BLOCKED ||
	       task_get_state(glob) != TASK_BLOCKED || task_get_state(stk) != TASK_BLOCKED)
		task_sleep(1000000);

	/* Exactly right about the four planted tasks. (Leaks left by other
	 * suites may be listed too; they are not this test's business.) */
	size_t n = gc_find_leaks(g_leak_ids, MAX_LEAKS, true);
	CHECK_GE(n, 2);
	CHECK_LE(n, MAX_LEAKS);
	CHECK(has_id(g_leak_ids, n, task_id(leak1)));
	CHECK(has_id(g_leak_ids, n, task_id(leak2)));
	CHECK(!has_id(g_leak_ids, n, task_id(glob)));
	CHECK(!has_id(g_leak_ids, n, task_id(stk)));
	(void)base;

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

static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char junk[2048];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

TEST(diag, why_alive_path)
{
	make_chain();
	scrub_stack();
	/* Shortest path: g_diag_root -> a -> b -> c (3 objects), and through
	 * an interior pointer too. */
	CHECK_EQ(gc_why_alive(g_diag_root->next->next), 3);
	CHECK_EQ(gc_why_alive(&g_diag_root->next->next->tag), 3);
	CHECK_EQ(gc_why_alive(g_diag_root), 1);
	CHECK_EQ(gc_why_alive((void *)0x10), -1);
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

TEST(diag, escape_checker_flags_planted_pointer)
{
	static struct escaper e;
	semaphore_init(&e.go, 0);
	semaphore_init(&e.done, 0);
	box *bx = gc_alloc(&box_type);
	CHECK(bx);
	e.box = &bx->p;
	size_t base = gc_escape_check(false);
	task *t = task_spawn(escape_a_local, &e, "escaper");
	CHECK(t);
	semaphore_acquire(&e.done);
	CHECK_EQ(gc_escape_check(true), base + 1);
	semaphore_release(&e.go);
	CHECK_EQ(task_join(t), 0);
	/* The stack is gone; the pointer now dangles, and is still flagged
	 * (unless a new stack took the range, which is flagged too). */
	CHECK_GE(gc_escape_check(true), base + 1);
	gc_write(&bx->p, NULL);
	CHECK_EQ(gc_escape_check(false), base);
}

TEST(diag, color_census_adds_up)
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

TEST(diag, reclaim_frees_only_leaked_tasks)
{
	size_t base = gc_find_leaks(g_base_ids, MAX_LEAKS, false);
	gc_write(&g_diag_chan, chan_make(sizeof(int), 0));
	task *leak = task_spawn(wait_on_private_channel, NULL, "to-reclaim");
	task *live = task_spawn(wait_on_chan, g_diag_chan, "kept");
	CHECK(leak && live);
	while (task_get_state(leak) != TASK_BLOCKED || task_get_state(live) != TASK_BLOCKED)
		task_sleep(1000000);
	size_t stacks_before, bytes;
	stack_usage(&stacks_before, &bytes);
	/* Everything leaked is reclaimed: this one (and any left earlier);
	 * the one a global keeps reachable is not. */
	CHECK_GE(gc_reclaim_leaks(true), 1);
	CHECK_EQ(task_get_state(leak), TASK_DEAD);
	(void)base;
	CHECK_EQ(task_join(leak), TASK_EXIT_FAULT);
	size_t stacks_after;
	stack_usage(&stacks_after, &bytes);
	CHECK_LE(stacks_after, stacks_before - 1); /* its stack went back */
	CHECK_EQ(task_get_state(live), TASK_BLOCKED); /* reachable: untouched */
	size_t left = gc_find_leaks(g_leak_ids, MAX_LEAKS, false);
	CHECK(!has_id(g_leak_ids, left, task_id(live)));
	chan_close(g_diag_chan);
	CHECK_EQ(task_join(live), 0);
	gc_write(&g_diag_chan, NULL);
}
