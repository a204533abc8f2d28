/*
 * timer.c - time: the TSC as the cycle clock and the monotonic nanosecond
 * clock, and the periodic tick from the LAPIC timer at `hz=` per second
 * (lapic.c, which measures the LAPIC timer against the TSC). Conversions
 * use a precomputed 32.32 fixed-point factor, so reading the clock takes
 * no division.
 *
 * The TSC's rate comes from the best source present (`clocksource=auto`):
 * CPUID 0x15 (the crystal and the TSC's ratio to it: exact); else measured
 * against the HPET (the ACPI HPET table; its period from the capabilities
 * register, the main counter started if the firmware left it stopped);
 * else against the ACPI PM timer (the FADT's port, 3.579545 MHz, 24 or 32
 * bits, wraparound handled); else against PIT channel 2; else CPUID 0x16's
 * nominal base frequency. A source that does not tick is named with the
 * reason ("HPET main counter does not advance") and the next one tried;
 * every wait is bounded. `clocksource=cpuid|hpet|pmtimer|pit` forces one:
 * if it is missing or does not tick, the boot stops with that reason and
 * exit status EXIT_CMDLINE, like any other bad option.
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
static const char *clocksource = "auto";
CMDLINE_STRING(clocksource, "clocksource",
	       "what calibrates the TSC: auto, cpuid, hpet, pmtimer or pit");

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
 * PIT is passed over at once with "PIT channel 2 does not count".) */
#define PIT_POLLS_MAX (1u << 22)
/* HPET and PM timer windows: as long as the PIT's, bounded the same way;
 * a counter that reads the same this many times in a row is dead (the PM
 * timer, the slowest, moves every 279 ns; no read takes 4 ns). */
#define COUNTER_WINDOW_MS 30
#define COUNTER_POLLS_MAX (1u << 22)
#define COUNTER_STALL_POLLS (1u << 16)
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
/* What the last PIT measurement found, for the platform summary. */
static const char *pit_state = "not probed";

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
	uint32_t polls = 0, same = 0;
	uint64_t now = start.count;
	/* Dead either way: the same count COUNTER_STALL_POLLS reads in a row
	 * (the count moves every 838 ns; a gated or absent 8254 reads one
	 * value for ever), or no window after PIT_POLLS_MAX reads. */
	while (start.count - now < PIT_WINDOW && now <= start.count && ++polls < PIT_POLLS_MAX) {
		uint64_t next = pit_read_count2();
		same = next == now ? same + 1 : 0;
		now = next;
		if (same >= COUNTER_STALL_POLLS) {
			polls = PIT_POLLS_MAX;
			break;
		}
	}
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
	pit_state = err == pit_dead ? "does not count" : "counts";
	return err;
}

/* ---- HPET and ACPI PM timer ------------------------------------------- */
#define HPET_MMIO_LEN 0x400
#define HPET_REG_CAP 0x000        /* capabilities and ID */
#define HPET_REG_CONFIG 0x010     /* general configuration */
#define HPET_REG_COUNTER 0x0f0    /* main counter */
#define HPET_CAP_PERIOD_SHIFT 32  /* femtoseconds per count, bits 63:32 */
#define HPET_CAP_COUNT_64 (1u << 13)
#define HPET_CONFIG_ENABLE 1u
#define HPET_PERIOD_MAX 100000000u /* 100 ns: the spec's slowest */
#define FS_PER_SEC 1000000000000000ULL
#define PM_TIMER_HZ 3579545
#define PM_TIMER_24BIT_MASK 0xffffffULL

static const char hpet_dead[] = "HPET main counter does not advance";
static const char pmtimer_dead[] = "ACPI PM timer does not advance";

static uint64_t hpet_read(const timer_counter *c)
{
	const volatile uint8_t *r = c->regs;
	uint64_t v = *(const volatile uint64_t *)(r + HPET_REG_COUNTER);
	return v & c->mask;
}

static uint64_t pmtimer_read(const timer_counter *c) { return inl(c->port) & c->mask; }

