/*
 * smp_test.c - the CPUs smp.c started (arch/x86_64/smp.c): every enabled
 * MADT CPU online (exactly the count QEMU was started with, read back
 * through fw_cfg, unless cpus= or the harness's expect_cpus= says fewer),
 * dense indices and distinct APIC ids, every per-CPU block filled by its
 * own CPU through its GS base, the boot CPU's block through %gs, an AP that
 * never answers (a copy of the platform with an extra LAPIC entry for an
 * APIC id nobody has) reported and skipped after the bound, the trampoline
 * page's placement, and the choice of that page and the ICR encodings
 * against made-up input.
 */
#include "arch/x86_64/x86.h"
#include "lib/lib.h"

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_NB_CPUS 0x0005
#define ABSENT_APIC_ID 0x7e
#define ABSENT_WAIT_NS (200ULL * 1000000) /* the bound for the absent AP */

/* The harness's own count for a run with cpus= (Makefile: test-matrix);
 * 0: expect every CPU QEMU was given. */
static int64_t expect_cpus;
CMDLINE_INT(expect_cpus, "expect_cpus", 0, ACPI_MAX_CPUS,
	    "smp.online expects this many CPUs online (0: all of QEMU's, or cpus=)");

static void fw_cfg_read(uint16_t key, void *buf, size_t n)
{
	outw(FW_CFG_SELECTOR, key);
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = inb(FW_CFG_DATA);
}

static bool on_qemu(void)
{
	char sig[4];
	fw_cfg_read(FW_CFG_SIGNATURE, sig, sizeof sig);
	return memcmp(sig, "QEMU", 4) == 0;
}

static const acpi_cpu *madt_cpu(uint32_t apic_id)
{
	const acpi_platform *pf = &acpi_boot_platform;
	for (size_t i = 0; i < pf->cpu_count; i++)
		if (pf->cpus[i].apic_id == apic_id)
			return &pf->cpus[i];
	return NULL;
}

TEST(smp, online)
{
	const acpi_platform *pf = &acpi_boot_platform;
	size_t enabled = 0;
	for (size_t i = 0; i < pf->cpu_count; i++)
		enabled += pf->cpus[i].enabled;
	size_t want = MIN(enabled, smp_cpus_option());
	if (on_qemu()) {
		uint16_t ncpus = 0;
		fw_cfg_read(FW_CFG_NB_CPUS, &ncpus, sizeof ncpus);
		CHECK_EQ(enabled, ncpus);
		want = MIN((size_t)ncpus, smp_cpus_option());
	}
	if (expect_cpus)
		CHECK_EQ(want, (size_t)expect_cpus);
	uint32_t n = arch_cpu_count();
	CHECK_EQ(n, want);
	test_log("%u CPUs online of %zu enabled in the MADT (cpus=%zu)", n, enabled,
		 smp_cpus_option());
	for (uint32_t i = 0; i < n; i++) {
		const percpu *c = &percpu_blocks[i];
		CHECK(c->self == c);
		CHECK_EQ(c->index, i);
		CHECK_EQ(c->online, 1);
		const acpi_cpu *m = madt_cpu(c->apic_id);
		CHECK(m != NULL);
		CHECK(m && m->enabled);
		for (uint32_t j = 0; j < i; j++)
			CHECK_NE(percpu_blocks[j].apic_id, c->apic_id);
		if (i == 0)
			continue;
		/* What the AP itself read through %gs and its LAPIC. */
		CHECK(c->seen_self == c);
		CHECK_EQ(c->seen_index, i);
		CHECK_EQ(c->seen_apic_id, c->apic_id);
		CHECK(c->lapic_enabled_seen);
		CHECK(c->lvt_timer_seen & LAPIC_LVT_MASKED);
		CHECK_GT(c->start_ns, 0);
		test_log("CPU %u: APIC id %u, online %llu us after its INIT", i, c->apic_id,
			 (unsigned long long)c->start_ns / 1000);
	}
	/* The rest were skipped, each named, for cpus= alone. */
	const smp_report *r = smp_boot_report();
	CHECK_EQ(r->started, n - 1);
	CHECK_EQ(r->skipped_count + r->skipped_dropped, pf->cpu_count - n);
	for (size_t i = 0; i < r->skipped_count; i++) {
		const acpi_cpu *m = madt_cpu(r->skipped[i].apic_id);
		CHECK(m != NULL);
		if (m && m->enabled)
			CHECK_STREQ(r->skipped[i].why, "left out by cpus=");
	}
	CHECK_EQ(r->wait_ns, (uint64_t)SMP_BOOT_WAIT_MS * 1000000);
}

TEST(smp, boot_cpu_block)
{
	percpu *self;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(self));
	CHECK(self == &percpu_blocks[0]);
	CHECK_EQ(rdmsr(MSR_GS_BASE), (uint64_t)&percpu_blocks[0]);
	CHECK_EQ(arch_cpu_index(), 0);
	CHECK_EQ(percpu_blocks[0].index, 0);
	CHECK_EQ(percpu_blocks[0].apic_id, lapic_id());
	CHECK_GE(arch_cpu_count(), 1);
}

static acpi_platform fake; /* large: not on the stack */

