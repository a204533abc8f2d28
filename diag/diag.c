/*
 * diag/diag.c - diagnostics that reuse the collector's marking: the
 * task-leak detector, why-alive paths and the escape checker. The first
 * two run inside the collector's quiet-heap bracket (gc_inspect_begin/end:
 * world stopped, no cycle marking, sweep finished, so every mark bit is
 * clear), use the mark bits as their own "reached" or "visited" set, and
 * the bracket clears them again before the world restarts. They are
 * debugging tools: their pauses grow with the heap, unlike a cycle's.
 *
 * They reach the collector only through the inspection section of gc.h.
 * Roots are the collector's own (gc/roots.c hands out the same gc_root
 * records marking uses), objects are walked by the walk marking uses
 * (gc_object_for_each_pointer), and the asking task runs them inside
 * arch_run_spilled, like a collection: its registers are on its stack, and
 * the diagnostic's own frames below the spill point are not taken for
 * references. Scratch memory comes from the page source (never the heap
 * being inspected), is sized to the heap and the task count, and is
 * returned on every path.
 */
#include "chan/chan.h"
#include "diag/diag.h"
#include "gc/gc.h"

/* Backtrace frames kept per task snapshot (leaks are grouped by them). */
#define SNAP_BACKTRACE_DEPTH 16
/* Snapshot room for tasks spawned between sizing it and stopping the world. */
#define SNAP_SLACK_TASKS 64
/* Leaked tasks one leaks_reclaim call reclaims at most. */
#define RECLAIM_MAX_TASKS 256
/* Frames walked to find the function whose frame holds a stack slot. */
#define SLOT_OWNER_FRAMES 32
/* Steps of a why-alive path printed: those nearest the object. */
#define WHY_PATH_MAX_SHOWN 64

/* ---- shared scaffolding ------------------------------------------------- */
/* Temporary memory outside the heap (the heap is what we inspect). NULL if
 * the page source cannot back it; nothing stays reserved then. */
static void *scratch_get(size_t bytes)
{
	bytes = ALIGN_UP(MAX(bytes, 1), ARCH_PAGE_SIZE);
	void *p = arch_reserve(bytes);
	if (p && !heap_commit(p, bytes))
		return NULL; /* reserved address space is never reused: harmless */
	return p;
}

static void scratch_put(void *p, size_t bytes)
{
	if (p)
		arch_decommit(p, ALIGN_UP(MAX(bytes, 1), ARCH_PAGE_SIZE));
}

static bool in_globals(uintptr_t p)
{
	arch_range d = arch_data_range(), b = arch_bss_range();
	return (p >= d.start && p < d.end) || (p >= b.start && p < b.end);
}

static void count_objects(mspan *s, void *arg)
{
	*(size_t *)arg += s->alloc_count;
}

/* ---- task snapshot -------------------------------------------------------- */
typedef struct task_snap {
	task *t;
	task_info info;
	uintptr_t lo, hi; /* live stack */
	bool root;        /* leak detector: scanned as a root (can run or wake) */
	bool leaked;
	size_t npcs;
	uintptr_t pcs[SNAP_BACKTRACE_DEPTH];
} task_snap;

typedef struct snapshot {
	task_snap *snaps;
	size_t n, cap;
} snapshot;

static void snap_one(task *t, void *arg)
{
	snapshot *c = arg;
	if (c->n == c->cap)
		return;
	task_snap *s = &c->snaps[c->n++];
	*s = (task_snap){ .t = t };
	task_get_info_locked(t, &s->info);
	s->npcs = task_backtrace_locked(t, s->pcs, ARRAY_SIZE(s->pcs));
}

/* Scratch for a snapshot of every task; false (with a message) if the page
 * source cannot give it. Taken before the world stops: tasks spawned
 * meanwhile get room from the slack. */
static bool snapshot_alloc(snapshot *sn, const char *who)
{
	sn->n = 0;
	sn->cap = task_count() + SNAP_SLACK_TASKS;
	sn->snaps = scratch_get(sn->cap * sizeof(task_snap));
	if (!sn->snaps)
		kprintf("%s: out of memory for %zu task records\n", who, sn->cap);
	return sn->snaps != NULL;
}