const char *hpet_counter_open(volatile void *regs, timer_counter *out, bool *started)
{
	volatile uint8_t *r = regs;
	uint64_t cap = *(volatile uint64_t *)(r + HPET_REG_CAP);
	uint32_t period = (uint32_t)(cap >> HPET_CAP_PERIOD_SHIFT);
	*started = false;
	if (period == 0 || period > HPET_PERIOD_MAX)
		return "HPET period register out of range (no HPET at that address?)";
	volatile uint64_t *config = (volatile uint64_t *)(r + HPET_REG_CONFIG);
	if (!(*config & HPET_CONFIG_ENABLE)) {
		*config |= HPET_CONFIG_ENABLE;
		*started = true;
	}
	*out = (timer_counter){
		.name = "hpet",
		.read = hpet_read,
		.regs = regs,
		.hz = FS_PER_SEC / period,
		.mask = cap & HPET_CAP_COUNT_64 ? UINT64_MAX : 0xffffffffULL,
		.dead = hpet_dead,
	};
	return NULL;
}

static volatile void *hpet_regs; /* mapped on first use */
static bool hpet_started_by_us;

const char *timer_counter_hpet(timer_counter *out)
{
	const acpi_platform *pf = &acpi_boot_platform;
	if (!pf->hpet)
		return "no HPET in the ACPI tables";
	if (!hpet_regs)
		hpet_regs = vmm_map_mmio(pf->hpet_addr, HPET_MMIO_LEN);
	if (!hpet_regs)
		return "cannot map the HPET";
	bool started;
	const char *err = hpet_counter_open(hpet_regs, out, &started);
	hpet_started_by_us |= started;
	return err;
}

void timer_counter_pmtimer_at(uint16_t port, bool is_32bit, timer_counter *out)
{
	*out = (timer_counter){
		.name = "pmtimer",
		.read = pmtimer_read,
		.port = port,
		.hz = PM_TIMER_HZ,
		.mask = is_32bit ? 0xffffffffULL : PM_TIMER_24BIT_MASK,
		.dead = pmtimer_dead,
	};
}

const char *timer_counter_pmtimer(timer_counter *out)
{
	const acpi_platform *pf = &acpi_boot_platform;
	if (!pf->pm_timer_port)
		return "no ACPI PM timer in the FADT";
	timer_counter_pmtimer_at((uint16_t)pf->pm_timer_port, pf->pm_timer_32bit, out);
	return NULL;
}

static clock_reading counter_read_bracketed(const timer_counter *c)
{
	clock_reading best = { 0, UINT64_MAX, 0 };
	for (int i = 0; i < BRACKET_TRIES; i++) {
		uint64_t before = tsc_ordered();
		uint64_t count = c->read(c);
		uint64_t after = tsc_ordered();
		if (after - before < best.tsc_after - best.tsc_before)
			best = (clock_reading){ before, after, count };
	}
	return best;
}

/*
 * One ~30 ms window of an up-counting counter, bracketed at both ends.
 * Counts are taken modulo the counter's width, so a wrap inside the window
 * is fine; a wrap the polls do not see (the vCPU stopped longer than the
 * counter's whole range, 4.7 s for a 24-bit PM timer, between two polls)
 * is not detected.
 */
const char *counter_measure_tsc_hz(const timer_counter *c, timer_rate *out)
{
	const char *err = NULL;
	uint64_t window = c->hz * COUNTER_WINDOW_MS / 1000;
	arch_irqflags_t flags = arch_irq_save();
	clock_reading start = counter_read_bracketed(c);
	uint64_t now = start.count, last = now;
	uint32_t polls = 0, same = 0;
	while (((now - start.count) & c->mask) < window) {
		if (++polls >= COUNTER_POLLS_MAX) {
			err = c->dead;
			break;
		}
		now = c->read(c);
		if (now != last)
			same = 0;
		else if (++same >= COUNTER_STALL_POLLS) {
			err = c->dead;
			break;
		}
		last = now;
	}
	clock_reading end = counter_read_bracketed(c);
	arch_irq_restore(flags);
	if (!err && !timer_rate_from_readings(&start, &end, c->hz,
					      (end.count - start.count) & c->mask, out))
		err = "the counter counted too few ticks";
	return err;
}

