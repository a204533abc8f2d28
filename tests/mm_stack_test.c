/*
 * tests/mm_stack_test.c - task stacks and the unmapped gap below each
 * (mm/stack.c): the fault handler's test for "stack overflow" covers the
 * whole gap and nothing else; the gap is address space only (stack
 * accounting counts what is committed); a store anywhere in the gap, as a
 * frame built without stack-clash probes would make it, kills only its task;
 * and a task whose frame is larger than the gap dies as a stack overflow
 * while the neighbouring stack below the gap keeps every byte. Every
 * address is derived from the stacks the test allocates; nothing depends on
 * timing.
 */
#include "sched/sched.h"
#include "tests/mm_test_util.h"
#include "tests/task_test_util.h"

/* Stack sizes no other test asks for, so their slots come fresh from the
 * stack region one after the other (or, if this suite runs again in the
 * same boot, from the free list in the same order). */
#define NEIGHBOUR_STACK (256 * 1024)
#define CLASH_STACK (36 * 1024)

TEST(stack, gap_is_an_overflow_and_nothing_else)
{
	size_t count0, bytes0, count1, bytes1, count2, bytes2;
	mstack s;
	/* Preemption off: no other task's stack comes or goes (a dying task
	 * is reaped at a switch) between the counts. */
	preempt_disable();
	stack_usage(&count0, &bytes0);
	bool ok = stack_alloc(0, &s);
	stack_usage(&count1, &bytes1);
	mstack copy = s;
	if (ok)
		stack_free(&copy);
	stack_usage(&count2, &bytes2);
	preempt_enable();
	CHECK_MSG(ok, "%s", heap_last_error());
	/* Accounting: the committed stack, not the gap. */
	CHECK_EQ(count1, count0 + 1);
	CHECK_EQ(bytes1, bytes0 + s.size);
	CHECK_EQ(count2, count0);
	CHECK_EQ(bytes2, bytes0);
	CHECK(copy.base == NULL);

	uintptr_t base = (uintptr_t)s.base;
	CHECK_EQ(base - s.guard, MSTACK_GAP_BYTES);
	CHECK_GE(s.size, MSTACK_DEFAULT_SIZE);
	CHECK_EQ(s.asked, MSTACK_DEFAULT_SIZE);

	/* Every page of the gap, both its ends, and the neighbours' bytes. */
	for (uintptr_t a = s.guard; a < base; a += ARCH_PAGE_SIZE) {
		CHECK_MSG(stack_in_guard(&s, a), "gap page %lx", (unsigned long)a);
		CHECK(stack_in_guard(&s, a + ARCH_PAGE_SIZE - 1));
	}
	CHECK(!stack_in_guard(&s, s.guard - 1));
	CHECK(!stack_in_guard(&s, base));
	CHECK(!stack_in_guard(&s, base + s.size - 1));
	/* A freed stack is no stack: nothing is its overflow. */
	CHECK(!stack_in_guard(&copy, s.guard));
}

TEST(stack, gap_takes_no_memory)
{
	mstack warm, s;
	/* Once to create the slot records and the region's page tables. */
	CHECK(stack_alloc(0, &warm));
	/* Preemption off: no other task (the sweeper's scavenging, say)
	 * changes the page source between the two reads. */
	preempt_disable();
	size_t before = arch_free_pages();
	bool ok = stack_alloc(0, &s);
	size_t after = arch_free_pages();
	preempt_enable();
	CHECK(ok);
	CHECK_LE(after, before);
	size_t taken = before - after;
	/* The stack's pages, plus on bare metal up to three page-table
	 * frames; the 16 pages of the gap would show. */
	CHECK_GE(taken, s.size / ARCH_PAGE_SIZE);
	CHECK_LE(taken, s.size / ARCH_PAGE_SIZE + 3);
	stack_free(&s);
	stack_free(&warm);
}

/* ---- stores below the stack --------------------------------------------- */

static semaphore neighbour_gate, clash_gate;

/* A store `depth` bytes below the task's own stack, which code compiled
 * without stack-clash probes makes when its frame does not fit. */
