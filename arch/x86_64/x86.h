/*
 * arch/x86_64/x86.h - private to arch/x86_64 (and the x86-only tests in
 * tests/x86/): CPU access helpers, the boot information, the physical frame
 * allocator (pmm), page tables (vmm), interrupt plumbing and the address
 * space layout. Everything above arch/ uses arch/arch.h instead.
 *
 * Virtual address space (48-bit, 4-level paging):
 *   0x0000000000000000 - 0x00007fffffffffff  unused (lower half; the boot
 *                                            identity map is removed)
 *   0xffff800000000000 HHDM_BASE            all physical memory, 2 MiB pages
 *   0xffffc00000000000 HEAP_VA_BASE         arch_reserve() ranges (GC arena,
 *                                            task stacks), 4 KiB pages
 *   0xffffff0000000000 MMIO_VA_BASE         device registers (LAPIC), UC
 *   0xffffffff80000000 KERNEL_VMA           kernel image, W^X by section
 */
#pragma once

#include "arch/arch.h"
#include "lib/lib.h"

#define KERNEL_VMA 0xffffffff80000000UL
#define HHDM_BASE 0xffff800000000000UL
#define HHDM_SIZE (64UL << 40) /* 64 TiB of physical memory at most */
#define RESERVE_VA_BASE 0xffffc00000000000UL
#define RESERVE_VA_SIZE (16UL << 40)
#define MMIO_VA_BASE 0xffffff0000000000UL
#define MMIO_VA_SIZE (1UL << 30)

#define PAGE_SIZE ARCH_PAGE_SIZE
#define LARGE_PAGE_SIZE (2UL << 20)

static inline void *phys_to_virt(uint64_t phys) { return (void *)(HHDM_BASE + phys); }
static inline uint64_t virt_to_phys_hhdm(const void *v) { return (uint64_t)v - HHDM_BASE; }
static inline uint64_t kernel_virt_to_phys(const void *v) { return (uint64_t)v - KERNEL_VMA; }

/* ---- CPU access ------------------------------------------------------- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline uint64_t read_cr0(void) { uint64_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline uint64_t read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline uint64_t read_cr4(void) { uint64_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
static inline void invlpg(uintptr_t va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline uint64_t read_rflags(void)
{
	uint64_t v;
	__asm__ volatile("pushfq; popq %0" : "=r"(v));
	return v;
}
#define RFLAGS_IF (1UL << 9)
#define MSR_EFER 0xC0000080
#define EFER_NXE (1UL << 11)
#define CR0_WP (1UL << 16)

/* ---- boot information (boot_info.c) ----------------------------------- */
enum {
	MEMMAP_AVAILABLE = 1,
	MEMMAP_RESERVED = 2,
	MEMMAP_ACPI_RECLAIMABLE = 3,
	MEMMAP_ACPI_NVS = 4,
	MEMMAP_BAD = 5,
};
/* Multiboot2 framebuffer types. */
enum {
	BOOT_FRAMEBUFFER_INDEXED = 0,
	BOOT_FRAMEBUFFER_RGB = 1,
	BOOT_FRAMEBUFFER_EGA_TEXT = 2,
};
#define BOOT_MAX_MEMMAP 128
#define BOOT_MAX_MODULES 8
#define BOOT_INFO_MAX_SIZE (1u << 24)     /* a larger block is refused */
#define BOOT_EARLY_MAP_END (1UL << 32)    /* boot.S maps the first 4 GiB */
#define BOOT_RSDP_V1_SIZE 20  /* ACPI 1.0 RSDP */
#define BOOT_RSDP_V2_SIZE 36  /* ACPI 2.0+ XSDP */

typedef enum {
	BOOT_FIRMWARE_BIOS = 1,  /* no EFI tag from the loader */
	BOOT_FIRMWARE_UEFI = 2,  /* an EFI system table or EFI memory map tag */
} boot_firmware;

/* An ACPI RSDP exactly as the loader copied it (multiboot2 tag 14: the
 * 20-byte 1.0 RSDP; tag 15: the 36-byte 2.0+ XSDP). size = bytes kept
 * (the tag's payload, at most sizeof bytes); checksums are not checked
 * here: the ACPI code does that. */
typedef struct boot_rsdp {
	bool present;
	uint32_t size;
	uint8_t bytes[BOOT_RSDP_V2_SIZE];
} boot_rsdp;

typedef struct boot_memmap_entry {
	uint64_t base, length;
	uint32_t type;
} boot_memmap_entry;

typedef struct boot_module {
	uint64_t start, end; /* physical, [start, end) */
	char name[64];
} boot_module;

