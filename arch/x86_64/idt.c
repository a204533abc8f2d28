/*
 * idt.c - the IDT and the C side of every interrupt and exception: timer
 * ticks, device interrupts (a handler per vector, idt_set_irq_handler),
 * spurious interrupts, faults caught by arch_try(), and the report a
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

/* Gate descriptor type_attr: present, DPL 0 (no user mode), and a 64-bit
 * interrupt gate, which clears IF on entry. */
#define IDT_GATE_PRESENT 0x80
#define IDT_GATE_DPL0 0x00
#define IDT_GATE_INTERRUPT64 0x0e
#define IDT_INTERRUPT_GATE (IDT_GATE_PRESENT | IDT_GATE_DPL0 | IDT_GATE_INTERRUPT64)

/* arch.h's fault numbers are these vectors; an abort is none of them. */
_Static_assert((int)ARCH_FAULT_PAGE == (int)VECTOR_PAGE_FAULT, "arch.h's page fault vector");
_Static_assert((int)ARCH_FAULT_ABORT >= (int)VECTOR_COUNT, "ARCH_FAULT_ABORT is no vector");

extern const uint64_t isr_stub_table[VECTOR_COUNT];
static struct idt_entry idt[VECTOR_COUNT];

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
	for (int v = 0; v < VECTOR_COUNT; v++)
		idt_set(v, isr_stub_table[v], IST_NONE);
	/* These can arrive with the current stack unusable: stacks of their
	 * own (gdt.c). */
	idt_set(VECTOR_DOUBLE_FAULT, isr_stub_table[VECTOR_DOUBLE_FAULT], IST_DOUBLE_FAULT);
	idt_set(VECTOR_NMI, isr_stub_table[VECTOR_NMI], IST_NMI);
	idt_set(VECTOR_MACHINE_CHECK, isr_stub_table[VECTOR_MACHINE_CHECK], IST_MACHINE_CHECK);
	idt_load();
}

void idt_load(void)
{
	struct idt_pointer ptr = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" ::"m"(ptr));
}

static const char *const exception_names[VECTOR_EXCEPTIONS] = {
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
	if (vector >= 0 && vector < VECTOR_EXCEPTIONS)
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

/* NMI and #MC report the machine, not the code that was running: no task
 * is to blame for them. */
static bool vector_is_machine_event(uint64_t vector)
{
	return vector == VECTOR_NMI || vector == VECTOR_MACHINE_CHECK;
}

/* A CPU exception inside an arch_try (on the same stack, deeper than the
 * try) unwinds to it. #DF, NMI and #MC are never recoverable. */
static bool try_catch(trap_frame *tf)
{
	struct try_frame *top = arch_current_context()->try_top;
	if (!top || tf->vector == VECTOR_DOUBLE_FAULT || vector_is_machine_event(tf->vector))
		return false;
	if (tf->rsp > top->ctx.rsp)
		return false; /* the fault is not below the try on this stack */
	*top->fault = (arch_fault){
		.vector = (int)tf->vector,
		.error_code = tf->error_code,
		.addr = tf->vector == VECTOR_PAGE_FAULT ? read_cr2() : 0,
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
/* The page fault error code's bits (Intel SDM vol. 3A, 4.7). */
#define PF_ERR_PROTECTION (1u << 0) /* else: page not present */
#define PF_ERR_WRITE (1u << 1)
#define PF_ERR_USER (1u << 2)
#define PF_ERR_RESERVED_BIT (1u << 3)
#define PF_ERR_FETCH (1u << 4)
#define PF_ERR_PROTECTION_KEY (1u << 5)

static void print_page_fault_code(uint64_t code, uint64_t cr2)
{
	kprintf("  page fault at 0x%llx: %s, %s%s%s%s\n", (unsigned long long)cr2,
		code & PF_ERR_PROTECTION ? "protection violation" : "page not present",
		code & PF_ERR_FETCH ? "instruction fetch" : code & PF_ERR_WRITE ? "write" : "read",
		code & PF_ERR_USER ? ", user mode" : ", kernel mode",
		code & PF_ERR_RESERVED_BIT ? ", reserved bit set" : "",
		code & PF_ERR_PROTECTION_KEY ? ", protection key" : "");
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
	if (tf->vector == VECTOR_PAGE_FAULT)
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
/* Device interrupt handlers by vector (idt_set_irq_handler); read in
 * trap_dispatch with interrupts off. */
static void (*volatile irq_handlers[VECTOR_COUNT])(void);

void idt_set_irq_handler(uint8_t vector, void (*fn)(void))
{
	if (vector < VECTOR_EXCEPTIONS || vector == IRQ_TIMER_VECTOR ||
	    vector == IRQ_CALL_VECTOR || vector == IRQ_SPURIOUS_VECTOR)
		panic("idt_set_irq_handler: vector %u is not for device interrupts", vector);
	irq_handlers[vector] = fn;
}

void trap_dispatch(trap_frame *tf)
{
	if (tf->vector < VECTOR_EXCEPTIONS) {
		if (try_catch(tf))
			return; /* not reached: try_catch resumes the try */
		uint64_t cr2 = read_cr2();
		trap_print(tf, cr2);
		if (fault_handler && !vector_is_machine_event(tf->vector)) {
			/* A double fault's CR2 is the page fault's that led to
			 * it, if one did (a stack overflow into a guard). */
			bool has_addr = tf->vector == VECTOR_PAGE_FAULT ||
					tf->vector == VECTOR_DOUBLE_FAULT;
			arch_fault fault = {
				.vector = (int)tf->vector,
				.error_code = tf->error_code,
				.addr = has_addr ? cr2 : 0,
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
		lapic_timer_rearm(); /* deadline mode: the next tick */
		timer_tick();
		return;
	case IRQ_CALL_VECTOR:
		smp_call_handle(); /* runs the request, interrupts off */
		lapic_eoi();
		return;
	case IRQ_SPURIOUS_VECTOR:
		return; /* no EOI for a spurious LAPIC interrupt */
	default:
		if (irq_handlers[tf->vector]) {
			irq_handlers[tf->vector]();
			lapic_eoi();
			return;
		}
		if (tf->vector >= IRQ_PIC_BASE && tf->vector < IRQ_PIC_BASE + IRQ_PIC_LINES) {
			/* The PIC is masked; only its spurious IRQ 7/15 can
			 * arrive, and those take no EOI either. */
			return;
		}
		kprintf("unexpected interrupt vector %llu\n", (unsigned long long)tf->vector);
		lapic_eoi();
	}
}
