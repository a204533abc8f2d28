/*
 * timer_test.c - the clocks and the tick. Under emulation on a loaded host
 * the vCPU may stop for many milliseconds at any instant while the emulated
 * clocks go on, and timer interrupts that fall due meanwhile are merged
 * into one (or, when the emulator's own timer thread was held up, arrive
 * in a burst). So nothing here compares a rate measured over wall time with
 * a tolerance. Each check holds under any load:
 *   - rates are intervals that contain the true rate however long the vCPU
 *     stalled (timer.c), so two of them must overlap;
 *   - the LAPIC timer's registers say exactly what was programmed;
 *   - a periodic timer falls due at most once per period, so the ticks
 *     since it was loaded never outnumber the periods since then (+1 for
 *     an interrupt left pending from before);
 *   - no tick is taken with interrupts off.
 * Together they catch a wrong divisor or count (the registers, the
 * interval), a wrong calibration (the overlap, against each source present:
 * PIT, HPET, PM timer), a timer that runs fast (the count bound) or not at
 * all (the tick wait, bounded so it fails, not hangs). Sources that do not
 * tick (a stuck counter, a fake HPET, a port with no PM timer) must be
 * named, not waited on.
 */
#include "arch/x86_64/x86.h"
#include "tests/x86/qemu.h"
#include "lib/lib.h"

/* Any interval worth checking against is narrower than this. The
 * calibration keeps the narrowest of up to 8 windows; a window is this
 * wide only if the vCPU stalled for over 1% of 30 ms (300 us) during each
 * of the best of 8 readings, of a few microseconds each, at one of its
 * ends - in all 8 windows. */
#define USEFUL_WIDTH_PPM 10000
/* Waits for the tick end after this long, however loaded the host: a
 * broken timer fails the test instead of hanging the run. */
#define TICK_WAIT_LIMIT_NS (60 * NS_PER_SEC)

static bool rates_overlap(const timer_rate *a, const timer_rate *b)
{
	return a->lo <= b->hi && b->lo <= a->hi;
}

static void log_rate(const char *what, const timer_rate *r)
{
	test_log("%s: [%llu, %llu] Hz (%llu ppm wide)", what, (unsigned long long)r->lo,
		 (unsigned long long)r->hi, (unsigned long long)timer_rate_width_ppm(r));
}

/* Spins (no hlt: a dead timer must not hang us) until n more ticks came
 * or the limit passed; returns how many came. */
static uint64_t wait_for_ticks(uint64_t n)
{
	uint64_t k0 = arch_ticks(), t0 = arch_nanotime();
	while (arch_ticks() - k0 < n && arch_nanotime() - t0 < TICK_WAIT_LIMIT_NS)
		arch_cpu_relax();
	return arch_ticks() - k0;
}

TEST(timer, calibration_is_an_interval)
{
	timer_rate tsc = timer_tsc_rate();
	log_rate("TSC, calibrated", &tsc);
	CHECK_LE(tsc.lo, arch_cycles_per_sec());
	CHECK_GE(tsc.hi, arch_cycles_per_sec());
	CHECK_LE(timer_rate_width_ppm(&tsc), USEFUL_WIDTH_PPM);
	lapic_timer_state st;
	lapic_timer_read_state(&st);
	log_rate("LAPIC timer, calibrated", &st.rate);
	CHECK_LE(st.rate.lo, timer_lapic_hz());
	CHECK_GE(st.rate.hi, timer_lapic_hz());
	CHECK_LE(timer_rate_width_ppm(&st.rate), USEFUL_WIDTH_PPM);
}

/* A clock other than the one the boot calibrated with must overlap the
 * calibration widened by this much (0.1%): on a PC the PIT, the HPET and
 * the PM timer run off the chipset's crystals, each within ~100 ppm of
 * nominal; under QEMU all follow the host's clock and agree exactly. A
 * wrong period, counter width or unit is off by far more. */
#define OTHER_SOURCE_TOLERANCE_PPM 1000

/* The narrowest of up to 8 windows against the PIT (c NULL) or c; NULL
 * when one was had, else the last reason. */
