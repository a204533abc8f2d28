/*
 * demo/demo_mem.c - the allocation demos: `stack` (stack vs heap cost;
 * fixed-size stacks, an overflow caught by the guard region), `escape`
 * (what Go's escape analysis decides, what C does, what the escape checker
 * flags), `smallobjects` (one object per item vs a GC-cleared pool vs one
 * array, with the kept records' fragmentation) and `heapreuse` (swept
 * spans' pages reused, pages scavenged, one word pinning a list). Each
 * prints a conclusion only when its numbers support it. See demo/demo.c
 * for the registry.
 */
#include "demo/demo.h"
#include "diag/diag.h"
#include "gc/gc.h"


/* ---- stack --------------------------------------------------------------- */

#define STACK_DEMO_OPS 20000

typedef struct point3 {
	struct point3 *next; /* a pointer, so the heap version is scanned */
	uint64_t x, y, z;
} point3;
static GC_TYPE_DEFINE(point3_type, point3, next);

/* Called through a volatile pointer: the compiler cannot see that the
 * object is unused, so neither version is optimised away. */
static uint64_t consume_point(point3 *p)
{
	return p->x + p->y + p->z;
}
static uint64_t (*volatile demo_consume)(point3 *) = consume_point;

static __attribute__((noinline)) uint64_t use_stack_object(uint64_t i)
{
	point3 p = { .x = i, .y = i * 2, .z = i * 3 };
	return demo_consume(&p);
}

static __attribute__((noinline)) uint64_t use_heap_object(uint64_t i)
{
	point3 *p = gc_alloc(&point3_type);
	if (!p)
		return 0;
	p->x = i, p->y = i * 2, p->z = i * 3;
	return demo_consume(p);
}

static int (*volatile overflow_next)(int);
static int overflow_recurse(int depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	return overflow_next(depth + 1) + frame[0];
}

static void overflow_task(void *unused)
{
	(void)unused;
	overflow_next = overflow_recurse;
	overflow_next(0);
}

static void after_overflow(void *arg)
{
	*(volatile bool *)arg = true;
}

int demo_stack(void)
{
	uint64_t sum = 0, c0, c1, c2;

	c0 = arch_cycles();
	for (uint64_t i = 0; i < STACK_DEMO_OPS; i++)
		sum += use_stack_object(i);
	c1 = arch_cycles();
	for (uint64_t i = 0; i < STACK_DEMO_OPS; i++)
		sum += use_heap_object(i);
	c2 = arch_cycles();
	uint64_t stack_ns = demo_cycles_to_ns(c1 - c0) / STACK_DEMO_OPS;
	uint64_t heap_ns = demo_cycles_to_ns(c2 - c1) / STACK_DEMO_OPS;
	demo_last.stack.stack_ns_per_op = stack_ns;
	demo_last.stack.heap_ns_per_op = heap_ns;
	kprintf("a 32-byte struct, %d times (checksum %llu):\n", STACK_DEMO_OPS,
		(unsigned long long)sum);
	kprintf("  on the stack (a local):  %llu ns/op: moving the stack pointer, freed on return\n",
		(unsigned long long)stack_ns);
	kprintf("  on the heap (gc_alloc):  %llu ns/op: size class, mcache slot, zeroing (and any "
		"sweeping or\n                           mark assist the allocation paid); marking "
		"and sweeping it come later\n", (unsigned long long)heap_ns);
	if (stack_ns)
		kprintf("  the heap version took ~%llux as long (times from the cycle counter; under "
			"QEMU they are\n  emulated, only the ratio means much)\n",
			(unsigned long long)(heap_ns / stack_ns));

	kprintf("stack growth: Go starts a goroutine on a small stack (2 KiB) and, when a "
		"function's\nprologue finds too little room, copies it to one twice the size, up "
		"to 1 GB. This kernel's\ntask stacks are fixed-size, with an unmapped guard region "
		"below each (growable stacks\nare not built yet). A task recursing without end, "
		"512-byte frames:\n");
	task *t = task_spawn(overflow_task, NULL, "overflower");
	if (!t)
		return 1;
	int status = task_join(t);
	demo_last.stack.overflow_status = status;
	kprintf("  its %d KiB stack (task_spawn's default) ran out; join returned %d "
		"(TASK_EXIT_FAULT = %d)\n", MSTACK_DEFAULT_SIZE / 1024, status, TASK_EXIT_FAULT);
	if (status == TASK_EXIT_FAULT)
		kprintf("  => the guard region caught it: the task died, not its neighbours\n");
	volatile bool ran = false;
	task *next = task_spawn(after_overflow, (void *)&ran, "after-overflow");
	if (next)
		task_join(next);
	demo_last.stack.kernel_went_on = ran;
	kprintf("  a new task ran afterwards: %s\n", ran ? "yes, the kernel went on" : "no");
	return status == TASK_EXIT_FAULT && ran ? 0 : 1;
}

