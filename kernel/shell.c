/*
 * kernel/shell.c - the serial shell: a prompt on the console, a line editor
 * (backspace, CR/LF, Ctrl-C; over-long lines rejected, never overflowed) and
 * a table of commands over the diagnostics (tasks, profiles, memstats, the
 * collector, tests, benchmarks, demos). kernel_main runs it after boot when
 * `shell=1` is given and no test, benchmark or demo was asked for.
 *
 * Input is polled (arch_console_getc wakes nobody; on bare metal it reads
 * the UART and the ring the keyboard's interrupt fills): every byte waiting
 * is handled, then the shell task sleeps one tick, so an idle shell costs
 * one wakeup per tick and the other tasks (the collector's included) run.
 */
#include "chan/chan.h"
#include "demo/demo.h"
#include "diag/diag.h"
#include "gc/gc.h"
#include "kernel/kernel.h"
#include "sched/sched.h"

static bool shell_opt;
CMDLINE_BOOL(shell_opt, "shell",
	     "after boot, run the interactive shell on the console (make run: if stdin is a tty)");

#define SHELL_PROMPT "tricolor> "
#define SHELL_REBOOT_LINE "reboot: resetting the machine"
#define SHELL_MAX_ARGS 4 /* words on a line, the command included */

bool shell_requested(void)
{
	return shell_opt;
}

/* ---- the line editor ------------------------------------------------------ */
#define CTRL_C 0x03
#define BACKSPACE 0x08
#define ESC 0x1b
#define DEL 0x7f

void shell_line_init(shell_line *l)
{
	memset(l, 0, sizeof *l);
}

static void echo_str(void (*echo)(const char *, size_t), const char *s)
{
	if (echo)
		echo(s, strlen(s));
}

/* Ends the current line; the result says how. A completed line stays in
 * buf until the next byte arrives. */
static shell_feed line_end(shell_line *l, shell_feed result)
{
	if (result != SHELL_FEED_LINE)
		l->len = 0;
	l->buf[l->len] = '\0';
	l->complete = true;
	l->too_long = false;
	l->escape = 0;
	return result;
}

shell_feed shell_line_feed(shell_line *l, int c, void (*echo)(const char *s, size_t n))
{
	c &= 0xff;
	bool after_cr = l->after_cr;
	l->after_cr = false;
	if (c == '\n' && after_cr)
		return SHELL_FEED_MORE; /* the LF of a CR LF */
	if (l->complete) {
		l->complete = false;
		l->len = 0;
		l->buf[0] = '\0';
	}

	if (l->escape == 1) { /* after ESC: '[' starts CSI, 'O' one more byte */
		l->escape = c == '[' ? 2 : c == 'O' ? 3 : 0;
		return SHELL_FEED_MORE;
	}
	if (l->escape == 3) {
		l->escape = 0;
		return SHELL_FEED_MORE;
	}
	if (l->escape == 2) { /* CSI: parameters until a final byte */
		if (c >= 0x40 && c <= 0x7e)
			l->escape = 0;
		return SHELL_FEED_MORE;
	}

	switch (c) {
	case '\n':
	case '\r':
		l->after_cr = c == '\r';
		echo_str(echo, "\n");
		return line_end(l, l->too_long ? SHELL_FEED_TOO_LONG : SHELL_FEED_LINE);
	case BACKSPACE:
	case DEL:
		if (l->len > 0 && !l->too_long) {
			l->len--;
			echo_str(echo, "\b \b");
		}
		return SHELL_FEED_MORE;
	case CTRL_C:
		echo_str(echo, "^C\n");
		return line_end(l, SHELL_FEED_CANCEL);
	case ESC:
		l->escape = 1;
		return SHELL_FEED_MORE;
	case '\t':
		c = ' ';
		break;
	default:
		if (c < 0x20 || c > 0x7e)
			return SHELL_FEED_MORE; /* other control bytes, non-ASCII */
	}
	if (l->len >= SHELL_LINE_MAX) {
		if (!l->too_long)
			echo_str(echo, "\a"); /* the first byte that did not fit */
		l->too_long = true;
		return SHELL_FEED_MORE;
	}
	l->buf[l->len++] = (char)c;
	if (echo) {
		char ch = (char)c;
		echo(&ch, 1);
	}
	return SHELL_FEED_MORE;
}

