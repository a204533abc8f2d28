/*
 * kernel/demo_mem.c - the allocation demos: `stack` (stack vs heap cost, a
 * guard-page overflow), `escape` (what Go's escape analysis would move to
 * the heap, in C), `smallobjects` (many small objects vs a GC-cleared pool
 * vs one array) and `heapreuse` (spans reused after sweep, pages returned).
 * See kernel/demo.c for the registry.
 */
#include "kernel/demo.h"

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
	kprintf("  on the heap (gc_alloc):  %llu ns/op: size class, mcache slot, zeroing, and later\n"
		"                           marking and sweeping it (ratio ~%llux)\n",
		(unsigned long long)heap_ns,
		(unsigned long long)(stack_ns ? heap_ns / stack_ns : heap_ns));
	kprintf("  (times from the cycle counter; under QEMU they are emulated, only the ratio means much)\n");

	kprintf("a task recursing without end (512-byte frames) on a 16 KiB stack:\n");
	task *t = task_spawn(overflow_task, NULL, "overflower");
	if (!t)
		return 1;
	int status = task_join(t);
	demo_last.stack.overflow_status = status;
	kprintf("  the unmapped gap below its stack caught it: join returned %d (TASK_EXIT_FAULT = %d)\n",
		status, TASK_EXIT_FAULT);
	volatile bool ran = false;
	task *next = task_spawn(after_overflow, (void *)&ran, "after-overflow");
	if (next)
		task_join(next);
	demo_last.stack.kernel_went_on = ran;
	kprintf("  the kernel went on: a new task ran afterwards: %s\n", ran ? "yes" : "no");
	return status == TASK_EXIT_FAULT && ran ? 0 : 1;
}

/* ---- escape -------------------------------------------------------------- */

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
	int64_t *count; /* captured by reference: lives on the heap too */
	int64_t step;   /* captured by value */
} counter_env;
static GC_TYPE_DEFINE(counter_env_type, counter_env, count);
typedef struct closure {
	int64_t (*fn)(counter_env *env);
	counter_env *env;
} closure;

static int64_t counter_next(counter_env *env)
{
	*env->count += env->step;
	return *env->count;
}

