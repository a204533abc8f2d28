/*
 * arch/hosted/hosted.c - the "CPU" of the hosted build: console on stdout,
 * interrupts, the timer, clocks and exit, over Linux user space. See
 * main.c for the start-up order.
 *
 * The timer interrupt is SIGALRM from a POSIX timer at the `hz=` rate.
 * "Interrupts enabled" is a flag in memory, not the signal mask (a
 * sigprocmask system call on every spinlock would cost more than the work
 * it guards): the signal stays unblocked, and a tick that arrives while the
 * flag is off only marks itself pending; arch_irq_enable() delivers it, as
 * a latched interrupt line would be. Linux blocks SIGALRM while its
 * handler runs; the handler unblocks it once the flag is off, because it
 * may switch to another task (preemption) and that task must not inherit a
 * blocked timer. A tick then finds the flag off and just becomes pending,
 * so at most two timer frames are ever on a stack. (With SA_NODEFER
 * instead, a host that kept descheduling the process on its way back to
 * user space delivered one SIGALRM after another before a single handler
 * instruction ran, frame on frame, until the task's stack ran out: a
 * SIGSEGV "at hosted_tick+0x0" under load.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "arch/hosted/hosted_internal.h"
#include "lib/lib.h"

/* How long the cycle counter is measured against CLOCK_MONOTONIC. */
#define HOSTED_CALIBRATION_NS (50 * 1000 * 1000)

static int64_t hosted_tick_hz = 1000;
CMDLINE_INT(hosted_tick_hz, "hz", 10, 10000, "timer interrupts per second");

/* The interrupt flag, and a tick that arrived while it was off. */
static volatile sig_atomic_t hosted_irq_on;
static volatile sig_atomic_t hosted_tick_pending;
static void (*volatile hosted_tick_handler)(void);
static volatile uint64_t hosted_tick_count;

static uint64_t hosted_boot_ns; /* CLOCK_MONOTONIC at calibration */
static uint64_t hosted_cycles_hz; /* calibrated cycle counter rate */

/* The base library's machine hooks, before main() (and before libFuzzer's
 * main in the fuzz build): the first report may come from anywhere. */
__attribute__((constructor)) static void hosted_register_machine(void)
{
	lib_set_machine(&arch_machine);
}

void arch_console_write(const char *buf, size_t len)
{
	/* write(2) is async-signal-safe, so kprintf works in handlers. */
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stdout is gone; nothing better to do */
		buf += n;
		len -= (size_t)n;
	}
}

int arch_console_getc(void)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	unsigned char c;

	if (poll(&pfd, 1, 0) != 1 || read(STDIN_FILENO, &c, 1) != 1)
		return -1;
	return c;
}

/* Runs the tick handler as the timer interrupt would: flag off meanwhile.
 * SIGALRM is unblocked first: in the signal handler Linux blocked it (see
 * above), in arch_wait_for_interrupt we did; either way the handler may
 * switch to another task, which must get timer signals. */
static void hosted_deliver_tick(void)
{
	void (*handler)(void) = hosted_tick_handler;
	sigset_t alarm;

	hosted_irq_on = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alarm, NULL);
	if (handler)
		handler();
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hosted_irq_on = 1;
}

void arch_irq_disable(void)
{
	hosted_irq_on = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void arch_irq_enable(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hosted_irq_on = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* A tick that came while the flag was off; one arriving after this
	 * check finds the flag on and runs itself. */
	if (hosted_tick_pending) {
		hosted_tick_pending = 0;
		hosted_deliver_tick();
	}
}

bool arch_irq_enabled(void)
{
	return hosted_irq_on;
}

arch_irqflags_t arch_irq_save(void)
{
	arch_irqflags_t flags = hosted_irq_on;

	arch_irq_disable();
	return flags;
}

void arch_irq_restore(arch_irqflags_t flags)
{
	if (flags)
		arch_irq_enable();
	else
		arch_irq_disable();
}

void arch_cpu_relax(void)
{
	__builtin_ia32_pause();
}

void arch_wait_for_interrupt(void)
{
	sigset_t alarm, old;

	/*
	 * Like "sti; hlt": interrupts end up on (a pending tick runs now, and
	 * may switch tasks), and a tick between the check and the sleep
	 * cannot be lost, because SIGALRM is blocked across the check and
	 * sigsuspend unblocks it atomically.
	 */
	arch_irq_enable();
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alarm, &old);
	sigdelset(&old, SIGALRM);
	if (!hosted_tick_pending)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	arch_irq_enable(); /* runs a tick that went pending meanwhile */
}

