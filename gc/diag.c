/*
 * gc/diag.c - diagnostics that reuse the collector's marking: the task-leak
 * detector, why-alive paths, the escape checker and the colour census.
 * Each runs with the world stopped on a quiet heap (no cycle marking, sweep
 * finished, so every mark bit is clear), uses the mark bits as its own
 * "visited" set, and clears them again before the world restarts. They are
 * debugging tools: their pauses grow with the heap, unlike a cycle's.
 */
#include "gc/gc_internal.h"

/* ---- shared scaffolding ------------------------------------------------- */
/* Temporary memory outside the heap (the heap is what we inspect). */
static void *scratch_get(size_t bytes)
{
	bytes = ALIGN_UP(bytes, ARCH_PAGE_SIZE);
	void *p = arch_reserve(bytes);
	if (p && !heap_commit(p, bytes))
		return NULL;
	return p;
}

static void scratch_put(void *p, size_t bytes)
{
	if (p)
		arch_decommit(p, ALIGN_UP(bytes, ARCH_PAGE_SIZE));
}

static void clear_marks(mspan *s, void *arg)
{
	(void)arg;
	memset(s->mark_bits, 0, MSPAN_BITMAP_WORDS(s->nelems) * sizeof(uint64_t));
}

/* Waits out any cycle, finishes the sweep, stops the world. */
static void quiet_heap_stop(const char *why)
{
	while (gc_get_phase() != GC_PHASE_OFF)
		gc_wait_for_cycle_end();
	for (;;) {
		heap_finish_sweep();
		stop_the_world(why);
		if (gc_get_phase() == GC_PHASE_OFF && heap_sweep_complete())
			return;
		start_the_world();
		while (gc_get_phase() != GC_PHASE_OFF)
			gc_wait_for_cycle_end();
	}
}

static void quiet_heap_start(uint64_t marked, uint64_t work)
{
	heap_for_each_span(clear_marks, NULL);
	gc.marked_bytes = marked;
	gc.scan_work = work;
	start_the_world();
}

static bool object_marked(const void *p)
{
	gc_object o;
	if (!gc_find_object(p, &o))
		return false;
	size_t i = mspan_slot_index(o.span, (uintptr_t)o.base);
	return (o.span->mark_bits[i >> 6] >> (i & 63)) & 1;
}

static bool in_globals(uintptr_t p)
{
	arch_range d = arch_data_range(), b = arch_bss_range();
	return (p >= d.start && p < d.end) || (p >= b.start && p < b.end);
}

/* ---- task snapshot -------------------------------------------------------- */
typedef struct task_snap {
	task *t;
	task_info info;
	uintptr_t lo, hi; /* live stack */
	bool root;        /* scanned as a root */
	bool leaked;
	size_t npcs;
	uintptr_t pcs[16];
} task_snap;

struct snap_ctx {
	task_snap *snaps;
	size_t n, cap;
};

static void snap_one(task *t, void *arg)
{
	struct snap_ctx *c = arg;
	if (c->n == c->cap)
		return;
	task_snap *s = &c->snaps[c->n++];
	*s = (task_snap){ .t = t };
	task_get_info_locked(t, &s->info);
	s->npcs = task_backtrace_locked(t, s->pcs, ARRAY_SIZE(s->pcs));
}

/* ---- the task-leak detector ---------------------------------------------- */
static bool in_root_stack(const task_snap *snaps, size_t n, uintptr_t p)
{
	for (size_t i = 0; i < n; i++)
		if (snaps[i].root && p >= snaps[i].lo && p < snaps[i].hi)
			return true;
	return false;
}

static bool in_any_stack(const task_snap *snaps, size_t n, uintptr_t p)
{
	for (size_t i = 0; i < n; i++)
		if (p >= snaps[i].lo && p < snaps[i].hi)
			return true;
	return false;
}

/* Can something still running reach what s waits on? Unknown objects
 * count as reachable: the detector reports no false positives. */
static bool can_wake(const task_snap *s, const task_snap *snaps, size_t n)
{
	const char *r = s->info.wait_reason;
	if (r && (strcmp(r, "select (no cases)") == 0 || strstr(r, "(nil chan)")))
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
		if (!p)
			wake = true; /* a timer (sleep) or nothing known */
		else if (gc_in_heap(objs[i]))
			wake = object_marked(objs[i]);
		else if (in_globals(p) || in_root_stack(snaps, n, p))
			wake = true;
		else if (!in_any_stack(snaps, n, p))
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
			    strcmp(snaps[j].info.wait_reason ? snaps[j].info.wait_reason : "",
				   snaps[i].info.wait_reason ? snaps[i].info.wait_reason : ""))
				continue;
			count++;
			longest = MAX(longest, snaps[j].info.wait_ns);
			if (j != i)
				snaps[j].leaked = false; /* printed with this group */
		}
		kprintf("%zu leaked task(s) [%s, up to %llu ms], e.g. task %llu '%s':\n", count,
			snaps[i].info.wait_reason ? snaps[i].info.wait_reason : "?",
			(unsigned long long)(longest / 1000000),
			(unsigned long long)snaps[i].info.id, snaps[i].info.name);
		print_backtrace_from(snaps[i].pcs, snaps[i].npcs);
	}
}

