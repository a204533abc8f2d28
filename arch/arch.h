/*
 * arch/arch.h - the narrow contract between the machine and everything above
 * it. Two implementations: arch/x86_64 (bare metal, booted by GRUB) and
 * arch/hosted (a Linux process, for native benchmarks and sanitizers).
 * Nothing above arch/ knows which one it runs on. Above lib/ (the base
 * library, which arch/ hands its console and stack walker through
 * arch_machine, below); below everything else.
 */
#pragma once

#include "lib/lib.h"

#define ARCH_PAGE_SIZE 4096UL
#define ARCH_PAGE_SHIFT 12

/* ---- console ---------------------------------------------------------- */
/* Writes raw bytes to the primary console (COM1 / stdout) and its mirrors. */
void arch_console_write(const char *buf, size_t len);
/* Reads one byte if one is waiting; returns -1 otherwise. */
int arch_console_getc(void);

/* ---- interrupts ------------------------------------------------------- */
/* A saved interrupt state; 0 always means "were off", so 0 is what to
 * store to keep them off at a restore. */
typedef uint64_t arch_irqflags_t;
arch_irqflags_t arch_irq_save(void);          /* disable, return old state */
void arch_irq_restore(arch_irqflags_t flags); /* back to the saved state */
void arch_irq_enable(void);
void arch_irq_disable(void);
bool arch_irq_enabled(void);
void arch_cpu_relax(void);  /* spin-wait hint (pause) */
void arch_wait_for_interrupt(void); /* idle until the next interrupt */

/* ---- time ------------------------------------------------------------- */
uint64_t arch_cycles(void);          /* raw cycle counter (TSC) */
uint64_t arch_cycles_per_sec(void);  /* calibrated at boot */
uint64_t arch_nanotime(void);        /* monotonic ns since boot */
uint64_t arch_ticks(void);           /* timer interrupts since boot */
uint32_t arch_tick_hz(void);         /* configured tick rate */
/* Installs the function the timer interrupt calls (interrupts off; NULL:
 * none) and returns the one it replaces, so a caller can chain to it and
 * put it back. */
typedef void (*arch_tick_fn)(void);
arch_tick_fn arch_set_tick_handler(arch_tick_fn handler);

/* ---- pages: the heap's one page source -------------------------------- */
/* Reserves address space for `bytes` (page multiple), not backed; NULL when
 * the space is exhausted. Touching reserved, uncommitted pages faults. */
void *arch_reserve(size_t bytes);
/* Backs [addr, addr+bytes) with zeroed, writable, non-executable pages.
 * Returns false (nothing committed) when memory runs out. */
bool arch_commit(void *addr, size_t bytes);
/* Returns the memory behind [addr, addr+bytes); the range stays reserved
 * and faults when touched until committed again. */
void arch_decommit(void *addr, size_t bytes);
/* Pages the page source can still commit (free physical frames). */
size_t arch_free_pages(void);

/* ---- contexts: what a task switch saves and restores ----------------- */
/*
 * One context per task, plus the boot context that start-up runs on. A
 * switch saves the callee-saved registers on the current stack and the stack
 * pointer in the context (a timer preemption has already saved the rest in
 * the interrupt frame above it). Per-context arch state rides along: the
 * active arch_try()s, and in the hosted build the sanitizer's fiber state.
 */
typedef struct arch_context {
	uintptr_t sp;      /* saved stack pointer while switched out */
	void *stack_base;  /* lowest address of the stack */
	size_t stack_size;
	void *try_top;     /* innermost arch_try() on this context */
	void *fiber_state; /* hosted ASan: the fake stack between switches */
	bool dying;        /* last switch away: the stack is about to go */
	uintptr_t spill_sp; /* inside arch_run_spilled: the spill point, else 0 */
} arch_context;

/* Extra bytes every task stack gets beyond what its task asked for: room
 * for what an interrupt pushes on it (a trap frame on bare metal; a whole
 * signal frame with the FPU state in the hosted build). */
size_t arch_interrupt_stack_reserve(void);
/* Prepares ctx so that the first switch to it runs entry(arg) on the stack
 * [stack_base, stack_base + stack_size). entry must never return. */
void arch_context_init(arch_context *ctx, void *stack_base, size_t stack_size,
		       void (*entry)(void *), void *arg);
/* Switches from the running context (saved into `from`) to `to`.
 * Interrupts must be off; the resumed context finds them off too. */
