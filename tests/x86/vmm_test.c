/*
 * vmm_test.c - page tables: map/translate/unmap, protection changes that
 * make writes fault, NX pages that cannot run, the kernel's own W^X layout
 * (its text and rodata not writable even by the kernel), the boot stack's
 * unmapped gap, the direct map,
 * and the page source (commit zeroed pages, decommit returns every frame,
 * running out of frames commits nothing).
 */
#include "arch/x86_64/x86.h"
#include "mm/mm.h"
#include "lib/lib.h"

#define PF_PRESENT 0x1
#define PF_WRITE 0x2
#define PF_FETCH 0x10

static void write_byte(void *p)
{
	*(volatile uint8_t *)p = 0x5a;
}

static void call_code(void *p)
{
	((void (*)(void))p)();
}

static const uint32_t rodata_word = 0x12345678;

/* A fresh page of virtual space, mapped to a fresh frame with `flags`. */
static uintptr_t map_test_page(unsigned flags, uint64_t *phys_out)
{
	uintptr_t va = (uintptr_t)arch_reserve(PAGE_SIZE);
	uint64_t phys = pmm_alloc();
	CHECK(va && phys);
	CHECK(vmm_map(va, phys, flags));
	*phys_out = phys;
	return va;
}

static void unmap_test_page(uintptr_t va, uint64_t phys)
{
	CHECK_EQ(vmm_unmap(va), phys);
	CHECK_EQ(pmm_free(phys), PMM_OK);
}

TEST(vmm, map_translate_unmap)
{
	uint64_t phys, got;
	uintptr_t va = map_test_page(VMM_WRITE, &phys);
	CHECK(vmm_translate(va + 0x123, &got));
	CHECK_EQ(got, phys + 0x123);
	*(volatile uint64_t *)va = 0xfeedface;
	CHECK_EQ(*(volatile uint64_t *)phys_to_virt(phys), 0xfeedface); /* same frame */
	CHECK(!vmm_map(va, phys, VMM_WRITE)); /* already mapped */
	unmap_test_page(va, phys);
	CHECK(!vmm_translate(va, &got));
	CHECK_EQ(vmm_unmap(va), 0);
	CHECK(!vmm_protect(va, 0));
}

