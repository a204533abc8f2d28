/*
 * ioapic_test.c - the I/O APIC code (arch/x86_64/ioapic.c) and the device
 * interrupt dispatch (idt.c): ISA IRQ -> GSI translation with polarity and
 * trigger from a synthetic override list and from this boot's MADT (QEMU:
 * IRQ 0 -> GSI 2); a redirection entry written and read back; a GSI no
 * I/O APIC serves, a bad ISA IRQ and an exception vector refused; a
 * handler run for its vector (software interrupt) with the EOI after it;
 * and one real interrupt end to end: PIT channel 0 fires once, through
 * the override, into IRQ_TEST_VECTOR (skipped when the machine has no PIT,
 * e.g. QEMU -machine pit=off). Waits are bounded: a broken route fails the
 * test instead of hanging it.
 */
#include "arch/x86_64/x86.h"
#include "tests/x86/qemu.h"
#include "lib/lib.h"

#define IRQ_WAIT_LIMIT_NS (30 * NS_PER_SEC)
/* Redirection entry bits the I/O APIC sets itself (read only). */
#define REDIR_STATUS_BITS ((1u << 12) | (1u << 14))

static acpi_platform synth; /* 6 KiB: not on the stack */

TEST(ioapic, override_translation)
{
	memset(&synth, 0, sizeof synth);
	acpi_override ov[] = {
		{ .bus = 0, .irq = 0, .gsi = 2, .flags = 0x0 },   /* conforms: high, edge */
		{ .bus = 0, .irq = 9, .gsi = 9, .flags = 0xd },   /* high, level */
		{ .bus = 0, .irq = 11, .gsi = 20, .flags = 0xf }, /* low, level */
		{ .bus = 0, .irq = 5, .gsi = 5, .flags = 0x7 },   /* low, edge */
		{ .bus = 1, .irq = 4, .gsi = 30, .flags = 0xf },  /* not the ISA bus */
	};
	memcpy(synth.overrides, ov, sizeof ov);
	synth.override_count = ARRAY_SIZE(ov);
	struct {
		unsigned irq;
		uint32_t gsi;
		bool low, level;
	} want[] = {
		{ 0, 2, false, false }, { 9, 9, false, true }, { 11, 20, true, true },
		{ 5, 5, true, false },  { 4, 4, false, false }, { 1, 1, false, false },
		{ 15, 15, false, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		ioapic_gsi_route r = { 99, true, true };
		CHECK(ioapic_isa_to_gsi(&synth, want[i].irq, &r));
		CHECK_EQ(r.gsi, want[i].gsi);
		CHECK_EQ(r.active_low, want[i].low);
		CHECK_EQ(r.level, want[i].level);
	}
	ioapic_gsi_route r;
	CHECK(!ioapic_isa_to_gsi(&synth, 16, &r));
	/* This boot: QEMU (pc and q35) wires the PIT to GSI 2. */
	CHECK(ioapic_isa_to_gsi(&acpi_boot_platform, 0, &r));
	CHECK_EQ(r.gsi, 2);
	CHECK(!r.active_low);
	CHECK(!r.level);
}

TEST(ioapic, found_and_masked)
{
	CHECK_EQ(ioapic_count(), acpi_boot_platform.ioapic_count);
	CHECK_EQ(ioapic_count(), 1);     /* QEMU's one I/O APIC */
	CHECK_EQ(ioapic_gsi_count(), 24); /* of 24 pins */
	/* GSIs 16-23 (PCI) are never routed here: still masked from init. */
	for (uint32_t gsi = 16; gsi < ioapic_gsi_count(); gsi++) {
		uint64_t e = 0;
		CHECK(ioapic_read_gsi(gsi, &e));
		CHECK_MSG(e & IOAPIC_REDIR_MASKED, "GSI %u entry 0x%llx is not masked", gsi,
			  (unsigned long long)e);
	}
}

static volatile uint64_t test_irqs;
static void count_irq(void) { test_irqs++; }

TEST(ioapic, entry_written_and_read_back)
{
	uint32_t gsi = ioapic_gsi_count() - 1; /* a PCI pin, nothing on it here */
	uint64_t old = 0, e = 0;
	CHECK(ioapic_read_gsi(gsi, &old));
	uint64_t want = ioapic_entry_for(IRQ_TEST_VECTOR, true, true, lapic_id()) |
			IOAPIC_REDIR_MASKED;
	CHECK(ioapic_write_gsi(gsi, want));
	CHECK(ioapic_read_gsi(gsi, &e));
	CHECK_EQ(e & ~(uint64_t)REDIR_STATUS_BITS, want);
	CHECK_EQ(e & 0xff, IRQ_TEST_VECTOR);
	CHECK_EQ(e >> 56, lapic_id());
	CHECK(ioapic_write_gsi(gsi, old));

	/* ioapic_route_isa writes exactly the translated entry, unmasked. */
	ioapic_gsi_route r;
	CHECK(ioapic_isa_to_gsi(&acpi_boot_platform, 0, &r));
	idt_set_irq_handler(IRQ_TEST_VECTOR, count_irq);
	CHECK(ioapic_route_isa(0, IRQ_TEST_VECTOR));
	CHECK(ioapic_read_gsi(r.gsi, &e));
	CHECK(ioapic_mask_isa(0));
	CHECK_EQ(e & ~(uint64_t)REDIR_STATUS_BITS,
		 ioapic_entry_for(IRQ_TEST_VECTOR, r.active_low, r.level, lapic_id()));
	CHECK(!(e & IOAPIC_REDIR_MASKED));
	CHECK(ioapic_read_gsi(r.gsi, &e));
	CHECK(e & IOAPIC_REDIR_MASKED);
	idt_set_irq_handler(IRQ_TEST_VECTOR, NULL);
}

TEST(ioapic, bad_routes_refused)
{
	uint64_t e = 0;
	uint32_t end = ioapic_gsi_count();
	CHECK(!ioapic_read_gsi(end, &e));
	CHECK(!ioapic_write_gsi(end, IOAPIC_REDIR_MASKED));
	CHECK(!ioapic_write_gsi(UINT32_MAX, IOAPIC_REDIR_MASKED));
	CHECK(!ioapic_route_isa(16, IRQ_TEST_VECTOR));       /* no such ISA IRQ */
	CHECK(!ioapic_route_isa(3, VECTOR_PAGE_FAULT));      /* an exception vector */
	/* An override to a GSI beyond every I/O APIC: refused, nothing written. */
	acpi_platform *pf = &acpi_boot_platform;
	ASSERT(pf->override_count < ACPI_MAX_OVERRIDES);
	uint64_t before[24];
	for (uint32_t g = 0; g < end && g < 24; g++)
		CHECK(ioapic_read_gsi(g, &before[g]));
	pf->overrides[pf->override_count++] =
		(acpi_override){ .bus = 0, .irq = 13, .gsi = end + 100, .flags = 0 };
	bool routed = ioapic_route_isa(13, IRQ_TEST_VECTOR);
	pf->override_count--;
	CHECK(!routed);
	for (uint32_t g = 0; g < end && g < 24; g++) {
		CHECK(ioapic_read_gsi(g, &e));
		CHECK_EQ(e & ~(uint64_t)REDIR_STATUS_BITS, before[g] & ~(uint64_t)REDIR_STATUS_BITS);
	}
}

TEST(ioapic, handler_dispatch)
{
	test_irqs = 0;
	idt_set_irq_handler(IRQ_TEST_VECTOR, count_irq);
	__asm__ volatile("int %0" ::"i"(IRQ_TEST_VECTOR) : "memory");
	__asm__ volatile("int %0" ::"i"(IRQ_TEST_VECTOR) : "memory");
	CHECK_EQ(test_irqs, 2);
	idt_set_irq_handler(IRQ_TEST_VECTOR, NULL);
	/* Without a handler: reported and acknowledged, not counted. */
	__asm__ volatile("int %0" ::"i"(IRQ_TEST_VECTOR) : "memory");
	CHECK_EQ(test_irqs, 2);
	/* The tick still arrives after all those EOIs. */
	uint64_t k0 = arch_ticks(), t0 = arch_nanotime();
	while (arch_ticks() - k0 < 2 && arch_nanotime() - t0 < IRQ_WAIT_LIMIT_NS)
		arch_cpu_relax();
	CHECK_GE(arch_ticks() - k0, 2);
}

#define PIT_CHANNEL0 0x40
#define PIT_COMMAND 0x43
#define PIT_CH0_ONESHOT_LOHI 0x30 /* channel 0, lo/hi byte, mode 0, binary */
#define PIT_CH0_LATCH 0x00
#define PIT_READBACK_STATUS0 0xe2 /* read-back: latch counter 0's status only */
#define PIT_STATUS_OUT 0x80
#define PIT_PROBE_COUNT 0x100     /* 215 us */

static uint16_t pit_read_count0(void)
{
	outb(PIT_COMMAND, PIT_CH0_LATCH);
	return inb(PIT_CHANNEL0) | (uint16_t)(inb(PIT_CHANNEL0) << 8);
}

static bool pit_out0_high(void)
{
	outb(PIT_COMMAND, PIT_READBACK_STATUS0);
	return (inb(PIT_CHANNEL0) & PIT_STATUS_OUT) != 0;
}

/*
 * Whether channel 0 counts; leaves it with its count expired and OUT high.
 * A short one-shot must change within a few thousand reads on a machine
 * that has a PIT, and then run out: the test then waits for OUT to go
 * high, so no edge of this probe can come later. (Writing a new mode word
 * does not stop a running count in QEMU's 8254, whatever the datasheet
 * says, so the probe's count must be over before the test's begins.)
 */
static bool pit_present(void)
{
	outb(PIT_COMMAND, PIT_CH0_ONESHOT_LOHI);
	outb(PIT_CHANNEL0, PIT_PROBE_COUNT & 0xff);
	outb(PIT_CHANNEL0, PIT_PROBE_COUNT >> 8);
	uint16_t first = pit_read_count0();
	bool moved = false;
	for (int i = 0; i < 1 << 20 && !moved; i++)
		moved = pit_read_count0() != first;
	return moved;
}

/* After pit_present: the probe's count ran out (bounded wait), then mode 0
 * again, OUT staying high until the test writes a count. */
static bool pit_probe_over(void)
{
	uint64_t t0 = arch_nanotime();
	while (!pit_out0_high() && arch_nanotime() - t0 < IRQ_WAIT_LIMIT_NS)
		arch_cpu_relax();
	outb(PIT_COMMAND, PIT_CH0_ONESHOT_LOHI);
	return pit_out0_high();
}

/* A real ISA interrupt through the override and the I/O APIC: PIT
 * channel 0 as a 1 ms one-shot raises IRQ 0 once. */
TEST(ioapic, pit_interrupt_delivered)
{
	if (!pit_present()) {
		/* pc and q35 have one unless the matrix turned it off. */
		CHECK_MSG(!test_on_qemu() || expect_legacy_free,
			  "PIT channel 0 does not count on a QEMU machine with a PIT");
		test_log("no PIT on this machine: delivery not exercised");
		return;
	}
	CHECK_MSG(pit_probe_over(), "PIT channel 0's probe count did not run out in %llu s",
		  (unsigned long long)(IRQ_WAIT_LIMIT_NS / NS_PER_SEC));
	idt_set_irq_handler(IRQ_TEST_VECTOR, count_irq);
	CHECK(ioapic_route_isa(0, IRQ_TEST_VECTOR));
	/* QEMU's I/O APIC latches an edge that came while the entry was
	 * masked (the firmware's 18.2 Hz PIT tick) and delivers it on unmask:
	 * let it land (two ticks of interrupt windows) before counting. */
	uint64_t k0 = arch_ticks(), t0 = arch_nanotime();
	while (arch_ticks() - k0 < 2 && arch_nanotime() - t0 < IRQ_WAIT_LIMIT_NS)
		arch_cpu_relax();
	test_irqs = 0;
	outb(PIT_CHANNEL0, (PIT_HZ / 1000) & 0xff); /* the 1 ms count: it starts */
	outb(PIT_CHANNEL0, (PIT_HZ / 1000) >> 8);
	t0 = arch_nanotime();
	while (test_irqs == 0 && arch_nanotime() - t0 < IRQ_WAIT_LIMIT_NS)
		arch_cpu_relax();
	/* Mode 0's OUT stays high after the count: no second edge, however
	 * long this waits. */
	uint64_t k1 = arch_ticks(), t1 = arch_nanotime();
	while (arch_ticks() - k1 < 5 && arch_nanotime() - t1 < IRQ_WAIT_LIMIT_NS)
		arch_cpu_relax();
	CHECK(ioapic_mask_isa(0));
	idt_set_irq_handler(IRQ_TEST_VECTOR, NULL);
	test_log("%llu interrupt(s) on IRQ 0 from the one-shot", (unsigned long long)test_irqs);
	CHECK_EQ(test_irqs, 1); /* a one-shot: one edge */
}

/* The local APIC's access mode: x2APIC (MSRs) whenever the CPU has it
 * (switched on by the kernel unless x2apic=0), and always when the
 * firmware left it on; QEMU TCG has no x2APIC, so this boot is xAPIC and
 * the MSR path runs only on real machines. */
TEST(ioapic, lapic_mode_choice)
{
	enum { X2 = 1u << 21 };
	const uint64_t en = 1u << 11, extd = 1u << 10, base = 0xfee00000;
	CHECK(lapic_choose_x2apic(X2, base | en | extd, true));
	CHECK(lapic_choose_x2apic(X2, base | en | extd, false)); /* left on: stays */
	CHECK(lapic_choose_x2apic(X2, base | en, true));          /* switched on */
	CHECK(!lapic_choose_x2apic(X2, base | en, false));        /* x2apic=0 */
	CHECK(!lapic_choose_x2apic(0, base | en, true));          /* not offered */
	CHECK(!lapic_choose_x2apic(0, base | en | extd, true));
	CHECK_EQ(lapic_x2apic_msr(0x020), 0x802); /* id */
	CHECK_EQ(lapic_x2apic_msr(0x0b0), 0x80b); /* EOI */
	CHECK_EQ(lapic_x2apic_msr(0x0f0), 0x80f); /* spurious vector */
	CHECK_EQ(lapic_x2apic_msr(0x320), 0x832); /* LVT timer */
	CHECK_EQ(lapic_x2apic_msr(0x380), 0x838); /* initial count */
	CHECK_EQ(lapic_x2apic_msr(0x390), 0x839); /* current count */
	CHECK_EQ(lapic_x2apic_msr(0x3e0), 0x83e); /* divide */
	uint32_t r[4];
	cpuid(1, 0, r);
	/* The mode the kernel uses is the one the APIC is in. */
	CHECK_EQ(lapic_is_x2apic(), (rdmsr(0x1b) & extd) != 0);
	if (!(r[2] & X2))
		CHECK(!lapic_is_x2apic());
	test_log("local APIC: %s, id %u", lapic_is_x2apic() ? "x2APIC" : "xAPIC", lapic_id());
}

/* How the tick is made: lapic_timer= against CPUID.1:ECX[24]; the next
 * deadline one period after the last, or one period from now when that
 * has passed (ticks are dropped, never delivered in a burst). */
TEST(ioapic, tick_mode_choice)
{
	lapic_tick_mode m = LAPIC_TICK_DEADLINE;
	CHECK(lapic_choose_tick_mode("auto", false, &m) == NULL);
	CHECK_EQ(m, LAPIC_TICK_PERIODIC);
	CHECK(lapic_choose_tick_mode("auto", true, &m) == NULL);
	CHECK_EQ(m, LAPIC_TICK_DEADLINE);
	CHECK(lapic_choose_tick_mode("periodic", true, &m) == NULL);
	CHECK_EQ(m, LAPIC_TICK_PERIODIC);
	CHECK(lapic_choose_tick_mode("deadline", true, &m) == NULL);
	CHECK_EQ(m, LAPIC_TICK_DEADLINE);
	m = LAPIC_TICK_PERIODIC;
	const char *err = lapic_choose_tick_mode("deadline", false, &m);
	CHECK(err != NULL && strstr(err, "no TSC-deadline timer") != NULL);
	CHECK_EQ(m, LAPIC_TICK_PERIODIC); /* untouched on error */
	err = lapic_choose_tick_mode("oneshot", true, &m);
	CHECK(err != NULL && strstr(err, "not one of") != NULL);

	bool late = true;
	CHECK_EQ(lapic_deadline_next(1000, 100, 1050, &late), 1100);
	CHECK(!late);
	CHECK_EQ(lapic_deadline_next(1000, 100, 1100, &late), 1200); /* due now: late */
	CHECK(late);
	CHECK_EQ(lapic_deadline_next(1000, 100, 5000, &late), 5100);
	CHECK(late);
	/* across the TSC's wrap (signed difference) */
	CHECK_EQ(lapic_deadline_next(UINT64_MAX - 10, 100, UINT64_MAX - 5, &late), 89);
	CHECK(!late);

	uint32_t r[4];
	cpuid(1, 0, r);
	lapic_timer_state st;
	lapic_timer_read_state(&st);
	char desc[128];
	lapic_timer_describe(desc, sizeof desc);
	test_log("the tick: %s", desc);
	if (!(r[2] & (1u << 24))) /* QEMU TCG: no TSC-deadline timer */
		CHECK_EQ(st.mode, LAPIC_TICK_PERIODIC);
	CHECK_EQ(st.mode, lapic_timer_mode());
}