/* ---- the calibration -------------------------------------------------- */
static timer_rate tsc_rate;    /* the true TSC rate lies in [lo, hi] */
static uint64_t tsc_hz;        /* the estimate the clocks use */
static uint64_t tsc_at_boot;
static uint64_t ns_per_cycle_32_32; /* 1e9 / tsc_hz in 32.32 fixed point */
static const char *tsc_source = "none";
static volatile uint64_t ticks;
static arch_tick_fn tick_handler;
/* The sources tried before the one that calibrated, and why each failed. */
static struct {
	const char *source, *why;
} skipped[4];
static size_t skipped_count;

/* leaf 0x15: exact (crystal * ratio); leaf 0x16: nominal base MHz. */
static uint64_t tsc_from_cpuid_leaf(uint32_t leaf)
{
	uint32_t r[4];
	cpuid(0, 0, r);
	if (r[0] < leaf)
		return 0;
	cpuid(leaf, 0, r);
	if (leaf == 0x15) /* eax: denominator, ebx: numerator, ecx: crystal Hz */
		return r[0] && r[1] && r[2] ? (uint64_t)r[2] * r[1] / r[0] : 0;
	return (uint64_t)r[0] * 1000000; /* eax: base frequency in MHz */
}

uint64_t timer_rate_width_ppm(const timer_rate *r)
{
	if (r->hi == 0 || r->lo > r->hi)
		return UINT64_MAX;
	return (uint64_t)((unsigned __int128)(r->hi - r->lo) * 1000000 / r->hi);
}

/* The narrowest of up to CALIBRATION_TRIES windows against the PIT (c
 * NULL) or a counter; NULL or why none could be had. */
static const char *tsc_measure(const timer_counter *c, timer_rate *best)
{
	const char *err = NULL;
	bool any = false;
	for (int i = 0; i < CALIBRATION_TRIES; i++) {
		timer_rate r;
		err = c ? counter_measure_tsc_hz(c, &r) : pit_measure_tsc_hz(&r);
		if (err == pit_dead || (c && err == c->dead))
			break; /* no use trying again */
		if (err)
			continue;
		if (!any || r.hi - r.lo < best->hi - best->lo)
			*best = r;
		any = true;
		if (timer_rate_width_ppm(best) <= CALIBRATION_GOOD_PPM)
			break;
	}
	return any ? NULL : err;
}

static const char *try_cpuid(uint32_t leaf)
{
	uint64_t nominal = tsc_from_cpuid_leaf(leaf);
	if (!nominal)
		return leaf == 0x15 ? "CPUID leaf 0x15 gives no TSC/crystal ratio"
				    : "CPUID leaf 0x16 gives no base frequency";
	uint64_t slack = nominal / 1000000 * CPUID_TSC_TOLERANCE_PPM;
	tsc_rate = (timer_rate){ nominal - slack, nominal + slack };
	tsc_source = leaf == 0x15 ? "cpuid 0x15" : "cpuid 0x16";
	return NULL;
}

static const char *try_source(const char *name)
{
	timer_counter c;
	const char *err;
	if (strcmp(name, "pit") == 0) {
		if ((err = tsc_measure(NULL, &tsc_rate)))
			return err;
	} else if (strcmp(name, "hpet") == 0 || strcmp(name, "pmtimer") == 0) {
		err = name[0] == 'h' ? timer_counter_hpet(&c) : timer_counter_pmtimer(&c);
		if (err || (err = tsc_measure(&c, &tsc_rate)))
			return err;
	} else {
		return "not a clock source";
	}
	tsc_source = name;
	return NULL;
}

static bool clocksource_valid(const char *v)
{
	static const char *const names[] = { "auto", "cpuid", "hpet", "pmtimer", "pit" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(v, names[i]) == 0)
			return true;
	return false;
}

