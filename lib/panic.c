/*
 * lib/panic.c - the end of the line: panic() reports a broken invariant
 * with a symbolized backtrace and ends the machine with EXIT_PANIC. The path
 * never allocates and takes no lock; a panic raised while panicking (say,
 * the backtrace walk itself faults) prints one fixed line and halts, so a
 * broken printer cannot loop forever.
 */
#include "lib/lib.h"

/* Frames printed by print_backtrace(); deeper chains are cut off. */
#define PANIC_BACKTRACE_MAX 32

/* Panics started so far; only the first one gets to report. */
static int panic_count;

/* The machine's services (lib.h); NULL until the arch registers them. */
static const lib_machine *machine;

void lib_set_machine(const lib_machine *m)
{
	machine = m;
}

void lib_console_write(const char *buf, size_t len)
{
	if (machine)
		machine->console_write(buf, len);
}

/* Before the arch registered itself there is nowhere to report to. */
static _Noreturn void panic_stop(void)
{
	for (;;)
		__builtin_trap();
}

void print_backtrace_from(const uintptr_t *pcs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/*
		 * pcs are return addresses: the instruction after the call.
		 * Look up pc - 1 so a call that ends a function (a call to a
		 * _Noreturn function, say) is not attributed to the next one.
		 */
		uintptr_t offset;
		const char *name = machine ? machine->symbolize(pcs[i] - 1, &offset)
					   : NULL;

		if (name)
			kprintf("  #%zu %p %s+0x%lx\n", i, (void *)pcs[i], name,
				(unsigned long)offset + 1);
		else
			kprintf("  #%zu %p ?\n", i, (void *)pcs[i]);
	}
}

/* noinline: its own frame is the one it drops, so it must have one. */
__attribute__((noinline)) void print_backtrace(void)
{
	uintptr_t pcs[PANIC_BACKTRACE_MAX + 1];
	size_t n = machine ? machine->backtrace(pcs, ARRAY_SIZE(pcs)) : 0;

	/* pcs[0] is inside this function; the caller's chain follows. */
	if (n > 0)
		print_backtrace_from(pcs + 1, n - 1);
}

_Noreturn void panic(const char *fmt, ...)
{
	if (!machine)
		panic_stop();
	machine->irq_disable();
	if (__atomic_fetch_add(&panic_count, 1, __ATOMIC_SEQ_CST) > 0) {
		/* Bypass kprintf: it may be what failed. */
		static const char recursive[] = "PANIC: panic while panicking, halting\n";
		machine->console_write(recursive, sizeof recursive - 1);
		machine->halt();
		panic_stop(); /* not reached: halt does not return */
	}

	va_list ap;
	va_start(ap, fmt);
	kprintf("PANIC: ");
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	print_backtrace();
	machine->exit(EXIT_PANIC);
	panic_stop(); /* not reached: exit does not return */
}