/* World stopped: records every task and its live stack. */
static void snapshot_take(snapshot *sn)
{
	sched_for_each_task(snap_one, sn);
	for (size_t i = 0; i < sn->n; i++) {
		task_snap *s = &sn->snaps[i];
		s->lo = s->hi = 0;
		if (s->info.state != TASK_DEAD)
			task_stack_live_range(s->t, &s->lo, &s->hi);
	}
}

static void snapshot_free(snapshot *sn)
{
	scratch_put(sn->snaps, sn->cap * sizeof(task_snap));
	sn->snaps = NULL;
}

static const task_snap *snap_owning(const snapshot *sn, uintptr_t p)
{
	for (size_t i = 0; i < sn->n; i++)
		if (p >= sn->snaps[i].lo && p < sn->snaps[i].hi)
			return &sn->snaps[i];
	return NULL;
}

/* ---- the task-leak detector ---------------------------------------------- */
/* What can wake a task blocked for reason r. No default: a new wait reason
 * does not compile until it is classified here. */
typedef enum wake_source {
	WAKE_BY_TIMER,  /* it can run again by itself: a root */
	WAKE_BY_OBJECT, /* whoever reaches its wait object (channels, ...) */
	WAKE_NEVER,     /* nothing: Go's nil channel, empty select */
} wake_source;

static wake_source wait_wake_source(wait_reason r)
{
	switch (r) {
	case WAIT_REASON_NONE: /* not blocked */
	case WAIT_REASON_SLEEP:
	case WAIT_REASON_GC_WORKER_ACTIVE:
		return WAKE_BY_TIMER;
	case WAIT_REASON_CHAN_RECEIVE_NIL_CHAN:
	case WAIT_REASON_CHAN_SEND_NIL_CHAN:
	case WAIT_REASON_SELECT_NO_CASES:
		return WAKE_NEVER;
	case WAIT_REASON_TASK_JOIN:
	case WAIT_REASON_SYNC_MUTEX_LOCK:
	case WAIT_REASON_SYNC_RWMUTEX_RLOCK:
	case WAIT_REASON_SYNC_RWMUTEX_LOCK:
	case WAIT_REASON_SYNC_COND_WAIT:
	case WAIT_REASON_SYNC_WAITGROUP_WAIT:
	case WAIT_REASON_SEMACQUIRE:
	case WAIT_REASON_CHAN_RECEIVE:
	case WAIT_REASON_CHAN_SEND:
	case WAIT_REASON_SELECT:
	/* the collector's: their wait queues are globals of gc/ */
	case WAIT_REASON_GC_ASSIST_WAIT:
	case WAIT_REASON_GARBAGE_COLLECTION:
	case WAIT_REASON_GC_WORKER_IDLE:
	case WAIT_REASON_GC_SWEEP_WAIT:
	case WAIT_REASON_FINALIZER_WAIT:
	case WAIT_REASON_COUNT:
		break;
	}
	return WAKE_BY_OBJECT;
}

/* s can run, or will by itself: a root from the start. */
static bool runs_by_itself(const task_snap *s)
{
	return s->info.state != TASK_BLOCKED ||
	       wait_wake_source(s->info.wait_reason) == WAKE_BY_TIMER;
}

/* Can something still running reach what s waits on? Unknown objects
 * count as reachable: the detector reports no false positives. */
