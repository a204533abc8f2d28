/*
 * demo/demo_gc.c - the collector demos: `globals` (where data, heap and
 * stacks live; an object kept only by a global), `heapobjects` (what forces
 * a heap allocation, seen in the heap profile), `gcphases` (one cycle phase
 * by phase with the colour census) and `memleak` (three ways memory stays
 * reachable, with why-alive paths). See demo/demo.c for the registry.
 */
#include "chan/chan.h"
#include "demo/demo.h"
#include "diag/diag.h"
#include "gc/gc.h"


typedef struct dnode {
	struct dnode *next;
	uint64_t tag;
} dnode;
static GC_TYPE_DEFINE(dnode_type, dnode, next);

/* Overwrites the stack below the caller, so no stale copy of a pointer
 * made by an earlier call keeps its object alive (stacks are scanned
 * conservatively). */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char junk[2048];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

/* A pointer the collector cannot see: kept only to look the object up. */
#define HIDE_MASK 0x5a5a5a5a5a5a5a5aULL
static uintptr_t hide(const void *p)
{
	return (uintptr_t)p ^ HIDE_MASK;
}
static void *unhide(uintptr_t h)
{
	return (void *)(h ^ HIDE_MASK);
}

/* ---- globals ------------------------------------------------------------- */

static uint64_t g_initialized = 0x1234; /* .data */
static uint64_t g_zeroed;               /* .bss */
static dnode *g_only_root;              /* the only reference to an object */

static __attribute__((noinline)) uintptr_t make_global_only(void)
{
	dnode *a = gc_alloc(&dnode_type), *b = gc_alloc(&dnode_type);
	if (!a || !b)
		return 0;
	a->tag = 1, b->tag = 0xb0b;
	gc_write(&a->next, b);
	gc_write(&g_only_root, a);
	return hide(b);
}

/* c is made by a task that exits before the collection: no live stack or
 * saved register can hold a stale copy of its address. */
static uintptr_t g_hidden_unreferenced;
static void make_unreferenced(void *unused)
{
	(void)unused;
	dnode *c = gc_alloc(&dnode_type);
	if (!c)
		return;
	c->tag = 0xdead;
	g_hidden_unreferenced = hide(c);
}

int demo_globals(void)
{
	arch_range data = arch_data_range(), bss = arch_bss_range();
	volatile uint64_t local = 7;
	const arch_context *ctx = task_context(task_self());
	uintptr_t stack_lo = (uintptr_t)ctx->stack_base, stack_hi = stack_lo + ctx->stack_size;
	dnode *h = gc_alloc(&dnode_type);
	if (!h)
		return 1;

	kprintf("where things live:\n");
	kprintf("  .data  [%p, %p)  g_initialized at %p\n", (void *)data.start, (void *)data.end,
		(void *)&g_initialized);
	kprintf("  .bss   [%p, %p)  g_zeroed at %p\n", (void *)bss.start, (void *)bss.end,
		(void *)&g_zeroed);
	kprintf("  heap   a gc_alloc'ed object at %p (gc_in_heap: %s)\n", (void *)h,
		gc_in_heap(h) ? "yes" : "no");
	kprintf("  stack  this task's stack [%p, %p), a local at %p\n", (void *)stack_lo,
		(void *)stack_hi, (void *)&local);
	uintptr_t u = (uintptr_t)&g_initialized, z = (uintptr_t)&g_zeroed, l = (uintptr_t)&local;
	demo_last.globals.in_data = u >= data.start && u < data.end;
	demo_last.globals.in_bss = z >= bss.start && z < bss.end;
	demo_last.globals.heap_in_heap = gc_in_heap(h);
	demo_last.globals.stack_in_stack = l >= stack_lo && l < stack_hi;

	g_hidden_unreferenced = 0;
	task *maker = task_spawn(make_unreferenced, NULL, "make-c");
	if (maker)
		task_join(maker);
	uintptr_t kept = make_global_only(), dropped = g_hidden_unreferenced;
	if (!kept || !dropped)
		return 1;
	scrub_stack();
	kprintf("g_only_root -> a -> b, and c, made by a task that has exited, referenced by "
		"nothing;\ngc_collect():\n");
	gc_collect();
	gc_object o;
	dnode *b = unhide(kept);
	bool survived = gc_find_object(b, &o) && o.base == (void *)b && b->tag == 0xb0b;
	bool c_alive = gc_find_object(unhide(dropped), NULL);
	kprintf("  b %s (tag 0x%llx); c %s\n", survived ? "survived" : "was freed",
		(unsigned long long)b->tag, c_alive ? "is still allocated" : "was freed");
	if (c_alive) {
		kprintf("  why is c alive?\n");
		why_alive(unhide(dropped));
	}
	kprintf("  why is b alive?\n");
	int path = why_alive(b);
	demo_last.globals.survived = survived;
	demo_last.globals.unreferenced_freed = !c_alive;
	demo_last.globals.path_len = path;
	gc_write(&g_only_root, NULL);
	return survived && path >= 2 ? 0 : 1;
}

