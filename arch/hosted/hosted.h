/*
 * arch/hosted/hosted.h - what the hosted build offers above arch.h, for
 * code that only the hosted build compiles (tests/hosted/): glibc's
 * allocator, so a benchmark can compare the heap against it. libc itself
 * stays inside arch/hosted.
 */
#pragma once

#include "arch/arch.h"

void *hosted_libc_malloc(size_t size);
void *hosted_libc_calloc(size_t n, size_t size);
void hosted_libc_free(void *p);
