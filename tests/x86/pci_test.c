/*
 * pci_test.c - PCI configuration space on the machine the tests run on
 * (QEMU pc or q35): the host bridge at 00:00.0, an empty slot reading
 * all-ones and left out of the walk, multi-function devices walked to their
 * other functions, the 16550 match; and the serial console's choice of UART
 * (COM1, else a PCI card, else none) with faked probes, then on this
 * machine: the UART it picked answers.
 */
#include "arch/x86_64/x86.h"
#include "lib/lib.h"

#define PCI_MAX 256
static pci_function found[PCI_MAX];

static bool listed(size_t n, uint8_t bus, uint8_t dev, uint8_t fn)
{
	for (size_t i = 0; i < n && i < PCI_MAX; i++)
		if (found[i].bus == bus && found[i].dev == dev && found[i].fn == fn)
			return true;
	return false;
}

TEST(pci, host_bridge_at_00_00_0)
{
	pci_function f;
	CHECK(pci_probe(0, 0, 0, &f));
	/* QEMU's q35 (MCH) or pc (i440FX) host bridge: class 06, subclass 00. */
	CHECK_EQ(f.vendor, 0x8086);
	CHECK(f.device == 0x29c0 || f.device == 0x1237);
	CHECK_EQ(f.class_code, 0x06);
	CHECK_EQ(f.subclass, 0x00);
	CHECK_EQ(pci_read16(0, 0, 0, 0), 0x8086);
	CHECK_EQ(pci_read16(0, 0, 0, 2), f.device);
}

TEST(pci, absent_function_reads_ones_and_is_skipped)
{
	size_t n = pci_enumerate(found, PCI_MAX);
	CHECK(n >= 2 && n <= PCI_MAX);
	/* Both machines leave most of bus 0's 32 slots empty. */
	int empty = -1;
	for (int dev = 1; dev < 32 && empty < 0; dev++)
		if (pci_read16(0, (uint8_t)dev, 0, 0) == PCI_VENDOR_NONE)
			empty = dev;
	CHECK(empty > 0);
	CHECK_EQ(pci_read32(0, (uint8_t)empty, 0, 0), 0xffffffffu);
	pci_function f;
	CHECK(!pci_probe(0, (uint8_t)empty, 0, &f));
	CHECK(!listed(n, 0, (uint8_t)empty, 0));
	CHECK(listed(n, 0, 0, 0));
	for (size_t i = 0; i < n; i++) {
		CHECK(found[i].vendor != PCI_VENDOR_NONE);
		for (size_t j = i + 1; j < n; j++)
			CHECK(found[i].bus != found[j].bus || found[i].dev != found[j].dev ||
			      found[i].fn != found[j].fn);
	}
	/* A short array: the count is still the whole walk's. */
	CHECK_EQ(pci_enumerate(found, 1), n);
}

TEST(pci, multifunction_devices_walked)
{
	/* q35: the ICH9 at 00:1f (LPC .0, SATA .2, SMBus .3); pc: the PIIX at
	 * 00:01 (ISA .0, IDE .1, ACPI .3). */
	size_t n = pci_enumerate(found, PCI_MAX);
	size_t others = 0;
	for (size_t i = 0; i < n; i++) {
		if (found[i].fn == 0)
			continue;
		others++;
		pci_function f0;
		CHECK(pci_probe(found[i].bus, found[i].dev, 0, &f0));
		CHECK(f0.header_type & 0x80);
	}
	CHECK(others >= 2);
}

TEST(pci, is_16550)
{
	pci_function f = {.vendor = 0x1234, .device = 0x5678, .class_code = 0x07,
			  .subclass = 0x00, .prog_if = 0x02};
	CHECK(pci_is_16550(&f));
	f.prog_if = 0x01; /* a 16450: no FIFO */
	CHECK(!pci_is_16550(&f));
	f.prog_if = 0x02, f.subclass = 0x01; /* a parallel port */
	CHECK(!pci_is_16550(&f));
	f = (pci_function){.vendor = PCI_VENDOR_REDHAT, .device = PCI_DEVICE_QEMU_SERIAL,
			   .class_code = 0x07, .subclass = 0x00, .prog_if = 0x00};
	CHECK(pci_is_16550(&f));
	f.device = 0x0001; /* QEMU's PCI-PCI bridge */
	CHECK(!pci_is_16550(&f));
}

/* ---- the serial console's choice ---------------------------------------- */
static uint16_t answering[2]; /* the bases the fake probe says answer */
static int pci_calls;
static uint16_t fake_pci_base;

static bool fake_answers(uint16_t base)
{
	return base != 0 && (base == answering[0] || base == answering[1]);
}

static bool fake_find_pci(uint16_t *base)
{
	pci_calls++;
	if (!fake_pci_base)
		return false;
	*base = fake_pci_base;
	return true;
}

static uint16_t choose(uint16_t a0, uint16_t a1, uint16_t pci, const char **how)
{
	answering[0] = a0, answering[1] = a1, fake_pci_base = pci, pci_calls = 0;
	return serial_select(fake_answers, fake_find_pci, how);
}

TEST(serial, select_com1_first_then_pci_then_none)
{
	const char *how = NULL;
	CHECK_EQ(choose(0x3f8, 0xc000, 0xc000, &how), 0x3f8);
	CHECK_EQ(strcmp(how, "COM1"), 0);
	CHECK_EQ(pci_calls, 0); /* COM1 answers: no PCI walk */
	CHECK_EQ(choose(0xc000, 0, 0xc000, &how), 0xc000);
	CHECK_EQ(strcmp(how, "PCI"), 0);
	CHECK_EQ(pci_calls, 1);
	/* A card found whose UART does not answer: no console, not a dead port. */
	CHECK_EQ(choose(0, 0, 0xc000, &how), 0);
	CHECK_EQ(strcmp(how, "none"), 0);
	CHECK_EQ(choose(0, 0, 0, &how), 0);
	CHECK_EQ(strcmp(how, "none"), 0);
	CHECK_EQ(pci_calls, 1);
}

TEST(serial, console_uart_on_this_machine)
{
	/* The harness reads this output over serial, so there is a UART. */
	uint16_t base = serial_base();
	CHECK(base != 0);
	CHECK(uart_answers(base));
	if (uart_answers(0x3f8)) {
		CHECK_EQ(base, 0x3f8);
	} else {
		uint16_t pci_base = 0;
		CHECK(pci_find_serial(&pci_base));
		CHECK_EQ(base, pci_base);
	}
	/* QEMU gives these machines one serial port at most: COM2 is empty. */
	CHECK(!uart_answers(0x2f8));
}
