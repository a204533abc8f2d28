/*
 * arch/hosted/hosted_internal.h - what the files of arch/hosted tell each
 * other: the start-up steps main.c runs in order, and the frame walker the
 * fault reporter shares with arch_backtrace(). Nothing outside arch/hosted
 * includes this.
 */
#pragma once

#include "arch/arch.h"

/* symbols.c: loads the executable's symbol table. First, so every later
 * report can name functions. */
void hosted_symbols_init(void);

/* fault.c: installs the SIGSEGV/SIGBUS/SIGFPE/SIGILL handlers on an
 * alternate signal stack. */
void hosted_fault_init(void);

/* hosted.c: the "CPU": interrupts off, the cycle counter calibrated, and
 * the timer started at the `hz=` rate. Needs the command line parsed.
 * Interrupts stay off until the caller enables them. */
void hosted_machine_init(void);

/* symbols.c: return addresses of the frame chain starting at frame pointer
 * `fp`, innermost first; stops at the first frame outside ctx's stack. */
size_t hosted_backtrace_from(uintptr_t fp, const arch_context *ctx, uintptr_t *pcs,
			     size_t max);
