/*
 * arch/hosted/fault.c - CPU exceptions as signals. SIGSEGV/SIGBUS become
 * page faults (or #GP, which the kernel also reports as SIGSEGV), SIGFPE a
 * divide error, SIGILL an invalid opcode; the x86 trap number and error
 * code come from the signal context. arch_try() is sigsetjmp: the handler
 * fills in the fault and siglongjmps to the innermost try. Handlers run on
 * an alternate stack, so even a stack overflow reaches them. A fault with
 * no try active is a kernel panic: report, backtrace, EXIT_PANIC.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "arch/hosted/hosted_internal.h"
#include "lib/lib.h"

/* The alternate signal stack: room for the handler and a panic report. */
#define HOSTED_SIGNAL_STACK (64 * 1024)
/* Frames printed for a fault outside any try. */
#define HOSTED_FAULT_BACKTRACE_MAX 32

/* One active arch_try(), on its caller's stack; they form a stack. */
typedef struct hosted_try {
	sigjmp_buf env;
	arch_fault *fault;
	struct hosted_try *prev;
} hosted_try;

/* The innermost active try lives in the running context (try_top), so
 * each task has its own chain. */
static hosted_try *hosted_try_top(void)
{
	return arch_current_context()->try_top;
}

static void hosted_set_try_top(hosted_try *t)
{
	arch_current_context()->try_top = t;
}

static void (*hosted_fault_hook)(const arch_fault *fault);

void arch_set_fault_handler(void (*handler)(const arch_fault *fault))
{
	hosted_fault_hook = handler;
}

/* mmap'd, not a static array: bss is scanned as the collector's roots
 * (and by the escape checker), and this stack's dead frames would look like
 * globals holding heap and stack addresses (the x86 build keeps its boot
 * and exception stacks out of bss for the same reason). */
static char *hosted_signal_stack;

static const int hosted_fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };

/*
 * ASan and UBSan would catch these signals themselves and end the process;
 * the test suites provoke faults on purpose. The runtime reads these
 * defaults at start-up, so the binary works without ASAN_OPTIONS.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:"
	       "allow_user_segv_handler=1:detect_leaks=0";
}

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "print_stacktrace=1";
}

const char *arch_fault_name(int vector)
{
	switch (vector) {
	case ARCH_FAULT_DIVIDE:
		return "divide error";
	case ARCH_FAULT_BREAKPOINT:
		return "breakpoint";
	case ARCH_FAULT_INVALID_OPCODE:
		return "invalid opcode";
	case ARCH_FAULT_GENERAL_PROTECTION:
		return "general protection fault";
	case ARCH_FAULT_PAGE:
		return "page fault";
	case ARCH_FAULT_ABORT:
		return "abort";
	default:
		return "unknown fault";
	}
}

static const char *hosted_signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	default:
		return "SIGILL";
	}
}

static arch_fault hosted_fault_from_signal(int sig, const siginfo_t *info,
					   const ucontext_t *uc)
{
	const greg_t *regs = uc->uc_mcontext.gregs;
	arch_fault fault = { .ip = (uintptr_t)regs[REG_RIP] };

	switch (sig) {
	case SIGFPE:
		fault.vector = ARCH_FAULT_DIVIDE;
		break;
	case SIGILL:
		fault.vector = ARCH_FAULT_INVALID_OPCODE;
		break;
	default:
		/* A #GP (non-canonical address, privileged instruction) is
		 * SIGSEGV too; the trap number tells them apart. */
		if (sig == SIGSEGV &&
		    regs[REG_TRAPNO] == ARCH_FAULT_GENERAL_PROTECTION) {
			fault.vector = ARCH_FAULT_GENERAL_PROTECTION;
		} else {
			fault.vector = ARCH_FAULT_PAGE;
			fault.addr = (uintptr_t)info->si_addr;
		}
		fault.error_code = (uint64_t)regs[REG_ERR];
		break;
	}
	return fault;
}

