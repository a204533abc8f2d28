/*
 * gdt.c - the kernel's GDT (flat 64-bit code and data) and its TSS, whose
 * interrupt stack table gives #DF, NMI and #MC their own stacks: those can
 * arrive when the current stack is unusable (a stack overflow that faulted
 * into a double fault, for instance), and must not run on it.
 *
 * Every CPU has its own GDT and TSS (a TSS is per CPU: it holds that CPU's
 * IST stack pointers, and `ltr` marks its descriptor busy): the boot CPU's
 * are static here, each AP's live in its per-CPU block (smp.c), built and
 * loaded by the same gdt_load().
 */
#include "arch/x86_64/x86.h"

_Static_assert(sizeof(struct x86_tss) == 104, "TSS layout");

struct gdt_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static cpu_tables boot_tables;
static uint8_t ist_stacks[IST_STACKS][IST_STACK_SIZE]
	__attribute__((section(".kstacks"), aligned(4096)));

#define SEG_PRESENT (1UL << 47)
#define SEG_CODE_DATA (1UL << 44)
#define SEG_EXEC (1UL << 43)
#define SEG_WRITABLE (1UL << 41)
#define SEG_LONG (1UL << 53)
#define SEG_TSS_AVAILABLE (0x9UL << 40)

void gdt_load(cpu_tables *t, const uint64_t ist_top[IST_STACKS])
{
	uint64_t *gdt = t->gdt;
	struct x86_tss *tss = &t->tss;
	gdt[0] = 0;
	gdt[GDT_INDEX(GDT_KERNEL_CODE)] = SEG_PRESENT | SEG_CODE_DATA | SEG_EXEC | SEG_LONG;
	gdt[GDT_INDEX(GDT_KERNEL_DATA)] = SEG_PRESENT | SEG_CODE_DATA | SEG_WRITABLE;

	for (int i = 0; i < IST_STACKS; i++)
		tss->ist[i] = ist_top[i];
	tss->iomap_base = sizeof(*tss); /* no I/O permission bitmap */
	_Static_assert(IST_DOUBLE_FAULT == 1 && IST_NMI == 2 && IST_MACHINE_CHECK == IST_STACKS,
		       "ist[] index = IST number - 1");

	uint64_t base = (uint64_t)tss, limit = sizeof(*tss) - 1;
	gdt[GDT_INDEX(GDT_TSS)] = SEG_PRESENT | SEG_TSS_AVAILABLE | (limit & 0xffff) |
				  ((base & 0xffffff) << 16) | ((base >> 24 & 0xff) << 56);
	gdt[GDT_INDEX(GDT_TSS) + 1] = base >> 32;

	struct gdt_pointer ptr = { sizeof(t->gdt) - 1, (uint64_t)gdt };
	__asm__ volatile(
		"lgdt %0\n\t"
		"pushq %1\n\t"
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"mov %2, %%ds\n\t"
		"mov %2, %%es\n\t"
		"mov %2, %%ss\n\t"
		:
		: "m"(ptr), "i"(GDT_KERNEL_CODE), "r"((uint64_t)GDT_KERNEL_DATA)
		: "rax", "memory");
	__asm__ volatile("ltr %w0" ::"r"(GDT_TSS));
}

void gdt_init(void)
{
	uint64_t top[IST_STACKS];
	for (int i = 0; i < IST_STACKS; i++)
		top[i] = (uint64_t)(ist_stacks[i] + IST_STACK_SIZE);
	gdt_load(&boot_tables, top);
}
