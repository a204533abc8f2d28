/*
 * timer.c - time: the TSC as the cycle clock and the monotonic nanosecond
 * clock, its frequency from CPUID 0x15/0x16 when the CPU reports it, else
 * measured against the PIT; and the periodic tick from the LAPIC timer at
 * `hz=` per second (lapic.c). Conversions use a precomputed 32.32
 * fixed-point factor, so reading the clock takes no division.
 *
 * Measuring one clock against another (here and in lapic.c). Under
 * emulation the vCPU can lose the host CPU for many milliseconds at any
 * instant, while the emulated clocks keep following the host's. A window
 * timed as "read the TSC, wait N PIT ticks, read the TSC" counts such a
 * stall in the TSC's cycles: a 2.6 GHz TSC was measured at 2.96 GHz that
 * way with two test suites running. So a clock is read in a bracket - TSC,
 * read the other clock, TSC - and the narrowest of several brackets is
 * kept: a stall shows up as a wide bracket instead of as time. Two such
 * readings tens of milliseconds apart give the rate as an interval
 * [lo, hi] (timer_rate) that contains the true rate whatever happened in
 * between; its width is the two brackets plus one count at each end, a few
 * hundredths of a percent when the vCPU ran during the brackets. The
 * calibration keeps the narrowest of a few windows; the tests check that
 * fresh measurements agree with it (tests/x86/timer_test.c).
 */
#include "arch/x86_64/x86.h"

static int64_t tick_hz = 1000;
CMDLINE_INT(tick_hz, "hz", 10, 10000, "timer interrupts per second");

#define PIT_CHANNEL2 0x42
#define PIT_COMMAND 0x43
#define PIT_GATE_PORT 0x61
#define PIT_GATE2 0x01
#define PIT_SPEAKER 0x02
#define PIT_OUT2 0x20
#define PIT_CH2_ONESHOT_LOHI 0xb0 /* channel 2, lo/hi byte, mode 0, binary */
#define PIT_CH2_LATCH 0x80        /* channel 2, latch the count */
#define PIT_START_COUNT 0xffff    /* 54.9 ms until the one-shot ends */
#define PIT_WINDOW (PIT_HZ * 30 / 1000) /* 30 ms: room for a late end reading */
/* Polls of the count before the PIT is declared dead: a 30 ms window in
 * this many polls would take 7 ns a poll of three port accesses, far
 * faster than any PC or emulator does them. (QEMU -machine pit=off: the
 * kernel stops at once with "PIT channel 2 does not count".) */
#define PIT_POLLS_MAX (1u << 22)
#define BRACKET_TRIES 8           /* readings per end of a window */
#define CALIBRATION_TRIES 8       /* windows at most */
/* A window this narrow (relative width, per million) ends the calibration. */
#define CALIBRATION_GOOD_PPM 500
/* CPUID's frequency is nominal; the crystal is within this of it. */
#define CPUID_TSC_TOLERANCE_PPM 1000

/* rdtsc, not reordered with the port or MMIO access it brackets. */
static inline uint64_t tsc_ordered(void)
{
	__asm__ volatile("lfence" ::: "memory");
	uint64_t t = rdtsc();
	__asm__ volatile("lfence" ::: "memory");
	return t;
}

clock_reading clock_read_bracketed(uint64_t (*read)(void))
{
	clock_reading best = { 0, UINT64_MAX, 0 };
	for (int i = 0; i < BRACKET_TRIES; i++) {
		uint64_t before = tsc_ordered();
		uint64_t count = read();
		uint64_t after = tsc_ordered();
		if (after - before < best.tsc_after - best.tsc_before)
			best = (clock_reading){ before, after, count };
	}
	return best;
}

static uint64_t pit_read_count2(void)
{
	outb(PIT_COMMAND, PIT_CH2_LATCH);
	uint64_t lo = inb(PIT_CHANNEL2);
	return lo | (uint64_t)inb(PIT_CHANNEL2) << 8;
}

static bool timer_rate_from_readings(const clock_reading *start, const clock_reading *end,
				     uint64_t counts_per_sec, uint64_t counts, timer_rate *out)
{
	/* counts edges of the counted clock lie between the two latches: the
	 * time between them is within one count of counts / counts_per_sec.
	 * The TSC cycles between them lie between the inner and the outer
	 * bracket ends. */
	if (counts < 2 || end->tsc_before <= start->tsc_after)
		return false;
	unsigned __int128 inner = end->tsc_before - start->tsc_after;
	unsigned __int128 outer = end->tsc_after - start->tsc_before;
	out->lo = (uint64_t)(inner * counts_per_sec / (counts + 1));
	out->hi = (uint64_t)(outer * counts_per_sec / (counts - 1));
	return true;
}

static const char pit_dead[] = "PIT channel 2 does not count";

