/*
 * idt.c - the IDT and the C side of every interrupt and exception: timer
 * ticks, spurious interrupts, faults caught by arch_try(), and the report a
 * fault nobody catches ends in (vector name, decoded error code, CR2, every
 * register, symbolized backtrace, then panic).
 */
#include "arch/x86_64/x86.h"

#include <stddef.h>

_Static_assert(offsetof(trap_frame, rax) == 14 * 8, "isr.S pushes rax first");
_Static_assert(offsetof(trap_frame, vector) == 15 * 8, "isr.S frame");
_Static_assert(offsetof(trap_frame, rip) == 17 * 8, "isr.S reads rip at 17*8");
_Static_assert(sizeof(trap_frame) == 22 * 8, "isr.S frame size");
_Static_assert(offsetof(try_context, rsp) == 48 && offsetof(try_context, rip) == 56 &&
		       offsetof(try_context, rflags) == 64,
	       "isr.S try_save/try_resume offsets");

struct idt_entry {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_entry) == 16, "IDT entry layout");

struct idt_pointer {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

#define IDT_INTERRUPT_GATE 0x8e /* present, ring 0, interrupts off on entry */

extern const uint64_t isr_stub_table[256];
static struct idt_entry idt[256];

static void idt_set(int vector, uint64_t handler, int ist)
{
	idt[vector] = (struct idt_entry){
		.offset_lo = handler & 0xffff,
		.selector = GDT_KERNEL_CODE,
		.ist = (uint8_t)ist,
		.type_attr = IDT_INTERRUPT_GATE,
		.offset_mid = (handler >> 16) & 0xffff,
		.offset_hi = (uint32_t)(handler >> 32),
	};
}

void idt_init(void)
{
	for (int v = 0; v < 256; v++)
		idt_set(v, isr_stub_table[v], 0);
	idt_set(8, isr_stub_table[8], IST_DOUBLE_FAULT);
	idt_set(2, isr_stub_table[2], IST_NMI);
	idt_set(18, isr_stub_table[18], IST_MACHINE_CHECK);
	struct idt_pointer ptr = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" ::"m"(ptr));
}

static const char *const exception_names[32] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow",
	"bound range exceeded", "invalid opcode", "device not available",
	"double fault", "coprocessor segment overrun", "invalid TSS",
	"segment not present", "stack-segment fault", "general protection fault",
	"page fault", "reserved (15)", "x87 floating-point error",
	"alignment check", "machine check", "SIMD floating-point error",
	"virtualization exception", "control protection fault", "reserved (22)",
	"reserved (23)", "reserved (24)", "reserved (25)", "reserved (26)",
	"reserved (27)", "hypervisor injection", "VMM communication",
	"security exception", "reserved (31)",
};

const char *arch_fault_name(int vector)
{
	if (vector == ARCH_FAULT_ABORT)
		return "abort";
	if (vector >= 0 && vector < 32)
		return exception_names[vector];
	return "interrupt";
}

/* ---- arch_try --------------------------------------------------------- */
/* Active tries form a chain per context (arch_context.try_top), innermost
 * first, each frame on the stack of the code that called arch_try. */
struct try_frame {
	try_context ctx;
	arch_fault *fault;
	struct try_frame *prev;
};

bool arch_try(void (*fn)(void *), void *arg, arch_fault *fault)
{
	arch_context *self = arch_current_context();
	struct try_frame frame = { .fault = fault, .prev = self->try_top };
	self->try_top = &frame;
	if (try_save(&frame.ctx) == 0) {
		fn(arg);
		self->try_top = frame.prev;
		return true;
	}
	self->try_top = frame.prev;
	return false;
}

_Noreturn void arch_try_abort(void)
{
	struct try_frame *top = arch_current_context()->try_top;
	if (!top)
		panic("arch_try_abort outside arch_try");
	*top->fault = (arch_fault){ .vector = ARCH_FAULT_ABORT,
				    .ip = (uintptr_t)__builtin_return_address(0) };
	try_resume(&top->ctx);
}

/* A CPU exception inside an arch_try (on the same stack, deeper than the
 * try) unwinds to it. #DF, NMI and #MC are never recoverable. */
static bool try_catch(trap_frame *tf)
{
	struct try_frame *top = arch_current_context()->try_top;
	if (!top || tf->vector == 8 || tf->vector == 2 || tf->vector == 18)
		return false;
	if (tf->rsp > top->ctx.rsp)
		return false; /* the fault is not below the try on this stack */
	*top->fault = (arch_fault){
		.vector = (int)tf->vector,
		.error_code = tf->error_code,
		.addr = tf->vector == ARCH_FAULT_PAGE ? read_cr2() : 0,
		.ip = tf->rip,
	};
	try_resume(&top->ctx);
}

static void (*fault_handler)(const arch_fault *fault);

void arch_set_fault_handler(void (*handler)(const arch_fault *fault))
{
	fault_handler = handler;
}

