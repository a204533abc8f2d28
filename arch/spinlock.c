/*
 * arch/spinlock.c - the spinlock (arch/arch.h: a ticket lock) and the
 * lock-rank table. Portable: both arches build it over their own arch_irq_*
 * and contexts (both are x86-64: the memory-order argument at spin_lock).
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

/* For a stuck wait: which CPU's held stack has l, and where it took it. */
static void spin_holder(const spinlock *l, char *buf, size_t n)
{
	for (unsigned cpu = 0; cpu < ARCH_MAX_CPUS; cpu++) {
		const struct spin_cpu *c = &spin_cpus[cpu];
		for (size_t i = 0; i < c->n && i < SPIN_HELD_MAX; i++) {
			if (c->held[i] != l)
				continue;
			char at[96];
			ksnprintf(buf, n, ", on CPU %u, taken at %s", cpu,
				  spin_where(at, sizeof at, c->taken_at[i]));
			return;
		}
	}
	ksnprintf(buf, n, ", in no CPU's held stack");
}
#else
size_t spin_held_locks(const spinlock **out, size_t max)
{
	(void)out;
	(void)max;
	return 0;
}
#endif

uint64_t spin_wait_limit = SPIN_WAIT_LIMIT_DEFAULT;

/*
 * Memory order. Taking the lock is an acquire: nothing the critical section
 * reads or writes may happen before the ticket is ours. Dropping it is a
 * release: everything the critical section did is visible before the next
 * ticket holder can see `serving` move. The next holder's acquire (the
 * fetch-and-add when the lock was free, else the load that saw its ticket
 * come up) reads what our release store wrote, so it sees our writes.
 *
 * On x86 (TSO) the hardware gives this for free: the fetch-and-add is a
 * LOCK XADD, a full barrier; ordinary loads are not reordered with later
 * loads or stores (so the spinning MOV is an acquire) and ordinary stores
 * are not reordered with earlier loads or stores (so the 16-bit MOV of the
 * release is a release). The only reordering x86 does, a later load
 * passing an earlier store, can at worst move a load after spin_unlock
 * into the critical section, which is harmless, so no MFENCE is needed.
 * The __ATOMIC_ACQUIRE / __ATOMIC_RELEASE orders are there for the
 * compiler: they are its barriers, keeping it from moving the critical
 * section's memory accesses above the ticket or below the release (a plain
 * store would let it), and from caching `serving` in a register while it
 * spins. The 16-bit store and the 32-bit LOCK XADD overlap: C's memory
 * model says nothing about atomics of mixed sizes, x86 does: both are
 * atomic, so the XADD sees the store entirely or not at all (Linux
 * released its x86 ticket locks the same way). Interrupts go off before
 * the ticket is taken and come back on only after the release store
 * (arch_irq_save and arch_irq_restore are calls the compiler cannot move
 * the atomics across), so no interrupt handler runs on this CPU while it
 * holds a ticket or the lock.
 */
static inline uint16_t spin_take(spinlock *l, uint16_t *serving)
{
	uint32_t w = __atomic_fetch_add(&l->ticket.word, 1U << 16, __ATOMIC_ACQUIRE);
	*serving = (uint16_t)w;
	return (uint16_t)(w >> 16);
}

static inline void spin_pass(spinlock *l)
{
	uint16_t s = __atomic_load_n(&l->ticket.half.serving, __ATOMIC_RELAXED);
	__atomic_store_n(&l->ticket.half.serving, (uint16_t)(s + 1), __ATOMIC_RELEASE);
}

uint16_t spin_ticket_take(spinlock *l)
{
	uint16_t serving;
	return spin_take(l, &serving);
}

uint16_t spin_ticket_serving(const spinlock *l)
{
	return __atomic_load_n(&l->ticket.half.serving, __ATOMIC_ACQUIRE);
}

void spin_ticket_pass(spinlock *l)
{
	spin_pass(l);
}

/* A wait past spin_wait_limit: names the lock, the tickets and the holder
 * (its context; in debug builds the CPU holding it and where it took it). */
static _Noreturn __attribute__((noinline, cold)) void spin_stuck(const spinlock *l,
								  uint16_t mine,
								  uint64_t spins)
{
	uint32_t w = __atomic_load_n(&l->ticket.word, __ATOMIC_RELAXED);
	uint16_t serving = (uint16_t)w, next = (uint16_t)(w >> 16);
	char where[128] = "";
#ifdef TRICOLOR_DEBUG
	spin_holder(l, where, sizeof where);
#endif
	panic("spinlock '%s' (%p): still not ours after %llu spins (spin_wait_limit): "
	      "waiting with ticket %u, ticket %u holds it, %u waiting (this one included); "
	      "holder context %p%s",
	      spin_name(l), (const void *)l, (unsigned long long)spins, mine, serving,
	      (unsigned)(uint16_t)(next - serving - 1),
	      (const void *)__atomic_load_n(&l->owner, __ATOMIC_RELAXED), where);
}

/* Waits for ticket `mine` to be served; bounded by spin_wait_limit. */
static __attribute__((noinline)) void spin_wait(spinlock *l, uint16_t mine)
{
	uint64_t spins = 0;
	while (__atomic_load_n(&l->ticket.half.serving, __ATOMIC_ACQUIRE) != mine) {
		arch_cpu_relax(); /* another CPU holds it (not with one CPU) */
		if (++spins >= spin_wait_limit)
			spin_stuck(l, mine, spins);
	}
}

void spin_lock(spinlock *l)
{
	arch_irqflags_t irq = arch_irq_save();
	const arch_context *me = arch_current_context();

	/* Before taking a ticket: with one, this CPU would wait on itself.
	 * The owner first: it is NULL in a free lock, so the common case
	 * does not read the ticket word just after spin_unlock's 16-bit
	 * store to it (a wider load than the store stalls its forwarding). */
	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == me && spin_locked(l))
		panic("spinlock '%s': taken twice by its holder", spin_name(l));
#ifdef TRICOLOR_DEBUG
	uintptr_t pc = (uintptr_t)__builtin_return_address(0);
	spin_check_order(l, pc);
#endif
	uint16_t serving, mine = spin_take(l, &serving);
	if (serving != mine)
		spin_wait(l, mine);
	__atomic_store_n(&l->owner, me, __ATOMIC_RELAXED);
	l->saved_irq = irq;
#ifdef TRICOLOR_DEBUG
	spin_push(l, pc);
#endif
}

void spin_unlock(spinlock *l)
{
	ASSERT(spin_held(l));
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
	__atomic_store_n(&l->owner, NULL, __ATOMIC_RELAXED);
	spin_pass(l);
	arch_irq_restore(irq);
}
