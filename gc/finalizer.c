/*
 * gc/finalizer.c - finalizers. gc_set_finalizer(obj, fn) records (obj, fn)
 * in a table outside the heap. During marking, what each such object
 * points to is marked, but not the object itself (Go does the same), so an
 * object whose only references are gone stays white. At mark termination
 * every white finalizable object is marked again (resurrected: it and what
 * it reaches survive this cycle), its record moves to the run queue, and
 * the finalizer task calls fn(obj) once. The next cycle that finds obj
 * unreachable frees it for good.
 *
 * Pitfall (as in Go): if a finalizable object is reachable from itself
 * through other objects (a cycle), marking what it points to marks it too,
 * so it is never found unreachable and neither it nor the cycle is ever
 * collected. Break such cycles, or put the finalizer on an object outside
 * the cycle.
 *
 * Locking: the table and queue are touched with interrupts off.
 */
#include "gc/gc_internal.h"

typedef struct finalizer {
	void *obj;
	void (*fn)(void *obj);
	struct finalizer *next;
} finalizer;

/* guarded by interrupts off */
static finalizer *table;     /* registered, object not yet found dead */
static finalizer *run_queue; /* to run, oldest first */
static finalizer **run_tail = &run_queue;
static fixalloc records;
static waitq finalizer_wait;
static spinlock fin_lock = SPINLOCK_INIT("finalizer", LOCK_RANK_FINALIZER);
static uint64_t finalizers_run;
static task *finalizer_task;

bool gc_set_finalizer(void *obj, void (*fn)(void *obj))
{
	gc_object o;
	if (!gc_find_object(obj, &o) || o.base != obj) {
		heap_set_error("gc_set_finalizer: %p is not the start of a heap object", obj);
		return false;
	}
	spin_lock(&fin_lock);
	finalizer **pp = &table;
	while (*pp && (*pp)->obj != obj)
		pp = &(*pp)->next;
	bool ok = true;
	if (!fn) {
		if (*pp) {
			finalizer *f = *pp;
			*pp = f->next;
			fixalloc_free(&records, f);
		}
	} else if (*pp) {
		heap_set_error("gc_set_finalizer: %p already has a finalizer", obj);
		ok = false;
	} else {
		finalizer *f = fixalloc_alloc(&records);
		if (!f) {
			heap_set_error("gc_set_finalizer: out of memory");
			ok = false;
		} else {
			*f = (finalizer){ obj, fn, table };
			table = f;
		}
	}
	spin_unlock(&fin_lock);
	/* Registered while marking, after the finalizer roots were scanned:
	 * what obj points to must be marked in this cycle too, or obj would
	 * look unreachable at termination while its referents are live
	 * (Go's addfinalizer scans the object for the same reason). */
	if (ok && fn && gc_get_phase() != GC_PHASE_OFF) {
		preempt_disable();
		gc_scan_object((uintptr_t)obj);
		preempt_enable();
	}
	return ok;
}

void gc_roots_finalizers(gc_root_fn fn, void *arg)
{
	spin_lock(&fin_lock);
	for (finalizer *f = table; f; f = f->next)
		fn(&(gc_root){ .kind = GC_ROOT_FINALIZER, .value = (uintptr_t)f->obj }, arg);
	/* Queued objects must stay alive until their finalizer has run. */
	for (finalizer *f = run_queue; f; f = f->next)
		fn(&(gc_root){ .kind = GC_ROOT_FINALIZER_QUEUE, .value = (uintptr_t)f->obj }, arg);
	spin_unlock(&fin_lock);
}

void gc_finalizer_scan_roots(void)
{
	gc_roots_finalizers(gc_mark_root, NULL);
}

static bool is_marked(const void *obj)
{
	mspan *s = mspan_of(obj);
	size_t i = mspan_slot_index(s, (uintptr_t)obj);
	return (s->mark_bits[i >> 6] >> (i & 63)) & 1;
}

void gc_finalizer_collect(void)
{
	ASSERT_WORLD_STOPPED();
	bool queued = false;
	spin_lock(&fin_lock);
	finalizer **pp = &table;
	while (*pp) {
		finalizer *f = *pp;
		if (is_marked(f->obj)) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		gc_mark_ptr((uintptr_t)f->obj, 0); /* resurrected for this cycle */
		f->next = NULL;
		*run_tail = f;
		run_tail = &f->next;
		queued = true;
	}
	if (queued)
		waitq_wake_all(&finalizer_wait);
	spin_unlock(&fin_lock);
}

/* Takes f off the queue and runs it, fin_lock held on entry, dropped
 * inside. A function of its own, so that no register or slot of the
 * finalizer task's loop ever holds the object. */
static __attribute__((noinline)) void run_one(finalizer *f)
{
	/* Onto this stack before the record leaves the queue: from then on
	 * this frame is the only thing keeping obj alive (the record lives
	 * in memory the collector does not scan). */
	void *volatile obj = f->obj;
	run_queue = f->next;
	if (!run_queue)
		run_tail = &run_queue;
	spin_unlock(&fin_lock);
	f->fn(obj);
}

static void finalizer_main(void *unused)
{
	(void)unused;
	for (;;) {
		spin_lock(&fin_lock);
		while (!run_queue) {
			sched_block_on(&finalizer_wait, &fin_lock, SWITCH_GC,
				       WAIT_REASON_FINALIZER_WAIT, &finalizer_wait);
			spin_lock(&fin_lock);
		}
		finalizer *f = run_queue;
		run_one(f); /* drops fin_lock */
		/* Done with the object: this task must not keep it alive while
		 * it waits for the next one (a resurrected object dropped later
		 * would never be freed). run_one's registers are restored and
		 * its frames are dead; clear what they left on the stack. */
		task_scrub_stack(SIZE_MAX);
		spin_lock(&fin_lock);
		fixalloc_free(&records, f);
		finalizers_run++;
		spin_unlock(&fin_lock);
	}
}

uint64_t gc_finalizers_run_count(void)
{
	spin_lock(&fin_lock);
	uint64_t n = finalizers_run;
	spin_unlock(&fin_lock);
	return n;
}

void gc_finalizer_init(void)
{
	fixalloc_init(&records, "finalizer", sizeof(finalizer), 8);
	task *t = task_spawn(finalizer_main, NULL, "gc finalizer");
	if (!t)
		panic("gc: cannot start the finalizer task: %s", heap_last_error());
	task_detach(t);
	finalizer_task = t;
}

bool gc_finalizer_is_task(const task *t)
{
	return t == finalizer_task;
}