typedef struct boot_info {
	uint64_t info_phys, info_size; /* the multiboot2 structure itself */
	char loader_name[64];
	char cmdline[1024];
	bool cmdline_truncated;
	boot_memmap_entry memmap[BOOT_MAX_MEMMAP];
	size_t memmap_count;
	bool memmap_truncated;
	boot_module modules[BOOT_MAX_MODULES];
	size_t module_count;
	struct {
		bool present;
		uint64_t addr; /* physical */
		uint32_t pitch, width, height;
		uint8_t bpp, type; /* BOOT_FRAMEBUFFER_* */
		/* BOOT_FRAMEBUFFER_RGB: each channel's lowest bit and width */
		uint8_t red_pos, red_size, green_pos, green_size, blue_pos, blue_size;
	} framebuffer;
	/* The newer of rsdp_v1/rsdp_v2 (a summary for printing). */
	struct {
		int version; /* 0 = absent, 1 = ACPI 1.0 RSDP, 2 = 2.0+ XSDP */
		uint8_t bytes[36];
		uint64_t rsdt_or_xsdt_phys;
	} acpi;
	boot_rsdp rsdp_v1; /* tag 14 */
	boot_rsdp rsdp_v2; /* tag 15 */
	struct { /* tag 4: RAM below 1 MiB and from 1 MiB to the first hole */
		bool present;
		uint32_t lower_kib, upper_kib;
	} meminfo;
	struct { /* tag 12 (64-bit) or 11 (32-bit) */
		bool present;
		uint64_t phys;
	} efi_system_table;
	struct { /* tag 17: summarised; the descriptors stay in the block
		  * (reserved from pmm), read with boot_efi_descriptor */
		bool present;
		bool valid;    /* descriptor size >= 40 and dividing size */
		uint32_t size; /* bytes of descriptors */
		uint32_t descriptor_size, descriptor_version;
		uint64_t offset; /* of the first descriptor in the block */
		uint32_t count;
		/* pages (4 KiB) by what they are after ExitBootServices */
		uint64_t usable_pages;  /* loader, boot services, conventional */
		uint64_t runtime_pages; /* runtime services code and data */
		uint64_t acpi_pages;    /* ACPI reclaim and NVS */
		uint64_t mmio_pages;    /* MMIO and MMIO port space */
		uint64_t other_pages;   /* reserved, unusable, PAL, persistent */
	} efi_memmap;
	boot_firmware firmware;
} boot_info;

extern boot_info boot;

/* One UEFI memory descriptor (UEFI spec, EFI_MEMORY_DESCRIPTOR). */
typedef struct boot_efi_desc {
	uint32_t type; /* EfiConventionalMemory = 7, ... */
	uint64_t phys, pages, attribute;
} boot_efi_desc;
#define EFI_DESC_MIN_SIZE 40
/* Descriptor i of b's EFI memory map, read from the block at `block` (the
 * boot's: phys_to_virt(boot.info_phys)). False past the end or when the
 * tag was not valid. */
bool boot_efi_descriptor(const boot_info *b, const uint8_t *block, uint32_t i,
			 boot_efi_desc *out);
/* Whether the pages of an EFI memory type are free to use once boot
 * services have exited (loader, boot services, conventional memory). */
bool boot_efi_type_usable(uint32_t type);
/* Parses the multiboot2 information at info_phys (reachable through the
 * boot HHDM, so below BOOT_EARLY_MAP_END) into `boot`. Returns false with a
 * reason on a malformed structure. */
bool boot_info_parse(uint64_t info_phys, char *err, size_t errlen);
/* The same for a block at `base` (the tests build one in memory); info_phys
 * is only recorded. Clears *b first. */
bool boot_info_parse_block(boot_info *b, const uint8_t *base, uint64_t info_phys,
			   char *err, size_t errlen);
const char *boot_firmware_name(boot_firmware f);
void boot_info_print(void);
const char *memmap_type_name(uint32_t type);

/* ---- console (console.c) ---------------------------------------------- */
/* Finds the serial console: COM1 when a UART answers there, else the first
 * 16550-compatible PCI serial card (pci.c), else none. */
void serial_init(void);
/* The UART's I/O base the console uses; 0 = none. */
uint16_t serial_base(void);
/* One line saying which UART the console uses (for the boot log). */
void serial_print(void);
/* True when a 16550 answers at `base`: its line status is not the 0xff of
 * an empty port and its scratch register keeps what is written to it. */
bool uart_answers(uint16_t base);
/* The choice serial_init makes, with the probes passed in (the tests fake
 * them): COM1 when it answers; else the PCI card find_pci reports, when it
 * answers; else 0. *how says which ("COM1", "PCI", "none"). */
uint16_t serial_select(bool (*answers)(uint16_t base), bool (*find_pci)(uint16_t *base),
		       const char **how);

/* ---- PCI configuration space (pci.c) ----------------------------------- */
/* Configuration mechanism #1 (ports 0xcf8/0xcfc): every function of every
 * bus answers there on PCs, and it needs no mapping, so it works before pmm
 * and vmm. Not locked: used at boot and by the tests only, never from an
 * interrupt handler (an address/data pair must not be split). */
#define PCI_VENDOR_NONE 0xffff /* what an absent function reads */
#define PCI_CLASS_SERIAL 0x07
#define PCI_SUBCLASS_SERIAL_UART 0x00
#define PCI_PROGIF_16550 0x02
#define PCI_VENDOR_REDHAT 0x1b36
#define PCI_DEVICE_QEMU_SERIAL 0x0002
typedef struct pci_function {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	uint8_t class_code, subclass, prog_if, header_type;
} pci_function;
uint32_t pci_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset);
uint16_t pci_read16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset);
void pci_write16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset, uint16_t v);
/* Reads one function's identity; false when nothing answers there. */
bool pci_probe(uint8_t bus, uint8_t dev, uint8_t fn, pci_function *out);
/* Every present function of buses 0-255 (the first `max` stored in out);
 * returns how many there are. */
size_t pci_enumerate(pci_function *out, size_t max);
/* A 16550-compatible serial controller: class 07/00 prog-if 02, or QEMU's
 * pci-serial (1b36:0002). */
bool pci_is_16550(const pci_function *f);
/* The first 16550-compatible PCI serial card with an assigned I/O BAR0:
 * enables its I/O decoding and stores the base. False when there is none. */
bool pci_find_serial(uint16_t *io_base);
void vga_init(bool text_mode, uint64_t phys);
/* The VGA text screen (80x25 cells of character and attribute), written
 * by vga_text_put: any memory of that shape, for the tests. */
#define VGA_COLS 80
#define VGA_ROWS 25
typedef struct vga_text {
	volatile uint16_t *cells;
	unsigned row, col;
	int in_escape; /* 0, 1 after ESC, 2 inside ESC [ ... */
} vga_text;
void vga_text_init(vga_text *t, volatile uint16_t *cells);
void vga_text_put(vga_text *t, char c);
/* Starts the framebuffer console (needs pmm and vmm) and replays the boot
 * output so far onto it. */