/* ---- escape -------------------------------------------------------------- */

/*
 * Go decides at compile time where each variable lives (escape analysis;
 * `go build -gcflags=-m` prints the decisions): on the stack unless its
 * address may outlive the function, or it is too big or of a size known
 * only at run time. C has no such analysis: the programmer chooses a local
 * or gc_alloc, and a local whose address outlives its frame is a bug the
 * compiler lets through. This kernel finds that bug at run time: the escape
 * checker (escape_check, escapecheck=1) reports globals and heap objects
 * holding a pointer into a task's stack. Each case below stores the C
 * version that keeps the value on the stack (flagged) and the one that
 * allocates it with gc_alloc (not flagged) into a heap object, and counts
 * what the checker reports with the pointer stored minus without it.
 */
typedef struct holder {
	void *p;
} holder;
static GC_TYPE_DEFINE(holder_type, holder, p);
static holder *g_escape_holder; /* a global: what it holds is reachable */

typedef struct escape_sync {
	semaphore stored, release;
} escape_sync;

/* The C form of `return &local` in Go: the frame ends, the pointer stays. */
static __attribute__((noinline)) void keep_pointer_to_local(void)
{
	volatile uint64_t local = 42;
	gc_write(&g_escape_holder->p, (void *)&local);
}

static void escaping_task(void *arg)
{
	escape_sync *s = arg;
	keep_pointer_to_local();
	semaphore_release(&s->stored);
	semaphore_acquire(&s->release);
}

/* A generic interface: a type and a pointer to the value (Go's eface). */
typedef struct iface {
	const gc_type *type;
	void *data;
} iface;
static GC_TYPE_DEFINE(iface_type, iface, data);

typedef struct boxed_int {
	int64_t v;
} boxed_int;
static GC_TYPE_DEFINE_NOPTRS(boxed_int_type, boxed_int);

/* A closure: code plus an environment holding the captured variables. */
typedef struct counter_env {
	int64_t count;
	int64_t step;
} counter_env;
static GC_TYPE_DEFINE_NOPTRS(counter_env_type, counter_env);
typedef struct closure {
	int64_t (*fn)(counter_env *env);
	counter_env *env;
} closure;
static GC_TYPE_DEFINE(closure_type, closure, env);

static int64_t counter_next(counter_env *env)
{
	env->count += env->step;
	return env->count;
}

/* func makeCounter(step) func() int { count := 0; return func() ... }, with
 * the environment where Go puts it (the heap) ... */
static __attribute__((noinline)) closure make_counter(int64_t step)
{
	counter_env *env = gc_alloc(&counter_env_type);
	if (!env)
		return (closure){ 0 };
	env->step = step;
	return (closure){ counter_next, env };
}

/* ... and where a C programmer might put it: in the frame that returns.
 * The closure's env then points into a dead frame; it is never called. */
static __attribute__((noinline)) closure make_counter_on_stack(int64_t step)
{
	volatile counter_env env = { .count = 0, .step = step };
	closure c = { counter_next, (counter_env *)&env };
	__asm__ volatile("" : : "r"(&c) : "memory");
	return c;
}

/* A slice that starts in a stack buffer and moves to the heap on growth. */
#define GROW_INLINE 8
typedef struct growable {
	uint64_t *data;
	size_t len, cap;
	uint64_t inline_buf[GROW_INLINE];
} growable;

static bool growable_append(growable *g, uint64_t v)
{
	if (g->len == g->cap) {
		size_t cap = g->cap * 2;
		uint64_t *d = gc_alloc_noscan(cap * sizeof(uint64_t));
		if (!d)
			return false;
		memcpy(d, g->data, g->len * sizeof(uint64_t));
		g->data = d, g->cap = cap;
	}
	g->data[g->len++] = v;
	return true;
}

static const char *where(const void *p)
{
	return gc_in_heap(p) ? "heap" : "not heap";
}

/* Reports the escape checker makes with *slot = p, minus those it makes
 * with *slot = NULL; *slot is NULL again afterwards. */
static size_t escape_reports_for(void **slot, const void *p, bool print)
{
	gc_write(slot, NULL);
	size_t without = escape_check(false);
	gc_write(slot, p);
	size_t with = escape_check(print);
	gc_write(slot, NULL);
	return with > without ? with - without : 0;
}

static void escape_verdict(const char *what, size_t n)
{
	kprintf("   %-44s %zu report(s): %s\n", what, n, n ? "flagged" : "nothing to report");
}

