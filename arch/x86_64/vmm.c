/*
 * vmm.c - the kernel's page tables (4-level, one address space). Builds the
 * final layout described in x86.h: all RAM direct-mapped at HHDM_BASE with
 * 2 MiB pages, the kernel image mapped W^X section by section (text RX,
 * rodata R+NX, data/bss RW+NX) with CR0.WP on so the kernel cannot write its
 * own code, the boot stack's guard gap (64 KiB) left unmapped. Then serves 4 KiB
 * map/unmap/protect/translate for the reserved ranges (the heap arena, task
 * stacks) through the page-source half of arch/arch.h.
 *
 * Memory types: the PAT keeps the power-on entries 0-3 (WB, WT, UC-, UC:
 * what PWT/PCD select) and vmm_init sets entry 4 (the 4 KiB leaf's PAT bit
 * alone) to write-combining for framebuffers. No mapping used entry 4
 * before, so the change needs no cache or TLB flush.
 *
 * Invariants: no leaf is ever writable and executable; intermediate entries
 * are present+writable and never NX (NX is decided at the leaf); every table
 * is reached through the direct map. Locking: interrupts off (one CPU).
 */
#include "arch/x86_64/x86.h"

#define PTE_PRESENT (1UL << 0)
#define PTE_WRITABLE (1UL << 1)
#define PTE_PWT (1UL << 3)
#define PTE_PCD (1UL << 4)
#define PTE_LARGE (1UL << 7)
#define PTE_PAT_4K (1UL << 7) /* in a 4 KiB leaf (PTE_LARGE's bit one level up) */
#define PTE_GLOBAL (1UL << 8)
#define PTE_NX (1UL << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000UL
#define PTE_TABLE (PTE_PRESENT | PTE_WRITABLE)

#define MSR_PAT 0x277
#define PAT_TYPE_WC 0x01
#define PAT_ENTRY_WC 4 /* PAT bit set, PCD and PWT clear */
#define CPUID_1_EDX_PAT (1u << 16)

static bool pat_has_wc; /* entry PAT_ENTRY_WC is write-combining */
static uint64_t *kernel_pml4;
static uint64_t kernel_pml4_phys;

static unsigned pt_index(uintptr_t va, int level) /* level 4 = PML4 ... 1 = PT */
{
	return (va >> (12 + 9 * (level - 1))) & 511;
}

static uint64_t *table_of(uint64_t entry) { return phys_to_virt(entry & PTE_ADDR_MASK); }

static uint64_t *new_table(void)
{
	uint64_t phys = pmm_alloc();
	if (!phys)
		return NULL;
	uint64_t *t = phys_to_virt(phys);
	memset(t, 0, PAGE_SIZE);
	return t;
}

/* The entry that maps va at `level` (1 = 4 KiB leaf, 2 = 2 MiB leaf),
 * creating missing tables when `create`; NULL if absent or if a larger page
 * is in the way. */
static uint64_t *walk(uint64_t *pml4, uintptr_t va, int level, bool create)
{
	uint64_t *table = pml4;
	for (int l = 4; l > level; l--) {
		uint64_t *e = &table[pt_index(va, l)];
		if (!(*e & PTE_PRESENT)) {
			if (!create)
				return NULL;
			uint64_t *t = new_table();
			if (!t)
				return NULL;
			*e = virt_to_phys_hhdm(t) | PTE_TABLE;
		} else if (*e & PTE_LARGE) {
			return NULL;
		}
		table = table_of(*e);
	}
	return &table[pt_index(va, level)];
}

static uint64_t leaf_bits(unsigned flags)
{
	uint64_t bits = PTE_PRESENT;
	if (flags & VMM_WRITE)
		bits |= PTE_WRITABLE;
	if (!(flags & VMM_EXEC))
		bits |= PTE_NX;
	if (flags & VMM_UNCACHED)
		bits |= PTE_PCD | PTE_PWT;
	else if (flags & VMM_WRITE_COMBINING)
		bits |= pat_has_wc ? PTE_PAT_4K : PTE_PCD | PTE_PWT;
	return bits;
}

