/*
 * lib/lib.h - the base library, the bottom layer that every other room
 * uses: formatted output, panic and assertions, string functions and the
 * kernel command-line registry. It includes nothing of the project and
 * calls nothing above it: the few things it needs from the machine (where
 * output goes, how to walk and name a stack, how to stop) each arch hands
 * it at start-up through lib_set_machine(), below.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- exit statuses (lib_machine.exit) ---------------------------------- */
enum {
	EXIT_PASS = 0,    /* tests passed / clean shutdown */
	EXIT_FAIL = 1,    /* at least one test failed */
	EXIT_CMDLINE = 2, /* bad kernel command line */
	EXIT_PANIC = 3,   /* kernel panic */
};

/* ---- the machine under the library ------------------------------------ */
/*
 * What lib/ needs from the machine it runs on. Each arch fills one in and
 * registers it as its first act at start-up (x86_64: kmain; hosted: a
 * constructor, before main); until then output is dropped and a panic
 * spins. A registered hook rather than calls into arch/, so lib/ stays the
 * bottom layer that arch/ itself builds on.
 */
typedef struct lib_machine {
	/* Writes raw bytes to every console present. */
	void (*console_write)(const char *buf, size_t len);
	/* Return addresses of the current call chain, innermost first. */
	size_t (*backtrace)(uintptr_t *pcs, size_t max);
	/* The function containing pc and the offset into it; NULL if unknown. */
	const char *(*symbolize)(uintptr_t pc, uintptr_t *offset);
	/* Interrupts off on this CPU, for good (the start of a panic). */
	void (*irq_disable)(void);
	/* Ends the machine with an EXIT_* status; never returns. */
	void (*exit)(int status);
	/* Stops this CPU for good (a panic while panicking); never returns. */
	void (*halt)(void);
} lib_machine;
void lib_set_machine(const lib_machine *m);
/* Writes raw bytes through the registered console (dropped before one). */
void lib_console_write(const char *buf, size_t len);

/* ---- formatted output ------------------------------------------------- */
/* Formats: %d %i %u %x %X %p %s %c %%, length modifiers l ll z, a field
 * width, '0' padding and '-' left alignment. Never allocates. */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
/* Like snprintf: always NUL-terminates when n > 0; returns the length the
 * full output would have had. */
