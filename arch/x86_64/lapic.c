/*
 * lapic.c - interrupt controllers: the legacy 8259 PICs are remapped away
 * from the exception vectors and masked for good; the local APIC delivers
 * the timer tick and sends the INIT and startup IPIs that start the other
 * CPUs (lapic_send_ipi; smp.c), whose own LAPICs lapic_init_ap enables.
 * The timer's rate is measured against the calibrated TSC in brackets, as
 * timer.c explains, and kept as an interval the tests check the tick
 * against.
 *
 * Register access: x2APIC (every register an MSR, 0x800 + offset / 16)
 * whenever CPUID offers it: the kernel switches the LAPIC to it if the
 * firmware did not (IA32_APIC_BASE.EXTD; xAPIC -> x2APIC is a legal
 * transition, the reverse is not). Otherwise xAPIC, memory-mapped and
 * uncached. `x2apic=off` keeps xAPIC when the firmware left that on.
 *
 * The tick: the TSC-deadline timer when CPUID offers it (the LVT in
 * deadline mode; each tick writes the next deadline, period cycles after
 * the last one, into IA32_TSC_DEADLINE), else the periodic LAPIC timer
 * counting at its calibrated rate. `lapic_timer=periodic|deadline|auto`
 * chooses. Before trusting the deadline timer the kernel checks it fires:
 * the first deadline is armed with interrupts off and the MSR must read 0
 * (disarmed: it fired) within a bounded wait; if not, the tick falls back
 * to the periodic timer and says why.
 *
 * Each AP switches its own LAPIC to the boot CPU's mode (lapic_init_ap);
 * in xAPIC mode an AP with an id above 255 cannot be addressed and is
 * skipped (smp.c). The ICR is two 32-bit registers in xAPIC mode, one
 * 64-bit MSR write in x2APIC mode (lapic_send_ipi).
 *
 * QEMU 7.2's TCG offers neither x2APIC nor the TSC-deadline timer, so
 * both paths run only on real machines (and KVM); under QEMU the tests
 * check the mode choices, the ICR encodings and the periodic path.
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
#define CPUID_ECX_TSC_DEADLINE (1u << 24)
#define MSR_TSC_DEADLINE 0x6e0
/* The first deadline must fire within this many periods (the wait that
 * decides between the deadline and the periodic timer). */
#define DEADLINE_CHECK_PERIODS 100
#define APIC_BASE_ADDR_MASK 0xffffff000UL

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_DELIVERY_NMI (4u << 8)
#define LAPIC_LVT_ACTIVE_LOW (1u << 13)
#define MPS_POLARITY_MASK 0x3
#define MPS_POLARITY_LOW 0x3
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
/* LAPIC_LVT_MASKED, LAPIC_TIMER_PERIODIC/_DEADLINE_MODE, LAPIC_DIVIDE_16: x86.h (tests) */
#define LAPIC_TIMER_STOPPED_MAX 0xffffffffu /* a one-shot from here: 68 s at 62.5 MHz */
#define LAPIC_WINDOW_MS 20

static volatile uint32_t *lapic; /* xAPIC: the register page */
static bool x2apic;
static bool has_tsc_deadline; /* CPUID.1:ECX[24] */

uint32_t lapic_x2apic_msr(uint32_t reg) { return MSR_X2APIC_FIRST + reg / 16; }

static bool x2apic_allowed = true;
CMDLINE_BOOL(x2apic_allowed, "x2apic",
	     "0: keep the LAPIC in xAPIC mode unless the firmware left x2APIC on");