/* ---- heapobjects --------------------------------------------------------- */

#define HEAPOBJ_CASES 8
static void *g_heapobj_keep[HEAPOBJ_CASES]; /* keeps each case in use */

typedef struct big_buffer {
	uint64_t words[8192]; /* 64 KiB: too big for a 16 KiB task stack */
} big_buffer;

/* Each case allocates in a function of its own, so each has its own
 * allocation site in the profile; KEEP_FRAME stops the compiler from
 * turning the allocation into a tail call (whose return address would be
 * the caller's). */
#define KEEP_FRAME(p) ({ void *p_ = (p); __asm__ volatile("" : : "r"(p_) : "memory"); p_; })
static __attribute__((noipa)) dnode *case_returned_pointer(void)
{
	return KEEP_FRAME(gc_alloc(&dnode_type)); /* return &node{}: outlives the frame */
}
static __attribute__((noipa)) void *case_too_big_for_stack(void)
{
	return KEEP_FRAME(gc_alloc_noscan(sizeof(big_buffer)));
}
static __attribute__((noipa)) void *case_runtime_size(size_t n)
{
	return KEEP_FRAME(gc_alloc_noscan(n)); /* make([]byte, n) with n not constant */
}
static __attribute__((noipa)) void *case_stored_in_global(void)
{
	return KEEP_FRAME(gc_alloc(&dnode_type)); /* global = &x */
}
static __attribute__((noipa)) void *case_boxed_interface(void)
{
	return KEEP_FRAME(gc_alloc_noscan(sizeof(int64_t))); /* var i any = x */
}
static __attribute__((noipa)) void *case_closure_env(void)
{
	return KEEP_FRAME(gc_alloc(&dnode_type)); /* func literal capturing a variable */
}
static __attribute__((noipa)) void *case_sent_on_channel(chan *c)
{
	dnode *n = gc_alloc(&dnode_type); /* ch <- &x: the receiver may keep it */
	if (n)
		chan_send(c, &n);
	return n;
}
static __attribute__((noipa)) void *case_slice_growth(void)
{
	return KEEP_FRAME(gc_alloc_noscan(1024)); /* append beyond the backing array */
}

int demo_heapobjects(void)
{
	static const char *const names[HEAPOBJ_CASES] = {
		"pointer returned from its function", "too big for the stack (64 KiB)",
		"size known only at run time", "address stored in a global",
		"value boxed in an interface", "variable captured by a closure",
		"pointer sent on a channel", "slice grown past its buffer",
	};
	int64_t old_rate = heapprof_set_rate(1); /* sample every allocation */
	chan *c = chan_make(sizeof(void *), 1);
	volatile size_t runtime_n = 3000;
	if (!c) {
		heapprof_set_rate(old_rate);
		return 1;
	}
	void *objs[HEAPOBJ_CASES] = {
		case_returned_pointer(), case_too_big_for_stack(), case_runtime_size(runtime_n),
		case_stored_in_global(), case_boxed_interface(), case_closure_env(),
		case_sent_on_channel(c), case_slice_growth(),
	};
	size_t found = 0;
	kprintf("where Go's escape analysis would put a value on the heap; here each case calls "
		"gc_alloc\nin a function of its own. Each object and the allocation site the heap "
		"profile recorded:\n");
	for (int i = 0; i < HEAPOBJ_CASES; i++) {
		gc_write(&g_heapobj_keep[i], objs[i]);
		uintptr_t site = objs[i] ? heapprof_site_of(objs[i]) : 0, off = 0;
		heapprof_site s;
		bool have = site && heapprof_find_site(site, &s);
		const char *fn = site ? arch_symbolize(site, &off) : NULL;
		if (have)
			found++;
		kprintf("  %-36s %p  site %s+0x%llx  in use %llu B\n", names[i], objs[i],
			fn ? fn : "?", (unsigned long long)off,
			(unsigned long long)(have ? s.inuse_bytes : 0));
	}
	kprintf("the heap profile (top 12 sites):\n");
	heapprof_print(12);
	heapprof_set_rate(old_rate);
	for (int i = 0; i < HEAPOBJ_CASES; i++)
		gc_write(&g_heapobj_keep[i], NULL);
	demo_last.heapobjects.cases = HEAPOBJ_CASES;
	demo_last.heapobjects.sites_found = found;
	return found == HEAPOBJ_CASES ? 0 : 1;
}

