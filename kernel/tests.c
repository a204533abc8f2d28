/*
 * kernel/tests.c - selects and runs the test cases that TEST() places in the
 * linker section "test_cases", ordered by suite, file and line (the section
 * order depends on link order and on how the compiler emits statics; GCC
 * reverses them), so runs are comparable across builds. Each test runs under
 * arch_try(), so a CHECK failure, a fault or an abort ends only that test;
 * the runner prints one "ok N suite.name" / "not ok N suite.name: reason"
 * line per test and a final "P passed, F failed" line, the format the host
 * scripts read. Each test starts on zeroed dead stack (tests_scrub_stack).
 */
#include "kernel/kernel.h"
#include "sched/sched.h"

/* Longest failure reason kept; longer ones are cut. */
#define TESTS_REASON_MAX 256

extern const test_case __start_test_cases[], __stop_test_cases[];

const char *tests_selection;
CMDLINE_STRING(tests_selection, "tests",
	       "run self-tests: all, list, or comma-separated SUITE / SUITE.NAME");

static void tests_call(void *arg)
{
	const test_case *tc = arg;

	tc->fn();
}

/* "<what> at ip 0x... (function+0x..)", plus the address for page faults. */
static void tests_describe_fault(char *buf, size_t len, const char *what,
				 const arch_fault *fault)
{
	uintptr_t offset;
	const char *name = arch_symbolize(fault->ip, &offset);
	int n;

	if (name)
		n = ksnprintf(buf, len, "%s at ip 0x%lx (%s+0x%lx)", what,
			      (unsigned long)fault->ip, name,
			      (unsigned long)offset);
	else
		n = ksnprintf(buf, len, "%s at ip 0x%lx", what,
			      (unsigned long)fault->ip);
	if (fault->vector == ARCH_FAULT_PAGE && (size_t)n < len)
		ksnprintf(buf + n, len - (size_t)n, " addr 0x%lx",
			  (unsigned long)fault->addr);
}

/* Judges a finished test: true if it passed, else the reason in state. */
static bool tests_verdict(test_record *state, bool returned,
			  const arch_fault *fault)
{
	const test_case *tc = state->tc;
	char *reason = state->reason;
	size_t len = state->reason_len;

	if (state->failed)
		return false;
	if (returned) {
		if (tc->expect_fault < 0)
			return true;
		ksnprintf(reason, len, "expected %s, but the test returned",
			  arch_fault_name(tc->expect_fault));
		return false;
	}
	if (fault->vector == tc->expect_fault) {
		if (test_expected_addr == 0 || fault->addr == test_expected_addr)
			return true;
		ksnprintf(reason, len, "expected %s at 0x%lx, got addr 0x%lx",
			  arch_fault_name(tc->expect_fault),
			  (unsigned long)test_expected_addr,
			  (unsigned long)fault->addr);
		return false;
	}

	char what[64];
	if (tc->expect_fault >= 0)
		ksnprintf(what, sizeof what, "expected %s, got %s",
			  arch_fault_name(tc->expect_fault),
			  arch_fault_name(fault->vector));
	else
		ksnprintf(what, sizeof what, "unexpected %s",
			  arch_fault_name(fault->vector));
	tests_describe_fault(reason, len, what, fault);
	return false;
}

bool tests_run_one(const test_case *tc, char *reason, size_t len)
{
	test_record state = {
		.tc = tc, .reason = reason, .reason_len = len,
		.abort = arch_try_abort, .outer = test_current,
	};
	uintptr_t outer_expected_addr = test_expected_addr;
	bool irq_was_enabled = arch_irq_enabled();
	arch_fault fault;

	if (len > 0)
		reason[0] = '\0';
	test_current = &state;
	test_expected_addr = 0;
	bool returned = arch_try(tests_call, (void *)tc, &fault);
	bool passed = tests_verdict(&state, returned, &fault);

	/* A test that leaves interrupts switched must not affect the next. */
	if (arch_irq_enabled() != irq_was_enabled) {
		if (irq_was_enabled)
			arch_irq_enable();
		else
			arch_irq_disable();
	}
	test_expected_addr = outer_expected_addr;
	test_current = state.outer;
	return passed;
}

/* Is a before b in run order: by suite, file, line, then address? */
static bool tests_before(const test_case *a, const test_case *b)
{
	int order = strcmp(a->suite, b->suite);

	if (order == 0)
		order = strcmp(a->file, b->file);
	if (order == 0)
		order = a->line - b->line;
	return order != 0 ? order < 0 : a < b;
}

/*
 * The test after prev in run order (the first for NULL), or NULL: a
 * selection sort done on the fly, as the table is read-only and small
 * enough that n^2 comparisons cost nothing next to running the tests.
 */
