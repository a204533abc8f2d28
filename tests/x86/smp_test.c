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

/* ---- the cross-CPU call (smp_call_start / smp_call_wait) -------------- */

#define CALL_WAIT_NS (30ULL * 1000000000) /* generous: a TCG vCPU can stall */

/* What a call saw on the CPU it ran on, read there. */
typedef struct call_seen {
	uint32_t index, cpu_id, apic_id;
	percpu *gs_self;
	const arch_context *running;
	bool irq_enabled;
	unsigned runs;
} call_seen;

static call_seen seen[SMP_MAX_CPUS];

static void record_cpu(void *arg)
{
	call_seen *s = arg;
	s->index = arch_cpu_index();
	s->cpu_id = arch_cpu_id();
	s->apic_id = lapic_id(); /* through this CPU's own LAPIC */
	__asm__ volatile("movq %%gs:0, %0" : "=r"(s->gs_self));
	s->running = arch_current_context();
	s->irq_enabled = arch_irq_enabled();
	s->runs++;
}

TEST(smp, call_on_every_ap)
{
	uint32_t n = arch_cpu_count();
	if (n == 1) {
		test_log("no APs online: only the refusals are checked (smp.call_refused)");
		return;
	}
	memset(seen, 0, sizeof seen);
	for (int round = 1; round <= 2; round++) {
		for (uint32_t cpu = 1; cpu < n; cpu++) {
			percpu *c = &percpu_blocks[cpu];
			uint64_t handled = c->calls_handled;
			char why[200] = "";
			CHECK_MSG(smp_call_on(cpu, record_cpu, &seen[cpu], CALL_WAIT_NS, why, sizeof why),
				  "CPU %u: %s", cpu, why);
			CHECK_EQ(seen[cpu].runs, (unsigned)round);
			CHECK_EQ(seen[cpu].index, cpu);
			CHECK_EQ(seen[cpu].cpu_id, cpu);
			CHECK_EQ(seen[cpu].apic_id, c->apic_id);
			CHECK(seen[cpu].gs_self == c);
			CHECK(seen[cpu].running == &c->idle_context);
			CHECK(!seen[cpu].irq_enabled);
			CHECK_EQ(c->calls_handled, handled + 1);
			CHECK_EQ(c->call_done, c->call_seq);
			CHECK_EQ(c->call_claimed, 0);
		}
	}
	CHECK_EQ(seen[0].runs, 0); /* nothing ran here */
	test_log("%u APs each ran two calls and saw their own index and APIC id", n - 1);
}

TEST(smp, call_refused)
{
	uint32_t n = arch_cpu_count();
	char why[200];
	/* Not online: refused before anything is written or sent. */
	uint64_t seq_after = n < SMP_MAX_CPUS ? percpu_blocks[n].call_seq : 0;
	why[0] = 0;
	CHECK(!smp_call_on(n, record_cpu, &seen[0], CALL_WAIT_NS, why, sizeof why));
	CHECK_MSG(strstr(why, "is not online") != NULL, "%s", why);
	if (n < SMP_MAX_CPUS) {
		CHECK_EQ(percpu_blocks[n].call_seq, seq_after);
		CHECK_EQ(percpu_blocks[n].call_claimed, 0);
	}
	why[0] = 0;
	CHECK(!smp_call_on(1000, record_cpu, &seen[0], CALL_WAIT_NS, why, sizeof why));
	CHECK_MSG(strstr(why, "CPU 1000 is not online") != NULL, "%s", why);
	/* The calling CPU itself. */
	why[0] = 0;
	uint64_t seq0 = percpu_blocks[0].call_seq;
	CHECK(!smp_call_on(0, record_cpu, &seen[0], CALL_WAIT_NS, why, sizeof why));
	CHECK_MSG(strstr(why, "is the calling CPU") != NULL, "%s", why);
	CHECK_EQ(percpu_blocks[0].call_seq, seq0);
	/* Waiting with nothing in flight. */
	why[0] = 0;
	CHECK(!smp_call_wait(n, CALL_WAIT_NS, why, sizeof why));
	CHECK(why[0] != 0);
	test_log("refused: %s", why);
	if (n > 1) {
		why[0] = 0;
		CHECK(!smp_call_wait(1, CALL_WAIT_NS, why, sizeof why));
		CHECK_MSG(strstr(why, "no call in flight to CPU 1") != NULL, "%s", why);
	}
}

/* Holds its CPU until released (bounded: it gives up after the wait). */
static volatile uint32_t hold_release, hold_entered;

static void hold_cpu(void *arg)
{
	(void)arg;
	__atomic_store_n(&hold_entered, 1, __ATOMIC_RELEASE);
	uint64_t t0 = arch_nanotime();
	while (!__atomic_load_n(&hold_release, __ATOMIC_ACQUIRE) &&
	       arch_nanotime() - t0 < CALL_WAIT_NS)
		arch_cpu_relax();
}