/*
 * Where the asking task's stack scan starts: just below the asking
 * function's frame pointer, where its prologue saved the caller's
 * callee-saved registers (__builtin_unwind_init makes it save all of them),
 * so the caller's values count but the diagnostic's own locals and deeper
 * frames (and what earlier runs left there) are not taken for references.
 */
#define ASKER_SAVED_REGS_BYTES (8 * sizeof(uintptr_t))

/* Scans a root task; the asking task from its caller's state up. */
static void scan_root_task(task_snap *s, uintptr_t caller_frame)
{
	if (s->t == task_self() && caller_frame > s->lo && caller_frame < s->hi) {
		gc_mark_ptr((uintptr_t)task_start_arg(s->t), 0);
		gc_scan_conservative(caller_frame, s->hi, 0);
		return;
	}
	gc_scan_task(s->t);
}

__attribute__((noinline)) size_t gc_find_leaks(uint64_t *ids, size_t max_ids, bool print)
{
	__builtin_unwind_init();
	uintptr_t caller_frame = (uintptr_t)__builtin_frame_address(0) - ASKER_SAVED_REGS_BYTES;
	size_t cap = task_count() + 64;
	task_snap *snaps = scratch_get(cap * sizeof(task_snap));
	if (!snaps) {
		kprintf("leaks: out of memory for %zu task records\n", cap);
		return 0;
	}
	quiet_heap_stop("leak detector");
	uint64_t marked = gc.marked_bytes, work = gc.scan_work;
	struct snap_ctx ctx = { snaps, 0, cap };
	sched_for_each_task(snap_one, &ctx);
	size_t n = ctx.n;
	for (size_t i = 0; i < n; i++)
		task_stack_live_range(snaps[i].t, &snaps[i].lo, &snaps[i].hi);

	/* Roots: globals, runtime roots, finalizers, and every task that can
	 * run (runnable, running, sleeping). */
	gc_scan_globals();
	gc_scan_extra_roots();
	gc_finalizer_scan_roots();
	for (size_t i = 0; i < n; i++) {
		task_snap *s = &snaps[i];
		if (s->info.state == TASK_DEAD)
			continue;
		if (s->info.state != TASK_BLOCKED || !s->info.wait_reason ||
		    strcmp(s->info.wait_reason, "sleep") == 0) {
			s->root = true;
			scan_root_task(s, caller_frame);
		}
	}
	/* A blocked task whose wait object got marked can be woken by a
	 * root: it becomes a root too. Repeat until nothing changes. */
	for (bool changed = true; changed;) {
		while (gc_drain(UINT64_MAX) > 0)
			;
		changed = false;
		for (size_t i = 0; i < n; i++) {
			task_snap *s = &snaps[i];
			if (s->root || s->info.state != TASK_BLOCKED || !can_wake(s, snaps, n))
				continue;
			s->root = true;
			scan_root_task(s, caller_frame);
			changed = true;
		}
	}
	size_t leaked = 0;
	for (size_t i = 0; i < n; i++) {
		task_snap *s = &snaps[i];
		if (s->root || s->info.state != TASK_BLOCKED)
			continue;
		s->leaked = true;
		if (leaked < max_ids)
			ids[leaked] = s->info.id;
		leaked++;
	}
	quiet_heap_start(marked, work);
	if (print) {
		if (leaked == 0)
			kprintf("no leaked tasks (%zu tasks checked)\n", n);
		else
			kprintf("%zu of %zu tasks can never wake:\n", leaked, n);
		print_leak_groups(snaps, n);
	}
	scratch_put(snaps, cap * sizeof(task_snap));
	return leaked;
}

size_t gc_reclaim_leaks(bool print)
{
	/* Zeroed: this frame is scanned as part of the asking task's stack,
	 * and stale words in an uninitialised array would look like
	 * references. */
	uint64_t ids[256] = { 0 };
	size_t n = gc_find_leaks(ids, ARRAY_SIZE(ids), print), done = 0;
	for (size_t i = 0; i < MIN(n, ARRAY_SIZE(ids)); i++)
		done += task_reclaim(ids[i]);
	/* Let them run (and die) before we return. */
	task_yield();
	if (print)
		kprintf("reclaimed %zu leaked task(s)\n", done);
	return done;
}

