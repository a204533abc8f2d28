/*
 * shell_test.c - kernel/shell.c without a console: the line editor fed
 * byte strings (backspace and DEL, CR/LF/CRLF, Ctrl-C, escape sequences,
 * over-long lines rejected and the editor usable afterwards, with the echo
 * checked), and shell_exec's verdicts for good commands, unknown commands
 * and bad arguments. The interactive loop over a real serial line is
 * driven by tests/host/shell.sh.
 */
#include "diag/diag.h"
#include "gc/gc.h"
#include "kernel/kernel.h"
#include "lib/lib.h"
#include "sched/sched.h"

/* What the editor echoed, for the checks. */
static char echoed[512];
static size_t echoed_len;

static void capture_echo(const char *s, size_t n)
{
	for (size_t i = 0; i < n && echoed_len + 1 < sizeof echoed; i++)
		echoed[echoed_len++] = s[i];
	echoed[echoed_len] = '\0';
}

static void echo_reset(void)
{
	echoed_len = 0;
	echoed[0] = '\0';
}

/* Feeds every byte of input; returns the last non-MORE result (MORE if
 * none) and the number of such results in *ends. */
static shell_feed feed(shell_line *l, const char *input, size_t len, int *ends)
{
	shell_feed last = SHELL_FEED_MORE;
	*ends = 0;
	for (size_t i = 0; i < len; i++) {
		shell_feed r = shell_line_feed(l, (unsigned char)input[i], capture_echo);
		if (r != SHELL_FEED_MORE) {
			last = r;
			(*ends)++;
		}
	}
	return last;
}

#define FEED(l, lit, ends) feed(l, lit, sizeof(lit) - 1, ends)