/* ---- argument parsing -------------------------------------------------------- */
static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "0x1f", "1f": hex, with or without 0x; false on anything else or overflow. */
static bool parse_hex(const char *s, uint64_t *out)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		int d = hex_digit(*s);
		if (d < 0 || v > (UINT64_MAX >> 4))
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

/* Decimal, or hex with 0x; false on anything else or overflow. */
static bool parse_uint(const char *s, uint64_t *out)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_hex(s, out);
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* ---- commands ------------------------------------------------------------------ */
typedef struct shell_command {
	const char *name;
	const char *args; /* usage after the name */
	const char *help;
	int min_args, max_args; /* after the name */
	shell_status (*run)(int argc, char **argv);
} shell_command;

static const shell_command shell_commands[];
static const size_t shell_ncommands;

static shell_status usage(const shell_command *cmd, const char *why)
{
	kprintf("%s: %s\nusage: %s%s%s\n", cmd->name, why, cmd->name, cmd->args[0] ? " " : "",
		cmd->args);
	return SHELL_USAGE;
}

static const shell_command *find_command(const char *name)
{
	for (size_t i = 0; i < shell_ncommands; i++)
		if (strcmp(shell_commands[i].name, name) == 0)
			return &shell_commands[i];
	return NULL;
}

static shell_status cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kprintf("commands:\n");
	for (size_t i = 0; i < shell_ncommands; i++) {
		const shell_command *c = &shell_commands[i];
		char head[48];
		ksnprintf(head, sizeof head, "%s%s%s", c->name, c->args[0] ? " " : "", c->args);
		kprintf("  %-32s %s\n", head, c->help);
	}
	kprintf("line editing: backspace, Ctrl-C drops the line; at most %d characters\n",
		SHELL_LINE_MAX);
	kprintf("the heap starts empty: `why`, `heapprof` and `leaks` have something to show "
		"after a demo\n(`demo list`)\n");
	return SHELL_OK;
}

static shell_status cmd_tasks(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tasks_dump();
	return SHELL_OK;
}

static shell_status cmd_profile(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	task_profile_print();
	task_trend_print();
	return SHELL_OK;
}

/* Where a fresh shell, whose heap is empty, finds something to look at. */
#define SHELL_DEMO_HINT "run a demo first (`demo list`)"

static shell_status cmd_leaks(int argc, char **argv)
{
	size_t n;
	if (argc == 2 && strcmp(argv[1], "reclaim") == 0) {
		n = leaks_reclaim(true);
	} else {
		if (argc != 1)
			return usage(find_command("leaks"), "the only argument is 'reclaim'");
		n = leaks_find(NULL, 0, true);
	}
	if (n == 0)
		kprintf("leaks: `demo taskleak` plants some for the detector to find\n");
	return SHELL_OK;
}

static shell_status cmd_mem(int argc, char **argv)
{
	if (argc == 2) {
		if (strcmp(argv[1], "heap") != 0)
			return usage(find_command("mem"), "unknown view");
		heap_stats();
		return SHELL_OK;
	}
	memstats_print();
	return SHELL_OK;
}

static shell_status cmd_gc(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	memstats before, after;
	memstats_read(&before);
	uint64_t t0 = arch_nanotime();
	gc_collect();
	uint64_t took = arch_nanotime() - t0;
	memstats_read(&after);
	kprintf("gc: %llu cycle(s) run, now %llu total; heap in use %llu KiB -> %llu KiB, "
		"live %llu KiB, next goal %llu KiB\n",
		(unsigned long long)(after.gc_cycles - before.gc_cycles),
		(unsigned long long)after.gc_cycles, (unsigned long long)(before.heap_in_use >> 10),
		(unsigned long long)(after.heap_in_use >> 10),
		(unsigned long long)(after.heap_live >> 10),
		(unsigned long long)(after.heap_goal >> 10));
	kprintf("gc: %llu objects freed, took %llu.%03llu ms, last pause %llu us, "
		"GC CPU %u.%u%%\n",
		(unsigned long long)(after.gc_freed_objects - before.gc_freed_objects),
		(unsigned long long)(took / 1000000), (unsigned long long)(took / 1000 % 1000),
		(unsigned long long)(after.gc_npauses ? after.gc_pauses_ns[0] / 1000 : 0),
		after.gc_cpu_permille / 10, after.gc_cpu_permille % 10);
	return SHELL_OK;
}

