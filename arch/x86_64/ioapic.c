/*
 * ioapic.c - the I/O APICs the MADT lists: each mapped uncached (like the
 * LAPIC), its version and redirection entry count read, every entry masked
 * at init; and routing an ISA IRQ to a vector on the boot CPU's LAPIC. An
 * ISA IRQ reaches GSI = IRQ, active high, edge triggered, unless the MADT
 * has an interrupt source override for it (QEMU: IRQ 0 -> GSI 2; firmware
 * on real boards often makes the SCI, IRQ 9, level triggered active low).
 * The 8259s stay masked (pic_disable), so an IRQ arrives only through a
 * redirection entry routed here.
 *
 * Registers are reached through an index/data pair (IOREGSEL, IOWIN): each
 * access is the pair, done with interrupts off. One CPU runs the kernel, so
 * that is all the exclusion the pair needs.
 */
#include "arch/x86_64/x86.h"

#define IOAPIC_REGSEL 0x00 /* byte offsets of the two MMIO registers */
#define IOAPIC_WINDOW 0x10
#define IOAPIC_MMIO_LEN 0x20
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_REDIR 0x10 /* entry n: low dword at 0x10+2n, high at +1 */
#define IOAPIC_VERSION_MASK 0xff
#define IOAPIC_MAX_ENTRY_SHIFT 16 /* version register: entries - 1 */
#define IOAPIC_MAX_ENTRY_MASK 0xff
#define IOAPIC_DEST_SHIFT 56      /* physical destination: the APIC id */

/* MPS INTI flags of an interrupt source override (ACPI 6.x, 5.2.12.5). */
#define INTI_POLARITY_MASK 0x3
#define INTI_POLARITY_HIGH 0x1
#define INTI_POLARITY_LOW 0x3
#define INTI_TRIGGER_SHIFT 2
#define INTI_TRIGGER_MASK 0x3
#define INTI_TRIGGER_EDGE 0x1
#define INTI_TRIGGER_LEVEL 0x3
#define ISA_BUS 0

typedef struct ioapic_chip {
	volatile uint32_t *regs; /* NULL: could not be mapped */
	uint8_t id, version;
	uint32_t gsi_base, entries;
} ioapic_chip;

static ioapic_chip chips[ACPI_MAX_IOAPICS];
static size_t chip_count;

static uint32_t chip_read(const ioapic_chip *c, uint32_t reg)
{
	c->regs[IOAPIC_REGSEL / 4] = reg;
	return c->regs[IOAPIC_WINDOW / 4];
}

static void chip_write(const ioapic_chip *c, uint32_t reg, uint32_t v)
{
	c->regs[IOAPIC_REGSEL / 4] = reg;
	c->regs[IOAPIC_WINDOW / 4] = v;
}

static void chip_write_entry(const ioapic_chip *c, uint32_t pin, uint64_t e)
{
	/* Mask first, destination next, the low half (vector, unmask) last:
	 * the entry is never live half written. */
	chip_write(c, IOAPIC_REG_REDIR + 2 * pin, IOAPIC_REDIR_MASKED);
	chip_write(c, IOAPIC_REG_REDIR + 2 * pin + 1, (uint32_t)(e >> 32));
	chip_write(c, IOAPIC_REG_REDIR + 2 * pin, (uint32_t)e);
}

static uint64_t chip_read_entry(const ioapic_chip *c, uint32_t pin)
{
	uint64_t lo = chip_read(c, IOAPIC_REG_REDIR + 2 * pin);
	return lo | (uint64_t)chip_read(c, IOAPIC_REG_REDIR + 2 * pin + 1) << 32;
}

static ioapic_chip *chip_for_gsi(uint32_t gsi, uint32_t *pin)
{
	for (size_t i = 0; i < chip_count; i++) {
		ioapic_chip *c = &chips[i];
		if (c->regs && gsi >= c->gsi_base && gsi - c->gsi_base < c->entries) {
			*pin = gsi - c->gsi_base;
			return c;
		}
	}
	return NULL;
}

