/*
 * smp.c - the other CPUs: the per-CPU blocks (reached through each CPU's GS
 * base), and starting every enabled CPU the ACPI MADT lists with INIT-SIPI-
 * SIPI (Intel SDM vol. 3A, 9.4.4: INIT, 10 ms, startup IPI, 200 us, startup
 * IPI, the delays timed with the calibrated TSC).
 *
 * Start-up, one AP at a time: the boot CPU copies trampoline.S into a page
 * below 1 MiB chosen from the memory map (smp_choose_trampoline: available
 * RAM only, never page 0, the boot information, the modules, the EBDA or
 * the BIOS area above it; pmm never hands out the first 1 MiB, so the page
 * stays ours), maps it at its own address for the AP's switch to paging,
 * patches in the kernel's CR3, the AP's stack, its per-CPU block and the C
 * entry, and sends the IPIs. The AP goes 16 -> 32 -> 64-bit, then in
 * smp_ap_main loads its own GDT and TSS (IST stacks for #DF, NMI, #MC), the
 * shared IDT, its GS base, PAT and CR0.WP, enables its LAPIC with the timer
 * masked, writes what it sees through %gs into its block and sets `online`.
 * The boot CPU waits for that at most a bound (generous: under QEMU TCG a
 * vCPU thread can lose the host CPU for many ms); an AP that misses it is
 * sent INIT again (so it cannot wake later on a reused stack), reported by
 * APIC id and skipped. Every wait is bounded and says what it waited for.
 *
 * What the APs do then: run cross-CPU calls, nothing else. Each idles in
 * `sti; hlt` with only IRQ_CALL_VECTOR able to reach it (its LAPIC timer
 * masked, the I/O APIC routes nothing to it); smp_call_start (CPU 0 only)
 * publishes a request in the target's block and sends that IPI, the
 * target's handler runs it with interrupts off and marks it done, and
 * smp_call_wait waits for that, bounded. The scheduler, the timer tick and
 * every device interrupt stay on CPU 0. arch_cpu_count() says how many
 * CPUs are online, not how many run tasks. An AP is its own lock owner
 * (its block's idle_context is what arch_current_context() reads there)
 * and keeps its own DEBUG held-lock stack (arch_cpu_id() is its index).
 *
 * Locking: the start-up runs on the boot CPU only (boot, and the tests);
 * the blocks of online CPUs are written by their own CPU alone, except the
 * call request fields, written by CPU 0 under the handshake below.
 */
#include "arch/x86_64/trampoline.h"
#include "arch/x86_64/x86.h"

#include <stddef.h>

_Static_assert(offsetof(percpu, self) == 0, "%gs:0 is the self pointer");
_Static_assert(offsetof(percpu, index) == ARCH_PERCPU_INDEX, "arch_cpu_id() reads it");
_Static_assert(offsetof(percpu, running) == ARCH_PERCPU_RUNNING,
	       "arch_current_context() reads it");

#define LOW_MEMORY_END (1UL << 20)
#define EBDA_FLOOR 0x80000     /* the EBDA and the BIOS area above it: avoided */
#define SIPI_MAX_PAGE 0xff     /* the vector is the page number: below 1 MiB */
#define INIT_DELAY_US 10000    /* SDM: 10 ms after INIT */
#define SIPI_DELAY_US 200      /* SDM: 200 us after each SIPI */
#define ICR_WAIT_US 100000     /* the delivery status, at most */


percpu percpu_blocks[SMP_MAX_CPUS];
static volatile uint32_t online_count = 1; /* the boot CPU */
static smp_report boot_report;
static uint64_t trampoline_page;
static phys_range avoided[4 + BOOT_MAX_MODULES];
static size_t avoided_count;

static int64_t cpus_limit = ACPI_MAX_CPUS;
CMDLINE_INT(cpus_limit, "cpus", 1, ACPI_MAX_CPUS,
	    "CPUs to start, this one included (default: every enabled CPU in the MADT)");

uint32_t arch_cpu_index(void)
{
	uint32_t v;
	__asm__ volatile("movl %%gs:%c1, %0" : "=r"(v) : "i"(offsetof(percpu, index)));
	return v;
}

