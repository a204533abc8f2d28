/*
 * boot_info_test.c - the multiboot2 parser (arch/x86_64/boot_info.c) on
 * blocks built here in memory: every tag it reads (4, 6, 8, 12, 14, 15, 17)
 * comes out as written, and malformed blocks (a truncated tag, a tag past
 * the end, a misaligned block, a bad memory map entry size, no end tag) are
 * refused with the reason. Plus what the firmware that booted this run was.
 */
#include "arch/x86_64/x86.h"
#include "lib/lib.h"

/* A block under construction: tags appended 8-byte aligned. */
typedef struct mb2_builder {
	_Alignas(8) uint8_t buf[1024];
	uint32_t len;
} mb2_builder;

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void mb2_begin(mb2_builder *m)
{
	memset(m->buf, 0xcc, sizeof(m->buf));
	m->len = 8;
}

/* A tag of `size` bytes (header included); returns its payload. */
static uint8_t *mb2_tag(mb2_builder *m, uint32_t type, uint32_t size)
{
	uint8_t *t = m->buf + m->len;
	ASSERT(m->len + ALIGN_UP(size, 8) <= sizeof(m->buf));
	memset(t, 0, ALIGN_UP(size, 8));
	put32(t, type);
	put32(t + 4, size);
	m->len += ALIGN_UP(size, 8);
	return t + 8;
}

static void mb2_memmap(mb2_builder *m)
{
	uint8_t *p = mb2_tag(m, 6, 16 + 2 * 24);
	put32(p, 24); /* entry size */
	put32(p + 4, 0);
	put64(p + 8, 0);
	put64(p + 16, 0x9f000);
	put32(p + 24, MEMMAP_AVAILABLE);
	put64(p + 32, 0x100000);
	put64(p + 40, 0x7f00000);
	put32(p + 48, MEMMAP_AVAILABLE);
}

static void mb2_end(mb2_builder *m)
{
	mb2_tag(m, 0, 8);
	put32(m->buf, m->len);
	put32(m->buf + 4, 0);
}

static boot_info parsed; /* too large for a test's stack frame */

static bool parse(mb2_builder *m, char *err, size_t errlen)
{
	err[0] = '\0';
	return boot_info_parse_block(&parsed, m->buf, 0x10000, err, errlen);
}

