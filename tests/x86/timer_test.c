/*
 * timer_test.c - time under emulation is noisy, so every check here is
 * statistical: medians or best-of-N windows with bounds far wider than the
 * noise, yet tight enough that a wrong divisor or a lost calibration fails.
 */
#include "arch/x86_64/x86.h"
#include "tests/test.h"

/* Ticks per second measured against the TSC over a window; the best of
 * three windows must be within 5% of hz= (a loaded host can only lose
 * ticks, or stretch one window, never make a wrong rate look right). */
TEST(timer, tick_rate)
{
	uint64_t hz = arch_tick_hz(), best_err = UINT64_MAX, best_rate = 0;
	for (int w = 0; w < 3 && best_err * 20 > hz; w++) {
		uint64_t k0 = arch_ticks(), t0 = arch_nanotime();
		while (arch_nanotime() - t0 < 300 * 1000 * 1000ULL)
			arch_wait_for_interrupt();
		uint64_t dk = arch_ticks() - k0, dt = arch_nanotime() - t0;
		uint64_t rate = dk * 1000000000ULL / dt;
		uint64_t err = rate > hz ? rate - hz : hz - rate;
		test_log("window %d: %llu ticks in %llu us = %llu Hz", w,
			 (unsigned long long)dk, (unsigned long long)(dt / 1000),
			 (unsigned long long)rate);
		if (err < best_err) {
			best_err = err;
			best_rate = rate;
		}
	}
	CHECK_MSG(best_err * 20 <= hz, "tick rate %llu Hz, configured %llu Hz",
		  (unsigned long long)best_rate, (unsigned long long)hz);
}

/* The calibrated TSC rate against fresh PIT windows of 50 ms: the median of
 * five must agree within 1%. */
TEST(timer, tsc_agrees_with_pit)
{
	enum { N = 5, WINDOW = PIT_HZ / 20 };
	uint64_t s[N];
	for (int i = 0; i < N; i++) {
		uint64_t v = pit_measure_tsc(WINDOW) * PIT_HZ / WINDOW;
		int j = i;
		for (; j > 0 && s[j - 1] > v; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
	uint64_t hz = arch_cycles_per_sec(), m = s[N / 2];
	uint64_t diff = m > hz ? m - hz : hz - m;
	test_log("TSC source %s: calibrated %llu Hz, PIT median %llu Hz", timer_tsc_source(),
		 (unsigned long long)hz, (unsigned long long)m);
	CHECK_MSG(diff * 100 <= hz, "TSC %llu Hz vs PIT %llu Hz differ by more than 1%%",
		  (unsigned long long)hz, (unsigned long long)m);
}

TEST(timer, nanotime_monotonic)
{
	uint64_t prev = arch_nanotime();
	for (int i = 0; i < 100000; i++) {
		uint64_t now = arch_nanotime();
		CHECK_GE(now, prev);
		prev = now;
	}
	uint64_t c0 = arch_cycles(), n0 = arch_nanotime();
	for (int i = 0; i < 3; i++)
		arch_wait_for_interrupt();
	CHECK_GT(arch_cycles(), c0);
	CHECK_GT(arch_nanotime(), n0);
}

static volatile uint64_t handler_calls;
static void count_tick(void) { handler_calls++; }

TEST(timer, tick_handler_runs)
{
	CHECK(arch_irq_enabled());
	handler_calls = 0;
	arch_set_tick_handler(count_tick);
	uint64_t k0 = arch_ticks();
	while (arch_ticks() - k0 < 5)
		arch_wait_for_interrupt();
	arch_set_tick_handler(NULL);
	CHECK_GE(handler_calls, 4);
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
