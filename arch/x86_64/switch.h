/*
 * switch.h - the C prototypes of switch.S, shared by the bare-metal
 * contexts (arch/x86_64/context.c) and the hosted ones (arch/hosted/
 * context.c), which link the same assembly.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"

/* Pushes the callee-saved registers, saves rsp in *save_sp, switches to
 * new_sp and pops the registers saved there. */
void x86_switch_stacks(uintptr_t *save_sp, uintptr_t new_sp);
/* Builds a fresh context's first frame below stack_top and returns its
 * saved stack pointer; the first switch to it calls start_hook() (if not
 * NULL) and then entry(arg). */
uintptr_t x86_context_frame(uintptr_t stack_top, void (*entry)(void *), void *arg,
			    void (*start_hook)(void));

/* Calls fn(arg) with every callee-saved register pushed; the outermost
 * such call records the spill point in *spill_sp (arch_run_spilled). */
void x86_call_spilled(uintptr_t *spill_sp, void (*fn)(void *), void *arg);
/* Calls fn() with hidden ^ key only in callee-saved register reg (0 rbx,
 * 1 r12, 2 r13, 3 r14, 4 r15); returns that register ^ key afterwards. */
uintptr_t x86_hold_in_callee_saved(uintptr_t hidden, uintptr_t key, unsigned reg,
				   void (*fn)(void));

/* Calls fn() with hidden ^ key in every free caller-saved register. */
void x86_call_with_dirty_scratch(uintptr_t hidden, uintptr_t key, void (*fn)(void));

/* Zeroes the dead stack [lo, rsp) except words equal to keep, then the
 * scratch registers. */
void x86_clear_stack(uintptr_t lo, uint64_t keep);

/* The frames of a switched-out context: its switch frame holds the last
 * frame pointer (the saved rbp, 6th word) and the return address (7th);
 * from there the frame-pointer chain, read only inside ctx's own stack. */
static inline size_t x86_switch_frames(const arch_context *ctx, uintptr_t *pcs, uintptr_t *fps,
				       size_t max)
{
	const uintptr_t *frame = (const uintptr_t *)ctx->sp;
	if (max == 0 || !ctx->sp)
		return 0;
	uintptr_t fp = frame[5];
	pcs[0] = frame[6];
	fps[0] = fp;
	size_t n = 1;
	uintptr_t lo = (uintptr_t)ctx->stack_base, hi = lo + ctx->stack_size;
	while (n < max && fp >= lo && fp + 16 <= hi && fp % 8 == 0) {
		const uintptr_t *f = (const uintptr_t *)fp;
		if (!f[1] || f[0] <= fp)
			break;
		pcs[n] = f[1];
		fps[n] = f[0];
		fp = f[0];
		n++;
	}
	return n;
}