TEST(boot, info_every_tag)
{
	static mb2_builder m;
	char err[160];
	mb2_begin(&m);
	uint8_t *p = mb2_tag(&m, 1, 8 + 9);
	memcpy(p, "tests=gc", 9);
	p = mb2_tag(&m, 4, 16);
	put32(p, 639);
	put32(p + 4, 130048);
	mb2_memmap(&m);
	p = mb2_tag(&m, 8, 32);
	put64(p, 0xfd000000);
	put32(p + 8, 4096);
	put32(p + 12, 1024);
	put32(p + 16, 768);
	p[20] = 32;
	p[21] = BOOT_FRAMEBUFFER_RGB;
	p = mb2_tag(&m, 12, 16);
	put64(p, 0x7fe1f018);
	p = mb2_tag(&m, 14, 8 + BOOT_RSDP_V1_SIZE);
	memcpy(p, "RSD PTR ", 8);
	put32(p + 16, 0x7fe14000);
	p = mb2_tag(&m, 15, 8 + BOOT_RSDP_V2_SIZE);
	memcpy(p, "RSD PTR ", 8);
	p[15] = 2;
	put32(p + 20, BOOT_RSDP_V2_SIZE);
	put64(p + 24, 0x7fe150e8);
	p = mb2_tag(&m, 17, 16 + 3 * 48);
	put32(p, 48);
	put32(p + 4, 1);
	/* conventional 127 MiB at 1 MiB, runtime data 64 KiB, ACPI NVS 16 KiB */
	put32(p + 8, 7);
	put64(p + 8 + 8, 0x100000);
	put64(p + 8 + 24, 0x7f00);
	put32(p + 8 + 48, 6);
	put64(p + 8 + 48 + 8, 0x7fe00000);
	put64(p + 8 + 48 + 24, 16);
	put32(p + 8 + 96, 10);
	put64(p + 8 + 96 + 8, 0x7ff00000);
	put64(p + 8 + 96 + 24, 4);
	mb2_end(&m);

	CHECK(parse(&m, err, sizeof err));
	CHECK_STREQ(err, "");
	CHECK_STREQ(parsed.cmdline, "tests=gc");
	CHECK_EQ(parsed.info_phys, 0x10000);
	CHECK_EQ(parsed.info_size, m.len);
	CHECK(parsed.meminfo.present);
	CHECK_EQ(parsed.meminfo.lower_kib, 639);
	CHECK_EQ(parsed.meminfo.upper_kib, 130048);
	CHECK_EQ(parsed.memmap_count, 2);
	CHECK_EQ(parsed.memmap[1].base, 0x100000);
	CHECK_EQ(parsed.memmap[1].length, 0x7f00000);
	CHECK_EQ(parsed.memmap[1].type, MEMMAP_AVAILABLE);
	CHECK(parsed.framebuffer.present);
	CHECK_EQ(parsed.framebuffer.addr, 0xfd000000);
	CHECK_EQ(parsed.framebuffer.pitch, 4096);
	CHECK_EQ(parsed.framebuffer.width, 1024);
	CHECK_EQ(parsed.framebuffer.height, 768);
	CHECK_EQ(parsed.framebuffer.bpp, 32);
	CHECK_EQ(parsed.framebuffer.type, BOOT_FRAMEBUFFER_RGB);
	CHECK(parsed.efi_system_table.present);
	CHECK_EQ(parsed.efi_system_table.phys, 0x7fe1f018);
	CHECK(parsed.rsdp_v1.present);
	CHECK_EQ(parsed.rsdp_v1.size, BOOT_RSDP_V1_SIZE);
	CHECK_EQ(memcmp(parsed.rsdp_v1.bytes, "RSD PTR ", 8), 0);
	CHECK(parsed.rsdp_v2.present);
	CHECK_EQ(parsed.rsdp_v2.size, BOOT_RSDP_V2_SIZE);
	CHECK_EQ(parsed.rsdp_v2.bytes[15], 2);
	/* the newer copy is the summary, though tag 14 came first */
	CHECK_EQ(parsed.acpi.version, 2);
	CHECK_EQ(parsed.acpi.rsdt_or_xsdt_phys, 0x7fe150e8);
	CHECK(parsed.efi_memmap.present);
	CHECK_EQ(parsed.efi_memmap.size, 3 * 48);
	CHECK_EQ(parsed.efi_memmap.descriptor_size, 48);
	CHECK_EQ(parsed.efi_memmap.descriptor_version, 1);
	CHECK(parsed.efi_memmap.valid);
	CHECK_EQ(parsed.efi_memmap.count, 3);
	CHECK_EQ(parsed.efi_memmap.usable_pages, 0x7f00);
	CHECK_EQ(parsed.efi_memmap.runtime_pages, 16);
	CHECK_EQ(parsed.efi_memmap.acpi_pages, 4);
	CHECK_EQ(parsed.efi_memmap.mmio_pages + parsed.efi_memmap.other_pages, 0);
	boot_efi_desc d;
	CHECK(boot_efi_descriptor(&parsed, m.buf, 1, &d));
	CHECK_EQ(d.type, 6);
	CHECK_EQ(d.phys, 0x7fe00000);
	CHECK_EQ(d.pages, 16);
	CHECK(!boot_efi_descriptor(&parsed, m.buf, 3, &d)); /* past the end */
	CHECK_EQ(parsed.firmware, BOOT_FIRMWARE_UEFI);
}

/* A descriptor size that cannot hold a descriptor, or that does not
 * divide the map: the tag is noted (UEFI firmware) but not read. */
TEST(boot, info_efi_memmap_bad_descriptor_size)
{
	static mb2_builder m;
	char err[160];
	const uint32_t sizes[][2] = { { 32, 2 * 32 }, { 48, 100 }, { 0, 48 } };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		mb2_begin(&m);
		mb2_memmap(&m);
		uint8_t *p = mb2_tag(&m, 17, 16 + sizes[i][1]);
		put32(p, sizes[i][0]);
		put32(p + 4, 1);
		mb2_end(&m);
		CHECK(parse(&m, err, sizeof err));
		CHECK(parsed.efi_memmap.present);
		CHECK(!parsed.efi_memmap.valid);
		CHECK_EQ(parsed.efi_memmap.count, 0);
		boot_efi_desc d;
		CHECK(!boot_efi_descriptor(&parsed, m.buf, 0, &d));
		CHECK_EQ(parsed.firmware, BOOT_FIRMWARE_UEFI);
	}
}