static const char *measure_best(const timer_counter *c, timer_rate *best)
{
	timer_rate r;
	const char *err = NULL;
	*best = (timer_rate){ 0, UINT64_MAX };
	for (int i = 0; i < 8 && timer_rate_width_ppm(best) > USEFUL_WIDTH_PPM / 20; i++) {
		err = c ? counter_measure_tsc_hz(c, &r) : pit_measure_tsc_hz(&r);
		if (!err && r.hi - r.lo < best->hi - best->lo)
			*best = r;
	}
	return best->hi != UINT64_MAX ? NULL : err;
}

/* A fresh measurement against `source` must overlap the calibration: both
 * contain the true rate (widened when they come from different clocks). */
static void check_agrees(const char *source, const timer_rate *now)
{
	timer_rate cal = timer_tsc_rate();
	bool same = strcmp(source, timer_tsc_source()) == 0;
	uint64_t slack = same ? 0 : cal.hi / 1000000 * OTHER_SOURCE_TOLERANCE_PPM;
	timer_rate wide = { cal.lo - slack, cal.hi + slack };
	test_log("TSC source %s", timer_tsc_source());
	log_rate("TSC, calibrated", &cal);
	int64_t off_ppm = ((int64_t)(now->lo / 2 + now->hi / 2) - (int64_t)arch_cycles_per_sec()) /
			  (int64_t)(arch_cycles_per_sec() / 1000000);
	test_log("TSC, against %s now: [%llu, %llu] Hz (%llu ppm wide), middle %s%lld ppm from "
		 "the calibration's", source, (unsigned long long)now->lo,
		 (unsigned long long)now->hi, (unsigned long long)timer_rate_width_ppm(now),
		 off_ppm < 0 ? "-" : "+", (long long)(off_ppm < 0 ? -off_ppm : off_ppm));
	CHECK_LE(timer_rate_width_ppm(now), USEFUL_WIDTH_PPM);
	CHECK_MSG(rates_overlap(now, &wide), "TSC rate [%llu, %llu] Hz against %s, [%llu, "
		  "%llu] Hz at boot (%s, widened by %llu)", (unsigned long long)now->lo,
		  (unsigned long long)now->hi, source, (unsigned long long)cal.lo,
		  (unsigned long long)cal.hi, timer_tsc_source(), (unsigned long long)slack);
}

/* No PIT is the one absence these accept (the ACPI tables say nothing
 * about it): on a real PC, or on QEMU when the matrix started the
 * legacy-free machine (expect_legacy_free=1). */
TEST(timer, tsc_agrees_with_pit)
{
	timer_rate best;
	const char *err = measure_best(NULL, &best);
	if (err && strcmp(err, "PIT channel 2 does not count") == 0 &&
	    strcmp(timer_tsc_source(), "pit") != 0 && (!test_on_qemu() || expect_legacy_free)) {
		test_log("no PIT here: %s", err);
		return;
	}
	CHECK_MSG(!err, "no PIT window: %s", err);
	check_agrees("pit", &best);
}

TEST(timer, tsc_agrees_with_hpet)
{
	timer_counter c;
	const char *err = timer_counter_hpet(&c);
	if (!acpi_boot_platform.hpet) {
		CHECK_STREQ(err, "no HPET in the ACPI tables");
		test_log("no HPET here");
		return;
	}
	CHECK_MSG(!err, "HPET: %s", err);
	test_log("HPET: %llu Hz, %s-bit main counter", (unsigned long long)c.hz,
		 c.mask == UINT64_MAX ? "64" : "32");
	timer_rate best;
	err = measure_best(&c, &best);
	CHECK_MSG(!err, "no HPET window: %s", err);
	check_agrees("hpet", &best);
}

TEST(timer, tsc_agrees_with_pmtimer)
{
	timer_counter c;
	const char *err = timer_counter_pmtimer(&c);
	if (!acpi_boot_platform.pm_timer_port) {
		CHECK_STREQ(err, "no ACPI PM timer in the FADT");
		test_log("no PM timer here");
		return;
	}
	CHECK_MSG(!err, "PM timer: %s", err);
	timer_rate best;
	err = measure_best(&c, &best);
	CHECK_MSG(!err, "no PM timer window: %s", err);
	check_agrees("pmtimer", &best);
}