/* func makeCounter(step) func() int { count := 0; return func() ... } */
static __attribute__((noinline)) closure make_counter(int64_t step)
{
	counter_env *env = gc_alloc(&counter_env_type);
	int64_t *count = gc_alloc_noscan(sizeof(int64_t));
	if (!env || !count)
		return (closure){ 0 };
	gc_write(&env->count, count);
	env->step = step;
	return (closure){ counter_next, env };
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

int demo_escape(void)
{
	int fails = 0;

	/* 1. A pointer to a local kept beyond its frame. */
	kprintf("1. pointer to a local kept after its function returned (Go would heap-allocate it):\n");
	gc_write(&g_escape_holder, gc_alloc(&holder_type));
	escape_sync *s = gc_alloc_noscan(sizeof(escape_sync));
	if (!g_escape_holder || !s)
		return 1;
	semaphore_init(&s->stored, 0);
	semaphore_init(&s->release, 0);
	size_t base = gc_escape_check(false);
	task *t = task_spawn(escaping_task, s, "escaper");
	if (!t)
		return 1;
	semaphore_acquire(&s->stored);
	kprintf("   holder %p (heap) now holds %p, inside the task's stack; the escape checker says:\n",
		(void *)g_escape_holder, g_escape_holder->p);
	size_t found = gc_escape_check(true);
	/* Reports unrelated to this demo (the hosted build's signal stack,
	 * earlier dead tasks) come and go, so no exact delta against base. */
	demo_last.escape.escapes_flagged = found;
	if (found > base)
		kprintf("   %zu new report(s) since before the task ran\n", found - base);
	semaphore_release(&s->release);
	task_join(t);
	kprintf("   after the task ended the pointer dangles:\n");
	gc_escape_check(true);
	gc_write(&g_escape_holder->p, NULL);
	if (demo_last.escape.escapes_flagged == 0)
		fails++;

	/* 2. A value stored into a heap object. */
	kprintf("2. a value whose address is stored in a heap object (obj.p = &x): x must be on the heap\n");
	int64_t *x = gc_alloc_noscan(sizeof(int64_t));
	if (!x)
		return 1;
	*x = 7;
	gc_write(&g_escape_holder->p, x);
	demo_last.escape.stored_in_heap = gc_in_heap(g_escape_holder->p);
	kprintf("   x at %p (%s), holder->p = %p\n", (void *)x, where(x), g_escape_holder->p);
	gc_write(&g_escape_holder->p, NULL);

	/* 3. A boxed value behind a generic interface. */
	kprintf("3. an int boxed in an interface (var i any = 42): the value moves to the heap\n");
	iface *i = gc_alloc(&iface_type);
	boxed_int *b = gc_alloc(&boxed_int_type);
	if (!i || !b)
		return 1;
	b->v = 42;
	i->type = &boxed_int_type;
	gc_write(&i->data, b);
	demo_last.escape.boxed_in_heap = gc_in_heap(i->data);
	kprintf("   iface{type=%s, data=%p (%s)} -> %lld\n", i->type->name, i->data, where(i->data),
		(long long)((boxed_int *)i->data)->v);

	/* 4. A closure capturing a local. */
	kprintf("4. a closure capturing a local (count := 0; return func() { count += step }):\n");
	closure next = make_counter(5);
	if (!next.fn)
		return 1;
	int64_t a1 = next.fn(next.env), a2 = next.fn(next.env), a3 = next.fn(next.env);
	demo_last.escape.closure_env_in_heap = gc_in_heap(next.env) && gc_in_heap(next.env->count);
	kprintf("   env %p (%s), count %p (%s); calls after make_counter returned: %lld %lld %lld\n",
		(void *)next.env, where(next.env), (void *)next.env->count, where(next.env->count),
		(long long)a1, (long long)a2, (long long)a3);

	/* 5. A growable array that starts on the stack. */
	kprintf("5. a growable array with an 8-element stack buffer, appended to 100 times:\n");
	growable g = { .cap = GROW_INLINE };
	g.data = g.inline_buf;
	const void *first = g.data;
	for (uint64_t v = 0; v < 100; v++) {
		const void *before = g.data;
		if (!growable_append(&g, v))
			return 1;
		if (g.data != before)
			kprintf("   len %zu: grew to cap %zu, moved %p (%s) -> %p (%s)\n", g.len, g.cap,
				before, where(before), (void *)g.data, where(g.data));
	}
	demo_last.escape.array_moved_to_heap = !gc_in_heap(first) && gc_in_heap(g.data);
	gc_write(&g_escape_holder, NULL);
	return fails || !demo_last.escape.stored_in_heap || !demo_last.escape.boxed_in_heap ||
			       !demo_last.escape.closure_env_in_heap ||
			       !demo_last.escape.array_moved_to_heap
		       ? 1
		       : 0;
}

/* ---- smallobjects ---------------------------------------------------------- */

#define SMALL_ITEMS 60000 /* work items; each needs a 128-byte record */

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
	uint64_t cycles, pause_ns, gc_cpu_ns, wall_ns, allocs;
	uint64_t frag_permille; /* free bytes inside in-use spans */
} small_run;

static void small_begin(gc_stats *st, heap_stats_info *hs, uint64_t *t0)
{
	gc_collect(); /* every strategy starts from the same, swept heap */
	gc_read_stats(st);
	heap_stats_read(hs);
	*t0 = arch_nanotime();
}