static shell_status cmd_gctrace(int argc, char **argv)
{
	(void)argc;
	const shell_command *self = find_command("gctrace");
	bool on = strcmp(argv[1], "on") == 0;
	if (!on && strcmp(argv[1], "off") != 0)
		return usage(self, "expected on or off");
	char err[96];
	if (!cmdline_parse_token(on ? "gctrace=1" : "gctrace=0", err, sizeof err)) {
		kprintf("gctrace: %s\n", err);
		return SHELL_FAILED;
	}
	kprintf("gctrace %s\n", on ? "on: one line per collection" : "off");
	return SHELL_OK;
}

static shell_status cmd_why(int argc, char **argv)
{
	uint64_t addr;
	if (strcmp(argv[1], "task") == 0) {
		uint64_t id;
		if (argc != 3 || !parse_uint(argv[2], &id))
			return usage(find_command("why"), "expected `why task ID` (ID from `tasks`)");
		return why_task(id) >= 0 ? SHELL_OK : SHELL_FAILED;
	}
	if (argc != 2)
		return usage(find_command("why"), "expected one hex address, or `task ID`");
	if (!parse_hex(argv[1], &addr))
		return usage(find_command("why"), "ADDR must be a hex address");
	gc_object obj;
	if (!gc_find_object((const void *)addr, &obj)) {
		memstats ms;
		memstats_read(&ms);
		kprintf("why: 0x%llx is not in an allocated heap object\n", (unsigned long long)addr);
		if (ms.heap_in_use == 0)
			kprintf("why: the heap is empty: " SHELL_DEMO_HINT "; demos print "
				"addresses to ask about\n");
		else
			kprintf("why: demos print addresses to ask about, e.g. `demo globals`\n");
		return SHELL_FAILED;
	}
	return why_alive((const void *)addr) >= 0 ? SHELL_OK : SHELL_FAILED;
}

static shell_status cmd_heapprof(int argc, char **argv)
{
	const shell_command *self = find_command("heapprof");
	uint64_t n = 0;
	if (argc == 1) {
		heapprof_site any;
		if (heapprof_read(&any, 1) == 0) {
			kprintf("heapprof: no samples yet (rate: one allocation per %lld bytes on "
				"average);\n" SHELL_DEMO_HINT ", or `heapprof rate 1` to sample every "
				"allocation\n", (long long)heapprof_get_rate());
			return SHELL_OK;
		}
		heapprof_print(0);
		return SHELL_OK;
	}
	if (strcmp(argv[1], "reset") == 0) {
		if (argc != 2)
			return usage(self, "reset takes no value");
		heapprof_reset();
		kprintf("heapprof: samples cleared\n");
		return SHELL_OK;
	}
	if (strcmp(argv[1], "rate") == 0) {
		if (argc != 3 || !parse_uint(argv[2], &n) || n > (1ULL << 30))
			return usage(self, "rate needs BYTES in 0..1073741824");
		int64_t old = heapprof_set_rate((int64_t)n);
		kprintf("heapprof: rate %lld -> %llu bytes\n", (long long)old, (unsigned long long)n);
		return SHELL_OK;
	}
	if (argc != 2 || !parse_uint(argv[1], &n) || n == 0 || n > HEAPPROF_PRINT_MAX)
		return usage(self, "TOP must be 1..32");
	heapprof_print((size_t)n);
	return SHELL_OK;
}

static shell_status cmd_demo(int argc, char **argv)
{
	(void)argc;
	int r = demo_run(argv[1]);
	if (r == -1)
		return usage(find_command("demo"), "no such demo");
	if (r != 0) {
		kprintf("demo %s: failed (%d)\n", argv[1], r);
		return SHELL_FAILED;
	}
	return SHELL_OK;
}

static shell_status cmd_test(int argc, char **argv)
{
	int failed = tests_run(argc > 1 ? argv[1] : "all");
	if (failed < 0)
		return usage(find_command("test"), "no such test or suite (try: test list)");
	return failed ? SHELL_FAILED : SHELL_OK;
}

static shell_status cmd_bench(int argc, char **argv)
{
	int ran = bench_run(argc > 1 ? argv[1] : "all");
	if (ran < 0)
		return usage(find_command("bench"), "no such benchmark or suite (try: bench list)");
	return SHELL_OK;
}

static shell_status cmd_platform(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	arch_print_platform();
	return SHELL_OK;
}

static shell_status cmd_halt(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return SHELL_HALT;
}