int demo_escape(void)
{
	typeof(demo_last.escape) *out = &demo_last.escape;
	memset(out, 0, sizeof *out);
	kprintf("Go's compiler puts a variable on the heap when its address may outlive the "
		"function\n(escape analysis, go build -gcflags=-m); C has no escape analysis: the "
		"programmer\nchooses a local or gc_alloc, and nothing moves. What this kernel checks "
		"is the\nresult: the escape checker (escape_check, escapecheck=1) reports heap "
		"objects and\nglobals that point into a task's stack. Counts below: its reports with "
		"the pointer\nstored minus without it.\n");
	/* No cycle running: the collector's own state stays still between
	 * the two checks of each count. */
	gc_collect();
	gc_write(&g_escape_holder, gc_alloc(&holder_type));
	escape_sync *s = gc_alloc_noscan(sizeof(escape_sync));
	if (!g_escape_holder || !s)
		return 1;
	void **slot = &g_escape_holder->p;

	/* 1. A pointer to a local kept beyond its frame. */
	kprintf("1. return &x / keep &x after the function returns. Go: x is moved to the heap. "
		"C: the\n   pointer dangles. A task stores the address of a local of a function "
		"that has returned\n   into a heap object and waits; the checker says:\n");
	semaphore_init(&s->stored, 0);
	semaphore_init(&s->release, 0);
	task *t = task_spawn(escaping_task, s, "escaper");
	if (!t)
		return 1;
	semaphore_acquire(&s->stored);
	void *escaped = *slot;
	out->local_kept = escape_reports_for(slot, escaped, true);
	escape_verdict("pointer into the live task's stack:", out->local_kept);
	semaphore_release(&s->release);
	task_join(t);
	kprintf("   after the task ended, its stack is freed and the pointer dangles:\n");
	out->dangling = escape_reports_for(slot, escaped, true);
	escape_verdict("pointer into a dead task's stack:", out->dangling);

	/* 2. A value whose address is stored in a heap object. */
	kprintf("2. obj.p = &x. Go: x is moved to the heap (the object may outlive the frame). "
		"C: x stays\n   where it was declared; the programmer must gc_alloc it:\n");
	int64_t x_local = 7;
	int64_t *x_heap = gc_alloc_noscan(sizeof(int64_t));
	if (!x_heap)
		return 1;
	out->stored_local = escape_reports_for(slot, &x_local, false);
	escape_verdict("obj.p = &local:", out->stored_local);
	out->stored_heap = escape_reports_for(slot, x_heap, false);
	escape_verdict("obj.p = gc_alloc'ed x:", out->stored_heap);

	/* 3. A value boxed in an interface. */
	kprintf("3. var i any = n. Go: the interface holds a pointer, so n is copied into a "
		"heap box\n   (unless the interface provably stays in the frame, or n is a constant). "
		"C has no\n   interfaces; boxing {type, data} by hand, data must be gc_alloc'ed:\n");
	iface *i = gc_alloc(&iface_type);
	boxed_int *b = gc_alloc(&boxed_int_type);
	if (!i || !b)
		return 1;
	boxed_int n_local = { 42 };
	b->v = 42;
	i->type = &boxed_int_type;
	out->boxed_local = escape_reports_for(&i->data, &n_local, false);
	escape_verdict("iface.data = &local:", out->boxed_local);
	out->boxed_heap = escape_reports_for(&i->data, b, false);
	escape_verdict("iface.data = gc_alloc'ed box:", out->boxed_heap);

	/* 4. A closure capturing a local. */
	kprintf("4. func makeCounter() func() int { count := 0; return func() ... }. Go: count "
		"and the\n   closure's context go to the heap. C has no closures: a function "
		"pointer plus an\n   environment struct, which must be gc_alloc'ed to outlive "
		"makeCounter:\n");
	closure *cl = gc_alloc(&closure_type);
	closure on_stack = make_counter_on_stack(5), on_heap = make_counter(5);
	if (!cl || !on_heap.fn)
		return 1;
	cl->fn = counter_next;
	out->closure_stack = escape_reports_for((void **)&cl->env, on_stack.env, false);
	escape_verdict("env in makeCounter's (dead) frame:", out->closure_stack);
	out->closure_heap = escape_reports_for((void **)&cl->env, on_heap.env, false);
	escape_verdict("env gc_alloc'ed:", out->closure_heap);
	int64_t a1 = on_heap.fn(on_heap.env), a2 = on_heap.fn(on_heap.env);
	kprintf("   the heap closure, called after makeCounter returned: %lld %lld\n",
		(long long)a1, (long long)a2);

	/* 5. A growable array that starts on the stack. */
	kprintf("5. append past a slice's capacity. Go: growslice allocates the new backing "
		"array on the\n   heap (a small fixed-size make that does not escape can stay on "
		"the stack). C: the\n   same by hand: an 8-element stack buffer, then gc_alloc on "
		"each growth:\n");
	growable g = { .cap = GROW_INLINE };
	g.data = g.inline_buf;
	for (uint64_t v = 0; v < 100; v++) {
		const void *before = g.data;
		if (!growable_append(&g, v))
			return 1;
		if (g.data != before)
			kprintf("   len %zu: cap %zu, moved %p (%s) -> %p (%s)\n", g.len, g.cap,
				before, where(before), (void *)g.data, where(g.data));
	}
	gc_write(&g_escape_holder, NULL);
	bool ok = out->local_kept && out->dangling && out->stored_local && !out->stored_heap &&
		  out->boxed_local && !out->boxed_heap && out->closure_stack && !out->closure_heap;
	return ok ? 0 : 1;
}

