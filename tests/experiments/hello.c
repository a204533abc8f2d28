/*
 * hello.c - the smallest experiment: `make run EXP=tests/experiments/hello.c`
 * links this file into the image; the kernel calls experiment() after boot
 * and QEMU exits with its result as the status (here 7).
 */
#include "arch/arch.h"
#include "lib/lib.h"

int experiment(void)
{
	uint64_t t0 = arch_nanotime();
	uint64_t k0 = arch_ticks();
	while (arch_ticks() - k0 < 10)
		arch_wait_for_interrupt();
	kprintf("hello from an experiment: 10 ticks took %llu us\n",
		(unsigned long long)((arch_nanotime() - t0) / 1000));
	return 7;
}