/* ---- gcphases ------------------------------------------------------------ */

#define PHASE_NODES 20000 /* live list the cycle has to mark */
#define PHASE_SAMPLES 256

static dnode *g_phase_list;
static struct {
	gc_colors samples[PHASE_SAMPLES];
	size_t n;
	volatile bool stop;
} phase_census;

static void census_task(void *unused)
{
	(void)unused;
	while (!phase_census.stop) {
		gc_colors c;
		gc_color_census(&c);
		if (phase_census.n < PHASE_SAMPLES &&
		    (c.phase != GC_PHASE_OFF || phase_census.n == 0 ||
		     phase_census.samples[phase_census.n - 1].phase != GC_PHASE_OFF))
			phase_census.samples[phase_census.n++] = c;
		task_sleep(500 * 1000); /* let the mark worker progress */
	}
}

static void collector_task(void *unused)
{
	(void)unused;
	gc_collect();
}

static const char *phase_name(gc_phase p)
{
	return p == GC_PHASE_MARK ? "mark (barrier on)" : p == GC_PHASE_MARK_TERM ? "mark term (STW)" : "off (barrier off)";
}

int demo_gcphases(void)
{
	char err[64];
	gc_collect(); /* start from a quiet, swept heap */
	for (int i = 0; i < PHASE_NODES; i++) {
		dnode *n = gc_alloc(&dnode_type);
		if (!n)
			return 1;
		n->tag = (uint64_t)i;
		gc_write(&n->next, g_phase_list);
		gc_write(&g_phase_list, n);
	}
	kprintf("a live list of %d objects; gctrace on for this cycle\n", PHASE_NODES);
	gc_stats before, after;
	gc_read_stats(&before);
	cmdline_parse_token("gctrace=1", err, sizeof err);

	phase_census.n = 0;
	phase_census.stop = false;
	task *census = task_spawn(census_task, NULL, "census");
	task *collector = task_spawn(collector_task, NULL, "collector");
	if (!census || !collector) {
		phase_census.stop = true;
		return 1;
	}
	task_join(collector);
	phase_census.stop = true;
	task_join(census);
	cmdline_parse_token("gctrace=0", err, sizeof err);
	gc_read_stats(&after);

	kprintf("colour census sampled by another task while the cycle ran (%zu samples):\n",
		phase_census.n);
	kprintf("  %4s %-18s %8s %8s %8s\n", "#", "phase", "white", "grey", "black");
	size_t marking = 0;
	uint64_t max_grey = 0, max_black = 0;
	size_t step = phase_census.n > 16 ? phase_census.n / 16 : 1;
	for (size_t i = 0; i < phase_census.n; i++) {
		const gc_colors *c = &phase_census.samples[i];
		if (c->phase != GC_PHASE_OFF)
			marking++;
		max_grey = MAX(max_grey, c->grey);
		max_black = MAX(max_black, c->black);
		if (i % step == 0 || i + 1 == phase_census.n)
			kprintf("  %4zu %-18s %8llu %8llu %8llu\n", i, phase_name(c->phase),
				(unsigned long long)c->white, (unsigned long long)c->grey,
				(unsigned long long)c->black);
	}
	uint64_t npauses = after.npauses - before.npauses;
	kprintf("the cycle, phase by phase:\n");
	kprintf("  1. mark setup (STW): sweep finished, barrier + allocate-black on\n");
	kprintf("  2. concurrent mark: %llu us, grey peaked at %llu, black reached %llu\n",
		(unsigned long long)((after.mark_ns_total - before.mark_ns_total) / 1000),
		(unsigned long long)max_grey, (unsigned long long)max_black);
	kprintf("  3. mark termination (STW): barrier off, sweep generation flips\n");
	for (uint64_t k = 0; k < npauses && k < GC_PAUSE_HISTORY; k++) {
		uint64_t idx = (before.npauses + k) % GC_PAUSE_HISTORY;
		kprintf("     pause %llu: %llu us\n", (unsigned long long)k + 1,
			(unsigned long long)(after.pauses_ns[idx] / 1000));
	}
	kprintf("  4. sweep: %llu objects freed; live after the cycle %llu KiB, next goal %llu KiB\n",
		(unsigned long long)(after.freed_objects - before.freed_objects),
		(unsigned long long)(after.heap_live / 1024), (unsigned long long)(after.heap_goal / 1024));
	kprintf("  cycles %llu -> %llu, STW total %llu us, GC CPU since boot %u.%u%%\n",
		(unsigned long long)before.cycles, (unsigned long long)after.cycles,
		(unsigned long long)((after.pause_total_ns - before.pause_total_ns) / 1000),
		gc_cpu_permille() / 10, gc_cpu_permille() % 10);
	gc_write(&g_phase_list, NULL);

	demo_last.gcphases.samples = phase_census.n;
	demo_last.gcphases.samples_marking = marking;
	demo_last.gcphases.max_grey = max_grey;
	demo_last.gcphases.max_black = max_black;
	demo_last.gcphases.cycles = after.cycles - before.cycles;
	demo_last.gcphases.pauses = npauses;
	demo_last.gcphases.pause_ns = after.pause_total_ns - before.pause_total_ns;
	return after.cycles > before.cycles ? 0 : 1;
}

