/*
 * boot_info.c - turns the multiboot2 information GRUB leaves in memory into
 * one plain struct (`boot`). Copies what later code needs (memory map,
 * command line, loader name, basic meminfo, framebuffer, both ACPI RSDP
 * copies as raw bytes, the EFI system table pointer, the EFI memory map's
 * size, modules) so that the original structure's frames matter only to
 * pmm, which keeps them reserved. kmain parses it before anything allocates
 * or writes memory outside the kernel image (under UEFI GRUB may put the
 * block anywhere in low RAM); the EFI memory map itself is not copied
 * (pmm reserves the whole block, it stays readable). Which firmware booted
 * us: UEFI when GRUB passed an EFI system table (tags 11/12) or the EFI
 * memory map (tag 17), which GRUB EFI always does; else BIOS.
 *
 * A malformed block is refused with the reason, never half-read: a tag
 * shorter than its fixed part or running past the block's end, a memory
 * map entry size below 24 or not a multiple of 8, a block without an end
 * tag or not 8-byte aligned (boot_info_parse_block; tests/x86/boot_test.c
 * feeds it blocks built in memory).
 */
#include "arch/x86_64/x86.h"

boot_info boot;

enum {
	MB2_TAG_END = 0,
	MB2_TAG_CMDLINE = 1,
	MB2_TAG_LOADER_NAME = 2,
	MB2_TAG_MODULE = 3,
	MB2_TAG_MEMINFO = 4,
	MB2_TAG_MEMMAP = 6,
	MB2_TAG_FRAMEBUFFER = 8,
	MB2_TAG_EFI32_SYSTEM_TABLE = 11,
	MB2_TAG_EFI64_SYSTEM_TABLE = 12,
	MB2_TAG_ACPI_OLD = 14,
	MB2_TAG_ACPI_NEW = 15,
	MB2_TAG_EFI_MEMMAP = 17,
};

/* The fixed part of each tag this file reads (type and size included): a
 * shorter tag is malformed and refused, never half-read. */
static uint32_t tag_min_size(uint32_t type)
{
	switch (type) {
	case MB2_TAG_MODULE: return 16;
	case MB2_TAG_MEMINFO: return 16;
	case MB2_TAG_MEMMAP: return 16;
	case MB2_TAG_FRAMEBUFFER: return 31;
	case MB2_TAG_EFI32_SYSTEM_TABLE: return 12;
	case MB2_TAG_EFI64_SYSTEM_TABLE: return 16;
	case MB2_TAG_ACPI_OLD: return 8 + BOOT_RSDP_V1_SIZE;
	case MB2_TAG_ACPI_NEW: return 8 + BOOT_RSDP_V2_SIZE;
	case MB2_TAG_EFI_MEMMAP: return 16;
	default: return 8;
	}
}

static void copy_string(char *dst, size_t cap, const char *src, size_t srclen,
			bool *truncated)
{
	size_t n = 0;
	while (n < srclen && src[n] != '\0' && n + 1 < cap) {
		dst[n] = src[n];
		n++;
	}
	dst[n] = '\0';
	if (truncated)
		*truncated = n < srclen && src[n] != '\0';
}

static uint64_t read_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t read_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static bool parse_memmap(boot_info *b, const uint8_t *tag, uint32_t size, uint32_t off,
			 char *err, size_t errlen)
{
	uint32_t entry_size = read_u32(tag + 8);
	if (entry_size < 24 || entry_size % 8 != 0) {
		ksnprintf(err, errlen, "multiboot2 memory map at offset %u has entry size %u "
			  "(at least 24, a multiple of 8)", off, entry_size);
		return false;
	}
	for (uint32_t o = 16; o + entry_size <= size; o += entry_size) {
		if (b->memmap_count == BOOT_MAX_MEMMAP) {
			b->memmap_truncated = true;
			return true;
		}
		boot_memmap_entry *e = &b->memmap[b->memmap_count++];
		e->base = read_u64(tag + o);
		e->length = read_u64(tag + o + 8);
		e->type = read_u32(tag + o + 16);
	}
	return true;
}

static void parse_rsdp(boot_info *b, const uint8_t *tag, uint32_t size, int version)
{
	boot_rsdp *r = version == 2 ? &b->rsdp_v2 : &b->rsdp_v1;
	uint32_t len = MIN(size - 8, (uint32_t)sizeof(r->bytes));
	r->present = true;
	r->size = len;
	memcpy(r->bytes, tag + 8, len);
	/* The summary: a newer table wins over the old one, whichever comes
	 * first. RSDP: RsdtAddress at 16 (32-bit); XSDP: XsdtAddress at 24. */
	if (b->acpi.version > version)
		return;
	b->acpi.version = version;
	memcpy(b->acpi.bytes, r->bytes, MIN(len, (uint32_t)sizeof(b->acpi.bytes)));
	b->acpi.rsdt_or_xsdt_phys = version == 2 ? read_u64(r->bytes + 24) : read_u32(r->bytes + 16);
}

