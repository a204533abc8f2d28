/*
 * lib/test.c - the half of the test registry that a test itself calls:
 * test_fail() records the first failure into the runner's record of the
 * running test and ends the test through the record's abort; test_log()
 * prints a diagnostic line. The runner (kernel/tests.c) owns the rest.
 */
#include "lib/lib.h"

/* Longest failure reason a CHECK outside any test can print. */
#define TEST_ORPHAN_REASON_MAX 256

test_record *test_current;
uintptr_t test_expected_addr;

_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
{
	test_record *rec = test_current;
	va_list ap;

	va_start(ap, fmt);
	if (!rec) {
		/* A CHECK outside any test: nothing can record it. */
		char msg[TEST_ORPHAN_REASON_MAX];
		kvsnprintf(msg, sizeof msg, fmt, ap);
		panic("test_fail outside a test at %s:%d: %s", file, line, msg);
	}
	/* Keep the first failure: later ones are usually its consequences. */
	if (!rec->failed) {
		int len = ksnprintf(rec->reason, rec->reason_len, "%s:%d: ", file, line);
		if ((size_t)len < rec->reason_len)
			kvsnprintf(rec->reason + len, rec->reason_len - (size_t)len, fmt, ap);
		rec->failed = true;
	}
	va_end(ap);
	rec->abort();
	panic("test_fail: the runner's abort returned");
}

void test_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kprintf("# ");
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
}
