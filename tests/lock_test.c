/*
 * lock_test.c - the spinlock and the lock order (arch/arch.h,
 * arch/spinlock.c): the tickets (handed out and served in order, across
 * the 16-bit wrap; other CPUs are simulated by taking and passing tickets
 * by hand), the order check's decisions (rank, the same-rank address rule,
 * zeroed locks), owner and spin_held, the interrupt state across nested
 * locks released in any order, and in TRICOLOR_DEBUG builds the per-CPU
 * stack of held locks the check reads. A violation, a lock taken twice and
 * a wait past spin_wait_limit panic, which no test can catch:
 * tests/host/harness.sh boots tests/experiments/lock_mistakes.c in a debug
 * build to see those panics. No CHECK runs while a lock is held (a failed
 * CHECK ends the test at once and would leave it held): values are taken
 * under the lock and checked after.
 */
#include "arch/arch.h"
#include "lib/lib.h"
#include "mm/mm_internal.h"
#include "sched/sched.h"

/* held[0..n) and l: the lock the check names, or NULL. */
static const spinlock *violation(const spinlock *const *held, size_t n, const spinlock *l)
{
	return spin_order_violation(held, n, l);
}

TEST(lock, tickets_are_served_in_order)
{
	spinlock l = SPINLOCK_INIT("t fifo", LOCK_RANK_SYNC);
	CHECK(!spin_locked(&l));
	CHECK_EQ(spin_ticket_serving(&l), 0);

	/* We hold it (ticket 0); three simulated CPUs queue behind us. */
	spin_lock(&l);
	uint16_t a = spin_ticket_take(&l), b = spin_ticket_take(&l), c = spin_ticket_take(&l);
	uint16_t s_ours = spin_ticket_serving(&l);
	bool held_ours = spin_held(&l);
	spin_unlock(&l);
	CHECK_EQ(a, 1);
	CHECK_EQ(b, 2);
	CHECK_EQ(c, 3);
	CHECK_EQ(s_ours, 0);
	CHECK(held_ours);
	/* Our release hands it to the first in the queue, not to anyone
	 * later, and it stays locked (by a, not by us). */
	CHECK_EQ(spin_ticket_serving(&l), a);
	CHECK(spin_locked(&l));
	CHECK(!spin_held(&l));
	/* A newcomer queues behind c. */
	uint16_t d = spin_ticket_take(&l);
	CHECK_EQ(d, 4);
	uint16_t order[4];
	for (int i = 0; i < 4; i++) {
		order[i] = spin_ticket_serving(&l);
		spin_ticket_pass(&l);
	}
	CHECK_EQ(order[0], a);
	CHECK_EQ(order[1], b);
	CHECK_EQ(order[2], c);
	CHECK_EQ(order[3], d);
	/* Everyone is through: free, and the next spin_lock gets it at once
	 * with the next ticket. */
	CHECK(!spin_locked(&l));
	spin_lock(&l);
	uint16_t s_again = spin_ticket_serving(&l);
	bool held_again = spin_held(&l);
	spin_unlock(&l);
	CHECK_EQ(s_again, 5);
	CHECK(held_again);
	CHECK(!spin_locked(&l));
	CHECK_EQ(spin_ticket_serving(&l), 6);
}

