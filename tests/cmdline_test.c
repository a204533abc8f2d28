/*
 * tests/cmdline_test.c - the command-line registry, through options that
 * exist only in test builds ("test.*" keys, so a user who sees them in the
 * help listing knows). Every test puts the options back as it found them.
 * Whole lines are parsed with cmdline_parse_in_place() on buffers of their
 * own, because cmdline_parse() would overwrite the boot line that live
 * string options (tests=) point into.
 */
#include "lib/lib.h"

static int64_t test_opt_int = 7;
CMDLINE_INT(test_opt_int, "test.int", -100, 4LL << 30,
	    "test-only integer option");
static int64_t test_opt_wide = 0;
CMDLINE_INT(test_opt_wide, "test.wide", INT64_MIN, INT64_MAX,
	    "test-only integer option, full int64_t range");
static bool test_opt_bool = false;
CMDLINE_BOOL(test_opt_bool, "test.bool", "test-only boolean option");
static const char *test_opt_str = NULL;
CMDLINE_STRING(test_opt_str, "test.str", "test-only string option");

/* The line cmdline_parse_in_place() splits: static, because test.str may
 * point into it until the test restores the option. */
static char cmdline_test_line[256];

typedef struct cmdline_test_saved {
	int64_t i, wide;
	bool b;
	const char *s;
} cmdline_test_saved;

static cmdline_test_saved cmdline_test_save(void)
{
	return (cmdline_test_saved){ test_opt_int, test_opt_wide, test_opt_bool,
				     test_opt_str };
}

static void cmdline_test_restore(cmdline_test_saved saved)
{
	test_opt_int = saved.i;
	test_opt_wide = saved.wide;
	test_opt_bool = saved.b;
	test_opt_str = saved.s;
}

/* Parses `text` in place from cmdline_test_line. */
static bool cmdline_test_parse_line(const char *text)
{
	CHECK_LT(strlen(text), sizeof cmdline_test_line);
	memcpy(cmdline_test_line, text, strlen(text) + 1);
	return cmdline_parse_in_place(cmdline_test_line);
}

/* Parses one token that must be accepted. */
#define CHECK_TOKEN_OK(token)                                               \
	do {                                                                \
		char err_[256] = "";                                        \
		CHECK_MSG(cmdline_parse_token(token, err_, sizeof err_),    \
			  "'%s' rejected: %s", token, err_);                \
	} while (0)

/* Parses one token that must be rejected with exactly `message`. */
#define CHECK_TOKEN_ERR(token, message)                                   \
	do {                                                              \
		char err_[256] = "";                                      \
		CHECK_MSG(!cmdline_parse_token(token, err_, sizeof err_), \
			  "'%s' accepted", token);                        \
		CHECK_STREQ(err_, message);                               \
	} while (0)

TEST(cmdline, integer_forms)
{
	cmdline_test_saved saved = cmdline_test_save();

	CHECK_TOKEN_OK("test.int=42");
	CHECK_EQ(test_opt_int, 42);
	CHECK_TOKEN_OK("test.int=-100");
	CHECK_EQ(test_opt_int, -100);
	CHECK_TOKEN_OK("test.int=0x1F");
	CHECK_EQ(test_opt_int, 31);
	CHECK_TOKEN_OK("test.int=010");
	CHECK_EQ(test_opt_int, 10); /* decimal, not octal */
	CHECK_TOKEN_OK("test.int=4k");
	CHECK_EQ(test_opt_int, 4096);
	CHECK_TOKEN_OK("test.int=3M");
	CHECK_EQ(test_opt_int, 3 << 20);
	CHECK_TOKEN_OK("test.int=4g");
	CHECK_EQ(test_opt_int, 4LL << 30);
	CHECK_TOKEN_OK("test.int=0x10k");
	CHECK_EQ(test_opt_int, 16 << 10);
	cmdline_test_restore(saved);
}

TEST(cmdline, integer_extremes)
{
	cmdline_test_saved saved = cmdline_test_save();

	CHECK_TOKEN_OK("test.wide=9223372036854775807");
	CHECK_EQ(test_opt_wide, INT64_MAX);
	CHECK_TOKEN_OK("test.wide=-9223372036854775808");
	CHECK_EQ(test_opt_wide, INT64_MIN);
	CHECK_TOKEN_OK("test.wide=0x7fffffffffffffff");
	CHECK_EQ(test_opt_wide, INT64_MAX);
	CHECK_TOKEN_OK("test.wide=8589934591g");
	CHECK_EQ(test_opt_wide, 8589934591LL << 30);

	CHECK_TOKEN_ERR("test.wide=9223372036854775808",
			"bad value in 'test.wide=9223372036854775808': number too large");
	CHECK_TOKEN_ERR("test.wide=-9223372036854775809",
			"bad value in 'test.wide=-9223372036854775809': number too large");
	CHECK_TOKEN_ERR("test.wide=99999999999999999999999",
			"bad value in 'test.wide=99999999999999999999999': number too large");
	CHECK_TOKEN_ERR("test.wide=0x8000000000000000",
			"bad value in 'test.wide=0x8000000000000000': number too large");
	CHECK_TOKEN_ERR("test.wide=8589934592g",
			"bad value in 'test.wide=8589934592g': number too large");
	/* Rejected values leave the option alone. */
	CHECK_EQ(test_opt_wide, 8589934591LL << 30);
	cmdline_test_restore(saved);
}

