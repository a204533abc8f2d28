/*
 * timer.c - time: the TSC as the cycle clock and the monotonic nanosecond
 * clock, its frequency from CPUID 0x15/0x16 when the CPU reports it, else
 * calibrated against the PIT; and the periodic tick from the LAPIC timer at
 * `hz=` per second. Conversions use a precomputed 32.32 fixed-point factor,
 * so reading the clock takes no division.
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

uint64_t pit_measure_tsc(uint32_t pit_ticks)
{
	ASSERT(pit_ticks > 0 && pit_ticks <= 0xffff);
	arch_irqflags_t flags = arch_irq_save();
	/* gate low (stop), speaker off; program the count */
	outb(PIT_GATE_PORT, inb(PIT_GATE_PORT) & ~(PIT_GATE2 | PIT_SPEAKER));
	outb(PIT_COMMAND, PIT_CH2_ONESHOT_LOHI);
	outb(PIT_CHANNEL2, pit_ticks & 0xff);
	outb(PIT_CHANNEL2, pit_ticks >> 8);
	/* raising the gate starts the count; OUT2 goes high at zero */
	uint64_t start = rdtsc();
	outb(PIT_GATE_PORT, (inb(PIT_GATE_PORT) & ~PIT_SPEAKER) | PIT_GATE2);
	while (!(inb(PIT_GATE_PORT) & PIT_OUT2))
		;
	uint64_t end = rdtsc();
	outb(PIT_GATE_PORT, inb(PIT_GATE_PORT) & ~PIT_GATE2);
	arch_irq_restore(flags);
	return end - start;
}

static uint64_t tsc_hz;
static uint64_t tsc_at_boot;
static uint64_t ns_per_cycle_32_32; /* 1e9 / tsc_hz in 32.32 fixed point */
static const char *tsc_source = "pit";
static volatile uint64_t ticks;
static void (*tick_handler)(void);

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

static uint64_t tsc_from_pit(void)
{
	enum { SAMPLES = 5, PIT_WINDOW = PIT_HZ / 50 }; /* 20 ms each */
	uint64_t s[SAMPLES];
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t v = pit_measure_tsc(PIT_WINDOW) * PIT_HZ / PIT_WINDOW;
		int j = i;
		for (; j > 0 && s[j - 1] > v; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
	return s[SAMPLES / 2];
}

void timer_init(void)
{
	tsc_at_boot = rdtsc();
	tsc_hz = tsc_from_cpuid();
	if (!tsc_hz)
		tsc_hz = tsc_from_pit();
	if (tsc_hz < 1000000)
		panic("TSC frequency %llu Hz is implausible", (unsigned long long)tsc_hz);
	ns_per_cycle_32_32 = (1000000000ULL << 32) / tsc_hz;
	lapic_timer_start((uint32_t)tick_hz);
	kprintf("TSC %llu.%03llu MHz (%s), LAPIC timer %llu kHz, tick %lld Hz\n",
		(unsigned long long)(tsc_hz / 1000000),
		(unsigned long long)(tsc_hz / 1000 % 1000), tsc_source,
		(unsigned long long)(timer_lapic_hz() / 1000), (long long)tick_hz);
}

const char *timer_tsc_source(void) { return tsc_source; }

void timer_tick(void)
{
	ticks++;
	if (tick_handler)
		tick_handler();
}

uint64_t arch_cycles(void) { return rdtsc(); }
uint64_t arch_cycles_per_sec(void) { return tsc_hz; }
uint64_t arch_ticks(void) { return ticks; }
uint32_t arch_tick_hz(void) { return (uint32_t)tick_hz; }
void arch_set_tick_handler(void (*handler)(void)) { tick_handler = handler; }

uint64_t arch_nanotime(void)
{
	uint64_t delta = rdtsc() - tsc_at_boot;
	return (uint64_t)(((unsigned __int128)delta * ns_per_cycle_32_32) >> 32);
}