TEST(lock, tickets_wrap_at_16_bits)
{
	/* Both halves wrap at 2^16 on their own: handing out ticket 0xffff
	 * carries off the word's top, and passing it on must not carry
	 * into `next` (an add on the whole word would, leaving the lock
	 * locked for ever). */
	spinlock l = SPINLOCK_INIT("t wrap", LOCK_RANK_SYNC);
	l.ticket.half.serving = l.ticket.half.next = 0xfffe;
	CHECK(!spin_locked(&l));
	uint16_t served[4];
	bool held[4], free_after[4];
	for (int i = 0; i < 4; i++) {
		spin_lock(&l);
		served[i] = spin_ticket_serving(&l);
		held[i] = spin_held(&l);
		spin_unlock(&l);
		free_after[i] = !spin_locked(&l);
		if (!free_after[i])
			break; /* a spin_lock now would wait for ever */
	}
	static const uint16_t want[4] = { 0xfffe, 0xffff, 0, 1 };
	for (int i = 0; i < 4; i++) {
		CHECK_MSG(free_after[i], "not free after release %d (serving %u, next %u)", i,
			  l.ticket.half.serving, l.ticket.half.next);
		CHECK(held[i]);
		CHECK_EQ(served[i], want[i]);
	}
	CHECK_EQ(l.ticket.half.serving, 2);
	CHECK_EQ(l.ticket.half.next, 2);

	/* A queue across the wrap is served in order too. */
	l.ticket.half.serving = l.ticket.half.next = 0xffff;
	uint16_t t0 = spin_ticket_take(&l), t1 = spin_ticket_take(&l);
	CHECK_EQ(t0, 0xffff);
	CHECK_EQ(t1, 0);
	CHECK_EQ(spin_ticket_serving(&l), t0);
	spin_ticket_pass(&l);
	CHECK_EQ(spin_ticket_serving(&l), t1);
	CHECK(spin_locked(&l));
	spin_ticket_pass(&l);
	CHECK(!spin_locked(&l));
	CHECK_EQ(l.ticket.half.next, 1);
}

TEST(lock, order_follows_rank)
{
	spinlock cond = SPINLOCK_INIT("t cond", LOCK_RANK_COND);
	spinlock sync = SPINLOCK_INIT("t sync", LOCK_RANK_SYNC);
	spinlock sched = SPINLOCK_INIT("t sched", LOCK_RANK_SCHED);
	spinlock sched2 = SPINLOCK_INIT("t sched 2", LOCK_RANK_SCHED);
	spinlock heap = SPINLOCK_INIT("t mheap", LOCK_RANK_MHEAP);
	spinlock pers = SPINLOCK_INIT("t persistent", LOCK_RANK_PERSISTENT);

	/* Nothing held: anything goes. */
	CHECK(violation(NULL, 0, &sched) == NULL);
	/* Inward: allowed, whatever the ranks skipped. */
	const spinlock *outer[] = { &cond, &sync, &sched };
	CHECK(violation(outer, 3, &heap) == NULL);
	CHECK(violation(outer, 1, &pers) == NULL);
	/* Outward: the held lock that forbids it is named; with several, the
	 * innermost one (the likeliest culprit). */
	const spinlock *h1[] = { &heap };
	CHECK(violation(h1, 1, &sched) == &heap);
	CHECK(violation(outer, 3, &sync) == &sched);
	CHECK(violation(outer, 3, &cond) == &sched);
	CHECK(violation(outer, 2, &cond) == &sync);
	/* The same rank, which does not nest: forbidden both ways, whatever
	 * the addresses; the same lock again too. */
	const spinlock *s1[] = { &sched }, *s2[] = { &sched2 };
	CHECK(violation(s1, 1, &sched2) == &sched);
	CHECK(violation(s2, 1, &sched) == &sched2);
	CHECK(violation(s1, 1, &sched) == &sched);
	/* A violation anywhere in the stack counts, not only at its top. */
	const spinlock *mixed[] = { &heap, &pers };
	CHECK(violation(mixed, 2, &sched) == &pers);
}

