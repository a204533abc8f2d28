/*
 * tests/gc_bench.c - collector benchmarks. Where the framework's ns/op fits,
 * the BENCH line is it; figures that are not a time per operation are
 * printed as extra `BENCH <name> <value> <unit>` lines (once per
 * benchmark, from its warm-up round).
 *
 *   binary_trees_16/18  the benchmarks-game program (Boehm's), depth 16 and
 *                       18; ns per node allocated (checks included)
 *   gcbench             Ellis/Kovac/Boehm GCBench (stretch 18, long-lived
 *                       16, 500k-double array, trees 4..16 top-down and
 *                       bottom-up); ns per full run
 *   mark_24m            a forced cycle over 24 MiB of live tree; ns per
 *                       byte marked (wall clock of gc_collect: it includes
 *                       the worker's 25% duty cycle), plus
 *                       gc.mark_24m.cpu_mbps: bytes marked per second of
 *                       collector CPU (worker, assists, STW, sweeper)
 *   churn_8m            a window of 8 MiB of live objects, each operation
 *                       replaces one (pacer-driven cycles); ns per
 *                       allocation, plus gc.churn_8m.cpu_fraction in
 *                       permille of wall time spent in the collector
 *   pause_<L>m_<T>t     STW pauses with L MiB live and T extra tasks
 *                       blocked (half on a channel, half in task_sleep),
 *                       each holding heap objects on its stack; ns per
 *                       forced cycle, plus .median/.p99/.max of the
 *                       pauses of 30 cycles (fewer under emulation), in ns
 */
#include "chan/chan.h"
#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"

/* Zeroes stack below the caller: the deep recursions that build trees
 * leave node addresses there, and a conservative scan of a later frame
 * that reuses the area would keep a dropped tree alive into the next
 * benchmark. */
static __attribute__((noinline)) void bench_scrub_stack(void)
{
	volatile char buf[6144];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = 0;
	__asm__ volatile("" ::"r"(buf) : "memory");
}

/*
 * Benchmarks cut the roots of their big structures before dropping them:
 * the heap's own metadata in .bss (mheap_global.arena_start) is scanned as
 * a root and pins whatever object sits at the arena's first address, and
 * a pinned tree root would keep a whole tree live into later benchmarks.
 */
#define BENCH_CUT(node)                                  \
	do {                                             \
		if (node) {                              \
			gc_write(&(node)->left, NULL);   \
			gc_write(&(node)->right, NULL);  \
		}                                        \
	} while (0)

/* Drops what the previous benchmark left and collects it. */
static __attribute__((noinline)) void bench_clean_heap(void)
{
	bench_scrub_stack();
	gc_collect();
}

static gc_stats bench_stats(void)
{
	gc_stats s;
	gc_read_stats(&s);
	return s;
}

/* ---- binary-trees ---------------------------------------------------- */

typedef struct bt_node {
	struct bt_node *left, *right;
} bt_node;
static GC_TYPE_DEFINE(bt_type, bt_node, left, right);

static bt_node *bt_make(int depth)
{
	bt_node *n = gc_alloc(&bt_type);
	if (!n)
		panic("binary_trees: %s", gc_last_error());
	if (depth > 0) {
		bt_node *l = bt_make(depth - 1), *r = bt_make(depth - 1);
		gc_write(&n->left, l);
		gc_write(&n->right, r);
	}
	return n;
}

static uint64_t bt_check(const bt_node *n)
{
	return 1 + (n->left ? bt_check(n->left) + bt_check(n->right) : 0);
}

static uint64_t bt_nodes(int depth)
{
	return (2ULL << depth) - 1;
}

/* The benchmarks-game program; returns the nodes it allocated. */
static uint64_t binary_trees(int max_depth)
{
	const int min_depth = 4;
	uint64_t allocated = 0;
	bt_node *stretch = bt_make(max_depth + 1);
	if (bt_check(stretch) != bt_nodes(max_depth + 1))
		panic("binary_trees: stretch tree broken");
	allocated += bt_nodes(max_depth + 1);
	BENCH_CUT(stretch);
	stretch = NULL;
	bt_node *volatile long_lived = bt_make(max_depth);
	allocated += bt_nodes(max_depth);
	for (int d = min_depth; d <= max_depth; d += 2) {
		uint64_t iterations = 1ULL << (max_depth - d + min_depth), check = 0;
		for (uint64_t i = 0; i < iterations; i++) {
			bt_node *t = bt_make(d);
			check += bt_check(t);
			BENCH_CUT(t);
		}
		if (check != iterations * bt_nodes(d))
			panic("binary_trees: depth %d check %llu", d, (unsigned long long)check);
		allocated += iterations * bt_nodes(d);
	}
	if (bt_check(long_lived) != bt_nodes(max_depth))
		panic("binary_trees: long-lived tree broken");
	BENCH_CUT(long_lived);
	return allocated;
}

