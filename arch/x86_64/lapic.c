/*
 * lapic.c - interrupt controllers: the legacy 8259 PICs are remapped away
 * from the exception vectors and masked for good; the local APIC delivers
 * the timer tick and sends the INIT and startup IPIs that start the other
 * CPUs (lapic_send_ipi; smp.c), whose own LAPICs lapic_init_ap enables.
 * The timer's rate is measured against the calibrated TSC in brackets, as
 * timer.c explains, and kept as an interval the tests check the tick
 * against.
 *
 * Register access: xAPIC (memory-mapped, uncached) unless the firmware
 * left the LAPIC in x2APIC mode (IA32_APIC_BASE.EXTD set; machines with
 * APIC ids above 255 or interrupt remapping do): then the MMIO page does
 * not answer and every register is an MSR (0x800 + offset / 16). The
 * kernel does not switch to x2APIC itself: xAPIC serves CPUs with ids
 * below 256 (an AP above that is skipped, named, in xAPIC mode), and QEMU
 * TCG (7.2) offers no x2APIC to test it on; so the MSR path (the ICR as
 * one 64-bit write included) runs only on such real machines. Neither is the TSC-deadline
 * timer used (the periodic LAPIC timer works everywhere).
 */
#include "arch/x86_64/x86.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_ICW1_INIT 0x11 /* edge triggered, cascade, ICW4 follows */
#define PIC_ICW4_8086 0x01
#define PIC_LINES 8           /* per chip */
#define PIC_CASCADE_IRQ 2     /* the master's line the slave is wired to */
#define PIC_MASK_ALL 0xff
_Static_assert(IRQ_PIC_LINES == 2 * PIC_LINES, "two cascaded PICs");

void pic_disable(void)
{
	/* Remap first: even masked, a PIC can raise a spurious IRQ 7/15, and
	 * it must not land on an exception vector. */
	outb(PIC1_CMD, PIC_ICW1_INIT);
	outb(PIC2_CMD, PIC_ICW1_INIT);
	outb(PIC1_DATA, IRQ_PIC_BASE);             /* ICW2: vector base */
	outb(PIC2_DATA, IRQ_PIC_BASE + PIC_LINES);
	outb(PIC1_DATA, 1u << PIC_CASCADE_IRQ);    /* ICW3: which line has a slave */
	outb(PIC2_DATA, PIC_CASCADE_IRQ);          /* ICW3: the slave's line */
	outb(PIC1_DATA, PIC_ICW4_8086);
	outb(PIC2_DATA, PIC_ICW4_8086);
	outb(PIC1_DATA, PIC_MASK_ALL);
	outb(PIC2_DATA, PIC_MASK_ALL);
}

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1UL << 11)
#define APIC_BASE_X2APIC (1UL << 10) /* EXTD: x2APIC mode */
#define MSR_X2APIC_FIRST 0x800
#define CPUID_ECX_X2APIC (1u << 21)
#define APIC_BASE_ADDR_MASK 0xffffff000UL

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3e0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310 /* xAPIC: the destination in bits 24-31 */
#define LAPIC_ICR_DEST_SHIFT 24
#define X2APIC_ICR_DEST_SHIFT 32 /* x2APIC: one 64-bit MSR write */

#define LAPIC_ID_SHIFT 24 /* the ID register holds the APIC ID in bits 24-31 */
#define LAPIC_SVR_ENABLE (1u << 8)
#define CPUID_LEAF_FEATURES 1
#define CPUID_EDX_APIC (1u << 9)
/* LAPIC_LVT_MASKED, LAPIC_TIMER_PERIODIC, LAPIC_DIVIDE_16: x86.h (tests) */
#define LAPIC_TIMER_STOPPED_MAX 0xffffffffu /* a one-shot from here: 68 s at 62.5 MHz */
#define LAPIC_WINDOW_MS 20

static volatile uint32_t *lapic; /* xAPIC: the register page */
static bool x2apic;

uint32_t lapic_x2apic_msr(uint32_t reg) { return MSR_X2APIC_FIRST + reg / 16; }

bool lapic_choose_x2apic(uint32_t cpuid1_ecx, uint64_t apic_base)
{
	return (cpuid1_ecx & CPUID_ECX_X2APIC) && (apic_base & APIC_BASE_ENABLE) &&
	       (apic_base & APIC_BASE_X2APIC);
}

