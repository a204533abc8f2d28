/*
 * boot_info.c - turns the multiboot2 information GRUB leaves in memory into
 * one plain struct (`boot`). Copies what later code needs (memory map,
 * command line, loader name, framebuffer, ACPI RSDP, modules) so that the
 * original structure's frames matter only to pmm, which keeps them reserved.
 */
#include "arch/x86_64/x86.h"

boot_info boot;

enum {
	MB2_TAG_END = 0,
	MB2_TAG_CMDLINE = 1,
	MB2_TAG_LOADER_NAME = 2,
	MB2_TAG_MODULE = 3,
	MB2_TAG_MEMMAP = 6,
	MB2_TAG_FRAMEBUFFER = 8,
	MB2_TAG_ACPI_OLD = 14,
	MB2_TAG_ACPI_NEW = 15,
};

struct mb2_tag {
	uint32_t type, size;
};

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

static void parse_memmap(const uint8_t *tag, uint32_t size)
{
	uint32_t entry_size = read_u32(tag + 8);
	if (entry_size < 24)
		return;
	for (uint32_t off = 16; off + entry_size <= size; off += entry_size) {
		if (boot.memmap_count == BOOT_MAX_MEMMAP) {
			boot.memmap_truncated = true;
			return;
		}
		boot_memmap_entry *e = &boot.memmap[boot.memmap_count++];
		e->base = read_u64(tag + off);
		e->length = read_u64(tag + off + 8);
		e->type = read_u32(tag + off + 16);
	}
}

static void parse_acpi(const uint8_t *tag, uint32_t size, int version)
{
	/* A newer table wins over the old one, whichever comes first. */
	if (boot.acpi.version > version)
		return;
	uint32_t len = size - 8;
	if (len > sizeof(boot.acpi.bytes))
		len = sizeof(boot.acpi.bytes);
	if (len < 20)
		return;
	boot.acpi.version = version;
	memcpy(boot.acpi.bytes, tag + 8, len);
	/* RSDP: RsdtAddress at 16 (32-bit); XSDP: XsdtAddress at 24. */
	if (version == 2 && len >= 32)
		boot.acpi.rsdt_or_xsdt_phys = read_u64(boot.acpi.bytes + 24);
	else
		boot.acpi.rsdt_or_xsdt_phys = read_u32(boot.acpi.bytes + 16);
}

bool boot_info_parse(uint64_t info_phys, char *err, size_t errlen)
{
	memset(&boot, 0, sizeof(boot));
	if (info_phys == 0 || (info_phys & 7) != 0) {
		ksnprintf(err, errlen, "multiboot2 info at 0x%llx is misaligned",
			  (unsigned long long)info_phys);
		return false;
	}
	const uint8_t *base = phys_to_virt(info_phys);
	uint32_t total = read_u32(base);
	if (total < 16 || total > (1u << 24)) {
		ksnprintf(err, errlen, "multiboot2 info size %u is implausible", total);
		return false;
	}
	boot.info_phys = info_phys;
	boot.info_size = total;

	uint32_t off = 8;
	while (off + sizeof(struct mb2_tag) <= total) {
		const uint8_t *tag = base + off;
		uint32_t type = read_u32(tag), size = read_u32(tag + 4);
		if (size < 8 || off + size > total) {
			ksnprintf(err, errlen, "multiboot2 tag %u at offset %u has bad size %u",
				  type, off, size);
			return false;
		}
		if (type == MB2_TAG_END)
			break;
		switch (type) {
		case MB2_TAG_CMDLINE:
			copy_string(boot.cmdline, sizeof(boot.cmdline),
				    (const char *)tag + 8, size - 8,
				    &boot.cmdline_truncated);
			break;
		case MB2_TAG_LOADER_NAME:
			copy_string(boot.loader_name, sizeof(boot.loader_name),
				    (const char *)tag + 8, size - 8, NULL);
			break;
		case MB2_TAG_MODULE:
			if (boot.module_count < BOOT_MAX_MODULES) {
				boot_module *m = &boot.modules[boot.module_count++];
				m->start = read_u32(tag + 8);
				m->end = read_u32(tag + 12);
				copy_string(m->name, sizeof(m->name),
					    (const char *)tag + 16, size - 16, NULL);
			}
			break;
		case MB2_TAG_MEMMAP:
			parse_memmap(tag, size);
			break;
		case MB2_TAG_FRAMEBUFFER:
			if (size >= 31) {
				boot.framebuffer.present = true;
				boot.framebuffer.addr = read_u64(tag + 8);
				boot.framebuffer.pitch = read_u32(tag + 16);
				boot.framebuffer.width = read_u32(tag + 20);
				boot.framebuffer.height = read_u32(tag + 24);
				boot.framebuffer.bpp = tag[28];
				boot.framebuffer.type = tag[29];
			}
			/* The RGB channel layout follows the 32-byte common part. */
			if (size >= 38 && boot.framebuffer.type == BOOT_FRAMEBUFFER_RGB) {
				boot.framebuffer.red_pos = tag[32];
				boot.framebuffer.red_size = tag[33];
				boot.framebuffer.green_pos = tag[34];
				boot.framebuffer.green_size = tag[35];
				boot.framebuffer.blue_pos = tag[36];
				boot.framebuffer.blue_size = tag[37];
			}
			break;
		case MB2_TAG_ACPI_OLD:
			parse_acpi(tag, size, 1);
			break;
		case MB2_TAG_ACPI_NEW:
			parse_acpi(tag, size, 2);
			break;
		default:
			break; /* tags we do not use */
		}
		off += (size + 7) & ~7u;
	}
	if (boot.memmap_count == 0) {
		ksnprintf(err, errlen, "the boot loader gave no memory map");
		return false;
	}
	return true;
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
	kprintf("booted by %s\n", boot.loader_name[0] ? boot.loader_name : "an unnamed loader");
	kprintf("command line: \"%s\"%s\n", boot.cmdline,
		boot.cmdline_truncated ? " (truncated)" : "");
	uint64_t usable = 0;
	kprintf("memory map (%zu entries%s):\n", boot.memmap_count,
		boot.memmap_truncated ? ", truncated" : "");
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		kprintf("  %016llx-%016llx %10llu KiB  %s\n",
			(unsigned long long)e->base,
			(unsigned long long)(e->base + e->length - 1),
			(unsigned long long)(e->length >> 10), memmap_type_name(e->type));
		if (e->type == MEMMAP_AVAILABLE)
			usable += e->length;
	}
	kprintf("usable RAM: %llu MiB\n", (unsigned long long)(usable >> 20));
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