/* ---- smallobjects ---------------------------------------------------------- */

#define SMALL_ITEMS 60000 /* work items; each needs a 128-byte record */
#define SMALL_KEEP_EVERY 64 /* every 64th record is kept for good */
#define SMALL_MAX_PAGES 2048 /* distinct pages the kept records may sit on */

typedef struct record {
	struct record *next;
	uint64_t key, payload[14];
} record;
static GC_TYPE_DEFINE(record_type, record, next);

/* A per-CPU pool like Go's sync.Pool (one CPU here): records put back are
 * handed out again, and the whole pool is dropped whenever a GC cycle has
 * completed since it was last used, so it never keeps memory alive across
 * collections. The pointers live in a global array: scanned as a root. */
#define POOL_CAP 64
#define POOL_FORCED_GCS 2
static struct {
	record *items[POOL_CAP];
	size_t n;
	uint64_t gc_cycles; /* gc_read_stats().cycles when last checked */
	uint64_t drops;
} record_pool;

static void pool_check_gc(void)
{
	gc_stats st;
	gc_read_stats(&st);
	if (st.cycles != record_pool.gc_cycles) {
		for (size_t i = 0; i < record_pool.n; i++)
			gc_write(&record_pool.items[i], NULL);
		if (record_pool.n)
			record_pool.drops++;
		record_pool.n = 0;
		record_pool.gc_cycles = st.cycles;
	}
}

static record *pool_get(void)
{
	record *r = NULL;
	preempt_disable();
	pool_check_gc();
	if (record_pool.n > 0) {
		r = record_pool.items[--record_pool.n];
		gc_write(&record_pool.items[record_pool.n], NULL);
	}
	preempt_enable();
	if (r) {
		gc_write(&r->next, NULL); /* process() sets the rest */
		return r;
	}
	return gc_alloc(&record_type);
}

static void pool_put(record *r)
{
	preempt_disable();
	pool_check_gc();
	if (record_pool.n < POOL_CAP)
		gc_write(&record_pool.items[record_pool.n++], r);
	preempt_enable();
}

static uint64_t process(record *r, uint64_t i)
{
	r->key = i;
	for (int k = 0; k < 14; k++)
		r->payload[k] = i + (uint64_t)k;
	return r->payload[13] ^ r->key;
}

typedef struct small_run {
	uint64_t cycles, pauses, pause_ns, gc_cpu_ns, wall_ns, allocs;
	size_t kept, kept_pages;   /* the kept records and the pages they sit on */
	uint64_t frag_permille;    /* free share of those pages' 128-byte slots */
} small_run;

static record *g_small_keep; /* the kept records of the current strategy */

static void small_keep(record *r)
{
	gc_write(&r->next, g_small_keep);
	gc_write(&g_small_keep, r);
}

static void small_begin(gc_stats *st, heap_stats_info *hs, uint64_t *t0)
{
	gc_collect(); /* every strategy starts from the same, swept heap */
	gc_read_stats(st);
	heap_stats_read(hs);
	*t0 = arch_nanotime();
}

/* Sorted distinct page numbers of the kept records (numbers, not
 * addresses: they pin nothing). Static: 16 KiB. */
static uintptr_t small_pages[SMALL_MAX_PAGES];