static void map_kernel_range(uint64_t *pml4, const char *start, const char *end, unsigned flags)
{
	ASSERT(!((flags & VMM_WRITE) && (flags & VMM_EXEC)));
	for (uintptr_t va = (uintptr_t)start; va < (uintptr_t)end; va += PAGE_SIZE) {
		if (va >= (uintptr_t)boot_stack_guard && va < (uintptr_t)boot_stack_bottom)
			continue; /* the guard gap stays unmapped */
		uint64_t *e = walk(pml4, va, 1, true);
		if (!e)
			panic("vmm: out of frames mapping the kernel");
		*e = kernel_virt_to_phys((void *)va) | leaf_bits(flags) | PTE_GLOBAL;
	}
}

static void pat_init(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	if (!(r[3] & CPUID_1_EDX_PAT))
		return;
	uint64_t pat = rdmsr(MSR_PAT) & ~(0xffUL << (8 * PAT_ENTRY_WC));
	wrmsr(MSR_PAT, pat | (uint64_t)PAT_TYPE_WC << (8 * PAT_ENTRY_WC));
	pat_has_wc = true;
}

static bool vmm_up; /* vmm_init finished: mappings can be made */

bool vmm_ready(void) { return vmm_up; }

void vmm_init(void)
{
	pat_init();
	kernel_pml4 = new_table();
	if (!kernel_pml4)
		panic("vmm: no frame for the PML4");
	kernel_pml4_phys = virt_to_phys_hhdm(kernel_pml4);

	/* The direct map: RAM up to the highest usable address, 2 MiB pages.
	 * Holes in it are covered too; the firmware's MTRRs keep device
	 * memory in them uncached whatever the page attributes say. */
	uint64_t end = ALIGN_UP(pmm_max_phys(), LARGE_PAGE_SIZE);
	if (end > HHDM_SIZE)
		panic("vmm: %llu GiB of RAM exceed the direct map", (unsigned long long)(end >> 30));
	for (uint64_t phys = 0; phys < end; phys += LARGE_PAGE_SIZE) {
		uint64_t *e = walk(kernel_pml4, HHDM_BASE + phys, 2, true);
		if (!e)
			panic("vmm: out of frames building the direct map");
		*e = phys | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE | PTE_NX | PTE_GLOBAL;
	}

	map_kernel_range(kernel_pml4, __text_start, __text_end, VMM_EXEC);
	map_kernel_range(kernel_pml4, __rodata_start, __rodata_end, 0);
	map_kernel_range(kernel_pml4, __data_start, __data_end, VMM_WRITE);
	map_kernel_range(kernel_pml4, __bss_start, __bss_end, VMM_WRITE);
	map_kernel_range(kernel_pml4, __kstacks_start, __kstacks_end, VMM_WRITE);
	map_kernel_range(kernel_pml4, __ksyms_start, __ksyms_end, 0);

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE); /* boot.S set it; keep it */
	write_cr3(kernel_pml4_phys);
	__asm__ volatile("mov %0, %%cr0" ::"r"(read_cr0() | CR0_WP));
	vmm_up = true;
	kprintf("vmm: direct map %llu MiB at 0x%llx; kernel text %zu KiB RX, rodata %zu KiB R, "
		"data+bss %zu KiB RW, boot stack guard gap at 0x%llx\n",
		(unsigned long long)(end >> 20), (unsigned long long)HHDM_BASE,
		(size_t)(__text_end - __text_start) >> 10,
		(size_t)(__rodata_end - __rodata_start) >> 10,
		(size_t)(__bss_end - __data_start) >> 10, (unsigned long long)(uintptr_t)boot_stack_guard);
}

uint64_t vmm_kernel_cr3(void) { return kernel_pml4_phys; }

void vmm_init_ap(void)
{
	if (pat_has_wc)
		pat_init(); /* the PAT is per CPU: the same entry 4 here */
	__asm__ volatile("mov %0, %%cr0" ::"r"(read_cr0() | CR0_WP));
}

