/*
 * tests/test.h - the in-kernel test framework. Tests register themselves in
 * a linker section as {suite, name, fn}; the runner (tests/runner.c) selects
 * them with `tests=all`, `tests=SUITE` or `tests=SUITE.NAME` (comma separated
 * lists too), runs each under arch_try(), and prints one line per test and a
 * final "N passed, N failed" line.
 */
#pragma once

#include "kernel/kernel.h"

typedef struct test_case {
	const char *suite;
	const char *name;
	void (*fn)(void);
	int expect_fault; /* ARCH_FAULT_* the test must end with, or -1 */
	const char *file;
	int line;
} test_case;

#define TEST_REGISTER_(suite_, name_, fault_)                                  \
	static void test_##suite_##_##name_(void);                             \
	static const test_case test_case_##suite_##_##name_                    \
		__attribute__((used, section("test_cases"), aligned(8))) = {   \
			.suite = #suite_, .name = #name_,                      \
			.fn = test_##suite_##_##name_, .expect_fault = fault_, \
			.file = __FILE__, .line = __LINE__,                    \
		};                                                             \
	static void test_##suite_##_##name_(void)

/* TEST(vmm, protect) { ... } registers "vmm.protect". */
#define TEST(suite_, name_) TEST_REGISTER_(suite_, name_, -1)
/* The test passes only if it ends with CPU exception `vector` (ARCH_FAULT_*),
 * which the runner then checks against test_expected_addr if that was set. */
#define TEST_EXPECT_FAULT(suite_, name_, vector) \
	TEST_REGISTER_(suite_, name_, vector)

/* For expect-fault tests: the faulting data address (CR2) the fault must
 * report; 0 = do not check. Reset before every test. */
extern uintptr_t test_expected_addr;

/* Records a failure for the running test (the first one is reported) and
 * ends it with arch_try_abort(). Inside a nested arch_try only that try
 * ends; the test still counts as failed. */
_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prints an informational line under the running test ("# ..."). */
void test_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond))                                               \
			test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
	} while (0)

#define CHECK_MSG(cond, ...)                                      \
	do {                                                      \
		if (!(cond))                                      \
			test_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* Integer comparisons: both values printed in decimal and hex. */
#define CHECK_CMP_(a, op, b)                                                      \
	do {                                                                      \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);   \
		if (!(check_a_ op check_b_))                                      \
			test_fail(__FILE__, __LINE__,                             \
				  "CHECK(%s %s %s): %lld (0x%llx) vs %lld (0x%llx)", \
				  #a, #op, #b, check_a_,                          \
				  (unsigned long long)check_a_, check_b_,         \
				  (unsigned long long)check_b_);                  \
	} while (0)
#define CHECK_EQ(a, b) CHECK_CMP_(a, ==, b)
#define CHECK_NE(a, b) CHECK_CMP_(a, !=, b)
#define CHECK_LT(a, b) CHECK_CMP_(a, <, b)
#define CHECK_LE(a, b) CHECK_CMP_(a, <=, b)
#define CHECK_GT(a, b) CHECK_CMP_(a, >, b)
#define CHECK_GE(a, b) CHECK_CMP_(a, >=, b)

#define CHECK_STREQ(a, b)                                                    \
	do {                                                                 \
		const char *check_a_ = (a), *check_b_ = (b);                 \
		if (strcmp(check_a_, check_b_) != 0)                         \
			test_fail(__FILE__, __LINE__,                        \
				  "CHECK_STREQ(%s, %s): \"%s\" vs \"%s\"", #a, \
				  #b, check_a_, check_b_);                   \
	} while (0)

/* The `tests=` command-line option (registered in tests/runner.c, shared by
 * both builds); NULL when not given. */
extern const char *tests_selection;

/* Runs the tests selected by `selection` (NULL or "all" = every test,
 * "list" = tests_list() and nothing else). Returns the number of failures;
 * -1 if an item of the selection matches no test (then nothing runs). */
int tests_run(const char *selection);
/* Lists suites and test names. */
void tests_list(void);
/* Runs one test case exactly as tests_run() does, without printing its
 * verdict: true if it passed, else false with the reason in `reason`. The
 * framework's own tests use it to check failure reports. */
bool tests_run_one(const test_case *tc, char *reason, size_t len);