void console_fb_start(void);
/* arch_exit before console_fb_start ran (a panic or a bad option early in
 * boot): starts the framebuffer console if vmm is up, so the reason is on
 * the screen too. Once only; never from inside the console's own start. */
void console_fb_start_on_exit(void);

/* Boot output kept for the framebuffer console until it starts: the last
 * CONSOLE_EARLY_SIZE bytes (a real UEFI memory map alone can fill 8 KiB).
 * The replay says how much was dropped from the front (whole lines). */
#define CONSOLE_EARLY_SIZE 16384
typedef struct console_early {
	char buf[CONSOLE_EARLY_SIZE];
	uint64_t total; /* bytes kept ever; the last CONSOLE_EARLY_SIZE remain */
} console_early;
void console_early_keep(console_early *e, const char *buf, size_t len);
void console_early_replay(const console_early *e, void (*write)(void *ctx, const char *, size_t),
			  void *ctx);

/* ---- GDT, TSS, IDT (gdt.c, idt.c) ------------------------------------- */
#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10
#define GDT_TSS 0x18
#define GDT_INDEX(selector) ((selector) >> 3) /* its slot: TI = 0, RPL = 0 */
/* Interrupt stack table slots of the TSS (0: stay on the current stack). */
enum { IST_NONE = 0, IST_DOUBLE_FAULT = 1, IST_NMI = 2, IST_MACHINE_CHECK = 3 };
#define IST_STACKS 3 /* the slots used, 1 .. IST_STACKS */
#define IST_STACK_SIZE (16 * 1024)
/* The 64-bit TSS (Intel SDM vol. 3A, 8.7): the IST stack tops matter. */
struct x86_tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
/* null, code, data, TSS (two slots: a 64-bit system descriptor) */
#define GDT_ENTRIES (GDT_INDEX(GDT_TSS) + 2)
/* One CPU's descriptor tables. */
typedef struct cpu_tables {
	uint64_t gdt[GDT_ENTRIES];
	struct x86_tss tss __attribute__((aligned(16)));
} cpu_tables;
/* Fills t (flat code and data, a TSS whose IST slots 1..IST_STACKS point at
 * ist_top[]) and loads it on this CPU: lgdt, CS/DS/ES/SS reloaded, ltr. */
void gdt_load(cpu_tables *t, const uint64_t ist_top[IST_STACKS]);
void gdt_init(void); /* the boot CPU's, with static IST stacks */
void idt_init(void);
void idt_load(void); /* the shared IDT on this CPU (an AP's start) */

/* Vectors (Intel SDM vol. 3A, table 6-1): 0-31 are the CPU's exceptions,
 * named here where the code treats one apart; the rest are interrupts. */
enum {
	VECTOR_NMI = 2,
	VECTOR_DOUBLE_FAULT = 8,
	VECTOR_PAGE_FAULT = 14,
	VECTOR_MACHINE_CHECK = 18,
	VECTOR_EXCEPTIONS = 32, /* vectors below this are exceptions */
	VECTOR_COUNT = 256,
};
#define IRQ_PIC_BASE 0x20      /* legacy PIC, remapped and masked */
#define IRQ_PIC_LINES 16       /* two cascaded 8259s of 8 lines each */
#define IRQ_TIMER_VECTOR 0x30  /* LAPIC timer */
#define IRQ_KEYBOARD_VECTOR 0x31 /* ISA IRQ 1 through the I/O APIC (i8042) */
#define IRQ_TEST_VECTOR 0x3f   /* the tests' own (tests/x86/ioapic_test.c) */
#define IRQ_CALL_VECTOR 0xf0   /* cross-CPU call IPI (smp.c: smp_call_start) */
#define IRQ_SPURIOUS_VECTOR 0xff

/* The register frame isr.S builds on every interrupt and exception, lowest
 * address first. Offsets are pinned in idt.c with _Static_assert. */
typedef struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
} trap_frame;

void trap_dispatch(trap_frame *tf); /* called from isr.S */
/* Device interrupts: fn runs for every interrupt on `vector` (interrupts
 * off), then the LAPIC gets its EOI. NULL removes the handler; a vector
 * below VECTOR_EXCEPTIONS, or IRQ_TIMER_VECTOR / IRQ_CALL_VECTOR /
 * IRQ_SPURIOUS_VECTOR (handled apart), is refused with a panic. An interrupt on a vector
 * without a handler is reported and acknowledged. */
void idt_set_irq_handler(uint8_t vector, void (*fn)(void));
/* Prints a trap frame: vector name, error code (decoded for #PF, with CR2),
 * every register and a backtrace from the interrupted frame. */
void trap_print(const trap_frame *tf, uint64_t cr2);

/* ---- arch_try support (isr.S) ----------------------------------------- */
typedef struct try_context {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags;
} try_context;
/* Returns 0 when saving; 1 when resumed by try_resume(). */
int try_save(try_context *ctx) __attribute__((returns_twice));
_Noreturn void try_resume(const try_context *ctx);

/* ---- interrupt controllers and time (ioapic.c, lapic.c, timer.c) ------ */
void pic_disable(void);
/* Maps and masks every I/O APIC of acpi_boot_platform (after acpi_init and
 * lapic_init). */
