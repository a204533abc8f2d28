/*
 * boot_test.c - what the boot left us: the loader's name, a memory map with
 * usable RAM, the command line that selected these tests, the image layout
 * the collector will scan (data and bss bounds), and symbolized addresses.
 */
#include "arch/x86_64/x86.h"
#include "tests/test.h"

TEST(boot, loader_and_cmdline)
{
	CHECK_EQ(strncmp(boot.loader_name, "GRUB", 4), 0);
	CHECK(strstr(boot.cmdline, "tests=") != NULL);
	CHECK(!boot.cmdline_truncated);
}

TEST(boot, memory_map)
{
	uint64_t usable = 0;
	CHECK_GT(boot.memmap_count, 0);
	for (size_t i = 0; i < boot.memmap_count; i++) {
		CHECK_GT(boot.memmap[i].length, 0);
		if (boot.memmap[i].type == MEMMAP_AVAILABLE)
			usable += boot.memmap[i].length;
	}
	CHECK_GE(usable, 64UL << 20);
	CHECK_GE(pmm_total_count() * PAGE_SIZE, usable / 2);
	CHECK_LE(pmm_total_count() * PAGE_SIZE, usable);
	/* The kernel image and the boot info lie in usable RAM pmm keeps back. */
	CHECK(pmm_is_reserved_range((uint64_t)__kernel_phys_start, PAGE_SIZE));
	CHECK(pmm_is_reserved_range(boot.info_phys, 8));
}

static uint64_t global_data_word = 42;
static uint64_t global_bss_word;

TEST(boot, image_layout)
{
	arch_range data = arch_data_range(), bss = arch_bss_range();
	CHECK_LT(data.start, data.end);
	CHECK_LE(data.end, bss.start);
	CHECK_LT(bss.start, bss.end);
	CHECK((uintptr_t)&global_data_word >= data.start && (uintptr_t)&global_data_word < data.end);
	CHECK((uintptr_t)&global_bss_word >= bss.start && (uintptr_t)&global_bss_word < bss.end);
	CHECK_EQ(data.start % PAGE_SIZE, 0);
	CHECK_GE((uintptr_t)__text_start, KERNEL_VMA);
	/* The boot stack is not a root: it lies outside data and bss. */
	CHECK((uintptr_t)boot_stack_top <= bss.start || (uintptr_t)boot_stack_bottom >= bss.end);
}

static __attribute__((noinline)) uintptr_t here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

TEST(boot, symbolize)
{
	uintptr_t off = 0;
	const char *name = arch_symbolize((uintptr_t)&kmain + 3, &off);
	CHECK(name);
	CHECK_STREQ(name, "kmain");
	CHECK_EQ(off, 3);
	name = arch_symbolize(here(), &off);
	CHECK(name);
	CHECK_STREQ(name, "test_boot_symbolize");
	CHECK(arch_symbolize(0x1234, &off) == NULL);
	uintptr_t pcs[8];
	size_t n = arch_backtrace(pcs, 8);
	CHECK_GE(n, 2);
	name = arch_symbolize(pcs[0], &off);
	CHECK(name);
	CHECK_STREQ(name, "test_boot_symbolize");
}
