/*
 * tests/gc_test_util.h - helpers shared by the collector suites (tests/gc_*
 * and diag): hiding addresses from the conservative scanner, scrubbing dead
 * stack words, keeping a local alive across a call, counting how many of a
 * set of hidden objects are still allocated, and waiting for finalizers.
 *
 * The rule: a test that controls every reference to an object expects
 * exactly - 0 of n dropped objects still allocated, every finalizer run -
 * never "at least 90%". Data, bss and every task stack are scanned
 * conservatively, so a stale copy of an address (a dead local, a register
 * the compiler kept) keeps its object alive; the runtime itself pins none
 * (tests/gc_retention_test.c), so any such copy is the test's own, and the
 * test must not leave one:
 *   - objects that must die are made, dropped and checked in noinline
 *     helpers, so no copy stays in the test's frame or in a callee-saved
 *     register it restores;
 *   - their addresses are kept only in noscan heap memory (never scanned)
 *     or XORed with GC_T_HIDE;
 *   - the stack below the caller is scrubbed before collecting
 *     (gc_t_collect), and a test body runs in a frame made right after
 *     such a scrub (GC_TEST), so the words a frame never writes hold
 *     zeros, not addresses earlier code left there;
 *   - a failing check says what still holds the object (gc_t_freed_or_explain
 *     prints why-alive's path).
 * A bound stays loose only where the test does not control what it counts
 * (a global counter other code moves too, cycles the pacer may add, page
 * metadata the heap keeps), and a comment at the check says which.
 *
 * Finalizers run asynchronously on the finalizer task: tests wait for the
 * event (a count, the drain below), yielding, a bounded number of times -
 * never for a length of time.
 */
#pragma once

#include "diag/diag.h"
#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"
#include "tests/mm_test_util.h"

#define GC_T_HIDE 0x5aa5c33c0ff0e11eULL
#define GC_T_MS (1000ULL * 1000ULL)
/* Stacks of the tests' tasks: room for the sanitizers' frames and a
 * timer signal frame on top of the deepest collector call (assists). */
#define GC_T_STACK (64 * 1024)

static inline uintptr_t gc_t_hide(const void *p)
{
	return (uintptr_t)p ^ GC_T_HIDE;
}
static inline void *gc_t_unhide(uintptr_t h)
{
	return (void *)(h ^ GC_T_HIDE);
}

/* How much dead stack gc_t_scrub_stack zeroes: room for the frames of the
 * next calls (gc_collect's), plus what an interrupt pushes at their bottom
 * (the hosted build's timer signal frame is tens of KiB): a task
 * preempted in there has its live range reach that deep. */
#define GC_T_SCRUB_BYTES ((16 << 10) + arch_interrupt_stack_reserve())
/*
 * Zeroes the dead stack below the caller and the scratch registers, so the
 * frames of the next calls do not start out holding stale heap addresses:
 * a word a frame leaves unwritten (alignment padding, a local set on one
 * path only, an ASan redzone) is scanned as part of the task's live stack,
 * and a new object at an old address would be kept by it (seen:
 * gc_collect's alignment slot kept an object found unreachable the moment
 * before). Scratch registers too: an interrupt arriving before the next
 * frame is made stores them where that frame goes, and one few functions
 * touch (r11) can hold an old heap address for a long time.
 */
static __attribute__((noinline, unused)) void gc_t_scrub_stack(void)
{
	task_scrub_stack(GC_T_SCRUB_BYTES);
}

/*
 * GC_TEST(suite, name) { ... } is TEST (registered the same way; the body
 * keeps TEST's name test_suite_name, for backtraces and profiles) whose
 * body runs in a frame of its own, made only after the dead stack below
 * the runner was scrubbed. A test's frame has words the test never writes
 * (ASan's redzones around its locals, padding, spill slots of paths not
 * taken, a buffer used only on failure): without the scrub
 * they hold whatever earlier tests left there, and an exact "0 still
 * allocated" fails when a new object happens to land at such an old
 * address (seen: a redzone of this very kind kept 1 of 10,000 objects).
 */
