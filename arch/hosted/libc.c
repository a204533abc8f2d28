/*
 * arch/hosted/libc.c - glibc's malloc, calloc and free behind hosted.h, for
 * the malloc benchmarks (tests/hosted/malloc_bench.c). One call each; the
 * benchmark's numbers include it, as the heap's include its call of
 * gc_alloc.
 */
#include <stdlib.h>

#include "arch/hosted/hosted.h"

void *hosted_libc_malloc(size_t size)
{
	return malloc(size);
}

void *hosted_libc_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

void hosted_libc_free(void *p)
{
	free(p);
}