bool vmm_map(uintptr_t va, uint64_t phys, unsigned flags)
{
	if ((va | phys) % PAGE_SIZE || ((flags & VMM_WRITE) && (flags & VMM_EXEC)))
		return false; /* W^X: no page is both */
	arch_irqflags_t irq = arch_irq_save();
	uint64_t *e = walk(kernel_pml4, va, 1, true);
	bool ok = e && !(*e & PTE_PRESENT);
	if (ok)
		*e = phys | leaf_bits(flags);
	arch_irq_restore(irq);
	return ok;
}

uint64_t vmm_unmap(uintptr_t va)
{
	arch_irqflags_t irq = arch_irq_save();
	uint64_t *e = walk(kernel_pml4, va, 1, false);
	uint64_t phys = 0;
	if (e && (*e & PTE_PRESENT)) {
		phys = *e & PTE_ADDR_MASK;
		*e = 0;
		invlpg(va);
	}
	arch_irq_restore(irq);
	return phys;
}

bool vmm_protect(uintptr_t va, unsigned flags)
{
	if ((flags & VMM_WRITE) && (flags & VMM_EXEC))
		return false;
	arch_irqflags_t irq = arch_irq_save();
	uint64_t *e = walk(kernel_pml4, va, 1, false);
	bool ok = e && (*e & PTE_PRESENT);
	if (ok) {
		*e = (*e & PTE_ADDR_MASK) | leaf_bits(flags);
		invlpg(va);
	}
	arch_irq_restore(irq);
	return ok;
}

/* The present leaf entry for va at any level, with its page size. */
static uint64_t *leaf_of(uintptr_t va, uint64_t *page_size)
{
	/* The live tables (the boot ones before vmm_init): backtraces ask
	 * before and after the switch. */
	uint64_t *table = phys_to_virt(read_cr3() & PTE_ADDR_MASK);
	for (int l = 4; l >= 1; l--) {
		uint64_t *e = &table[pt_index(va, l)];
		if (!(*e & PTE_PRESENT))
			return NULL;
		if (l == 1 || (*e & PTE_LARGE)) {
			*page_size = 1UL << (12 + 9 * (l - 1));
			return e;
		}
		table = table_of(*e);
	}
	return NULL;
}

bool vmm_translate(uintptr_t va, uint64_t *phys)
{
	uint64_t size;
	uint64_t *e = leaf_of(va, &size);
	if (!e)
		return false;
	*phys = (*e & PTE_ADDR_MASK & ~(size - 1)) + (va & (size - 1));
	return true;
}

int vmm_flags(uintptr_t va)
{
	uint64_t size;
	uint64_t *e = leaf_of(va, &size);
	if (!e)
		return -1;
	int flags = 0;
	if (*e & PTE_WRITABLE)
		flags |= VMM_WRITE;
	if (!(*e & PTE_NX))
		flags |= VMM_EXEC;
	if (*e & PTE_PCD)
		flags |= VMM_UNCACHED;
	if (size == PAGE_SIZE && (*e & PTE_PAT_4K))
		flags |= VMM_WRITE_COMBINING;
	return flags;
}

bool vmm_is_readable(uintptr_t va, size_t len)
{
	uint64_t phys;
	for (uintptr_t p = ALIGN_DOWN(va, PAGE_SIZE); p < va + len; p += PAGE_SIZE)
		if (!vmm_translate(p, &phys))
			return false;
	return true;
}

static uintptr_t mmio_next = MMIO_VA_BASE;

static void *map_device(uint64_t phys, size_t len, unsigned flags)
{
	uint64_t first = ALIGN_DOWN(phys, PAGE_SIZE);
	size_t pages = (ALIGN_UP(phys + len, PAGE_SIZE) - first) / PAGE_SIZE;
	if (mmio_next + pages * PAGE_SIZE > MMIO_VA_BASE + MMIO_VA_SIZE)
		return NULL;
	uintptr_t va = mmio_next;
	for (size_t i = 0; i < pages; i++)
		if (!vmm_map(va + i * PAGE_SIZE, first + i * PAGE_SIZE, flags))
			return NULL;
	mmio_next += pages * PAGE_SIZE;
	return (void *)(va + (phys - first));
}