/* UEFI memory types (UEFI spec 2.x, EFI_MEMORY_TYPE). */
enum {
	EFI_LOADER_CODE = 1, EFI_LOADER_DATA = 2, EFI_BOOT_SERVICES_CODE = 3,
	EFI_BOOT_SERVICES_DATA = 4, EFI_RUNTIME_SERVICES_CODE = 5,
	EFI_RUNTIME_SERVICES_DATA = 6, EFI_CONVENTIONAL = 7, EFI_ACPI_RECLAIM = 9,
	EFI_ACPI_NVS = 10, EFI_MMIO = 11, EFI_MMIO_PORT_SPACE = 12,
};

bool boot_efi_type_usable(uint32_t type)
{
	return type == EFI_LOADER_CODE || type == EFI_LOADER_DATA ||
	       type == EFI_BOOT_SERVICES_CODE || type == EFI_BOOT_SERVICES_DATA ||
	       type == EFI_CONVENTIONAL;
}

bool boot_efi_descriptor(const boot_info *b, const uint8_t *block, uint32_t i,
			 boot_efi_desc *out)
{
	if (!b->efi_memmap.valid || i >= b->efi_memmap.count)
		return false;
	const uint8_t *d = block + b->efi_memmap.offset + (uint64_t)i * b->efi_memmap.descriptor_size;
	/* type u32, padding u32, physical start u64, virtual start u64,
	 * number of pages u64, attribute u64 */
	out->type = read_u32(d);
	out->phys = read_u64(d + 8);
	out->pages = read_u64(d + 24);
	out->attribute = read_u64(d + 32);
	return true;
}

/* Tag 17: the header (descriptor size and version), then the descriptors
 * as the firmware gave them. Summarised by what each page is once boot
 * services have exited; a descriptor size that cannot hold a descriptor or
 * does not divide the map leaves the tag noted but not valid. */
static void parse_efi_memmap(boot_info *b, const uint8_t *base, const uint8_t *tag,
			     uint32_t size, uint64_t off)
{
	b->efi_memmap.present = true;
	b->efi_memmap.descriptor_size = read_u32(tag + 8);
	b->efi_memmap.descriptor_version = read_u32(tag + 12);
	b->efi_memmap.size = size - 16;
	b->efi_memmap.offset = off + 16;
	uint32_t dsize = b->efi_memmap.descriptor_size;
	if (dsize < EFI_DESC_MIN_SIZE || b->efi_memmap.size % dsize != 0)
		return;
	b->efi_memmap.valid = true;
	b->efi_memmap.count = b->efi_memmap.size / dsize;
	for (uint32_t i = 0; i < b->efi_memmap.count; i++) {
		boot_efi_desc d;
		boot_efi_descriptor(b, base, i, &d);
		uint64_t *bucket = boot_efi_type_usable(d.type) ? &b->efi_memmap.usable_pages
			: d.type == EFI_RUNTIME_SERVICES_CODE || d.type == EFI_RUNTIME_SERVICES_DATA
				? &b->efi_memmap.runtime_pages
			: d.type == EFI_ACPI_RECLAIM || d.type == EFI_ACPI_NVS ? &b->efi_memmap.acpi_pages
			: d.type == EFI_MMIO || d.type == EFI_MMIO_PORT_SPACE ? &b->efi_memmap.mmio_pages
			: &b->efi_memmap.other_pages;
		*bucket += d.pages;
	}
}

