/*
 * main.c - kernel_main, the portable half of start-up that every arch calls
 * once its machine is up: runs the self-tests (`tests=`), the benchmarks
 * (`bench=`), an experiment (`make run EXP=file.c`), or a short tour of
 * what the kernel can do, then
 * leaves through arch_exit with a status the host turns into an exit code.
 */
#include "gc/gc.h"
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "tests/bench.h"
#include "tests/test.h"

/* `make run EXP=file.c` links one extra file that defines this. */
int experiment(void) __attribute__((weak));

static void tour_fault(void *arg)
{
	volatile int *p = arg;
	*p = 1; /* unmapped: caught by the arch_try below */
}

static void tour(void)
{
	kprintf("\n== tour ==\n");
	uint64_t t0 = arch_nanotime(), k0 = arch_ticks();
	while (arch_nanotime() - t0 < 200 * 1000 * 1000ULL)
		arch_wait_for_interrupt();
	uint64_t dt = arch_nanotime() - t0, dk = arch_ticks() - k0;
	kprintf("timer: %llu ticks in %llu ms (hz=%u)\n", (unsigned long long)dk,
		(unsigned long long)(dt / 1000000), arch_tick_hz());
	kprintf("page source: %zu free pages (%zu MiB)\n", arch_free_pages(),
		arch_free_pages() >> 8);
	arch_fault fault;
	if (!arch_try(tour_fault, (void *)0x10, &fault))
		kprintf("caught a %s at 0x%llx writing address 0x%llx; still running\n",
			arch_fault_name(fault.vector), (unsigned long long)fault.ip,
			(unsigned long long)fault.addr);
	kprintf("run `make test` for the self-tests, `make run CMDLINE=help=1` for options\n");
}

static bool show_help;
CMDLINE_BOOL(show_help, "help", "print the command-line options and exit");

_Noreturn void kernel_main(void)
{
	sched_init();
	gc_init();
	if (show_help) {
		cmdline_print_help();
		arch_exit(EXIT_PASS);
	}
	if (tests_selection) {
		int failed = tests_run(tests_selection);
		/* A selection that matches nothing is a command-line error. */
		arch_exit(failed < 0 ? EXIT_CMDLINE : failed > 0 ? EXIT_FAIL : EXIT_PASS);
	}
	if (bench_selection) {
		int ran = bench_run(bench_selection);
		arch_exit(ran < 0 ? EXIT_CMDLINE : EXIT_PASS);
	}
	if (experiment) {
		kprintf("running experiment\n");
		int result = experiment();
		kprintf("experiment returned %d\n", result);
		arch_exit(result);
	}
	if (shell_requested())
		arch_exit(shell_run());
	tour();
	arch_exit(EXIT_PASS);
}
