/*
 * null_write.c - a fault in the kernel proper (no task, no arch_try): the
 * kernel must print the vector, the decoded error code, every register and a
 * symbolized backtrace, then panic. tests/host/harness.sh checks all that.
 */
#include "lib/lib.h"

/* noipa: no clone with the address folded in. Not a leaf, so it has a
 * frame of its own and the backtrace shows its caller. */
__attribute__((noipa)) static void write_through(volatile int *p)
{
	kprintf("writing to %p\n", (void *)p);
	*p = 42;
}

/* Through a variable, so the compiler cannot see (and reject) the bad
 * address at build time. */
static volatile uintptr_t bad_address = 16;

int experiment(void)
{
	write_through((volatile int *)bad_address);
	return 0; /* not reached */
}
