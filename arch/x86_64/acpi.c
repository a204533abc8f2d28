/*
 * acpi.c - the platform from the firmware's ACPI tables: finds the RSDP
 * (the multiboot2 tag's copy, else the BIOS scan of the EBDA's first KiB
 * and 0xE0000-0xFFFFF), walks the XSDT (64-bit entries; preferred) or the
 * RSDT (32-bit), and parses the MADT (CPUs, I/O APICs, interrupt source
 * overrides, LAPIC NMIs, the LAPIC address), the HPET table and the FADT
 * (PM timer port, the IAPC_BOOT_ARCH 8042 flag) into one acpi_platform.
 * It only reads: nothing here routes an interrupt or starts a timer.
 *
 * Nothing from the firmware is trusted before it is checked: a table is
 * read through a 36-byte header view first, its length checked (at least
 * the header and the fields used, at most ACPI_TABLE_MAX), and only then
 * is the whole table mapped and its checksum verified. A bad table is
 * recorded as a problem naming it (acpi_platform.problems) and skipped;
 * a MADT entry that runs past its table ends the walk of that table, and
 * a CPU whose APIC id is already listed is reported and dropped.
 *
 * Memory goes through an acpi_memory accessor, so that the same parser
 * runs on the firmware's tables at boot (the direct map, or an uncached
 * mapping for a table beyond it) and on tables the tests build in memory
 * (tests/x86/acpi_test.c).
 */
#include "arch/x86_64/x86.h"

acpi_platform acpi_boot_platform;

#define RSDP_V1_LEN 20
#define RSDP_V2_LEN 36
#define SDT_HEADER_LEN 36
#define MADT_ENTRIES 44
#define HPET_MIN_LEN 56
#define FADT_PM_TMR_BLK 76
#define FADT_BOOT_ARCH 109
#define FADT_X_PM_TMR_BLK 208 /* a generic address structure, 12 bytes */
#define FADT_FLAGS 112
#define FADT_TMR_VAL_EXT (1u << 8)
#define FADT_BOOT_ARCH_8042 (1u << 1)
#define FADT_REV_BOOT_ARCH 3 /* IAPC_BOOT_ARCH is defined from ACPI 2.0 */
#define GAS_SYSTEM_MEMORY 0
#define GAS_SYSTEM_IO 1
#define MADT_PCAT_COMPAT (1u << 0)
#define MADT_CPU_ENABLED (1u << 0)
#define MADT_CPU_ONLINE_CAPABLE (1u << 1)
#define BIOS_EBDA_SEGMENT_PTR 0x40e
#define BIOS_AREA_LO 0xe0000
#define BIOS_AREA_HI 0x100000
#define EBDA_LO 0x80000 /* an EBDA pointer outside [EBDA_LO, EBDA_HI) is junk */
#define EBDA_HI 0xa0000
#define EBDA_SCAN_LEN 1024

enum {
	MADT_LAPIC = 0,
	MADT_IOAPIC = 1,
	MADT_OVERRIDE = 2,
	MADT_LAPIC_NMI = 4,
	MADT_LAPIC_ADDR = 5,
	MADT_X2APIC = 9,
	MADT_X2APIC_NMI = 10,
};

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum;
}

