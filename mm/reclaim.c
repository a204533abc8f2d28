/*
 * mm/reclaim.c - what mm does when the page source runs dry. Every
 * arch_commit in mm that fails (heap pages, the arena's tables, metadata,
 * task stacks) goes through here before anything reports out of memory:
 *
 *   1. Return every free backed heap page to the page source: the
 *      scavenger with no reserve and no idle delay
 *      (mheap_release_free_pages). Try again.
 *   2. If that was not enough and the caller may block, call the reclaim
 *      hook: the collector registers one (gc/pacer.c) that runs a full
 *      collection and finishes its sweep, turning garbage into free pages.
 *      Return those (step 1 again) and try once more.
 *   3. Fail: NULL / false, with heap_last_error() saying what ran out and
 *      that a collection did not help (or could not run there).
 *
 * Why a hook: mm/ is below gc/ and includes none of its headers, but only
 * the collector knows what is garbage; so the collector registers the one
 * function mm calls up to (a lower layer calls up through a registered
 * hook, never by name).
 *
 * When the hook may collect. mm's part of the rule: the caller had
 * interrupts on, so it holds no spinlock and no mm lock (both turn
 * interrupts off) and no lock is held across the hook. The hook's part:
 * a task (not the idle loop, not an interrupt), preemption on, the world
 * running, not one of the collector's own tasks (mark worker, sweeper,
 * finalizer task), not already inside the hook on this task. Everywhere
 * else step 2 is skipped and only free pages are returned.
 * No deadlock: a task blocked in the hook waits only for the mark worker
 * and the sweeper; those never wait for a mutator, take no lock a mutator
 * can hold while blocked, and never run the hook themselves. When the
 * collector itself needs memory (mark work buffers, checkmark and
 * diagnostics scratch) it gets step 1 only: it never waits for memory, so
 * a collection that mutators wait on always ends.
 */
#include "mm/mm_internal.h"

static heap_reclaim_fn reclaim_hook;

void heap_set_reclaim_hook(heap_reclaim_fn hook)
{
	__atomic_store_n(&reclaim_hook, hook, __ATOMIC_RELEASE);
}

/* Counters for heap_stats_read; updated atomically from any context. */
static uint64_t oom_collections, oom_failures;

void heap_oom_stats(uint64_t *collections, uint64_t *failures)
{
	*collections = __atomic_load_n(&oom_collections, __ATOMIC_RELAXED);
	*failures = __atomic_load_n(&oom_failures, __ATOMIC_RELAXED);
}

bool heap_commit(void *addr, size_t bytes)
{
	if (arch_commit(addr, bytes))
		return true;
	if (mheap_release_free_pages() == 0)
		return false;
	return arch_commit(addr, bytes);
}

/* Could freeing the whole heap make room for arch_pages? If not, a
 * collection is pointless. Read without the heap lock: a hint. */
static bool heap_oom_could_help(size_t arch_pages)
{
	const mheap *h = &mheap_global;
	size_t heap_pages = __atomic_load_n(&h->pages_in_use, __ATOMIC_RELAXED) +
			    __atomic_load_n(&h->pages_free_committed, __ATOMIC_RELAXED);

	return arch_pages <= arch_free_pages() + heap_pages * MHEAP_ARCH_PAGES_PER_PAGE;
}

/* Appends to this CPU's error what was tried before giving up. */
static void heap_oom_explain(const heap_oom *o, bool hopeless)
{
	char why[sizeof mcache_percpu[0].error];
	const char *tried =
		o->collected ? "still short after a full collection"
		: hopeless   ? "more than the whole heap could free"
			     : "no collection possible here";

	ksnprintf(why, sizeof why, "%s (%s)", heap_last_error(), tried);
	heap_set_error("%s", why);
}

bool heap_oom_retry(heap_oom *o, size_t arch_pages)
{
	if (!o->scavenged) {
		o->scavenged = true;
		if (mheap_release_free_pages() > 0)
			return true;
	}
	bool hopeless = !heap_oom_could_help(arch_pages);
	if (!o->collect_tried && !hopeless) {
		o->collect_tried = true;
		heap_reclaim_fn hook = __atomic_load_n(&reclaim_hook, __ATOMIC_ACQUIRE);
		if (hook && arch_irq_enabled()) {
			/* The collection may set errors of its own. */
			char error[sizeof mcache_percpu[0].error];
			ksnprintf(error, sizeof error, "%s", heap_last_error());
			bool collected = hook();
			heap_set_error("%s", error);
			if (collected) {
				o->collected = true;
				__atomic_fetch_add(&oom_collections, 1, __ATOMIC_RELAXED);
				mheap_release_free_pages();
				return true;
			}
		}
	}
	__atomic_fetch_add(&oom_failures, 1, __ATOMIC_RELAXED);
	heap_oom_explain(o, hopeless);
	return false;
}
