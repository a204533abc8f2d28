/*
 * kernel/main.c - kernel_main, the portable half of start-up that every arch calls
 * once its machine is up: runs the self-tests (`tests=`), the benchmarks
 * (`bench=`), an experiment (`make run EXP=file.c`), one demo (`demo=`),
 * the shell, or else the tour of every demo (demo/demo.c), then
 * leaves through arch_exit with a status the host turns into an exit code.
 */
#include "demo/demo.h"
#include "diag/diag.h"
#include "gc/gc.h"
#include "kernel/kernel.h"
#include "sched/sched.h"

/* `make run EXP=file.c` links one extra file that defines this. */
int experiment(void) __attribute__((weak));

static bool show_help;
CMDLINE_BOOL(show_help, "help", "print the command-line options and exit");

_Noreturn void kernel_main(void)
{
	sched_init();
	gc_init();
	diag_init();
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
	if (demo_selection) {
		int r = demo_run(demo_selection);
		arch_exit(r < 0 ? EXIT_CMDLINE : r > 0 ? EXIT_FAIL : EXIT_PASS);
	}
	if (shell_requested())
		arch_exit(shell_run());
	arch_exit(demo_tour() ? EXIT_FAIL : EXIT_PASS);
}
