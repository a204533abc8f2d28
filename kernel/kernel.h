/*
 * kernel/kernel.h - the top of the house: the boot sequence's portable half
 * (kernel_main, kernel/main.c; declared in arch/arch.h because each arch
 * calls it), the run modes it chooses between (the self-test and benchmark
 * runners over lib/'s registries, the demos, experiments) and the serial
 * shell (kernel/shell.c). Every room below is started from here; nothing
 * below includes this header (tests/, above it, does).
 */
#pragma once

#include "lib/lib.h"

/* ---- run modes: the self-tests (kernel/tests.c) ------------------------ */
/* The `tests=` command-line option (kernel/tests.c); NULL when not given. */
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

/* ---- run modes: the benchmarks (kernel/bench.c) ------------------------ */
/* The `bench=` option (NULL when not given). */
extern const char *bench_selection;

/* Runs the benchmarks `selection` names (NULL or "all" = every one;
 * "list" prints their names and runs none). Items that match nothing in
 * this build are reported and skipped. Returns how many ran; -1 if none
 * matched (after printing the valid names). */
int bench_run(const char *selection);
/* Prints every benchmark of this build, SUITE.NAME, one a line. */
void bench_list(void);

/* ---- serial shell (kernel/shell.c) ------------------------------------ */
/* True when `shell=1` is on the command line (`make run` passes it when
 * its stdin is a terminal). */
bool shell_requested(void);
/* The interactive shell on the console; returns the exit status once the
 * user types `halt`. */
int shell_run(void);

#define SHELL_LINE_MAX 120 /* characters in one command line */
/* The line editor, fed one input byte at a time. */
typedef struct shell_line {
	char buf[SHELL_LINE_MAX + 1];
	size_t len;
	bool too_long;  /* a character did not fit: the line will be rejected */
	bool after_cr;  /* last byte was CR: an LF right after it ends nothing */
	bool complete;  /* buf holds the line just returned; cleared on the next byte */
	uint8_t escape; /* 0; 1 after ESC; 2 inside ESC [ ...; 3 after ESC O */
} shell_line;
typedef enum shell_feed {
	SHELL_FEED_MORE,     /* keep feeding */
	SHELL_FEED_LINE,     /* buf holds a complete line (NUL-terminated) */
	SHELL_FEED_TOO_LONG, /* a line ended that did not fit: rejected */
	SHELL_FEED_CANCEL,   /* Ctrl-C: the line was dropped */
} shell_feed;
void shell_line_init(shell_line *l);
/* Handles byte c: printable characters are added (and echoed), backspace
 * (0x08) and DEL (0x7f) erase one ("\b \b"), CR or LF ends the line (CR LF
 * counts once), Ctrl-C cancels, escape sequences (arrow keys) and other
 * control bytes are ignored. After LINE / TOO_LONG / CANCEL the editor is
 * ready for the next line. echo (may be NULL) gets what a terminal should
 * show. */
shell_feed shell_line_feed(shell_line *l, int c, void (*echo)(const char *s, size_t n));

typedef enum shell_status {
	SHELL_OK,      /* the command ran */
	SHELL_UNKNOWN, /* no such command */
	SHELL_USAGE,   /* bad or missing arguments (usage printed) */
	SHELL_FAILED,  /* it ran and failed (e.g. a test failed) */
	SHELL_HALT,    /* `halt`: the caller should leave */
} shell_status;
/* Runs one command line (split in place); prints errors. */
shell_status shell_exec(char *line);