TEST(lock, same_rank_nests_only_by_increasing_address)
{
	/* Channels (select) and mcentrals (mm_lock_all) nest by address. */
	static spinlock chans[3], centrals[2];
	for (int i = 0; i < 3; i++)
		chans[i] = (spinlock)SPINLOCK_INIT("t chan", LOCK_RANK_CHAN);
	for (int i = 0; i < 2; i++)
		centrals[i] = (spinlock)SPINLOCK_INIT("t mcentral", LOCK_RANK_MCENTRAL);
	CHECK(lock_ranks[LOCK_RANK_CHAN].nests_by_address);
	CHECK(lock_ranks[LOCK_RANK_MCENTRAL].nests_by_address);

	const spinlock *up[] = { &chans[0], &chans[1] };
	CHECK(violation(up, 2, &chans[2]) == NULL);
	CHECK(violation(up, 1, &chans[2]) == NULL); /* skipping one is fine */
	/* Lower than one held: named, even if above another. */
	const spinlock *ends[] = { &chans[0], &chans[2] };
	CHECK(violation(ends, 2, &chans[1]) == &chans[2]);
	const spinlock *top[] = { &chans[2] };
	CHECK(violation(top, 1, &chans[0]) == &chans[2]);
	/* The same lock twice is never in order. */
	CHECK(violation(top, 1, &chans[2]) == &chans[2]);
	/* Address order within a rank says nothing across ranks. */
	const spinlock *c1[] = { &centrals[1] };
	CHECK(violation(c1, 1, &centrals[0]) == &centrals[1]);
	CHECK(violation(c1, 1, &chans[2]) == &centrals[1]);
	const spinlock *c0[] = { &chans[2], &centrals[0] };
	CHECK(violation(c0, 2, &centrals[1]) == NULL);

	/* Taken for real in address order: no complaint in a debug build,
	 * and each is held by us. */
	spin_lock(&chans[0]);
	spin_lock(&chans[1]);
	spin_lock(&chans[2]);
	bool held = spin_held(&chans[0]) && spin_held(&chans[1]) && spin_held(&chans[2]);
	spin_unlock(&chans[2]);
	spin_unlock(&chans[1]);
	spin_unlock(&chans[0]);
	CHECK(held);
}

TEST(lock, ranks_other_than_chan_and_mcentral_do_not_nest)
{
	for (int r = 0; r < LOCK_RANK_COUNT; r++) {
		CHECK_MSG(lock_ranks[r].name && lock_ranks[r].name[0], "rank %d has no name", r);
		bool nests = r == LOCK_RANK_CHAN || r == LOCK_RANK_MCENTRAL;
		CHECK_MSG(lock_ranks[r].nests_by_address == nests, "rank %s nests by address: %d",
			  lock_ranks[r].name, lock_ranks[r].nests_by_address);
	}
}

TEST(lock, zeroed_lock_ranks_as_sync_object)
{
	/* Zeroed memory is a valid mutex, semaphore, ...: its lock has no
	 * rank of its own and must order like an initialised one. */
	spinlock zero;
	memset(&zero, 0, sizeof zero);
	spinlock cond = SPINLOCK_INIT("t cond", LOCK_RANK_COND);
	spinlock sched = SPINLOCK_INIT("t sched", LOCK_RANK_SCHED);
	spinlock sync = SPINLOCK_INIT("t sync", LOCK_RANK_SYNC);

	CHECK_EQ(spin_rank(&zero), LOCK_RANK_SYNC);
	CHECK_STREQ(spin_name(&zero), lock_ranks[LOCK_RANK_SYNC].name);
	CHECK_STREQ(spin_name(&sched), "t sched");
	const spinlock *hz[] = { &zero }, *hc[] = { &cond }, *hs[] = { &sched },
		       *hy[] = { &sync };
	CHECK(violation(hc, 1, &zero) == NULL);   /* cond -> its zeroed mutex */
	CHECK(violation(hz, 1, &sched) == NULL);  /* -> sched_lock */
	CHECK(violation(hs, 1, &zero) == &sched);
	CHECK(violation(hz, 1, &cond) == &zero);
	CHECK(violation(hy, 1, &zero) == &sync);  /* two sync objects */

	/* A zeroed lock is a free lock and works as one. */
	CHECK(!spin_locked(&zero));
	CHECK(!spin_held(&zero));
	spin_lock(&zero);
	bool zheld = spin_held(&zero), zoff = !arch_irq_enabled();
	spin_unlock(&zero);
	CHECK(zheld);
	CHECK(zoff);
	CHECK(!spin_locked(&zero));
	CHECK(arch_irq_enabled());

	/* And a zeroed mutex works. */
	mutex m;
	memset(&m, 0, sizeof m);
	mutex_lock(&m);
	CHECK(mutex_try_lock(&m) == false);
	mutex_unlock(&m);
	CHECK(mutex_try_lock(&m));
	mutex_unlock(&m);
}