static bool can_wake(const task_snap *s, const snapshot *sn)
{
	if (wait_wake_source(s->info.wait_reason) == WAKE_NEVER)
		return false; /* Go: blocks forever */
	const chan *chans[CHAN_SELECT_MAX_CASES];
	size_t nc = chan_waited_channels(s->t, chans, ARRAY_SIZE(chans));
	const void *objs[CHAN_SELECT_MAX_CASES + 1];
	size_t no = 0;
	for (size_t i = 0; i < nc; i++)
		if (chans[i])
			objs[no++] = chans[i];
	if (nc == 0)
		objs[no++] = s->info.wait_object;
	bool wake = false;
	for (size_t i = 0; i < no && !wake; i++) {
		uintptr_t p = (uintptr_t)objs[i];
		const task_snap *owner = snap_owning(sn, p);
		if (!p)
			wake = true; /* a timer (sleep) or nothing known */
		else if (gc_in_heap(objs[i]))
			wake = gc_inspect_marked(objs[i]);
		else if (in_globals(p) || (owner && owner->root))
			wake = true;
		else if (!owner)
			wake = true; /* runtime memory (a task record, ...) */
		/* else: on a blocked task's stack, decided in a later round */
	}
	return wake;
}

static void print_leak_groups(task_snap *snaps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!snaps[i].leaked)
			continue;
		size_t count = 0;
		uint64_t longest = 0;
		for (size_t j = i; j < n; j++) {
			if (!snaps[j].leaked || snaps[j].npcs != snaps[i].npcs ||
			    memcmp(snaps[j].pcs, snaps[i].pcs, snaps[i].npcs * sizeof(uintptr_t)) ||
			    snaps[j].info.wait_reason != snaps[i].info.wait_reason)
				continue;
			count++;
			longest = MAX(longest, snaps[j].info.wait_ns);
			if (j != i)
				snaps[j].leaked = false; /* printed with this group */
		}
		kprintf("%zu leaked task(s) [%s, up to %llu ms], e.g. task %llu '%s':\n", count,
			wait_reason_name(snaps[i].info.wait_reason),
			(unsigned long long)(longest / NS_PER_MS),
			(unsigned long long)snaps[i].info.id, snaps[i].info.name);
		print_backtrace_from(snaps[i].pcs, snaps[i].npcs);
	}
}

/* World stopped, quiet heap. Marks from the collector's roots minus the
 * stacks of blocked tasks, then, to a fixpoint, from each blocked task
 * whose wait object got marked: it can be woken, so it is a root too. Sets
 * root on every task that can run or wake and leaves the marks set;
 * returns how many blocked tasks are left (leaked). */
static size_t mark_from_leak_roots(snapshot *sn)
{
	gc_roots_globals(gc_mark_root, NULL);
	gc_roots_finalizers(gc_mark_root, NULL);
	for (size_t i = 0; i < sn->n; i++) {
		task_snap *s = &sn->snaps[i];
		if (s->info.state == TASK_DEAD)
			continue;
		if (runs_by_itself(s)) {
			s->root = true;
			gc_roots_task(s->t, gc_mark_root, NULL);
		}
	}
	for (bool changed = true; changed;) {
		gc_inspect_drain();
		changed = false;
		for (size_t i = 0; i < sn->n; i++) {
			task_snap *s = &sn->snaps[i];
			if (s->root || s->info.state != TASK_BLOCKED || !can_wake(s, sn))
				continue;
			s->root = true;
			gc_roots_task(s->t, gc_mark_root, NULL);
			changed = true;
		}
	}
	size_t leaked = 0;
	for (size_t i = 0; i < sn->n; i++) {
		task_snap *s = &sn->snaps[i];
		s->leaked = !s->root && s->info.state == TASK_BLOCKED;
		leaked += s->leaked;
	}
	return leaked;
}

struct leak_query {
	uint64_t *ids;
	size_t max_ids, result;
	bool print;
};

static void find_leaks_spilled(void *arg)
{
	struct leak_query *q = arg;
	snapshot sn;
	q->result = 0;
	if (!snapshot_alloc(&sn, "leaks"))
		return;
	gc_inspect_begin("leak detector");
	snapshot_take(&sn);
	size_t leaked = mark_from_leak_roots(&sn), k = 0;
	for (size_t i = 0; i < sn.n && k < q->max_ids; i++)
		if (sn.snaps[i].leaked)
			q->ids[k++] = sn.snaps[i].info.id;
	gc_inspect_end();
	size_t checked = 0; /* live tasks, as task_count() counts them */
	for (size_t i = 0; i < sn.n; i++)
		checked += sn.snaps[i].info.state != TASK_DEAD && !task_is_idle(sn.snaps[i].t);
	if (q->print) {
		if (leaked == 0)
			kprintf("no leaked tasks (%zu tasks checked)\n", checked);
		else
			kprintf("%zu of %zu tasks can never wake:\n", leaked, checked);
		print_leak_groups(sn.snaps, sn.n);
	}
	snapshot_free(&sn);
	q->result = leaked;
}

