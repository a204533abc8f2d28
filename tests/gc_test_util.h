/*
 * tests/gc_test_util.h - helpers shared by the collector suites (tests/gc_*):
 * hiding addresses from the conservative scanner, scrubbing dead stack
 * words, keeping a local alive across a call, and counting how many of a
 * set of hidden objects are still allocated.
 *
 * Why hiding matters: data, bss and every task stack are scanned
 * conservatively, so a stale copy of an address (a dead local, an old
 * global) keeps its object alive. Tests that expect objects to be freed
 * keep their addresses only in noscan heap memory (never scanned) or XORed
 * with GC_T_HIDE in globals, and accept a bound ("at least 90% freed")
 * instead of exact equality, since a few stale words in live frames and
 * saved registers can legitimately retain a few objects.
 */
#pragma once

#include "gc/gc.h"
#include "kernel/sched.h"
#include "tests/mm_test_util.h"
#include "tests/test.h"

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

/* Zeroes 8 KiB of dead stack below the caller, so the frames of the next
 * calls (gc_collect's) do not start out holding stale heap addresses.
 * (Not a local array cleared by a loop: under ASan the array's redzones
 * would keep their stale words.) */
static __attribute__((noinline, unused)) void gc_t_scrub_stack(void)
{
	task_scrub_stack(8192);
}

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
