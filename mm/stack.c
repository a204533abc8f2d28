/*
 * mm/stack.c - task stacks. Every stack lives in a slot of one reserved
 * stack region: an unmapped gap of MSTACK_GAP_BYTES at the bottom of the
 * slot, then the stack. Slots are handed out upwards, so below every
 * stack's gap lies the top of the previous slot's stack (or the region's
 * start): a task running off the end of its stack faults in its own gap
 * before it can reach a neighbour, even from a frame of up to the gap's size
 * that was compiled without stack-clash probes (everything here is built
 * with them: larger frames touch every page on the way down, and the first
 * touch lands in the gap). The fault handler recognises an address
 * anywhere in the gap as a stack overflow (stack_in_guard).
 *
 * Why 64 KiB: 16 probe intervals, four times the default stack, more than
 * five times the largest frame in the kernel (-Wframe-larger-than= keeps
 * every frame below half of it), and still cheap in page tables: a slot is
 * 80 KiB with the default stack, so about 25 stacks share one page table
 * (a 1 MiB gap, Linux's for user stacks, would cost a page table, 4 KiB,
 * per 16 KiB stack).
 *
 * Stacks are committed when allocated and decommitted (frames back to the
 * page source) when freed; the slot stays on a free list per size and is
 * reused. A commit that fails goes through mm/reclaim.c (free heap pages,
 * then a collection) before stack_alloc fails. A fresh stack is painted
 * with MSTACK_PAINT so the high-water mark can be read later.
 *
 * Locking: interrupts off around the free list and the region's frontier
 * (one CPU).
 */
#include "mm/mm_internal.h"

/* Address space for every stack slot at once: 64 GiB, reserved (not
 * backed) at the first stack_alloc. A million default slots, or 8000 of
 * the largest stacks. */
#define STACK_REGION_BYTES (64UL << 30)

/* A freed slot, kept (decommitted) for the next stack of the same size.
 * The slot itself has no memory behind it, so its record comes from a
 * fixalloc. */
typedef struct stack_range {
	uintptr_t lo; /* the slot's start: its gap */
	size_t size;  /* stack bytes above the gap */
	struct stack_range *next;
} stack_range;

/* The allocator's state, in one struct so the collector can leave it out
 * of its roots (heap_metadata_globals): region_end, say, is the address of
 * the next reservation, and a root holding it would pin whatever object
 * sits there. Guarded by interrupts off. */
static struct stack_state {
	stack_range *free_ranges;
	fixalloc range_alloc;
	bool inited;
	uintptr_t region_start, region_next, region_end;
	size_t in_use, bytes_in_use;
} stacks;

arch_range stack_metadata_range(void)
{
	return (arch_range){ (uintptr_t)&stacks, (uintptr_t)(&stacks + 1) };
}

static void stack_init_once(void)
{
	if (stacks.inited)
		return;
	fixalloc_init(&stacks.range_alloc, "stack_range", sizeof(stack_range), 8);
	stacks.inited = true;
}

/* A slot for a stack of `size` bytes: a freed one of that size, else a
 * new one at the region's frontier. 0 when the region is exhausted. */
static uintptr_t stack_take_slot(size_t size)
{
	uintptr_t lo = 0;
	arch_irqflags_t irq = arch_irq_save();

	stack_init_once();
	for (stack_range **pp = &stacks.free_ranges; *pp; pp = &(*pp)->next) {
		if ((*pp)->size == size) {
			stack_range *r = *pp;
			*pp = r->next;
			lo = r->lo;
			fixalloc_free(&stacks.range_alloc, r);
			break;
		}
	}
	if (!lo && !stacks.region_start) {
		stacks.region_start = (uintptr_t)arch_reserve(STACK_REGION_BYTES);
		stacks.region_next = stacks.region_start;
		if (stacks.region_start)
			stacks.region_end = stacks.region_start + STACK_REGION_BYTES;
	}
	if (!lo && stacks.region_start &&
	    MSTACK_GAP_BYTES + size <= stacks.region_end - stacks.region_next) {
		lo = stacks.region_next;
		stacks.region_next += MSTACK_GAP_BYTES + size;
	}
	arch_irq_restore(irq);
	return lo;
}

/* Puts a decommitted slot on the free list; if its record cannot be had,
 * the slot is simply not reused (address space only). Interrupts off. */
static void stack_keep_slot(uintptr_t lo, size_t size)
{
	stack_range *r = fixalloc_alloc(&stacks.range_alloc);
	if (r) {
		*r = (stack_range){ lo, size, stacks.free_ranges };
		stacks.free_ranges = r;
	}
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
	uintptr_t lo = stack_take_slot(size);
	if (!lo) {
		heap_set_error("out of address space for a %zu-byte stack (%lu GiB "
			       "stack region)", size, STACK_REGION_BYTES >> 30);
		return false;
	}
	void *base = (void *)(lo + MSTACK_GAP_BYTES);
	heap_oom oom = { 0 };
	while (!arch_commit(base, size)) {
		heap_set_error("out of memory for a %zu-byte stack (page source has "
			       "%zu free pages)", size, arch_free_pages());
		if (!heap_oom_retry(&oom, size / ARCH_PAGE_SIZE)) {
			arch_irqflags_t irq = arch_irq_save();
			stack_keep_slot(lo, size);
			arch_irq_restore(irq);
			return false;
		}
	}
	uint64_t *w = base;
	for (size_t i = 0; i < size / sizeof(uint64_t); i++)
		w[i] = MSTACK_PAINT;
	*out = (mstack){ .base = base, .size = size, .asked = asked, .guard = lo };
	arch_irqflags_t irq = arch_irq_save();
	stacks.in_use++;
	stacks.bytes_in_use += size;
	arch_irq_restore(irq);
	return true;
}

void stack_free(mstack *s)
{
	if (!s->base)
		return;
	arch_decommit(s->base, s->size);
	arch_irqflags_t irq = arch_irq_save();
	stack_keep_slot(s->guard, s->size);
	stacks.in_use--;
	stacks.bytes_in_use -= s->size;
	arch_irq_restore(irq);
	*s = (mstack){ 0 };
}

bool stack_is_freed_range(uintptr_t addr)
{
	arch_irqflags_t irq = arch_irq_save();
	bool found = false;
	for (stack_range *r = stacks.free_ranges; r && !found; r = r->next)
		found = addr >= r->lo && addr < r->lo + MSTACK_GAP_BYTES + r->size;
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
	return s->base && addr >= s->guard && addr < (uintptr_t)s->base;
}

void stack_usage(size_t *count, size_t *bytes)
{
	arch_irqflags_t irq = arch_irq_save();
	*count = stacks.in_use;
	*bytes = stacks.bytes_in_use;
	arch_irq_restore(irq);
}