TEST(shell, line_plain_and_echo)
{
	shell_line l;
	int ends;
	shell_line_init(&l);
	echo_reset();
	CHECK_EQ(FEED(&l, "help\r", &ends), SHELL_FEED_LINE);
	CHECK_EQ(ends, 1);
	CHECK_STREQ(l.buf, "help");
	CHECK_STREQ(echoed, "help\n");
	/* LF alone ends a line too; the LF of a CR LF does not end another. */
	CHECK_EQ(FEED(&l, "mem\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "mem");
	CHECK_EQ(FEED(&l, "a\r\nb\r\n", &ends), SHELL_FEED_LINE);
	CHECK_EQ(ends, 2);
	CHECK_STREQ(l.buf, "b");
	/* An empty line is a line. */
	CHECK_EQ(FEED(&l, "\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "");
	/* Tabs become spaces. */
	CHECK_EQ(FEED(&l, "gc\ton\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "gc on");
}

TEST(shell, line_backspace_and_del)
{
	shell_line l;
	int ends;
	shell_line_init(&l);
	echo_reset();
	CHECK_EQ(FEED(&l, "hx\x7fi\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "hi");
	CHECK_STREQ(echoed, "hx\b \bi\n");
	echo_reset();
	CHECK_EQ(FEED(&l, "ab\b\bcd\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "cd");
	/* Backspace on an empty line erases nothing and echoes nothing. */
	echo_reset();
	CHECK_EQ(FEED(&l, "\x7f\x7f\bok\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "ok");
	CHECK_STREQ(echoed, "ok\n");
}

TEST(shell, line_controls_and_escapes)
{
	shell_line l;
	int ends;
	shell_line_init(&l);
	/* Arrow keys (CSI and SS3 forms) and stray control bytes vanish. */
	CHECK_EQ(FEED(&l, "t\x1b[Aa\x1bOBs\x1b[1;5Ck\x01s\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "tasks");
	/* Ctrl-C drops the line. */
	echo_reset();
	CHECK_EQ(FEED(&l, "halt\x03", &ends), SHELL_FEED_CANCEL);
	CHECK_STREQ(echoed, "halt^C\n");
	CHECK_EQ(FEED(&l, "gc\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "gc");
	/* Non-ASCII bytes are ignored. */
	CHECK_EQ(FEED(&l, "m\xc3\xa9m\n", &ends), SHELL_FEED_LINE);
	CHECK_STREQ(l.buf, "mm");
}

TEST(shell, line_too_long_rejected)
{
	shell_line l;
	int ends;
	shell_line_init(&l);
	/* Exactly SHELL_LINE_MAX characters fit. */
	for (int i = 0; i < SHELL_LINE_MAX; i++)
		CHECK_EQ(shell_line_feed(&l, 'a' + i % 26, NULL), SHELL_FEED_MORE);
	CHECK_EQ(shell_line_feed(&l, '\n', NULL), SHELL_FEED_LINE);
	CHECK_EQ(strlen(l.buf), SHELL_LINE_MAX);

	/* One more is rejected whole, with a single bell, and nothing past
	 * the buffer is written. */
	echo_reset();
	for (int i = 0; i < SHELL_LINE_MAX + 50; i++)
		CHECK_EQ(shell_line_feed(&l, 'x', capture_echo), SHELL_FEED_MORE);
	CHECK_EQ(l.len, SHELL_LINE_MAX);
	CHECK_EQ(l.buf[SHELL_LINE_MAX], '\0');
	/* Backspace does not rescue it. */
	CHECK_EQ(shell_line_feed(&l, 0x7f, capture_echo), SHELL_FEED_MORE);
	CHECK_EQ(shell_line_feed(&l, '\r', capture_echo), SHELL_FEED_TOO_LONG);
	size_t bells = 0;
	for (size_t i = 0; i < echoed_len; i++)
		bells += echoed[i] == '\a';
	CHECK_EQ(bells, 1);
	CHECK_EQ(l.buf[0], '\0');

	/* The editor works normally afterwards. */
	CHECK_EQ(FEED(&l, "\nhelp\n", &ends), SHELL_FEED_LINE);
	CHECK_EQ(ends, 1); /* the LF of the rejected line's CR LF */
	CHECK_STREQ(l.buf, "help");
}

/* shell_exec splits its argument in place: give it a copy. */
static shell_status exec(const char *cmd)
{
	char buf[SHELL_LINE_MAX + 1];
	size_t n = strlen(cmd);
	CHECK(n <= SHELL_LINE_MAX);
	memcpy(buf, cmd, n + 1);
	return shell_exec(buf);
}

TEST(shell, exec_verdicts)
{
	CHECK_EQ(exec(""), SHELL_OK);
	CHECK_EQ(exec("   "), SHELL_OK);
	CHECK_EQ(exec("help"), SHELL_OK);
	CHECK_EQ(exec("  help  "), SHELL_OK);
	CHECK_EQ(exec("bogus"), SHELL_UNKNOWN);
	CHECK_EQ(exec("HELP"), SHELL_UNKNOWN);
	CHECK_EQ(exec("help me"), SHELL_USAGE);
	CHECK_EQ(exec("a b c d e"), SHELL_USAGE);
	CHECK_EQ(exec("mem"), SHELL_OK);
	CHECK_EQ(exec("mem pages"), SHELL_USAGE);
	CHECK_EQ(exec("gctrace"), SHELL_USAGE);
	CHECK_EQ(exec("gctrace maybe"), SHELL_USAGE);
	CHECK_EQ(exec("gctrace on"), SHELL_OK);
	CHECK_EQ(exec("gctrace off"), SHELL_OK);
	CHECK_EQ(exec("why"), SHELL_USAGE);
	CHECK_EQ(exec("why xyz"), SHELL_USAGE);
	CHECK_EQ(exec("why 0x"), SHELL_USAGE);
	CHECK_EQ(exec("why 0x12345678901234567"), SHELL_USAGE); /* overflows */
	CHECK_EQ(exec("why 0x10"), SHELL_FAILED); /* not a heap object */
	CHECK_EQ(exec("why task"), SHELL_USAGE);
	CHECK_EQ(exec("why task x"), SHELL_USAGE);
	CHECK_EQ(exec("why 0x10 0x20"), SHELL_USAGE);
	CHECK_EQ(exec("why task 999999"), SHELL_FAILED); /* no such task */
	CHECK_EQ(exec("why task 1"), SHELL_OK);         /* main: running, a root */
	CHECK_EQ(exec("heapprof"), SHELL_OK);
	CHECK_EQ(exec("heapprof 3"), SHELL_OK);
	CHECK_EQ(exec("heapprof 0"), SHELL_USAGE);
	CHECK_EQ(exec("heapprof 99"), SHELL_USAGE);
	CHECK_EQ(exec("heapprof abc"), SHELL_USAGE);
	CHECK_EQ(exec("heapprof rate"), SHELL_USAGE);
	CHECK_EQ(exec("heapprof rate x"), SHELL_USAGE);
	int64_t rate = heapprof_get_rate();
	CHECK_EQ(exec("heapprof rate 0x1000"), SHELL_OK);
	CHECK_EQ(heapprof_get_rate(), 4096);
	heapprof_set_rate(rate);
	CHECK_EQ(exec("demo"), SHELL_USAGE);
	CHECK_EQ(exec("test nosuch_suite"), SHELL_USAGE);
	CHECK_EQ(exec("bench nosuch_suite"), SHELL_USAGE);
	CHECK_EQ(exec("bench list"), SHELL_OK); /* like `test list` */
	CHECK_EQ(exec("test list"), SHELL_OK);
	CHECK_EQ(exec("halt"), SHELL_HALT);
	CHECK_EQ(exec("halt now"), SHELL_USAGE);
	CHECK_EQ(exec("reboot please"), SHELL_USAGE);
}

TEST(shell, exec_diagnostics_run)
{
	CHECK_EQ(exec("tasks"), SHELL_OK);
	CHECK_EQ(exec("profile"), SHELL_OK);
	CHECK_EQ(exec("gc"), SHELL_OK);
	CHECK_EQ(exec("mem heap"), SHELL_OK);
}