bool boot_info_parse_block(boot_info *b, const uint8_t *base, uint64_t info_phys,
			   char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	if (((uintptr_t)base & 7) != 0 || (info_phys & 7) != 0) {
		ksnprintf(err, errlen, "multiboot2 info at 0x%llx is misaligned (not 8-byte)",
			  (unsigned long long)info_phys);
		return false;
	}
	uint32_t total = read_u32(base);
	if (total < 16 || total > BOOT_INFO_MAX_SIZE) {
		ksnprintf(err, errlen, "multiboot2 info size %u is implausible", total);
		return false;
	}
	b->info_phys = info_phys;
	b->info_size = total;

	uint32_t off = 8;
	bool ended = false;
	while (off + sizeof(uint32_t) * 2 <= total) {
		const uint8_t *tag = base + off;
		uint32_t type = read_u32(tag), size = read_u32(tag + 4);
		if (size < 8 || size > total - off) {
			ksnprintf(err, errlen, "multiboot2 tag %u at offset %u has bad size %u "
				  "(%u bytes left)", type, off, size, total - off);
			return false;
		}
		if (size < tag_min_size(type)) {
			ksnprintf(err, errlen, "multiboot2 tag %u at offset %u is truncated: "
				  "%u bytes, its fixed part is %u", type, off, size, tag_min_size(type));
			return false;
		}
		if (type == MB2_TAG_END) {
			ended = true;
			break;
		}
		switch (type) {
		case MB2_TAG_CMDLINE:
			copy_string(b->cmdline, sizeof(b->cmdline),
				    (const char *)tag + 8, size - 8,
				    &b->cmdline_truncated);
			break;
		case MB2_TAG_LOADER_NAME:
			copy_string(b->loader_name, sizeof(b->loader_name),
				    (const char *)tag + 8, size - 8, NULL);
			break;
		case MB2_TAG_MODULE:
			if (b->module_count < BOOT_MAX_MODULES) {
				boot_module *m = &b->modules[b->module_count++];
				m->start = read_u32(tag + 8);
				m->end = read_u32(tag + 12);
				copy_string(m->name, sizeof(m->name),
					    (const char *)tag + 16, size - 16, NULL);
			}
			break;
		case MB2_TAG_MEMINFO:
			b->meminfo.present = true;
			b->meminfo.lower_kib = read_u32(tag + 8);
			b->meminfo.upper_kib = read_u32(tag + 12);
			break;
		case MB2_TAG_MEMMAP:
			if (!parse_memmap(b, tag, size, off, err, errlen))
				return false;
			break;
		case MB2_TAG_FRAMEBUFFER:
			if (size >= 31) {
				b->framebuffer.present = true;
				b->framebuffer.addr = read_u64(tag + 8);
				b->framebuffer.pitch = read_u32(tag + 16);
				b->framebuffer.width = read_u32(tag + 20);
				b->framebuffer.height = read_u32(tag + 24);
				b->framebuffer.bpp = tag[28];
				b->framebuffer.type = tag[29];
			}
			/* The RGB channel layout follows the 32-byte common part. */
			if (size >= 38 && b->framebuffer.type == BOOT_FRAMEBUFFER_RGB) {
				b->framebuffer.red_pos = tag[32];
				b->framebuffer.red_size = tag[33];
				b->framebuffer.green_pos = tag[34];
				b->framebuffer.green_size = tag[35];
				b->framebuffer.blue_pos = tag[36];
				b->framebuffer.blue_size = tag[37];
			}
			break;
		case MB2_TAG_EFI32_SYSTEM_TABLE:
			b->efi_system_table.present = true;
			b->efi_system_table.phys = read_u32(tag + 8);
			break;
		case MB2_TAG_EFI64_SYSTEM_TABLE:
			b->efi_system_table.present = true;
			b->efi_system_table.phys = read_u64(tag + 8);
			break;
		case MB2_TAG_ACPI_OLD:
			parse_rsdp(b, tag, size, 1);
			break;
		case MB2_TAG_ACPI_NEW:
			parse_rsdp(b, tag, size, 2);
			break;
		case MB2_TAG_EFI_MEMMAP:
			parse_efi_memmap(b, base, tag, size, off);
			break;
		default:
			break; /* tags we do not use */
		}
		off += ALIGN_UP(size, 8);
	}
	if (!ended) {
		ksnprintf(err, errlen, "multiboot2 info of %u bytes has no end tag", total);
		return false;
	}
	b->firmware = b->efi_memmap.present || b->efi_system_table.present ? BOOT_FIRMWARE_UEFI
									 : BOOT_FIRMWARE_BIOS;
	if (b->memmap_count == 0) {
		ksnprintf(err, errlen, "the boot loader gave no memory map");
		return false;
	}
	return true;
}

bool boot_info_parse(uint64_t info_phys, char *err, size_t errlen)
{
	/* boot.S maps the first 4 GiB; GRUB puts the block below 4 GiB. */
	if (info_phys == 0 || info_phys + BOOT_INFO_MAX_SIZE > BOOT_EARLY_MAP_END) {
		ksnprintf(err, errlen, "multiboot2 info at 0x%llx is not in the first %lu MiB "
			  "boot.S maps", (unsigned long long)info_phys,
			  (BOOT_EARLY_MAP_END - BOOT_INFO_MAX_SIZE) >> 20);
		return false; /* `boot` untouched */
	}
	return boot_info_parse_block(&boot, phys_to_virt(info_phys), info_phys, err, errlen);
}