size_t leaks_find(uint64_t *ids, size_t max_ids, bool print)
{
	struct leak_query q = { ids, ids ? max_ids : 0, 0, print };
	arch_run_spilled(find_leaks_spilled, &q);
	return q.result;
}

size_t leaks_reclaim(bool print)
{
	/* Zeroed: this frame is scanned as part of the asking task's stack,
	 * and stale words in an uninitialised array would look like
	 * references. */
	uint64_t ids[RECLAIM_MAX_TASKS] = { 0 };
	size_t n = leaks_find(ids, ARRAY_SIZE(ids), print), done = 0;
	for (size_t i = 0; i < MIN(n, ARRAY_SIZE(ids)); i++)
		done += task_reclaim(ids[i]);
	/* Let them run (and die) before we return. */
	task_yield();
	if (print)
		kprintf("reclaimed %zu leaked task(s)\n", done);
	return done;
}

/* ---- why-alive: the shortest path from a root ----------------------------- */
/*
 * Breadth first from the roots, so the first time the target is met the
 * path is a shortest one. Each object enters the queue at most once (its
 * mark bit is the visited flag), so the queue needs one node per allocated
 * object, counted with the world stopped.
 */
typedef struct bfs_node {
	uintptr_t obj;
	int64_t parent;        /* index of the node that reached it; -1: a root */
	uintptr_t from;        /* the word that held the pointer (root slot or field);
				* a task's start argument: the task's id */
	gc_root_kind root;     /* parent < 0: which kind of root */
} bfs_node;

struct bfs {
	bfs_node *q;
	size_t head, tail, cap;
	uintptr_t target;
	int64_t found;
	int64_t parent;      /* node being scanned, or -1 while seeding roots */
	gc_root_kind root;   /* while seeding: the root's kind */
	/* Stacks that do not count as roots in this search. */
	const snapshot *sn;
	bool skip_self;      /* the asking (running) task's stack */
	bool leak_roots;     /* only tasks the leak detector found able to run */
};

static void bfs_visit(struct bfs *b, uintptr_t v, uintptr_t from)
{
	gc_object o;
	if (b->found >= 0 || !gc_inspect_visit((void *)v, &o))
		return; /* not an object, or visited already */
	ASSERT(b->tail < b->cap); /* one node per allocated object */
	b->q[b->tail] = (bfs_node){ (uintptr_t)o.base, b->parent, from, b->root };
	if ((uintptr_t)o.base == b->target)
		b->found = (int64_t)b->tail;
	b->tail++;
}

/* The walkers' visitor (gc.h): what points into the heap is a step. */
static void bfs_word(uintptr_t at, uintptr_t v, void *b)
{
	if (gc_in_heap((void *)v))
		bfs_visit(b, v, at);
}

static void bfs_range(struct bfs *b, uintptr_t lo, uintptr_t hi)
{
	gc_range_for_each_word(lo, hi, bfs_word, b);
}

/* Visits obj's pointer fields: the words marking reads. */
static void bfs_scan_object(struct bfs *b, uintptr_t obj)
{
	gc_object_for_each_pointer(obj, bfs_word, b);
}

static bool bfs_task_counts(const struct bfs *b, const task *t)
{
	if (b->skip_self && t == task_self())
		return false;
	if (b->leak_roots) {
		for (size_t i = 0; i < b->sn->n; i++)
			if (b->sn->snaps[i].t == t)
				return b->sn->snaps[i].root;
	}
	return true;
}