static void small_end(const gc_stats *st0, const heap_stats_info *hs0, uint64_t t0,
		      small_run *out)
{
	gc_stats st;
	heap_stats_info hs;
	out->wall_ns = arch_nanotime() - t0;
	gc_read_stats(&st);
	heap_stats_read(&hs);
	out->cycles = st.cycles - st0->cycles;
	out->pause_ns = st.pause_total_ns - st0->pause_total_ns;
	out->gc_cpu_ns = st.gc_cpu_ns - st0->gc_cpu_ns;
	uint64_t allocs = 0;
	for (size_t c = 0; c < SIZECLASS_COUNT; c++)
		allocs += hs.cls[c].nmalloc - hs0->cls[c].nmalloc;
	out->allocs = allocs + (hs.tiny_allocs - hs0->tiny_allocs);
	out->frag_permille = hs.span_bytes_in_use
		? (hs.span_bytes_in_use - hs.bytes_in_use) * 1000 / hs.span_bytes_in_use
		: 0;
}

static void small_print(const char *what, const small_run *r)
{
	unsigned cpu = r->wall_ns ? (unsigned)(r->gc_cpu_ns * 1000 / r->wall_ns) : 0;
	kprintf("  %-26s %7llu %6llu %9llu %5u.%u%% %6llu.%llu%%\n", what,
		(unsigned long long)r->allocs, (unsigned long long)r->cycles,
		(unsigned long long)(r->pause_ns / 1000), cpu / 10, cpu % 10,
		(unsigned long long)(r->frag_permille / 10), (unsigned long long)(r->frag_permille % 10));
}

static record *g_small_keep; /* a few records kept alive, so spans stay mixed */

int demo_smallobjects(void)
{
	small_run runs[3];
	gc_stats st0;
	heap_stats_info hs0;
	uint64_t t0, sum = 0;

	kprintf("%d work items, each needing a 128-byte record for a moment:\n", SMALL_ITEMS);

	/* 1. One allocation per item: the collector frees them. */
	small_begin(&st0, &hs0, &t0);
	for (uint64_t i = 0; i < SMALL_ITEMS; i++) {
		record *r = gc_alloc(&record_type);
		if (!r)
			return 1;
		sum += process(r, i);
		if (i % 64 == 0) { /* every 64th is kept: a live list interleaved */
			gc_write(&r->next, g_small_keep);
			gc_write(&g_small_keep, r);
		}
	}
	small_end(&st0, &hs0, t0, &runs[0]);
	gc_write(&g_small_keep, NULL);

	/* 2. Pooled: records are put back and handed out again. */
	small_begin(&st0, &hs0, &t0);
	uint64_t drops0 = record_pool.drops;
	for (uint64_t i = 0; i < SMALL_ITEMS; i++) {
		record *r = pool_get();
		if (!r)
			return 1;
		sum += process(r, i);
		pool_put(r);
		/* The pool allocates too little to trigger a GC by itself; these
		 * stand for the cycles the rest of a program would cause. */
		if (i % (SMALL_ITEMS / POOL_FORCED_GCS) == SMALL_ITEMS / POOL_FORCED_GCS / 2)
			gc_collect();
	}
	small_end(&st0, &hs0, t0, &runs[1]);
	demo_last.small.pool_drops = record_pool.drops - drops0;

	/* 3. One array of structs, reused for every batch. */
	enum { BATCH = 256 };
	small_begin(&st0, &hs0, &t0);
	record *batch = gc_alloc_array(&record_type, BATCH);
	if (!batch)
		return 1;
	for (uint64_t i = 0; i < SMALL_ITEMS; i++)
		sum += process(&batch[i % BATCH], i);
	small_end(&st0, &hs0, t0, &runs[2]);

	kprintf("  %-26s %7s %6s %9s %7s %8s\n", "strategy", "allocs", "GCs", "pause us",
		"GC CPU", "frag");
	small_print("one object per item", &runs[0]);
	small_print("pool (2 forced GCs)", &runs[1]);
	small_print("one array of structs", &runs[2]);
	kprintf("  (checksum %llu; frag = free bytes inside the heap's in-use spans; the pool was\n"
		"   dropped %llu times by GCs and refilled from gc_alloc)\n",
		(unsigned long long)sum, (unsigned long long)demo_last.small.pool_drops);
	for (int k = 0; k < 3; k++) {
		demo_last.small.gc_cycles[k] = runs[k].cycles;
		demo_last.small.pause_ns[k] = runs[k].pause_ns;
		demo_last.small.allocs[k] = runs[k].allocs;
		demo_last.small.gc_cpu_permille[k] =
			runs[k].wall_ns ? (unsigned)(runs[k].gc_cpu_ns * 1000 / runs[k].wall_ns) : 0;
	}
	return 0;
}

