/*
 * tests/gc_barrier_test.c - each rule the concurrent mark depends on, driven
 * to its critical interleaving on every run: the test runs the cycle step by
 * step (gc_test_cycle_begin ... gc_test_cycle_end: the mark worker and
 * assists stay out) and makes the mutator's move exactly between two root
 * jobs, instead of hoping the timer lands in the window.
 *
 *   deletion half:  the only reference moves from a grey object onto an
 *                   already scanned (black) stack;
 *   insertion half: the only reference moves from a not yet scanned stack
 *                   into a black object;
 *   allocate-black: an object born after its holder's stack was scanned;
 *   stack scanning: an object only on a blocked task's stack, only on the
 *                   running task's, only in one callee-saved register;
 *   checkmark:      catches a store that bypassed the barrier, and does not
 *                   take a stale word in an uninitialised local array for a
 *                   missed reference.
 *
 * Each check reads the object's mark bit at termination (before the sweep
 * could free it), so a broken rule fails the test deterministically, and
 * the objects involved are never on the test's stack before its scan
 * (addresses kept XORed, stack scrubbed), so nothing else can mark them.
 * Checked by mutation: removing the deletion shade, the insertion shade or
 * allocate-black from gc/, or scanning the running task from its frame
 * without spilling, fails the matching test here (QEMU and hosted).
 */
#include "tests/gc_test_util.h"

typedef struct holder {
	struct holder *f;
	uint64_t magic;
} holder;
static GC_TYPE_DEFINE(holder_type, holder, f);

#define HOLDER_MAGIC 0x401de7ULL

static holder *g_a; /* the global root of these scenarios */

static __attribute__((noinline)) uintptr_t new_holder(void)
{
	holder *h = gc_alloc(&holder_type);
	CHECK_MSG(h, "gc_alloc: %s", gc_last_error());
	h->magic = HOLDER_MAGIC;
	return gc_t_hide(h);
}

/* g_a = A, and A->f = B when with_child: built in a frame of its own. */
static __attribute__((noinline)) void make_a(bool with_child)
{
	holder *a = gc_t_unhide(new_holder());
	if (with_child)
		gc_write(&a->f, gc_t_unhide(new_holder()));
	gc_write(&g_a, a);
}

static bool survives(const holder *h)
{
	return gc_t_allocated(h) && h->magic == HOLDER_MAGIC;
}

TEST(gc_barrier, deletion_half_shades_the_overwritten_value)
{
	make_a(true);
	gc_t_scrub_stack();
	gc_test_cycle_begin(false);
	gc_test_scan_task(task_self()); /* this stack is black from here on */
	gc_test_scan_globals();         /* A grey, B not reached yet */
	/* The move: B onto the black stack, out of grey A. */
	holder *volatile b = g_a->f;
	gc_write(&g_a->f, NULL);
	gc_test_drain(); /* A scanned: its field is NULL now */
	const void *watch[1] = { b };
	bool marked[1];
	CHECK_EQ(gc_test_cycle_end(watch, marked, 1), 0);
	CHECK_MSG(marked[0], "the deletion barrier did not shade the overwritten pointer: "
			     "an object held only by a scanned stack was left white");
	CHECK(survives(b));
	gc_write(&g_a, NULL);
}

/* The move, in a frame of its own so that no register or slot of the test
 * keeps C's address afterwards. */
static __attribute__((noinline)) void store_into_a(uintptr_t hidden)
{
	gc_write(&g_a->f, gc_t_unhide(hidden));
}

TEST(gc_barrier, insertion_half_shades_the_stored_value)
{
	make_a(false);
	uintptr_t hc = new_holder(); /* C: white, known to us only hidden */
	gc_t_scrub_stack();
	gc_test_cycle_begin(false);
	gc_test_scan_globals();
	gc_test_drain(); /* A is black */
	/* The move: C from this (not yet scanned) stack into black A. */
	store_into_a(hc);
	gc_t_scrub_stack();
	gc_test_scan_task(task_self()); /* finds no C */
	gc_test_drain();
	const void *watch[1] = { gc_t_unhide(hc) };
	bool marked[1];
	CHECK_EQ(gc_test_cycle_end(watch, marked, 1), 0);
	CHECK_MSG(marked[0], "the insertion barrier did not shade the stored pointer: an "
			     "object stored into a black object was left white");
	CHECK(survives(g_a->f));
	gc_write(&g_a, NULL);
}