static void small_end(const gc_stats *st0, const heap_stats_info *hs0, uint64_t t0,
		      small_run *out)
{
	gc_stats st;
	heap_stats_info hs;
	out->wall_ns = arch_nanotime() - t0;
	gc_read_stats(&st);
	heap_stats_read(&hs);
	out->cycles = st.cycles - st0->cycles;
	out->pauses = st.npauses - st0->npauses;
	out->pause_ns = st.pause_total_ns - st0->pause_total_ns;
	out->gc_cpu_ns = st.gc_cpu_ns - st0->gc_cpu_ns;
	uint64_t allocs = 0;
	for (size_t c = 0; c < SIZECLASS_COUNT; c++)
		allocs += hs.cls[c].nmalloc - hs0->cls[c].nmalloc;
	out->allocs = allocs + (hs.tiny_allocs - hs0->tiny_allocs);

	/* After a collection only the kept records are live: how full are
	 * the spans they keep in use? */
	gc_collect();
	size_t n = 0, kept = 0;
	for (record *r = g_small_keep; r; r = r->next) {
		uintptr_t page = (uintptr_t)r >> MHEAP_PAGE_SHIFT;
		kept++;
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (small_pages[mid] < page)
				lo = mid + 1;
			else
				hi = mid;
		}
		if ((lo < n && small_pages[lo] == page) || n == SMALL_MAX_PAGES)
			continue;
		memmove(&small_pages[lo + 1], &small_pages[lo], (n - lo) * sizeof(small_pages[0]));
		small_pages[lo] = page;
		n++;
	}
	out->kept = kept;
	out->kept_pages = n;
	/* The heap's own view of those pages: which record-sized slots hold
	 * an object now (the kept records, and whatever else lives there). */
	uint64_t slots = 0, free_slots = 0;
	for (size_t i = 0; i < n; i++) {
		uintptr_t base = small_pages[i] << MHEAP_PAGE_SHIFT;
		for (uintptr_t a = base; a < base + MHEAP_PAGE_SIZE; a += sizeof(record)) {
			slots++;
			free_slots += !gc_find_object((const void *)a, NULL);
		}
	}
	out->frag_permille = slots ? free_slots * 1000 / slots : 0;
	gc_write(&g_small_keep, NULL);
}

static unsigned small_cpu_permille(const small_run *r)
{
	return r->wall_ns ? (unsigned)(r->gc_cpu_ns * 1000 / r->wall_ns) : 0;
}

static uint64_t small_pause_per_cycle_us(const small_run *r)
{
	return r->cycles ? r->pause_ns / r->cycles / 1000 : 0;
}

static void small_print(const char *what, const small_run *r)
{
	unsigned cpu = small_cpu_permille(r);
	kprintf("  %-24s %7llu %4llu %8llu %6llu %4u.%u%% %6zu %5llu.%llu%%\n", what,
		(unsigned long long)r->allocs, (unsigned long long)r->cycles,
		(unsigned long long)(r->pause_ns / 1000),
		(unsigned long long)small_pause_per_cycle_us(r), cpu / 10, cpu % 10, r->kept_pages,
		(unsigned long long)(r->frag_permille / 10),
		(unsigned long long)(r->frag_permille % 10));
}