/* Under UEFI GRUB builds the multiboot2 memory map from the firmware's:
 * every available range of it lies within descriptors whose memory is
 * usable after boot services (checked range by range, the descriptors in
 * any order). Under a BIOS there is no EFI map at all. */
TEST(boot, efi_memmap_covers_available_ram)
{
	if (!boot.efi_memmap.present) {
		CHECK_EQ(boot.firmware, BOOT_FIRMWARE_BIOS);
		test_log("BIOS boot: no EFI memory map");
		return;
	}
	CHECK(boot.efi_memmap.valid);
	CHECK_GT(boot.efi_memmap.usable_pages, 0);
	const uint8_t *block = phys_to_virt(boot.info_phys);
	uint64_t covered = 0;
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		if (e->type != MEMMAP_AVAILABLE)
			continue;
		uint64_t at = e->base, end = e->base + e->length;
		while (at < end) {
			bool found = false;
			boot_efi_desc d;
			for (uint32_t j = 0; boot_efi_descriptor(&boot, block, j, &d); j++) {
				uint64_t dend = d.phys + d.pages * PAGE_SIZE;
				if (boot_efi_type_usable(d.type) && d.phys <= at && at < dend) {
					at = dend;
					found = true;
					break;
				}
			}
			CHECK_MSG(found, "available RAM at 0x%llx (entry 0x%llx+0x%llx) is in no usable "
				  "EFI descriptor", (unsigned long long)at, (unsigned long long)e->base,
				  (unsigned long long)e->length);
			if (!found)
				return;
		}
		covered += e->length;
	}
	test_log("%u EFI descriptors cover the %llu MiB the memory map calls available",
		 boot.efi_memmap.count, (unsigned long long)(covered >> 20));
	CHECK_LE(covered, boot.efi_memmap.usable_pages * PAGE_SIZE);
}

TEST(boot, info_bios_minimal)
{
	static mb2_builder m;
	char err[160];
	mb2_begin(&m);
	mb2_memmap(&m);
	uint8_t *p = mb2_tag(&m, 14, 8 + BOOT_RSDP_V1_SIZE);
	put32(p + 16, 0x1ffe22e1);
	mb2_end(&m);
	CHECK(parse(&m, err, sizeof err));
	CHECK_EQ(parsed.firmware, BOOT_FIRMWARE_BIOS);
	CHECK_STREQ(boot_firmware_name(parsed.firmware), "BIOS");
	CHECK(!parsed.meminfo.present && !parsed.framebuffer.present && !parsed.rsdp_v2.present);
	CHECK(!parsed.efi_memmap.present && !parsed.efi_system_table.present);
	CHECK(parsed.rsdp_v1.present);
	CHECK_EQ(parsed.acpi.version, 1);
	CHECK_EQ(parsed.acpi.rsdt_or_xsdt_phys, 0x1ffe22e1);
}

/* Builds the minimal block with one extra tag of `size` bytes of `type`,
 * its size field then set to `claimed`, and expects the parse to fail
 * with `want` in the reason. */
static void expect_refused(uint32_t type, uint32_t size, uint32_t claimed, const char *want)
{
	static mb2_builder m;
	char err[160];
	mb2_begin(&m);
	mb2_memmap(&m);
	uint8_t *t = mb2_tag(&m, type, size) - 8;
	put32(t + 4, claimed);
	mb2_end(&m);
	CHECK(!parse(&m, err, sizeof err));
	test_log("type %u size %u: %s", type, claimed, err);
	CHECK(strstr(err, want) != NULL);
}