void arch_context_switch(arch_context *from, arch_context *to);
/*
 * Runs fn(arg) on the running context's own stack after pushing every
 * callee-saved register, with ctx->spill_sp (ctx the running context)
 * recording where they went; an inner call while one is active keeps the
 * outer record. While fn runs, [spill_sp, stack top) holds all the state
 * of the code that called arch_run_spilled: its frames and every register
 * value it may still use (the ABI makes the others dead across a call).
 * A running task's stack may be scanned as a root only from there: fn's own
 * frames below it are the runtime's, not the task's (the collector and the
 * diagnostics run this way; Go runs them on the system stack, g0, for the
 * same reason). The spill point reads like a switched-out context's saved
 * stack pointer: arch_context_frames() on a copy of ctx with sp =
 * spill_sp walks the caller's frames.
 */
void arch_run_spilled(void (*fn)(void *), void *arg);
/* For tests of the collector: calls fn() with the value hidden ^ key held
 * only in callee-saved register number reg (0..ARCH_CALLEE_SAVED_TESTABLE-1)
 * and returns that register's value ^ key after fn returns. */
#define ARCH_CALLEE_SAVED_TESTABLE 5
uintptr_t arch_test_hold_in_register(uintptr_t hidden, uintptr_t key, unsigned reg,
				     void (*fn)(void));
/* For tests: calls fn() with the value hidden ^ key left in every
 * caller-saved register it does not use for the call, as code that just
 * finished with a pointer leaves them (zeroed again afterwards). */
void arch_test_call_with_dirty_scratch(uintptr_t hidden, uintptr_t key, void (*fn)(void));
/* Zeroes the running context's dead stack: every word from lo (rounded up
 * to 8) to just below the caller's return address that is neither 0 nor
 * `keep` (a paint value left alone), then the scratch registers. Uses no
 * stack of its own below that. Interrupts must be off. */
void arch_clear_stack(uintptr_t lo, uint64_t keep);
/* The context start-up runs on (kmain / main); the scheduler turns it
 * into the first task. */
arch_context *arch_boot_context(void);
/* The context running now on this CPU, as arch_context_switch last set it
 * (x86: the per-CPU block's slot, read through %gs, so an AP running a
 * cross-CPU call is its own idle context, never CPU 0's task; hosted: the
 * one global). Inline: every spinlock operation asks. arch_running_context
 * is the boot CPU's (the scheduler's CPU). */
extern arch_context *arch_running_context;
#ifndef TRICOLOR_HOSTED
/* Offsets in x86's per-CPU block (arch/x86_64/x86.h: percpu; pinned in
 * smp.c). The boot CPU's GS base is set first thing in kmain. */
#define ARCH_PERCPU_INDEX 8
#define ARCH_PERCPU_RUNNING 16
#endif
static inline arch_context *arch_current_context(void)
{
#ifdef TRICOLOR_HOSTED
	return arch_running_context;
#else
	arch_context *c;
	__asm__ volatile("movq %%gs:%c1, %0" : "=r"(c) : "i"(ARCH_PERCPU_RUNNING));
	return c;
#endif
}

/* ---- CPUs --------------------------------------------------------------- */
/* CPUs the per-CPU structures are sized for (x86 starts no more). */
#define ARCH_MAX_CPUS 8
/* The running CPU, < ARCH_MAX_CPUS: x86 reads the dense index from the
 * per-CPU block through %gs (the same as arch_cpu_index()); hosted: 0.
 * Meaningful with interrupts off (or on a CPU that runs no tasks). */
static inline unsigned arch_cpu_id(void)
{
#ifdef TRICOLOR_HOSTED
	return 0;
#else
	uint32_t v;
	__asm__ volatile("movl %%gs:%c1, %0" : "=r"(v) : "i"(ARCH_PERCPU_INDEX));
	return v;
#endif
}

