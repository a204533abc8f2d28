/*
 * acpi_test.c - the ACPI parser (arch/x86_64/acpi.c) against tables built
 * here in a buffer that stands in for physical memory (at the made-up
 * address IMG_BASE; anything outside it cannot be mapped): good XSDT-only
 * and RSDT-only sets, the XSDT preferred over the RSDT, and bad input -
 * wrong checksums, truncated lengths, entries past a table's end,
 * duplicate APIC ids - each reported by name and skipped. Then the tables
 * QEMU gave this boot, which are deterministic: checked exactly.
 */
#include "arch/x86_64/x86.h"
#include "tests/x86/qemu.h"
#include "lib/lib.h"

#define IMG_BASE 0x40000000ULL
#define IMG_SIZE 16384

static uint8_t img[IMG_SIZE] __attribute__((aligned(16)));
static size_t img_used;
static acpi_platform pf; /* 6 KiB: not on the test's stack */

static const void *img_map(void *ctx, uint64_t phys, size_t len)
{
	(void)ctx;
	if (phys < IMG_BASE || phys - IMG_BASE > IMG_SIZE || len > IMG_SIZE - (phys - IMG_BASE))
		return NULL;
	return img + (phys - IMG_BASE);
}

static const acpi_memory img_mem = { .map = img_map, .ctx = NULL };

