/*
 * kernel/bench.c - the benchmark run mode: runs the benchmarks BENCH() places in the linker section
 * "bench_cases": selection, warm-up, timed repeats, median / min / max, and
 * the BENCH output lines (format in lib/lib.h).
 */
#include "arch/arch.h"
#include "kernel/kernel.h"

#define BENCH_MAX_REPEATS 101
#define PS_PER_US 1000000ULL

extern const bench_case __start_bench_cases[], __stop_bench_cases[];

const char *bench_selection;
CMDLINE_STRING(bench_selection, "bench",
	       "run benchmarks: all, list, or comma-separated SUITE / SUITE.NAME");

static int64_t bench_repeats = 7;
CMDLINE_INT(bench_repeats, "bench_repeats", 1, BENCH_MAX_REPEATS,
	    "timed rounds per benchmark (the median is reported)");

/* Does the selection item [item, item + len) name bc? */
static bool bench_item_matches(const char *item, size_t len,
			       const bench_case *bc)
{
	size_t suite_len = strlen(bc->suite);

	if (len == 3 && strncmp(item, "all", 3) == 0)
		return true;
	if (strncmp(item, bc->suite, suite_len) != 0)
		return false;
	if (len == suite_len)
		return true;
	return len == suite_len + 1 + strlen(bc->name) && item[suite_len] == '.' &&
	       strncmp(item + suite_len + 1, bc->name, len - suite_len - 1) == 0;
}

static bool bench_selected(const char *selection, const bench_case *bc)
{
	if (!selection)
		return true;
	for (const char *item = selection; *item;) {
		const char *end = strchr(item, ',');
		size_t len = end ? (size_t)(end - item) : strlen(item);
		if (len > 0 && bench_item_matches(item, len, bc))
			return true;
		item += len + (end ? 1 : 0);
	}
	return false;
}

/*
 * Reports every item of the selection that names no benchmark in this build
 * (the malloc suite, say, exists only in the hosted build, so one `bench=`
 * line can serve both builds). Returns how many benchmarks are selected.
 */
static int bench_check_selection(const char *selection)
{
	bool unknown = false;
	int selected = 0;

	for (const char *item = selection; item && *item;) {
		const char *end = strchr(item, ',');
		size_t len = end ? (size_t)(end - item) : strlen(item);
		bool found = false;
		for (const bench_case *bc = __start_bench_cases;
		     bc < __stop_bench_cases && !found; bc++)
			found = bench_item_matches(item, len, bc);
		if (!found) {
			kprintf("bench: no benchmark in this build matches '");
			arch_console_write(item, len);
			kprintf("'\n");
			unknown = true;
		}
		item += len + (end ? 1 : 0);
	}
	for (const bench_case *bc = __start_bench_cases; bc < __stop_bench_cases;
	     bc++)
		selected += bench_selected(selection, bc);
	if (unknown || selected == 0) {
		kprintf("bench: benchmarks in this build:");
		for (const bench_case *bc = __start_bench_cases;
		     bc < __stop_bench_cases; bc++)
			kprintf(" %s.%s", bc->suite, bc->name);
		kprintf("\n");
	}
	return selected;
}

/* Picoseconds per operation of one round. */
static uint64_t bench_ps_per_op(const bench *b, uint64_t cycles_per_us)
{
	/* cycles * 10^6 overflows only after ~10^13 cycles (an hour). */
	return b->cycles * PS_PER_US / cycles_per_us / b->ops;
}

static void bench_print_value(uint64_t ps)
{
	kprintf("%llu.%02llu", (unsigned long long)(ps / 1000),
		(unsigned long long)(ps % 1000 / 10));
}

/* One round; false (with a message) if the benchmark did not time itself. */
static bool bench_round(const bench_case *bc, bench *b)
{
	memset(b, 0, sizeof *b);
	b->bc = bc;
	b->ops = bc->ops;
	b->clock = arch_cycles;
	bc->fn(b);
	if (!b->started || !b->stopped) {
		kprintf("bench: %s.%s never called bench_start/bench_stop\n",
			bc->suite, bc->name);
		return false;
	}
	return true;
}

static void bench_run_one(const bench_case *bc, uint64_t cycles_per_us)
{
	static uint64_t ps[BENCH_MAX_REPEATS];
	size_t n = (size_t)bench_repeats;
	bench b;

	if (!bench_round(bc, &b)) /* warm-up: caches, heap growth */
		return;
	for (size_t i = 0; i < n; i++) {
		if (!bench_round(bc, &b))
			return;
		/* insertion into the sorted prefix */
		uint64_t v = bench_ps_per_op(&b, cycles_per_us);
		size_t j = i;
		for (; j > 0 && ps[j - 1] > v; j--)
			ps[j] = ps[j - 1];
		ps[j] = v;
	}
	kprintf("BENCH %s.%s ", bc->suite, bc->name);
	bench_print_value(ps[n / 2]);
	kprintf(" ns/op min=");
	bench_print_value(ps[0]);
	kprintf(" max=");
	bench_print_value(ps[n - 1]);
	kprintf(" n=%zu\n", n);
}

void bench_list(void)
{
	kprintf("%zu benchmarks:\n", (size_t)(__stop_bench_cases - __start_bench_cases));
	for (const bench_case *bc = __start_bench_cases; bc < __stop_bench_cases; bc++)
		kprintf("  %s.%s\n", bc->suite, bc->name);
}

int bench_run(const char *selection)
{
	if (selection && strcmp(selection, "list") == 0) {
		bench_list();
		return 0;
	}
	if (selection && strcmp(selection, "all") == 0)
		selection = NULL;
	if (bench_check_selection(selection) == 0)
		return -1;

	uint64_t cycles_per_us = arch_cycles_per_sec() / 1000000;
	ASSERT(cycles_per_us > 0);
	kprintf("# bench: %lld timed rounds each, cycle counter %llu MHz\n",
		(long long)bench_repeats, (unsigned long long)cycles_per_us);
	int ran = 0;
	for (const bench_case *bc = __start_bench_cases; bc < __stop_bench_cases;
	     bc++) {
		if (!bench_selected(selection, bc))
			continue;
		bench_run_one(bc, cycles_per_us);
		ran++;
	}
	return ran;
}
