/*
 * start.c - kmain, where boot/boot.S lands in the higher half: brings the
 * machine up in dependency order and hands over to the portable
 * kernel_main(). Order matters: the boot CPU's per-CPU block and GS base
 * first of all (every spinlock reads its CPU index and running context
 * through %gs), the base library's machine hooks next,
 * the console next (to report anything; the serial console may be a PCI
 * card, found through configuration ports, which need no mapping), the
 * boot information next (the command line and memory map live there), the
 * command line before anything it configures, GDT/IDT before the first
 * fault can happen on purpose, pmm before vmm (page tables need frames),
 * vmm before the LAPIC (its registers are mapped uncached, the first MMIO
 * mapping), the ACPI tables (a table beyond the direct map gets a mapping),
 * the I/O APICs (listed by the MADT; every entry masked, the 8259s too)
 * and the framebuffer console (its frames and mapping), timers, then the
 * the other CPUs (smp.c: INIT-SIPI-SIPI needs the calibrated TSC for its
 * delays; they only idle so far), then the
 * keyboard (the FADT says whether there is an 8042; IRQ 1 goes through the
 * I/O APIC, or the timer tick polls it), then the platform summary (it
 * names the clock the timers were calibrated with).
 */
#include "arch/x86_64/x86.h"

#define MB2_BOOT_MAGIC 0x36d76289
#define VGA_TEXT_PHYS 0xb8000 /* the text screen when no framebuffer tag says */

static bool vga_text_mode(void)
{
	/* GRUB reports text mode as an EGA-text framebuffer, or no framebuffer
	 * tag at all. */
	return !boot.framebuffer.present || boot.framebuffer.type == BOOT_FRAMEBUFFER_EGA_TEXT;
}

void kmain(uint32_t magic, uint32_t info_phys)
{
	/* First: every spinlock reads the CPU index and running context
	 * through the GS base (the GDT load below keeps it: %gs is not
	 * reloaded). */
	smp_boot_cpu_init();
	lib_set_machine(&arch_machine);
	serial_init();
	/* tools/qemu-run.sh takes a line starting "tricolor: " as the sign
	 * that GRUB started the kernel. */
	kprintf("\ntricolor: a concurrent mark-sweep collector, down to the page tables\n");
	if (magic != MB2_BOOT_MAGIC)
		panic("bad multiboot2 magic 0x%x", magic);
	char err[128];
	if (!boot_info_parse(info_phys, err, sizeof(err)))
		panic("boot information: %s", err);
	vga_init(vga_text_mode(), vga_text_mode() && boot.framebuffer.present
					  ? boot.framebuffer.addr : VGA_TEXT_PHYS);
	boot_info_print();
	serial_print();

	gdt_init();
	idt_init();
	/* Parsing what fits would drop the tail's options without a word. */
	if (boot.cmdline_truncated) {
		kprintf("cmdline: command line too long (the limit is %zu bytes)\n",
			sizeof(boot.cmdline) - 1);
		arch_exit(EXIT_CMDLINE);
	}
	if (!cmdline_parse(boot.cmdline))
		arch_exit(EXIT_CMDLINE);
	pmm_init();
	vmm_init();
	acpi_init();
	pic_disable();
	lapic_init();
	ioapic_init();
	console_fb_start();
	timer_init();
	smp_init();
	i8042_init();
	arch_print_platform();
	arch_irq_enable();
	kernel_main();
}