void ioapic_init(void);
/* Routes ISA IRQ isa_irq (after the MADT's interrupt source overrides: GSI, polarity, trigger) to vector on the boot CPU's LAPIC, unmasked. Returns false, with the reason printed, when no I/O APIC serves that GSI. */
bool ioapic_route_isa(unsigned isa_irq, uint8_t vector);
/* Masks ISA IRQ isa_irq's entry again; false as above, silently. */
bool ioapic_mask_isa(unsigned isa_irq);
struct acpi_platform; /* ACPI tables, below */
/* Where an ISA IRQ arrives: its GSI and the pin's electrical mode. */
typedef struct ioapic_gsi_route {
	uint32_t gsi;
	bool active_low, level; /* ISA's default: active high, edge */
} ioapic_gsi_route;
/* The translation alone, from pf's overrides; false for isa_irq > 15. */
bool ioapic_isa_to_gsi(const struct acpi_platform *pf, unsigned isa_irq, ioapic_gsi_route *out);
/* Redirection entry bits (82093AA datasheet, 3.2.4). */
#define IOAPIC_REDIR_ACTIVE_LOW (1u << 13)
#define IOAPIC_REDIR_LEVEL (1u << 15)
#define IOAPIC_REDIR_MASKED (1u << 16)
/* A fixed, physical-destination, unmasked entry. */
uint64_t ioapic_entry_for(uint8_t vector, bool active_low, bool level, uint32_t apic_id);
/* The raw redirection entry of a GSI; false when no I/O APIC serves it. */
bool ioapic_write_gsi(uint32_t gsi, uint64_t entry);
bool ioapic_read_gsi(uint32_t gsi, uint64_t *entry);
size_t ioapic_count(void);      /* I/O APICs found */
uint32_t ioapic_gsi_count(void); /* redirection entries over all of them */
void lapic_init(void);
/* xAPIC (MMIO) or x2APIC (MSRs): x2APIC only when CPUID.1:ECX[21] and the
 * firmware left IA32_APIC_BASE enabled with EXTD set (lapic.c). */
/* x2APIC when the CPU has it and it is allowed (x2apic=), or when the
 * firmware left it on (no way back short of disabling the APIC). */
bool lapic_choose_x2apic(uint32_t cpuid1_ecx, uint64_t apic_base, bool allowed);
bool lapic_is_x2apic(void);
uint32_t lapic_x2apic_msr(uint32_t reg); /* the MSR of MMIO offset reg */
void lapic_eoi(void);
uint32_t lapic_id(void);
/* An AP's own LAPIC: enabled (SVR) in the boot CPU's mode, TPR 0, its
 * timer masked. */
void lapic_init_ap(void);
/* The LVT LINTn value for an NMI line with MPS INTI flags (delivery NMI,
 * unmasked, polarity from the flags; NMIs are always edge-triggered). */
uint32_t lapic_nmi_lvt(uint16_t flags);
/* Programs this CPU's LINT0/LINT1 from the MADT's NMI entries for its uid
 * (or for every processor); returns how many it programmed. */
struct acpi_platform;
int lapic_program_nmis(const struct acpi_platform *pf);
uint32_t lapic_read_lint(int n); /* LVT LINT0 or LINT1, for the tests */
bool lapic_enabled(void);       /* this CPU's SVR enable bit */
uint32_t lapic_lvt_timer(void); /* this CPU's LVT timer register */
/* Interrupt command register (Intel SDM vol. 3A, 11.6.1), low half. */
#define LAPIC_ICR_INIT (5u << 8)
#define LAPIC_ICR_STARTUP (6u << 8)     /* | the vector: the page number */
#define LAPIC_ICR_PENDING (1u << 12)   /* delivery status (xAPIC only) */
#define LAPIC_ICR_ASSERT (1u << 14)    /* the Level bit */
#define LAPIC_ICR_LEVEL_TRIGGER (1u << 15)
/* The ICR as one 64-bit value: x2APIC puts the 32-bit destination in bits
 * 32-63, xAPIC its 8-bit one in bits 56-63 (ICR high bits 24-31). */
uint64_t lapic_icr_value(uint32_t apic_id, uint32_t low, bool x2apic);
/* Sends an IPI (ICR low = low) to apic_id; xAPIC polls the delivery
 * status at most max_cycles of the TSC before and after. False when it
 * stayed pending, or an id above 255 in xAPIC mode. */
bool lapic_send_ipi(uint32_t apic_id, uint32_t low, uint64_t max_cycles);
void lapic_timer_start(uint32_t hz);
void timer_init(void);       /* TSC + LAPIC timer calibration, tick on */
void timer_tick(void);       /* from the timer interrupt */
#define PIT_HZ 1193182UL
/* A clock's rate in Hz as an interval the true rate lies in (timer.c
 * explains how measurements under emulation get there). */
typedef struct timer_rate {
	uint64_t lo, hi;
} timer_rate;
/* (hi - lo) / hi in parts per million. */
uint64_t timer_rate_width_ppm(const timer_rate *r);
/* One reading of another clock's counter between two TSC reads: the
 * counter had `count` at some instant in [tsc_before, tsc_after]. */
typedef struct clock_reading {
	uint64_t tsc_before, tsc_after;
	uint64_t count;
} clock_reading;
/* The narrowest bracket of a few calls of read(). */
clock_reading clock_read_bracketed(uint64_t (*read)(void));
/* The TSC rate measured over one ~30 ms window of PIT channel 2 (interrupts
 * off meanwhile). NULL on success, else why not (the PIT does not count,
 * or the window ran past the one-shot's end). */
const char *pit_measure_tsc_hz(timer_rate *out);
/* "cpuid 0x15", "hpet", "pmtimer", "pit", "cpuid 0x16" */
const char *timer_tsc_source(void);
const char *timer_clocksource_option(void); /* clocksource=: "auto", ... */
/* The platform summary's calibration lines: the source, why the ones
 * before it were passed over. */
