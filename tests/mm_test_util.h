/*
 * tests/mm_test_util.h - helpers shared by the mm test suites: a small PRNG,
 * a heap-validity check, and "quiesce", which puts the heap in a state where
 * page counts can be compared (caches flushed, free pages returned).
 */
#pragma once

#include "gc/gc.h"
#include "mm/mm.h"
#include "lib/lib.h"

/* xorshift64*: deterministic, seedable, good enough for test mixes. */
static inline uint64_t mm_test_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform-ish in [0, n). */
static inline uint64_t mm_test_below(uint64_t *state, uint64_t n)
{
	return mm_test_rand(state) % n;
}

#define CHECK_HEAP_VALID()                                                  \
	do {                                                                \
		char heap_why_[256];                                        \
		CHECK_MSG(mheap_validate(heap_why_, sizeof heap_why_),      \
			  "mheap_validate: %s", heap_why_);                 \
	} while (0)

/* Flushes this CPU's caches and returns every free backed page, so
 * arch_free_pages() reflects exactly the pages objects hold. */
static inline void mm_test_quiesce(void)
{
	/* A collection in progress, or a sweep behind one, would free pages
	 * under a test that counts them: finish both first. */
	gc_collect();
	mcache_release_all();
	mheap_scavenge(0, 0);
}

/* Clears a test's static array of object addresses once they are freed:
 * data and bss are roots, and a stale address there would keep whatever
 * later test's object lands at it alive (conservative scanning). */
#define MM_TEST_FORGET(array) memset((void *)(array), 0, sizeof(array))

/* True if n bytes at p are all zero. */
static inline bool mm_test_is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}