TEST(gc_barrier, allocate_black_keeps_objects_born_during_mark)
{
	gc_t_scrub_stack();
	gc_test_cycle_begin(false);
	gc_test_scan_task(task_self());
	gc_test_scan_globals();
	gc_test_drain();
	/* Born after every root was scanned, held only by this black stack. */
	holder *volatile n = gc_alloc(&holder_type);
	CHECK(n);
	n->magic = HOLDER_MAGIC;
	const void *watch[1] = { n };
	bool marked[1];
	CHECK_EQ(gc_test_cycle_end(watch, marked, 1), 0);
	CHECK_MSG(marked[0], "an object allocated during marking was not born black");
	CHECK(survives(n));
}

/* ---- stack scanning ----------------------------------------------------- */

struct stack_holder {
	uintptr_t hidden;
	semaphore held, release;
};

static void hold_on_stack(void *arg)
{
	struct stack_holder *a = arg;
	holder *volatile mine = gc_t_unhide(a->hidden);
	a->hidden = 0;
	semaphore_release(&a->held);
	semaphore_acquire(&a->release); /* blocked: switched out, holding mine */
	CHECK(survives(mine));
}

TEST(gc_barrier, stacks_are_roots_blocked_and_running)
{
	static struct stack_holder a;
	a = (struct stack_holder){ .hidden = new_holder() };
	semaphore_init(&a.held, 0);
	semaphore_init(&a.release, 0);
	uintptr_t theirs = a.hidden;
	task *t = task_spawn_stack(hold_on_stack, &a, "barrier-holder", GC_T_STACK);
	CHECK(t);
	semaphore_acquire(&a.held);
	holder *volatile mine = gc_t_unhide(new_holder());
	gc_t_scrub_stack();
	gc_test_cycle_begin(false);
	/* Their stack at termination (blocked), ours now (running). */
	gc_test_scan_task(task_self());
	const void *watch[2] = { gc_t_unhide(theirs), mine };
	bool marked[2];
	CHECK_EQ(gc_test_cycle_end(watch, marked, 2), 0);
	CHECK_MSG(marked[0], "an object only on a blocked task's stack was left white");
	CHECK_MSG(marked[1], "an object only on the running task's stack was left white");
	semaphore_release(&a.release);
	CHECK_EQ(task_join(t), 0);
	CHECK(survives(mine));
}

static uintptr_t g_reg_hidden;
static bool g_reg_marked;

/* Runs with the object only in one callee-saved register of this task. */
static void cycle_while_holding(void)
{
	gc_t_scrub_stack();
	gc_test_cycle_begin(false);
	gc_test_scan_task(task_self());
	const void *watch[1] = { gc_t_unhide(g_reg_hidden) };
	gc_test_cycle_end(watch, &g_reg_marked, 1);
}

TEST(gc_barrier, callee_saved_registers_of_the_scanned_running_task)
{
	for (unsigned reg = 0; reg < ARCH_CALLEE_SAVED_TESTABLE; reg++) {
		uintptr_t h = new_holder();
		g_reg_hidden = h;
		uintptr_t back = arch_test_hold_in_register(h, GC_T_HIDE, reg, cycle_while_holding);
		CHECK_EQ(back, h);
		CHECK_MSG(g_reg_marked,
			  "an object held only in callee-saved register %u of the running task "
			  "was left white by its stack scan", reg);
		CHECK(survives(gc_t_unhide(h)));
	}
}

/* ---- checkmark ---------------------------------------------------------- */