static shell_status cmd_reboot(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	/* tools/qemu-run.sh recognises this line: QEMU runs with -no-reboot,
	 * so the reset ends the run, which it then reports as a clean exit. */
	kprintf(SHELL_REBOOT_LINE "\n");
	arch_reboot();
}

static const shell_command shell_commands[] = {
	{ "help", "", "this list", 0, 0, cmd_help },
	{ "tasks", "", "every task: state, wait, switches, stack, backtrace", 0, 0, cmd_tasks },
	{ "profile", "", "task profile (grouped by stack) and task-count trend", 0, 0,
	  cmd_profile },
	{ "leaks", "[reclaim]", "tasks blocked forever (task-leak detector); reclaim kills them", 0, 1, cmd_leaks },
	{ "mem", "[heap]", "memstats (heap: the per-size-class table)", 0, 1, cmd_mem },
	{ "gc", "", "run a collection now and summarize it", 0, 0, cmd_gc },
	{ "gctrace", "on|off", "one line per collection", 1, 1, cmd_gctrace },
	{ "why", "ADDR | task ID", "why the object at hex ADDR is alive; why task ID is not a leak",
	  1, 2, cmd_why },
	{ "heapprof", "[TOP|rate BYTES|reset]", "heap profile by allocation site", 0, 2,
	  cmd_heapprof },
	{ "demo", "NAME", "run a demo", 1, 1, cmd_demo },
	{ "test", "[SUITE]", "run self-tests (all, list, SUITE, SUITE.NAME)", 0, 1, cmd_test },
	{ "bench", "[SUITE]", "run benchmarks (all, list, SUITE, SUITE.NAME)", 0, 1, cmd_bench },
	{ "platform", "", "CPUs, APIC ids, interrupt controllers, timers (ACPI tables)", 0, 0,
	  cmd_platform },
	{ "halt", "", "leave (QEMU exits with status 0)", 0, 0, cmd_halt },
	{ "reboot", "", "reset the machine (under make run: QEMU ends, status 0)", 0, 0,
	  cmd_reboot },
};
static const size_t shell_ncommands = ARRAY_SIZE(shell_commands);

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

shell_status shell_exec(char *line)
{
	char *argv[SHELL_MAX_ARGS];
	int argc = 0;
	char *p = line;
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		if (argc == SHELL_MAX_ARGS) {
			kprintf("error: too many words (at most %d)\n", SHELL_MAX_ARGS);
			return SHELL_USAGE;
		}
		argv[argc++] = p;
		while (*p && !is_space(*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (argc == 0)
		return SHELL_OK;

	const shell_command *cmd = find_command(argv[0]);
	if (!cmd) {
		kprintf("error: unknown command '%s' (type 'help' for the list)\n", argv[0]);
		return SHELL_UNKNOWN;
	}
	if (argc - 1 < cmd->min_args)
		return usage(cmd, "missing argument");
	if (argc - 1 > cmd->max_args)
		return usage(cmd, "too many arguments");
	return cmd->run(argc, argv);
}

/* ---- the loop --------------------------------------------------------------------- */
static void shell_echo(const char *s, size_t n)
{
	arch_console_write(s, n);
}

int shell_run(void)
{
	if (!task_trend_start())
		kprintf("shell: cannot start the task-count sampler: %s\n", heap_last_error());
	kprintf("\ntricolor shell: 'help' lists the commands, 'halt' leaves; the heap starts "
		"empty: 'demo list'\nnames the demos that fill it\n");
	kprintf(SHELL_PROMPT);
	uint64_t poll_ns = 1000000000ULL / arch_tick_hz();
	shell_line line;
	shell_line_init(&line);
	for (;;) {
		int c = arch_console_getc();
		if (c < 0) {
			task_sleep(poll_ns);
			continue;
		}
		switch (shell_line_feed(&line, c, shell_echo)) {
		case SHELL_FEED_MORE:
			continue;
		case SHELL_FEED_TOO_LONG:
			kprintf("error: line too long (at most %d characters); ignored\n",
				SHELL_LINE_MAX);
			break;
		case SHELL_FEED_CANCEL:
			break;
		case SHELL_FEED_LINE:
			if (shell_exec(line.buf) == SHELL_HALT) {
				kprintf("halting\n");
				task_trend_stop();
				return EXIT_PASS;
			}
			break;
		}
		kprintf(SHELL_PROMPT);
	}
}
