/*
 * tests/fault_test.c - CPU exceptions and arch_try() as every arch must
 * provide them, and the runner's reports of faults and failures. The
 * faulting helpers are noinline and read their inputs through volatiles so
 * the compiler can neither prove the fault nor delete it.
 */
#include "arch/arch.h"
#include "kernel/kernel.h"
#include "lib/lib.h"

/* In the never-mapped first page, but not 0: UBSan reports a store
 * through an actual NULL pointer itself instead of letting it fault. */
#define FAULT_NULL_PAGE_ADDR 0x18
#define FAULT_OTHER_ADDR 0x28

static volatile uintptr_t fault_null_page_addr = FAULT_NULL_PAGE_ADDR;
static volatile uintptr_t fault_other_addr = FAULT_OTHER_ADDR;
static volatile int fault_zero = 0;
static volatile int fault_one = 1;

__attribute__((noinline)) static void fault_write(uintptr_t addr)
{
	*(volatile int *)addr = 1;
}

/*
 * no_sanitize: UBSan would report the division itself, without a #DE. Both
 * operands are volatile: with a known dividend of 1, GCC computes 1 / x
 * with compares and never divides.
 */
__attribute__((noinline, no_sanitize("undefined"))) static int
fault_divide(void)
{
	return fault_one / fault_zero;
}

static void fault_write_null_page(void *arg)
{
	(void)arg;
	fault_write(fault_null_page_addr);
}

static void fault_abort(void *arg)
{
	(void)arg;
	arch_try_abort();
}

static void fault_return(void *arg)
{
	*(int *)arg += 1;
}

TEST_EXPECT_FAULT(fault, null_page_write, ARCH_FAULT_PAGE)
{
	test_expected_addr = FAULT_NULL_PAGE_ADDR;
	fault_write(fault_null_page_addr);
}

TEST_EXPECT_FAULT(fault, divide_by_zero, ARCH_FAULT_DIVIDE)
{
	test_log("%d", fault_divide()); /* not reached */
}

TEST_EXPECT_FAULT(fault, invalid_opcode, ARCH_FAULT_INVALID_OPCODE)
{
	/* ud2 on x86-64 with GCC, in both builds. */
	__builtin_trap();
}

TEST(fault, try_returns_normally)
{
	arch_fault fault;
	int calls = 0;

	CHECK(arch_try(fault_return, &calls, &fault));
	CHECK_EQ(calls, 1);
}

