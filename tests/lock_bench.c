/*
 * tests/lock_bench.c - the spinlock uncontended: spin_lock + spin_unlock of
 * a free lock on one CPU (ns per pair: interrupts saved and off, a ticket
 * taken with one atomic fetch-and-add, the owner recorded, the ticket
 * passed on, interrupts restored; in a DEBUG=1 build also the order check
 * and the held stack).
 */
#include "arch/arch.h"
#include "lib/lib.h"

#define BENCH_LOCK_PAIRS 1000000

BENCH(lock, lock_unlock, BENCH_LOCK_PAIRS)
{
	static spinlock l = SPINLOCK_INIT("bench lock", LOCK_RANK_SYNC);
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		spin_lock(&l);
		spin_unlock(&l);
	}
	bench_stop(b);
	if (spin_held(&l))
		panic("bench: lock left held");
}