static void store_below(void *arg)
{
	size_t depth = (size_t)(uintptr_t)arg;
	const arch_context *ctx = task_context(task_self());
	volatile char *p = (volatile char *)ctx->stack_base - depth;
	*p = 1;
}

TEST(stack, store_anywhere_in_the_gap_kills_only_the_task)
{
	const size_t depths[] = { 1, 8, ARCH_PAGE_SIZE + 8, MSTACK_GAP_BYTES / 2,
				  MSTACK_GAP_BYTES - 8, MSTACK_GAP_BYTES };
	for (size_t i = 0; i < ARRAY_SIZE(depths); i++) {
		task *t = task_spawn(store_below, (void *)(uintptr_t)depths[i], "store-below");
		CHECK(t);
		CHECK_MSG(task_join(t) == TASK_EXIT_FAULT, "a store %zu bytes below "
			  "the stack did not fault", depths[i]);
	}
}

/* ---- a frame larger than the gap -------------------------------------------- */

typedef struct clash {
	uintptr_t target; /* the lowest byte the frame reaches */
} clash;

static void neighbour_main(void *unused)
{
	(void)unused;
	semaphore_acquire(&neighbour_gate);
}

/*
 * One frame reaching from here down to c->target, well below the gap,
 * touched lowest byte first as unprobed code might. Built with stack-clash
 * probes, its allocation touches every page on the way down and faults at
 * the top of the gap before the store runs.
 */
static __attribute__((noinline)) int big_frame(const clash *c)
{
	size_t n = (uintptr_t)__builtin_frame_address(0) - c->target;
	volatile char frame[n];
	frame[0] = 1;
	frame[n / 2] = 2;
	frame[n - 1] = 3;
	return frame[0] + frame[n / 2] + frame[n - 1];
}

static volatile int clash_sum;

static void clash_main(void *arg)
{
	semaphore_acquire(&clash_gate);
	clash_sum = big_frame(arg);
}

TEST(stack, frame_larger_than_the_gap_spares_the_neighbour)
{
	static clash c;
	semaphore_init(&neighbour_gate, 0);
	semaphore_init(&clash_gate, 0);
	/* Preemption off: nothing else takes a stack slot in between. */
	preempt_disable();
	task *n = task_spawn_stack(neighbour_main, NULL, "neighbour", NEIGHBOUR_STACK);
	task *t = task_spawn_stack(clash_main, &c, "clash", CLASH_STACK);
	preempt_enable();
	CHECK(n && t);
	const arch_context *nc = task_context(n), *tc = task_context(t);
	uintptr_t n_lo = (uintptr_t)nc->stack_base, n_hi = n_lo + nc->stack_size;
	uintptr_t t_lo = (uintptr_t)tc->stack_base;
	/* Adjacent slots: the clash task's gap ends at its stack, and the
	 * neighbour's stack ends where the gap begins. */
	CHECK_EQ(n_hi + MSTACK_GAP_BYTES, t_lo);
	/* The frame reaches a gap's length into the neighbour: past any gap
	 * smaller than twice this one, and inside the neighbour's stack. */
	c.target = t_lo - 2 * MSTACK_GAP_BYTES;
	CHECK_GT(c.target, n_lo);

	yield_until_blocked(n);
	yield_until_blocked(t);
	/* The neighbour is blocked: its stack cannot change until released. */
	size_t bytes = nc->stack_size;
	char *copy = gc_alloc_noscan(bytes);
	CHECK_MSG(copy, "%s", gc_last_error());
	memcpy(copy, nc->stack_base, bytes);

	semaphore_release(&clash_gate);
	CHECK_EQ(task_join(t), TASK_EXIT_FAULT);
	CHECK_EQ(task_get_state(n), TASK_BLOCKED);
	for (size_t i = 0; i < bytes; i++)
		CHECK_MSG(copy[i] == ((const char *)nc->stack_base)[i],
			  "neighbour's stack changed at %p",
			  (void *)((const char *)nc->stack_base + i));
	semaphore_release(&neighbour_gate);
	CHECK_EQ(task_join(n), 0);
	CHECK_HEAP_VALID();
}