int demo_smallobjects(void)
{
	small_run runs[3];
	gc_stats st0;
	heap_stats_info hs0;
	uint64_t t0, sum = 0;

	kprintf("%d work items, each needing a 128-byte record for a moment; every %dth record "
		"is kept\nfor good (a program's long-lived data), three ways:\n", SMALL_ITEMS,
		SMALL_KEEP_EVERY);

	/* 1. One allocation per item: the collector frees them. */
	small_begin(&st0, &hs0, &t0);
	for (uint64_t i = 0; i < SMALL_ITEMS; i++) {
		record *r = gc_alloc(&record_type);
		if (!r)
			return 1;
		sum += process(r, i);
		if (i % SMALL_KEEP_EVERY == 0)
			small_keep(r);
	}
	small_end(&st0, &hs0, t0, &runs[0]);

	/* 2. Pooled: records are put back and handed out again. */
	small_begin(&st0, &hs0, &t0);
	uint64_t drops0 = record_pool.drops;
	for (uint64_t i = 0; i < SMALL_ITEMS; i++) {
		record *r = pool_get();
		if (!r)
			return 1;
		sum += process(r, i);
		if (i % SMALL_KEEP_EVERY == 0)
			small_keep(r);
		else
			pool_put(r);
		/* The pool allocates too little to trigger a GC by itself; these
		 * stand for the cycles the rest of a program would cause. */
		if (i % (SMALL_ITEMS / POOL_FORCED_GCS) == SMALL_ITEMS / POOL_FORCED_GCS / 2)
			gc_collect();
	}
	small_end(&st0, &hs0, t0, &runs[1]);
	demo_last.small.pool_drops = record_pool.drops - drops0;

	/* 3. One array of structs, reused for every batch; a kept record is
	 * copied out of it. */
	enum { BATCH = 256 };
	small_begin(&st0, &hs0, &t0);
	record *batch = gc_alloc_array(&record_type, BATCH);
	if (!batch)
		return 1;
	for (uint64_t i = 0; i < SMALL_ITEMS; i++) {
		record *r = &batch[i % BATCH];
		sum += process(r, i);
		if (i % SMALL_KEEP_EVERY == 0) {
			record *k = gc_alloc(&record_type);
			if (!k)
				return 1;
			k->key = r->key;
			memcpy(k->payload, r->payload, sizeof k->payload);
			small_keep(k);
		}
	}
	small_end(&st0, &hs0, t0, &runs[2]);

	kprintf("  %-24s %7s %4s %8s %6s %7s %6s %7s\n", "strategy", "allocs", "GCs", "pause us",
		"us/GC", "GC CPU", "pages", "free");
	small_print("one object per item", &runs[0]);
	small_print("pool (2 forced GCs)", &runs[1]);
	small_print("one array of structs", &runs[2]);
	kprintf("  (checksum %llu; GCs: cycles during the run; pause: stop-the-world time, two "
		"pauses\n   per cycle; pages: the heap pages the %zu kept records sit on after a "
		"collection;\n   free: the share of those pages' 128-byte slots that hold no "
		"object; the pool was\n   dropped %llu times by GCs and refilled from gc_alloc)\n",
		(unsigned long long)sum, runs[0].kept, (unsigned long long)demo_last.small.pool_drops);

	const small_run *one = &runs[0], *pool = &runs[1], *arr = &runs[2];
	if (pool->allocs * 10 < one->allocs && arr->allocs * 10 < one->allocs)
		kprintf("  => the pool and the array allocate about once per kept record (%llu, "
			"%llu), not once\n     per item (%llu); the per-item garbage started %llu "
			"GC cycles by itself, the array\n     %llu (the pool's were forced)\n",
			(unsigned long long)pool->allocs, (unsigned long long)arr->allocs,
			(unsigned long long)one->allocs, (unsigned long long)one->cycles,
			(unsigned long long)arr->cycles);
	if (one->frag_permille > pool->frag_permille && one->frag_permille > arr->frag_permille)
		kprintf("  => allocated between the short-lived ones, the kept records are spread "
			"over %zu pages,\n     %llu.%llu%% of their slots free, space the heap cannot give "
			"back (a span goes back\n     only when empty); from the pool or copied out of the "
			"array they come from consecutive\n     allocations and fill %zu and %zu pages\n",
			one->kept_pages, (unsigned long long)(one->frag_permille / 10),
			(unsigned long long)(one->frag_permille % 10), pool->kept_pages,
			arr->kept_pages);
	uint64_t p1 = small_pause_per_cycle_us(one), p2 = small_pause_per_cycle_us(pool);
	if (one->cycles && pool->cycles && p1 <= 4 * p2 + 50 && p2 <= 4 * p1 + 50)
		kprintf("  => per cycle the pauses are alike (%llu and %llu us): the stop-the-world "
			"steps do not\n     scan the heap (the roots are queued for the concurrent "
			"mark), so what the\n     per-item garbage costs shows in GC CPU, not in "
			"pauses\n", (unsigned long long)p1, (unsigned long long)p2);

	for (int k = 0; k < 3; k++) {
		demo_last.small.gc_cycles[k] = runs[k].cycles;
		demo_last.small.pause_ns[k] = runs[k].pause_ns;
		demo_last.small.allocs[k] = runs[k].allocs;
		demo_last.small.gc_cpu_permille[k] = small_cpu_permille(&runs[k]);
		demo_last.small.kept[k] = runs[k].kept;
		demo_last.small.kept_pages[k] = runs[k].kept_pages;
		demo_last.small.frag_permille[k] = runs[k].frag_permille;
	}
	return 0;
}

/* ---- heapreuse --------------------------------------------------------------- */

/*
 * Two rounds of the same allocations with a collection between them. The
 * records are pointer-free and referenced only from g_reuse_slots, and each
 * round runs in a task of its own that clears the array and exits before
 * the collection, so no live stack and no saved register holds a record's
 * address: stacks are scanned conservatively, and a single stale word (an
 * earlier version of this demo left the head of a linked list in a
 * callee-saved register of its own frame) keeps what it points to, and
 * everything reachable from that, alive. Page numbers (address >>
 * MHEAP_PAGE_SHIFT) are not addresses: recording them pins nothing.
 */
#define REUSE_RECORDS 8192 /* x 128 bytes = 1 MiB: 128 one-page spans */
#define REUSE_RECORD_BYTES 128
#define REUSE_MAX_PAGES 512

static void *g_reuse_slots[REUSE_RECORDS];

typedef struct reuse_round {
	semaphore filled, drop;
	bool ok;
	bool pages_overflow;              /* more than REUSE_MAX_PAGES pages */
	size_t npages;                    /* distinct heap pages the records sit on */
	uintptr_t pages[REUSE_MAX_PAGES]; /* their page numbers, sorted */
} reuse_round;
static reuse_round reuse_rounds[2];
/* [0] start, [1] round 1 alive, [2] after its collection, [3] round 2
 * alive, [4] after its collection, [5] after scavenging, [6] list with a
 * stale head, [7] list without; static: each is a few KiB. */
static heap_stats_info reuse_hs[8];