TEST(fault, try_reports_the_fault)
{
	arch_fault fault = { 0 };

	CHECK(!arch_try(fault_write_null_page, NULL, &fault));
	CHECK_EQ(fault.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(fault.addr, FAULT_NULL_PAGE_ADDR);
	CHECK_NE(fault.ip, 0);
	CHECK_STREQ(arch_fault_name(fault.vector), "page fault");
	/* The fault ip is inside the helper that wrote. */
	uintptr_t offset;
	const char *name = arch_symbolize(fault.ip, &offset);
	CHECK(name != NULL);
	CHECK_STREQ(name, "fault_write");
}

TEST(fault, abort_leaves_the_try)
{
	arch_fault fault = { 0 };

	CHECK(!arch_try(fault_abort, NULL, &fault));
	CHECK_EQ(fault.vector, ARCH_FAULT_ABORT);
}

/* The inner try catches the fault; the outer one must not notice. */
static void fault_nested_inner(void *arg)
{
	arch_fault *inner = arg;

	CHECK(!arch_try(fault_write_null_page, NULL, inner));
}

/* After its inner try, faults again: that one belongs to the outer try. */
static void fault_nested_then_fault(void *arg)
{
	fault_nested_inner(arg);
	fault_write(fault_other_addr);
}

TEST(fault, tries_nest)
{
	arch_fault inner = { 0 }, outer = { 0 };

	CHECK(arch_try(fault_nested_inner, &inner, &outer));
	CHECK_EQ(inner.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(inner.addr, FAULT_NULL_PAGE_ADDR);

	inner = (arch_fault){ 0 };
	CHECK(!arch_try(fault_nested_then_fault, &inner, &outer));
	CHECK_EQ(inner.addr, FAULT_NULL_PAGE_ADDR);
	CHECK_EQ(outer.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(outer.addr, FAULT_OTHER_ADDR);

	/* Both tries are gone: a new one works from scratch. */
	CHECK(!arch_try(fault_abort, NULL, &outer));
	CHECK_EQ(outer.vector, ARCH_FAULT_ABORT);
}

TEST(fault, try_restores_interrupts)
{
	arch_irqflags_t flags = arch_irq_save();
	arch_fault fault;

	arch_irq_enable();
	CHECK(!arch_try(fault_write_null_page, NULL, &fault));
	bool enabled_after = arch_irq_enabled();
	arch_irq_restore(flags);
	CHECK(enabled_after);
}

/*
 * Runner reports: each case below runs through tests_run_one(), outside
 * the test section, and the test checks the verdict and its reason.
 */

static int fault_check_line;

static void fault_failing_check(void *arg)
{
	(void)arg;
	fault_check_line = __LINE__ + 1;
	CHECK(fault_zero == 1);
}

static void fault_case_check_in_nested_try(void)
{
	arch_fault fault;

	/* The CHECK ends only the inner try; the test then returns. */
	arch_try(fault_failing_check, NULL, &fault);
}

static void fault_case_returns(void)
{
}

static void fault_case_wrong_addr(void)
{
	test_expected_addr = FAULT_NULL_PAGE_ADDR;
	fault_write(fault_other_addr);
}

static void fault_case_unexpected(void)
{
	fault_write(fault_null_page_addr);
}

static const test_case fault_cases[] = {
	{ "case", "check_in_nested_try", fault_case_check_in_nested_try, -1,
	  __FILE__, __LINE__ },
	{ "case", "returns", fault_case_returns, ARCH_FAULT_INVALID_OPCODE,
	  __FILE__, __LINE__ },
	{ "case", "wrong_addr", fault_case_wrong_addr, ARCH_FAULT_PAGE,
	  __FILE__, __LINE__ },
	{ "case", "unexpected", fault_case_unexpected, -1, __FILE__, __LINE__ },
};

/* Runs fault_cases[i]; it must fail. Returns the reason. */
static const char *fault_run_failing_case(size_t i)
{
	static char reason[256];

	CHECK_MSG(!tests_run_one(&fault_cases[i], reason, sizeof reason),
		  "case %s passed", fault_cases[i].name);
	return reason;
}

TEST(fault, check_in_nested_try_fails_the_test)
{
	const char *reason = fault_run_failing_case(0);
	char expected[256];

	ksnprintf(expected, sizeof expected, "%s:%d: CHECK(fault_zero == 1)",
		  __FILE__, fault_check_line);
	CHECK_STREQ(reason, expected);
}

TEST(fault, report_missing_fault)
{
	CHECK_STREQ(fault_run_failing_case(1),
		    "expected invalid opcode, but the test returned");
}

TEST(fault, report_wrong_address)
{
	CHECK_STREQ(fault_run_failing_case(2),
		    "expected page fault at 0x18, got addr 0x28");
	/* The case's expected address did not leak into this test. */
	CHECK_EQ(test_expected_addr, 0);
}

TEST(fault, report_unexpected_fault)
{
	const char *reason = fault_run_failing_case(3);
	static const char prefix[] = "unexpected page fault at ip 0x";
	static const char suffix[] = " addr 0x18";
	size_t len = strlen(reason);

	CHECK_MSG(strncmp(reason, prefix, sizeof prefix - 1) == 0 &&
			  len > sizeof suffix &&
			  strcmp(reason + len - (sizeof suffix - 1), suffix) == 0,
		  "reason: %s", reason);
	CHECK_MSG(strchr(reason, '(') != NULL, "ip not symbolized: %s", reason);
}