/* The roots, level 0 of the search: the same gc_root records marking uses. */
static void bfs_root(const gc_root *r, void *arg)
{
	struct bfs *b = arg;
	if (r->task && !bfs_task_counts(b, r->task))
		return;
	b->root = r->kind;
	switch (r->kind) {
	case GC_ROOT_GLOBALS:
	case GC_ROOT_RUNTIME:
	case GC_ROOT_STACK:
		bfs_range(b, r->lo, r->hi);
		break;
	case GC_ROOT_TASK_ARG:
		bfs_visit(b, r->value, task_id(r->task));
		break;
	case GC_ROOT_FINALIZER:
		bfs_scan_object(b, r->value);
		break;
	case GC_ROOT_FINALIZER_QUEUE:
		bfs_visit(b, r->value, 0);
		break;
	}
}

/* World stopped, mark bits clear: runs the search; true if found. */
static bool bfs_run(struct bfs *b)
{
	b->head = b->tail = 0;
	b->found = -1;
	b->parent = -1;
	gc_roots_globals(bfs_root, b);
	gc_roots_finalizers(bfs_root, b);
	for (size_t i = 0; i < b->sn->n; i++)
		if (b->sn->snaps[i].info.state != TASK_DEAD)
			gc_roots_task(b->sn->snaps[i].t, bfs_root, b);
	while (b->found < 0 && b->head < b->tail) {
		b->parent = (int64_t)b->head;
		bfs_scan_object(b, b->q[b->head++].obj);
	}
	return b->found >= 0;
}

struct runtime_root_find {
	uintptr_t slot;
	const char *name;
};

static void find_runtime_root(const gc_root *r, void *arg)
{
	struct runtime_root_find *f = arg;
	if (r->kind == GC_ROOT_RUNTIME && f->slot >= r->lo && f->slot < r->hi)
		f->name = r->name;
}

static const char *type_name(const gc_type *t)
{
	return t ? t->name : "noscan";
}

static void describe_root(const bfs_node *nd, const snapshot *sn)
{
	uintptr_t off, slot = nd->from;
	switch (nd->root) {
	case GC_ROOT_GLOBALS: {
		const char *name = arch_symbolize(slot, &off);
		if (name)
			kprintf("  global %s+0x%lx\n", name, (unsigned long)off);
		else
			kprintf("  global at %p\n", (void *)slot);
		return;
	}
	case GC_ROOT_RUNTIME: {
		struct runtime_root_find f = { slot, NULL };
		gc_roots_globals(find_runtime_root, &f);
		kprintf("  runtime root '%s', word at %p\n", f.name ? f.name : "?", (void *)slot);
		return;
	}
	case GC_ROOT_TASK_ARG:
		kprintf("  the start argument of task %llu (it has not copied it yet)\n",
			(unsigned long long)slot);
		return;
	case GC_ROOT_FINALIZER_QUEUE:
		kprintf("  the finalizer queue (its finalizer has not run yet)\n");
		return;
	case GC_ROOT_FINALIZER: {
		gc_object o;
		if (gc_find_object((void *)slot, &o))
			kprintf("  a field (+%lu) of %p %s, which has a finalizer (finalizable "
				"objects keep what they point to)\n",
				(unsigned long)(slot - (uintptr_t)o.base), o.base, type_name(o.type));
		return;
	}
	case GC_ROOT_STACK:
		break;
	}
	const task_snap *s = snap_owning(sn, slot);
	if (!s) {
		kprintf("  stack slot %p\n", (void *)slot);
		return;
	}
	/* The innermost frame at or above the slot owns it. */
	uintptr_t pcs[SLOT_OWNER_FRAMES], fps[SLOT_OWNER_FRAMES];
	arch_context ctx = *task_context(s->t);
	if (s->t == task_self())
		ctx.sp = ctx.spill_sp; /* the spill frame reads like a switch frame */
	size_t nf = arch_context_frames(&ctx, pcs, fps, ARRAY_SIZE(pcs));
	const char *fn = NULL;
	for (size_t f = 0; f < nf; f++) {
		if (fps[f] >= slot) {
			fn = arch_symbolize(pcs[f] - 1, &off);
			break;
		}
	}
	kprintf("  task %llu '%s' (%s), stack slot %p (%lu bytes below its top)%s%s\n",
		(unsigned long long)s->info.id, s->info.name, task_state_name(s->info.state),
		(void *)slot, (unsigned long)(s->hi - slot), fn ? ", in " : "", fn ? fn : "");
}