TEST(lock, owner_is_the_running_context)
{
	spinlock l = SPINLOCK_INIT("t owner", LOCK_RANK_SYNC);
	CHECK(!spin_held(&l));
	spin_lock(&l);
	bool held = spin_held(&l);
	const struct arch_context *owner = l.owner;
	bool locked = spin_locked(&l);
	spin_unlock(&l);
	CHECK(held);
	CHECK(owner == arch_current_context());
	CHECK(owner == task_context(task_self()));
	CHECK(locked);
	CHECK(!spin_held(&l));
	CHECK(!spin_locked(&l));
	CHECK(l.owner == NULL);

	/* Locked by another context (as a lock another task holds would be
	 * on SMP): not held by us. */
	arch_context other = { 0 };
	spinlock theirs = SPINLOCK_INIT("t theirs", LOCK_RANK_SYNC);
	CHECK_EQ(spin_ticket_take(&theirs), 0);
	theirs.owner = &other;
	CHECK(spin_locked(&theirs));
	CHECK(!spin_held(&theirs));
	/* Unlocked with a stale owner: not held either. */
	spin_ticket_pass(&theirs);
	theirs.owner = arch_current_context();
	CHECK(!spin_locked(&theirs));
	CHECK(!spin_held(&theirs));
}

struct owner_probe {
	spinlock lock;
	bool held_inside;
	const struct arch_context *owner, *self;
};

static void probe_in_task(void *arg)
{
	struct owner_probe *p = arg;
	spin_lock(&p->lock);
	p->held_inside = spin_held(&p->lock);
	p->owner = p->lock.owner;
	spin_unlock(&p->lock);
	p->self = task_context(task_self());
}

TEST(lock, owner_follows_the_task)
{
	struct owner_probe p = { .lock = SPINLOCK_INIT("t probe", LOCK_RANK_SYNC) };
	task *t = task_spawn(probe_in_task, &p, "lock probe");
	CHECK(t != NULL);
	CHECK_EQ(task_join(t), 0);
	CHECK(p.held_inside);
	CHECK(p.owner == p.self);
	CHECK(p.owner != arch_current_context());
	CHECK(!spin_held(&p.lock));
}

TEST(lock, interrupt_state_restored_by_the_last_release)
{
	spinlock a = SPINLOCK_INIT("t a", LOCK_RANK_SYNC);
	spinlock b = SPINLOCK_INIT("t b", LOCK_RANK_SCHED);
	CHECK(arch_irq_enabled());

	spin_lock(&a);
	bool off_a = !arch_irq_enabled();
	spin_lock(&b);
	bool off_ab = !arch_irq_enabled();
	spin_unlock(&b);
	bool off_after_b = !arch_irq_enabled();
	spin_unlock(&a);
	CHECK(off_a);
	CHECK(off_ab);
	CHECK(off_after_b); /* a still held */
	CHECK(arch_irq_enabled());

	/* Taken with interrupts already off: released, they stay off. */
	arch_irqflags_t irq = arch_irq_save();
	spin_lock(&a);
	spin_unlock(&a);
	bool still_off = !arch_irq_enabled();
	arch_irq_restore(irq);
	CHECK(still_off);
	CHECK(arch_irq_enabled());
}

/* Three nested locks, released middle first, then innermost, then
 * outermost; then the hand-over sched_block_on does (the outer lock's
 * saved state given to the inner one, the outer released first). Records
 * whether interrupts were off after each step. */
static void nested_release_any_order(bool off[6])
{
	spinlock a = SPINLOCK_INIT("t a", LOCK_RANK_SYNC);
	spinlock b = SPINLOCK_INIT("t b", LOCK_RANK_SCHED);
	spinlock c = SPINLOCK_INIT("t c", LOCK_RANK_MHEAP);
	spin_lock(&a);
	spin_lock(&b);
	spin_lock(&c);
	spin_unlock(&b);
	off[0] = !arch_irq_enabled();
	spin_unlock(&c);
	off[1] = !arch_irq_enabled();
	spin_unlock(&a);
	off[2] = !arch_irq_enabled();

	spin_lock(&a);
	spin_lock(&b);
	off[3] = !arch_irq_enabled();
	b.saved_irq = a.saved_irq;
	a.saved_irq = 0; /* stay off: b still held */
	spin_unlock(&a);
	off[4] = !arch_irq_enabled();
	spin_unlock(&b);
	off[5] = !arch_irq_enabled();
}