bool lapic_is_x2apic(void) { return x2apic; }

static uint32_t lapic_read(uint32_t reg)
{
	return x2apic ? (uint32_t)rdmsr(lapic_x2apic_msr(reg)) : lapic[reg / 4];
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	if (x2apic)
		wrmsr(lapic_x2apic_msr(reg), v);
	else
		lapic[reg / 4] = v;
}

void lapic_init(void)
{
	uint32_t r[4];
	cpuid(CPUID_LEAF_FEATURES, 0, r);
	if (!(r[3] & CPUID_EDX_APIC))
		panic("this CPU has no local APIC");
	uint64_t base = rdmsr(MSR_APIC_BASE);
	x2apic = lapic_choose_x2apic(r[2], base);
	/* Setting only the enable bit keeps the mode the firmware chose
	 * (EXTD stays as it was). */
	wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	if (!x2apic) {
		lapic = vmm_map_mmio(base & APIC_BASE_ADDR_MASK, PAGE_SIZE);
		if (!lapic)
			panic("cannot map the local APIC");
	}
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | IRQ_SPURIOUS_VECTOR);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
}

void lapic_init_ap(void)
{
	/* The AP's LAPIC in the boot CPU's mode: the xAPIC register page
	 * is at the same address on every CPU (each sees its own there), so
	 * the boot CPU's mapping serves; x2APIC needs EXTD set here too. */
	uint64_t base = rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE;
	if (x2apic)
		base |= APIC_BASE_X2APIC;
	wrmsr(MSR_APIC_BASE, base);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | IRQ_SPURIOUS_VECTOR);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
}

bool lapic_enabled(void) { return lapic_read(LAPIC_SVR) & LAPIC_SVR_ENABLE; }
uint32_t lapic_lvt_timer(void) { return lapic_read(LAPIC_LVT_TIMER); }

uint64_t lapic_icr_value(uint32_t apic_id, uint32_t low, bool x2)
{
	return x2 ? (uint64_t)apic_id << X2APIC_ICR_DEST_SHIFT | low
		  : (uint64_t)(apic_id & 0xff) << (32 + LAPIC_ICR_DEST_SHIFT) | low;
}

/*
 * xAPIC: the destination goes to ICR high, then the write of ICR low sends;
 * the delivery status bit stays set until the LAPIC has accepted the IPI
 * for sending, polled here at most max_cycles of the TSC (before and after:
 * a previous IPI still pending blocks this one). x2APIC: one MSR write of
 * both halves, and no delivery status to poll (the bit is reserved there,
 * the write completes when the IPI is sent).
 */
bool lapic_send_ipi(uint32_t apic_id, uint32_t low, uint64_t max_cycles)
{
	if (x2apic) {
		wrmsr(lapic_x2apic_msr(LAPIC_ICR_LOW), lapic_icr_value(apic_id, low, true));
		return true;
	}
	if (apic_id > 0xff)
		return false;
	uint64_t t0 = rdtsc();
	while (lapic_read(LAPIC_ICR_LOW) & LAPIC_ICR_PENDING)
		if (rdtsc() - t0 > max_cycles)
			return false;
	uint64_t v = lapic_icr_value(apic_id, low, false);
	lapic_write(LAPIC_ICR_HIGH, (uint32_t)(v >> 32));
	lapic_write(LAPIC_ICR_LOW, low);
	t0 = rdtsc();
	while (lapic_read(LAPIC_ICR_LOW) & LAPIC_ICR_PENDING)
		if (rdtsc() - t0 > max_cycles)
			return false;
	return true;
}

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

uint32_t lapic_id(void)
{
	/* x2APIC: the whole register is the 32-bit id. */
	return x2apic ? lapic_read(LAPIC_ID) : lapic_read(LAPIC_ID) >> LAPIC_ID_SHIFT;
}

static uint64_t lapic_read_current(void) { return lapic_read(LAPIC_TIMER_CURRENT); }

