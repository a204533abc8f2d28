/*
 * tests/bench.h - the benchmark framework. Benchmarks register themselves in
 * the linker section "bench_cases" as {suite, name, fn, ops}; bench_run()
 * selects them with `bench=all`, `bench=SUITE` or `bench=SUITE.NAME` (comma
 * separated lists too), runs each one warm-up round plus `bench_repeats=`
 * timed rounds, and prints one machine-readable line per benchmark:
 *
 *   BENCH <suite.name> <median> <unit> min=<min> max=<max> n=<repeats>
 *
 * Values are nanoseconds per operation with two decimals, measured with the
 * cycle counter (arch_cycles) and converted with arch_cycles_per_sec(),
 * integer arithmetic only.
 */
#pragma once

#include "kernel/kernel.h"

typedef struct bench bench;

typedef struct bench_case {
	const char *suite;
	const char *name;
	void (*fn)(bench *b);
	uint64_t ops; /* operations one round performs; the time divides by it */
	const char *file;
	int line;
} bench_case;

/* One round of a benchmark. fn does its setup, calls bench_start(), runs
 * ops operations, calls bench_stop(), then tears down; only the time
 * between start and stop counts. */
struct bench {
	const bench_case *bc;
	uint64_t ops;
	uint64_t start_cycles; /* arch_cycles() at bench_start */
	uint64_t cycles;       /* measured by bench_stop */
	bool started, stopped;
};

#define BENCH(suite_, name_, ops_)                                             \
	static void bench_##suite_##_##name_(bench *b);                        \
	static const bench_case bench_case_##suite_##_##name_                  \
		__attribute__((used, section("bench_cases"), aligned(8))) = {  \
			.suite = #suite_, .name = #name_,                      \
			.fn = bench_##suite_##_##name_, .ops = ops_,           \
			.file = __FILE__, .line = __LINE__,                    \
		};                                                             \
	static void bench_##suite_##_##name_(bench *b)

static inline void bench_start(bench *b)
{
	b->started = true;
	b->start_cycles = arch_cycles();
}

static inline void bench_stop(bench *b)
{
	b->cycles = arch_cycles() - b->start_cycles;
	b->stopped = true;
}

/* The `bench=` option (NULL when not given). */
extern const char *bench_selection;

/* Runs the benchmarks `selection` names (NULL or "all" = every one;
 * "list" prints their names and runs none). Items that match nothing in
 * this build are reported and skipped. Returns how many ran; -1 if none
 * matched (after printing the valid names). */
int bench_run(const char *selection);
/* Prints every benchmark of this build, SUITE.NAME, one a line. */
void bench_list(void);
