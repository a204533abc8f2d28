/*
 * context.c - task contexts on bare metal: a new context's first frame
 * (built by switch.S) and the switch itself, which also makes the new
 * context current so per-context state (the arch_try chain) follows the
 * task.
 */
#include "arch/x86_64/switch.h"
#include "arch/x86_64/x86.h"

static arch_context boot_context;
arch_context *arch_running_context = &boot_context;

arch_context *arch_boot_context(void)
{
	if (!boot_context.stack_base) {
		boot_context.stack_base = boot_stack_bottom;
		boot_context.stack_size = (size_t)(boot_stack_top - boot_stack_bottom);
	}
	return &boot_context;
}

/* A trap frame and the registers isr.S saves: a few hundred bytes, which a
 * task's own stack budget absorbs. */
size_t arch_interrupt_stack_reserve(void) { return 0; }

void arch_context_init(arch_context *ctx, void *stack_base, size_t stack_size,
		       void (*entry)(void *), void *arg)
{
	*ctx = (arch_context){
		.sp = x86_context_frame((uintptr_t)stack_base + stack_size, entry, arg, NULL),
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
	/* The per-CPU slot arch_current_context() reads (CPU 0's). */
	__asm__ volatile("movq %0, %%gs:%c1" ::"r"(to), "i"(ARCH_PERCPU_RUNNING) : "memory");
	x86_switch_stacks(&from->sp, to->sp);
}

size_t arch_context_backtrace(const arch_context *ctx, uintptr_t *pcs, size_t max)
{
	/* The saved switch frame: r15 r14 r13 r12 rbx rbp, return address. */
	const uintptr_t *frame = (const uintptr_t *)ctx->sp;
	if (max == 0 || !ctx->sp || !vmm_is_readable(ctx->sp, 7 * sizeof(uintptr_t)))
		return 0;
	pcs[0] = frame[6];
	return 1 + backtrace_from(frame[5], pcs + 1, max - 1);
}

size_t arch_context_frames(const arch_context *ctx, uintptr_t *pcs, uintptr_t *fps, size_t max)
{
	if (!ctx->sp || !vmm_is_readable(ctx->sp, 7 * sizeof(uintptr_t)))
		return 0;
	return x86_switch_frames(ctx, pcs, fps, max);
}