/* clocksource= forces the source; "auto" picks the first that works, and
 * on QEMU TCG (no CPUID 0x15) that is the HPET when the machine has one,
 * else the PM timer. */
TEST(timer, clocksource_used)
{
	const char *opt = timer_clocksource_option();
	test_log("clocksource=%s, TSC calibrated from %s", opt, timer_tsc_source());
	if (strcmp(opt, "auto") != 0) {
		CHECK_EQ(strncmp(timer_tsc_source(), opt, strlen(opt)), 0);
		return;
	}
	if (strncmp(timer_tsc_source(), "cpuid", 5) == 0)
		return; /* a CPU that reports its TSC rate (KVM, -cpu host) */
	if (acpi_boot_platform.hpet)
		CHECK_STREQ(timer_tsc_source(), "hpet");
	else if (acpi_boot_platform.pm_timer_port)
		CHECK_STREQ(timer_tsc_source(), "pmtimer");
	else
		CHECK_STREQ(timer_tsc_source(), "pit");
}

/* ---- the window arithmetic, against a counter made from the TSC -------- */
/* A counter at fake.hz, computed from the TSC at the calibrated rate and
 * started near the top of its width: its true rate is arch_cycles_per_sec()
 * exactly (up to the truncation), so the measured interval must contain
 * it, however the vCPU is held up - and the window crosses the wrap. */
static uint64_t fake_tsc0, fake_start;

static uint64_t read_from_tsc(const timer_counter *c)
{
	uint64_t cycles = arch_cycles() - fake_tsc0;
	uint64_t counts = (uint64_t)((unsigned __int128)cycles * c->hz / arch_cycles_per_sec());
	return (fake_start + counts) & c->mask;
}

TEST(timer, counter_window_wraps)
{
	static const struct {
		uint64_t hz, mask;
	} kinds[] = {
		{ 3579545, 0xffffff },          /* 24-bit PM timer */
		{ 3579545, 0xffffffff },        /* 32-bit PM timer */
		{ 14318180, 0xffffffff },       /* 32-bit HPET */
		{ 100000000, UINT64_MAX },      /* 64-bit HPET (QEMU's) */
	};
	uint64_t f = arch_cycles_per_sec();
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		timer_counter c = { .name = "fake", .read = read_from_tsc, .hz = kinds[i].hz,
				    .mask = kinds[i].mask, .dead = "fake does not advance" };
		/* ~5 ms of counts before the top: the 30 ms window wraps. */
		fake_start = kinds[i].mask - kinds[i].hz / 200;
		fake_tsc0 = arch_cycles();
		timer_rate r;
		const char *err = counter_measure_tsc_hz(&c, &r);
		CHECK_MSG(!err, "fake counter %zu: %s", i, err);
		if (err)
			continue;
		test_log("%llu Hz counter of mask 0x%llx: TSC [%llu, %llu] Hz", (unsigned long long)c.hz,
			 (unsigned long long)c.mask, (unsigned long long)r.lo, (unsigned long long)r.hi);
		CHECK(read_from_tsc(&c) < fake_start); /* it did wrap (unsigned) */
		/* Truncation makes the fake counter at most one count late. */
		CHECK_MSG(r.lo <= f && f <= r.hi, "TSC %llu Hz outside [%llu, %llu]",
			  (unsigned long long)f, (unsigned long long)r.lo, (unsigned long long)r.hi);
		CHECK_LE(timer_rate_width_ppm(&r), USEFUL_WIDTH_PPM);
	}
}

/* ---- sources that do not tick: named, bounded, no hang ---------------- */
static uint64_t read_stuck(const timer_counter *c)
{
	(void)c;
	return 12345;
}