TEST(boot, info_malformed_refused)
{
	static mb2_builder m;
	char err[160];
	/* tags shorter than their fixed part */
	expect_refused(8, 24, 24, "tag 8 at offset 72 is truncated: 24 bytes, its fixed part is 31");
	expect_refused(15, 28, 28, "tag 15 at offset 72 is truncated: 28 bytes, its fixed part is 44");
	expect_refused(14, 16, 16, "tag 14 at offset 72 is truncated");
	expect_refused(17, 8, 8, "tag 17 at offset 72 is truncated");
	expect_refused(4, 12, 12, "tag 4 at offset 72 is truncated");
	/* sizes that cannot be: below the header, past the block's end */
	expect_refused(4, 16, 4, "tag 4 at offset 72 has bad size 4");
	expect_refused(4, 16, 4096, "tag 4 at offset 72 has bad size 4096");

	/* a memory map whose entries are not 24.. bytes, 8-aligned */
	mb2_begin(&m);
	uint8_t *p = mb2_tag(&m, 6, 16 + 20);
	put32(p, 20);
	mb2_end(&m);
	CHECK(!parse(&m, err, sizeof err));
	CHECK(strstr(err, "memory map at offset 8 has entry size 20") != NULL);

	/* no end tag: the block ends right after the memory map */
	mb2_begin(&m);
	mb2_memmap(&m);
	put32(m.buf, m.len);
	CHECK(!parse(&m, err, sizeof err));
	CHECK(strstr(err, "has no end tag") != NULL);

	/* no memory map at all */
	mb2_begin(&m);
	mb2_end(&m);
	CHECK(!parse(&m, err, sizeof err));
	CHECK_STREQ(err, "the boot loader gave no memory map");

	/* a total size below the fixed header and end tag */
	mb2_begin(&m);
	mb2_end(&m);
	put32(m.buf, 8);
	CHECK(!parse(&m, err, sizeof err));
	CHECK(strstr(err, "size 8 is implausible") != NULL);

	/* misaligned: the block 4 bytes into an aligned buffer, and an
	 * address GRUB would never give */
	mb2_begin(&m);
	mb2_memmap(&m);
	mb2_end(&m);
	CHECK(boot_info_parse_block(&parsed, m.buf, 0x10000, err, sizeof err));
	CHECK(!boot_info_parse_block(&parsed, m.buf + 4, 0x10004, err, sizeof err));
	CHECK(strstr(err, "misaligned") != NULL);
	CHECK(!boot_info_parse(0, err, sizeof err));
	CHECK(strstr(err, "not in the first") != NULL);
	CHECK(!boot_info_parse(BOOT_EARLY_MAP_END, err, sizeof err));
	CHECK(strstr(err, "not in the first") != NULL);
	/* ... and those two left the real boot information alone */
	CHECK_GT(boot.memmap_count, 0);
	/* nothing of a refused block is left behind */
	CHECK_EQ(parsed.memmap_count, 0);
}

/* The firmware kind as the loader told it. The boot matrix (Makefile,
 * test-matrix) boots with expect_firmware=bios or expect_firmware=uefi on
 * the command line, as it knows which firmware it started; without the
 * option the test only checks that the kind agrees with the tags. */
static const char *expect_firmware;
CMDLINE_STRING(expect_firmware, "expect_firmware",
	       "bios or uefi: boot.firmware_kind checks the loader reported it");

TEST(boot, firmware_kind)
{
	bool efi_tags = boot.efi_memmap.present || boot.efi_system_table.present;
	CHECK_EQ(boot.firmware, (efi_tags ? BOOT_FIRMWARE_UEFI : BOOT_FIRMWARE_BIOS));
	test_log("firmware %s; EFI system table %s, EFI memory map %u bytes",
		 boot_firmware_name(boot.firmware), boot.efi_system_table.present ? "present" : "absent",
		 boot.efi_memmap.size);
	if (expect_firmware == NULL)
		return;
	if (strcmp(expect_firmware, "uefi") == 0) {
		CHECK_EQ(boot.firmware, BOOT_FIRMWARE_UEFI);
		CHECK(boot.efi_system_table.present);
		CHECK(boot.efi_memmap.present);
		CHECK_GT(boot.efi_memmap.size, 0);
		CHECK_EQ(boot.efi_memmap.size % boot.efi_memmap.descriptor_size, 0);
		CHECK(boot.rsdp_v2.present);
	} else {
		CHECK_STREQ(expect_firmware, "bios");
		CHECK_EQ(boot.firmware, BOOT_FIRMWARE_BIOS);
	}
}