static void bench_binary_trees(bench *b, int depth)
{
	bench_clean_heap();
	bench_start(b);
	uint64_t nodes = binary_trees(depth);
	bench_stop(b);
	b->ops = nodes;
	bench_clean_heap();
}

BENCH(gc, binary_trees_16, 1) { bench_binary_trees(b, 16); }
BENCH(gc, binary_trees_18, 1) { bench_binary_trees(b, 18); }

/* ---- GCBench (Ellis, Kovac, Boehm) ----------------------------------- */

typedef struct gcb_node {
	struct gcb_node *left, *right;
	int64_t i, j;
} gcb_node;
static GC_TYPE_DEFINE(gcb_type, gcb_node, left, right);

enum {
	GCB_STRETCH_DEPTH = 18,
	GCB_LONG_LIVED_DEPTH = 16,
	GCB_ARRAY_SIZE = 500000,
	GCB_MIN_DEPTH = 4,
	GCB_MAX_DEPTH = 16,
};

static gcb_node *gcb_new(void)
{
	gcb_node *n = gc_alloc(&gcb_type);
	if (!n)
		panic("gcbench: %s", gc_last_error());
	return n;
}

static int64_t gcb_tree_size(int depth)
{
	return (1LL << (depth + 1)) - 1;
}

/* Top down: children are allocated and stored into an existing parent. */
static void gcb_populate(int depth, gcb_node *n)
{
	if (depth <= 0)
		return;
	depth--;
	gc_write(&n->left, gcb_new());
	gc_write(&n->right, gcb_new());
	gcb_populate(depth, n->left);
	gcb_populate(depth, n->right);
}

/* Bottom up. */
static gcb_node *gcb_make(int depth)
{
	gcb_node *n = gcb_new();
	if (depth > 0) {
		gcb_node *l = gcb_make(depth - 1), *r = gcb_make(depth - 1);
		gc_write(&n->left, l);
		gc_write(&n->right, r);
	}
	return n;
}

static void gcbench(void)
{
	/* stretch the heap */
	gcb_node *volatile temp = gcb_make(GCB_STRETCH_DEPTH);
	BENCH_CUT(temp);
	temp = NULL;
	gcb_node *volatile long_lived = gcb_new();
	gcb_populate(GCB_LONG_LIVED_DEPTH, long_lived);
	/* The original's array of doubles, as 32.32 fixed point (no FPU in
	 * the kernel). */
	uint64_t *volatile array = gc_alloc_noscan(GCB_ARRAY_SIZE * sizeof(uint64_t));
	if (!array)
		panic("gcbench: %s", gc_last_error());
	for (int i = 0; i < GCB_ARRAY_SIZE / 2; i++)
		array[i] = (1ULL << 32) / (uint64_t)(i + 1);
	for (int d = GCB_MIN_DEPTH; d <= GCB_MAX_DEPTH; d += 2) {
		int64_t iters = 2 * gcb_tree_size(GCB_STRETCH_DEPTH) / gcb_tree_size(d);
		for (int64_t i = 0; i < iters; i++) {
			temp = gcb_new();
			gcb_populate(d, temp);
			BENCH_CUT(temp);
			temp = NULL;
		}
		for (int64_t i = 0; i < iters; i++) {
			temp = gcb_make(d);
			BENCH_CUT(temp);
		}
		temp = NULL;
	}
	if (!long_lived || array[1000] != (1ULL << 32) / 1001)
		panic("gcbench: long-lived data lost");
	BENCH_CUT(long_lived);
}

BENCH(gc, gcbench, 1)
{
	bench_clean_heap();
	bench_start(b);
	gcbench();
	bench_stop(b);
	bench_clean_heap();
}

/* ---- mark throughput --------------------------------------------------- */

typedef struct live_node {
	struct live_node *left, *right;
	uint64_t payload[4];
} live_node; /* 48 bytes */
static GC_TYPE_DEFINE(live_type, live_node, left, right);