TEST(smp, call_in_flight_refused)
{
	if (arch_cpu_count() == 1) {
		test_log("no APs online: nothing can be in flight");
		return;
	}
	percpu *c = &percpu_blocks[1];
	hold_release = 0;
	hold_entered = 0;
	char why[200] = "";
	CHECK_MSG(smp_call_start(1, hold_cpu, NULL, why, sizeof why), "%s", why);
	uint64_t seq = c->call_seq;
	/* A second call while the first runs (or is still on its way):
	 * refused, naming the one in flight; nothing new published. */
	why[0] = 0;
	CHECK(!smp_call_start(1, record_cpu, &seen[1], why, sizeof why));
	CHECK_MSG(strstr(why, "in flight") != NULL && strstr(why, "hold_cpu") != NULL, "%s", why);
	CHECK_EQ(c->call_seq, seq);
	test_log("refused: %s", why);
	/* A short wait times out and names what it waited for; the call
	 * stays in flight. The AP is held until released, so this is
	 * certain whatever the load. */
	uint64_t t0 = arch_nanotime();
	while (!__atomic_load_n(&hold_entered, __ATOMIC_ACQUIRE) && arch_nanotime() - t0 < CALL_WAIT_NS)
		arch_cpu_relax();
	CHECK_EQ(hold_entered, 1);
	why[0] = 0;
	CHECK(!smp_call_wait(1, 1000000, why, sizeof why));
	CHECK_MSG(strstr(why, "did not finish call") != NULL && strstr(why, "hold_cpu") != NULL,
		  "%s", why);
	char apic[32];
	ksnprintf(apic, sizeof apic, "APIC id %u", c->apic_id);
	CHECK_MSG(strstr(why, apic) != NULL, "%s", why);
	CHECK_EQ(c->call_claimed, 1);
	test_log("timed out: %s", why);
	__atomic_store_n(&hold_release, 1, __ATOMIC_RELEASE);
	why[0] = 0;
	CHECK_MSG(smp_call_wait(1, CALL_WAIT_NS, why, sizeof why), "%s", why);
	CHECK_EQ(c->call_done, seq);
	CHECK_EQ(c->call_claimed, 0);
}

/* ---- one spinlock, every CPU: a plain read-modify-write under it ------- */

/* Increments across all CPUs. Small for TCG: a ticket handoff to a waiter
 * whose vCPU thread has lost its host core waits for the host scheduler
 * (about 1.8 ms a handoff with 4 vCPUs on 2 loaded host cores: 40,000
 * took from 6 ms to 72 s), so the wait is bounded by the generous
 * LOCK_WAIT_NS. With the lock taken out of the loop the count came out
 * short in 1 of 4 runs at 4,000 (3,677) and 3 of 6 at 40,000: the loops
 * do overlap, not in every run. */
#define LOCK_TOTAL 4000
#define LOCK_WAIT_NS (120ULL * 1000000000) /* a hang bound, not a target */

static spinlock counter_lock = SPINLOCK_INIT("smp counter", LOCK_RANK_SYNC);
static uint64_t counter; /* only under counter_lock, non-atomic on purpose */
static uint64_t per_cpu_iters;
static struct lock_seen {
	size_t held;          /* spin_held_locks inside the lock */
	const spinlock *top;
	uint64_t done;
	bool gate_all;        /* every CPU had arrived at the gate */
} lock_seen[SMP_MAX_CPUS];

/* The start gate: every CPU counts in, then waits (bounded) for all, so
 * the loops run at the same time and the lock is really contended. */
static uint32_t gate_arrived, gate_want;

static void count_under_lock(void *arg)
{
	struct lock_seen *s = arg;
	__atomic_fetch_add(&gate_arrived, 1, __ATOMIC_ACQ_REL);
	/* The clock read only now and then: the CPUs leave the gate as
	 * close together as their memory reads allow. */
	uint64_t t0 = arch_nanotime();
	for (uint64_t spins = 0; __atomic_load_n(&gate_arrived, __ATOMIC_ACQUIRE) < gate_want; spins++)
		if (spins % 4096 == 0 && arch_nanotime() - t0 >= CALL_WAIT_NS)
			break;
	s->gate_all = __atomic_load_n(&gate_arrived, __ATOMIC_ACQUIRE) == gate_want;
	for (uint64_t i = 0; i < per_cpu_iters; i++) {
		spin_lock(&counter_lock);
		uint64_t v = *(volatile uint64_t *)&counter;
		*(volatile uint64_t *)&counter = v + 1;
		if (i == 0) {
			const spinlock *held[4] = { 0 };
			s->held = spin_held_locks(held, 4);
			s->top = held[0];
		}
		spin_unlock(&counter_lock);
		s->done++;
	}
}

TEST(smp, lock_counter_exact)
{
	uint32_t n = arch_cpu_count();
	per_cpu_iters = LOCK_TOTAL / n;
	counter = 0;
	gate_arrived = 0;
	gate_want = n;
	memset(lock_seen, 0, sizeof lock_seen);
	char why[200];
	for (uint32_t cpu = 1; cpu < n; cpu++) {
		why[0] = 0;
		CHECK_MSG(smp_call_start(cpu, count_under_lock, &lock_seen[cpu], why, sizeof why),
			  "CPU %u: %s", cpu, why);
	}
	uint64_t t0 = arch_nanotime();
	count_under_lock(&lock_seen[0]);
	for (uint32_t cpu = 1; cpu < n; cpu++) {
		why[0] = 0;
		CHECK_MSG(smp_call_wait(cpu, LOCK_WAIT_NS, why, sizeof why), "CPU %u: %s", cpu, why);
	}
	uint64_t took = arch_nanotime() - t0;
	CHECK_EQ(counter, per_cpu_iters * n);
	for (uint32_t cpu = 0; cpu < n; cpu++) {
		CHECK_EQ(lock_seen[cpu].done, per_cpu_iters);
		CHECK(lock_seen[cpu].gate_all);
#ifdef TRICOLOR_DEBUG
		/* Each CPU's own held-lock stack: just this lock. */
		CHECK_EQ(lock_seen[cpu].held, 1);
		CHECK(lock_seen[cpu].top == &counter_lock);
#else
		CHECK_EQ(lock_seen[cpu].held, 0);
#endif
	}
	CHECK(!spin_locked(&counter_lock));
	test_log("%u CPU%s x %llu increments under one spinlock: %llu, exact (%llu ms)", n,
		 n == 1 ? "" : "s", (unsigned long long)per_cpu_iters, (unsigned long long)counter,
		 (unsigned long long)took / 1000000);
}