void timer_print_calibration(void);
/* An up-counting hardware counter the TSC can be measured against. */
typedef struct timer_counter {
	const char *name;                          /* "hpet", "pmtimer" */
	uint64_t (*read)(const struct timer_counter *c); /* masked to the width */
	volatile void *regs;                       /* HPET registers */
	uint16_t port;                             /* PM timer port */
	uint64_t hz;                               /* counts per second */
	uint64_t mask;                             /* 2^width - 1 */
	const char *dead;                          /* "... does not advance" */
} timer_counter;
/* The TSC rate over one ~30 ms window of c, as counter_measure_tsc_hz
 * for the PIT: NULL, or c->dead when the counter does not move (after a
 * bounded number of reads), or another reason. */
const char *counter_measure_tsc_hz(const timer_counter *c, timer_rate *out);
/* The HPET whose registers are at regs (mapped): validates the period,
 * sets the enable bit if it was clear (*started). NULL or why not. */
const char *hpet_counter_open(volatile void *regs, timer_counter *out, bool *started);
/* The boot platform's HPET (mapped on first use) and PM timer. */
const char *timer_counter_hpet(timer_counter *out);
const char *timer_counter_pmtimer(timer_counter *out);
void timer_counter_pmtimer_at(uint16_t port, bool is_32bit, timer_counter *out);
/* The TSC rate the clock was calibrated with (arch_cycles_per_sec() is
 * its middle). From CPUID: the nominal rate +-0.1%. */
timer_rate timer_tsc_rate(void);
uint64_t timer_lapic_hz(void);
/* The LAPIC timer's rate (divide by 16) measured again against the TSC
 * over ~20 ms, its periodic tick stopped meanwhile and then restarted. */
bool lapic_timer_measure(timer_rate *out);
/* The LAPIC timer as programmed, read back from its registers, and when. */
typedef enum { LAPIC_TICK_PERIODIC, LAPIC_TICK_DEADLINE } lapic_tick_mode;
/* lapic_timer= against the CPU: the mode, or why not (NULL when chosen). */
const char *lapic_choose_tick_mode(const char *option, bool has_deadline, lapic_tick_mode *out);
/* The deadline after last, one period on, or now + period when that has
 * passed already (*late: ticks are dropped, never bunched up). */
uint64_t lapic_deadline_next(uint64_t last, uint64_t period, uint64_t now, bool *late);
void lapic_timer_rearm(void); /* the tick: arm the next deadline (deadline mode) */
lapic_tick_mode lapic_timer_mode(void);
void lapic_timer_describe(char *buf, size_t len); /* "TSC-deadline timer, ..." */
typedef struct lapic_timer_state {
	uint32_t lvt;            /* LVT timer register: mode, mask, vector */
	uint32_t divide;         /* divide configuration register */
	uint32_t initial_count;  /* the period in timer counts */
	timer_rate rate;         /* the calibration: counts per second */
	uint64_t loaded_tsc;     /* TSC just before the count was loaded */
	uint64_t loaded_ticks;   /* arch_ticks() then */
	lapic_tick_mode mode;
	uint64_t deadline_period; /* deadline mode: TSC cycles a tick */
} lapic_timer_state;
void lapic_timer_read_state(lapic_timer_state *out);
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_TIMER_PERIODIC (1u << 17)
#define LAPIC_TIMER_DEADLINE_MODE (2u << 17)
#define LAPIC_TIMER_MODE_MASK (3u << 17)
#define LAPIC_DIVIDE_16 0x3

/* ---- physical frames (pmm.c) ------------------------------------------ */
typedef enum {
	PMM_OK = 0,
	PMM_ERR_DOUBLE_FREE,   /* the frame is already free */
	PMM_ERR_NOT_MANAGED,   /* never handed out: reserved, or not RAM */
	PMM_ERR_UNALIGNED,     /* not a frame address */
} pmm_status;

void pmm_init(void);
/* One zeroed-or-not frame, physical address; 0 when none is left. */
uint64_t pmm_alloc(void);
/* `count` contiguous frames aligned to `align` frames; 0 when none. */
uint64_t pmm_alloc_run(size_t count, size_t align);
/* Frees `count` frames from phys. On misuse nothing is freed, the problem
 * is printed and returned. */
pmm_status pmm_free_run(uint64_t phys, size_t count);
pmm_status pmm_free(uint64_t phys);
const char *pmm_status_name(pmm_status s);
size_t pmm_free_count(void);
size_t pmm_total_count(void);  /* frames managed (usable RAM minus reserved) */
uint64_t pmm_max_phys(void);   /* end of the highest usable RAM */
/* True when [phys, phys+len) overlaps memory pmm must never hand out. */
bool pmm_is_reserved_range(uint64_t phys, uint64_t len);
bool pmm_is_allocated(uint64_t phys);

/* ---- page tables (vmm.c) ---------------------------------------------- */
enum {
	VMM_WRITE = 1 << 0,
	VMM_EXEC = 1 << 1,
	VMM_UNCACHED = 1 << 2,
	/* Writes are buffered and combined, reads uncached (PAT entry 4,
	 * which vmm_init sets to WC); for framebuffers. Where the CPU has no
	 * PAT it falls back to uncached and vmm_flags says VMM_UNCACHED. */
	VMM_WRITE_COMBINING = 1 << 3,
};
void vmm_init(void);
uint64_t vmm_kernel_cr3(void); /* the kernel PML4's physical address */
/* An AP's share of vmm_init: its PAT like the boot CPU's, CR0.WP. */
void vmm_init_ap(void);
/* Maps the 4 KiB page va -> phys with VMM_* flags (read is implied). Fails
 * when va is already mapped or a table frame cannot be had. */