static bool reuse_has_page(const reuse_round *r, uintptr_t page, size_t *at)
{
	size_t lo = 0, hi = r->npages;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->pages[mid] < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return lo < r->npages && r->pages[lo] == page;
}

static void reuse_note_page(reuse_round *r, uintptr_t page)
{
	size_t at;
	if (reuse_has_page(r, page, &at))
		return;
	if (r->npages == REUSE_MAX_PAGES) {
		r->pages_overflow = true;
		return;
	}
	memmove(&r->pages[at + 1], &r->pages[at], (r->npages - at) * sizeof(r->pages[0]));
	r->pages[at] = page;
	r->npages++;
}

static __attribute__((noinline)) bool reuse_fill(reuse_round *r)
{
	for (size_t i = 0; i < REUSE_RECORDS; i++) {
		void *p = gc_alloc_noscan(REUSE_RECORD_BYTES);
		if (!p)
			return false;
		gc_write(&g_reuse_slots[i], p);
		reuse_note_page(r, (uintptr_t)p >> MHEAP_PAGE_SHIFT);
	}
	return true;
}

static __attribute__((noinline)) void reuse_drop(void)
{
	for (size_t i = 0; i < REUSE_RECORDS; i++)
		gc_write(&g_reuse_slots[i], NULL);
}

static void reuse_round_task(void *arg)
{
	reuse_round *r = arg;
	r->ok = reuse_fill(r);
	semaphore_release(&r->filled);
	semaphore_acquire(&r->drop);
	reuse_drop();
}

/* Runs one round: the task allocates, *alive is read while the records
 * live, then the task drops them and exits. */
static bool reuse_run_round(reuse_round *r, heap_stats_info *alive)
{
	r->ok = r->pages_overflow = false;
	r->npages = 0;
	semaphore_init(&r->filled, 0);
	semaphore_init(&r->drop, 0);
	task *t = task_spawn(reuse_round_task, r, "reuse-round");
	if (!t)
		return false;
	semaphore_acquire(&r->filled);
	heap_stats_read(alive);
	semaphore_release(&r->drop);
	task_join(t);
	return r->ok && !r->pages_overflow;
}

/* Objects of the records' size class allocated and not yet freed. */
static uint64_t reuse_class_in_use(const heap_stats_info *h)
{
	const heap_class_stats *c = &h->cls[sizeclass_of(REUSE_RECORD_BYTES)];
	return c->nmalloc - c->nfree;
}

static uint64_t reuse_delta(uint64_t after, uint64_t before)
{
	return after > before ? after - before : 0;
}

static void reuse_print_heap(const heap_stats_info *h)
{
	kprintf("  heap: spans in use %zu; pages in use %zu, free and backed %zu, free and "
		"unbacked %zu\n", h->spans_in_use, h->pages_in_use, h->pages_free_committed,
		h->pages_free_uncommitted);
}

/* The stale word of the last part: a global standing for a stale stack
 * slot or register. */
static record *g_reuse_stale_head;

static __attribute__((noinline)) void reuse_list_task(void *unused)
{
	(void)unused;
	record *head = NULL;
	for (int i = 0; i < REUSE_RECORDS; i++) {
		record *r = gc_alloc(&record_type);
		if (!r)
			break;
		gc_write(&r->next, head);
		head = r;
	}
	gc_write(&g_reuse_stale_head, head);
}