/* A complete tree of about `bytes` of live_nodes. */
static live_node *live_tree(int depth)
{
	live_node *n = gc_alloc(&live_type);
	if (!n)
		panic("gc bench: %s", gc_last_error());
	if (depth > 0) {
		live_node *l = live_tree(depth - 1), *r = live_tree(depth - 1);
		gc_write(&n->left, l);
		gc_write(&n->right, r);
	}
	return n;
}

static int live_depth_for(size_t bytes)
{
	int d = 0;
	while ((bt_nodes(d + 1) * sizeof(live_node)) <= bytes)
		d++;
	return d;
}

static live_node *g_bench_live;
static int g_mark_rounds;

BENCH(gc, mark_24m, 1)
{
	bench_clean_heap();
	gc_write(&g_bench_live, live_tree(live_depth_for(24 << 20)));
	bench_clean_heap();
	gc_stats s0 = bench_stats();
	bench_start(b);
	gc_collect();
	bench_stop(b);
	gc_stats s1 = bench_stats();
	uint64_t marked = s1.marked_bytes_total - s0.marked_bytes_total;
	uint64_t cpu = s1.gc_cpu_ns - s0.gc_cpu_ns;
	b->ops = marked ? marked : 1;
	if (g_mark_rounds++ == 0 && cpu)
		kprintf("BENCH gc.mark_24m.cpu_mbps %llu MB/s marked=%llu cpu_ns=%llu\n",
			(unsigned long long)(marked * 1000 / cpu),
			(unsigned long long)marked, (unsigned long long)cpu);
	BENCH_CUT(g_bench_live);
	gc_write(&g_bench_live, NULL);
	bench_clean_heap();
}

/* ---- GC CPU fraction under churn ---------------------------------------- */

typedef struct churn_slot {
	void *p;
} churn_slot;
static GC_TYPE_DEFINE(churn_slot_type, churn_slot, p);

#define CHURN_LIVE_OBJECTS ((8 << 20) / 128)
#define CHURN_OPS 2000000
static int g_churn_rounds;

BENCH(gc, churn_8m, CHURN_OPS)
{
	bench_clean_heap();
	churn_slot *window = gc_alloc_array(&churn_slot_type, CHURN_LIVE_OBJECTS);
	if (!window)
		panic("churn: %s", gc_last_error());
	for (size_t i = 0; i < CHURN_LIVE_OBJECTS; i++)
		gc_write(&window[i].p, gc_alloc_array(&churn_slot_type, 16));
	bench_clean_heap();
	gc_stats s0 = bench_stats();
	uint64_t t0 = arch_nanotime();
	uint64_t x = 88172645463325252ULL;
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t n = 2 + (x >> 60); /* 16 .. 136 bytes, scanned */
		churn_slot *o = gc_alloc_array(&churn_slot_type, n);
		if (!o)
			panic("churn: %s", gc_last_error());
		gc_write(&window[(x >> 8) % CHURN_LIVE_OBJECTS].p, o);
	}
	bench_stop(b);
	uint64_t wall = arch_nanotime() - t0;
	gc_stats s1 = bench_stats();
	if (g_churn_rounds++ == 0 && wall)
		kprintf("BENCH gc.churn_8m.cpu_fraction %llu permille cycles=%llu\n",
			(unsigned long long)((s1.gc_cpu_ns - s0.gc_cpu_ns) * 1000 / wall),
			(unsigned long long)(s1.cycles - s0.cycles));
	for (size_t i = 0; i < CHURN_LIVE_OBJECTS; i++)
		gc_write(&window[i].p, NULL);
	window = NULL;
	bench_clean_heap();
}

/* ---- STW pauses ------------------------------------------------------------ */

typedef struct big_node {
	struct big_node *left, *right;
	uint64_t payload[62];
} big_node; /* 512 bytes: a large live heap of few objects */
static GC_TYPE_DEFINE(big_type, big_node, left, right);

static big_node *big_tree(int depth)
{
	big_node *n = gc_alloc(&big_type);
	if (!n)
		panic("gc bench: %s", gc_last_error());
	if (depth > 0) {
		big_node *l = big_tree(depth - 1), *r = big_tree(depth - 1);
		gc_write(&n->left, l);
		gc_write(&n->right, r);
	}
	return n;
}

static big_node *g_pause_live;