TEST(gc_barrier, checkmark_catches_a_store_without_barrier)
{
	make_a(true);
	gc_t_scrub_stack();
	gc_test_cycle_begin(true);
	gc_test_scan_task(task_self());
	gc_test_scan_globals();
	holder *volatile b = g_a->f;
	g_a->f = NULL; /* a store that bypasses gc_write: a mutator bug */
	gc_test_drain();
	const void *watch[1] = { b };
	bool marked[1];
	size_t missed = gc_test_cycle_end(watch, marked, 1);
	CHECK_MSG(!marked[0], "B marked although nothing shaded it (a stale reference?)");
	CHECK_EQ(missed, 1);
	/* B is freed by the sweep while b still names it: never touch it. */
	b = NULL;
	gc_write(&g_a, NULL);
}

#define STALE_WORDS 256

struct stale_arg {
	uintptr_t hidden_x;
	semaphore s1, s2, at_s1, at_s2;
	uintptr_t words_lo, words_hi, arr_lo, arr_hi;
};

/* Leaves x in STALE_WORDS words of this frame, dead once it returns. */
static __attribute__((noinline)) void write_stale(struct stale_arg *a)
{
	volatile uintptr_t words[STALE_WORDS];
	uintptr_t x = (uintptr_t)gc_t_unhide(a->hidden_x);
	for (size_t i = 0; i < STALE_WORDS; i++)
		words[i] = x;
	a->words_lo = (uintptr_t)&words[0];
	a->words_hi = (uintptr_t)&words[STALE_WORDS];
}

/* Waits with an array it never writes in its live frame: whatever the dead
 * stack held there is now inside the task's live range. */
static __attribute__((noinline)) void wait_with_uninitialised_array(struct stale_arg *a)
{
	volatile uintptr_t arr[STALE_WORDS];
	a->arr_lo = (uintptr_t)&arr[0];
	a->arr_hi = (uintptr_t)&arr[STALE_WORDS];
	semaphore_release(&a->at_s2);
	semaphore_acquire(&a->s2);
	gc_t_keep((const void *)arr);
}

static void stale_words_task(void *arg)
{
	struct stale_arg *a = arg;
	write_stale(a);
	semaphore_release(&a->at_s1);
	semaphore_acquire(&a->s1); /* scanned here: the stale words are dead */
	wait_with_uninitialised_array(a);
}

TEST(gc_barrier, checkmark_ignores_stale_words_of_uninitialised_locals)
{
	static struct stale_arg a;
	a = (struct stale_arg){ .hidden_x = new_holder() };
	semaphore_init(&a.s1, 0);
	semaphore_init(&a.s2, 0);
	semaphore_init(&a.at_s1, 0);
	semaphore_init(&a.at_s2, 0);
	task *t = task_spawn_stack(stale_words_task, &a, "stale-words", GC_T_STACK);
	CHECK(t);
	semaphore_acquire(&a.at_s1);
	gc_t_scrub_stack();
	gc_test_cycle_begin(true);
	gc_test_scan_globals();
	gc_test_scan_task(t); /* blocked at s1: the stale copies lie below its sp */
	uintptr_t sp_at_scan = task_context(t)->sp;
	gc_test_drain();
	/* Now the task moves its uninitialised array over them and waits. */
	semaphore_release(&a.s1);
	semaphore_acquire(&a.at_s2);
	CHECK_MSG(MAX(a.words_lo, a.arr_lo) < MIN(MIN(a.words_hi, a.arr_hi), sp_at_scan),
		  "the scenario needs the array over stale words below the scanned sp: "
		  "words [%p,%p) array [%p,%p) sp %p", (void *)a.words_lo, (void *)a.words_hi,
		  (void *)a.arr_lo, (void *)a.arr_hi, (void *)sp_at_scan);
	size_t missed = gc_test_cycle_end(NULL, NULL, 0);
	CHECK_MSG(missed == 0,
		  "checkmark reported %zu missed object(s) for a stale word in an uninitialised "
		  "local array (a false alarm)", missed);
	semaphore_release(&a.s2);
	CHECK_EQ(task_join(t), 0);
}