/* ---- spinlocks and the lock order ------------------------------------- */
/*
 * The kernel's one lock type, for every layer from here up (mm/ takes them
 * before the first task exists). A ticket lock: fair under contention,
 * CPUs get the lock in the order they asked for it (FIFO), so none can
 * starve. IRQ-safe: spin_lock disables interrupts first (the previous state
 * is saved in the lock and restored by spin_unlock), then takes a ticket,
 * so a holder is never preempted and an interrupt handler can never spin
 * on a lock its own CPU holds. Not recursive: taking a lock its holder
 * already holds panics (checked before the ticket is taken, so the CPU
 * never waits on itself); a wait longer than spin_wait_limit pause
 * iterations panics too, naming the lock and its holder: no wait is ever
 * silently infinite.
 *
 * The ticket word: two 16-bit halves in one 32-bit word, `serving` (the
 * ticket that holds the lock) low and `next` (the next ticket to hand out)
 * high. spin_lock takes a ticket with one fetch-and-add of 1 << 16 on the
 * whole word (a carry out of `next` falls off the word's top), then spins
 * with pause reading `serving` until it is its ticket; spin_unlock adds one
 * to `serving` with a 16-bit release store (only the holder writes it; a
 * store, unlike an add on the word, cannot carry into `next` when
 * `serving` wraps). Free when the halves are equal: zeroed memory is a
 * free lock. Up to 65,535 CPUs holding or waiting at once, far more than
 * ARCH_MAX_CPUS.
 * Memory order: arch/spinlock.c, next to spin_lock.
 *
 * The owner is the arch context (task) that took it; spin_held() asks
 * "held by the running context", which is what ASSERT_HELD checks in every
 * function named *_locked. The scheduler hands sched_lock from the task
 * switching out to the one switching in (sched/sched.c sets owner).
 *
 * THE LOCK ORDER. This table is its one written statement; files that take
 * several locks point here. Every lock has a rank (lock_rank, below), given
 * in its SPINLOCK_INIT. A CPU may take a lock only if its rank is above the
 * rank of every lock the CPU already holds. Two ranks have many locks that
 * are held together, channels (select) and mcentrals (mm_lock_all); within
 * those two a CPU may take a lock of the rank it already holds, but only at
 * a higher address than every such lock it holds: (rank, address) is then
 * a total order, so two CPUs can never wait on each other. Locks may be
 * released in any order (interrupts stay off until the last one goes: a
 * lock dropped early must not restore them, see sched_block_on). With
 * TRICOLOR_DEBUG (make DEBUG=1) each CPU keeps the stack of locks it holds
 * and spin_lock panics on a violation, naming both locks; other builds do
 * not check.
 *
 * Outermost first; for each rank, what its holders take next ("fixalloc":
 * PERSISTENT, and MHEAP when a commit fails and it reclaims free pages):
 *   COND        a cond's lock: cond_wait releases the cond's mutex (SYNC)
 *               and blocks (SCHED) under it.
 *   SYNC        mutex, rwmutex, waitgroup, semaphore, once (sched/sync.c):
 *               SCHED, to block or wake (sched_block_on, waitq_wake_*).
 *               A zeroed lock counts as SYNC (zeroed memory is a valid
 *               sync object; its lock was never given a rank).
 *   CHAN        a channel's lock, several in address order (select): wakes
 *               a select's owner (SELECT), gets a waiter record (SUDOG),
 *               blocks or wakes (SCHED).
 *   SELECT      a blocked select's select_wait.lock (chan/chan.c): SCHED.
 *   SUDOG       the sudog pool (chan/chan.c): fixalloc.
 *   GC          gc_lock (gc/gc.c): SCHED (its wait queues).
 *   FINALIZER   fin_lock (gc/finalizer.c): SCHED (wakes the finalizer
 *               task), fixalloc.
 *   HEAPPROF    hp_lock (diag/heapprof.c): fixalloc.
 *   TREND       the task-count trend (diag/profile.c): nothing.
 *   SCHED       sched_lock (sched/sched.c): fixalloc (task records, stack
 *               slots). Held across the switch to the next task.
 *   MCENTRAL    an mcentral's lock, several in address (= span class)
 *               order (mm_lock_all): MHEAP (spans in and out), fixalloc.
 *   MHEAP       mheap_global.lock: fixalloc (span records, metadata).
 *   PERSISTENT  persistent_lock (mm/fixalloc.c): nothing; it drops its
 *               lock before reclaiming.
 * Ranks with no edge between them (GC and FINALIZER, CHAN and SYNC, ...)
 * are in an arbitrary order; the check enforces the whole order, not only
 * the edges listed.
 */
/* The rank table, one row per rank, outermost first: LOCK_RANK_<rank>, its
 * name in messages, and whether locks of the rank nest by address. */
#define LOCK_RANK_TABLE(X)                          \
	X(COND, "cond", false)                      \
	X(SYNC, "sync object", false)               \
	X(CHAN, "chan", true)                       \
	X(SELECT, "select", false)                  \
	X(SUDOG, "sudog", false)                    \
	X(GC, "gc", false)                          \
	X(FINALIZER, "finalizer", false)            \
	X(HEAPPROF, "heapprof", false)              \
	X(TREND, "task trend", false)               \
	X(SCHED, "sched", false)                    \
	X(MCENTRAL, "mcentral", true)               \
	X(MHEAP, "mheap", false)                    \
	X(PERSISTENT, "persistent", false)