/* Prints the path the search found to b->found; returns its length. */
static int print_path(const struct bfs *b, const snapshot *sn)
{
	int64_t chain[WHY_PATH_MAX_SHOWN];
	int depth = 0, total = 0;
	for (int64_t k = b->found; k >= 0; k = b->q[k].parent, total++)
		if (depth < (int)ARRAY_SIZE(chain))
			chain[depth++] = k;
	/* chain[depth-1] is the root end unless the path is longer than
	 * WHY_PATH_MAX_SHOWN. */
	if (total > depth)
		kprintf("  (the first %d of %d steps from the root are not shown)\n", total - depth,
			total);
	else
		describe_root(&b->q[chain[depth - 1]], sn);
	for (int k = depth - 1; k >= 0; k--) {
		const bfs_node *nd = &b->q[chain[k]];
		gc_object o;
		gc_find_object((void *)nd->obj, &o);
		if (nd->parent < 0)
			kprintf("  -> %p %s\n", (void *)nd->obj, type_name(o.type));
		else
			kprintf("  -> (field at +%lu) -> %p %s\n",
				(unsigned long)(nd->from - b->q[nd->parent].obj), (void *)nd->obj,
				type_name(o.type));
	}
	return total;
}

struct why_query {
	const void *p;      /* an object */
	uint64_t task_id;   /* or a task whose wait object(s) to explain */
	int result;
};

/* Scratch for a search over every allocated object: world stopped. */
static bool bfs_alloc(struct bfs *b, const char *who)
{
	size_t objects = 0;
	heap_for_each_span(count_objects, &objects);
	b->cap = objects;
	b->q = scratch_get(b->cap * sizeof(bfs_node));
	if (!b->q)
		kprintf("%s: out of memory for a search over %zu objects (%zu KiB)\n", who, objects,
			objects * sizeof(bfs_node) / BYTES_PER_KIB);
	return b->q != NULL;
}

static void why_alive_spilled(void *arg)
{
	struct why_query *q = arg;
	snapshot sn;
	gc_object target;
	q->result = WHY_NO_MEMORY;
	if (!snapshot_alloc(&sn, "why"))
		return;
	gc_inspect_begin("why-alive");
	struct bfs b = { .sn = &sn };
	if (!gc_find_object(q->p, &target)) {
		kprintf("why: %p is not an allocated heap object\n", q->p);
		q->result = WHY_NOT_OBJECT;
	} else if (bfs_alloc(&b, "why")) {
		snapshot_take(&sn);
		b.target = (uintptr_t)target.base;
		/* The asking task's own stack is no root here: the code that
		 * asks holds p, and that is not why p is alive. */
		b.skip_self = true;
		if (bfs_run(&b)) {
			kprintf("%p (%s, %zu bytes) is alive through %s:\n", q->p,
				type_name(target.type), target.size, "a path from a root");
			q->result = print_path(&b, &sn);
		} else {
			q->result = 0;
			gc_inspect_clear_marks();
			b.skip_self = false;
			if (bfs_run(&b)) {
				kprintf("%p (%s, %zu bytes) is reachable only from the asking task's "
					"own stack: garbage once it lets go:\n", q->p,
					type_name(target.type), target.size);
				print_path(&b, &sn);
			} else {
				kprintf("%p (%s, %zu bytes) is not reachable from any root: garbage "
					"the next cycle frees\n", q->p, type_name(target.type),
					target.size);
			}
		}
		scratch_put(b.q, b.cap * sizeof(bfs_node));
	}
	gc_inspect_end();
	snapshot_free(&sn);
}

int why_alive(const void *p)
{
	struct why_query q = { .p = p };
	arch_run_spilled(why_alive_spilled, &q);
	return q.result;
}

