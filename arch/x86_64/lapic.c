/*
 * lapic.c - interrupt controllers: the legacy 8259 PICs are remapped away
 * from the exception vectors and masked for good; the local APIC delivers
 * the timer tick (and, later, inter-processor interrupts).
 */
#include "arch/x86_64/x86.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_ICW1_INIT 0x11 /* edge triggered, cascade, ICW4 follows */
#define PIC_ICW4_8086 0x01

void pic_disable(void)
{
	/* Remap first: even masked, a PIC can raise a spurious IRQ 7/15, and
	 * it must not land on an exception vector. */
	outb(PIC1_CMD, PIC_ICW1_INIT);
	outb(PIC2_CMD, PIC_ICW1_INIT);
	outb(PIC1_DATA, IRQ_PIC_BASE);
	outb(PIC2_DATA, IRQ_PIC_BASE + 8);
	outb(PIC1_DATA, 4); /* slave on IRQ 2 */
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, PIC_ICW4_8086);
	outb(PIC2_DATA, PIC_ICW4_8086);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1UL << 11)
#define APIC_BASE_ADDR_MASK 0xffffff000UL

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3e0

#define LAPIC_SVR_ENABLE (1u << 8)
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_TIMER_PERIODIC (1u << 17)
#define LAPIC_DIVIDE_16 0x3

static volatile uint32_t *lapic;

static uint32_t lapic_read(uint32_t reg) { return lapic[reg / 4]; }
static void lapic_write(uint32_t reg, uint32_t v) { lapic[reg / 4] = v; }

void lapic_init(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	if (!(r[3] & (1u << 9)))
		panic("this CPU has no local APIC");
	uint64_t base = rdmsr(MSR_APIC_BASE);
	wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic = vmm_map_mmio(base & APIC_BASE_ADDR_MASK, PAGE_SIZE);
	if (!lapic)
		panic("cannot map the local APIC");
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | IRQ_SPURIOUS_VECTOR);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
}

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

/* Counts LAPIC timer ticks (divide by 16) over a PIT one-shot interval. */
static uint64_t lapic_timer_measure(uint32_t pit_ticks)
{
	lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_TIMER_INITIAL, 0xffffffff);
	pit_measure_tsc(pit_ticks);
	uint32_t left = lapic_read(LAPIC_TIMER_CURRENT);
	lapic_write(LAPIC_TIMER_INITIAL, 0);
	return (uint64_t)(0xffffffffu - left) * PIT_HZ / pit_ticks;
}

static uint64_t lapic_hz;

uint64_t timer_lapic_hz(void) { return lapic_hz; }

void lapic_timer_start(uint32_t hz)
{
	enum { SAMPLES = 3, PIT_WINDOW = PIT_HZ / 50 }; /* 20 ms */
	uint64_t s[SAMPLES];
	for (int i = 0; i < SAMPLES; i++)
		s[i] = lapic_timer_measure(PIT_WINDOW);
	/* median of three */
	uint64_t lo = MIN(s[0], s[1]), hi = MAX(s[0], s[1]);
	lapic_hz = s[2] < lo ? lo : s[2] > hi ? hi : s[2];
	uint64_t count = lapic_hz / hz;
	if (count == 0)
		panic("LAPIC timer too slow (%llu Hz) for hz=%u",
		      (unsigned long long)lapic_hz, hz);
	lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_16);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | IRQ_TIMER_VECTOR);
	lapic_write(LAPIC_TIMER_INITIAL, (uint32_t)count);
}