typedef enum lock_rank {
	LOCK_RANK_ZEROED = 0, /* a zeroed lock: counts as LOCK_RANK_SYNC */
#define LOCK_RANK_ENUM(rank, name, nests_by_address) LOCK_RANK_##rank,
	LOCK_RANK_TABLE(LOCK_RANK_ENUM)
#undef LOCK_RANK_ENUM
	LOCK_RANK_COUNT,
} lock_rank;

/* The table's rows by rank (arch/spinlock.c builds it from the macro). */
typedef struct lock_rank_info {
	const char *name;
	bool nests_by_address; /* same-rank locks in increasing address order */
} lock_rank_info;
extern const lock_rank_info lock_ranks[LOCK_RANK_COUNT];

typedef struct spinlock {
	union {
		uint32_t word; /* both halves: the fetch-and-add, snapshots */
		struct {
			uint16_t serving; /* the ticket holding the lock */
			uint16_t next;    /* the next ticket handed out */
		} half;
	} ticket;          /* free when serving == next (zeroed: free) */
	lock_rank rank;    /* its place in the lock order */
	const char *name;  /* for messages */
	/* while locked */
	const arch_context *owner; /* the context holding it; written by
				    * its holder, read by anyone (relaxed) */
	arch_irqflags_t saved_irq; /* interrupt state before spin_lock */
} spinlock;
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "spinlock: `serving` must be the low half of the ticket word");

#define SPINLOCK_INIT(name_, rank_) { .rank = (rank_), .name = (name_) }
void spin_lock(spinlock *l);
void spin_unlock(spinlock *l);
/* Locked, by anyone: the two halves of one snapshot differ. */
static inline bool spin_locked(const spinlock *l)
{
	uint32_t w = __atomic_load_n(&l->ticket.word, __ATOMIC_RELAXED);
	return (uint16_t)w != (uint16_t)(w >> 16);
}
/* Held by the running context. */
static inline bool spin_held(const spinlock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == arch_current_context() &&
	       spin_locked(l);
}
#define ASSERT_HELD(l) ASSERT(spin_held(l))
/* l's rank (a zeroed lock's is LOCK_RANK_SYNC) and a name for messages. */
lock_rank spin_rank(const spinlock *l);
const char *spin_name(const spinlock *l);
/*
 * The order check: the lock among held[0..n) (a CPU's held locks) that
 * forbids taking l next, NULL if l may be taken. Checked in every build by
 * the tests; spin_lock calls it in TRICOLOR_DEBUG builds.
 */
const spinlock *spin_order_violation(const spinlock *const *held, size_t n,
				     const spinlock *l);
/* Most locks one CPU holds at once in a TRICOLOR_DEBUG build (holding more
 * panics); mm_lock_all holds one per span class plus the heap's. */
#define SPIN_HELD_MAX 192
/* TRICOLOR_DEBUG builds: copies this CPU's held locks, outermost first,
 * into out (up to max) and returns how many it holds. Other builds do not
 * track them and return 0. */
size_t spin_held_locks(const spinlock **out, size_t max);
/* Pause iterations one spin_lock may wait for its ticket before it panics
 * naming the lock and its holder. Generous: 2^30 pauses are seconds to a
 * minute, as long as the CPU's pause takes (10 to 140 cycles), and more
 * than any stall of a vCPU under QEMU TCG; a lock held that long is a bug
 * (a lost unlock, a deadlock across CPUs).
 * Lowered only by tests/experiments/lock_mistakes.c. */
#define SPIN_WAIT_LIMIT_DEFAULT (1ULL << 30)
extern uint64_t spin_wait_limit;
/* For tests: the ticket half of a lock alone (no interrupts, owner, order
 * check or held stack), to queue simulated CPUs on a lock from one CPU.
 * spin_ticket_take takes the next ticket without waiting for it and
 * returns it; spin_ticket_serving is the ticket now holding the lock;
 * spin_ticket_pass hands the lock to the next ticket (spin_unlock's
 * release). */
uint16_t spin_ticket_take(spinlock *l);
uint16_t spin_ticket_serving(const spinlock *l);
void spin_ticket_pass(spinlock *l);