bool vmm_map(uintptr_t va, uint64_t phys, unsigned flags);
/* Unmaps va and returns the frame it mapped (0 if none). */
uint64_t vmm_unmap(uintptr_t va);
bool vmm_protect(uintptr_t va, unsigned flags);
/* Physical address behind va (any page size); false when unmapped. */
bool vmm_translate(uintptr_t va, uint64_t *phys);
/* The leaf entry's flags for va, as VMM_*; -1 when unmapped. */
int vmm_flags(uintptr_t va);
/* Maps device registers (uncached, NX) and returns their virtual address. */
bool vmm_ready(void); /* vmm_init has finished */
void *vmm_map_mmio(uint64_t phys, size_t len);
/* Maps a framebuffer (write-combining, NX) into the MMIO range. */
void *vmm_map_framebuffer(uint64_t phys, size_t len);
/* True when [va, va+len) is mapped readable (backtraces use it). */
bool vmm_is_readable(uintptr_t va, size_t len);

/* ---- ACPI tables (acpi.c) --------------------------------------------- */
#define ACPI_TABLE_MAX (4u << 20)  /* a longer table is taken as corrupt */
#define ACPI_MAX_ROOT_ENTRIES 64
#define ACPI_MAX_TABLES 32
#define ACPI_MAX_CPUS 256
#define ACPI_MAX_IOAPICS 16
#define ACPI_MAX_OVERRIDES 24
#define ACPI_MAX_NMIS 16
#define ACPI_MAX_PROBLEMS 8
#define ACPI_PROBLEM_LEN 128
enum { ACPI_UNKNOWN = -1, ACPI_NO = 0, ACPI_YES = 1 };

/* How the parser reads physical memory: a readable view of [phys,
 * phys+len), or NULL when that cannot be had. The boot accessor uses the
 * direct map (or maps); the tests map addresses into their own buffers. */
typedef struct acpi_memory {
	const void *(*map)(void *ctx, uint64_t phys, size_t len);
	void *ctx;
} acpi_memory;

typedef struct acpi_cpu {
	uint32_t apic_id, uid;   /* uid: the ACPI processor uid */
	bool enabled;            /* usable now */
	bool online_capable;     /* disabled, but may be brought online */
	bool x2apic;             /* from an x2APIC entry (type 9) */
} acpi_cpu;
typedef struct acpi_ioapic {
	uint8_t id;
	uint32_t addr, gsi_base;
} acpi_ioapic;
/* ISA IRQ `irq` arrives at global system interrupt `gsi`; flags: MPS INTI
 * polarity (bits 0-1) and trigger mode (bits 2-3). */
typedef struct acpi_override {
	uint8_t bus, irq;
	uint32_t gsi;
	uint16_t flags;
} acpi_override;
#define ACPI_NMI_ALL_CPUS 0xffffffffu
/* The NMI line of a LAPIC (MADT types 4 and 10): LINT0 or LINT1; flags:
 * MPS INTI polarity (bits 0-1) and trigger (2-3), as for overrides. */
typedef struct acpi_lapic_nmi {
	uint32_t uid; /* the ACPI processor uid, or ACPI_NMI_ALL_CPUS */
	uint16_t flags;
	uint8_t lint;
} acpi_lapic_nmi;

/* What the tables say, only from tables whose checksum and length held. */
typedef struct acpi_platform {
	bool found;              /* an RSDP and a valid root table */
	const char *rsdp_source; /* "multiboot2 tag 15", "the EBDA scan", ... */
	uint8_t rsdp_revision;   /* 0: ACPI 1.0, 2: 2.0+ */
	bool root_is_xsdt;
	uint64_t root_phys;
	char tables[ACPI_MAX_TABLES][5]; /* signatures, in order, of the tables whose
					  * length and checksum held */
	size_t table_count;
	bool madt, lapic_addr_overridden, pcat_compat;
	uint64_t lapic_addr;
	acpi_cpu cpus[ACPI_MAX_CPUS];
	size_t cpu_count, cpus_dropped; /* dropped: beyond ACPI_MAX_CPUS */
	acpi_ioapic ioapics[ACPI_MAX_IOAPICS];
	size_t ioapic_count;
	acpi_override overrides[ACPI_MAX_OVERRIDES];
	size_t override_count;
	acpi_lapic_nmi nmis[ACPI_MAX_NMIS];
	size_t nmi_count;
	bool hpet;
	uint64_t hpet_addr;
	uint32_t hpet_block_id;
	uint8_t hpet_number;
	uint16_t hpet_min_tick;
	bool fadt;
	uint8_t fadt_revision;
	uint32_t pm_timer_port;  /* 0: none */
	bool pm_timer_32bit;
	int has_8042;            /* ACPI_YES/NO, or ACPI_UNKNOWN before FADT rev 3 */
	/* Every table or entry rejected, named; problems_dropped beyond these. */
	char problems[ACPI_MAX_PROBLEMS][ACPI_PROBLEM_LEN];
	size_t problem_count, problems_dropped;
} acpi_platform;

extern acpi_platform acpi_boot_platform; /* filled by acpi_init() */
/* Parses from the RSDP bytes (a copy or a mapping, rsdp_len of them);
 * `source` names where they came from. False when no root table held. */
bool acpi_parse(const acpi_memory *mem, const uint8_t *rsdp, size_t rsdp_len,
		const char *source, acpi_platform *pf);
/* The first RSDP (signature and checksum) on a 16-byte boundary in
 * [lo, hi); 0 if none. */
uint64_t acpi_scan_rsdp(const acpi_memory *mem, uint64_t lo, uint64_t hi);
/* Fills acpi_boot_platform (after vmm_init): from the multiboot2 tag's
 * RSDP, else from the BIOS scan; a bad tag is named among the problems. */
void acpi_init(void);
void acpi_print(const acpi_platform *pf);