/*
 * The timer's count rate (divide by 16) against the TSC, whose rate must be
 * calibrated already: a masked one-shot from the top, read in TSC brackets
 * at both ends of a ~20 ms window (see timer.c). The interval multiplies
 * the count's interval by the TSC's. Leaves the timer stopped and masked.
 * Interrupts off (the tick must not run while the timer is reprogrammed).
 */
static bool lapic_measure_irqoff(timer_rate *out)
{
	ASSERT(!arch_irq_enabled());
	timer_rate tsc = timer_tsc_rate();
	lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_TIMER_INITIAL, LAPIC_TIMER_STOPPED_MAX);
	clock_reading start = clock_read_bracketed(lapic_read_current);
	uint64_t window = tsc.hi / 1000 * LAPIC_WINDOW_MS;
	while (rdtsc() - start.tsc_after < window)
		arch_cpu_relax();
	clock_reading end = clock_read_bracketed(lapic_read_current);
	lapic_write(LAPIC_TIMER_INITIAL, 0);
	/* A count at zero ran out (a one-shot stops there): no reading. */
	if (end.count == 0 || end.count > start.count)
		return false;
	/* The readings bound the TSC cycles per count interval: turn them
	 * round into counts per second (lo from the slowest TSC, hi from the
	 * fastest). */
	uint64_t counts = start.count - end.count;
	if (counts < 2 || end.tsc_before <= start.tsc_after)
		return false;
	unsigned __int128 inner = end.tsc_before - start.tsc_after;
	unsigned __int128 outer = end.tsc_after - start.tsc_before;
	out->lo = (uint64_t)((unsigned __int128)(counts - 1) * tsc.lo / outer);
	out->hi = (uint64_t)((unsigned __int128)(counts + 1) * tsc.hi / inner);
	return true;
}

static timer_rate lapic_rate;
static uint64_t lapic_hz;
static uint32_t lapic_tick_hz; /* hz= the periodic timer runs at */
static uint64_t loaded_tsc, loaded_ticks;

uint64_t timer_lapic_hz(void) { return lapic_hz; }

/* Periodic, hz per second, from the calibrated rate. */
static void lapic_timer_program_irqoff(void)
{
	ASSERT(!arch_irq_enabled());
	uint64_t count = lapic_hz / lapic_tick_hz;
	if (count == 0 || count > 0xffffffffu)
		panic("LAPIC timer at %llu Hz cannot tick at hz=%u",
		      (unsigned long long)lapic_hz, lapic_tick_hz);
	lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | IRQ_TIMER_VECTOR);
	loaded_ticks = arch_ticks();
	loaded_tsc = rdtsc();
	lapic_write(LAPIC_TIMER_INITIAL, (uint32_t)count);
}

void lapic_timer_start(uint32_t hz)
{
	enum { TRIES = 8, GOOD_PPM = 1000 };
	arch_irqflags_t flags = arch_irq_save();
	bool any = false;
	for (int i = 0; i < TRIES; i++) {
		timer_rate r;
		if (!lapic_measure_irqoff(&r))
			continue;
		if (!any || r.hi - r.lo < lapic_rate.hi - lapic_rate.lo)
			lapic_rate = r;
		any = true;
		if (timer_rate_width_ppm(&lapic_rate) <= GOOD_PPM)
			break;
	}
	if (!any)
		panic("the LAPIC timer does not count down");
	lapic_hz = lapic_rate.lo + (lapic_rate.hi - lapic_rate.lo) / 2;
	lapic_tick_hz = hz;
	lapic_timer_program_irqoff();
	arch_irq_restore(flags);
}

bool lapic_timer_measure(timer_rate *out)
{
	arch_irqflags_t flags = arch_irq_save();
	bool ok = lapic_measure_irqoff(out);
	lapic_timer_program_irqoff();
	arch_irq_restore(flags);
	return ok;
}

void lapic_timer_read_state(lapic_timer_state *out)
{
	arch_irqflags_t flags = arch_irq_save();
	*out = (lapic_timer_state){
		.lvt = lapic_read(LAPIC_LVT_TIMER),
		.divide = lapic_read(LAPIC_TIMER_DIVIDE),
		.initial_count = lapic_read(LAPIC_TIMER_INITIAL),
		.rate = lapic_rate,
		.loaded_tsc = loaded_tsc,
		.loaded_ticks = loaded_ticks,
	};
	arch_irq_restore(flags);
}