TEST(smp, absent_ap_skipped)
{
	/* The CPUs online now, plus an enabled LAPIC nobody answers for:
	 * only that one is tried (the others are online already). */
	fake = acpi_boot_platform;
	fake.cpu_count = 0;
	uint32_t before = arch_cpu_count();
	for (uint32_t i = 0; i < before; i++)
		fake.cpus[fake.cpu_count++] = (acpi_cpu){ .apic_id = percpu_blocks[i].apic_id,
							  .enabled = true };
	CHECK(madt_cpu(ABSENT_APIC_ID) == NULL);
	fake.cpus[fake.cpu_count++] = (acpi_cpu){ .apic_id = ABSENT_APIC_ID, .enabled = true };
	smp_report rep;
	uint64_t t0 = arch_nanotime();
	smp_start_cpus(&fake, before + 1, ABSENT_WAIT_NS, &rep);
	uint64_t took = arch_nanotime() - t0;
	CHECK_EQ(rep.started, 0);
	CHECK_EQ(rep.already, before);
	CHECK_EQ(rep.skipped_count, 1);
	CHECK_EQ(rep.skipped[0].apic_id, ABSENT_APIC_ID);
	CHECK_STREQ(rep.skipped[0].why, "did not answer INIT-SIPI-SIPI within the wait");
	CHECK_EQ(arch_cpu_count(), before);
	/* It waited the whole bound (a lower bound only: no timing target). */
	CHECK_GE(took, ABSENT_WAIT_NS);
	test_log("APIC id 0x%x skipped after %llu ms (bound %llu ms)", ABSENT_APIC_ID,
		 (unsigned long long)took / 1000000, ABSENT_WAIT_NS / 1000000);
	/* The trampoline's identity mapping is gone again. */
	uint64_t phys;
	CHECK(!vmm_translate(smp_trampoline_phys(), &phys));
}

TEST(smp, trampoline_page)
{
	uint64_t t = smp_trampoline_phys();
	CHECK_NE(t, 0);
	CHECK_EQ(t % PAGE_SIZE, 0);
	CHECK_LE(t + PAGE_SIZE, 0x80000); /* below the EBDA floor, so below 1 MiB */
	CHECK(!(t < boot.info_phys + boot.info_size && boot.info_phys < t + PAGE_SIZE));
	for (size_t i = 0; i < boot.module_count; i++)
		CHECK(!(t < boot.modules[i].end && boot.modules[i].start < t + PAGE_SIZE));
	bool inside = false;
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		bool over = t < e->base + e->length && e->base < t + PAGE_SIZE;
		if (e->type == MEMMAP_AVAILABLE && e->base <= t && t + PAGE_SIZE <= e->base + e->length)
			inside = true;
		else if (over)
			CHECK_EQ(e->type, MEMMAP_AVAILABLE);
	}
	CHECK(inside);
	/* pmm never hands it out; and it is not mapped at its own address
	 * outside a start-up. */
	CHECK(pmm_is_reserved_range(t, PAGE_SIZE));
	uint64_t phys;
	CHECK(!vmm_translate(t, &phys));
	phys_range av[16];
	size_t nav = smp_trampoline_avoided(av, 16);
	CHECK_GE(nav, 3);
	for (size_t i = 0; i < nav; i++)
		CHECK(!(t < av[i].end && av[i].start < t + PAGE_SIZE));
	test_log("trampoline page at 0x%llx", (unsigned long long)t);
}

TEST(smp, choose_trampoline)
{
	boot_memmap_entry map[] = {
		{ 0, 0x9fc00, MEMMAP_AVAILABLE },
		{ 0x9fc00, 0x400, MEMMAP_RESERVED },
		{ 0x100000, 0x7f00000, MEMMAP_AVAILABLE },
	};
	phys_range none[1] = { { 0, 0 } };
	/* The highest whole available page below 1 MiB. */
	CHECK_EQ(smp_choose_trampoline(map, 3, none, 0), 0x9e000);
	phys_range avoid[] = { { 0x80000, 0x100000 }, { 0x7e800, 0x7f800 } };
	CHECK_EQ(smp_choose_trampoline(map, 3, avoid, 1), 0x7f000);
	CHECK_EQ(smp_choose_trampoline(map, 3, avoid, 2), 0x7d000);
	/* A reserved entry overlapping available RAM wins. */
	boot_memmap_entry overlap[] = {
		{ 0, 0x80000, MEMMAP_AVAILABLE },
		{ 0x7f000, 0x1000, MEMMAP_ACPI_NVS },
	};
	CHECK_EQ(smp_choose_trampoline(overlap, 2, none, 0), 0x7e000);
	/* Page 0 is never taken, nor memory above 1 MiB. */
	boot_memmap_entry only_page0[] = {
		{ 0, 0x1000, MEMMAP_AVAILABLE },
		{ 0x100000, 0x100000, MEMMAP_AVAILABLE },
	};
	CHECK_EQ(smp_choose_trampoline(only_page0, 2, none, 0), 0);
	/* Part of a page is no page. */
	boot_memmap_entry partial[] = { { 0x1800, 0x1000, MEMMAP_AVAILABLE } };
	CHECK_EQ(smp_choose_trampoline(partial, 1, none, 0), 0);
	CHECK_EQ(smp_choose_trampoline(map, 0, none, 0), 0);
}

TEST(smp, icr_encoding)
{
	uint32_t init = LAPIC_ICR_INIT | LAPIC_ICR_ASSERT | LAPIC_ICR_LEVEL_TRIGGER;
	CHECK_EQ(init, 0xc500);
	CHECK_EQ(LAPIC_ICR_STARTUP | LAPIC_ICR_ASSERT | 0x7f, 0x467f);
	/* xAPIC: the 8-bit destination in ICR high bits 24-31. */
	CHECK_EQ(lapic_icr_value(3, init, false), (3ULL << 56) | 0xc500);
	CHECK_EQ(lapic_icr_value(0xfe, 0x4608, false), (0xfeULL << 56) | 0x4608);
	/* x2APIC: the 32-bit destination in bits 32-63. */
	CHECK_EQ(lapic_icr_value(0x105, 0x4608, true), (0x105ULL << 32) | 0x4608);
	CHECK_EQ(lapic_icr_value(3, init, true), (3ULL << 32) | 0xc500);
}
