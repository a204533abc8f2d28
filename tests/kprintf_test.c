/*
 * tests/kprintf_test.c - kprintf's formatting engine, checked through
 * ksnprintf: every conversion, length modifier, width and flag, the integer
 * extremes, and snprintf's truncation contract. One test goes to the
 * console to cover the chunked flush. Limits come from <stdint.h> with
 * casts to the C types (int is 32 bits, long and long long 64 on x86-64):
 * the kernel build has no <limits.h>.
 */
#include "lib/lib.h"

/* Formats into a fresh buffer and compares; also checks the return value. */
#define CHECK_FORMAT(expected, ...)                                  \
	do {                                                         \
		char buf_[128];                                      \
		int len_ = ksnprintf(buf_, sizeof buf_, __VA_ARGS__); \
		CHECK_STREQ(buf_, expected);                         \
		CHECK_EQ(len_, strlen(expected));                    \
	} while (0)

TEST(kprintf, plain_text)
{
	CHECK_FORMAT("hello, world", "hello, world");
	CHECK_FORMAT("100%", "100%%");
	CHECK_FORMAT("%", "%c", '%');
}

TEST(kprintf, signed_decimal)
{
	CHECK_FORMAT("0", "%d", 0);
	CHECK_FORMAT("42 -42", "%d %i", 42, -42);
	CHECK_FORMAT("2147483647", "%d", (int)INT32_MAX);
	CHECK_FORMAT("-2147483648", "%d", (int)INT32_MIN);
	CHECK_FORMAT("-9223372036854775808", "%ld", (long)INT64_MIN);
	CHECK_FORMAT("9223372036854775807", "%lld", (long long)INT64_MAX);
	CHECK_FORMAT("-9223372036854775808", "%lld", (long long)INT64_MIN);
	CHECK_FORMAT("-1", "%zd", (size_t)-1);
}

TEST(kprintf, unsigned_decimal)
{
	CHECK_FORMAT("4294967295", "%u", (unsigned)UINT32_MAX);
	CHECK_FORMAT("18446744073709551615", "%lu", (unsigned long)UINT64_MAX);
	CHECK_FORMAT("18446744073709551615", "%llu", (unsigned long long)UINT64_MAX);
	CHECK_FORMAT("4096", "%zu", sizeof(char[4096]));
}

TEST(kprintf, hex)
{
	CHECK_FORMAT("0", "%x", 0);
	CHECK_FORMAT("deadbeef DEADBEEF", "%x %X", 0xdeadbeefu, 0xdeadbeefu);
	CHECK_FORMAT("ffffffff", "%x", -1);
	CHECK_FORMAT("ffffffffffffffff", "%llx", (unsigned long long)UINT64_MAX);
	CHECK_FORMAT("8000000000000000", "%lx", 1UL << 63);
	CHECK_FORMAT("1f", "%zx", (size_t)31);
}

TEST(kprintf, length_modifier_reads_the_right_width)
{
	/* An int argument must not pick up the upper half of a long. */
	CHECK_FORMAT("1 2 3", "%d %ld %d", 1, 2L, 3);
	CHECK_FORMAT("-1 4294967295", "%ld %u", -1L, (unsigned)UINT32_MAX);
}

TEST(kprintf, width_and_padding)
{
	CHECK_FORMAT("   42", "%5d", 42);
	CHECK_FORMAT("00042", "%05d", 42);
	CHECK_FORMAT("42   |", "%-5d|", 42);
	CHECK_FORMAT("  -42", "%5d", -42);
	CHECK_FORMAT("-0042", "%05d", -42);
	CHECK_FORMAT("-42  |", "%-5d|", -42);
	/* A width smaller than the number never truncates it. */
	CHECK_FORMAT("12345", "%2d", 12345);
	CHECK_FORMAT("000000ff", "%08x", 0xff);
	CHECK_FORMAT("0000000000000000000001", "%022llu", 1ULL);
}

TEST(kprintf, strings_and_chars)
{
	CHECK_FORMAT("abc", "%s", "abc");
	CHECK_FORMAT("  abc|", "%5s|", "abc");
	CHECK_FORMAT("abc  |", "%-5s|", "abc");
	CHECK_FORMAT("abcdef", "%2s", "abcdef");
	/* Through a volatile, or the compiler rejects the call. */
	static const char *volatile null_string = NULL;
	CHECK_FORMAT("(null)", "%s", null_string);
	CHECK_FORMAT("[]", "[%s]", "");
	CHECK_FORMAT("x", "%c", 'x');
	CHECK_FORMAT("  x|x  |", "%3c|%-3c|", 'x', 'x');
}

TEST(kprintf, pointer)
{
	CHECK_FORMAT("0x0000000000001234", "%p", (void *)0x1234);
	CHECK_FORMAT("0x0000000000000000", "%p", (void *)0);
	CHECK_FORMAT("0xffffffff80101234", "%p", (void *)0xffffffff80101234UL);
	CHECK_FORMAT("  0x00000000000000ab|", "%20p|", (void *)0xab);
}

TEST(kprintf, unknown_conversion_is_printed_as_written)
{
	/* Not a literal, so the compiler's format check lets it through. */
	static const char *volatile format = "a%5qb%";
	char buf[32];

	CHECK_EQ(ksnprintf(buf, sizeof buf, format, 0), strlen("a%5qb%"));
	CHECK_STREQ(buf, "a%5qb%");
}

TEST(kprintf, truncation)
{
	char buf[8];

	memset(buf, 'X', sizeof buf);
	/* Returns the full length, keeps n - 1 characters and a NUL. */
	CHECK_EQ(ksnprintf(buf, sizeof buf, "hello %s", "world"), 11);
	CHECK_STREQ(buf, "hello w");

	CHECK_EQ(ksnprintf(buf, sizeof buf, "%d", 1234567), 7);
	CHECK_STREQ(buf, "1234567");
	CHECK_EQ(ksnprintf(buf, sizeof buf, "%d", 12345678), 8);
	CHECK_STREQ(buf, "1234567");

	CHECK_EQ(ksnprintf(buf, 1, "abc"), 3);
	CHECK_EQ(buf[0], '\0');
}

TEST(kprintf, size_zero_writes_nothing)
{
	char buf[4] = { 'X', 'X', 'X', 'X' };

	CHECK_EQ(ksnprintf(buf, 0, "abc%d", 12), 5);
	CHECK_EQ(buf[0], 'X');
	/* n == 0 is how callers measure; the buffer may be NULL then. */
	CHECK_EQ(ksnprintf(NULL, 0, "%s", "measure me"), 10);
}

TEST(kprintf, console_output_longer_than_a_chunk)
{
	/* kprintf formats in 256-byte chunks; the count spans all of them. */
	char long_text[301];

	memset(long_text, '=', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	int len = kprintf("# %s\n", long_text);
	CHECK_EQ(len, 2 + 300 + 1);
}
