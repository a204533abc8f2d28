/*
 * kernel/kernel.h - the base library every layer may use: formatted output,
 * panic and assertions, string functions, and the kernel command-line
 * registry. It depends on arch/arch.h only, so mm/ and gc/ can print and
 * assert without reaching up into the rest of kernel/.
 */
#pragma once

#include "arch/arch.h"

/* ---- exit statuses (arch_exit) ---------------------------------------- */
enum {
	EXIT_PASS = 0,    /* tests passed / clean shutdown */
	EXIT_FAIL = 1,    /* at least one test failed */
	EXIT_CMDLINE = 2, /* bad kernel command line */
	EXIT_PANIC = 3,   /* kernel panic */
};

/* The portable half of start-up, called by each arch once the machine is
 * up (interrupts on): runs what the command line asks for, then exits. */
_Noreturn void kernel_main(void);

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
 * arch_exit(EXIT_PANIC). Never allocates. A panic during a panic prints one
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
 * Returns false after printing every error. Rules: kernel/cmdline.c. */
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