/* ---- heapreuse --------------------------------------------------------------- */

/* Clears dead frames below the caller: a stale copy of the list head there
 * would keep the whole list alive (stacks are scanned conservatively). */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char junk[2048];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

#define REUSE_OBJECTS 20000 /* x 128 bytes: 2.5 MiB */
static record *g_reuse_list;

static bool reuse_round(void)
{
	for (int i = 0; i < REUSE_OBJECTS; i++) {
		record *r = gc_alloc(&record_type);
		if (!r)
			return false;
		gc_write(&r->next, g_reuse_list);
		gc_write(&g_reuse_list, r);
	}
	return true;
}

int demo_heapreuse(void)
{
	heap_stats_info h0, h1, h2, h3;
	gc_collect();
	heap_stats_read(&h0);
	uint64_t frames0 = arch_free_pages();

	kprintf("round 1: %d records of 128 bytes (%d KiB), kept in a list\n", REUSE_OBJECTS,
		REUSE_OBJECTS * 128 / 1024);
	if (!reuse_round())
		return 1;
	heap_stats_read(&h1);
	kprintf("  spans in use %zu -> %zu, pages committed (fresh from the page source) +%llu\n",
		h0.spans_in_use, h1.spans_in_use,
		(unsigned long long)(h1.pages_committed_total - h0.pages_committed_total));

	gc_write(&g_reuse_list, NULL);
	scrub_stack();
	gc_collect();
	heap_stats_read(&h2);
	kprintf("dropped the list, gc_collect: sweep freed them; spans in use %zu, free committed pages %zu\n",
		h2.spans_in_use, h2.pages_free_committed);

	kprintf("round 2: the same allocations again\n");
	if (!reuse_round())
		return 1;
	heap_stats_read(&h3);
	kprintf("  spans in use %zu -> %zu, pages committed +%llu: the swept spans' pages were reused\n",
		h2.spans_in_use, h3.spans_in_use,
		(unsigned long long)(h3.pages_committed_total - h2.pages_committed_total));
	demo_last.heapreuse.spans_first = h1.spans_in_use - h0.spans_in_use;
	demo_last.heapreuse.spans_second = h3.spans_in_use - h2.spans_in_use;
	demo_last.heapreuse.pages_committed_first = h1.pages_committed_total - h0.pages_committed_total;
	demo_last.heapreuse.pages_committed_second = h3.pages_committed_total - h2.pages_committed_total;

	gc_write(&g_reuse_list, NULL);
	scrub_stack();
	gc_collect();
	mcache_release_all();
	uint64_t frames1 = arch_free_pages();
	size_t released = mheap_scavenge(0, 0);
	uint64_t frames2 = arch_free_pages();
	heap_stats_info h4;
	heap_stats_read(&h4);
	kprintf("dropped again, gc_collect, mheap_scavenge(keep 0): %zu heap pages decommitted\n",
		released);
	kprintf("  page source free frames: %llu before the demo, %llu before scavenging, %llu after\n",
		(unsigned long long)frames0, (unsigned long long)frames1, (unsigned long long)frames2);
	kprintf("  heap pages: in use %zu, free committed %zu, free uncommitted %zu\n",
		h4.pages_in_use, h4.pages_free_committed, h4.pages_free_uncommitted);
	demo_last.heapreuse.pages_scavenged = released;
	demo_last.heapreuse.frames_before = frames1;
	demo_last.heapreuse.frames_after = frames2;
	return 0;
}