#define GC_TEST(suite_, name_)                                                 \
	static void test_##suite_##_##name_(void);                              \
	static void gc_t_fresh_##suite_##_##name_(void)                         \
	{                                                                      \
		gc_t_scrub_stack();                                            \
		test_##suite_##_##name_();                                     \
	}                                                                      \
	static const test_case test_case_##suite_##_##name_                    \
		__attribute__((used, section("test_cases"), aligned(8))) = {   \
			.suite = #suite_, .name = #name_,                      \
			.fn = gc_t_fresh_##suite_##_##name_, .expect_fault = -1, \
			.file = __FILE__, .line = __LINE__,                    \
		};                                                             \
	static __attribute__((noinline)) void test_##suite_##_##name_(void)

/* Makes the compiler keep p (in a register or the frame) up to here. */
static __attribute__((noinline, unused)) void gc_t_keep(const void *p)
{
	__asm__ volatile("" ::"r"(p) : "memory");
}

/* p is the base of an allocated object. */
static inline bool gc_t_allocated(const void *p)
{
	gc_object o;
	return gc_find_object(p, &o) && o.base == p;
}

/* A full cycle with a scrubbed stack underneath. */
static __attribute__((noinline, unused)) void gc_t_collect(void)
{
	gc_t_scrub_stack();
	gc_collect();
}

static inline gc_stats gc_t_stats(void)
{
	gc_stats s;
	gc_read_stats(&s);
	return s;
}

static inline size_t gc_t_in_use(void)
{
	heap_stats_info h;
	heap_stats_read(&h);
	return h.bytes_in_use;
}

/* How many of the n addresses in hidden[] (plain addresses kept in noscan
 * memory) are still allocated objects. */
static __attribute__((noinline, unused)) size_t
gc_t_count_allocated(const uintptr_t *hidden, size_t n)
{
	size_t alive = 0;
	for (size_t i = 0; i < n; i++)
		alive += gc_t_allocated((void *)hidden[i]);
	return alive;
}

/* A noscan buffer of n words for hidden addresses (CHECKed). */
static inline uintptr_t *gc_t_hidden_buffer(size_t n)
{
	uintptr_t *h = gc_alloc_noscan(n * sizeof(uintptr_t));
	CHECK_MSG(h, "noscan buffer of %zu words: %s", n, gc_last_error());
	return h;
}

/* splitmix64: a fixed, well-mixed function of x (checksums, patterns). */
static inline uint64_t gc_t_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* Fills / checks n bytes with a pattern derived from seed. */
static inline void gc_t_fill(void *p, size_t n, uint64_t seed)
{
	uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		w[i] = gc_t_mix(seed + i);
}
static inline bool gc_t_check_fill(const void *p, size_t n, uint64_t seed)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		if (w[i] != gc_t_mix(seed + i))
			return false;
	return true;
}

/* p is no longer an allocated object; if it still is, prints what keeps it
 * (why-alive's path from a root) and returns false. */
static __attribute__((noinline, unused)) bool gc_t_freed_or_explain(uintptr_t plain)
{
	if (!gc_t_allocated((void *)plain))
		return true;
	why_alive((void *)plain);
	return false;
}

/* How many of the n plain addresses in hidden[] are still allocated; with
 * a failing count in mind, why-alive explains the first survivor. */
static __attribute__((noinline, unused)) size_t
gc_t_count_allocated_explain(const uintptr_t *hidden, size_t n)
{
	size_t alive = 0;
	for (size_t i = 0; i < n; i++) {
		if (!gc_t_allocated((void *)hidden[i]))
			continue;
		if (alive++ == 0) {
			test_log("object %zu of %zu (%p) survived; what keeps it:", i, n,
				 (void *)hidden[i]);
			why_alive((void *)hidden[i]);
		}
	}
	return alive;
}

/* ---- waiting for an event, not for time ------------------------------------ */

/* How many times a test yields, at most, waiting for another task to do
 * something: far more than any wait takes, a bound on iterations, not on
 * time (a loaded machine only makes each yield slower). A cycle the pacer
 * started may have the awaited task in an assist until the mark worker,
 * which sleeps between slices, has finished it; the bound covers that too. */
#define GC_T_WAIT_YIELDS 1000000L

