/*
 * tests/x86/qemu.h - what the platform tests know about the machine they
 * run on: QEMU's firmware configuration device (fw_cfg, present on every
 * QEMU x86 machine, absent on real PCs), and what the boot matrix says on
 * the command line about the machine it started (qemu.c).
 */
#ifndef TESTS_X86_QEMU_H
#define TESTS_X86_QEMU_H

#include "arch/x86_64/x86.h"

#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_NB_CPUS 0x0005

/* Reads n bytes of fw_cfg item key (garbage where there is no fw_cfg). */
void fw_cfg_read(uint16_t key, void *buf, size_t n);
/* Whether this is a QEMU machine (fw_cfg's signature reads "QEMU"). */
bool test_on_qemu(void);
/* expect_legacy_free=1: the matrix started q35,pit=off,hpet=off,i8042=off.
 * Without it, a QEMU machine has the PIT, the HPET and the 8042 that
 * pc and q35 come with, and the tests require them. */
extern bool expect_legacy_free;

#endif