void ioapic_init(void)
{
	const acpi_platform *pf = &acpi_boot_platform;
	chip_count = 0;
	if (pf->ioapic_count == 0) {
		kprintf("ioapic: the MADT lists no I/O APIC; no device interrupts\n");
		return;
	}
	arch_irqflags_t flags = arch_irq_save();
	for (size_t i = 0; i < pf->ioapic_count; i++) {
		ioapic_chip *c = &chips[chip_count++];
		*c = (ioapic_chip){ .id = pf->ioapics[i].id, .gsi_base = pf->ioapics[i].gsi_base };
		c->regs = vmm_map_mmio(pf->ioapics[i].addr, IOAPIC_MMIO_LEN);
		if (!c->regs) {
			kprintf("ioapic: cannot map I/O APIC %u at 0x%x; its GSIs are not served\n",
				c->id, pf->ioapics[i].addr);
			continue;
		}
		uint32_t v = chip_read(c, IOAPIC_REG_VERSION);
		c->version = (uint8_t)(v & IOAPIC_VERSION_MASK);
		c->entries = ((v >> IOAPIC_MAX_ENTRY_SHIFT) & IOAPIC_MAX_ENTRY_MASK) + 1;
		for (uint32_t pin = 0; pin < c->entries; pin++)
			chip_write_entry(c, pin, IOAPIC_REDIR_MASKED);
		kprintf("ioapic: id %u at 0x%x, version 0x%x, GSIs %u-%u, all masked\n", c->id,
			pf->ioapics[i].addr, c->version, c->gsi_base, c->gsi_base + c->entries - 1);
	}
	arch_irq_restore(flags);
}

bool ioapic_isa_to_gsi(const acpi_platform *pf, unsigned isa_irq, ioapic_gsi_route *out)
{
	if (isa_irq >= IRQ_PIC_LINES)
		return false;
	*out = (ioapic_gsi_route){ .gsi = isa_irq, .active_low = false, .level = false };
	for (size_t i = 0; i < pf->override_count; i++) {
		const acpi_override *o = &pf->overrides[i];
		if (o->bus != ISA_BUS || o->irq != isa_irq)
			continue;
		out->gsi = o->gsi;
		/* "Conforms to the bus" (0) and reserved (2) keep ISA's
		 * active high, edge. */
		out->active_low = (o->flags & INTI_POLARITY_MASK) == INTI_POLARITY_LOW;
		out->level = ((o->flags >> INTI_TRIGGER_SHIFT) & INTI_TRIGGER_MASK) ==
			     INTI_TRIGGER_LEVEL;
		break;
	}
	return true;
}

uint64_t ioapic_entry_for(uint8_t vector, bool active_low, bool level, uint32_t apic_id)
{
	/* Fixed delivery, physical destination, unmasked. */
	return vector | (active_low ? IOAPIC_REDIR_ACTIVE_LOW : 0) |
	       (level ? IOAPIC_REDIR_LEVEL : 0) | (uint64_t)(apic_id & 0xff) << IOAPIC_DEST_SHIFT;
}

bool ioapic_write_gsi(uint32_t gsi, uint64_t entry)
{
	uint32_t pin;
	ioapic_chip *c = chip_for_gsi(gsi, &pin);
	if (!c)
		return false;
	arch_irqflags_t flags = arch_irq_save();
	chip_write_entry(c, pin, entry);
	arch_irq_restore(flags);
	return true;
}

bool ioapic_read_gsi(uint32_t gsi, uint64_t *entry)
{
	uint32_t pin;
	ioapic_chip *c = chip_for_gsi(gsi, &pin);
	if (!c)
		return false;
	arch_irqflags_t flags = arch_irq_save();
	*entry = chip_read_entry(c, pin);
	arch_irq_restore(flags);
	return true;
}

bool ioapic_route_isa(unsigned isa_irq, uint8_t vector)
{
	ioapic_gsi_route r;
	if (!ioapic_isa_to_gsi(&acpi_boot_platform, isa_irq, &r)) {
		kprintf("ioapic: ISA IRQ %u does not exist (0-%u)\n", isa_irq, IRQ_PIC_LINES - 1);
		return false;
	}
	if (vector < VECTOR_EXCEPTIONS) {
		kprintf("ioapic: vector %u for ISA IRQ %u is an exception vector\n", vector,
			isa_irq);
		return false;
	}
	if (!ioapic_write_gsi(r.gsi, ioapic_entry_for(vector, r.active_low, r.level, lapic_id()))) {
		kprintf("ioapic: no I/O APIC serves GSI %u (ISA IRQ %u)\n", r.gsi, isa_irq);
		return false;
	}
	return true;
}

bool ioapic_mask_isa(unsigned isa_irq)
{
	ioapic_gsi_route r;
	return ioapic_isa_to_gsi(&acpi_boot_platform, isa_irq, &r) &&
	       ioapic_write_gsi(r.gsi, IOAPIC_REDIR_MASKED);
}

size_t ioapic_count(void) { return chip_count; }

uint32_t ioapic_gsi_count(void)
{
	uint32_t n = 0;
	for (size_t i = 0; i < chip_count; i++)
		if (chips[i].regs)
			n += chips[i].entries;
	return n;
}
