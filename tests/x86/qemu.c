/*
 * tests/x86/qemu.c - QEMU's fw_cfg device for the platform tests, and the
 * expect_legacy_free= option (see qemu.h).
 */
#include "tests/x86/qemu.h"

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511

void fw_cfg_read(uint16_t key, void *buf, size_t n)
{
	outw(FW_CFG_SELECTOR, key);
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = inb(FW_CFG_DATA);
}

bool test_on_qemu(void)
{
	char sig[4];
	fw_cfg_read(FW_CFG_SIGNATURE, sig, sizeof sig);
	return memcmp(sig, "QEMU", 4) == 0;
}

bool expect_legacy_free;
CMDLINE_BOOL(expect_legacy_free, "expect_legacy_free",
	     "the platform tests expect QEMU's q35,pit=off,hpet=off,i8042=off");
