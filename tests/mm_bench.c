/*
 * tests/mm_bench.c - allocator benchmarks on the heap (workloads described
 * in tests/mm_bench.h; glibc malloc runs the same ones in the hosted build,
 * tests/hosted/malloc_bench.c). Objects are freed with heap_free_for_test
 * outside the timed part, except in churn and large, where freeing is part
 * of the workload.
 */
#include "gc/gc.h"
#include "lib/lib.h"
#include "tests/mm_bench.h"

static void *bench_objs[BENCH_ALLOC_MAX_OPS];
static void *bench_window[BENCH_CHURN_LIVE];

static void bench_alloc_noscan(bench *b, size_t size)
{
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++)
		bench_objs[i] = gc_alloc_noscan(size);
	bench_stop(b);
	for (uint64_t i = 0; i < b->ops; i++)
		if (!bench_objs[i] || !heap_free_for_test(bench_objs[i]))
			panic("bench: allocation %llu of %zu bytes failed: %s",
			      (unsigned long long)i, size, gc_last_error());
}

BENCH(mm, alloc_16, BENCH_ALLOC_OPS(16)) { bench_alloc_noscan(b, 16); }
BENCH(mm, alloc_64, BENCH_ALLOC_OPS(64)) { bench_alloc_noscan(b, 64); }
BENCH(mm, alloc_256, BENCH_ALLOC_OPS(256)) { bench_alloc_noscan(b, 256); }
BENCH(mm, alloc_4096, BENCH_ALLOC_OPS(4096)) { bench_alloc_noscan(b, 4096); }

typedef struct bench_node {
	struct bench_node *left, *right;
} bench_node;
static GC_TYPE_DEFINE(bench_node_type, bench_node, left, right);

/* A typed (scanned) 16-byte object: the path the collector's users take. */
BENCH(mm, alloc_typed_16, BENCH_ALLOC_OPS(16))
{
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++)
		bench_objs[i] = gc_alloc(&bench_node_type);
	bench_stop(b);
	for (uint64_t i = 0; i < b->ops; i++)
		if (!bench_objs[i] || !heap_free_for_test(bench_objs[i]))
			panic("bench: typed allocation failed: %s", gc_last_error());
}

BENCH(mm, churn, BENCH_CHURN_OPS)
{
	for (size_t i = 0; i < BENCH_CHURN_LIVE; i++)
		bench_window[i] = gc_alloc_noscan(bench_churn_size(i));
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		size_t slot = i % BENCH_CHURN_LIVE;
		heap_free_for_test(bench_window[slot]);
		bench_window[slot] = gc_alloc_noscan(bench_churn_size(i));
	}
	bench_stop(b);
	for (size_t i = 0; i < BENCH_CHURN_LIVE; i++)
		if (!bench_window[i] || !heap_free_for_test(bench_window[i]))
			panic("bench: churn allocation failed: %s", gc_last_error());
}

BENCH(mm, large_256k, BENCH_LARGE_OPS)
{
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		void *p = gc_alloc_noscan(BENCH_LARGE_BYTES);
		if (!p || !heap_free_for_test(p))
			panic("bench: large allocation failed: %s", gc_last_error());
	}
	bench_stop(b);
}