/* Why the leak detector does not count task id as leaked: it can run, or
 * what it waits on is reachable from the tasks that can. */
static void why_task_spilled(void *arg)
{
	struct why_query *q = arg;
	snapshot sn;
	q->result = WHY_NO_MEMORY;
	if (!snapshot_alloc(&sn, "why task"))
		return;
	gc_inspect_begin("why-alive (task)");
	snapshot_take(&sn);
	mark_from_leak_roots(&sn);
	const task_snap *s = NULL;
	for (size_t i = 0; i < sn.n; i++)
		if (sn.snaps[i].info.id == q->task_id && sn.snaps[i].info.state != TASK_DEAD)
			s = &sn.snaps[i];
	struct bfs b = { .sn = &sn, .leak_roots = true };
	if (!s) {
		kprintf("why task: no live task %llu\n", (unsigned long long)q->task_id);
		q->result = WHY_NOT_OBJECT;
	} else if (s->leaked) {
		kprintf("task %llu '%s' is leaked: it waits (%s) on what no task that can run "
			"reaches\n", (unsigned long long)s->info.id, s->info.name,
			wait_reason_name(s->info.wait_reason));
		q->result = 0;
	} else if (runs_by_itself(s)) {
		bool has_reason = s->info.wait_reason != WAIT_REASON_NONE;
		kprintf("task %llu '%s' is %s%s%s: it can run, so it is a root\n",
			(unsigned long long)s->info.id, s->info.name,
			task_state_name(s->info.state), has_reason ? ", " : "",
			wait_reason_name(s->info.wait_reason));
		q->result = 0;
	} else if (bfs_alloc(&b, "why task")) {
		/* What it waits on: its channels, or its wait object. */
		const chan *chans[CHAN_SELECT_MAX_CASES];
		size_t nc = chan_waited_channels(s->t, chans, ARRAY_SIZE(chans));
		if (nc == 0) {
			chans[0] = s->info.wait_object;
			nc = 1;
		}
		kprintf("task %llu '%s' waits (%s) on what a task that can run reaches:\n",
			(unsigned long long)s->info.id, s->info.name,
			wait_reason_name(s->info.wait_reason));
		q->result = 0;
		for (size_t i = 0; i < nc && q->result == 0; i++) {
			uintptr_t w = (uintptr_t)chans[i];
			const task_snap *owner = snap_owning(&sn, w);
			if (!gc_find_object(chans[i], NULL)) {
				kprintf("  %p, %s\n", (void *)w,
					in_globals(w) ? "a global"
					: owner ? "on the stack of a task that can run"
						: "runtime memory (assumed reachable)");
				q->result = 1;
				continue;
			}
			gc_inspect_clear_marks();
			gc_object o;
			gc_find_object(chans[i], &o);
			b.target = (uintptr_t)o.base;
			if (bfs_run(&b))
				q->result = print_path(&b, &sn);
		}
		scratch_put(b.q, b.cap * sizeof(bfs_node));
	}
	gc_inspect_end();
	snapshot_free(&sn);
}

int why_task(uint64_t id)
{
	struct why_query q = { .task_id = id };
	arch_run_spilled(why_task_spilled, &q);
	return q.result;
}

/* ---- the escape checker ------------------------------------------------------ */
static bool escape_opt_at_termination;
CMDLINE_BOOL(escape_opt_at_termination, "escapecheck",
	     "at each mark termination, report heap objects and globals holding "
	     "pointers into task stacks");

struct escape_ctx {
	task_snap *snaps;
	size_t n, found;
	bool print;
};

static struct escape_ctx *esc_now;