/* ---- faults ----------------------------------------------------------- */
/* Fault kinds use the x86 exception vector numbers on every arch. */
enum {
	ARCH_FAULT_DIVIDE = 0,
	ARCH_FAULT_BREAKPOINT = 3,
	ARCH_FAULT_INVALID_OPCODE = 6,
	ARCH_FAULT_GENERAL_PROTECTION = 13,
	ARCH_FAULT_PAGE = 14,
	ARCH_FAULT_ABORT = 256, /* arch_try_abort(): a software abort, no CPU fault */
};

typedef struct arch_fault {
	int vector;          /* ARCH_FAULT_* */
	uint64_t error_code; /* CPU error code (page fault: P/W/U/I bits) */
	uintptr_t addr;      /* faulting data address (CR2) for page faults */
	uintptr_t ip;        /* instruction pointer at the fault */
} arch_fault;

/* Runs fn(arg). Returns true if it returned normally; false if a CPU
 * exception or arch_try_abort() ended it early, with *fault filled in.
 * Tries nest. The code under a try must not hold locks. */
bool arch_try(void (*fn)(void *), void *arg, arch_fault *fault);
/* Leaves the innermost arch_try with vector ARCH_FAULT_ABORT. Panics when no
 * try is active. */
_Noreturn void arch_try_abort(void);
/* "page fault", "invalid opcode", ... */
const char *arch_fault_name(int vector);
/*
 * A CPU fault outside any arch_try() is first reported by the arch (vector,
 * registers, backtrace), then handed to this handler, interrupts off, on the
 * faulting context (or, for a stack overflow, an emergency stack). The
 * scheduler kills the faulting task there and switches away for good; if
 * the handler returns (or none is set), the kernel panics. For a double
 * fault (a fault while pushing a fault frame: a stack overflow) addr holds
 * the address that first faulted.
 */
void arch_set_fault_handler(void (*handler)(const arch_fault *fault));

/* ---- backtrace and symbols -------------------------------------------- */
/* Return addresses of the current call chain, innermost first. */
size_t arch_backtrace(uintptr_t *pcs, size_t max);
/* Return addresses of a switched-out context, from where it switched. */
size_t arch_context_backtrace(const arch_context *ctx, uintptr_t *pcs, size_t max);
/* The same walk with each frame's base: fps[i] is the frame pointer of the
 * function pcs[i] returns into, so a stack slot at address a belongs to
 * the innermost frame with fps[i] >= a. */
size_t arch_context_frames(const arch_context *ctx, uintptr_t *pcs, uintptr_t *fps,
			   size_t max);
/* Name of the function containing pc and the offset into it; NULL when
 * unknown. */
const char *arch_symbolize(uintptr_t pc, uintptr_t *offset);

/* ---- image layout: the collector's global roots ----------------------- */
typedef struct arch_range {
	uintptr_t start, end; /* [start, end) */
} arch_range;
arch_range arch_data_range(void); /* initialised data */
arch_range arch_bss_range(void);  /* zero-initialised data */

/* ---- start-up --------------------------------------------------------- */
/* What lib/ needs from the machine (lib.h), filled from the functions of
 * this header (arch/machine.c). Each arch registers it before anything
 * else runs. */
extern const lib_machine arch_machine;
/* The portable half of start-up, defined at the top of the house
 * (kernel/main.c): each arch calls it once the machine is up, interrupts
 * on, and it never returns. The one call that goes up the layers, as a C
 * runtime's start-up calls main(): nothing could register a hook before
 * the first code runs. */
_Noreturn void kernel_main(void);

/* ---- the platform ----------------------------------------------------- */
/* A few lines on what the machine is (the shell's `platform`, and once at
 * boot on x86): CPUs and their APIC ids, interrupt controllers and timers
 * from the ACPI tables, and which clock calibrated which; the hosted build
 * names the process and its CPUs. */
void arch_print_platform(void);
/* This CPU's dense index (0: the boot CPU), and how many CPUs are online.
 * x86: every enabled MADT CPU is started (cpus=N limits them), but the APs
 * only idle so far: tasks, timers and interrupts all stay on CPU 0. The
 * hosted build: 0 and 1. */
uint32_t arch_cpu_index(void);
uint32_t arch_cpu_count(void);

/* ---- leaving ---------------------------------------------------------- */
/* Ends the machine/process with `status` (0..111); QEMU reports it through
 * isa-debug-exit, the host script turns it back into an exit code. */
_Noreturn void arch_exit(int status);
/* Stops this CPU for good, interrupts off (the end of a panic). */
_Noreturn void arch_halt(void);
/* Resets the machine (the shell's `reboot`): x86 pulses the keyboard
 * controller's reset line, then forces a triple fault; the hosted build
 * exits with status 0. */
_Noreturn void arch_reboot(void);
