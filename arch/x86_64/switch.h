/*
 * switch.h - the C prototypes of switch.S, shared by the bare-metal
 * contexts (arch/x86_64/context.c) and the hosted ones (arch/hosted/
 * context.c), which link the same assembly.
 */
#pragma once

#include <stdint.h>

/* Pushes the callee-saved registers, saves rsp in *save_sp, switches to
 * new_sp and pops the registers saved there. */
void x86_switch_stacks(uintptr_t *save_sp, uintptr_t new_sp);
/* Builds a fresh context's first frame below stack_top and returns its
 * saved stack pointer; the first switch to it calls start_hook() (if not
 * NULL) and then entry(arg). */
uintptr_t x86_context_frame(uintptr_t stack_top, void (*entry)(void *), void *arg,
			    void (*start_hook)(void));