static void escape_word(uintptr_t holder, uintptr_t at, uintptr_t v)
{
	struct escape_ctx *c = esc_now;
	for (size_t i = 0; i < c->n; i++) {
		const task_snap *s = &c->snaps[i];
		if (v < s->lo || v >= s->hi || s->info.state == TASK_DEAD)
			continue;
		c->found++;
		if (!c->print)
			return;
		gc_object o;
		if (holder && gc_find_object((void *)holder, &o)) {
			uintptr_t pc = heapprof_site_of((void *)holder), off;
			const char *fn = pc ? arch_symbolize(pc - 1, &off) : NULL;
			kprintf("escape: %s object %p (+%lu) holds %p, inside the stack of task "
				"%llu '%s'; allocated at %s\n", o.type ? o.type->name : "noscan",
				(void *)holder, (unsigned long)(at - holder), (void *)v,
				(unsigned long long)s->info.id, s->info.name,
				fn ? fn : "(unknown: run with heapprof_rate=1)");
		} else {
			uintptr_t off;
			const char *g = arch_symbolize(at, &off);
			kprintf("escape: global %s+0x%lx holds %p, inside the stack of task %llu '%s'\n",
				g ? g : "?", (unsigned long)off, (void *)v,
				(unsigned long long)s->info.id, s->info.name);
		}
		return;
	}
	if (stack_is_freed_range(v)) {
		c->found++;
		if (c->print)
			kprintf("escape: %s %p holds %p, a dangling pointer into a dead task's stack\n",
				holder ? "object" : "global at", (void *)(holder ? holder : at), (void *)v);
	}
}

/* The walker's visitor (gc.h): a word outside the heap may point into a
 * stack; holder is the object being scanned (0: a global). */
static void escape_visit(uintptr_t at, uintptr_t v, void *holder)
{
	if (v && !gc_in_heap((void *)v))
		escape_word((uintptr_t)holder, at, v);
}

static void escape_range(uintptr_t holder, uintptr_t lo, uintptr_t hi)
{
	gc_range_for_each_word(lo, hi, escape_visit, (void *)holder);
}

static void escape_span(mspan *s, void *arg)
{
	(void)arg;
	if (!s->types)
		return;
	for (size_t i = 0; i < s->nelems; i++) {
		if (!mspan_slot_allocated(s, i))
			continue;
		uintptr_t base = s->base + i * s->elemsize;
		escape_range(base, base, base + s->elemsize);
	}
}

size_t escape_check(bool print)
{
	snapshot sn;
	if (!snapshot_alloc(&sn, "escape check"))
		return 0;
	bool stopped_here = !world_stopped();
	if (stopped_here)
		stop_the_world("escape check");
	/* Whole stacks, not just their live parts: a pointer below a
	 * task's stack pointer dangles as surely as one into a dead task's. */
	sched_for_each_task(snap_one, &sn);
	task_snap *snaps = sn.snaps;
	for (size_t i = 0; i < sn.n; i++) {
		snaps[i].lo = snaps[i].hi = 0;
		if (snaps[i].info.state != TASK_DEAD) {
			const arch_context *c = task_context(snaps[i].t);
			snaps[i].lo = (uintptr_t)c->stack_base;
			snaps[i].hi = snaps[i].lo + c->stack_size;
		}
	}
	/* Static, not a local: a global pointing into this stack would be
	 * an escape of our own. */
	static struct escape_ctx ec;
	ec = (struct escape_ctx){ snaps, sn.n, 0, print };
	esc_now = &ec;
	/* Globals, except the boot context: the arch's own record of the
	 * main task's stack (its bounds and saved stack pointer). */
	arch_range d = arch_data_range(), b = arch_bss_range();
	uintptr_t bc = (uintptr_t)arch_boot_context(), bc_end = bc + sizeof(arch_context);
	escape_range(0, d.start, d.end);
	if (bc >= b.start && bc_end <= b.end) {
		escape_range(0, b.start, bc);
		escape_range(0, bc_end, b.end);
	} else {
		escape_range(0, b.start, b.end);
	}
	heap_for_each_span(escape_span, NULL);
	esc_now = NULL;
	if (stopped_here)
		start_the_world();
	snapshot_free(&sn);
	return ec.found;
}

/* ---- start-up ------------------------------------------------------------------ */
static void escape_check_at_termination(void)
{
	escape_check(true);
}

void diag_init(void)
{
	heapprof_init();
	if (escape_opt_at_termination)
		gc_set_termination_hook(escape_check_at_termination);
}