uint32_t arch_cpu_count(void) { return __atomic_load_n(&online_count, __ATOMIC_ACQUIRE); }
uint32_t smp_online_count(void) { return arch_cpu_count(); }
const smp_report *smp_boot_report(void) { return &boot_report; }
size_t smp_cpus_option(void) { return (size_t)cpus_limit; }
uint64_t smp_trampoline_phys(void) { return trampoline_page; }

size_t smp_trampoline_avoided(phys_range *out, size_t max)
{
	size_t n = MIN(max, avoided_count);
	memcpy(out, avoided, n * sizeof(*out));
	return n;
}

static void set_gs_base(percpu *c)
{
	wrmsr(MSR_GS_BASE, (uint64_t)c);
	/* No swapgs anywhere (no user mode); the same value there keeps a
	 * stray one harmless. */
	wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)c);
}

void smp_boot_cpu_init(void)
{
	percpu *c = &percpu_blocks[0];
	c->self = c;
	c->index = 0;
	c->online = 1;
	c->running = arch_running_context; /* the boot context */
	set_gs_base(c);
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

uint64_t smp_choose_trampoline(const boot_memmap_entry *map, size_t n, const phys_range *avoid,
			       size_t navoid)
{
	for (uint64_t page = (SIPI_MAX_PAGE + 1UL) * PAGE_SIZE; page > PAGE_SIZE;) {
		page -= PAGE_SIZE;
		if (page >= LOW_MEMORY_END)
			continue;
		bool available = false, claimed = false;
		for (size_t i = 0; i < n; i++) {
			if (!overlaps(page, page + PAGE_SIZE, map[i].base, map[i].base + map[i].length))
				continue;
			if (map[i].type == MEMMAP_AVAILABLE && map[i].base <= page &&
			    page + PAGE_SIZE <= map[i].base + map[i].length)
				available = true;
			else if (map[i].type != MEMMAP_AVAILABLE)
				claimed = true; /* firmware maps can overlap */
		}
		for (size_t i = 0; i < navoid && available && !claimed; i++)
			if (overlaps(page, page + PAGE_SIZE, avoid[i].start, avoid[i].end))
				claimed = true;
		if (available && !claimed)
			return page;
	}
	return 0;
}

static void add_avoided(uint64_t start, uint64_t end)
{
	ASSERT(avoided_count < ARRAY_SIZE(avoided));
	avoided[avoided_count++] = (phys_range){ start, end };
}

static uint64_t place_trampoline(void)
{
	avoided_count = 0;
	add_avoided(0, PAGE_SIZE); /* the real-mode IVT and the BIOS data area */
	add_avoided(EBDA_FLOOR, LOW_MEMORY_END);
	add_avoided(boot.info_phys, boot.info_phys + boot.info_size);
	for (size_t i = 0; i < boot.module_count; i++)
		add_avoided(boot.modules[i].start, boot.modules[i].end);
	return smp_choose_trampoline(boot.memmap, boot.memmap_count, avoided, avoided_count);
}

static void delay_us(uint64_t us)
{
	uint64_t t0 = arch_cycles(), n = arch_cycles_per_sec() / 1000000 * us;
	while (arch_cycles() - t0 < n)
		arch_cpu_relax();
}

static uint64_t cycles_to_ns(uint64_t c)
{
	return (uint64_t)((unsigned __int128)c * 1000000000 / arch_cycles_per_sec());
}

/* The AP, in 64-bit mode on its own stack: see the overview. */
static _Noreturn void smp_ap_main(percpu *c)
{
	uint64_t ist_top[IST_STACKS];
	for (int i = 0; i < IST_STACKS; i++) /* after the stack, in order */
		ist_top[i] = (uint64_t)phys_to_virt(c->stacks_phys) + SMP_AP_STACK_SIZE +
			     (uint64_t)(i + 1) * IST_STACK_SIZE;
	gdt_load(&c->tables, ist_top);
	idt_load();
	set_gs_base(c);
	vmm_init_ap();
	lapic_init_ap();
	percpu *self;
	__asm__ volatile("movq %%gs:0, %0" : "=r"(self));
	c->seen_self = self;
	c->seen_index = arch_cpu_index();
	c->seen_apic_id = lapic_id();
	c->lapic_enabled_seen = lapic_enabled();
	c->lvt_timer_seen = lapic_lvt_timer();
	__atomic_store_n(&c->online, 1, __ATOMIC_RELEASE);
	/* Not a scheduler CPU yet: nothing is routed here and the LAPIC
	 * timer is masked, so only a call IPI (or an NMI) wakes it. sti's
	 * one-instruction shadow: an IPI that arrived while the handler ran
	 * (interrupts off) waits in the IRR and is taken on hlt, not lost. */
	for (;;)
		__asm__ volatile("sti; hlt" ::: "memory");
}

/*
 * The cross-CPU call. The handshake, per target block c:
 *
 *   caller (CPU 0)                        target (its call-IPI handler)
 *   claim: CAS call_claimed 0 -> 1
 *   c->call_fn, c->call_arg = fn, arg
 *   store-release c->call_seq = s          load-acquire call_seq (== s)
 *   MFENCE, then the IPI (ICR write)       if s != call_done: fn(arg)
 *                                          store-release call_done = s
 *   load-acquire call_done == s ... done   EOI
 *   clear call_claimed
 *
 * Release/acquire pairs: the caller's release of call_seq and the target's
 * acquire of it order fn/arg (and whatever the caller wrote for fn to read)
 * before the target reads them; the target's release of call_done and the
 * caller's acquire of it order everything fn wrote before the caller reads
 * its results. On x86 (TSO) plain MOVs already give both (stores are not
 * reordered with earlier stores, loads not with later loads or stores);
 * the atomics are there for the compiler.
 *
 * The one fence: the request is a store, and the IPI must not overtake
 * it. In xAPIC mode the ICR is an uncached MMIO store, kept behind earlier
 * stores; in x2APIC mode it is a WRMSR, which the SDM says is not
 * serializing for the x2APIC registers, so the interrupt could reach the
 * target while call_seq still sits in this CPU's store buffer; the target
 * would see an old call_seq, do nothing, and halt until the bound. An
 * MFENCE (a SEQ_CST fence) before the send drains the store buffer (Linux
 * does the same before an x2APIC ICR write). No other store-then-load of
 * another location matters: the caller's load of call_done needs only to
 * see the target's store eventually, and a stale IPI (one per request,
 * but the handler compares sequence numbers, not IPIs) does nothing.
 */
static void call_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void call_why(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || !whylen)
		return;
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static const char *fn_name(void (*fn)(void *), char *buf, size_t n)
{
	uintptr_t off;
	const char *name = arch_symbolize((uintptr_t)fn, &off);
	if (name)
		ksnprintf(buf, n, "%s+0x%lx", name, (unsigned long)off);
	else
		ksnprintf(buf, n, "%p", (void *)(uintptr_t)fn);
	return buf;
}

bool smp_call_start(unsigned cpu, void (*fn)(void *), void *arg, char *why, size_t whylen)
{
	uint32_t me = arch_cpu_index(), n = arch_cpu_count();
	if (me != 0) {
		call_why(why, whylen, "smp_call: only CPU 0 sends calls (this is CPU %u)", me);
		return false;
	}
	if (cpu >= n) {
		call_why(why, whylen, "smp_call: CPU %u is not online (%u CPU%s online)", cpu, n,
			 n == 1 ? "" : "s");
		return false;
	}
	if (cpu == me) {
		call_why(why, whylen, "smp_call: CPU %u is the calling CPU", cpu);
		return false;
	}
	percpu *c = &percpu_blocks[cpu];
	uint32_t expect = 0;
	if (!__atomic_compare_exchange_n(&c->call_claimed, &expect, 1, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED)) {
		char name[96];
		call_why(why, whylen,
			 "smp_call: CPU %u (APIC id %u) has call #%llu (%s) in flight, done up to #%llu",
			 cpu, c->apic_id, (unsigned long long)c->call_seq,
			 fn_name(c->call_fn, name, sizeof name),
			 (unsigned long long)__atomic_load_n(&c->call_done, __ATOMIC_ACQUIRE));
		return false;
	}
	c->call_fn = fn;
	c->call_arg = arg;
	__atomic_store_n(&c->call_seq, c->call_seq + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* before the ICR write: see above */
	uint64_t icr_wait = arch_cycles_per_sec() / 1000000 * ICR_WAIT_US;
	arch_irqflags_t irq = arch_irq_save(); /* the xAPIC ICR is two writes */
	bool sent = lapic_send_ipi(c->apic_id, LAPIC_ICR_ASSERT | IRQ_CALL_VECTOR, icr_wait);
	arch_irq_restore(irq);
	if (!sent) {
		/* Left claimed: the IPI may still arrive and run it. */
		call_why(why, whylen,
			 "smp_call: the call IPI to CPU %u (APIC id %u) stayed pending (ICR delivery "
			 "status); call #%llu left in flight",
			 cpu, c->apic_id, (unsigned long long)c->call_seq);
		return false;
	}
	return true;
}

bool smp_call_wait(unsigned cpu, uint64_t timeout_ns, char *why, size_t whylen)
{
	if (cpu >= arch_cpu_count() || cpu == 0) {
		call_why(why, whylen, "smp_call: no call can be in flight to CPU %u", cpu);
		return false;
	}
	percpu *c = &percpu_blocks[cpu];
	if (!__atomic_load_n(&c->call_claimed, __ATOMIC_ACQUIRE)) {
		call_why(why, whylen, "smp_call: no call in flight to CPU %u", cpu);
		return false;
	}
	uint64_t seq = c->call_seq; /* ours: only CPU 0 writes it */
	uint64_t limit = (uint64_t)((unsigned __int128)timeout_ns * arch_cycles_per_sec() / 1000000000);
	uint64_t t0 = arch_cycles();
	while (__atomic_load_n(&c->call_done, __ATOMIC_ACQUIRE) != seq) {
		if (arch_cycles() - t0 > limit) {
			char name[96];
			call_why(why, whylen,
				 "smp_call: CPU %u (APIC id %u) did not finish call #%llu (%s, arg %p) "
				 "within %llu ms: done up to #%llu, %llu call IPIs taken there; the "
				 "call stays in flight",
				 cpu, c->apic_id, (unsigned long long)seq,
				 fn_name(c->call_fn, name, sizeof name), c->call_arg,
				 (unsigned long long)(timeout_ns / 1000000),
				 (unsigned long long)__atomic_load_n(&c->call_done, __ATOMIC_ACQUIRE),
				 (unsigned long long)__atomic_load_n(&c->call_ipis, __ATOMIC_RELAXED));
			return false;
		}
		arch_cpu_relax();
	}
	__atomic_store_n(&c->call_claimed, 0, __ATOMIC_RELEASE);
	return true;
}

bool smp_call_on(unsigned cpu, void (*fn)(void *), void *arg, uint64_t timeout_ns, char *why,
		 size_t whylen)
{
	return smp_call_start(cpu, fn, arg, why, whylen) &&
	       smp_call_wait(cpu, timeout_ns, why, whylen);
}

void smp_call_handle(void)
{
	percpu *c = &percpu_blocks[arch_cpu_index()];
	__atomic_store_n(&c->call_ipis, c->call_ipis + 1, __ATOMIC_RELAXED);
	uint64_t seq = __atomic_load_n(&c->call_seq, __ATOMIC_ACQUIRE);
	if (seq == c->call_done)
		return; /* nothing new: a stale or repeated IPI */
	c->call_fn(c->call_arg);
	c->calls_handled++;
	__atomic_store_n(&c->call_done, seq, __ATOMIC_RELEASE);
}

static void skip(smp_report *rep, uint32_t apic_id, const char *why)
{
	if (rep->skipped_count == SMP_MAX_SKIPPED) {
		rep->skipped_dropped++;
		return;
	}
	rep->skipped[rep->skipped_count++] = (smp_skip){ apic_id, why };
}

static bool is_online(uint32_t apic_id)
{
	for (uint32_t i = 0; i < arch_cpu_count(); i++)
		if (percpu_blocks[i].apic_id == apic_id)
			return true;
	return false;
}

/* INIT-SIPI-SIPI to one AP whose block c and trampoline are ready; true
 * when it reported online within wait_cycles. */
static const char *start_one(percpu *c, uint32_t apic_id, uint64_t wait_cycles, uint64_t *took)
{
	uint64_t icr_wait = arch_cycles_per_sec() / 1000000 * ICR_WAIT_US;
	uint64_t t0 = arch_cycles();
	if (!lapic_send_ipi(apic_id, LAPIC_ICR_INIT | LAPIC_ICR_ASSERT | LAPIC_ICR_LEVEL_TRIGGER, icr_wait))
		return "the INIT IPI stayed pending (ICR delivery status)";
	/* De-assert: only the 82489DX needs it; harmless since. */
	if (!lapic_send_ipi(apic_id, LAPIC_ICR_INIT | LAPIC_ICR_LEVEL_TRIGGER, icr_wait))
		return "the INIT de-assert stayed pending (ICR delivery status)";
	delay_us(INIT_DELAY_US);
	uint32_t sipi = LAPIC_ICR_STARTUP | LAPIC_ICR_ASSERT | (uint32_t)(trampoline_page / PAGE_SIZE);
	for (int i = 0; i < 2; i++) {
		if (__atomic_load_n(&c->online, __ATOMIC_ACQUIRE))
			break; /* the first SIPI did it: a second would restart it */
		if (!lapic_send_ipi(apic_id, sipi, icr_wait))
			return "the startup IPI stayed pending (ICR delivery status)";
		delay_us(SIPI_DELAY_US);
	}
	uint64_t t1 = arch_cycles();
	while (!__atomic_load_n(&c->online, __ATOMIC_ACQUIRE)) {
		if (arch_cycles() - t1 > wait_cycles) {
			/* Park it: a late start must not run on this block. */
			lapic_send_ipi(apic_id, LAPIC_ICR_INIT | LAPIC_ICR_ASSERT | LAPIC_ICR_LEVEL_TRIGGER,
				       icr_wait);
			return "did not answer INIT-SIPI-SIPI within the wait";
		}
		arch_cpu_relax();
	}
	*took = cycles_to_ns(arch_cycles() - t0);
	return NULL;
}

void smp_start_cpus(const acpi_platform *pf, size_t limit, uint64_t wait_ns, smp_report *rep)
{
	*rep = (smp_report){ .wait_ns = wait_ns, .trampoline_phys = trampoline_page };
	uint64_t wait_cycles = (uint64_t)((unsigned __int128)wait_ns * arch_cycles_per_sec() / 1000000000);
	bool mapped = false;
	for (size_t i = 0; i < pf->cpu_count; i++) {
		const acpi_cpu *cpu = &pf->cpus[i];
		if (is_online(cpu->apic_id)) {
			rep->already++;
			continue;
		}
		if (!cpu->enabled) {
			skip(rep, cpu->apic_id, cpu->online_capable ? "disabled in the MADT (online-capable)"
								   : "disabled in the MADT");
			continue;
		}
		uint32_t n = arch_cpu_count();
		if (n >= limit) {
			skip(rep, cpu->apic_id, "left out by cpus=");
			continue;
		}
		if (n >= SMP_MAX_CPUS) {
			skip(rep, cpu->apic_id, "beyond the kernel's per-CPU blocks (SMP_MAX_CPUS)");
			continue;
		}
		if (!trampoline_page) {
			skip(rep, cpu->apic_id, "no page below 1 MiB for the trampoline");
			continue;
		}
		if (!lapic_is_x2apic() && cpu->apic_id > 0xff) {
			skip(rep, cpu->apic_id, "an APIC id above 255 needs x2APIC");
			continue;
		}
		if (vmm_kernel_cr3() >= (1UL << 32)) {
			skip(rep, cpu->apic_id, "the kernel's PML4 is above 4 GiB (the trampoline loads CR3 in 32-bit mode)");
			continue;
		}
		percpu *c = &percpu_blocks[n];
		if (!c->stacks_phys) {
			c->stacks_phys = pmm_alloc_run((SMP_AP_STACK_SIZE + IST_STACKS * IST_STACK_SIZE) / PAGE_SIZE, 1);
			if (!c->stacks_phys) {
				skip(rep, cpu->apic_id, "no memory for its stacks");
				continue;
			}
		}
		/* The block, fresh (the tables and stacks are reused when a CPU
		 * before did not answer). */
		uint64_t stacks = c->stacks_phys;
		memset(c, 0, sizeof(*c));
		c->self = c;
		c->index = n;
		c->apic_id = cpu->apic_id;
		c->stacks_phys = stacks;
		c->running = &c->idle_context;
		if (!mapped) {
			/* Identity, executable, for the instant paging goes on. */
			if (!vmm_map(trampoline_page, trampoline_page, VMM_EXEC)) {
				skip(rep, cpu->apic_id, "cannot map the trampoline page");
				continue;
			}
			mapped = true;
		}
		uint8_t *t = phys_to_virt(trampoline_page);
		memcpy(t, smp_trampoline_start, (size_t)(smp_trampoline_end - smp_trampoline_start));
		*(uint32_t *)(t + TRAMP_GDT_PTR + 2) += (uint32_t)trampoline_page;
		*(uint32_t *)(t + TRAMP_PM32_JUMP) += (uint32_t)trampoline_page;
		*(uint32_t *)(t + TRAMP_LM64_JUMP) += (uint32_t)trampoline_page;
		*(uint64_t *)(t + TRAMP_CR3) = vmm_kernel_cr3();
		*(uint64_t *)(t + TRAMP_CR4) = read_cr4();
		*(uint64_t *)(t + TRAMP_CR0) = read_cr0();
		*(uint64_t *)(t + TRAMP_STACK) = (uint64_t)phys_to_virt(stacks) + SMP_AP_STACK_SIZE;
		*(uint64_t *)(t + TRAMP_PERCPU) = (uint64_t)c;
		*(uint64_t *)(t + TRAMP_ENTRY) = (uint64_t)smp_ap_main;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint64_t took = 0;
		const char *why = start_one(c, cpu->apic_id, wait_cycles, &took);
		if (why) {
			skip(rep, cpu->apic_id, why);
			continue;
		}
		c->start_ns = took;
		rep->slowest_ns = MAX(rep->slowest_ns, took);
		rep->started++;
		__atomic_store_n(&online_count, n + 1, __ATOMIC_RELEASE);
	}
	if (mapped)
		vmm_unmap(trampoline_page);
}

static void print_ids(void)
{
	for (uint32_t i = 0; i < arch_cpu_count(); i++)
		kprintf("%s%u", i ? " " : "", percpu_blocks[i].apic_id);
}

void smp_init(void)
{
	percpu_blocks[0].apic_id = lapic_id();
	trampoline_page = place_trampoline();
	smp_start_cpus(&acpi_boot_platform, (size_t)cpus_limit, (uint64_t)SMP_BOOT_WAIT_MS * 1000000,
		       &boot_report);
	uint32_t n = arch_cpu_count();
	if (n == 1 && boot_report.skipped_count == 0) {
		kprintf("smp: 1 CPU (APIC id %u): the MADT lists no other enabled CPU; no APs to start\n",
			percpu_blocks[0].apic_id);
		return;
	}
	kprintf("smp: %u CPU%s online (APIC ids ", n, n == 1 ? "" : "s");
	print_ids();
	kprintf("); the APs idle (cross-CPU calls only): the scheduler runs on CPU 0\n");
	kprintf("smp: trampoline at 0x%llx, %s ICR; slowest AP online %llu us after its INIT"
		" (wait bound %u ms)\n",
		(unsigned long long)trampoline_page, lapic_is_x2apic() ? "x2APIC" : "xAPIC",
		(unsigned long long)boot_report.slowest_ns / 1000, SMP_BOOT_WAIT_MS);
	for (size_t i = 0; i < boot_report.skipped_count; i++)
		kprintf("smp: skipped APIC id %u: %s\n", boot_report.skipped[i].apic_id,
			boot_report.skipped[i].why);
}

void smp_print(void)
{
	uint32_t n = arch_cpu_count();
	kprintf("platform: CPUs: %u online (APIC ids ", n);
	print_ids();
	kprintf(")%s; cpus=%lld", n > 1 ? ", the APs idle (cross-CPU calls only, no tasks yet)" : "",
		(long long)cpus_limit);
	if (boot_report.skipped_count == 0)
		kprintf(", none skipped\n");
	else
		kprintf("\n");
	for (size_t i = 0; i < boot_report.skipped_count; i++)
		kprintf("platform: CPU with APIC id %u skipped: %s\n", boot_report.skipped[i].apic_id,
			boot_report.skipped[i].why);
	if (boot_report.skipped_dropped)
		kprintf("platform: %zu more skipped CPUs not listed\n", boot_report.skipped_dropped);
}