/* ---- why-alive: the shortest path from a root ----------------------------- */
typedef struct bfs_node {
	uintptr_t obj;
	int64_t parent;  /* index of the node that reached it; -1: a root */
	uintptr_t from;  /* the word that held the pointer (root slot or field) */
} bfs_node;

struct bfs {
	bfs_node *q;
	size_t head, tail, cap;
	uintptr_t target;
	int64_t found;
	int64_t parent; /* node being scanned, or -1 while seeding roots */
};

static struct bfs *bfs_now;

static void bfs_visit(uintptr_t v, uintptr_t from)
{
	struct bfs *b = bfs_now;
	gc_object o;
	if (b->found >= 0 || !gc_find_object((void *)v, &o))
		return;
	size_t i = mspan_slot_index(o.span, (uintptr_t)o.base);
	uint64_t *w = &o.span->mark_bits[i >> 6];
	if (*w & (1ULL << (i & 63)))
		return;
	*w |= 1ULL << (i & 63);
	if (b->tail == b->cap)
		return; /* out of room: the path may be longer than shown */
	b->q[b->tail] = (bfs_node){ (uintptr_t)o.base, b->parent, from };
	if ((uintptr_t)o.base == b->target)
		b->found = (int64_t)b->tail;
	b->tail++;
}

__attribute__((no_sanitize_address)) static void bfs_range(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t a = ALIGN_UP(lo, 8); a + 8 <= hi; a += 8) {
		uintptr_t v = *(volatile const uintptr_t *)a;
		if (gc_in_heap((void *)v))
			bfs_visit(v, a);
	}
}

static void bfs_scan_object(uintptr_t obj)
{
	gc_object o;
	if (!gc_find_object((void *)obj, &o) || !o.type)
		return;
	if (o.type->flags & GC_TYPE_CONSERVATIVE) {
		bfs_range(obj, obj + o.size);
		return;
	}
	for (size_t e = 0; e < o.size / o.type->size; e++) {
		uintptr_t el = obj + e * o.type->size;
		for (size_t w = 0; w < o.type->size / 8; w++)
			if ((o.type->ptrmask[w / 64] >> (w % 64)) & 1) {
				uintptr_t v = *(const uintptr_t *)(el + w * 8);
				if (v)
					bfs_visit(v, el + w * 8);
			}
	}
}

static void describe_root(uintptr_t slot, const task_snap *snaps, size_t n)
{
	uintptr_t off;
	if (in_globals(slot)) {
		const char *name = arch_symbolize(slot, &off);
		if (name)
			kprintf("  global %s+0x%lx\n", name, (unsigned long)off);
		else
			kprintf("  global at %p\n", (void *)slot);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (slot < snaps[i].lo || slot >= snaps[i].hi)
			continue;
		/* The innermost frame at or above the slot owns it. */
		uintptr_t pcs[32], fps[32];
		size_t nf = 0;
		if (snaps[i].t != task_self())
			nf = arch_context_frames(task_context(snaps[i].t), pcs, fps, 32);
		const char *fn = NULL;
		for (size_t f = 0; f < nf; f++) {
			if (fps[f] >= slot) {
				fn = arch_symbolize(pcs[f] - 1, &off);
				break;
			}
		}
		kprintf("  task %llu '%s', stack slot %p (%lu bytes below its top)%s%s\n",
			(unsigned long long)snaps[i].info.id, snaps[i].info.name, (void *)slot,
			(unsigned long)(snaps[i].hi - slot), fn ? ", in " : "", fn ? fn : "");
		return;
	}
	kprintf("  runtime root at %p\n", (void *)slot);
}

