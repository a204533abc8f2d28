/*
 * arch/machine.c - the machine's services the base library needs (lib.h:
 * console, backtrace, symbols, stopping), in one table filled from arch.h's
 * functions. Portable: both arches build it over their own arch_*.
 */
#include "arch/arch.h"

const lib_machine arch_machine = {
	.console_write = arch_console_write,
	.backtrace = arch_backtrace,
	.symbolize = arch_symbolize,
	.irq_disable = arch_irq_disable,
	.exit = arch_exit,
	.halt = arch_halt,
};