/* ---- reporting -------------------------------------------------------- */
static void print_page_fault_code(uint64_t code, uint64_t cr2)
{
	kprintf("  page fault at 0x%llx: %s, %s%s%s%s\n", (unsigned long long)cr2,
		code & 1 ? "protection violation" : "page not present",
		code & 16 ? "instruction fetch" : code & 2 ? "write" : "read",
		code & 4 ? ", user mode" : ", kernel mode",
		code & 8 ? ", reserved bit set" : "",
		code & 32 ? ", protection key" : "");
}

static bool is_boot_stack_guard(uint64_t addr)
{
	return addr >= (uint64_t)boot_stack_guard && addr < (uint64_t)boot_stack_bottom;
}

void trap_print(const trap_frame *tf, uint64_t cr2)
{
	uint64_t sym_off = 0;
	const char *sym = arch_symbolize(tf->rip, &sym_off);
	kprintf("\n*** %s (vector %llu, error code 0x%llx) at 0x%llx %s+0x%llx\n",
		arch_fault_name((int)tf->vector), (unsigned long long)tf->vector,
		(unsigned long long)tf->error_code, (unsigned long long)tf->rip,
		sym ? sym : "?", (unsigned long long)sym_off);
	if (tf->vector == ARCH_FAULT_PAGE)
		print_page_fault_code(tf->error_code, cr2);
	if (is_boot_stack_guard(cr2) || is_boot_stack_guard(tf->rsp))
		kprintf("  kernel stack overflow: the boot stack's guard gap was touched\n");
	kprintf("  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n",
		(unsigned long long)tf->rax, (unsigned long long)tf->rbx,
		(unsigned long long)tf->rcx, (unsigned long long)tf->rdx);
	kprintf("  rsi %016llx rdi %016llx rbp %016llx rsp %016llx\n",
		(unsigned long long)tf->rsi, (unsigned long long)tf->rdi,
		(unsigned long long)tf->rbp, (unsigned long long)tf->rsp);
	kprintf("  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n",
		(unsigned long long)tf->r8, (unsigned long long)tf->r9,
		(unsigned long long)tf->r10, (unsigned long long)tf->r11);
	kprintf("  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n",
		(unsigned long long)tf->r12, (unsigned long long)tf->r13,
		(unsigned long long)tf->r14, (unsigned long long)tf->r15);
	kprintf("  rip %016llx rflags %016llx cs %04llx ss %04llx\n",
		(unsigned long long)tf->rip, (unsigned long long)tf->rflags,
		(unsigned long long)tf->cs, (unsigned long long)tf->ss);
	kprintf("  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx\n",
		(unsigned long long)read_cr0(), (unsigned long long)cr2,
		(unsigned long long)read_cr3(), (unsigned long long)read_cr4());
	/* The faulting RIP is exact; the frames above hold return addresses,
	 * which print_backtrace_from symbolizes as such. */
	uintptr_t pcs[32];
	size_t n = backtrace_from(tf->rbp, pcs, ARRAY_SIZE(pcs));
	kprintf("backtrace:\n  at 0x%llx %s+0x%llx\n", (unsigned long long)tf->rip,
		sym ? sym : "?", (unsigned long long)sym_off);
	print_backtrace_from(pcs, n);
}

/* ---- dispatch --------------------------------------------------------- */
static uint64_t spurious_count;

void trap_dispatch(trap_frame *tf)
{
	if (tf->vector < 32) {
		if (try_catch(tf))
			return; /* not reached: try_catch resumes the try */
		uint64_t cr2 = read_cr2();
		trap_print(tf, cr2);
		if (fault_handler && tf->vector != 2 && tf->vector != 18) {
			arch_fault fault = {
				.vector = (int)tf->vector,
				.error_code = tf->error_code,
				.addr = (tf->vector == ARCH_FAULT_PAGE || tf->vector == 8) ? cr2 : 0,
				.ip = tf->rip,
			};
			fault_handler(&fault); /* returns only if it cannot help */
		}
		panic("unhandled %s in the kernel", arch_fault_name((int)tf->vector));
	}
	switch (tf->vector) {
	case IRQ_TIMER_VECTOR:
		/* EOI first: the tick handler may switch to another task, and
		 * the LAPIC must not wait for this one to come back. */
		lapic_eoi();
		timer_tick();
		return;
	case IRQ_SPURIOUS_VECTOR:
		spurious_count++; /* no EOI for a spurious LAPIC interrupt */
		return;
	default:
		if (tf->vector >= IRQ_PIC_BASE && tf->vector < IRQ_PIC_BASE + 16) {
			/* The PIC is masked; only its spurious IRQ 7/15 can
			 * arrive, and those take no EOI either. */
			spurious_count++;
			return;
		}
		kprintf("unexpected interrupt vector %llu\n", (unsigned long long)tf->vector);
		lapic_eoi();
	}
}