__attribute__((noinline)) int gc_why_alive(const void *p)
{
	gc_object target;
	if (!gc_find_object(p, &target)) {
		kprintf("why: %p is not an allocated heap object\n", p);
		return -1;
	}
	size_t cap = 1 << 20;
	struct bfs b = { .q = scratch_get(cap * sizeof(bfs_node)), .cap = cap,
			 .target = (uintptr_t)target.base, .found = -1, .parent = -1 };
	size_t tcap = task_count() + 64;
	task_snap *snaps = scratch_get(tcap * sizeof(task_snap));
	if (!b.q || !snaps) {
		kprintf("why: out of memory\n");
		return -1;
	}
	quiet_heap_stop("why-alive");
	uint64_t marked = gc.marked_bytes, work = gc.scan_work;
	struct snap_ctx ctx = { snaps, 0, tcap };
	sched_for_each_task(snap_one, &ctx);
	bfs_now = &b;
	/* Level 0: every root word, globals first (they name best). */
	arch_range d = arch_data_range(), bs = arch_bss_range();
	bfs_range(d.start, d.end);
	bfs_range(bs.start, bs.end);
	/* The asking task's stack counts from its caller's frame up: the
	 * code that asks holds p, and that is not why p is alive. */
	uintptr_t caller_frame = *(const uintptr_t *)__builtin_frame_address(0);
	for (size_t i = 0; i < ctx.n; i++) {
		if (snaps[i].info.state == TASK_DEAD ||
		    !task_stack_live_range(snaps[i].t, &snaps[i].lo, &snaps[i].hi))
			continue;
		if (snaps[i].t == task_self() && caller_frame > snaps[i].lo &&
		    caller_frame < snaps[i].hi)
			snaps[i].lo = caller_frame;
		bfs_range(snaps[i].lo, snaps[i].hi);
	}
	/* Then breadth first: the first time the target is met, the path is
	 * a shortest one. */
	while (b.found < 0 && b.head < b.tail) {
		b.parent = (int64_t)b.head;
		bfs_scan_object(b.q[b.head++].obj);
	}
	int depth = -1;
	if (b.found >= 0) {
		int64_t chain[64];
		depth = 0;
		for (int64_t k = b.found; k >= 0 && depth < 64; k = b.q[k].parent)
			chain[depth++] = k;
		kprintf("%p (%s, %zu bytes) is alive through %d object(s):\n", p,
			target.type ? target.type->name : "noscan", target.size, depth);
		describe_root(b.q[chain[depth - 1]].from, snaps, ctx.n);
		for (int k = depth - 1; k >= 0; k--) {
			const bfs_node *nd = &b.q[chain[k]];
			gc_object o;
			gc_find_object((void *)nd->obj, &o);
			if (k == depth - 1)
				kprintf("  -> %p %s\n", (void *)nd->obj, o.type ? o.type->name : "noscan");
			else
				kprintf("  -> (field at +%lu) -> %p %s\n",
					(unsigned long)(nd->from - b.q[chain[k + 1]].obj),
					(void *)nd->obj, o.type ? o.type->name : "noscan");
		}
	} else {
		kprintf("%p is not reachable from any root (garbage the next cycle frees)\n", p);
	}
	bfs_now = NULL;
	quiet_heap_start(marked, work);
	scratch_put(b.q, cap * sizeof(bfs_node));
	scratch_put(snaps, tcap * sizeof(task_snap));
	return depth;
}

/* ---- the escape checker ------------------------------------------------------ */
bool gc_opt_escapecheck;
CMDLINE_BOOL(gc_opt_escapecheck, "escapecheck",
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

__attribute__((no_sanitize_address)) static void escape_range(uintptr_t holder, uintptr_t lo,
							     uintptr_t hi)
{
	for (uintptr_t a = ALIGN_UP(lo, 8); a + 8 <= hi; a += 8) {
		uintptr_t v = *(volatile const uintptr_t *)a;
		if (v && !gc_in_heap((void *)v))
			escape_word(holder, a, v);
	}
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

size_t gc_escape_check(bool print)
{
	size_t tcap = task_count() + 64;
	task_snap *snaps = scratch_get(tcap * sizeof(task_snap));
	if (!snaps)
		return 0;
	bool stopped_here = !world_stopped();
	if (stopped_here)
		stop_the_world("escape check");
	struct snap_ctx ctx = { snaps, 0, tcap };
	sched_for_each_task(snap_one, &ctx);
	for (size_t i = 0; i < ctx.n; i++) {
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
	ec = (struct escape_ctx){ snaps, ctx.n, 0, print };
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
	scratch_put(snaps, tcap * sizeof(task_snap));
	return ec.found;
}

/* ---- the colour census ------------------------------------------------------- */
static void census_span(mspan *s, void *arg)
{
	gc_colors *c = arg;
	for (size_t w = 0; w < MSPAN_BITMAP_WORDS(s->nelems); w++) {
		uint64_t a = s->alloc_bits[w], m = s->mark_bits[w] & a;
		c->white += (uint64_t)__builtin_popcountll(a & ~m);
		c->marked += (uint64_t)__builtin_popcountll(m);
	}
}

void gc_color_census(gc_colors *out)
{
	*out = (gc_colors){ 0 };
	stop_the_world("colour census");
	out->phase = gc_get_phase();
	heap_for_each_span(census_span, out);
	out->grey = gc_work_count();
	out->black = out->marked > out->grey ? out->marked - out->grey : 0;
	if (out->phase == GC_PHASE_OFF) {
		/* Outside marking mark bits mean nothing yet: all white. */
		out->white += out->marked;
		out->marked = out->black = out->grey = 0;
	}
	start_the_world();
}