int ksnprintf(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* ---- panic and assertions --------------------------------------------- */
/* Prints the message and a symbolized backtrace, then ends the machine with
 * EXIT_PANIC (lib_machine.exit). Never allocates. A panic during a panic prints one
 * line and halts. */
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a symbolized backtrace of the caller. */
void print_backtrace(void);
void print_backtrace_from(const uintptr_t *pcs, size_t n);

#define ASSERT(cond)                                                           \
	do {                                                                   \
		if (__builtin_expect(!(cond), 0))                              \
			panic("assertion failed: %s (%s:%d)", #cond, __FILE__, \
			      __LINE__);                                       \
	} while (0)

#ifdef TRICOLOR_DEBUG
#define DASSERT(cond) ASSERT(cond)
#else
#define DASSERT(cond) ((void)0)
#endif

/* Time and size units, for printing and for options given in ms. */
#define NS_PER_US 1000ULL
#define NS_PER_MS (1000ULL * NS_PER_US)
#define NS_PER_SEC (1000ULL * NS_PER_MS)
#define BYTES_PER_KIB ((size_t)1024)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- strings (freestanding; the compiler may also call mem*) ---------- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);

/* ---- kernel command line ---------------------------------------------- */
/*
 * Each subsystem registers its options where it lives:
 *   static int64_t tick_hz = 1000;
 *   CMDLINE_INT(tick_hz, "hz", 10, 10000, "timer interrupts per second");
 * The registry is a linker section; cmdline_parse() walks it. An unknown key
 * or a malformed value is reported with the bad token and the list of valid
 * keys, and cmdline_parse() returns false.
 */
typedef struct cmdline_option {
	const char *key;
	const char *help;
	/* Parses `value` into the option; on error writes a reason to err. */
	bool (*parse)(const struct cmdline_option *opt, const char *value,
		      char *err, size_t errlen);
	void *target;
	int64_t min, max; /* integer options: accepted range */
} cmdline_option;

bool cmdline_parse_int(const cmdline_option *opt, const char *value, char *err,
		       size_t errlen);
bool cmdline_parse_bool(const cmdline_option *opt, const char *value,
			char *err, size_t errlen);
bool cmdline_parse_string(const cmdline_option *opt, const char *value,
			  char *err, size_t errlen);

#define CMDLINE_OPTION_(var, keystr, parser, lo, hi, helpstr)            \
	static const cmdline_option cmdline_opt_##var                          \
		__attribute__((used, section("cmdline_opts"), aligned(8))) = { \
			.key = keystr, .help = helpstr, .parse = parser,       \
			.target = &var, .min = lo, .max = hi,                  \
		}

/* The parser writes through a void *: a variable of the wrong type would
 * be overrun silently, so the type is checked at compile time. */
#define CMDLINE_CHECK_TYPE_(var, type)                                     \
	_Static_assert(__builtin_types_compatible_p(__typeof__(var), type), \
		       "command-line option " #var " must be " #type)

/* int64_t var in [lo, hi] */
#define CMDLINE_INT(var, key, lo, hi, help) \
	CMDLINE_CHECK_TYPE_(var, int64_t);  \
	CMDLINE_OPTION_(var, key, cmdline_parse_int, lo, hi, help)
/* bool var: 0/1/on/off/true/false/yes/no */
#define CMDLINE_BOOL(var, key, help)     \
	CMDLINE_CHECK_TYPE_(var, bool); \
	CMDLINE_OPTION_(var, key, cmdline_parse_bool, 0, 1, help)
/* const char *var, points into the parsed copy of the command line */
#define CMDLINE_STRING(var, key, help)           \
	CMDLINE_CHECK_TYPE_(var, const char *); \
	CMDLINE_OPTION_(var, key, cmdline_parse_string, 0, 0, help)

/* Parses a whole command line ("key=value key=value ..."; NULL = empty) from
 * a private copy of at most 4095 bytes. Tokens are separated by spaces.
 * Returns false after printing every error. Rules: lib/cmdline.c. */
bool cmdline_parse(const char *cmdline);
/* Like cmdline_parse(), but splits and keeps `line` itself: string options
 * point into it afterwards. For lines that are not the boot command line
 * (tests), so the boot line's copy stays intact. */
bool cmdline_parse_in_place(char *line);
/* Parses one "key=value" token; false with a reason in err. A string option
 * keeps pointing into `token`. */
bool cmdline_parse_token(const char *token, char *err, size_t errlen);
/* Prints the valid keys with their help text and current values. */
void cmdline_print_help(void);

/* ---- the test registry ------------------------------------------------- */
/*
 * In-kernel tests register themselves in the linker section "test_cases"
 * as {suite, name, fn}; the runner (kernel/tests.c) selects them with
 * `tests=all`, `tests=SUITE` or `tests=SUITE.NAME` (comma-separated lists
 * too), runs each under arch_try(), and prints one line per test and a
 * final "N passed, N failed" line. The registry is here, at the bottom, so
 * every room can hold tests; the runner is a run mode at the top.
 */
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

/* The runner's record of the test running now (kernel/tests.c pushes one
 * per test; tests_run_one nests them). test_fail writes into it. */
typedef struct test_record {
	const test_case *tc;
	bool failed;       /* test_fail() was called; reason holds its message */
	char *reason;      /* the runner's buffer */
	size_t reason_len;
	/* Ends the test, never returning (the runner runs it under arch_try:
	 * arch_try_abort). */
	void (*abort)(void);
	struct test_record *outer; /* the test that ran tests_run_one() */
} test_record;
extern test_record *test_current;

/* Records a failure for the running test (the first one is reported) and
 * ends it (test_record.abort: arch_try_abort()). Inside a nested arch_try
 * only that try ends; the test still counts as failed. Outside a test: a
 * panic. */
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

/* ---- the benchmark registry -------------------------------------------- */
/*
 * Benchmarks register themselves in
 * the linker section "bench_cases" as {suite, name, fn, ops}; bench_run()
 * (kernel/bench.c) selects them with `bench=all`, `bench=SUITE` or `bench=SUITE.NAME` (comma
 * separated lists too), runs each one warm-up round plus `bench_repeats=`
 * timed rounds, and prints one machine-readable line per benchmark:
 *
 *   BENCH <suite.name> <median> <unit> min=<min> max=<max> n=<repeats>
 *
 * Values are nanoseconds per operation with two decimals, measured with the
 * cycle counter (arch_cycles) and converted with arch_cycles_per_sec(),
 * integer arithmetic only.
 */
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
	uint64_t (*clock)(void); /* the runner's cycle counter (arch_cycles) */
	uint64_t start_cycles; /* clock() at bench_start */
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
	b->start_cycles = b->clock();
}

static inline void bench_stop(bench *b)
{
	b->cycles = b->clock() - b->start_cycles;
	b->stopped = true;
}