static struct {
	chan *wake;
	volatile int stop;
} g_pause;

#define PAUSE_SLEEP_NS (20 * 1000 * 1000ULL)

static void blocked_task(void *arg)
{
	/* something on the stack for the scan to find */
	bt_node *volatile mine = bt_make(3);
	if ((uintptr_t)arg % 2) {
		int v;
		chan_recv(g_pause.wake, &v); /* until closed */
	} else {
		while (!g_pause.stop)
			task_sleep(PAUSE_SLEEP_NS);
	}
	if (bt_check(mine) != bt_nodes(3))
		panic("pause bench: a blocked task's tree was lost");
}

static void pause_sort(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t x = v[i];
		size_t j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The reporting round: 30 cycles, or as many as fit in 20 s (at least
 * 3) where marking is slow (emulation). Timed rounds: one cycle. */
#define PAUSE_CYCLES 30
#define PAUSE_REPORT_NS (20000 * 1000 * 1000ULL)

static void bench_pauses(bench *b, size_t live_mib, size_t ntasks, const char *name,
			 int *rounds)
{
	int depth = 0;
	while (bt_nodes(depth + 1) * sizeof(big_node) <= (live_mib << 20))
		depth++;
	bench_clean_heap();
	gc_write(&g_pause_live, big_tree(depth));
	g_pause.stop = 0;
	g_pause.wake = chan_make(sizeof(int), 0);
	static task *tasks[1000];
	if (!g_pause.wake || ntasks > ARRAY_SIZE(tasks))
		panic("pause bench: setup");
	for (size_t i = 0; i < ntasks; i++) {
		tasks[i] = task_spawn(blocked_task, (void *)i, "bench-blocked");
		if (!tasks[i])
			panic("pause bench: %s", heap_last_error());
	}
	task_sleep(2 * PAUSE_SLEEP_NS); /* all blocked */
	bench_clean_heap();

	bool report = (*rounds)++ == 0;
	int cycles = 0;
	gc_stats s0 = bench_stats();
	uint64_t t0 = arch_nanotime();
	bench_start(b);
	do {
		gc_collect();
		cycles++;
	} while (report && cycles < PAUSE_CYCLES &&
		 (cycles < 3 || arch_nanotime() - t0 < PAUSE_REPORT_NS));
	bench_stop(b);
	b->ops = (uint64_t)cycles;
	gc_stats s1 = bench_stats();

	if (report) {
		static uint64_t p[GC_PAUSE_HISTORY];
		uint64_t n = MIN(s1.npauses - s0.npauses, (uint64_t)GC_PAUSE_HISTORY);
		for (uint64_t k = 0; k < n; k++)
			p[k] = s1.pauses_ns[(s1.npauses - 1 - k) % GC_PAUSE_HISTORY];
		pause_sort(p, n);
		if (n > 0) {
			uint64_t p99 = p[(n * 99 + 99) / 100 - 1];
			kprintf("BENCH gc.%s.median %llu ns\n", name,
				(unsigned long long)p[n / 2]);
			kprintf("BENCH gc.%s.p99 %llu ns\n", name, (unsigned long long)p99);
			kprintf("BENCH gc.%s.max %llu ns pauses=%llu live=%lluMiB tasks=%zu\n",
				name, (unsigned long long)p[n - 1], (unsigned long long)n,
				(unsigned long long)(s1.heap_live >> 20), task_count());
		}
	}
	g_pause.stop = 1;
	chan_close(g_pause.wake);
	for (size_t i = 0; i < ntasks; i++)
		task_join(tasks[i]);
	g_pause.wake = NULL;
	BENCH_CUT(g_pause_live);
	gc_write(&g_pause_live, NULL);
	bench_clean_heap();
}

static int g_p16_10, g_p16_1000, g_p64_10, g_p64_1000;
BENCH(gc, pause_16m_10t, 1) { bench_pauses(b, 16, 10, "pause_16m_10t", &g_p16_10); }
BENCH(gc, pause_16m_1000t, 1) { bench_pauses(b, 16, 1000, "pause_16m_1000t", &g_p16_1000); }
BENCH(gc, pause_64m_10t, 1) { bench_pauses(b, 64, 10, "pause_64m_10t", &g_p64_10); }
BENCH(gc, pause_64m_1000t, 1) { bench_pauses(b, 64, 1000, "pause_64m_1000t", &g_p64_1000); }