static const test_case *tests_next(const test_case *prev)
{
	const test_case *next = NULL;

	for (const test_case *tc = __start_test_cases; tc < __stop_test_cases;
	     tc++) {
		if ((!prev || tests_before(prev, tc)) &&
		    (!next || tests_before(tc, next)))
			next = tc;
	}
	return next;
}

/* Does `item` (not NUL-terminated) name tc's suite or tc itself? */
static bool tests_item_matches(const char *item, size_t len,
			       const test_case *tc)
{
	size_t suite_len = strlen(tc->suite);

	if (len < suite_len || strncmp(item, tc->suite, suite_len) != 0)
		return false;
	if (len == suite_len)
		return true;
	return len == suite_len + 1 + strlen(tc->name) &&
	       item[suite_len] == '.' &&
	       strncmp(item + suite_len + 1, tc->name, len - suite_len - 1) == 0;
}

/*
 * Steps through the comma-separated items of a selection: sets item/len to
 * the next one, or returns false at the end. *cursor starts at the
 * selection.
 */
static bool tests_next_item(const char **cursor, const char **item,
			    size_t *len)
{
	if (!*cursor)
		return false;
	const char *comma = strchr(*cursor, ',');
	*item = *cursor;
	*len = comma ? (size_t)(comma - *cursor) : strlen(*cursor);
	*cursor = comma ? comma + 1 : NULL;
	return true;
}

static bool tests_selected(const char *selection, const test_case *tc)
{
	const char *cursor = selection, *item;
	size_t len;

	while (tests_next_item(&cursor, &item, &len)) {
		if (tests_item_matches(item, len, tc))
			return true;
	}
	return false;
}

/* Reports every item that matches no test; true if there is none. */
static bool tests_check_selection(const char *selection)
{
	const char *cursor = selection, *item;
	size_t len;
	bool ok = true;

	while (tests_next_item(&cursor, &item, &len)) {
		const test_case *tc = __start_test_cases;
		while (tc < __stop_test_cases && !tests_item_matches(item, len, tc))
			tc++;
		if (tc == __stop_test_cases) {
			/* A size of len + 1 copies the item without the rest. */
			char name[64];
			ksnprintf(name, MIN(len + 1, sizeof name), "%s", item);
			kprintf("tests: no test matches '%s'\n", name);
			ok = false;
		}
	}
	return ok;
}

void tests_list(void)
{
	size_t count = (size_t)(__stop_test_cases - __start_test_cases);

	kprintf("%zu tests:\n", count);
	for (const test_case *tc = tests_next(NULL); tc; tc = tests_next(tc)) {
		if (tc->expect_fault >= 0)
			kprintf("  %s.%s (expects %s)\n", tc->suite, tc->name,
				arch_fault_name(tc->expect_fault));
		else
			kprintf("  %s.%s\n", tc->suite, tc->name);
	}
}

/*
 * Zeroes the dead stack that the next test's frames, the runner's own
 * included, will occupy. Words a frame never writes (tests_run_one's
 * arch_fault, filled only on a fault; a buffer used only on failure) would
 * otherwise keep what the last test or an interrupt frame left there, and
 * the collector, which scans stacks conservatively, takes a stale heap
 * address there for a reference (seen: an exact "0 of 10,000 still
 * allocated" failed on the unwritten arch_fault). task_scrub_stack clears
 * all of it, and the scratch registers.
 */
static __attribute__((noinline)) void tests_scrub_stack(void)
{
	/* Bounded: the tests run on main's stack, which in the hosted build
	 * is the process's own (megabytes, mostly never touched). */
	task_scrub_stack((64 << 10) + arch_interrupt_stack_reserve());
}

int tests_run(const char *selection)
{
	if (selection && strcmp(selection, "list") == 0) {
		tests_list();
		return 0;
	}
	if (selection && strcmp(selection, "all") == 0)
		selection = NULL;
	if (selection && !tests_check_selection(selection))
		return -1;

	int number = 0, passed = 0, failed = 0;
	for (const test_case *tc = tests_next(NULL); tc; tc = tests_next(tc)) {
		if (selection && !tests_selected(selection, tc))
			continue;

		char reason[TESTS_REASON_MAX];
		number++;
		tests_scrub_stack();
		if (tests_run_one(tc, reason, sizeof reason)) {
			kprintf("ok %d %s.%s\n", number, tc->suite, tc->name);
			passed++;
		} else {
			kprintf("not ok %d %s.%s: %s\n", number, tc->suite,
				tc->name, reason);
			failed++;
		}
	}
	kprintf("%d passed, %d failed\n", passed, failed);
	return failed;
}