TEST(timer, dead_counter_reported)
{
	timer_counter c = { .name = "stuck", .read = read_stuck, .hz = 3579545,
			    .mask = 0xffffff, .dead = "stuck counter does not advance" };
	timer_rate r = { 1, 2 };
	uint64_t t0 = arch_nanotime();
	CHECK_STREQ(counter_measure_tsc_hz(&c, &r), "stuck counter does not advance");
	test_log("given up after %llu us", (unsigned long long)((arch_nanotime() - t0) / 1000));
	CHECK_EQ(r.lo, 1); /* untouched */
}

/* A fake HPET in RAM: all ones (nothing decodes the address) has no valid
 * period; a valid one that is stopped gets its enable bit set, and its
 * main counter, which nothing advances, is reported by name. */
static uint64_t fake_hpet[0x400 / 8] __attribute__((aligned(4096)));

TEST(timer, fake_hpet_reported)
{
	timer_counter c;
	bool started = true;
	memset(fake_hpet, 0xff, sizeof fake_hpet);
	const char *err = hpet_counter_open(fake_hpet, &c, &started);
	CHECK(err != NULL);
	CHECK(strstr(err, "period") != NULL);
	CHECK(!started);

	memset(fake_hpet, 0, sizeof fake_hpet);
	fake_hpet[0] = (uint64_t)10000000 << 32 | (1u << 13); /* 10 ns: 100 MHz, 64-bit */
	CHECK(hpet_counter_open(fake_hpet, &c, &started) == NULL);
	CHECK(started);
	CHECK_EQ(fake_hpet[2] & 1, 1); /* general configuration: enabled */
	CHECK_EQ(c.hz, 100000000);
	CHECK_EQ(c.mask, UINT64_MAX);
	timer_rate r;
	CHECK_STREQ(counter_measure_tsc_hz(&c, &r), "HPET main counter does not advance");
	fake_hpet[0] = (uint64_t)69841279 << 32; /* 14.318 MHz, 32-bit */
	CHECK(hpet_counter_open(fake_hpet, &c, &started) == NULL);
	CHECK(!started); /* already enabled */
	CHECK_EQ(c.hz, 14318179); /* 1e15 fs / period, truncated */
	CHECK_EQ(c.mask, 0xffffffffULL);
}

/* A PM timer at a port where none is (0x80, the POST code port): reported
 * by name, in bounded time. */
TEST(timer, pmtimer_absent_port_reported)
{
	timer_counter c;
	timer_counter_pmtimer_at(0x80, false, &c);
	timer_rate r;
	CHECK_STREQ(counter_measure_tsc_hz(&c, &r), "ACPI PM timer does not advance");
}

/* The LAPIC timer as programmed: periodic, our vector, divide by 16 (the
 * divisor it was calibrated with), a period of lapic_hz / hz counts (or
 * the TSC-deadline mode, a period of tsc_hz / hz cycles); its
 * rate measured again overlaps the calibration; it runs; and it never
 * delivers more ticks than periods have passed since it was loaded. */
