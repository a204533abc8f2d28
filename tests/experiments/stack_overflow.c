/*
 * stack_overflow.c - unbounded recursion on the boot stack runs into its
 * unmapped guard gap. The page fault cannot push its frame there, so the
 * CPU raises a double fault, which runs on its own IST stack and reports the
 * overflow instead of triple-faulting.
 */
#include "lib/lib.h"

static int recurse(volatile char *prev, int depth);
/* Called through a variable so the compiler does not reject the obviously
 * endless recursion at build time. */
static int (*volatile next)(volatile char *, int) = recurse;

static int recurse(volatile char *prev, int depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	frame[511] = prev ? prev[0] : 0;
	return next(frame, depth + 1) + frame[0];
}

int experiment(void)
{
	return next(0, 0);
}
