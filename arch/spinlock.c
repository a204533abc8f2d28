/*
 * arch/spinlock.c - the spinlock (arch/arch.h) and the lock-rank table.
 * Portable: both arches build it over their own arch_irq_* and contexts.
 * In TRICOLOR_DEBUG builds it also keeps, per CPU, the stack of locks the
 * CPU holds, and checks every acquisition against the lock order written
 * next to the rank enum in arch/arch.h.
 * Invariant (debug): a CPU's held stack is in strictly increasing order
 * (rank, then address within a rank that nests by address), and holds
 * exactly the locks locked by that CPU.
 */
#include "arch/arch.h"

const lock_rank_info lock_ranks[LOCK_RANK_COUNT] = {
	[LOCK_RANK_ZEROED] = { "zeroed (sync object)", false },
#define LOCK_RANK_ROW(rank, name, nests_by_address) \
	[LOCK_RANK_##rank] = { name, nests_by_address },
	LOCK_RANK_TABLE(LOCK_RANK_ROW)
#undef LOCK_RANK_ROW
};

lock_rank spin_rank(const spinlock *l)
{
	if (l->rank == LOCK_RANK_ZEROED)
		return LOCK_RANK_SYNC;
	ASSERT(l->rank < LOCK_RANK_COUNT);
	return l->rank;
}

const char *spin_name(const spinlock *l)
{
	return l->name ? l->name : lock_ranks[spin_rank(l)].name;
}

/* Whether `next` may be taken while `held` is: later in the order. */
static bool spin_order_allows(const spinlock *held, const spinlock *next)
{
	lock_rank h = spin_rank(held), r = spin_rank(next);
	if (r != h)
		return r > h;
	return lock_ranks[r].nests_by_address && (uintptr_t)next > (uintptr_t)held;
}

const spinlock *spin_order_violation(const spinlock *const *held, size_t n,
				     const spinlock *l)
{
	/* Innermost first: the lock taken last is the likeliest culprit. */
	for (size_t i = n; i-- > 0;)
		if (!spin_order_allows(held[i], l))
			return held[i];
	return NULL;
}

#ifdef TRICOLOR_DEBUG
/* One per CPU; touched only by its own CPU, interrupts off. */
static struct spin_cpu {
	size_t n;
	const spinlock *held[SPIN_HELD_MAX]; /* outermost first */
	uintptr_t taken_at[SPIN_HELD_MAX];   /* spin_lock's caller */
} spin_cpus[ARCH_MAX_CPUS];

/* "fn+0xoff" for a return address, into buf. */
static const char *spin_where(char *buf, size_t n, uintptr_t pc)
{
	uintptr_t off;
	const char *fn = arch_symbolize(pc - 1, &off);
	if (fn)
		ksnprintf(buf, n, "%s+0x%lx", fn, (unsigned long)off + 1);
	else
		ksnprintf(buf, n, "%p", (void *)pc);
	return buf;
}

/* Before taking l (interrupts off): panics if the order forbids it. */
static void spin_check_order(const spinlock *l, uintptr_t pc)
{
	struct spin_cpu *c = &spin_cpus[arch_cpu_id()];
	const spinlock *bad = spin_order_violation(c->held, c->n, l);
	if (!bad)
		return;
	size_t i = 0;
	while (c->held[i] != bad)
		i++;
	char bad_at[96], l_at[96];
	panic("lock order: taking '%s' (rank %s, %p) at %s while holding '%s' (rank %s, "
	      "%p) taken at %s; see the lock order in arch/arch.h",
	      spin_name(l), lock_ranks[spin_rank(l)].name, (const void *)l,
	      spin_where(l_at, sizeof l_at, pc), spin_name(bad), lock_ranks[spin_rank(bad)].name,
	      (const void *)bad, spin_where(bad_at, sizeof bad_at, c->taken_at[i]));
}

static void spin_push(const spinlock *l, uintptr_t pc)
{
	struct spin_cpu *c = &spin_cpus[arch_cpu_id()];
	if (c->n == SPIN_HELD_MAX)
		panic("spinlock '%s': this CPU already holds %d locks (SPIN_HELD_MAX)",
		      spin_name(l), SPIN_HELD_MAX);
	c->held[c->n] = l;
	c->taken_at[c->n] = pc;
	c->n++;
}

/* Takes l off this CPU's stack, wherever it is (release in any order).
 * The freed slot is cleared: the stack is in .bss, a root for the
 * collector, and a stale pointer into a heap object (a channel's lock)
 * would keep that object alive. */
static void spin_pop(const spinlock *l)
{
	struct spin_cpu *c = &spin_cpus[arch_cpu_id()];
	size_t i = c->n;
	while (i > 0 && c->held[i - 1] != l)
		i--;
	if (i == 0)
		panic("spinlock '%s': released by a CPU that does not hold it", spin_name(l));
	for (; i < c->n; i++) {
		c->held[i - 1] = c->held[i];
		c->taken_at[i - 1] = c->taken_at[i];
	}
	c->n--;
	c->held[c->n] = NULL;
	c->taken_at[c->n] = 0;
}

size_t spin_held_locks(const spinlock **out, size_t max)
{
	arch_irqflags_t irq = arch_irq_save();
	const struct spin_cpu *c = &spin_cpus[arch_cpu_id()];
	size_t n = c->n;
	for (size_t i = 0; i < n && i < max; i++)
		out[i] = c->held[i];
	arch_irq_restore(irq);
	return n;
}
#else
size_t spin_held_locks(const spinlock **out, size_t max)
{
	(void)out;
	(void)max;
	return 0;
}
#endif

void spin_lock(spinlock *l)
{
	arch_irqflags_t irq = arch_irq_save();
	const arch_context *me = arch_current_context();

	if (__atomic_load_n(&l->locked, __ATOMIC_RELAXED) && l->owner == me)
		panic("spinlock '%s': taken twice by its holder", spin_name(l));
#ifdef TRICOLOR_DEBUG
	uintptr_t pc = (uintptr_t)__builtin_return_address(0);
	spin_check_order(l, pc);
#endif
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		arch_cpu_relax(); /* another CPU holds it (not with one CPU) */
	l->owner = me;
	l->saved_irq = irq;
#ifdef TRICOLOR_DEBUG
	spin_push(l, pc);
#endif
}

void spin_unlock(spinlock *l)
{
	ASSERT(l->locked && l->owner == arch_current_context());
	arch_irqflags_t irq = l->saved_irq;
#ifdef TRICOLOR_DEBUG
	spin_pop(l);
	/* Interrupts about to go back on while this CPU still holds a lock:
	 * released out of order without handing the saved state on (as
	 * sched_block_on and select do); the tick could preempt the holder. */
	if (irq != 0 && spin_cpus[arch_cpu_id()].n > 0)
		panic("spinlock '%s': released with interrupts turned back on while "
		      "'%s' is still held", spin_name(l),
		      spin_name(spin_cpus[arch_cpu_id()].held[0]));
#endif
	l->owner = NULL;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	arch_irq_restore(irq);
}