const char *boot_firmware_name(boot_firmware f)
{
	switch (f) {
	case BOOT_FIRMWARE_BIOS: return "BIOS";
	case BOOT_FIRMWARE_UEFI: return "UEFI";
	default: return "unknown";
	}
}

const char *memmap_type_name(uint32_t type)
{
	switch (type) {
	case MEMMAP_AVAILABLE: return "available";
	case MEMMAP_RESERVED: return "reserved";
	case MEMMAP_ACPI_RECLAIMABLE: return "ACPI reclaimable";
	case MEMMAP_ACPI_NVS: return "ACPI NVS";
	case MEMMAP_BAD: return "bad RAM";
	default: return "unknown";
	}
}

void boot_info_print(void)
{
	kprintf("booted by %s from %s firmware\n",
		boot.loader_name[0] ? boot.loader_name : "an unnamed loader",
		boot_firmware_name(boot.firmware));
	if (boot.efi_system_table.present || boot.efi_memmap.present)
		kprintf("UEFI: system table at 0x%llx, memory map %u bytes (descriptors of %u bytes)%s\n",
			(unsigned long long)boot.efi_system_table.phys, boot.efi_memmap.size,
			boot.efi_memmap.descriptor_size,
			boot.efi_memmap.present ? "" : " (no memory map tag)");
	if (boot.efi_memmap.present && !boot.efi_memmap.valid)
		kprintf("UEFI: memory map ignored: descriptor size %u cannot hold a descriptor "
			"or divide %u bytes\n", boot.efi_memmap.descriptor_size, boot.efi_memmap.size);
	else if (boot.efi_memmap.present)
		kprintf("UEFI: %u descriptors: %llu MiB usable after boot services, runtime "
			"services %llu KiB, ACPI %llu KiB, MMIO %llu KiB, other %llu KiB\n",
			boot.efi_memmap.count,
			(unsigned long long)(boot.efi_memmap.usable_pages * PAGE_SIZE >> 20),
			(unsigned long long)(boot.efi_memmap.runtime_pages * PAGE_SIZE >> 10),
			(unsigned long long)(boot.efi_memmap.acpi_pages * PAGE_SIZE >> 10),
			(unsigned long long)(boot.efi_memmap.mmio_pages * PAGE_SIZE >> 10),
			(unsigned long long)(boot.efi_memmap.other_pages * PAGE_SIZE >> 10));
	kprintf("command line: \"%s\"%s\n", boot.cmdline,
		boot.cmdline_truncated ? " (truncated)" : "");
	uint64_t usable = 0;
	kprintf("memory map (%zu entries%s):\n", boot.memmap_count,
		boot.memmap_truncated ? ", truncated" : "");
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		kprintf("  %016llx-%016llx %10llu KiB  %s (%u)\n",
			(unsigned long long)e->base,
			(unsigned long long)(e->base + e->length - 1),
			(unsigned long long)(e->length >> 10), memmap_type_name(e->type), e->type);
		if (e->type == MEMMAP_AVAILABLE)
			usable += e->length;
	}
	kprintf("usable RAM: %llu MiB\n", (unsigned long long)(usable >> 20));
	if (boot.meminfo.present)
		kprintf("basic meminfo: %u KiB lower, %u KiB upper\n", boot.meminfo.lower_kib,
			boot.meminfo.upper_kib);
	if (boot.framebuffer.present)
		kprintf("framebuffer: %ux%u, %u bpp, type %u at 0x%llx\n",
			boot.framebuffer.width, boot.framebuffer.height,
			boot.framebuffer.bpp, boot.framebuffer.type,
			(unsigned long long)boot.framebuffer.addr);
	if (boot.acpi.version)
		kprintf("ACPI: %s, %s at 0x%llx\n",
			boot.acpi.version == 2 ? "XSDP (ACPI 2.0+)" : "RSDP (ACPI 1.0)",
			boot.acpi.version == 2 ? "XSDT" : "RSDT",
			(unsigned long long)boot.acpi.rsdt_or_xsdt_phys);
	for (size_t i = 0; i < boot.module_count; i++)
		kprintf("module %zu: 0x%llx-0x%llx %s\n", i,
			(unsigned long long)boot.modules[i].start,
			(unsigned long long)boot.modules[i].end, boot.modules[i].name);
}
