/*
 * tests/mm_bench.h - the allocator benchmark workloads, shared by the heap's
 * benchmarks (tests/mm_bench.c) and glibc malloc's
 * (tests/hosted/malloc_bench.c), so both measure exactly the same thing.
 *
 *   alloc_N      N-byte allocations in a row, pointers kept; freed after
 *                the clock stops (the allocation path alone, refills and
 *                span growth included)
 *   churn        a window of BENCH_CHURN_LIVE live objects of mixed sizes;
 *                each operation frees the oldest and allocates a new one
 *   large_256k   allocate and free one 256 KiB object
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BENCH_ALLOC_BYTES (4UL << 20) /* bytes allocated by one alloc_N round */
#define BENCH_ALLOC_MAX_OPS 65536
#define BENCH_ALLOC_OPS(size) \
	(BENCH_ALLOC_BYTES / (size) < BENCH_ALLOC_MAX_OPS ? BENCH_ALLOC_BYTES / (size) \
							  : BENCH_ALLOC_MAX_OPS)

#define BENCH_CHURN_LIVE 1024
#define BENCH_CHURN_OPS 200000

#define BENCH_LARGE_BYTES (256UL << 10)
#define BENCH_LARGE_OPS 2000

/* The size of churn allocation i: 16 .. 512 bytes, fixed pseudo-random. */
static inline size_t bench_churn_size(uint64_t i)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL;
	x ^= x >> 29;
	return 16 + (size_t)(x % 497);
}