/* ---- memleak -------------------------------------------------------------- */

#define LEAK_LIST_LEN 200

typedef struct cache_entry {
	struct cache_entry *next;
	void *data; /* 1 KiB payload */
} cache_entry;
static GC_TYPE_DEFINE(cache_entry_type, cache_entry, next, data);
static cache_entry *g_request_cache; /* appended to, never pruned */

static uintptr_t g_hidden_buffer, g_hidden_chan; /* set by the blocked task */
static volatile bool g_finalizer_ran;

static void note_finalized(void *obj)
{
	(void)obj;
	g_finalizer_ran = true;
}

/* Holds a buffer in its frame and waits for a message nobody sends. */
static void waiting_holder(void *unused)
{
	(void)unused;
	void *buffer = gc_alloc_noscan(32 * 1024);
	chan *c = chan_make(sizeof(int), 0);
	if (!buffer || !c)
		return;
	g_hidden_buffer = hide(buffer);
	g_hidden_chan = hide(c);
	int v;
	chan_recv(c, &v); /* returns only when the demo closes c at the end */
	((volatile char *)buffer)[0] = (char)v;
}

static __attribute__((noinline)) bool fill_cache(void)
{
	for (int i = 0; i < LEAK_LIST_LEN; i++) {
		cache_entry *e = gc_alloc(&cache_entry_type);
		void *d = gc_alloc_noscan(1024);
		if (!e || !d)
			return false;
		gc_write(&e->data, d);
		gc_write(&e->next, g_request_cache);
		gc_write(&g_request_cache, e);
	}
	return true;
}

static __attribute__((noinline)) uintptr_t make_finalizer_cycle(void)
{
	dnode *a = gc_alloc(&dnode_type), *b = gc_alloc(&dnode_type);
	if (!a || !b)
		return 0;
	gc_write(&a->next, b);
	gc_write(&b->next, a); /* a -> b -> a: a is reachable from itself */
	gc_set_finalizer(a, note_finalized);
	return hide(a);
}

/* The objects the demo asks about, hidden: main never holds them in a
 * register or a stack slot, where (stacks being scanned conservatively)
 * a stale copy would keep them after the fixes. */
static struct {
	uintptr_t payload, buffer, cycle_a, cycle_b;
	int path_list, path_chan, path_cycle;
} g_leak_objs;

/* Runs in a task of its own, which exits before the next collection. */
static void why_alive_task(void *unused)
{
	(void)unused;
	cache_entry *e = g_request_cache;
	for (int i = 0; i < 2 && e->next; i++)
		e = e->next;
	g_leak_objs.payload = hide(e->data);
	g_leak_objs.cycle_b = hide(((dnode *)unhide(g_leak_objs.cycle_a))->next);
	kprintf("why is the 3rd list entry's payload alive?\n");
	g_leak_objs.path_list = why_alive(e->data);
	kprintf("why is the blocked task's buffer alive?\n");
	g_leak_objs.path_chan = why_alive(unhide(g_leak_objs.buffer));
	kprintf("why is the finalizer cycle alive?\n");
	g_leak_objs.path_cycle = why_alive(unhide(g_leak_objs.cycle_a));
}