static void skip(const char *source, const char *why)
{
	kprintf("timer: %s: %s; trying the next source\n", source, why);
	if (skipped_count < ARRAY_SIZE(skipped))
		skipped[skipped_count++] = (typeof(skipped[0])){ source, why };
}

static void tsc_calibrate(void)
{
	if (!clocksource_valid(clocksource)) {
		kprintf("cmdline: clocksource=%s: not one of auto, cpuid, hpet, pmtimer, pit\n",
			clocksource);
		arch_exit(EXIT_CMDLINE);
	}
	const char *err;
	if (strcmp(clocksource, "cpuid") == 0) {
		if ((err = try_cpuid(0x15)) && (err = try_cpuid(0x16))) {
			kprintf("cmdline: clocksource=cpuid: the CPU reports no TSC rate "
				"(leaves 0x15 and 0x16)\n");
			arch_exit(EXIT_CMDLINE);
		}
		return;
	}
	if (strcmp(clocksource, "auto") != 0) {
		if ((err = try_source(clocksource))) {
			kprintf("cmdline: clocksource=%s: %s\n", clocksource, err);
			arch_exit(EXIT_CMDLINE);
		}
		return;
	}
	if (!(err = try_cpuid(0x15)))
		return;
	static const char *const measured[] = { "hpet", "pmtimer", "pit" };
	for (size_t i = 0; i < ARRAY_SIZE(measured); i++) {
		if (!(err = try_source(measured[i])))
			return;
		skip(measured[i], err);
	}
	if (!(err = try_cpuid(0x16)))
		return;
	panic("cannot calibrate the TSC: no source ticks (%s)", err);
}

void timer_init(void)
{
	tsc_at_boot = rdtsc();
	tsc_calibrate();
	tsc_hz = tsc_rate.lo + (tsc_rate.hi - tsc_rate.lo) / 2;
	if (tsc_hz < 1000000)
		panic("TSC frequency %llu Hz is implausible", (unsigned long long)tsc_hz);
	ns_per_cycle_32_32 = (1000000000ULL << 32) / tsc_hz;
	lapic_timer_start((uint32_t)tick_hz);
	kprintf("TSC %llu.%03llu MHz (%s, within %llu ppm), LAPIC timer %llu kHz (against "
		"the TSC), tick %lld Hz from the %s\n",
		(unsigned long long)(tsc_hz / 1000000),
		(unsigned long long)(tsc_hz / 1000 % 1000), tsc_source,
		(unsigned long long)timer_rate_width_ppm(&tsc_rate),
		(unsigned long long)(timer_lapic_hz() / 1000), (long long)tick_hz,
		lapic_timer_mode() == LAPIC_TICK_DEADLINE ? "TSC-deadline timer" : "periodic LAPIC timer");
}

const char *timer_clocksource_option(void) { return clocksource; }

void timer_print_calibration(void)
{
	kprintf("platform: calibration: TSC rate from %s", tsc_source);
	if (strcmp(tsc_source, "hpet") == 0)
		kprintf(" (HPET at 0x%llx%s)", (unsigned long long)acpi_boot_platform.hpet_addr,
			hpet_started_by_us ? ", main counter started here" : "");
	else if (strcmp(tsc_source, "pmtimer") == 0)
		kprintf(" (ACPI PM timer at port 0x%x)", acpi_boot_platform.pm_timer_port);
	char tick[128];
	lapic_timer_describe(tick, sizeof tick);
	kprintf(", clocksource=%s; LAPIC timer measured against the TSC (%llu kHz, %s); "
		"the tick: %s\n",
		clocksource, (unsigned long long)(timer_lapic_hz() / 1000),
		lapic_is_x2apic() ? "x2APIC: MSRs" : "xAPIC: MMIO", tick);
	for (size_t i = 0; i < skipped_count; i++)
		kprintf("platform: calibration: %s not used: %s\n", skipped[i].source,
			skipped[i].why);
	kprintf("platform: PIT (not in the ACPI tables): %s\n", pit_state);
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