TEST(lock, nested_release_in_any_order_keeps_interrupts_off_until_the_last)
{
	bool off[6];
	CHECK(arch_irq_enabled());
	nested_release_any_order(off);
	for (int i = 0; i < 6; i++)
		CHECK_MSG(off[i] == (i != 2 && i != 5), "step %d: interrupts %s", i,
			  off[i] ? "off" : "on");
	CHECK(arch_irq_enabled());

	/* Interrupts off before the first lock: off after every step. */
	arch_irqflags_t irq = arch_irq_save();
	nested_release_any_order(off);
	bool still_off = !arch_irq_enabled();
	arch_irq_restore(irq);
	for (int i = 0; i < 6; i++)
		CHECK_MSG(off[i], "step %d: interrupts on", i);
	CHECK(still_off);
	CHECK(arch_irq_enabled());
}

#ifdef TRICOLOR_DEBUG
/* This CPU's held locks, checked against want[0..n). */
static bool held_stack_is(const spinlock *const *want, size_t n)
{
	const spinlock *got[8];
	size_t have = spin_held_locks(got, ARRAY_SIZE(got));
	if (have != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			return false;
	return true;
}
#endif

TEST(lock, held_stack_follows_nesting_and_any_release_order)
{
#ifdef TRICOLOR_DEBUG
	spinlock a = SPINLOCK_INIT("t a", LOCK_RANK_COND);
	spinlock b = SPINLOCK_INIT("t b", LOCK_RANK_SYNC);
	spinlock c = SPINLOCK_INIT("t c", LOCK_RANK_SCHED);
	const spinlock *abc[] = { &a, &b, &c }, *ac[] = { &a, &c }, *a_only[] = { &a };

	CHECK(held_stack_is(NULL, 0));
	spin_lock(&a);
	bool s1 = held_stack_is(a_only, 1);
	spin_lock(&b);
	spin_lock(&c);
	bool s3 = held_stack_is(abc, 3);
	/* Out of order: b goes from the middle. Its saved state is "off"
	 * (a turned interrupts off), so nothing turns them on early. */
	spin_unlock(&b);
	bool s2 = held_stack_is(ac, 2);
	bool off = !arch_irq_enabled();
	spin_unlock(&c);
	bool s1_again = held_stack_is(a_only, 1);
	spin_unlock(&a);
	CHECK(s1);
	CHECK(s3);
	CHECK(s2);
	CHECK(off);
	CHECK(s1_again);
	CHECK(held_stack_is(NULL, 0));
#else
	const spinlock *got[1];
	spinlock a = SPINLOCK_INIT("t a", LOCK_RANK_SYNC);
	spin_lock(&a);
	size_t n = spin_held_locks(got, 1);
	spin_unlock(&a);
	CHECK_EQ(n, 0);
	test_log("skipped: held locks are tracked only in TRICOLOR_DEBUG builds "
		 "(make DEBUG=1); this build reports none");
#endif
}

TEST(lock, lock_all_holds_every_mcentral_in_address_order)
{
	/* mm_lock_all: the largest nesting there is, within one rank. */
	static const spinlock *held[SPANCLASS_COUNT + 2];
	mm_lock_all();
	bool all_held = spin_held(&mheap_global.lock);
	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++)
		all_held = all_held && spin_held(&mheap_global.central[spc].lock);
	size_t n = spin_held_locks(held, ARRAY_SIZE(held));
	mm_unlock_all();
	CHECK(all_held);
	CHECK(!spin_held(&mheap_global.lock));
#ifdef TRICOLOR_DEBUG
	CHECK_EQ(n, SPANCLASS_COUNT + 1);
	for (unsigned spc = 0; spc < SPANCLASS_COUNT; spc++) {
		CHECK(held[spc] == &mheap_global.central[spc].lock);
		if (spc > 0)
			CHECK((uintptr_t)held[spc] > (uintptr_t)held[spc - 1]);
	}
	CHECK(held[SPANCLASS_COUNT] == &mheap_global.lock);
	CHECK_EQ(spin_held_locks(held, ARRAY_SIZE(held)), 0);
#else
	CHECK_EQ(n, 0);
	test_log("held-stack part skipped: tracked only in TRICOLOR_DEBUG builds");
#endif
}