TEST(cmdline, integer_errors)
{
	cmdline_test_saved saved = cmdline_test_save();

	CHECK_TOKEN_ERR("test.int=abc", "bad value in 'test.int=abc': not a number");
	CHECK_TOKEN_ERR("test.int=12x", "bad value in 'test.int=12x': not a number");
	CHECK_TOKEN_ERR("test.int=-", "bad value in 'test.int=-': not a number");
	CHECK_TOKEN_ERR("test.int=0x", "bad value in 'test.int=0x': not a number");
	CHECK_TOKEN_ERR("test.int=k", "bad value in 'test.int=k': not a number");
	CHECK_TOKEN_ERR("test.int=4kk", "bad value in 'test.int=4kk': not a number");
	CHECK_TOKEN_ERR("test.int=+5", "bad value in 'test.int=+5': not a number");
	CHECK_TOKEN_ERR("test.int=-101",
			"bad value in 'test.int=-101': out of range [-100, 4294967296]");
	CHECK_TOKEN_ERR("test.int=5g",
			"bad value in 'test.int=5g': out of range [-100, 4294967296]");
	CHECK_EQ(test_opt_int, saved.i);
	cmdline_test_restore(saved);
}

TEST(cmdline, bool_forms)
{
	static const char *const on[] = { "test.bool=1", "test.bool=on",
					  "test.bool=true", "test.bool=yes" };
	static const char *const off[] = { "test.bool=0", "test.bool=off",
					   "test.bool=false", "test.bool=no" };
	cmdline_test_saved saved = cmdline_test_save();

	for (size_t i = 0; i < ARRAY_SIZE(on); i++) {
		CHECK_TOKEN_OK(off[i]);
		CHECK_MSG(!test_opt_bool, "%s left the option on", off[i]);
		CHECK_TOKEN_OK(on[i]);
		CHECK_MSG(test_opt_bool, "%s left the option off", on[i]);
	}
	CHECK_TOKEN_ERR("test.bool=2",
			"bad value in 'test.bool=2': not a boolean (use 1/0, on/off, true/false, yes/no)");
	CHECK_TOKEN_ERR("test.bool=ON",
			"bad value in 'test.bool=ON': not a boolean (use 1/0, on/off, true/false, yes/no)");
	cmdline_test_restore(saved);
}

TEST(cmdline, string_points_into_the_token)
{
	cmdline_test_saved saved = cmdline_test_save();
	static const char token[] = "test.str=a=b";

	CHECK_TOKEN_OK(token);
	/* Only the first '=' splits; the value is the rest of the token. */
	CHECK_STREQ(test_opt_str, "a=b");
	CHECK(test_opt_str == token + strlen("test.str="));
	cmdline_test_restore(saved);
}

TEST(cmdline, malformed_tokens)
{
	CHECK_TOKEN_ERR("foo", "malformed option 'foo' (expected key=value)");
	CHECK_TOKEN_ERR("test.int=",
			"malformed option 'test.int=' (expected key=value)");
	CHECK_TOKEN_ERR("=5", "malformed option '=5' (expected key=value)");
	CHECK_TOKEN_ERR("=", "malformed option '=' (expected key=value)");
}

TEST(cmdline, unknown_key)
{
	CHECK_TOKEN_ERR("nosuch=1", "unknown option 'nosuch=1'");
	/* A key is matched whole, never by prefix. */
	CHECK_TOKEN_ERR("test.in=1", "unknown option 'test.in=1'");
	CHECK_TOKEN_ERR("test.intx=1", "unknown option 'test.intx=1'");
}

TEST(cmdline, whole_line)
{
	cmdline_test_saved saved = cmdline_test_save();

	CHECK(cmdline_test_parse_line(
		"  test.int=5\ttest.bool=yes   test.str=hello  "));
	CHECK_EQ(test_opt_int, 5);
	CHECK(test_opt_bool);
	CHECK_STREQ(test_opt_str, "hello");
	cmdline_test_restore(saved);
}

TEST(cmdline, empty_line_is_valid)
{
	cmdline_test_saved saved = cmdline_test_save();

	CHECK(cmdline_test_parse_line(""));
	CHECK(cmdline_test_parse_line("    "));
	CHECK_EQ(test_opt_int, saved.i);
}

TEST(cmdline, last_duplicate_wins)
{
	cmdline_test_saved saved = cmdline_test_save();

	CHECK(cmdline_test_parse_line("test.int=1 test.int=2 test.int=3"));
	CHECK_EQ(test_opt_int, 3);
	cmdline_test_restore(saved);
}

TEST(cmdline, boot_loader_path_is_skipped)
{
	cmdline_test_saved saved = cmdline_test_save();

	CHECK(cmdline_test_parse_line("/boot/tricolor.elf test.int=9"));
	CHECK_EQ(test_opt_int, 9);
	/* Only as the first token: later it is a malformed option. */
	CHECK(!cmdline_test_parse_line("test.int=8 /boot/tricolor.elf"));
	cmdline_test_restore(saved);
}

TEST(cmdline, every_error_is_reported)
{
	cmdline_test_saved saved = cmdline_test_save();

	/* Prints two "cmdline:" lines. The valid tokens around the errors
	 * are still applied, which shows parsing went on past each one. */
	CHECK(!cmdline_test_parse_line(
		"test.int=1 junk test.bool=on test.int=oops test.str=last"));
	CHECK_EQ(test_opt_int, 1);
	CHECK(test_opt_bool);
	CHECK_STREQ(test_opt_str, "last");
	cmdline_test_restore(saved);
}

TEST(cmdline, overlong_line_is_rejected)
{
	static char line[5000];

	/* Prints one "cmdline:" line; nothing is parsed, so the boot line's
	 * copy (and tests= pointing into it) is untouched. */
	memset(line, 'x', sizeof line - 1);
	CHECK(!cmdline_parse(line));
}