bool lapic_choose_x2apic(uint32_t cpuid1_ecx, uint64_t apic_base, bool allowed)
{
	if (!(cpuid1_ecx & CPUID_ECX_X2APIC))
		return false;
	/* Once in x2APIC mode, only a reset or disabling the APIC leaves it. */
	if ((apic_base & APIC_BASE_ENABLE) && (apic_base & APIC_BASE_X2APIC))
		return true;
	return allowed;
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
	x2apic = lapic_choose_x2apic(r[2], base, x2apic_allowed);
	has_tsc_deadline = (r[2] & CPUID_ECX_TSC_DEADLINE) != 0;
	/* Enable first (EN), then switch to x2APIC (EN and EXTD together):
	 * the SDM's allowed transitions go disabled -> xAPIC -> x2APIC. */
	base |= APIC_BASE_ENABLE;
	wrmsr(MSR_APIC_BASE, base);
	if (x2apic && !(base & APIC_BASE_X2APIC))
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_X2APIC);
	if (!x2apic) {
		lapic = vmm_map_mmio(base & APIC_BASE_ADDR_MASK, PAGE_SIZE);
		if (!lapic)
			panic("cannot map the local APIC");
	}
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | IRQ_SPURIOUS_VECTOR);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_program_nmis(&acpi_boot_platform); /* the MADT's NMI lines */
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
	lapic_program_nmis(&acpi_boot_platform); /* the MADT's NMI lines */
}

uint32_t lapic_nmi_lvt(uint16_t flags)
{
	/* Polarity 00 "conforms to the bus" (ISA: active high), 01 high,
	 * 11 low. The trigger bits are ignored: the SDM has NMI delivery
	 * always edge-triggered. */
	uint32_t v = LAPIC_LVT_DELIVERY_NMI;
	if ((flags & MPS_POLARITY_MASK) == MPS_POLARITY_LOW)
		v |= LAPIC_LVT_ACTIVE_LOW;
	return v;
}

int lapic_program_nmis(const struct acpi_platform *pf)
{
	uint32_t me = lapic_id(), uid = ACPI_NMI_ALL_CPUS;
	for (size_t i = 0; i < pf->cpu_count; i++)
		if (pf->cpus[i].apic_id == me)
			uid = pf->cpus[i].uid;
	int n = 0;
	for (size_t i = 0; i < pf->nmi_count; i++) {
		const acpi_lapic_nmi *m = &pf->nmis[i];
		if (m->uid != ACPI_NMI_ALL_CPUS && m->uid != uid)
			continue;
		lapic_write(m->lint ? LAPIC_LVT_LINT1 : LAPIC_LVT_LINT0, lapic_nmi_lvt(m->flags));
		n++;
	}
	return n;
}

uint32_t lapic_read_lint(int n) { return lapic_read(n ? LAPIC_LVT_LINT1 : LAPIC_LVT_LINT0); }

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
static uint32_t lapic_tick_hz; /* hz= the tick runs at */
static uint64_t loaded_tsc, loaded_ticks;

static const char *lapic_timer_option = "auto";
CMDLINE_STRING(lapic_timer_option, "lapic_timer",
	       "auto, periodic or deadline: what makes the tick (auto: the TSC-deadline timer "
	       "when the CPU has one)");
static lapic_tick_mode tick_mode = LAPIC_TICK_PERIODIC;
/* Deadline mode: the tick's period in TSC cycles and the deadline armed
 * last (written only with interrupts off: boot, reprogramming, the tick). */
static uint64_t deadline_period, deadline_next, deadline_late;
/* Why the deadline timer was passed over, or "" (for the summary). */
static char deadline_refused[96];

uint64_t timer_lapic_hz(void) { return lapic_hz; }

const char *lapic_choose_tick_mode(const char *option, bool has_deadline, lapic_tick_mode *out)
{
	if (strcmp(option, "periodic") == 0) {
		*out = LAPIC_TICK_PERIODIC;
	} else if (strcmp(option, "deadline") == 0) {
		if (!has_deadline)
			return "this CPU has no TSC-deadline timer (CPUID.1:ECX[24])";
		*out = LAPIC_TICK_DEADLINE;
	} else if (strcmp(option, "auto") == 0) {
		*out = has_deadline ? LAPIC_TICK_DEADLINE : LAPIC_TICK_PERIODIC;
	} else {
		return "not one of auto, periodic, deadline";
	}
	return NULL;
}