/* ---- PS/2 keyboard (i8042.c) ----------------------------------------- */
/* What one scan code byte does (kbd_translate). */
typedef enum {
	KBD_NONE = 0,          /* a prefix, a release, a modifier or an unknown code */
	KBD_BYTES,             /* bytes for the console reader: len of them */
	KBD_SCROLL_BACK,       /* Shift+PgUp: the framebuffer console's scrollback */
	KBD_SCROLL_FORWARD,    /* Shift+PgDn */
} kbd_action;
#define KBD_SEQ_MAX 4 /* the longest key sequence: ESC [ 5 ~ */
typedef struct kbd_event {
	kbd_action action;
	uint8_t len;                 /* KBD_BYTES: bytes[0 .. len) */
	char bytes[KBD_SEQ_MAX];
} kbd_event;
/* The translator's state between bytes: modifiers held, caps lock, and
 * where a multi-byte code stands. prefix is 0 or 0xe0; skip counts the
 * bytes of a 0xe1 (Pause) sequence still to swallow. */
typedef struct kbd_state {
	bool lshift, rshift, lctrl, rctrl;
	bool caps, caps_held;  /* caps lock on; its key down (repeats do not toggle) */
	uint8_t prefix, skip;
} kbd_state;
/* Scan code set 1 (what the controller's translation delivers), US layout:
 * one byte in, what it means out. Pure: no hardware, no globals. */
kbd_event kbd_translate(kbd_state *s, uint8_t code);

/* The keyboard's bytes on their way to arch_console_getc: a ring written
 * by one producer (the interrupt handler) and read by one consumer (the
 * console reader), without locks or allocation. Invariants: tail <= head,
 * head - tail <= KBD_RING_SIZE (free-running counters); head is written
 * only by the producer (release), tail only by the consumer (release);
 * dropped (bytes refused because the ring was full) only by the producer. */
#define KBD_RING_SIZE 64
typedef struct kbd_ring {
	uint8_t buf[KBD_RING_SIZE];
	uint32_t head, tail;
	uint32_t dropped;
} kbd_ring;
/* Puts all n bytes or none (a key's sequence is never split); false and
 * dropped += n when they do not fit. */
bool kbd_ring_put(kbd_ring *r, const char *bytes, size_t n);
int kbd_ring_get(kbd_ring *r); /* the oldest byte, or -1 */
size_t kbd_ring_count(const kbd_ring *r);

/* One scan code byte through the translator into the ring; Shift+PgUp/PgDn
 * scroll fb (may be NULL) instead, and any key that yields bytes returns
 * fb's view to the live screen. */
struct fbcon;
void kbd_feed(kbd_state *s, kbd_ring *r, struct fbcon *fb, uint8_t code);

/* The controller's two ports as the setup sees them; the boot uses inb and
 * outb, the tests a simulated controller. */
typedef struct i8042_io {
	uint8_t (*in)(void *ctx, uint16_t port);
	void (*out)(void *ctx, uint16_t port, uint8_t value);
	void *ctx;
} i8042_io;
#define I8042_DATA 0x60
#define I8042_STATUS 0x64  /* read */
#define I8042_COMMAND 0x64 /* write */
#define I8042_ABSENT 0xff  /* what the status port reads with no controller */
/* Polls of the status register one wait may take (real hardware: about
 * 1 us each) before the controller counts as not answering. */
#define I8042_WAIT_POLLS 200000
#define I8042_FLUSH_MAX 32 /* stale output bytes thrown away at most */
/* Controller configuration byte bits. */
#define I8042_CFG_KBD_IRQ 0x01
#define I8042_CFG_AUX_IRQ 0x02
#define I8042_CFG_KBD_CLOCK_OFF 0x10
#define I8042_CFG_AUX_CLOCK_OFF 0x20
#define I8042_CFG_TRANSLATE 0x40
/* Brings the controller up: port 1 on with its interrupt and scan code
 * translation (set 1), port 2 off. True when ready (*config: the byte
 * written); false with the reason in why when has_8042 (ACPI_*) says there
 * is none, or the controller does not answer in bounded waits. */
bool i8042_setup(const i8042_io *io, int has_8042, uint8_t *config, char *why, size_t whylen);
/* Boot: sets up the machine's controller and hooks IRQ 1; one line says
 * what happened. */
void i8042_init(void);
bool i8042_present(void);
const char *i8042_skip_reason(void); /* why not present; "" when present */
/* Drains the controller's output buffer into the ring (the interrupt
 * handler; interrupts off). */
void i8042_poll(void);
/* From timer_tick: polls when IRQ 1 could not be routed. */
void i8042_tick(void);
int i8042_getc(void);            /* the oldest keyboard byte, or -1 */
uint32_t i8042_dropped(void);    /* bytes lost to a full ring */

/* ---- symbols (symbols.c) ---------------------------------------------- */
extern char __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __data_end[], __bss_start[], __bss_end[];
extern char __kstacks_start[], __kstacks_end[], __ksyms_start[], __ksyms_end[];
extern char __kernel_phys_start[], __kernel_phys_end[], __kernel_end[];
extern char boot_stack_guard[], boot_stack_bottom[], boot_stack_top[];
size_t backtrace_from(uintptr_t rbp, uintptr_t *pcs, size_t max);
void kmain(uint32_t magic, uint32_t info_phys);

/* ---- CPUs (smp.c, trampoline.S) --------------------------------------- */
/* Per-CPU blocks; MADT CPUs beyond: skipped. No more than the arch's
 * per-CPU structures (spinlock debug stacks, mcaches) are sized for. */
#define SMP_MAX_CPUS ARCH_MAX_CPUS
/* How long the boot waits for each AP to report online (smp.c: generous,
 * as under QEMU TCG a vCPU thread can wait long for a host core). */