static bool still_allocated(uintptr_t hidden)
{
	return gc_find_object(unhide(hidden), NULL);
}

static const char *alive_word(bool alive)
{
	return alive ? "still allocated" : "freed";
}

int demo_memleak(void)
{
	gc_stats st;
	g_finalizer_ran = false;
	g_hidden_buffer = g_hidden_chan = 0;
	memset(&g_leak_objs, 0, sizeof g_leak_objs);

	kprintf("1. a long-lived global list that is appended to and never pruned (%d x 1 KiB)\n",
		LEAK_LIST_LEN);
	if (!fill_cache())
		return 1;
	kprintf("2. a task blocked on a channel nobody sends to or closes, holding a 32 KiB buffer\n");
	task *holder = task_spawn(waiting_holder, NULL, "buffer-holder");
	if (!holder)
		return 1;
	demo_wait_blocked(holder);
	kprintf("3. a cycle a -> b -> a with a finalizer on a\n");
	g_leak_objs.cycle_a = make_finalizer_cycle();
	if (!g_leak_objs.cycle_a || !g_hidden_buffer)
		return 1;
	g_leak_objs.buffer = g_hidden_buffer;
	scrub_stack();
	gc_collect();
	gc_collect();
	gc_read_stats(&st);
	task *why = task_spawn(why_alive_task, NULL, "why-alive");
	if (!why)
		return 1;
	task_join(why);
	bool buffer_alive = still_allocated(g_leak_objs.buffer);
	bool cycle_alive = still_allocated(g_leak_objs.cycle_a) &&
			   still_allocated(g_leak_objs.cycle_b);
	kprintf("after two collections: heap in use %llu KiB\n  the buffer: %s; a and b: %s; "
		"a's finalizer: %s\n", (unsigned long long)(st.heap_in_use / 1024),
		alive_word(buffer_alive), alive_word(cycle_alive),
		g_finalizer_ran ? "ran" : "never ran");
	if (cycle_alive && !g_finalizer_ran) {
		kprintf("  => the collector marks everything a finalizable object points to (so a "
			"finalizer never\n     sees freed memory; Go does the same), and from a that "
			"includes a itself, through b:\n     a is never unreachable, its finalizer never "
			"runs, and the pair is never freed\n");
	}

	kprintf("the fixes: prune the list, close the channel, remove the finalizer\n");
	gc_write(&g_request_cache, NULL);
	chan_close(unhide(g_hidden_chan));
	task_join(holder);
	gc_set_finalizer(unhide(g_leak_objs.cycle_a), NULL);
	g_hidden_buffer = g_hidden_chan = 0;
	scrub_stack();
	gc_collect();
	gc_stats st2;
	gc_read_stats(&st2);
	bool payload_after = still_allocated(g_leak_objs.payload);
	bool buffer_after = still_allocated(g_leak_objs.buffer);
	bool cycle_after = still_allocated(g_leak_objs.cycle_a) ||
			   still_allocated(g_leak_objs.cycle_b);
	kprintf("after one collection: heap in use %llu KiB (was %llu KiB)\n  the payload: %s; "
		"the buffer: %s; a and b: %s\n", (unsigned long long)(st2.heap_in_use / 1024),
		(unsigned long long)(st.heap_in_use / 1024), alive_word(payload_after),
		alive_word(buffer_after), cycle_after ? "still allocated" : "freed");
	if (!payload_after && !buffer_after && !cycle_after)
		kprintf("  => each fix let the collector free what it kept\n");

	demo_last.memleak = (typeof(demo_last.memleak)){
		.path_list = g_leak_objs.path_list,
		.path_chan = g_leak_objs.path_chan,
		.path_cycle = g_leak_objs.path_cycle,
		.finalizer_ran = g_finalizer_ran,
		.buffer_kept = buffer_alive,
		.cycle_kept = cycle_alive,
		.payload_freed = !payload_after,
		.buffer_freed = !buffer_after,
		.cycle_freed = !cycle_after,
	};
	return g_leak_objs.path_list > 0 && g_leak_objs.path_chan > 0 && !g_finalizer_ran ? 0 : 1;
}