TEST(timer, tick_rate)
{
	enum { TICKS = 100 };
	uint32_t hz = arch_tick_hz();
	timer_rate now;
	CHECK(lapic_timer_measure(&now)); /* reloads the timer */
	lapic_timer_state st;
	lapic_timer_read_state(&st);
	log_rate("LAPIC timer, calibrated", &st.rate);
	log_rate("LAPIC timer, now", &now);
	CHECK_LE(timer_rate_width_ppm(&now), USEFUL_WIDTH_PPM);
	CHECK(rates_overlap(&now, &st.rate));
	if (st.mode == LAPIC_TICK_DEADLINE) {
		CHECK_EQ(st.lvt & (LAPIC_LVT_MASKED | LAPIC_TIMER_MODE_MASK | 0xff),
			 LAPIC_TIMER_DEADLINE_MODE | IRQ_TIMER_VECTOR);
		CHECK_EQ(st.deadline_period, arch_cycles_per_sec() / hz);
	} else {
		CHECK_EQ(st.lvt & (LAPIC_LVT_MASKED | LAPIC_TIMER_MODE_MASK | 0xff),
			 LAPIC_TIMER_PERIODIC | IRQ_TIMER_VECTOR);
		CHECK_EQ(st.divide & 0xb, LAPIC_DIVIDE_16);
		CHECK_EQ(st.initial_count, timer_lapic_hz() / hz);
	}

	uint64_t got = wait_for_ticks(TICKS);
	CHECK_MSG(got >= TICKS, "%llu of %d ticks in %llu s", (unsigned long long)got, TICKS,
		  (unsigned long long)(TICK_WAIT_LIMIT_NS / NS_PER_SEC));
	/* Periods since the load, at most: elapsed TSC cycles over the
	 * slowest TSC rate, divided by the shortest period (initial count
	 * over the fastest LAPIC rate). loaded_tsc was read before the load. */
	arch_irqflags_t irq = arch_irq_save();
	uint64_t ticks = arch_ticks() - st.loaded_ticks;
	uint64_t cycles = arch_cycles() - st.loaded_tsc;
	arch_irq_restore(irq);
	timer_rate tsc = timer_tsc_rate();
	/* Deadline mode: deadlines are at least a period of TSC cycles
	 * apart, the first one period after the load. */
	uint64_t periods = st.mode == LAPIC_TICK_DEADLINE
		? cycles / st.deadline_period
		: (uint64_t)((unsigned __int128)cycles * st.rate.hi /
			     ((unsigned __int128)tsc.lo * st.initial_count));
	test_log("%llu ticks delivered in %llu periods (%llu us)", (unsigned long long)ticks,
		 (unsigned long long)periods,
		 (unsigned long long)((unsigned __int128)cycles * 1000000 / tsc.lo));
	CHECK_MSG(ticks <= periods + 1, "%llu ticks in at most %llu periods of 1/%u s",
		  (unsigned long long)ticks, (unsigned long long)periods, hz);
}

TEST(timer, nanotime_monotonic)
{
	uint64_t prev = arch_nanotime();
	for (int i = 0; i < 100000; i++) {
		uint64_t now = arch_nanotime();
		CHECK_GE(now, prev);
		prev = now;
	}
	uint64_t c0 = arch_cycles(), n0 = arch_nanotime(), k0 = arch_ticks();
	CHECK_GE(wait_for_ticks(3), 3);
	CHECK_GT(arch_cycles(), c0);
	CHECK_GT(arch_nanotime(), n0);
	CHECK_GE(arch_ticks(), k0 + 3);
}

static volatile uint64_t handler_calls;
static arch_tick_fn chained_handler;

static void count_tick(void)
{
	handler_calls++;
	if (chained_handler)
		chained_handler();
}

/* The handler runs once per tick, exactly; the one it replaced (the
 * scheduler's) goes on being called and is put back. */
TEST(timer, tick_handler_runs)
{
	CHECK(arch_irq_enabled());
	arch_irqflags_t irq = arch_irq_save();
	handler_calls = 0;
	chained_handler = arch_set_tick_handler(count_tick);
	uint64_t k0 = arch_ticks();
	arch_irq_restore(irq);
	uint64_t got = wait_for_ticks(5);
	irq = arch_irq_save();
	arch_tick_fn mine = arch_set_tick_handler(chained_handler);
	uint64_t calls = handler_calls, k1 = arch_ticks();
	arch_irq_restore(irq);
	CHECK_GE(got, 5);
	CHECK(mine == count_tick);
	CHECK(chained_handler != NULL); /* the scheduler's */
	CHECK_EQ(calls, k1 - k0);
}

TEST(timer, irq_save_restore)
{
	CHECK(arch_irq_enabled());
	arch_irqflags_t outer = arch_irq_save();
	CHECK(!arch_irq_enabled());
	arch_irqflags_t inner = arch_irq_save();
	arch_irq_restore(inner);
	CHECK(!arch_irq_enabled()); /* nested: still off */
	uint64_t k0 = arch_ticks();
	uint64_t t0 = arch_nanotime();
	while (arch_nanotime() - t0 < 5 * 1000 * 1000ULL)
		arch_cpu_relax();
	CHECK_EQ(arch_ticks(), k0); /* no tick while interrupts are off */
	arch_irq_restore(outer);
	CHECK(arch_irq_enabled());
}
