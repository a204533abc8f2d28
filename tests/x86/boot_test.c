/*
 * boot_test.c - what the boot left us: the loader's name, a memory map with
 * usable RAM, the command line that selected these tests, the image layout
 * the collector will scan (data and bss bounds), and symbolized addresses.
 */
#include "arch/x86_64/x86.h"
#include "tests/x86/qemu.h"
#include "lib/lib.h"

TEST(boot, loader_and_cmdline)
{
	CHECK_EQ(strncmp(boot.loader_name, "GRUB", 4), 0);
	CHECK(strstr(boot.cmdline, "tests=") != NULL);
	CHECK(!boot.cmdline_truncated);
}

/* QEMU's firmware configuration device: the machine's RAM as configured
 * (-m), to check the memory map against. Other machines have none. */
static bool configured_ram(uint64_t *bytes)
{
	if (!test_on_qemu())
		return false;
	fw_cfg_read(FW_CFG_RAM_SIZE, bytes, sizeof *bytes); /* little-endian */
	return true;
}

/* RAM the firmware keeps from the map: under SeaBIOS the first MiB's holes
 * and ROMs (~385 KiB) and its own tables at the top of low RAM (128-132
 * KiB); under OVMF its runtime code and data, ACPI tables and NVS (4.45 MiB
 * at 128 MiB, 512 MiB and 4 GiB, measured); with room to spare each time;
 * losing a whole map entry is far more. */
#define FIRMWARE_KEEPS_MAX_BIOS (2UL << 20)
#define FIRMWARE_KEEPS_MAX_UEFI (8UL << 20)

static bool frame_in_map_as(uint64_t f, bool available)
{
	uint64_t lo = f * PAGE_SIZE, hi = lo + PAGE_SIZE;
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		if ((e->type == MEMMAP_AVAILABLE) != available)
			continue;
		if (available ? e->base <= lo && hi <= e->base + e->length
			      : e->base < hi && lo < e->base + e->length)
			return true;
	}
	return false;
}

/* What pmm must manage, worked out frame by frame from its definition:
 * wholly inside available RAM, touched by no other map entry, outside
 * every range pmm keeps back (low memory, the image, the boot info). */
static size_t frames_pmm_should_manage(void)
{
	size_t n = 0;
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		if (e->type != MEMMAP_AVAILABLE)
			continue;
		uint64_t f0 = ALIGN_UP(e->base, PAGE_SIZE) / PAGE_SIZE;
		uint64_t f1 = ALIGN_DOWN(e->base + e->length, PAGE_SIZE) / PAGE_SIZE;
		for (uint64_t f = f0; f < f1; f++) {
			/* counted once even if available entries overlap */
			bool first = true;
			for (size_t j = 0; j < i; j++)
				first &= !(boot.memmap[j].type == MEMMAP_AVAILABLE &&
					   boot.memmap[j].base <= f * PAGE_SIZE &&
					   (f + 1) * PAGE_SIZE <= boot.memmap[j].base +
									 boot.memmap[j].length);
			n += first && !frame_in_map_as(f, false) &&
			     !pmm_is_reserved_range(f * PAGE_SIZE, PAGE_SIZE);
		}
	}
	return n;
}

TEST(boot, memory_map)
{
	uint64_t usable = 0, ram = 0;
	CHECK_GT(boot.memmap_count, 0);
	CHECK(!boot.memmap_truncated);
	for (size_t i = 0; i < boot.memmap_count; i++) {
		CHECK_GT(boot.memmap[i].length, 0);
		if (boot.memmap[i].type == MEMMAP_AVAILABLE)
			usable += boot.memmap[i].length;
	}
	CHECK_GT(usable, 0);
	if (configured_ram(&ram)) {
		test_log("RAM: %llu KiB configured, %llu KiB usable", (unsigned long long)(ram >> 10),
			 (unsigned long long)(usable >> 10));
		CHECK_LE(usable, ram);
		CHECK_GE(usable + (boot.firmware == BOOT_FIRMWARE_UEFI ? FIRMWARE_KEEPS_MAX_UEFI
								  : FIRMWARE_KEEPS_MAX_BIOS),
			 ram);
	} else {
		test_log("no QEMU fw_cfg: the configured RAM is unknown; %llu KiB usable",
			 (unsigned long long)(usable >> 10));
	}
	/* The kernel image and the boot info lie in usable RAM pmm keeps back. */
	CHECK(pmm_is_reserved_range((uint64_t)__kernel_phys_start, PAGE_SIZE));
	CHECK(pmm_is_reserved_range(boot.info_phys, 8));
	CHECK_EQ(pmm_total_count(), frames_pmm_should_manage());
	CHECK_LE(pmm_total_count() * PAGE_SIZE, usable);
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