static uint8_t *at(uint64_t phys) { return img + (phys - IMG_BASE); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static void img_reset(void)
{
	memset(img, 0, sizeof img);
	img_used = 0;
}

/* ---- building tables: one open at a time, at the end of the image ----- */
static uint64_t cur;

static void emit(const void *p, size_t n)
{
	ASSERT(img_used + n <= IMG_SIZE);
	memcpy(img + img_used, p, n);
	img_used += n;
}

static void emit32(uint32_t v) { emit(&v, 4); }

static void tb_begin(const char *sig, uint8_t rev)
{
	img_used = ALIGN_UP(img_used, 16);
	cur = IMG_BASE + img_used;
	uint8_t h[36] = { 0 };
	memcpy(h, sig, 4);
	h[8] = rev;
	memcpy(h + 10, "TRICLR", 6);
	memcpy(h + 16, "TESTTBL ", 8);
	emit(h, sizeof h);
}

/* Sets the table's length and checksum: valid as far as a checksum goes,
 * whatever the length says. */
static void tb_seal(uint64_t phys, uint32_t len)
{
	uint8_t *t = at(phys);
	put32(t + 4, len);
	t[9] = 0;
	t[9] = (uint8_t)-sum(t, len);
}

static uint64_t tb_end(void)
{
	tb_seal(cur, (uint32_t)(IMG_BASE + img_used - cur));
	return cur;
}

static void corrupt(uint64_t phys) { at(phys)[12] ^= 0x5a; } /* an OEM id byte */

/* MADT entries, appended to a byte buffer. */
typedef struct entries {
	uint8_t b[256];
	size_t n;
} entries;

static void ent(entries *e, const uint8_t *bytes, size_t n)
{
	ASSERT(e->n + n <= sizeof e->b);
	memcpy(e->b + e->n, bytes, n);
	e->n += n;
}

static void e_lapic(entries *e, uint8_t uid, uint8_t id, uint32_t flags)
{
	uint8_t b[8] = { 0, 8, uid, id };
	put32(b + 4, flags);
	ent(e, b, sizeof b);
}

static void e_ioapic(entries *e, uint8_t id, uint32_t addr, uint32_t gsi_base)
{
	uint8_t b[12] = { 1, 12, id, 0 };
	put32(b + 4, addr);
	put32(b + 8, gsi_base);
	ent(e, b, sizeof b);
}

static void e_override(entries *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	uint8_t b[10] = { 2, 10, 0, irq };
	put32(b + 4, gsi);
	put16(b + 8, flags);
	ent(e, b, sizeof b);
}

static void e_nmi(entries *e, uint8_t uid, uint16_t flags, uint8_t lint)
{
	uint8_t b[6] = { 4, 6, uid };
	put16(b + 3, flags);
	b[5] = lint;
	ent(e, b, sizeof b);
}

static void e_x2apic_nmi(entries *e, uint32_t uid, uint16_t flags, uint8_t lint)
{
	uint8_t b[12] = { 10, 12 };
	put16(b + 2, flags);
	put32(b + 4, uid);
	b[8] = lint;
	ent(e, b, sizeof b);
}

static void e_lapic_addr(entries *e, uint64_t addr)
{
	uint8_t b[12] = { 5, 12 };
	put64(b + 4, addr);
	ent(e, b, sizeof b);
}

static void e_x2apic(entries *e, uint32_t id, uint32_t flags, uint32_t uid)
{
	uint8_t b[16] = { 9, 16 };
	put32(b + 4, id);
	put32(b + 8, flags);
	put32(b + 12, uid);
	ent(e, b, sizeof b);
}

static uint64_t madt(const entries *e)
{
	tb_begin("APIC", 3);
	emit32(0xfee00000);
	emit32(1); /* PCAT_COMPAT */
	emit(e->b, e->n);
	return tb_end();
}

/* The usual PC: CPUs 0 and 1, an I/O APIC, IRQ0 at GSI2, NMI on LINT1. */
static uint64_t madt_pc(void)
{
	entries e = { .n = 0 };
	e_lapic(&e, 0, 0, 1);
	e_lapic(&e, 1, 1, 1);
	e_ioapic(&e, 2, 0xfec00000, 0);
	e_override(&e, 0, 2, 0);
	e_override(&e, 9, 9, 0xd); /* level, active high */
	e_nmi(&e, 0xff, 0, 1);
	return madt(&e);
}

static uint64_t hpet(uint64_t addr)
{
	tb_begin("HPET", 1);
	emit32(0x8086a201);
	uint8_t gas[12] = { 0, 64, 0, 0 };
	put64(gas + 4, addr);
	emit(gas, sizeof gas);
	uint8_t rest[4] = { 0, 0x80, 0, 0 }; /* number 0, min tick 0x80, protection 0 */
	emit(rest, sizeof rest);
	return tb_end();
}

/* rev >= 3: 244 bytes with IAPC_BOOT_ARCH and X_PM_TMR_BLK; else the
 * 116-byte ACPI 1.0 layout. */
static uint64_t fadt(uint8_t rev, uint32_t pm_port, uint64_t x_pm_port, bool i8042)
{
	tb_begin("FACP", rev);
	static const uint8_t zeros[244 - 36];
	emit(zeros, (rev >= 3 ? 244 : 116) - 36);
	uint8_t *t = at(cur);
	put32(t + 76, pm_port);
	t[91] = 4;
	if (rev >= 3) {
		put16(t + 109, i8042 ? 2 : 0);
		put32(t + 112, 1u << 8); /* TMR_VAL_EXT: 32-bit */
		t[208] = 1;               /* system I/O */
		t[209] = 32;
		put64(t + 212, x_pm_port);
	}
	return tb_end();
}

static uint64_t root(bool xsdt, const uint64_t *tables, size_t n)
{
	tb_begin(xsdt ? "XSDT" : "RSDT", 1);
	for (size_t i = 0; i < n; i++) {
		if (xsdt)
			emit(&tables[i], 8);
		else
			emit32((uint32_t)tables[i]);
	}
	return tb_end();
}

static void rsdp(uint8_t out[36], uint8_t rev, uint32_t rsdt, uint64_t xsdt)
{
	memset(out, 0, 36);
	memcpy(out, "RSD PTR ", 8);
	memcpy(out + 9, "TRICLR", 6);
	out[15] = rev;
	put32(out + 16, rsdt);
	out[8] = (uint8_t)-sum(out, 20);
	if (rev >= 2) {
		put32(out + 20, 36);
		put64(out + 24, xsdt);
		out[32] = (uint8_t)-sum(out, 36);
	}
}

static bool problem_has(const char *a, const char *b)
{
	for (size_t i = 0; i < pf.problem_count; i++)
		if (strstr(pf.problems[i], a) && (!b || strstr(pf.problems[i], b)))
			return true;
	return false;
}

static void check_pc(void)
{
	CHECK(pf.madt);
	CHECK_EQ(pf.lapic_addr, 0xfee00000);
	CHECK(!pf.lapic_addr_overridden);
	CHECK(pf.pcat_compat);
	CHECK_EQ(pf.cpu_count, 2);
	CHECK_EQ(pf.cpus[0].apic_id, 0);
	CHECK_EQ(pf.cpus[1].apic_id, 1);
	CHECK_EQ(pf.cpus[1].uid, 1);
	CHECK(pf.cpus[0].enabled && pf.cpus[1].enabled);
	CHECK_EQ(pf.ioapic_count, 1);
	CHECK_EQ(pf.ioapics[0].id, 2);
	CHECK_EQ(pf.ioapics[0].addr, 0xfec00000);
	CHECK_EQ(pf.ioapics[0].gsi_base, 0);
	CHECK_EQ(pf.override_count, 2);
	CHECK_EQ(pf.overrides[0].irq, 0);
	CHECK_EQ(pf.overrides[0].gsi, 2);
	CHECK_EQ(pf.overrides[1].irq, 9);
	CHECK_EQ(pf.overrides[1].flags, 0xd);
	CHECK_EQ(pf.nmi_count, 1);
	CHECK_EQ(pf.nmis[0].uid, ACPI_NMI_ALL_CPUS); /* 0xff in a type 4 entry */
	CHECK_EQ(pf.nmis[0].lint, 1);
}

/* NMI lines: type 4 (8-bit uid, 0xff for all) and type 10 (x2APIC, 32-bit
 * uid, 0xffffffff for all), a LINT that does not exist refused. */
TEST(acpi, lapic_nmi_entries)
{
	img_reset();
	entries e = { .n = 0 };
	e_lapic(&e, 0, 0, 1);
	e_nmi(&e, 0, 0xf, 0);             /* uid 0, level, active low, LINT0 */
	e_x2apic_nmi(&e, 0x1234, 0x5, 1); /* uid 0x1234, edge, active high */
	e_x2apic_nmi(&e, 0xffffffff, 0, 1);
	e_nmi(&e, 3, 0, 2);               /* LINT2: no such line */
	uint64_t t[1] = { madt(&e) };
	uint64_t rs = root(false, t, 1);
	uint8_t r[36];
	rsdp(r, 0, (uint32_t)rs, 0);
	CHECK(acpi_parse(&img_mem, r, 20, "test", &pf));
	CHECK_EQ(pf.nmi_count, 3);
	CHECK_EQ(pf.nmis[0].uid, 0);
	CHECK_EQ(pf.nmis[0].lint, 0);
	CHECK_EQ(pf.nmis[0].flags, 0xf);
	CHECK_EQ(pf.nmis[1].uid, 0x1234);
	CHECK_EQ(pf.nmis[1].lint, 1);
	CHECK_EQ(pf.nmis[1].flags, 0x5);
	CHECK_EQ(pf.nmis[2].uid, ACPI_NMI_ALL_CPUS);
	CHECK_EQ(pf.problem_count, 1);
	CHECK(strstr(pf.problems[0], "LINT2") != NULL);
	/* The LVT values: delivery mode NMI, unmasked; active low only for
	 * polarity 11; the trigger bits never set (NMI is edge-only). */
	CHECK_EQ(lapic_nmi_lvt(0x0), 0x400);
	CHECK_EQ(lapic_nmi_lvt(0x5), 0x400);
	CHECK_EQ(lapic_nmi_lvt(0xf), 0x400 | 0x2000);
}

/* QEMU's MADT puts NMI on LINT1 of every processor: the boot CPU's LINT1
 * is programmed so (delivery NMI, unmasked). */
TEST(acpi, boot_cpu_nmi_line)
{
	const acpi_platform *b = &acpi_boot_platform;
	bool lint1_for_us = false;
	for (size_t i = 0; i < b->nmi_count; i++)
		if (b->nmis[i].lint == 1)
			lint1_for_us = true;
	if (!test_on_qemu() && !lint1_for_us) {
		test_log("no NMI on LINT1 in this MADT");
		return;
	}
	CHECK(lint1_for_us);
	uint32_t v = lapic_read_lint(1);
	test_log("LVT LINT1 0x%x", v);
	CHECK_EQ(v & 0x10700, 0x400); /* NMI delivery, not masked */
}

TEST(acpi, xsdt_only)
{
	img_reset();
	uint64_t t[3] = { madt_pc(), hpet(0xfed00000), fadt(5, 0x608, 0x608, true) };
	uint64_t x = root(true, t, 3);
	uint8_t r[36];
	rsdp(r, 2, 0, x);
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK_EQ(pf.problem_count, 0);
	CHECK(pf.found && pf.root_is_xsdt);
	CHECK_EQ(pf.root_phys, x);
	CHECK_EQ(pf.rsdp_revision, 2);
	CHECK_EQ(pf.table_count, 3);
	CHECK_STREQ(pf.tables[0], "APIC");
	CHECK_STREQ(pf.tables[1], "HPET");
	CHECK_STREQ(pf.tables[2], "FACP");
	check_pc();
	CHECK(pf.hpet);
	CHECK_EQ(pf.hpet_addr, 0xfed00000);
	CHECK_EQ(pf.hpet_block_id, 0x8086a201);
	CHECK_EQ(pf.hpet_min_tick, 0x80);
	CHECK(pf.fadt);
	CHECK_EQ(pf.pm_timer_port, 0x608);
	CHECK(pf.pm_timer_32bit);
	CHECK_EQ(pf.has_8042, ACPI_YES);
}

TEST(acpi, rsdt_only_acpi1)
{
	img_reset();
	uint64_t t[3] = { madt_pc(), hpet(0xfed00000), fadt(1, 0xb008, 0, false) };
	uint64_t rs = root(false, t, 3);
	uint8_t r[36];
	rsdp(r, 0, (uint32_t)rs, 0);
	CHECK(acpi_parse(&img_mem, r, 20, "test", &pf)); /* an ACPI 1.0 RSDP is 20 bytes */
	CHECK_EQ(pf.problem_count, 0);
	CHECK(pf.found && !pf.root_is_xsdt);
	CHECK_EQ(pf.root_phys, rs);
	CHECK_EQ(pf.table_count, 3);
	check_pc();
	CHECK_EQ(pf.hpet_addr, 0xfed00000);
	CHECK_EQ(pf.pm_timer_port, 0xb008);
	CHECK(!pf.pm_timer_32bit);
	/* FADT revision 1 has no IAPC_BOOT_ARCH: the 8042 is not known. */
	CHECK_EQ(pf.has_8042, ACPI_UNKNOWN);
}

TEST(acpi, xsdt_preferred_over_rsdt)
{
	img_reset();
	uint64_t m = madt_pc(), f = fadt(3, 0x608, 0x608, false);
	uint64_t only_fadt[1] = { f }, both[2] = { m, f };
	uint64_t rs = root(false, only_fadt, 1), x = root(true, both, 2);
	uint8_t r[36];
	rsdp(r, 2, (uint32_t)rs, x);
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK(pf.root_is_xsdt);
	CHECK_EQ(pf.root_phys, x);
	CHECK_EQ(pf.table_count, 2);
	CHECK(pf.madt);
	CHECK_EQ(pf.has_8042, ACPI_NO);
	CHECK_EQ(pf.problem_count, 0);
}

TEST(acpi, bad_xsdt_falls_back_to_rsdt)
{
	img_reset();
	uint64_t t[2] = { madt_pc(), fadt(3, 0x608, 0x608, true) };
	uint64_t rs = root(false, t, 2), x = root(true, t, 2);
	corrupt(x);
	uint8_t r[36];
	rsdp(r, 2, (uint32_t)rs, x);
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK(!pf.root_is_xsdt);
	CHECK_EQ(pf.root_phys, rs);
	check_pc();
	CHECK_EQ(pf.problem_count, 1);
	CHECK(problem_has("XSDT at 0x", "checksum mismatch"));
}

TEST(acpi, bad_rsdp)
{
	img_reset();
	uint64_t t[1] = { madt_pc() };
	uint64_t rs = root(false, t, 1), x = root(true, t, 1);
	uint8_t r[36];
	rsdp(r, 0, (uint32_t)rs, 0);
	r[16] ^= 1; /* the RSDT address, under the checksum */
	CHECK(!acpi_parse(&img_mem, r, 20, "test", &pf));
	CHECK(!pf.found);
	CHECK(!pf.madt);
	CHECK(problem_has("RSDP from test: checksum mismatch", NULL));

	rsdp(r, 0, (uint32_t)rs, 0);
	r[0] = 'X';
	CHECK(!acpi_parse(&img_mem, r, 20, "test", &pf));
	CHECK(problem_has("no 'RSD PTR ' signature", NULL));

	/* A bad extended checksum: the XSDT is not used, the RSDT is. */
	rsdp(r, 2, (uint32_t)rs, x);
	r[33] ^= 1;
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK(!pf.root_is_xsdt);
	CHECK(pf.madt);
	CHECK(problem_has("extended checksum mismatch", "XSDT not used"));
}

TEST(acpi, bad_table_checksum_skipped)
{
	img_reset();
	uint64_t h = hpet(0xfed00000);
	uint64_t t[3] = { madt_pc(), h, fadt(5, 0x608, 0x608, true) };
	corrupt(h);
	uint64_t x = root(true, t, 3);
	uint8_t r[36];
	rsdp(r, 2, 0, x);
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK(!pf.hpet);
	CHECK_EQ(pf.hpet_addr, 0);
	CHECK_EQ(pf.table_count, 2);
	CHECK_STREQ(pf.tables[0], "APIC");
	CHECK_STREQ(pf.tables[1], "FACP");
	check_pc();
	CHECK_EQ(pf.pm_timer_port, 0x608);
	CHECK_EQ(pf.problem_count, 1);
	CHECK(problem_has("HPET at 0x", "checksum mismatch"));
}

TEST(acpi, truncated_lengths)
{
	img_reset();
	uint64_t m = madt_pc(), h = hpet(0xfed00000), f = fadt(5, 0x608, 0x608, true);
	uint64_t beyond = hpet(0xfed00000), past = madt_pc();
	tb_seal(m, 40);         /* shorter than the MADT's fixed part */
	tb_seal(h, 20);         /* shorter than a header */
	tb_seal(f, 60);         /* ends before PM_TMR_BLK */
	put32(at(beyond) + 4, (uint32_t)(IMG_BASE + IMG_SIZE - beyond + 1)); /* past the image */
	/* Cuts the last entry (the 6-byte NMI) in half. */
	tb_seal(past, (uint32_t)(44 + 8 + 8 + 12 + 10 + 10 + 3));
	uint64_t t[5] = { m, h, f, beyond, past };
	uint64_t x = root(true, t, 5);
	uint8_t r[36];
	rsdp(r, 2, 0, x);
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK(problem_has("APIC: length 40 is shorter than its fixed part", NULL));
	CHECK(problem_has("HPET at 0x", "length 20 outside [36, "));
	CHECK(problem_has("FACP: length 60 is too short", NULL));
	CHECK(problem_has("HPET at 0x", "cannot be mapped"));
	CHECK(problem_has("APIC: entry type 4 at offset 92 has length 6 (3 bytes left)", NULL));
	CHECK_EQ(pf.problem_count, 5);
	CHECK(!pf.hpet);
	CHECK(!pf.fadt);
	CHECK_EQ(pf.pm_timer_port, 0);
	/* The cut MADT (the second, the first having been rejected) keeps
	 * what came before the cut. */
	CHECK(pf.madt);
	CHECK_EQ(pf.cpu_count, 2);
	CHECK_EQ(pf.ioapic_count, 1);
	CHECK_EQ(pf.override_count, 2);
	CHECK_EQ(pf.nmi_count, 0);
}

TEST(acpi, duplicate_sparse_and_disabled_apic_ids)
{
	img_reset();
	entries e = { .n = 0 };
	e_lapic(&e, 0, 0, 1);
	e_lapic(&e, 1, 2, 1);
	e_lapic(&e, 2, 7, 1);
	e_lapic(&e, 3, 2, 1);   /* id 2 again */
	e_lapic(&e, 4, 200, 1);
	e_lapic(&e, 5, 9, 0);   /* disabled */
	e_lapic(&e, 6, 10, 2);  /* disabled, online capable */
	uint64_t t[1] = { madt(&e) };
	uint64_t x = root(true, t, 1);
	uint8_t r[36];
	rsdp(r, 2, 0, x);
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK_EQ(pf.cpu_count, 6);
	static const uint32_t ids[6] = { 0, 2, 7, 200, 9, 10 };
	static const uint32_t uids[6] = { 0, 1, 2, 4, 5, 6 };
	for (size_t i = 0; i < 6; i++) {
		CHECK_EQ(pf.cpus[i].apic_id, ids[i]);
		CHECK_EQ(pf.cpus[i].uid, uids[i]);
		CHECK_EQ(pf.cpus[i].enabled, i < 4);
		CHECK(!pf.cpus[i].x2apic);
	}
	CHECK(!pf.cpus[4].online_capable);
	CHECK(pf.cpus[5].online_capable);
	CHECK_EQ(pf.problem_count, 1);
	CHECK(problem_has("APIC id 2 listed twice (processor uids 1 and 3)", "second skipped"));
}

TEST(acpi, x2apic_and_lapic_address_override)
{
	img_reset();
	entries e = { .n = 0 };
	e_lapic(&e, 0, 0, 1);
	e_x2apic(&e, 0x1000, 1, 77);
	e_x2apic(&e, 0, 1, 78); /* the same CPU as the xAPIC entry's id 0 */
	uint8_t short_x2[8] = { 9, 8 }; /* an x2APIC entry 8 bytes long */
	ent(&e, short_x2, sizeof short_x2);
	e_lapic_addr(&e, 0x1fee00000ULL);
	e_x2apic(&e, 0x1001, 0, 79);
	uint64_t t[1] = { madt(&e) };
	uint64_t x = root(true, t, 1);
	uint8_t r[36];
	rsdp(r, 2, 0, x);
	CHECK(acpi_parse(&img_mem, r, sizeof r, "test", &pf));
	CHECK_EQ(pf.lapic_addr, 0x1fee00000ULL);
	CHECK(pf.lapic_addr_overridden);
	CHECK_EQ(pf.cpu_count, 3);
	CHECK_EQ(pf.cpus[1].apic_id, 0x1000);
	CHECK_EQ(pf.cpus[1].uid, 77);
	CHECK(pf.cpus[1].x2apic && pf.cpus[1].enabled);
	CHECK_EQ(pf.cpus[2].apic_id, 0x1001);
	CHECK(!pf.cpus[2].enabled);
	CHECK_EQ(pf.problem_count, 2);
	CHECK(problem_has("APIC id 0 listed twice (processor uids 0 and 78)", NULL));
	CHECK(problem_has("entry type 9 at offset", "shorter than its 16 bytes, skipped"));
}

TEST(acpi, rsdp_scan)
{
	img_reset();
	uint64_t t[1] = { madt_pc() };
	uint64_t rs = root(false, t, 1);
	uint8_t r[36];
	rsdp(r, 0, (uint32_t)rs, 0);
	uint64_t area = ALIGN_UP(IMG_BASE + img_used, 16);
	memcpy(at(area + 0x18), r, 20);  /* not on a 16-byte boundary */
	CHECK_EQ(acpi_scan_rsdp(&img_mem, area, area + 0x100), 0);
	memcpy(at(area + 0x20), r, 20);
	at(area + 0x20)[8] ^= 1;         /* bad checksum */
	memcpy(at(area + 0x60), r, 20);  /* the good one */
	CHECK_EQ(acpi_scan_rsdp(&img_mem, area, area + 0x100), area + 0x60);
	CHECK_EQ(acpi_scan_rsdp(&img_mem, area, area + 0x60), 0); /* hi is exclusive */
	CHECK(acpi_parse(&img_mem, at(area + 0x60), 20, "scan", &pf));
	CHECK_EQ(pf.cpu_count, 2);
}

/* ---- the tables this boot found -------------------------------------- */
/* On QEMU the tables are checked exactly; the boot matrix's legacy-free
 * run says so on the command line (expect_legacy_free=1, tests/x86/qemu.c)
 * and the tables are then checked for what that machine lacks. */

TEST(acpi, boot_tables)
{
	const acpi_platform *b = &acpi_boot_platform;
	CHECK(b->found);
	CHECK(b->madt && b->fadt);
	CHECK_GE(b->cpu_count, 1);
	size_t at_boot = b->cpu_count;
	for (size_t i = 0; i < b->cpu_count; i++)
		if (b->cpus[i].apic_id == lapic_id())
			at_boot = i;
	CHECK_LT(at_boot, b->cpu_count); /* this CPU is listed */
	CHECK(b->cpus[at_boot].enabled);
	if (!test_on_qemu()) {
		test_log("not QEMU: only the generic checks ran");
		return;
	}
	/* QEMU's tables, on pc and q35 alike. */
	uint16_t ncpus = 0;
	fw_cfg_read(FW_CFG_NB_CPUS, &ncpus, sizeof ncpus);
	CHECK_EQ(b->problem_count, 0);
	CHECK_EQ(b->cpu_count, ncpus);
	CHECK_EQ(b->lapic_addr, 0xfee00000);
	CHECK_EQ(b->ioapic_count, 1);
	CHECK_EQ(b->ioapics[0].addr, 0xfec00000);
	CHECK_EQ(b->ioapics[0].gsi_base, 0);
	bool irq0 = false;
	for (size_t i = 0; i < b->override_count; i++)
		if (b->overrides[i].bus == 0 && b->overrides[i].irq == 0)
			irq0 = b->overrides[i].gsi == 2;
	CHECK(irq0);
	CHECK_NE(b->pm_timer_port, 0);
	if (expect_legacy_free) {
		/* -machine q35,pit=off,hpet=off,i8042=off: no HPET table, the
		 * FADT says there is no 8042, and the TSC was calibrated
		 * against the PM timer (there is no PIT or HPET to use). */
		CHECK(!b->hpet);
		CHECK_EQ(b->has_8042, ACPI_NO);
		CHECK_STREQ(timer_tsc_source(), "pmtimer");
		return;
	}
	CHECK(b->hpet);
	CHECK_EQ(b->hpet_addr, 0xfed00000);
}

/* UEFI firmware passes its system table (multiboot2 tags 11, 12); a BIOS
 * does not, and only a BIOS promises an RSDP in its scan areas. */
static bool booted_by_efi(void)
{
	const uint8_t *base = phys_to_virt(boot.info_phys);
	for (uint64_t off = 8; off + 8 <= boot.info_size;) {
		uint32_t type, size;
		memcpy(&type, base + off, 4);
		memcpy(&size, base + off + 4, 4);
		if (type == 0 || size < 8)
			break;
		if (type == 11 || type == 12)
			return true;
		off += ALIGN_UP(size, 8);
	}
	return false;
}

/* acpi_init() without the tag's RSDP, or with a corrupt copy of it: the
 * BIOS scan finds the same tables; the bad copy is named. */
TEST(acpi, boot_falls_back_to_bios_scan)
{
	static acpi_platform bad_tag, no_tag;
	acpi_platform *b = &acpi_boot_platform;
	CHECK(b->found);
	uint64_t root = b->root_phys;
	size_t ncpu = b->cpu_count;
	int version = boot.acpi.version;
	CHECK_NE(version, 0);
	/* acpi_init reads the tags' own copies (boot.rsdp_v1/v2; boot.acpi is
	 * only a summary): every tag present gets a bad checksum, then none is
	 * present. Both runs first, the boot's state back, and only then the
	 * checks: a failed check must not leave the boot's tables changed. */
	boot_rsdp *tags[2] = {&boot.rsdp_v1, &boot.rsdp_v2};
	bool present[2] = {boot.rsdp_v1.present, boot.rsdp_v2.present};
	size_t ntags = (size_t)present[0] + present[1];
	for (int i = 0; i < 2; i++)
		if (present[i])
			tags[i]->bytes[8] ^= 0xff; /* the RSDP checksum */
	acpi_init();
	bad_tag = *b;
	for (int i = 0; i < 2; i++) {
		if (present[i])
			tags[i]->bytes[8] ^= 0xff;
		tags[i]->present = false;
	}
	acpi_init();
	no_tag = *b;
	for (int i = 0; i < 2; i++)
		tags[i]->present = present[i];
	acpi_init();
	CHECK(b->found);
	CHECK_EQ(b->root_phys, root);
	CHECK_EQ(b->problem_count, 0);

	const char *tag = version == 2 ? "RSDP from multiboot2 tag 15: checksum mismatch"
				       : "RSDP from multiboot2 tag 14: checksum mismatch";
	bool named = false;
	for (size_t i = 0; i < bad_tag.problem_count; i++)
		named |= strstr(bad_tag.problems[i], tag) != NULL;
	CHECK(named);
	if (booted_by_efi()) {
		test_log("UEFI: the BIOS scan %s", no_tag.found ? "found tables" : "found none");
		CHECK(bad_tag.found || strstr(bad_tag.problems[0], "no RSDP: the multiboot2 tags' are bad"));
		return;
	}
	CHECK(bad_tag.found && no_tag.found);
	test_log("without the tag: the RSDP from %s", no_tag.rsdp_source);
	CHECK(strstr(no_tag.rsdp_source, " scan") != NULL);
	CHECK_EQ(bad_tag.root_phys, root);
	CHECK_EQ(no_tag.root_phys, root);
	CHECK_EQ(no_tag.cpu_count, ncpu);
	CHECK_EQ(bad_tag.problem_count, ntags);
	CHECK_EQ(no_tag.problem_count, 0);
}
