/*
 * tests/gc_retention_test.c - the runtime must not pin garbage. A
 * conservative collector keeps whatever a stack word points to, so every
 * word the runtime itself leaves behind is a leak waiting to happen: the
 * finalizer task's last object, another task's registers carried over a
 * context switch into an interrupt frame (seen on the idle task, so a
 * finalizer never ran), a task's start
 * argument after the task is done with it. Each test makes an object that
 * only such a leftover could reach and checks, exactly, that a collection
 * frees it. The tests' own stale words are out of the way: addresses are
 * kept XORed and the stacks scrubbed before collecting.
 */
#include "diag/diag.h"
#include "tests/gc_test_util.h"

typedef struct robj {
	uint64_t magic;
	struct robj *next;
} robj;
static GC_TYPE_DEFINE(robj_type, robj, next);
#define ROBJ_MAGIC 0x7e7e1111ULL

static __attribute__((noinline)) uintptr_t new_robj(void)
{
	robj *o = gc_alloc(&robj_type);
	CHECK_MSG(o, "gc_alloc: %s", gc_last_error());
	o->magic = ROBJ_MAGIC;
	return gc_t_hide(o);
}

/* Yields (never sleeps) until the finalizer task has finished `n` more
 * finalizers than `before` (its count goes up once it is done with the
 * object), at most `rounds` times. The finalizer task is runnable as soon
 * as an object is queued, so a few yields reach it. */
static bool finalizers_done_within_yields(uint64_t before, uint64_t n, int rounds)
{
	for (int i = 0; i < rounds && gc_t_stats().finalizers_run < before + n; i++)
		task_yield();
	return gc_t_stats().finalizers_run >= before + n;
}

/* On a failure: what keeps it (why-alive shows the path). */
static __attribute__((noinline)) bool freed_or_explain(uintptr_t h)
{
	if (!gc_t_allocated(gc_t_unhide(h)))
		return true;
	why_alive(gc_t_unhide(h));
	return false;
}

/* ---- the finalizer task's last object ------------------------------------ */
static robj *g_resurrected;

static void resurrect(void *p)
{
	gc_write(&g_resurrected, p);
}

static void finalize_for_good(void *p)
{
	(void)p;
}

static __attribute__((noinline)) void set_finalizer_hidden(uintptr_t h, void (*fn)(void *))
{
	CHECK(gc_set_finalizer(gc_t_unhide(h), fn));
}

static __attribute__((noinline)) bool is_resurrected(uintptr_t h)
{
	return gc_t_unhide(h) == g_resurrected;
}

/* Re-arms the resurrected object with a second finalizer and drops it:
 * the test's frame never holds its address. */
static __attribute__((noinline)) uintptr_t rearm_and_drop(void)
{
	robj *o = g_resurrected;
	CHECK(o && o->magic == ROBJ_MAGIC);
	CHECK(gc_set_finalizer(o, finalize_for_good));
	gc_write(&g_resurrected, NULL);
	return gc_t_hide(o);
}

TEST(gc_retention, finalizer_task_keeps_no_finalized_object)
{
	uint64_t done = gc_t_stats().finalizers_run;
	uintptr_t h = new_robj();
	set_finalizer_hidden(h, resurrect);
	gc_t_collect();
	CHECK_MSG(finalizers_done_within_yields(done, 1, 1000), "the first finalizer did not run");
	CHECK(is_resurrected(h));
	/* Resurrected, then dropped again: the next cycle must find it
	 * unreachable, although the finalizer task handled it last. */
	h = rearm_and_drop();
	gc_t_collect();
	bool found_dead = finalizers_done_within_yields(done, 2, 1000);
	if (!found_dead)
		freed_or_explain(h);
	CHECK_MSG(found_dead, "a resurrected object, dropped again, was not found unreachable: "
			      "something of the runtime still holds it");
	gc_t_collect();
	CHECK_MSG(freed_or_explain(h), "the object outlived its last finalizer");
}

/* ---- registers carried over a switch ------------------------------------ */
/*
 * The scratch registers are dead across a call, so a voluntary switch does
 * not save them; but the task switched to resumes with whatever the last
 * one left in them. If it then spins without touching them and the timer
 * preempts it, its interrupt frame holds the other task's stale values, on
 * a stack the collector scans. (The idle task resumed in its loop was the
 * one seen doing this.) The switch must hand over clean registers.
 */
static struct {
	semaphore go;
	volatile int stop, spinning;
} g_spin;

static void resume_and_spin(void *unused)
{
	(void)unused;
	semaphore_acquire(&g_spin.go); /* resumed by a voluntary switch */
	g_spin.spinning = 1;
	while (!g_spin.stop)
		__asm__ volatile("pause"); /* until the timer preempts it */
}

/* Wakes the spinner and switches to it, with the test's registers dirty. */
static void wake_and_yield(void)
{
	semaphore_release(&g_spin.go);
	task_yield();
}

TEST(gc_retention, registers_left_at_a_switch_pin_nothing)
{
	g_spin.stop = 0;
	g_spin.spinning = 0;
	semaphore_init(&g_spin.go, 0);
	task *t = task_spawn_stack(resume_and_spin, NULL, "spinner", GC_T_STACK);
	CHECK(t);
	while (task_get_state(t) != TASK_BLOCKED)
		task_yield();
	uintptr_t h = new_robj();
	/* Switch to the spinner with the object's address in every scratch
	 * register; we run again once the timer has preempted it. */
	arch_test_call_with_dirty_scratch(h, GC_T_HIDE, wake_and_yield);
	CHECK(g_spin.spinning);
	gc_t_collect();
	bool freed = freed_or_explain(h);
	g_spin.stop = 1;
	CHECK_EQ(task_join(t), 0);
	CHECK_MSG(freed, "an object whose address was only left in scratch registers at a "
			 "context switch survived a collection");
}

/* ---- a task's start argument ----------------------------------------------- */
struct arg_user {
	semaphore used, release;
	volatile uint64_t seen;
};
static struct arg_user g_arg;

static __attribute__((noinline)) void use_arg(robj *o)
{
	g_arg.seen = o->magic;
}

static void arg_task(void *arg)
{
	use_arg(arg);
	arg = NULL;
	gc_t_scrub_stack(); /* our own dead frames: not what this test is about */
	semaphore_release(&g_arg.used);
	semaphore_acquire(&g_arg.release);
}

static __attribute__((noinline)) task *spawn_with_arg(uintptr_t h)
{
	return task_spawn_stack(arg_task, gc_t_unhide(h), "arg-user", GC_T_STACK);
}

TEST(gc_retention, start_argument_not_pinned_once_the_task_runs)
{
	semaphore_init(&g_arg.used, 0);
	semaphore_init(&g_arg.release, 0);
	uintptr_t h = new_robj();
	task *t = spawn_with_arg(h);
	CHECK(t);
	semaphore_acquire(&g_arg.used);
	CHECK_EQ(g_arg.seen, ROBJ_MAGIC);
	gc_t_collect();
	CHECK_MSG(freed_or_explain(h),
		  "a task's start argument stayed alive after the task dropped it");
	semaphore_release(&g_arg.release);
	CHECK_EQ(task_join(t), 0);
}
