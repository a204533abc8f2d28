/*
 * cpu.c - the small arch/arch.h services that are one instruction each
 * (interrupt flag, pause, hlt), leaving the machine (isa-debug-exit), and
 * the stack-protector hooks the compiler calls.
 */
#include "arch/x86_64/x86.h"

arch_irqflags_t arch_irq_save(void)
{
	arch_irqflags_t flags = read_rflags() & RFLAGS_IF;
	__asm__ volatile("cli" ::: "memory");
	return flags;
}

void arch_irq_restore(arch_irqflags_t flags)
{
	if (flags & RFLAGS_IF)
		__asm__ volatile("sti" ::: "memory");
}

void arch_irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
void arch_irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
bool arch_irq_enabled(void) { return read_rflags() & RFLAGS_IF; }
void arch_cpu_relax(void) { __asm__ volatile("pause"); }

void arch_wait_for_interrupt(void)
{
	/* sti takes effect after the next instruction, so an interrupt that
	 * is already pending wakes this hlt instead of being missed. */
	__asm__ volatile("sti; hlt" ::: "memory");
}

/* QEMU's isa-debug-exit device (see tools/qemu-run.sh): writing v makes QEMU
 * exit with status (v << 1) | 1. Statuses are offset by EXIT_PORT_BIAS so
 * that no kernel status can look like QEMU's own exit codes 0 and 1. */
#define DEBUG_EXIT_PORT 0xf4
#define EXIT_PORT_BIAS 16
/* QEMU's exit status is 8 bits: (v << 1) | 1 <= 255. */
#define EXIT_STATUS_MAX (127 - EXIT_PORT_BIAS)

_Noreturn void arch_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

_Noreturn void arch_exit(int status)
{
	if (status < 0 || status > EXIT_STATUS_MAX)
		status = EXIT_FAIL;
	/* A failure before the framebuffer console started would otherwise
	 * leave a UEFI PC's screen blank: draw the boot log, reason included. */
	console_fb_start_on_exit();
	outl(DEBUG_EXIT_PORT, (uint32_t)(status + EXIT_PORT_BIAS));
	/* Real hardware has no such device: stop here. */
	kprintf("tricolor: halted (exit status %d)\n", status);
	arch_halt();
}

#define KBC_STATUS_PORT 0x64
#define KBC_INPUT_FULL 0x02
#define KBC_PULSE_RESET 0xfe
#define KBC_DRAIN_POLLS 100000     /* no controller (some machines): go on */
#define KBC_RESET_WAIT_SPINS 1000000 /* for the reset to take hold */

_Noreturn void arch_reboot(void)
{
	arch_irq_disable();
	/* The keyboard controller's reset line: wait for its input buffer
	 * to drain, then pulse it. */
	for (int i = 0; i < KBC_DRAIN_POLLS && (inb(KBC_STATUS_PORT) & KBC_INPUT_FULL); i++)
		__asm__ volatile("pause");
	outb(KBC_STATUS_PORT, KBC_PULSE_RESET);
	for (int i = 0; i < KBC_RESET_WAIT_SPINS; i++)
		__asm__ volatile("pause");
	/* Still here: an empty IDT turns the next exception into a triple
	 * fault, which resets the CPU. */
	static const struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} empty_idt = { 0, 0 };
	__asm__ volatile("lidt %0; int3" ::"m"(empty_idt));
	arch_halt();
}

/* -fstack-protector-strong with -mstack-protector-guard=global: boot.S
 * seeds the guard from the TSC before the first C function runs. */
uint64_t __stack_chk_guard = 0x595e9fbd94fda766ULL;

_Noreturn void __stack_chk_fail(void)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);
	uintptr_t off = 0;
	const char *fn = arch_symbolize(caller, &off);
	panic("stack smashing detected in %s (return address 0x%llx)", fn ? fn : "?",
	      (unsigned long long)caller);
}
