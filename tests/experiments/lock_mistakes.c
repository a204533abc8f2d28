/*
 * lock_mistakes.c - the spinlock's own checks, which end in a panic and so
 * cannot run inside a test: `make run EXP=tests/experiments/lock_mistakes.c
 * DEBUG=1 CMDLINE=lock_mistake=N` makes mistake N, and
 * tests/host/harness.sh checks the panic names what went wrong:
 *   1  takes a lock against the lock order (debug builds: the check
 *      names both locks and where each was taken);
 *   2  releases the outer of two nested locks first, which would turn
 *      interrupts back on with the inner one held (debug builds);
 *   3  takes a lock it already holds (every build);
 *   4  waits for a lock another CPU never releases (simulated: its ticket
 *      taken by hand for a made-up holder context), with spin_wait_limit
 *      lowered to 2^16 so the bounded wait ends quickly (every build: the
 *      panic names the lock, the tickets and the holder).
 * Without a debug build mistakes 1 and 2 go unnoticed and the experiment
 * returns 1; 0 means no mistake was asked for.
 */
#include "arch/arch.h"
#include "lib/lib.h"

static int64_t lock_mistake;
CMDLINE_INT(lock_mistake, "lock_mistake", 0, 4,
	    "lock_mistakes.c: which mistake to make (see the file)");

static spinlock outer = SPINLOCK_INIT("experiment outer", LOCK_RANK_SYNC);
static spinlock inner = SPINLOCK_INIT("experiment inner", LOCK_RANK_MHEAP);

int experiment(void)
{
	switch (lock_mistake) {
	case 1:
		spin_lock(&inner);
		spin_lock(&outer);
		spin_unlock(&outer);
		spin_unlock(&inner);
		break;
	case 2:
		spin_lock(&outer);
		spin_lock(&inner);
		spin_unlock(&outer);
		spin_unlock(&inner);
		arch_irq_enable(); /* inner's release left them off */
		break;
	case 3:
		spin_lock(&outer);
		spin_lock(&outer);
		break;
	case 4: {
		static arch_context holder;
		spin_ticket_take(&outer);
		outer.owner = &holder;
		spin_wait_limit = 1 << 16;
		spin_lock(&outer);
		break;
	}
	default:
		return 0;
	}
	kprintf("lock mistake %lld went unnoticed (not a debug build)\n",
		(long long)lock_mistake);
	return 1;
}