/* Periodic, hz per second, from the calibrated rate. */
static void lapic_periodic_program_irqoff(void)
{
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

/*
 * The TSC-deadline timer: arm the first deadline one period ahead and wait,
 * interrupts off, until the MSR reads 0 (the timer fired and disarmed
 * itself; the interrupt waits in the IRR and becomes the first tick when
 * interrupts come back on). A timer that has not fired after
 * DEADLINE_CHECK_PERIODS periods is disarmed and refused.
 */
static bool lapic_deadline_program_irqoff(void)
{
	deadline_period = arch_cycles_per_sec() / lapic_tick_hz;
	lapic_write(LAPIC_TIMER_INITIAL, 0); /* stop the count-down timer */
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_DEADLINE_MODE | IRQ_TIMER_VECTOR);
	/* The SDM: the LVT's switch to deadline mode (an MMIO store in xAPIC
	 * mode) must be globally visible before the WRMSR that arms it, and
	 * WRMSR to IA32_TSC_DEADLINE is not serializing. */
	__asm__ volatile("mfence" ::: "memory");
	loaded_ticks = arch_ticks();
	loaded_tsc = rdtsc();
	deadline_next = loaded_tsc + deadline_period;
	wrmsr(MSR_TSC_DEADLINE, deadline_next);
	uint64_t limit = deadline_next + DEADLINE_CHECK_PERIODS * deadline_period;
	while (rdmsr(MSR_TSC_DEADLINE) != 0) {
		if ((int64_t)(rdtsc() - limit) > 0) {
			wrmsr(MSR_TSC_DEADLINE, 0);
			lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
			return false;
		}
		arch_cpu_relax();
	}
	return true;
}

static void lapic_timer_program_irqoff(void)
{
	ASSERT(!arch_irq_enabled());
	if (tick_mode == LAPIC_TICK_DEADLINE) {
		if (lapic_deadline_program_irqoff())
			return;
		ksnprintf(deadline_refused, sizeof deadline_refused,
			  "the TSC-deadline timer did not fire within %d periods",
			  DEADLINE_CHECK_PERIODS);
		kprintf("timer: %s; the periodic LAPIC timer makes the tick\n", deadline_refused);
		tick_mode = LAPIC_TICK_PERIODIC;
	}
	lapic_periodic_program_irqoff();
}

uint64_t lapic_deadline_next(uint64_t last, uint64_t period, uint64_t now, bool *late)
{
	uint64_t next = last + period;
	*late = (int64_t)(next - now) <= 0;
	return *late ? now + period : next;
}

void lapic_timer_rearm(void)
{
	if (tick_mode != LAPIC_TICK_DEADLINE)
		return;
	bool late;
	deadline_next = lapic_deadline_next(deadline_next, deadline_period, rdtsc(), &late);
	deadline_late += late;
	wrmsr(MSR_TSC_DEADLINE, deadline_next);
}

lapic_tick_mode lapic_timer_mode(void) { return tick_mode; }

void lapic_timer_describe(char *buf, size_t len)
{
	if (tick_mode == LAPIC_TICK_DEADLINE)
		ksnprintf(buf, len, "TSC-deadline timer, %llu cycles a tick, %llu late",
			  (unsigned long long)deadline_period, (unsigned long long)deadline_late);
	else if (deadline_refused[0])
		ksnprintf(buf, len, "periodic LAPIC timer (%s)", deadline_refused);
	else
		ksnprintf(buf, len, "periodic LAPIC timer%s",
			  has_tsc_deadline ? " (lapic_timer=periodic)" : " (no TSC-deadline timer)");
}

void lapic_timer_start(uint32_t hz)
{
	enum { TRIES = 8, GOOD_PPM = 1000 };
	const char *err = lapic_choose_tick_mode(lapic_timer_option, has_tsc_deadline, &tick_mode);
	if (err) {
		kprintf("cmdline: lapic_timer=%s: %s\n", lapic_timer_option, err);
		arch_exit(EXIT_CMDLINE);
	}
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
		.mode = tick_mode,
		.deadline_period = deadline_period,
	};
	arch_irq_restore(flags);
}
