/*
 * arch/hosted/context.c - task contexts in a Linux process: stacks are
 * ordinary mapped memory (mm/stack.c gets them from arch_reserve/commit,
 * i.e. mmap, with a PROT_NONE gap below), and the switch is the same
 * callee-saved switch as on bare metal (arch/x86_64/switch.S). Under ASan
 * every switch is announced with the fiber annotations, so ASan knows which
 * stack is live and keeps its fake stacks straight.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "arch/hosted/hosted_internal.h"
#include "arch/x86_64/switch.h"
#include "lib/lib.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define HOSTED_ASAN 1
#else
#define HOSTED_ASAN 0
#endif

static arch_context boot_context;
arch_context *arch_running_context = &boot_context;

arch_context *arch_boot_context(void)
{
	if (!boot_context.stack_base) {
		pthread_attr_t attr;
		void *base;
		size_t size;
		if (pthread_getattr_np(pthread_self(), &attr) != 0 ||
		    pthread_attr_getstack(&attr, &base, &size) != 0)
			panic("hosted: cannot find the main stack");
		pthread_attr_destroy(&attr);
		boot_context.stack_base = base;
		boot_context.stack_size = size;
	}
	return &boot_context;
}

size_t arch_interrupt_stack_reserve(void)
{
	/* The timer signal is delivered on the task's stack: the kernel's
	 * signal frame with the XSAVE area (several KiB with AVX-512) plus
	 * the handler chain, instrumented by ASan in test builds. */
	return 32 * 1024;
}

/* First code on a new context: completes the switch ASan saw start. */
static void hosted_context_first_entry(void)
{
#if HOSTED_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

void arch_context_init(arch_context *ctx, void *stack_base, size_t stack_size,
		       void (*entry)(void *), void *arg)
{
	*ctx = (arch_context){
		.sp = x86_context_frame((uintptr_t)stack_base + stack_size, entry,
					arg, hosted_context_first_entry),
		.stack_base = stack_base,
		.stack_size = stack_size,
	};
}

void arch_run_spilled(void (*fn)(void *), void *arg)
{
	x86_call_spilled(&arch_running_context->spill_sp, fn, arg);
}

uintptr_t arch_test_hold_in_register(uintptr_t hidden, uintptr_t key, unsigned reg,
				     void (*fn)(void))
{
	ASSERT(reg < ARCH_CALLEE_SAVED_TESTABLE);
	return x86_hold_in_callee_saved(hidden, key, reg, fn);
}

void arch_test_call_with_dirty_scratch(uintptr_t hidden, uintptr_t key, void (*fn)(void))
{
	x86_call_with_dirty_scratch(hidden, key, fn);
}

void arch_clear_stack(uintptr_t lo, uint64_t keep)
{
	ASSERT(!arch_irq_enabled());
	x86_clear_stack(ALIGN_UP(lo, sizeof(uintptr_t)), keep);
}

void arch_context_switch(arch_context *from, arch_context *to)
{
	ASSERT(!arch_irq_enabled());
	ASSERT(from == arch_running_context);
	arch_running_context = to;
#if HOSTED_ASAN
	/* A dying context passes NULL: ASan frees its fake stack now. */
	__sanitizer_start_switch_fiber(from->dying ? NULL : &from->fiber_state,
				       to->stack_base, to->stack_size);
#endif
	x86_switch_stacks(&from->sp, to->sp);
#if HOSTED_ASAN
	__sanitizer_finish_switch_fiber(from->fiber_state, NULL, NULL);
#endif
}