static void hosted_fault_handler(int sig, siginfo_t *info, void *context)
{
	const ucontext_t *uc = context;
	/* Interrupts off from the first instruction, as an x86 exception
	 * enters through an interrupt gate (arch/x86_64/idt.c). A tick taken
	 * here could preempt this task while it runs on the one alternate
	 * stack with SIGSEGV blocked: the next task to fault would then be
	 * killed by Linux outright, or write its own handler's frames over
	 * ours. arch_try() puts the flag back as it was; a killed task never
	 * returns here. */
	arch_irq_disable();
	arch_fault fault = hosted_fault_from_signal(sig, info, uc);
	hosted_try *top = hosted_try_top();

	if (top) {
		*top->fault = fault;
		hosted_set_try_top(top->prev);
		/* Restores the signal mask saved by sigsetjmp, which also
		 * unblocks this signal again. */
		siglongjmp(top->env, 1);
	}

	/* A fault outside any try: the report the x86 trap handler prints,
	 * with the backtrace of the faulting code, not of this handler; then
	 * the scheduler's hook (kills a faulting task) or a panic. */
	uintptr_t offset;
	const char *name = arch_symbolize(fault.ip, &offset);
	kprintf("*** %s (%s) at ip %p %s+0x%lx", arch_fault_name(fault.vector),
		hosted_signal_name(sig), (void *)fault.ip, name ? name : "?",
		name ? (unsigned long)offset : 0UL);
	if (fault.vector == ARCH_FAULT_PAGE)
		kprintf(" addr %p error 0x%lx", (void *)fault.addr,
			(unsigned long)fault.error_code);
	kprintf("\n");

	uintptr_t pcs[HOSTED_FAULT_BACKTRACE_MAX];
	size_t n = hosted_backtrace_from(
		(uintptr_t)uc->uc_mcontext.gregs[REG_RBP], arch_current_context(), pcs,
		ARRAY_SIZE(pcs));
	print_backtrace_from(pcs, n);
	if (hosted_fault_hook) {
		/* The hook may switch to another task for good: leave the
		 * handler's state as a switch expects it. The fault signals
		 * must not stay blocked on the context we go to (interrupts
		 * are off already, see above). */
		sigset_t faults;
		sigemptyset(&faults);
		for (size_t i = 0; i < ARRAY_SIZE(hosted_fault_signals); i++)
			sigaddset(&faults, hosted_fault_signals[i]);
		sigprocmask(SIG_UNBLOCK, &faults, NULL);
		hosted_fault_hook(&fault);
	}
	arch_exit(EXIT_PANIC);
}

void hosted_fault_init(void)
{
	hosted_signal_stack = mmap(NULL, HOSTED_SIGNAL_STACK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hosted_signal_stack == MAP_FAILED)
		panic("hosted: no memory for the signal stack");
	stack_t stack = { .ss_sp = hosted_signal_stack, .ss_size = HOSTED_SIGNAL_STACK };
	struct sigaction sa = { .sa_sigaction = hosted_fault_handler,
				.sa_flags = SA_SIGINFO | SA_ONSTACK };

	sigemptyset(&sa.sa_mask);
	if (sigaltstack(&stack, NULL) != 0)
		panic("hosted: sigaltstack failed");
	for (size_t i = 0; i < ARRAY_SIZE(hosted_fault_signals); i++) {
		if (sigaction(hosted_fault_signals[i], &sa, NULL) != 0)
			panic("hosted: cannot handle %s",
			      hosted_signal_name(hosted_fault_signals[i]));
	}
}

bool arch_try(void (*fn)(void *), void *arg, arch_fault *fault)
{
	hosted_try frame = { .fault = fault, .prev = hosted_try_top() };
	bool irq_was_enabled = arch_irq_enabled();

	if (sigsetjmp(frame.env, 1) != 0) {
		/*
		 * Back from a fault or an abort; the jumper popped the frame.
		 * The restored signal mask is the one at entry, so the
		 * interrupt flag must follow it.
		 */
		if (irq_was_enabled)
			arch_irq_enable();
		else
			arch_irq_disable();
		return false;
	}
	hosted_set_try_top(&frame);
	fn(arg);
	hosted_set_try_top(frame.prev);
	return true;
}

_Noreturn void arch_try_abort(void)
{
	hosted_try *top = hosted_try_top();

	if (!top)
		panic("arch_try_abort: no arch_try is active");
	*top->fault = (arch_fault){
		.vector = ARCH_FAULT_ABORT,
		.ip = (uintptr_t)__builtin_return_address(0),
	};
	hosted_set_try_top(top->prev);
	siglongjmp(top->env, 1);
}