#define SMP_BOOT_WAIT_MS 10000
#define SMP_AP_STACK_SIZE (16 * 1024)
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
/* One CPU's block, reached through its GS base (arch_cpu_index() reads
 * %gs:index). Invariants: self == the block's own address; index is dense
 * (0 = the boot CPU, then in the order the APs came online); a block
 * below smp_online_count() belongs to a CPU that is online for good. The
 * AP fills seen_* from its own GS base and LAPIC before it sets online;
 * nothing else in the block changes after that but current_task and
 * preempt_count, which are that CPU's alone, `running`, and the call_*
 * handshake (smp.c, next to smp_call_start). */
typedef struct percpu {
	struct percpu *self;     /* %gs:0 */
	uint32_t index;          /* %gs:ARCH_PERCPU_INDEX: arch_cpu_id() */
	uint32_t apic_id;        /* the MADT's */
	/* %gs:ARCH_PERCPU_RUNNING: arch_current_context(). The boot CPU:
	 * the task's (arch_context_switch); an AP: its idle_context. */
	arch_context *running;
	arch_context idle_context; /* an AP's identity as a lock owner */
	/* The cross-CPU call (smp.c). call_fn/call_arg and call_seq are
	 * written by the caller (CPU 0) only, call_done by this CPU only;
	 * call_claimed: a call is in flight (caller's). */
	void (*call_fn)(void *);
	void *call_arg;
	uint64_t call_seq;       /* the last request published (release) */
	uint64_t call_done;      /* the last request finished (release) */
	uint32_t call_claimed;
	uint64_t calls_handled;  /* by this CPU: requests run */
	uint64_t call_ipis;      /* by this CPU: call IPIs taken */
	void *current_task;      /* reserved for the scheduler: unused yet */
	int64_t preempt_count;   /* reserved for the scheduler: unused yet */
	/* What the AP read through %gs and its LAPIC once it ran. */
	struct percpu *seen_self;
	uint32_t seen_index, seen_apic_id;
	bool lapic_enabled_seen; /* its SVR enable bit read back set */
	uint32_t lvt_timer_seen; /* its LVT timer register (masked) */
	volatile uint32_t online; /* set last by the AP (release) */
	uint64_t start_ns;       /* INIT to online, as the boot CPU saw it */
	uint64_t stacks_phys;    /* stack + IST stacks, from pmm; 0: none yet */
	cpu_tables tables;
} percpu;
extern percpu percpu_blocks[SMP_MAX_CPUS];
uint32_t smp_online_count(void);

/* The boot CPU's block (index 0) and GS base: right after gdt_init. */
void smp_boot_cpu_init(void);
/* What one start attempt did, for the boot line, the platform summary
 * and the tests. */
#define SMP_MAX_SKIPPED 16
typedef struct smp_skip {
	uint32_t apic_id;
	const char *why;
} smp_skip;
typedef struct smp_report {
	size_t started;             /* APs brought online by this call */
	size_t already;             /* the boot CPU and APs online before */
	smp_skip skipped[SMP_MAX_SKIPPED];
	size_t skipped_count, skipped_dropped;
	uint64_t wait_ns;           /* the bound on each AP's answer */
	uint64_t slowest_ns;        /* the longest INIT-to-online of those started */
	uint64_t trampoline_phys;   /* 0: none could be placed */
} smp_report;
/* Starts every enabled CPU pf lists, not yet online, until `limit` CPUs are
 * online (the boot CPU counts): INIT, 10 ms, SIPI, 200 us, SIPI, then at
 * most wait_ns for the AP to report online; one that does not is sent
 * INIT again (parked), reported by APIC id and skipped. The APs then idle
 * with interrupts off. Boot CPU, interrupts may be on. */
void smp_start_cpus(const acpi_platform *pf, size_t limit, uint64_t wait_ns, smp_report *rep);
/* Boot: smp_start_cpus over acpi_boot_platform with cpus= and the boot
 * wait bound; prints the "smp:" line. After timer_init. */
void smp_init(void);
const smp_report *smp_boot_report(void);
size_t smp_cpus_option(void); /* cpus= (ACPI_MAX_CPUS when not given) */
void smp_print(void); /* the platform summary's CPU lines */
/* The cross-CPU call (smp.c has the handshake): runs fn(arg) on online CPU
 * `cpu` in its call-IPI handler, interrupts off. Only CPU 0 calls, to
 * another CPU, one call in flight per target. smp_call_start publishes the
 * request and sends IRQ_CALL_VECTOR; smp_call_wait waits at most
 * timeout_ns for the target to mark it done; smp_call_on is both. False
 * with the reason in why: refused (not online, the calling CPU, not from
 * CPU 0, a call still in flight: nothing sent), the IPI not delivered, or
 * the timeout (the CPU, its APIC id and the request named; the call stays
 * in flight, so later calls to that CPU are refused). */
bool smp_call_start(unsigned cpu, void (*fn)(void *), void *arg, char *why, size_t whylen);
bool smp_call_wait(unsigned cpu, uint64_t timeout_ns, char *why, size_t whylen);
bool smp_call_on(unsigned cpu, void (*fn)(void *), void *arg, uint64_t timeout_ns, char *why,
		 size_t whylen);
void smp_call_handle(void); /* the IRQ_CALL_VECTOR handler (idt.c) */
/* A physical range [start, end). */
typedef struct phys_range {
	uint64_t start, end;
} phys_range;
/* The trampoline page: the highest 4 KiB page below 1 MiB inside an
 * available memory-map entry (and no other entry), not page 0 and
 * overlapping none of avoid[]. 0 when there is none. */
uint64_t smp_choose_trampoline(const boot_memmap_entry *map, size_t n, const phys_range *avoid,
			       size_t navoid);
uint64_t smp_trampoline_phys(void); /* the boot's choice; 0 = none */
/* The ranges the boot's choice avoided: boot information, EBDA ... */
size_t smp_trampoline_avoided(phys_range *out, size_t max);
extern const char smp_trampoline_start[], smp_trampoline_end[];
