/*
 * arch/hosted/main.c - the hosted build's boot: argv becomes the kernel
 * command line ("./tricolor-test tests=all hz=100"), then the machine comes
 * up and kernel_main() (kernel/main.c, shared with the QEMU build) runs the
 * self-tests, an experiment or the tour, and exits with the same statuses.
 *
 * Start-up order: symbols (so any later report names functions), fault
 * handlers, command line, then the machine (timer rate comes from `hz=`),
 * and interrupts on last, as kmain does.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "arch/hosted/hosted_internal.h"
#include "lib/lib.h"

/* argv[1..] joined with spaces, the way a boot loader passes the line. */
static char *hosted_join_args(int argc, char **argv)
{
	size_t len = 1;

	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *line = malloc(len);
	if (!line)
		panic("hosted: no memory for the command line");

	char *p = line;
	for (int i = 1; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (i > 1)
			*p++ = ' ';
		memcpy(p, argv[i], n);
		p += n;
	}
	*p = '\0';
	return line;
}

int main(int argc, char **argv)
{
	hosted_symbols_init();
	arch_boot_context(); /* learns the main stack's bounds */
	hosted_fault_init();

	/* cmdline_parse() keeps its own copy, so the joined line can go. */
	char *line = hosted_join_args(argc, argv);
	bool cmdline_ok = cmdline_parse(line);
	free(line);
	if (!cmdline_ok)
		arch_exit(EXIT_CMDLINE);

	hosted_machine_init();
	arch_irq_enable();
	kernel_main();
}
