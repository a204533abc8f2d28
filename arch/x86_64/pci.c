/*
 * pci.c - PCI configuration space through mechanism #1 (address to port
 * 0xcf8, data at 0xcfc) and a brute-force walk of it: every device and
 * function number of buses 0-255 (8192 vendor reads, more for multi-function
 * devices; bounded, and needs no knowledge of bridges, which firmware has
 * already numbered). Its one user at boot is the serial console: a machine
 * with no UART at COM1 (legacy-free PCs, QEMU's `-serial none`) may have a
 * 16550-compatible PCI card, found here, whose I/O BAR0 the console then
 * drives (console.c). Nothing here allocates or needs pmm/vmm, so it runs
 * before the first kprintf.
 */
#include "arch/x86_64/x86.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_ENABLE 0x80000000u
#define PCI_BUSES 256
#define PCI_DEVICES 32
#define PCI_FUNCTIONS 8
#define PCI_ID 0x00      /* vendor (low 16 bits), device (high 16 bits) */
#define PCI_COMMAND 0x04
#define PCI_CLASS 0x08   /* revision, prog-if, subclass, class (low to high) */
#define PCI_HEADER 0x0c  /* header type in bits 16-23 */
#define PCI_BAR0 0x10
#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_HEADER_TYPE_MASK 0x7f
#define PCI_HEADER_GENERAL 0x00 /* the type with six BARs at 0x10 */
#define PCI_COMMAND_IO 0x0001
#define PCI_BAR_IO 0x1
#define PCI_BAR_IO_MASK 0xfffffffcu

static uint32_t address(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset)
{
	return PCI_ENABLE | (uint32_t)bus << 16 | (uint32_t)(dev & 31) << 11 |
	       (uint32_t)(fn & 7) << 8 | (offset & 0xfc);
}

uint32_t pci_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset)
{
	outl(PCI_CONFIG_ADDRESS, address(bus, dev, fn, offset));
	return inl(PCI_CONFIG_DATA);
}

uint16_t pci_read16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset)
{
	return (uint16_t)(pci_read32(bus, dev, fn, offset) >> ((offset & 2) * 8));
}

void pci_write16(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t offset, uint16_t v)
{
	/* Read-modify-write of the dword: mechanism #1 addresses dwords. */
	uint32_t shift = (offset & 2) * 8;
	uint32_t old = pci_read32(bus, dev, fn, offset);
	uint32_t val = (old & ~(0xffffu << shift)) | (uint32_t)v << shift;
	outl(PCI_CONFIG_ADDRESS, address(bus, dev, fn, offset));
	outl(PCI_CONFIG_DATA, val);
}

bool pci_probe(uint8_t bus, uint8_t dev, uint8_t fn, pci_function *out)
{
	uint32_t id = pci_read32(bus, dev, fn, PCI_ID);
	if ((id & 0xffff) == PCI_VENDOR_NONE)
		return false;
	uint32_t cls = pci_read32(bus, dev, fn, PCI_CLASS);
	*out = (pci_function){
		.bus = bus, .dev = dev, .fn = fn,
		.vendor = (uint16_t)id, .device = (uint16_t)(id >> 16),
		.class_code = (uint8_t)(cls >> 24), .subclass = (uint8_t)(cls >> 16),
		.prog_if = (uint8_t)(cls >> 8),
		.header_type = (uint8_t)(pci_read32(bus, dev, fn, PCI_HEADER) >> 16),
	};
	return true;
}

/* Calls visit on every present function, in bus/device/function order,
 * until it returns true. */
static void pci_walk(bool (*visit)(const pci_function *f, void *arg), void *arg)
{
	for (unsigned bus = 0; bus < PCI_BUSES; bus++) {
		for (unsigned dev = 0; dev < PCI_DEVICES; dev++) {
			pci_function f;
			if (!pci_probe((uint8_t)bus, (uint8_t)dev, 0, &f))
				continue;
			/* Functions 1-7 exist only on a multi-function device;
			 * a single-function one may alias function 0 there. */
			unsigned fns = f.header_type & PCI_HEADER_MULTIFUNCTION ? PCI_FUNCTIONS : 1;
			for (unsigned fn = 0; fn < fns; fn++) {
				if (fn > 0 && !pci_probe((uint8_t)bus, (uint8_t)dev, (uint8_t)fn, &f))
					continue;
				if (visit(&f, arg))
					return;
			}
		}
	}
}

typedef struct collect {
	pci_function *out;
	size_t max, n;
} collect;

static bool collect_one(const pci_function *f, void *arg)
{
	collect *c = arg;
	if (c->n < c->max)
		c->out[c->n] = *f;
	c->n++;
	return false;
}

size_t pci_enumerate(pci_function *out, size_t max)
{
	collect c = {out, max, 0};
	pci_walk(collect_one, &c);
	return c.n;
}

bool pci_is_16550(const pci_function *f)
{
	if (f->vendor == PCI_VENDOR_REDHAT && f->device == PCI_DEVICE_QEMU_SERIAL)
		return true;
	return f->class_code == PCI_CLASS_SERIAL && f->subclass == PCI_SUBCLASS_SERIAL_UART &&
	       f->prog_if == PCI_PROGIF_16550;
}

static bool serial_card(const pci_function *f, void *arg)
{
	if (!pci_is_16550(f) || (f->header_type & PCI_HEADER_TYPE_MASK) != PCI_HEADER_GENERAL)
		return false;
	uint32_t bar = pci_read32(f->bus, f->dev, f->fn, PCI_BAR0);
	uint32_t base = bar & PCI_BAR_IO_MASK;
	/* A memory BAR, or one the firmware left unassigned: not a port range
	 * this console can drive. */
	if (!(bar & PCI_BAR_IO) || base == 0 || base > 0xfff8)
		return false;
	uint16_t cmd = pci_read16(f->bus, f->dev, f->fn, PCI_COMMAND);
	if (!(cmd & PCI_COMMAND_IO))
		pci_write16(f->bus, f->dev, f->fn, PCI_COMMAND, (uint16_t)(cmd | PCI_COMMAND_IO));
	*(uint16_t *)arg = (uint16_t)base;
	return true;
}

bool pci_find_serial(uint16_t *io_base)
{
	uint16_t base = 0;
	pci_walk(serial_card, &base);
	if (base == 0)
		return false;
	*io_base = base;
	return true;
}