int demo_heapreuse(void)
{
	heap_stats_info *hs = reuse_hs;
	reuse_round *r1 = &reuse_rounds[0], *r2 = &reuse_rounds[1];

	gc_collect();
	size_t returned0 = mheap_scavenge(0, 0);
	heap_stats_read(&hs[0]);
	kprintf("start: gc_collect, then mheap_scavenge(keep 0) gave %zu free heap pages back to "
		"the page source,\n  so a page a round takes from the heap below is either backed "
		"anew or reused\n", returned0);
	reuse_print_heap(&hs[0]);

	kprintf("round 1: a task allocates %d pointer-free records of %d bytes (%d KiB), held "
		"in a global array\n", REUSE_RECORDS, REUSE_RECORD_BYTES,
		REUSE_RECORDS * REUSE_RECORD_BYTES / 1024);
	if (!reuse_run_round(r1, &hs[1]))
		return 1;
	uint64_t committed1 = hs[1].pages_committed_total - hs[0].pages_committed_total;
	kprintf("  spans in use %zu -> %zu; the records sit on %zu pages; pages backed anew: "
		"%llu\n", hs[0].spans_in_use, hs[1].spans_in_use, r1->npages,
		(unsigned long long)committed1);

	kprintf("the task clears the array and exits; gc_collect: nothing marks the records, "
		"sweep frees them\n");
	gc_collect();
	heap_stats_read(&hs[2]);
	uint64_t left1 = reuse_delta(reuse_class_in_use(&hs[2]), reuse_class_in_use(&hs[0]));
	kprintf("  records of round 1 still allocated: %llu; spans in use %zu -> %zu; free "
		"backed pages %zu -> %zu\n", (unsigned long long)left1, hs[1].spans_in_use,
		hs[2].spans_in_use, hs[1].pages_free_committed, hs[2].pages_free_committed);

	kprintf("round 2: a new task allocates the same records\n");
	if (!reuse_run_round(r2, &hs[3]))
		return 1;
	uint64_t committed2 = hs[3].pages_committed_total - hs[2].pages_committed_total;
	size_t reused = 0, at;
	for (size_t i = 0; i < r2->npages; i++)
		reused += reuse_has_page(r1, r2->pages[i], &at);
	kprintf("  spans in use %zu -> %zu; the records sit on %zu pages, %zu of them round 1's; "
		"pages backed anew: %llu\n", hs[2].spans_in_use, hs[3].spans_in_use, r2->npages,
		reused, (unsigned long long)committed2);
	bool reuse = committed2 == 0 && reused == r2->npages;
	if (reuse) {
		kprintf("  => reused: sweep gave round 1's spans back to the heap with their pages "
			"still backed,\n     and round 2 took every page from them\n");
	} else {
		if (left1)
			kprintf("  => not all reused: %llu records of round 1 outlived the collection "
				"(a stale word on a stack\n     or in a saved register pointed at them: "
				"stacks are scanned conservatively), so their spans\n     stayed in use\n",
				(unsigned long long)left1);
		if (committed2)
			kprintf("  => %llu pages backed anew: the heap hands out the lowest pages of "
				"the smallest free run\n     that fits (mm/mheap.c), backed or not\n",
				(unsigned long long)committed2);
	}

	kprintf("the second task drops its records too; gc_collect; mheap_scavenge(keep 0):\n");
	gc_collect();
	heap_stats_read(&hs[4]);
	uint64_t frames1 = arch_free_pages();
	size_t released = mheap_scavenge(0, 0);
	uint64_t frames2 = arch_free_pages();
	heap_stats_read(&hs[5]);
	kprintf("  %zu free pages (%zu KiB) unbacked; the page source's free frames %llu -> %llu\n",
		released, released * MHEAP_PAGE_SIZE / 1024, (unsigned long long)frames1,
		(unsigned long long)frames2);
	reuse_print_heap(&hs[5]);
	if (released > 0 && frames2 >= frames1 + released * MHEAP_ARCH_PAGES_PER_PAGE)
		kprintf("  => the pages went back to the page source: the next round backs them "
			"anew. The scavenger does\n     this by itself to runs free for "
			"heap_scavenge_ms, beyond heap_reserve_pages it keeps\n");

	kprintf("why reuse can fail: one word keeps a whole structure. A task links %d records "
		"into a list\n  and exits; a copy of the head stays in a global (standing for a "
		"stale stack slot or register)\n", REUSE_RECORDS);
	task *lt = task_spawn(reuse_list_task, NULL, "reuse-list");
	if (!lt)
		return 1;
	task_join(lt);
	gc_collect();
	heap_stats_read(&hs[6]);
	uint64_t kept = reuse_delta(reuse_class_in_use(&hs[6]), reuse_class_in_use(&hs[5]));
	kprintf("  gc_collect: %llu of %d list records still allocated, spans in use %zu -> %zu\n",
		(unsigned long long)kept, REUSE_RECORDS, hs[5].spans_in_use, hs[6].spans_in_use);
	if (kept >= REUSE_RECORDS)
		kprintf("  => the one word keeps every record: their pages cannot be reused\n");
	gc_write(&g_reuse_stale_head, NULL);
	gc_collect();
	heap_stats_read(&hs[7]);
	uint64_t left = reuse_delta(reuse_class_in_use(&hs[7]), reuse_class_in_use(&hs[5]));
	kprintf("  the word cleared, gc_collect: %llu list records still allocated, spans in use "
		"%zu\n", (unsigned long long)left, hs[7].spans_in_use);
	if (left)
		kprintf("  => %llu are held by another stale word (scanned conservatively)\n",
			(unsigned long long)left);

	demo_last.heapreuse = (typeof(demo_last.heapreuse)){
		.records = REUSE_RECORDS,
		.pages_round1 = r1->npages,
		.committed_round1 = committed1,
		.left_after_sweep = left1,
		.pages_round2 = r2->npages,
		.committed_round2 = committed2,
		.pages_reused = reused,
		.concluded_reuse = reuse,
		.released = released,
		.frames_before = frames1,
		.frames_after = frames2,
		.list_kept = kept,
		.list_left = left,
	};
	return 0;
}
