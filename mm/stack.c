/*
 * stack.c - task stacks: each lives in its own reserved range with one
 * unmapped guard page below it, so running off the end faults on the guard
 * instead of corrupting a neighbour. Stacks are committed when allocated
 * and decommitted (frames back to the page source) when freed; the address
 * range is kept on a free list per size and reused. A fresh stack is
 * painted with STACK_PAINT so the high-water mark can be read later. A
 * commit that fails goes through mm/reclaim.c (free heap pages, then a
 * collection) before stack_alloc fails.
 *
 * Locking: interrupts off around the free lists (one CPU).
 */
#include "mm/mm_internal.h"

#define STACK_GUARD_BYTES ARCH_PAGE_SIZE

/* A freed range, kept (decommitted) for the next stack of the same size.
 * The range itself has no memory behind it, so its record comes from a
 * fixalloc. */
typedef struct stack_range {
	uintptr_t lo; /* guard page start */
	size_t size;  /* usable bytes above the guard */
	struct stack_range *next;
} stack_range;

static stack_range *free_ranges;
static fixalloc range_alloc;
static bool stack_inited;
static size_t stacks_in_use, stack_bytes_in_use;

static void stack_init_once(void)
{
	if (stack_inited)
		return;
	fixalloc_init(&range_alloc, "stack_range", sizeof(stack_range), 8);
	stack_inited = true;
}

bool stack_alloc(size_t size, mstack *out)
{
	size = ALIGN_UP(size ? size : MSTACK_DEFAULT_SIZE, ARCH_PAGE_SIZE);
	if (size < MSTACK_MIN_SIZE || size > MSTACK_MAX_SIZE) {
		heap_set_error("stack size %zu outside [%zu, %zu]", size,
			       (size_t)MSTACK_MIN_SIZE, (size_t)MSTACK_MAX_SIZE);
		return false;
	}
	size_t asked = size;
	size += ALIGN_UP(arch_interrupt_stack_reserve(), ARCH_PAGE_SIZE);
	arch_irqflags_t irq = arch_irq_save();
	stack_init_once();
	uintptr_t lo = 0;
	for (stack_range **pp = &free_ranges; *pp; pp = &(*pp)->next) {
		if ((*pp)->size == size) {
			stack_range *r = *pp;
			*pp = r->next;
			lo = r->lo;
			fixalloc_free(&range_alloc, r);
			break;
		}
	}
	arch_irq_restore(irq);
	if (!lo) {
		lo = (uintptr_t)arch_reserve(STACK_GUARD_BYTES + size);
		if (!lo) {
			heap_set_error("out of address space for a %zu-byte stack", size);
			return false;
		}
	}
	void *base = (void *)(lo + STACK_GUARD_BYTES);
	heap_oom oom = { 0 };
	while (!arch_commit(base, size)) {
		heap_set_error("out of memory for a %zu-byte stack (page source has "
			       "%zu free pages)", size, arch_free_pages());
		if (heap_oom_retry(&oom, size / ARCH_PAGE_SIZE))
			continue;
		stack_range rec = { lo, size, NULL };
		arch_irqflags_t irq2 = arch_irq_save();
		stack_range *r = fixalloc_alloc(&range_alloc);
		if (r) {
			*r = rec;
			r->next = free_ranges;
			free_ranges = r;
		}
		arch_irq_restore(irq2);
		return false;
	}
	uint64_t *w = base;
	for (size_t i = 0; i < size / sizeof(uint64_t); i++)
		w[i] = MSTACK_PAINT;
	*out = (mstack){ .base = base, .size = size, .asked = asked, .guard = lo };
	irq = arch_irq_save();
	stacks_in_use++;
	stack_bytes_in_use += size;
	arch_irq_restore(irq);
	return true;
}

void stack_free(mstack *s)
{
	if (!s->base)
		return;
	arch_decommit(s->base, s->size);
	arch_irqflags_t irq = arch_irq_save();
	stack_range *r = fixalloc_alloc(&range_alloc);
	if (r) { /* else the range is simply not reused */
		*r = (stack_range){ s->guard, s->size, free_ranges };
		free_ranges = r;
	}
	stacks_in_use--;
	stack_bytes_in_use -= s->size;
	arch_irq_restore(irq);
	*s = (mstack){ 0 };
}

bool stack_is_freed_range(uintptr_t addr)
{
	arch_irqflags_t irq = arch_irq_save();
	bool found = false;
	for (stack_range *r = free_ranges; r && !found; r = r->next)
		found = addr >= r->lo && addr < r->lo + STACK_GUARD_BYTES + r->size;
	arch_irq_restore(irq);
	return found;
}

size_t stack_high_water(const mstack *s)
{
	const uint64_t *w = s->base;
	size_t words = s->size / sizeof(uint64_t), i = 0;
	while (i < words && w[i] == MSTACK_PAINT)
		i++;
	return s->size - i * sizeof(uint64_t);
}

bool stack_in_guard(const mstack *s, uintptr_t addr)
{
	return s->base && addr >= s->guard && addr < s->guard + STACK_GUARD_BYTES;
}

void stack_usage(size_t *count, size_t *bytes)
{
	arch_irqflags_t irq = arch_irq_save();
	*count = stacks_in_use;
	*bytes = stack_bytes_in_use;
	arch_irq_restore(irq);
}