TEST(vmm, protect_makes_writes_fault)
{
	uint64_t phys;
	uintptr_t va = map_test_page(VMM_WRITE, &phys);
	arch_fault f;
	CHECK(arch_try(write_byte, (void *)va, &f));
	CHECK(vmm_protect(va, 0));
	CHECK_EQ(vmm_flags(va), 0);
	CHECK(!arch_try(write_byte, (void *)va, &f));
	CHECK_EQ(f.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(f.addr, va);
	CHECK_EQ(f.error_code & (PF_PRESENT | PF_WRITE), PF_PRESENT | PF_WRITE);
	CHECK(vmm_protect(va, VMM_WRITE));
	CHECK(arch_try(write_byte, (void *)va, &f));
	CHECK_EQ(*(volatile uint8_t *)va, 0x5a);
	unmap_test_page(va, phys);
}

TEST(vmm, nx_page_cannot_execute)
{
	uint64_t phys;
	uintptr_t va = map_test_page(VMM_WRITE, &phys);
	*(volatile uint8_t *)va = 0xc3; /* ret */
	arch_fault f;
	CHECK(!arch_try(call_code, (void *)va, &f));
	CHECK_EQ(f.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(f.addr, va);
	CHECK_EQ(f.ip, va);
	CHECK(f.error_code & PF_FETCH);
	unmap_test_page(va, phys);
}

TEST(vmm, write_and_execute_never_together)
{
	uint64_t phys;
	uintptr_t va = map_test_page(0, &phys);
	CHECK(!vmm_protect(va, VMM_WRITE | VMM_EXEC));
	CHECK(!vmm_map(va + PAGE_SIZE, phys, VMM_WRITE | VMM_EXEC));
	unmap_test_page(va, phys);
}

TEST(vmm, kernel_text_not_writable)
{
	uintptr_t text = (uintptr_t)&write_byte;
	CHECK_EQ(vmm_flags(text), VMM_EXEC);
	uint8_t before = *(volatile uint8_t *)text;
	arch_fault f;
	CHECK(!arch_try(write_byte, (void *)text, &f));
	CHECK_EQ(f.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(f.addr, text);
	CHECK_EQ(f.error_code & (PF_PRESENT | PF_WRITE), PF_PRESENT | PF_WRITE);
	CHECK_EQ(*(volatile uint8_t *)text, before);
}

TEST(vmm, kernel_sections_w_xor_x)
{
	CHECK_EQ(vmm_flags((uintptr_t)&rodata_word), 0);
	arch_fault f;
	CHECK(!arch_try(write_byte, (void *)&rodata_word, &f));
	CHECK_EQ(f.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(rodata_word, 0x12345678);
	static uint64_t data_word = 1, bss_word;
	CHECK_EQ(vmm_flags((uintptr_t)&data_word), VMM_WRITE);
	CHECK_EQ(vmm_flags((uintptr_t)&bss_word), VMM_WRITE);
	CHECK_EQ(vmm_flags((uintptr_t)boot_stack_bottom), VMM_WRITE);
	CHECK(read_cr0() & CR0_WP);
	CHECK(rdmsr(MSR_EFER) & EFER_NXE);
	/* No page of the image is both writable and executable. */
	for (uintptr_t va = (uintptr_t)__text_start; va < (uintptr_t)__kernel_end; va += PAGE_SIZE) {
		int fl = vmm_flags(va);
		CHECK_MSG(fl < 0 || (fl & (VMM_WRITE | VMM_EXEC)) != (VMM_WRITE | VMM_EXEC),
			  "page 0x%llx is writable and executable", (unsigned long long)va);
	}
}

/* The boot stack (main's) has the same unmapped gap below it as a task's
 * stack (mm/stack.c): every page of it, and only those, unmapped. */
TEST(vmm, boot_stack_gap_is_unmapped)
{
	uintptr_t lo = (uintptr_t)boot_stack_guard, hi = (uintptr_t)boot_stack_bottom;
	CHECK_EQ(hi - lo, MSTACK_GAP_BYTES);
	for (uintptr_t va = lo; va < hi; va += PAGE_SIZE)
		CHECK_MSG(vmm_flags(va) == -1, "boot stack gap page 0x%llx is mapped",
			  (unsigned long long)va);
	CHECK_EQ(vmm_flags(hi), VMM_WRITE);
	CHECK_EQ(vmm_flags(lo - PAGE_SIZE), VMM_WRITE); /* bss ends there */
	arch_fault f;
	test_expected_addr = 0;
	CHECK(!arch_try(write_byte, (void *)(hi - MSTACK_GAP_BYTES / 2), &f));
	CHECK_EQ(f.vector, ARCH_FAULT_PAGE);
	CHECK_EQ(f.addr, hi - MSTACK_GAP_BYTES / 2);
}

TEST(vmm, direct_map_covers_ram)
{
	uint64_t phys = pmm_alloc(), got;
	CHECK_NE(phys, 0);
	CHECK(vmm_translate((uintptr_t)phys_to_virt(phys), &got));
	CHECK_EQ(got, phys);
	CHECK(vmm_translate((uintptr_t)phys_to_virt(pmm_max_phys() - 8), &got));
	CHECK_EQ(got, pmm_max_phys() - 8);
	CHECK_EQ(vmm_flags((uintptr_t)phys_to_virt(phys)), VMM_WRITE);
	CHECK_EQ(pmm_free(phys), PMM_OK);
}

TEST(vmm, commit_decommit_returns_frames)
{
	enum { PAGES = 600 }; /* spans two page tables */
	uint8_t *warm = arch_reserve(PAGES * PAGE_SIZE);
	CHECK(warm);
	/* The first commit in a fresh 512 GiB slot also builds its PDPT,
	 * which stays; measure from after that. */
	CHECK(arch_commit(warm, PAGE_SIZE));
	arch_decommit(warm, PAGE_SIZE);
	size_t before = pmm_free_count();
	CHECK(arch_commit(warm, PAGES * PAGE_SIZE));
	CHECK_LT(pmm_free_count(), before - PAGES + 1);
	for (size_t i = 0; i < PAGES * PAGE_SIZE; i += 512)
		CHECK_MSG(warm[i] == 0, "committed memory not zeroed at +%zu", i);
	warm[PAGES * PAGE_SIZE - 1] = 1;
	arch_decommit(warm, PAGES * PAGE_SIZE);
	CHECK_EQ(pmm_free_count(), before);
	arch_fault f;
	CHECK(!arch_try(write_byte, warm, &f)); /* reserved, not committed */
	CHECK_EQ(f.addr, (uintptr_t)warm);
	CHECK((f.error_code & PF_PRESENT) == 0);
}

TEST(vmm, commit_out_of_memory_commits_nothing)
{
	size_t pages = pmm_free_count() + 64;
	uint8_t *va = arch_reserve(pages * PAGE_SIZE);
	CHECK(va);
	CHECK(arch_commit(va, PAGE_SIZE)); /* PDPT warm-up, as above */
	arch_decommit(va, PAGE_SIZE);
	size_t before = pmm_free_count();
	CHECK(!arch_commit(va, pages * PAGE_SIZE));
	CHECK_EQ(pmm_free_count(), before);
	uint64_t phys;
	CHECK(!vmm_translate((uintptr_t)va, &phys));
	CHECK(!vmm_translate((uintptr_t)va + (pages / 2) * PAGE_SIZE, &phys));
}

TEST(vmm, write_combining_page)
{
	/* With a PAT, the page selects entry 4 and vmm_init made it WC;
	 * without one the request falls back to uncached. */
	uint32_t r[4];
	cpuid(1, 0, r);
	bool pat = r[3] & (1u << 16);
	uint64_t phys;
	uintptr_t va = map_test_page(VMM_WRITE | VMM_WRITE_COMBINING, &phys);
	CHECK_EQ(vmm_flags(va), (pat ? VMM_WRITE | VMM_WRITE_COMBINING : VMM_WRITE | VMM_UNCACHED));
	if (pat)
		CHECK_EQ((rdmsr(0x277) >> 32) & 0xff, 0x01u); /* entry 4: WC */
	/* Entries 0-3 (what the other mappings select) are the power-on
	 * ones: WB, WT, UC-, UC. */
	if (pat)
		CHECK_EQ(rdmsr(0x277) & 0xffffffffu, 0x00070406u);
	unmap_test_page(va, phys);
}

TEST(vmm, mmio_is_uncached)
{
	/* The LAPIC registers lapic_init mapped: the first MMIO page. */
	CHECK_EQ(vmm_flags(MMIO_VA_BASE), VMM_WRITE | VMM_UNCACHED);
}