static uint64_t hosted_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t arch_cycles(void)
{
	return __builtin_ia32_rdtsc();
}

uint64_t arch_cycles_per_sec(void)
{
	return hosted_cycles_hz;
}

uint64_t arch_nanotime(void)
{
	return hosted_monotonic_ns() - hosted_boot_ns;
}

uint64_t arch_ticks(void)
{
	return hosted_tick_count;
}

uint32_t arch_tick_hz(void)
{
	return (uint32_t)hosted_tick_hz;
}

arch_tick_fn arch_set_tick_handler(arch_tick_fn handler)
{
	arch_irqflags_t flags = arch_irq_save();
	arch_tick_fn old = hosted_tick_handler;
	hosted_tick_handler = handler;
	arch_irq_restore(flags);
	return old;
}

/* The timer interrupt. It may switch tasks (preemption) and come back
 * much later, on this same stack, to return from the signal. */
static void hosted_tick(int sig)
{
	int saved_errno = errno;

	(void)sig;
	hosted_tick_count++;
	if (hosted_irq_on)
		hosted_deliver_tick();
	else
		hosted_tick_pending = 1;
	errno = saved_errno;
}

static void hosted_calibrate(void)
{
	struct timespec pause = { .tv_nsec = HOSTED_CALIBRATION_NS };
	uint64_t ns0 = hosted_monotonic_ns(), c0 = arch_cycles();

	while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
		;
	uint64_t ns1 = hosted_monotonic_ns(), c1 = arch_cycles();

	/* (c1 - c0) is below 2^34 for 50 ms, so the product fits. */
	hosted_cycles_hz = (c1 - c0) * NS_PER_SEC / (ns1 - ns0);
	hosted_boot_ns = ns0;
}

static void hosted_timer_start(void)
{
	struct sigaction sa = { .sa_handler = hosted_tick, .sa_flags = SA_RESTART };
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
	uint64_t period_ns = NS_PER_SEC / (uint64_t)hosted_tick_hz;
	struct itimerspec spec = {
		.it_value = { .tv_nsec = (long)period_ns },
		.it_interval = { .tv_nsec = (long)period_ns },
	};
	timer_t timer;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) != 0 ||
	    timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0 ||
	    timer_settime(timer, 0, &spec, NULL) != 0)
		panic("hosted: cannot start the %lld Hz timer: errno %d",
		      (long long)hosted_tick_hz, errno);
}

void hosted_machine_init(void)
{
	/* A CPU comes out of reset with interrupts off; so does this one. */
	hosted_irq_on = 0;
	hosted_calibrate();
	hosted_timer_start();
}

_Noreturn void arch_exit(int status)
{
	/* _exit() skips stdio's flush; an experiment or tool may use stdio. */
	fflush(NULL);
	_exit(status);
}

_Noreturn void arch_reboot(void)
{
	/* A process cannot reset its machine: "rebooted" is a clean exit. */
	static const char msg[] = "hosted: reboot requested; exiting\n";
	arch_console_write(msg, sizeof msg - 1);
	arch_exit(EXIT_PASS);
}

/* One CPU: the process's tasks all run on its main thread. */
uint32_t arch_cpu_index(void) { return 0; }
uint32_t arch_cpu_count(void) { return 1; }

void arch_print_platform(void)
{
	char line[192];
	int n = snprintf(line, sizeof line,
			 "platform: hosted: a Linux process, %ld CPUs online; no ACPI tables, "
			 "the cycle counter is calibrated against CLOCK_MONOTONIC\n",
			 sysconf(_SC_NPROCESSORS_ONLN));
	if (n > 0)
		arch_console_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

_Noreturn void arch_halt(void)
{
	/* A process cannot stop its CPU; ending it is the nearest thing. */
	_exit(EXIT_PANIC);
}