const char *pit_measure_tsc_hz(timer_rate *out)
{
	const char *err = NULL;
	arch_irqflags_t flags = arch_irq_save();
	/* gate low (stop), speaker off; program the count */
	outb(PIT_GATE_PORT, inb(PIT_GATE_PORT) & ~(PIT_GATE2 | PIT_SPEAKER));
	outb(PIT_COMMAND, PIT_CH2_ONESHOT_LOHI);
	outb(PIT_CHANNEL2, PIT_START_COUNT & 0xff);
	outb(PIT_CHANNEL2, PIT_START_COUNT >> 8);
	/* raising the gate starts the count down; OUT2 goes high at zero */
	outb(PIT_GATE_PORT, (inb(PIT_GATE_PORT) & ~PIT_SPEAKER) | PIT_GATE2);
	clock_reading start = clock_read_bracketed(pit_read_count2);
	uint32_t polls = 0;
	uint64_t now = start.count;
	while (start.count - now < PIT_WINDOW && now <= start.count && ++polls < PIT_POLLS_MAX)
		now = pit_read_count2();
	clock_reading end = clock_read_bracketed(pit_read_count2);
	/* OUT2 still low after the last reading: the count never reached
	 * zero (and wrapped) before it. */
	bool expired = inb(PIT_GATE_PORT) & PIT_OUT2;
	outb(PIT_GATE_PORT, inb(PIT_GATE_PORT) & ~PIT_GATE2);
	arch_irq_restore(flags);

	if (polls >= PIT_POLLS_MAX)
		err = pit_dead;
	else if (expired || end.count > start.count)
		err = "the PIT one-shot ran out before the closing reading (the CPU was held up)";
	else if (!timer_rate_from_readings(&start, &end, PIT_HZ, start.count - end.count, out))
		err = "the PIT counted too few ticks";
	return err;
}

static timer_rate tsc_rate;    /* the true TSC rate lies in [lo, hi] */
static uint64_t tsc_hz;        /* the estimate the clocks use */
static uint64_t tsc_at_boot;
static uint64_t ns_per_cycle_32_32; /* 1e9 / tsc_hz in 32.32 fixed point */
static const char *tsc_source = "pit";
static volatile uint64_t ticks;
static arch_tick_fn tick_handler;

static uint64_t tsc_from_cpuid(void)
{
	uint32_t r[4];
	cpuid(0, 0, r);
	uint32_t max_leaf = r[0];
	if (max_leaf >= 0x15) {
		cpuid(0x15, 0, r); /* eax: denominator, ebx: numerator, ecx: crystal Hz */
		if (r[0] && r[1] && r[2]) {
			tsc_source = "cpuid 0x15";
			return (uint64_t)r[2] * r[1] / r[0];
		}
	}
	if (max_leaf >= 0x16) {
		cpuid(0x16, 0, r); /* eax: base frequency in MHz */
		if (r[0]) {
			tsc_source = "cpuid 0x16";
			return (uint64_t)r[0] * 1000000;
		}
	}
	return 0;
}

uint64_t timer_rate_width_ppm(const timer_rate *r)
{
	if (r->hi == 0 || r->lo > r->hi)
		return UINT64_MAX;
	return (uint64_t)((unsigned __int128)(r->hi - r->lo) * 1000000 / r->hi);
}

/* The narrowest of up to CALIBRATION_TRIES PIT windows. */
static void tsc_from_pit(void)
{
	const char *err = NULL;
	bool any = false;
	for (int i = 0; i < CALIBRATION_TRIES; i++) {
		timer_rate r;
		err = pit_measure_tsc_hz(&r);
		if (err == pit_dead)
			break; /* no use trying again */
		if (err)
			continue;
		if (!any || r.hi - r.lo < tsc_rate.hi - tsc_rate.lo)
			tsc_rate = r;
		any = true;
		if (timer_rate_width_ppm(&tsc_rate) <= CALIBRATION_GOOD_PPM)
			break;
	}
	if (!any)
		panic("cannot measure the TSC against the PIT: %s", err);
}

void timer_init(void)
{
	tsc_at_boot = rdtsc();
	uint64_t nominal = tsc_from_cpuid();
	if (nominal) {
		uint64_t slack = nominal / 1000000 * CPUID_TSC_TOLERANCE_PPM;
		tsc_rate = (timer_rate){ nominal - slack, nominal + slack };
		tsc_hz = nominal;
	} else {
		tsc_from_pit();
		tsc_hz = tsc_rate.lo + (tsc_rate.hi - tsc_rate.lo) / 2;
	}
	if (tsc_hz < 1000000)
		panic("TSC frequency %llu Hz is implausible", (unsigned long long)tsc_hz);
	ns_per_cycle_32_32 = (1000000000ULL << 32) / tsc_hz;
	lapic_timer_start((uint32_t)tick_hz);
	kprintf("TSC %llu.%03llu MHz (%s, within %llu ppm), LAPIC timer %llu kHz, tick %lld Hz\n",
		(unsigned long long)(tsc_hz / 1000000),
		(unsigned long long)(tsc_hz / 1000 % 1000), tsc_source,
		(unsigned long long)timer_rate_width_ppm(&tsc_rate),
		(unsigned long long)(timer_lapic_hz() / 1000), (long long)tick_hz);
}

const char *timer_tsc_source(void) { return tsc_source; }
timer_rate timer_tsc_rate(void) { return tsc_rate; }

void timer_tick(void)
{
	ticks++;
	i8042_tick(); /* the keyboard, when IRQ 1 has no route */
	if (tick_handler)
		tick_handler();
}

uint64_t arch_cycles(void) { return rdtsc(); }
uint64_t arch_cycles_per_sec(void) { return tsc_hz; }
uint64_t arch_ticks(void) { return ticks; }
uint32_t arch_tick_hz(void) { return (uint32_t)tick_hz; }

arch_tick_fn arch_set_tick_handler(arch_tick_fn handler)
{
	arch_irqflags_t flags = arch_irq_save();
	arch_tick_fn old = tick_handler;
	tick_handler = handler;
	arch_irq_restore(flags);
	return old;
}

uint64_t arch_nanotime(void)
{
	uint64_t delta = rdtsc() - tsc_at_boot;
	return (uint64_t)(((unsigned __int128)delta * ns_per_cycle_32_32) >> 32);
}
