/*
 * gc/barrier.c - the write barrier. Every pointer store into a heap object
 * (or a global) is gc_write(slot, ptr); a block copy is gc_copy. While the
 * collector marks, both the value being overwritten and the value being
 * written are shaded (Go's hybrid barrier, "Yuasa deletion + Dijkstra
 * insertion"):
 *   - deletion: a mutator cannot hide a white object by moving its only
 *     reference out of an object the collector has not scanned yet into
 *     one it has (the old value is greyed when the slot is overwritten);
 *   - insertion: a pointer taken from a stack the collector has already
 *     scanned cannot be stored into a black object unseen.
 * Together they let each stack be scanned once, concurrently, with no
 * rescan at mark termination. Outside marking the barrier costs one flag
 * test. Interrupts are off from the test to the store, so a cycle cannot
 * start (mark setup stops the world) between the two.
 */
#include "gc/gc_internal.h"

void gc_shade(const void *p)
{
	gc_mark_ptr((uintptr_t)p, 0);
}

void gc_write(void *slot, const void *ptr)
{
	void **s = slot;
	arch_irqflags_t irq = arch_irq_save();

	if (__builtin_expect(gc.barrier_on, 0)) {
		gc_mark_ptr((uintptr_t)*s, 0);
		gc_mark_ptr((uintptr_t)ptr, 0);
	}
	*s = (void *)ptr;
	arch_irq_restore(irq);
}

void gc_copy(void *dst, const void *src, size_t n)
{
	ASSERT(n % sizeof(void *) == 0 && (uintptr_t)dst % sizeof(void *) == 0 &&
	       (uintptr_t)src % sizeof(void *) == 0);
	uintptr_t *d = dst;
	const uintptr_t *s = src;
	size_t words = n / sizeof(void *);
	arch_irqflags_t irq = arch_irq_save();
	if (gc.barrier_on) {
		for (size_t i = 0; i < words; i++) {
			gc_mark_ptr(d[i], 0);
			gc_mark_ptr(s[i], 0);
		}
	}
	memmove(dst, src, n);
	arch_irq_restore(irq);
}