/* Yields until *count >= want, at most GC_T_WAIT_YIELDS times. */
static __attribute__((noinline, unused)) bool gc_t_yield_until(const volatile uint64_t *count,
								  uint64_t want)
{
	for (long i = 0; i < GC_T_WAIT_YIELDS && *count < want; i++)
		task_yield();
	return *count >= want;
}

/* Yields until t is blocked (in a wait or a sleep); fails the test after
 * GC_T_WAIT_YIELDS yields, naming the task. */
static __attribute__((noinline, unused)) void gc_t_wait_blocked(task *t)
{
	for (long i = 0; i < GC_T_WAIT_YIELDS && task_get_state(t) != TASK_BLOCKED; i++)
		task_yield();
	CHECK_MSG(task_get_state(t) == TASK_BLOCKED,
		  "task %llu '%s' did not block within %ld yields (state %d)",
		  (unsigned long long)task_id(t), task_name(t), GC_T_WAIT_YIELDS,
		  (int)task_get_state(t));
}

/* ---- finalizers: waiting until every queued one has run -------------------- */

static volatile uint64_t gc_t_sentinels_run;
/* The finalizer task's count once the last sentinel's finalizer is done */
static volatile uint64_t gc_t_sentinel_done_at;

static void gc_t_sentinel_finalizer(void *obj)
{
	(void)obj;
	gc_stats s;
	gc_read_stats(&s);
	gc_t_sentinel_done_at = s.finalizers_run + 1; /* counted once we return */
	gc_t_sentinels_run++;
}

static __attribute__((noinline, unused)) uintptr_t gc_t_new_sentinel(void)
{
	void *s = gc_alloc_noscan(32);
	CHECK_MSG(s, "sentinel: %s", gc_last_error());
	CHECK(gc_set_finalizer(s, gc_t_sentinel_finalizer));
	return gc_t_hide(s);
}

static __attribute__((noinline, unused)) void gc_t_drain_failed(uintptr_t h, const char *what)
{
	/* What holds it: the finalizer queue (the finalizers before it did
	 * not finish) or a real reference (it was never found unreachable). */
	int why = why_alive(gc_t_unhide(h));
	test_fail(__FILE__, __LINE__,
		  "finalizer drain: %s within %ld yields after a cycle (the sentinel: "
		  "why-alive %d, path above; %llu finalizers run in all)",
		  what, GC_T_WAIT_YIELDS, why,
		  (unsigned long long)gc_t_stats().finalizers_run);
}

static __attribute__((noinline, unused)) void gc_t_finalizers_drain_(void)
{
	uint64_t want = gc_t_sentinels_run + 1;
	uintptr_t h = gc_t_new_sentinel();
	gc_t_collect();
	if (!gc_t_yield_until(&gc_t_sentinels_run, want))
		gc_t_drain_failed(h, "the sentinel's finalizer did not run");
	/* and returned: the finalizer task counts it after its scrub */
	long i = 0;
	while (i++ < GC_T_WAIT_YIELDS && gc_t_stats().finalizers_run < gc_t_sentinel_done_at)
		task_yield();
	if (gc_t_stats().finalizers_run < gc_t_sentinel_done_at)
		gc_t_drain_failed(h, "the sentinel's finalizer did not return");
}

/*
 * Returns once every finalizer queued by a cycle that ended before the
 * call has returned, and the finalizer task has let go of its object (it
 * scrubs its stack after each one: gc/finalizer.c). How: a fresh sentinel
 * object nothing references gets a finalizer, and a full cycle queues it;
 * the run queue is first in, first out and one task runs it, so once the
 * sentinel's finalizer has run and returned, every finalizer queued before
 * it has too. Runs one cycle (which queues whatever else it finds
 * unreachable, beside the sentinel). The sentinel itself is garbage from
 * then on. Fails the test, saying what it waited for and what keeps the
 * sentinel, when that does not happen. The work runs in a frame made
 * after a scrub: a stale copy of an earlier sentinel's address (the next
 * one often gets the same slot) must not be in a frame that is live
 * during the cycle.
 */
static __attribute__((noinline, unused)) void gc_t_finalizers_drain(void)
{
	gc_t_scrub_stack();
	gc_t_finalizers_drain_();
}
