/*
 * tests/hosted/malloc_bench.c - glibc malloc on the allocator benchmark
 * workloads of tests/mm_bench.h, as suite "malloc", so `bench=mm,malloc`
 * prints the two side by side. Hosted only: libc stays inside arch/hosted,
 * which hands its allocator over through arch/hosted/hosted.h. The
 * small workloads use malloc, which does not zero (the heap does, so its
 * numbers include zeroing); the large one uses calloc, as a caller that
 * needs zeroed memory would.
 */
#include "arch/hosted/hosted.h"
#include "lib/lib.h"
#include "tests/mm_bench.h"

static void *malloc_objs[BENCH_ALLOC_MAX_OPS];
static void *malloc_window[BENCH_CHURN_LIVE];

/* Keeps the compiler from proving the pointers unused. */
static void malloc_bench_check(void *p)
{
	if (!p)
		panic("bench: malloc returned NULL");
}

static void malloc_bench_alloc(bench *b, size_t size)
{
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++)
		malloc_objs[i] = hosted_libc_malloc(size);
	bench_stop(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		malloc_bench_check(malloc_objs[i]);
		hosted_libc_free(malloc_objs[i]);
	}
}

BENCH(malloc, alloc_16, BENCH_ALLOC_OPS(16)) { malloc_bench_alloc(b, 16); }
BENCH(malloc, alloc_64, BENCH_ALLOC_OPS(64)) { malloc_bench_alloc(b, 64); }
BENCH(malloc, alloc_256, BENCH_ALLOC_OPS(256)) { malloc_bench_alloc(b, 256); }
BENCH(malloc, alloc_4096, BENCH_ALLOC_OPS(4096)) { malloc_bench_alloc(b, 4096); }

BENCH(malloc, churn, BENCH_CHURN_OPS)
{
	for (size_t i = 0; i < BENCH_CHURN_LIVE; i++)
		malloc_window[i] = hosted_libc_malloc(bench_churn_size(i));
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		size_t slot = i % BENCH_CHURN_LIVE;
		hosted_libc_free(malloc_window[slot]);
		malloc_window[slot] = hosted_libc_malloc(bench_churn_size(i));
	}
	bench_stop(b);
	for (size_t i = 0; i < BENCH_CHURN_LIVE; i++) {
		malloc_bench_check(malloc_window[i]);
		hosted_libc_free(malloc_window[i]);
	}
}

BENCH(malloc, large_256k, BENCH_LARGE_OPS)
{
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		/* calloc: the heap's objects come back zeroed too. */
		void *p = hosted_libc_calloc(1, BENCH_LARGE_BYTES);
		malloc_bench_check(p);
		hosted_libc_free(p);
	}
	bench_stop(b);
}