static void problem(acpi_platform *pf, const char *fmt, ...)
{
	if (pf->problem_count == ACPI_MAX_PROBLEMS) {
		pf->problems_dropped++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(pf->problems[pf->problem_count++], ACPI_PROBLEM_LEN, fmt, ap);
	va_end(ap);
}

static void sig_copy(char out[5], const uint8_t *p)
{
	for (int i = 0; i < 4; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	out[4] = '\0';
}

/* The table at phys, whole and checked, or NULL with the problem recorded.
 * `what` names it in messages until its own signature is known. */
static const uint8_t *load_table(const acpi_memory *mem, uint64_t phys, const char *what,
				 acpi_platform *pf)
{
	const uint8_t *h = mem->map(mem->ctx, phys, SDT_HEADER_LEN);
	if (!h) {
		problem(pf, "%s at 0x%llx: header cannot be mapped, skipped", what,
			(unsigned long long)phys);
		return NULL;
	}
	char sig[5];
	sig_copy(sig, h);
	uint32_t len = rd32(h + 4);
	if (len < SDT_HEADER_LEN || len > ACPI_TABLE_MAX) {
		problem(pf, "%s at 0x%llx: length %u outside [%u, %u], skipped", sig,
			(unsigned long long)phys, len, SDT_HEADER_LEN, ACPI_TABLE_MAX);
		return NULL;
	}
	const uint8_t *t = mem->map(mem->ctx, phys, len);
	if (!t) {
		problem(pf, "%s at 0x%llx: %u bytes cannot be mapped, skipped", sig,
			(unsigned long long)phys, len);
		return NULL;
	}
	uint8_t sum = checksum(t, len);
	if (sum != 0) {
		problem(pf, "%s at 0x%llx: checksum mismatch (bytes sum to 0x%02x), skipped", sig,
			(unsigned long long)phys, sum);
		return NULL;
	}
	return t;
}

static bool cpu_listed(const acpi_platform *pf, uint32_t apic_id, size_t *at)
{
	for (size_t i = 0; i < pf->cpu_count; i++)
		if (pf->cpus[i].apic_id == apic_id) {
			*at = i;
			return true;
		}
	return false;
}

static void add_cpu(acpi_platform *pf, uint32_t apic_id, uint32_t uid, uint32_t flags,
		    bool x2apic)
{
	size_t at;
	if (cpu_listed(pf, apic_id, &at)) {
		problem(pf, "APIC: APIC id %u listed twice (processor uids %u and %u), "
			"the second skipped", apic_id, pf->cpus[at].uid, uid);
		return;
	}
	if (pf->cpu_count == ACPI_MAX_CPUS) {
		pf->cpus_dropped++;
		return;
	}
	pf->cpus[pf->cpu_count++] = (acpi_cpu){
		.apic_id = apic_id,
		.uid = uid,
		.enabled = flags & MADT_CPU_ENABLED,
		.online_capable = flags & MADT_CPU_ONLINE_CAPABLE,
		.x2apic = x2apic,
	};
}

/* An entry's minimum length by type; 0 for the types not parsed. */
static uint8_t madt_entry_min(uint8_t type)
{
	switch (type) {
	case MADT_LAPIC: return 8;
	case MADT_IOAPIC: return 12;
	case MADT_OVERRIDE: return 10;
	case MADT_LAPIC_NMI: return 6;
	case MADT_LAPIC_ADDR: return 12;
	case MADT_X2APIC: return 16;
	case MADT_X2APIC_NMI: return 12;
	default: return 0;
	}
}

static void add_nmi(acpi_platform *pf, uint32_t uid, uint16_t flags, uint8_t lint)
{
	if (lint > 1) {
		problem(pf, "APIC: NMI on LINT%u (only LINT0 and LINT1 exist), skipped", lint);
		return;
	}
	if (pf->nmi_count < ACPI_MAX_NMIS)
		pf->nmis[pf->nmi_count++] = (acpi_lapic_nmi){ .uid = uid, .flags = flags,
							      .lint = lint };
	else
		problem(pf, "APIC: more than %d LAPIC NMI entries, the rest not listed",
			ACPI_MAX_NMIS);
}

static void parse_madt(const uint8_t *t, uint32_t len, acpi_platform *pf)
{
	if (len < MADT_ENTRIES) {
		problem(pf, "APIC: length %u is shorter than its fixed part (%u), skipped", len,
			MADT_ENTRIES);
		return;
	}
	pf->madt = true;
	pf->lapic_addr = rd32(t + 36);
	pf->pcat_compat = rd32(t + 40) & MADT_PCAT_COMPAT;
	for (uint32_t off = MADT_ENTRIES; off < len;) {
		if (len - off < 2) {
			problem(pf, "APIC: entry at offset %u runs past the table's end", off);
			return;
		}
		const uint8_t *e = t + off;
		uint8_t type = e[0], elen = e[1];
		if (elen < 2 || elen > len - off) {
			problem(pf, "APIC: entry type %u at offset %u has length %u (%u bytes left); "
				"the rest of the table skipped", type, off, elen, len - off);
			return;
		}
		off += elen;
		if (elen < madt_entry_min(type)) {
			problem(pf, "APIC: entry type %u at offset %u has length %u, shorter than "
				"its %u bytes, skipped", type, off - elen, elen, madt_entry_min(type));
			continue;
		}
		switch (type) {
		case MADT_LAPIC:
			add_cpu(pf, e[3], e[2], rd32(e + 4), false);
			break;
		case MADT_X2APIC:
			add_cpu(pf, rd32(e + 4), rd32(e + 12), rd32(e + 8), true);
			break;
		case MADT_IOAPIC:
			if (pf->ioapic_count < ACPI_MAX_IOAPICS)
				pf->ioapics[pf->ioapic_count++] = (acpi_ioapic){
					.id = e[2], .addr = rd32(e + 4), .gsi_base = rd32(e + 8) };
			else
				problem(pf, "APIC: more than %d I/O APICs, the rest not listed",
					ACPI_MAX_IOAPICS);
			break;
		case MADT_OVERRIDE:
			if (pf->override_count < ACPI_MAX_OVERRIDES)
				pf->overrides[pf->override_count++] = (acpi_override){
					.bus = e[2], .irq = e[3], .gsi = rd32(e + 4),
					.flags = rd16(e + 8) };
			else
				problem(pf, "APIC: more than %d interrupt source overrides, the "
					"rest not listed", ACPI_MAX_OVERRIDES);
			break;
		case MADT_LAPIC_NMI: /* uid 0xff: every processor */
			add_nmi(pf, e[2] == 0xff ? ACPI_NMI_ALL_CPUS : e[2], rd16(e + 3), e[5]);
			break;
		case MADT_X2APIC_NMI: /* uid 0xffffffff: every processor */
			add_nmi(pf, rd32(e + 4), rd16(e + 2), e[8]);
			break;
		case MADT_LAPIC_ADDR:
			pf->lapic_addr = rd64(e + 4);
			pf->lapic_addr_overridden = true;
			break;
		default:
			break; /* types not used here */
		}
	}
}

static void parse_hpet(const uint8_t *t, uint32_t len, acpi_platform *pf)
{
	if (len < HPET_MIN_LEN) {
		problem(pf, "HPET: length %u is shorter than the table (%u), skipped", len,
			HPET_MIN_LEN);
		return;
	}
	if (t[40] != GAS_SYSTEM_MEMORY) {
		problem(pf, "HPET: registers in address space %u, not memory, skipped", t[40]);
		return;
	}
	pf->hpet = true;
	pf->hpet_block_id = rd32(t + 36);
	pf->hpet_addr = rd64(t + 44);
	pf->hpet_number = t[52];
	pf->hpet_min_tick = rd16(t + 53);
}

static void parse_fadt(const uint8_t *t, uint32_t len, acpi_platform *pf)
{
	if (len < FADT_PM_TMR_BLK + 4) {
		problem(pf, "FACP: length %u is too short for the PM timer field, skipped", len);
		return;
	}
	pf->fadt = true;
	pf->fadt_revision = t[8];
	pf->pm_timer_port = rd32(t + FADT_PM_TMR_BLK);
	/* X_PM_TMR_BLK (ACPI 2.0+) wins when it gives an I/O port. */
	if (len >= FADT_X_PM_TMR_BLK + 12 && t[FADT_X_PM_TMR_BLK] == GAS_SYSTEM_IO) {
		uint64_t x = rd64(t + FADT_X_PM_TMR_BLK + 4);
		if (x != 0 && x <= 0xffff)
			pf->pm_timer_port = (uint32_t)x;
	}
	if (pf->pm_timer_port > 0xffff) {
		problem(pf, "FACP: PM timer port 0x%x is not an I/O port, ignored",
			pf->pm_timer_port);
		pf->pm_timer_port = 0;
	}
	if (len >= FADT_FLAGS + 4)
		pf->pm_timer_32bit = rd32(t + FADT_FLAGS) & FADT_TMR_VAL_EXT;
	pf->has_8042 = ACPI_UNKNOWN;
	if (t[8] >= FADT_REV_BOOT_ARCH && len >= FADT_BOOT_ARCH + 2)
		pf->has_8042 = rd16(t + FADT_BOOT_ARCH) & FADT_BOOT_ARCH_8042 ? ACPI_YES : ACPI_NO;
}

static void parse_table(const acpi_memory *mem, uint64_t phys, acpi_platform *pf)
{
	const uint8_t *t = load_table(mem, phys, "table", pf);
	if (!t)
		return;
	uint32_t len = rd32(t + 4);
	char sig[5];
	sig_copy(sig, t);
	if (pf->table_count < ACPI_MAX_TABLES)
		memcpy(pf->tables[pf->table_count++], sig, 5);
	if (memcmp(sig, "APIC", 4) == 0) {
		if (pf->madt)
			problem(pf, "APIC: a second MADT at 0x%llx, ignored", (unsigned long long)phys);
		else
			parse_madt(t, len, pf);
	} else if (memcmp(sig, "HPET", 4) == 0) {
		if (!pf->hpet)
			parse_hpet(t, len, pf);
	} else if (memcmp(sig, "FACP", 4) == 0) {
		if (!pf->fadt)
			parse_fadt(t, len, pf);
	}
}

/* The root table (XSDT when `xsdt`, else RSDT); false if it is bad. */
static bool walk_root(const acpi_memory *mem, uint64_t phys, bool xsdt, acpi_platform *pf)
{
	const char *name = xsdt ? "XSDT" : "RSDT";
	const uint8_t *t = load_table(mem, phys, name, pf);
	if (!t)
		return false;
	if (memcmp(t, name, 4) != 0) {
		char sig[5];
		sig_copy(sig, t);
		problem(pf, "%s at 0x%llx: signature is '%s', skipped", name,
			(unsigned long long)phys, sig);
		return false;
	}
	uint32_t len = rd32(t + 4), esize = xsdt ? 8 : 4;
	if ((len - SDT_HEADER_LEN) % esize != 0)
		problem(pf, "%s: length %u leaves a partial entry, ignored", name, len);
	/* The root may sit in the same window the tables below reuse: copy
	 * its entries out first (ACPI_MAX_ROOT_ENTRIES of them at most). */
	uint64_t entries[ACPI_MAX_ROOT_ENTRIES];
	size_t n = (len - SDT_HEADER_LEN) / esize;
	if (n > ACPI_MAX_ROOT_ENTRIES) {
		problem(pf, "%s: %zu entries, only the first %d read", name, n,
			ACPI_MAX_ROOT_ENTRIES);
		n = ACPI_MAX_ROOT_ENTRIES;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = t + SDT_HEADER_LEN + i * esize;
		entries[i] = xsdt ? rd64(p) : rd32(p);
	}
	pf->root_is_xsdt = xsdt;
	pf->root_phys = phys;
	for (size_t i = 0; i < n; i++)
		if (entries[i] != 0)
			parse_table(mem, entries[i], pf);
	return true;
}

bool acpi_parse(const acpi_memory *mem, const uint8_t *rsdp, size_t rsdp_len,
		const char *source, acpi_platform *pf)
{
	memset(pf, 0, sizeof(*pf));
	pf->has_8042 = ACPI_UNKNOWN;
	pf->rsdp_source = source;
	if (rsdp_len < RSDP_V1_LEN || memcmp(rsdp, "RSD PTR ", 8) != 0) {
		problem(pf, "RSDP from %s: no 'RSD PTR ' signature", source);
		return false;
	}
	uint8_t sum = checksum(rsdp, RSDP_V1_LEN);
	if (sum != 0) {
		problem(pf, "RSDP from %s: checksum mismatch (bytes sum to 0x%02x)", source, sum);
		return false;
	}
	pf->rsdp_revision = rsdp[15];
	uint64_t rsdt = rd32(rsdp + 16), xsdt = 0;
	if (rsdp[15] >= 2) {
		uint32_t xlen = rsdp_len >= RSDP_V2_LEN ? rd32(rsdp + 20) : 0;
		if (xlen < RSDP_V2_LEN || xlen > rsdp_len)
			problem(pf, "RSDP from %s: ACPI 2.0 length %u (have %zu bytes), XSDT not used",
				source, xlen, rsdp_len);
		else if ((sum = checksum(rsdp, xlen)) != 0)
			problem(pf, "RSDP from %s: extended checksum mismatch (bytes sum to 0x%02x), "
				"XSDT not used", source, sum);
		else
			xsdt = rd64(rsdp + 24);
	}
	bool ok = false;
	if (xsdt)
		ok = walk_root(mem, xsdt, true, pf);
	if (!ok && rsdt)
		ok = walk_root(mem, rsdt, false, pf);
	if (!ok && !xsdt && !rsdt)
		problem(pf, "RSDP from %s: neither an XSDT nor an RSDT address", source);
	pf->found = ok;
	return ok;
}

uint64_t acpi_scan_rsdp(const acpi_memory *mem, uint64_t lo, uint64_t hi)
{
	for (uint64_t p = ALIGN_UP(lo, 16); p + RSDP_V1_LEN <= hi; p += 16) {
		const uint8_t *v = mem->map(mem->ctx, p, RSDP_V1_LEN);
		if (v && memcmp(v, "RSD PTR ", 8) == 0 && checksum(v, RSDP_V1_LEN) == 0)
			return p;
	}
	return 0;
}

/* ---- at boot ----------------------------------------------------------- */

/* The direct map when it covers the range, else an uncached mapping (the
 * tables in ACPI memory above the highest RAM; the few such mappings are
 * never taken back). */
static const void *boot_map(void *ctx, uint64_t phys, size_t len)
{
	(void)ctx;
	if (len == 0 || phys + len < phys)
		return NULL;
	void *v = phys_to_virt(phys);
	if (phys + len <= HHDM_SIZE && vmm_is_readable((uintptr_t)v, len))
		return v;
	return vmm_map_mmio(phys, len);
}

static const acpi_memory boot_memory = { .map = boot_map, .ctx = NULL };

/* The BIOS's RSDP: in the EBDA's first KiB, else in 0xE0000-0xFFFFF. */
static uint64_t bios_scan(const char **source)
{
	uint64_t at = 0;
	const uint8_t *ptr = boot_map(NULL, BIOS_EBDA_SEGMENT_PTR, 2);
	uint64_t ebda = ptr ? (uint64_t)rd16(ptr) << 4 : 0;
	if (ebda >= EBDA_LO && ebda < EBDA_HI)
		at = acpi_scan_rsdp(&boot_memory, ebda, ebda + EBDA_SCAN_LEN);
	*source = "the EBDA scan";
	if (!at) {
		at = acpi_scan_rsdp(&boot_memory, BIOS_AREA_LO, BIOS_AREA_HI);
		*source = "the BIOS area scan";
	}
	return at;
}

void acpi_init(void)
{
	acpi_platform *pf = &acpi_boot_platform;
	/* Tag 15 (the XSDP) first, then tag 14 (the ACPI 1.0 RSDP), then the
	 * BIOS scan. Why each tag's copy was not used is kept across the next
	 * attempt's parse (which starts from a clean platform record). */
	char tag_problem[2][ACPI_PROBLEM_LEN] = { "", "" };
	const struct { const boot_rsdp *r; const char *name; } tags[2] = {
		{ &boot.rsdp_v2, "multiboot2 tag 15" },
		{ &boot.rsdp_v1, "multiboot2 tag 14" },
	};
	bool any_tag = false;
	for (int i = 0; i < 2; i++) {
		if (!tags[i].r->present)
			continue;
		any_tag = true;
		if (acpi_parse(&boot_memory, tags[i].r->bytes, tags[i].r->size, tags[i].name, pf)) {
			for (int j = 0; j < i; j++)
				if (tag_problem[j][0])
					problem(pf, "%s", tag_problem[j]);
			return;
		}
		ksnprintf(tag_problem[i], sizeof tag_problem[i], "%s",
			  pf->problem_count ? pf->problems[0] : "the tag's RSDP led nowhere");
	}
	const char *source;
	uint64_t at = bios_scan(&source);
	const uint8_t *r = at ? boot_map(NULL, at, RSDP_V2_LEN) : NULL;
	if (!r || !acpi_parse(&boot_memory, r, RSDP_V2_LEN, source, pf)) {
		if (!r) {
			memset(pf, 0, sizeof(*pf));
			pf->has_8042 = ACPI_UNKNOWN;
			problem(pf, "no RSDP: %s, and none in the EBDA or 0xe0000-0xfffff",
				any_tag ? "the multiboot2 tags' are bad" : "no multiboot2 ACPI tag");
		}
	}
	for (int i = 0; i < 2; i++)
		if (tag_problem[i][0])
			problem(pf, "%s", tag_problem[i]);
}

static const char *tristate(int v)
{
	return v == ACPI_YES ? "yes" : v == ACPI_NO ? "no" : "unknown";
}

void acpi_print(const acpi_platform *pf)
{
	if (pf->found) {
		kprintf("platform: ACPI via %s (RSDP revision %u), %s at 0x%llx:",
			pf->rsdp_source, pf->rsdp_revision, pf->root_is_xsdt ? "XSDT" : "RSDT",
			(unsigned long long)pf->root_phys);
		for (size_t i = 0; i < pf->table_count; i++)
			kprintf(" %s", pf->tables[i]);
		kprintf("\n");
	} else {
		kprintf("platform: no usable ACPI tables\n");
	}
	size_t enabled = 0;
	for (size_t i = 0; i < pf->cpu_count; i++)
		enabled += pf->cpus[i].enabled;
	kprintf("platform: %zu CPU%s (%zu enabled%s), APIC ids", pf->cpu_count,
		pf->cpu_count == 1 ? "" : "s", enabled,
		pf->cpus_dropped ? ", more not listed" : "");
	for (size_t i = 0; i < pf->cpu_count; i++)
		kprintf(" %u%s%s", pf->cpus[i].apic_id, pf->cpus[i].x2apic ? "x" : "",
			pf->cpus[i].enabled ? "" : pf->cpus[i].online_capable ? "(off)" : "(disabled)");
	if (pf->madt)
		kprintf("; local APIC at 0x%llx%s", (unsigned long long)pf->lapic_addr,
			pf->lapic_addr_overridden ? " (override)" : "");
	kprintf("\n");
	kprintf("platform: %zu I/O APIC%s", pf->ioapic_count, pf->ioapic_count == 1 ? "" : "s");
	for (size_t i = 0; i < pf->ioapic_count; i++)
		kprintf(" [id %u at 0x%x, GSI base %u]", pf->ioapics[i].id, pf->ioapics[i].addr,
			pf->ioapics[i].gsi_base);
	kprintf(", overrides");
	for (size_t i = 0; i < pf->override_count; i++)
		kprintf(" IRQ%u->GSI%u", pf->overrides[i].irq, pf->overrides[i].gsi);
	if (pf->override_count == 0)
		kprintf(" none");
	kprintf(", %zu LAPIC NMI%s\n", pf->nmi_count, pf->nmi_count == 1 ? "" : "s");
	kprintf("platform: timers: ");
	if (pf->hpet)
		kprintf("HPET at 0x%llx, ", (unsigned long long)pf->hpet_addr);
	else
		kprintf("no HPET, ");
	if (pf->pm_timer_port)
		kprintf("ACPI PM timer at port 0x%x (%u-bit), ", pf->pm_timer_port,
			pf->pm_timer_32bit ? 32 : 24);
	else
		kprintf("no ACPI PM timer, ");
	/* The PIT is not in the tables: timer_print_calibration says whether
	 * it counts. */
	kprintf("TSC, LAPIC timer; 8042 per FADT: %s\n", tristate(pf->has_8042));
	for (size_t i = 0; i < pf->problem_count; i++)
		kprintf("platform: problem: %s\n", pf->problems[i]);
	if (pf->problems_dropped)
		kprintf("platform: %zu more problems not listed\n", pf->problems_dropped);
}

void arch_print_platform(void)
{
	acpi_print(&acpi_boot_platform);
	smp_print();
	timer_print_calibration();
}