void *vmm_map_mmio(uint64_t phys, size_t len)
{
	return map_device(phys, len, VMM_WRITE | VMM_UNCACHED);
}

void *vmm_map_framebuffer(uint64_t phys, size_t len)
{
	return map_device(phys, len, VMM_WRITE | VMM_WRITE_COMBINING);
}

/* ---- the page source (arch/arch.h) ------------------------------------ */
static uintptr_t reserve_next = RESERVE_VA_BASE;

static bool in_reserved_space(uintptr_t va, size_t bytes)
{
	return va >= RESERVE_VA_BASE && va % PAGE_SIZE == 0 && bytes % PAGE_SIZE == 0 &&
	       va + bytes <= reserve_next && va + bytes >= va;
}

void *arch_reserve(size_t bytes)
{
	bytes = ALIGN_UP(bytes, PAGE_SIZE);
	arch_irqflags_t irq = arch_irq_save();
	void *va = NULL;
	if (bytes && bytes <= RESERVE_VA_BASE + RESERVE_VA_SIZE - reserve_next) {
		va = (void *)reserve_next;
		reserve_next += bytes;
	}
	arch_irq_restore(irq);
	return va;
}

/* Frees the page table behind va's 2 MiB region if no entry is left in it,
 * then its page directory if that is empty too. PDPTs stay: one covers
 * 512 GiB, and the heap reuses them. */
static bool table_is_empty(const uint64_t *t)
{
	for (int i = 0; i < 512; i++)
		if (t[i])
			return false;
	return true;
}

static bool free_tables_if_empty(uintptr_t va)
{
	uint64_t *pdpte = walk(kernel_pml4, va, 3, false);
	if (!pdpte || !(*pdpte & PTE_PRESENT) || (*pdpte & PTE_LARGE))
		return false;
	uint64_t *pd = table_of(*pdpte);
	uint64_t *pde = &pd[pt_index(va, 2)];
	if (!(*pde & PTE_PRESENT) || (*pde & PTE_LARGE))
		return false;
	if (!table_is_empty(table_of(*pde)))
		return false;
	pmm_free(*pde & PTE_ADDR_MASK);
	*pde = 0;
	if (table_is_empty(pd)) {
		pmm_free(*pdpte & PTE_ADDR_MASK);
		*pdpte = 0;
	}
	return true;
}

void arch_decommit(void *addr, size_t bytes)
{
	uintptr_t va = (uintptr_t)addr;
	ASSERT(in_reserved_space(va, bytes));
	for (size_t off = 0; off < bytes; off += PAGE_SIZE) {
		uint64_t phys = vmm_unmap(va + off);
		if (phys)
			pmm_free(phys);
	}
	arch_irqflags_t irq = arch_irq_save();
	bool freed = false;
	for (uintptr_t p = ALIGN_DOWN(va, LARGE_PAGE_SIZE); p < va + bytes; p += LARGE_PAGE_SIZE)
		freed |= free_tables_if_empty(p);
	if (freed)
		write_cr3(read_cr3()); /* drop cached walks through freed tables */
	arch_irq_restore(irq);
}

bool arch_commit(void *addr, size_t bytes)
{
	uintptr_t va = (uintptr_t)addr;
	ASSERT(in_reserved_space(va, bytes));
	for (size_t off = 0; off < bytes; off += PAGE_SIZE) {
		uint64_t phys = pmm_alloc();
		if (phys) {
			memset(phys_to_virt(phys), 0, PAGE_SIZE);
			if (vmm_map(va + off, phys, VMM_WRITE))
				continue;
			pmm_free(phys);
		}
		arch_decommit(addr, off); /* nothing stays half committed */
		return false;
	}
	return true;
}
