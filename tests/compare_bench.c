/*
 * tests/compare_bench.c - suite "compare": tricolor's side of `make compare`
 * (tools/compare/). The same workloads, parameters and checksums as the Go
 * programs (tools/compare/go/main.go) and the Boehm / malloc programs
 * (tools/compare/workloads.c); the driver (tools/compare/compare.py) runs
 * them interleaved and compares the checksums, so no side does less work.
 *
 *   binary_trees  the Benchmarks Game workload, max depth compare_depth=
 *   gcbench       Ellis/Kovac/Boehm GCBench, stretch depth compare_depth=
 *                 (18 is the original's)
 *   alloc         compare_n= pointer-free objects of compare_size= bytes,
 *                 each live in a ring of 256 until replaced
 *   churn         a window of compare_live= live objects (16..512 B); each
 *                 of compare_n= steps replaces the oldest; compare_tasks=
 *                 parked tasks alive meanwhile (their stacks are roots)
 *   yield         two tasks yielding compare_n= times each
 *   chan          compare_n= round trips over two unbuffered channels
 *
 * One operation is one whole run of the workload (ops = 1), so the BENCH
 * value is nanoseconds per run; the driver divides by the item count. The
 * first round prints "# check compare.NAME <checksum>"; a later round with
 * another checksum is a panic. With compare_warmup=0 the
 * framework's warm-up round does nothing, so a fresh process's one timed
 * round is a cold run, as on the other sides (which the driver runs with
 * warmup=0 too). compare_sample=1 makes churn print the collector's state
 * every 2 ms ("GCSAMPLE ..."), for `make plots`.
 * The defaults are small, so `make bench` (bench=all, also under QEMU) stays
 * quick; the driver passes the real sizes.
 */
#include "chan/chan.h"
#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"
#include "tests/mm_bench.h"

static int64_t compare_depth = 12;
static int64_t compare_size = 16;
static int64_t compare_n = 100000;
static int64_t compare_live = 16384;
static int64_t compare_tasks;
static bool compare_warmup = true;
static bool compare_sample;
CMDLINE_INT(compare_depth, "compare_depth", 6, 30,
	    "bench compare: binary_trees max depth / gcbench stretch depth");
CMDLINE_INT(compare_size, "compare_size", 16, 32768, "bench compare.alloc: object bytes");
CMDLINE_INT(compare_n, "compare_n", 1, 1LL << 40,
	    "bench compare: allocations (alloc, churn) or round trips (yield, chan)");
CMDLINE_INT(compare_live, "compare_live", 1, 1LL << 30, "bench compare.churn: live objects");
CMDLINE_INT(compare_tasks, "compare_tasks", 0, 100000,
	    "bench compare.churn: parked tasks alive meanwhile");
CMDLINE_BOOL(compare_warmup, "compare_warmup",
	     "bench compare: run the workload in the framework's warm-up round");
CMDLINE_BOOL(compare_sample, "compare_sample",
	     "bench compare.churn: print the collector's state every 2 ms");

/* Rounds run so far in this process, per benchmark: round 0 is the
 * framework's warm-up. */
enum { CMP_BINARY_TREES, CMP_GCBENCH, CMP_ALLOC, CMP_CHURN, CMP_YIELD, CMP_CHAN, CMP_COUNT };
static unsigned compare_rounds[CMP_COUNT];

/* True (after timing nothing) if this is a warm-up round to skip. */
static bool compare_skip_round(bench *b, int which)
{
	if (compare_rounds[which]++ > 0 || compare_warmup)
		return false;
	bench_start(b);
	bench_stop(b);
	return true;
}

/* Prints the checksum once per process ("# check compare.NAME <sum>", a
 * comment line in the bench output) and stops if a later round's differs:
 * every round must do the same work. */
static void compare_report(int which, const char *name, uint64_t checksum)
{
	static uint64_t first[CMP_COUNT];
	static bool seen[CMP_COUNT];

	if (!seen[which]) {
		seen[which] = true;
		first[which] = checksum;
		kprintf("# check compare.%s %llu\n", name, (unsigned long long)checksum);
	} else if (checksum != first[which]) {
		panic("compare.%s: checksum %llu, %llu in an earlier round", name,
		      (unsigned long long)checksum, (unsigned long long)first[which]);
	}
}

/* ---- binary-trees ---------------------------------------------------------- */
typedef struct cmp_node {
	struct cmp_node *left, *right;
} cmp_node;
static GC_TYPE_DEFINE(cmp_node_type, cmp_node, left, right);

/* Children first, then the parent, as the Benchmarks Game programs do. */
static cmp_node *bottom_up_tree(int depth)
{
	cmp_node *l = NULL, *r = NULL;
	if (depth > 0) {
		l = bottom_up_tree(depth - 1);
		r = bottom_up_tree(depth - 1);
	}
	cmp_node *n = gc_alloc_or_panic(&cmp_node_type);
	gc_write(&n->left, l);
	gc_write(&n->right, r);
	return n;
}

static uint64_t item_check(const cmp_node *n)
{
	return n->left ? 1 + item_check(n->left) + item_check(n->right) : 1;
}

#define BT_MIN_DEPTH 4

/* A stretch tree of depth max+1, a long-lived tree of depth max, then for
 * d = 4, 6, ..., max: 2^(max-d+4) trees of depth d built and checked. The
 * checksum is the sum of every check (nodes visited). */
BENCH(compare, binary_trees, 1)
{
	if (compare_skip_round(b, CMP_BINARY_TREES))
		return;
	int max_depth = MAX((int)compare_depth, BT_MIN_DEPTH + 2);
	bench_start(b);
	uint64_t sum = item_check(bottom_up_tree(max_depth + 1));
	cmp_node *long_lived = bottom_up_tree(max_depth);
	for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
		uint64_t iterations = 1ULL << (max_depth - d + BT_MIN_DEPTH);
		for (uint64_t i = 0; i < iterations; i++)
			sum += item_check(bottom_up_tree(d));
	}
	sum += item_check(long_lived);
	bench_stop(b);
	compare_report(CMP_BINARY_TREES, "binary_trees", sum);
}

/* ---- GCBench ------------------------------------------------------------------ */
typedef struct cmp_gnode {
	struct cmp_gnode *left, *right;
	int32_t i, j;
} cmp_gnode;
static GC_TYPE_DEFINE(cmp_gnode_type, cmp_gnode, left, right);

/* GCBench's constants, scaled by compare_depth (the stretch depth): see
 * tools/compare/go/main.go. Integers in the array: no FPU in the kernel. */
#define GCB_ARRAY_SIZE 500000
#define GCB_MIN_DEPTH 4

static uint64_t gcb_nodes; /* nodes allocated: part of the checksum */

static cmp_gnode *new_gnode(cmp_gnode *l, cmp_gnode *r)
{
	cmp_gnode *n = gc_alloc_or_panic(&cmp_gnode_type);
	gc_write(&n->left, l);
	gc_write(&n->right, r);
	gcb_nodes++;
	return n;
}

static int tree_size(int d)
{
	return (1 << (d + 1)) - 1;
}

/* Top-down: the parent first, then its children. */
static void populate(int depth, cmp_gnode *n)
{
	if (depth <= 0)
		return;
	depth--;
	gc_write(&n->left, new_gnode(NULL, NULL));
	gc_write(&n->right, new_gnode(NULL, NULL));
	populate(depth, n->left);
	populate(depth, n->right);
}

/* Bottom-up: the children first. */
static cmp_gnode *make_tree(int depth)
{
	if (depth <= 0)
		return new_gnode(NULL, NULL);
	cmp_gnode *l = make_tree(depth - 1);
	cmp_gnode *r = make_tree(depth - 1);
	return new_gnode(l, r);
}

static uint64_t count_tree(const cmp_gnode *n)
{
	return n ? 1 + count_tree(n->left) + count_tree(n->right) : 0;
}

/* Stores the temporary trees somewhere the compiler cannot drop. */
static cmp_gnode *gcb_sink;

BENCH(compare, gcbench, 1)
{
	if (compare_skip_round(b, CMP_GCBENCH))
		return;
	int stretch = (int)compare_depth;
	int long_lived_depth = stretch - 2, max_depth = stretch - 2;
	bench_start(b);
	gcb_nodes = 0;
	gc_write(&gcb_sink, make_tree(stretch)); /* stretch the heap */
	gc_write(&gcb_sink, NULL);
	cmp_gnode *long_lived = new_gnode(NULL, NULL);
	populate(long_lived_depth, long_lived);
	uint64_t *array = gc_alloc_noscan(GCB_ARRAY_SIZE * sizeof(uint64_t));
	if (!array)
		panic("compare.gcbench: %s", gc_last_error());
	for (int i = 0; i < GCB_ARRAY_SIZE / 2; i++)
		array[i] = (uint64_t)i;
	for (int d = GCB_MIN_DEPTH; d <= max_depth; d += 2) {
		int iters = 2 * tree_size(stretch) / tree_size(d);
		for (int i = 0; i < iters; i++) { /* top-down */
			cmp_gnode *t = new_gnode(NULL, NULL);
			populate(d, t);
			gc_write(&gcb_sink, t);
		}
		for (int i = 0; i < iters; i++) /* bottom-up */
			gc_write(&gcb_sink, make_tree(d));
	}
	gc_write(&gcb_sink, NULL);
	if (array[1000] != 1000)
		panic("compare.gcbench: array[1000] corrupted");
	uint64_t sum = gcb_nodes * 1000003 + count_tree(long_lived);
	bench_stop(b);
	compare_report(CMP_GCBENCH, "gcbench", sum);
}

/* ---- small-object allocation ------------------------------------------------ */
#define ALLOC_RING 256
static uint64_t *alloc_ring[ALLOC_RING]; /* bss: a root */

/* Object i holds i in its first word and stays live in the ring until
 * object i+256 replaces it; the checksum sums the replaced objects' words. */
BENCH(compare, alloc, 1)
{
	if (compare_skip_round(b, CMP_ALLOC))
		return;
	size_t size = (size_t)compare_size;
	uint64_t n = (uint64_t)compare_n, sum = 0;
	bench_start(b);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *obj = gc_alloc_noscan(size);
		if (!obj)
			panic("compare.alloc: %s", gc_last_error());
		obj[0] = i;
		uint64_t *old = alloc_ring[i % ALLOC_RING];
		if (old)
			sum += old[0];
		gc_write(&alloc_ring[i % ALLOC_RING], obj);
	}
	for (size_t s = 0; s < ALLOC_RING; s++) {
		if (alloc_ring[s])
			sum += alloc_ring[s][0];
		gc_write(&alloc_ring[s], NULL);
	}
	bench_stop(b);
	compare_report(CMP_ALLOC, "alloc", sum);
}

/* ---- churn: a sliding window of live objects ---------------------------------- */
typedef struct cmp_slot {
	uint64_t *obj;
} cmp_slot;
static GC_TYPE_DEFINE(cmp_slot_type, cmp_slot, obj);

#define SAMPLE_EVERY_OPS 4096          /* clock reads this far apart */
#define SAMPLE_PERIOD_NS (2000000ULL) /* one GCSAMPLE line per 2 ms */

/* One line of the collector's state, for tools/compare/plot.py. */
static void compare_print_sample(void)
{
	gc_stats s;
	gc_read_stats(&s);
	kprintf("GCSAMPLE t_ns=%llu in_use=%llu goal=%llu trigger=%llu live=%llu "
		"gc_cpu_ns=%llu cycles=%llu phase=%d\n",
		(unsigned long long)s.uptime_ns, (unsigned long long)s.heap_in_use,
		(unsigned long long)s.heap_goal, (unsigned long long)s.heap_trigger,
		(unsigned long long)s.heap_live, (unsigned long long)s.gc_cpu_ns,
		(unsigned long long)s.cycles, (int)s.phase);
}

static void compare_park(void *release)
{
	waitgroup_wait(release);
}

BENCH(compare, churn, 1)
{
	if (compare_skip_round(b, CMP_CHURN))
		return;
	uint64_t live = (uint64_t)compare_live, n = (uint64_t)compare_n, sum = 0;
	size_t ntasks = (size_t)compare_tasks;
	uint64_t last_sample = 0;
	static waitgroup release;
	bench_start(b);
	/* The parked tasks' records are on the heap, found through this
	 * array; the array itself is only reached from this frame. */
	task **parked = ntasks ? gc_alloc_array(&gc_type_conservative, ntasks) : NULL;
	if (ntasks && !parked)
		panic("compare.churn: %s", gc_last_error());
	waitgroup_init(&release);
	waitgroup_add(&release, 1);
	for (size_t t = 0; t < ntasks; t++) {
		task *pt = task_spawn(compare_park, &release, "parked");
		if (!pt)
			panic("compare.churn: spawn failed: %s", heap_last_error());
		gc_write(&parked[t], pt);
	}
	cmp_slot *window = gc_alloc_array(&cmp_slot_type, live);
	if (!window)
		panic("compare.churn: %s", gc_last_error());
	for (uint64_t i = 0; i < live + n; i++) {
		uint64_t slot = i % live;
		if (i >= live)
			sum += window[slot].obj[0];
		uint64_t *obj = gc_alloc_noscan(bench_churn_size(i));
		if (!obj)
			panic("compare.churn: %s", gc_last_error());
		obj[0] = i;
		gc_write(&window[slot].obj, obj);
		if (compare_sample && i % SAMPLE_EVERY_OPS == 0 &&
		    arch_nanotime() - last_sample >= SAMPLE_PERIOD_NS) {
			compare_print_sample();
			last_sample = arch_nanotime();
		}
	}
	for (uint64_t i = 0; i < live; i++)
		sum += window[i].obj[0];
	waitgroup_done(&release);
	for (size_t t = 0; t < ntasks; t++)
		task_join(parked[t]);
	bench_stop(b);
	compare_report(CMP_CHURN, "churn", sum);
}

/* ---- scheduler: yield and channel ping-pong --------------------------------- */
static uint64_t yield_partner_count;

static void compare_yield_partner(void *arg)
{
	uint64_t n = (uint64_t)(uintptr_t)arg;
	for (uint64_t i = 0; i < n; i++) {
		task_yield();
		yield_partner_count++;
	}
}

/* Two tasks each yield n times: 2n switches. The checksum counts yields. */
BENCH(compare, yield, 1)
{
	if (compare_skip_round(b, CMP_YIELD))
		return;
	uint64_t n = (uint64_t)compare_n, count = 0;
	yield_partner_count = 0;
	bench_start(b);
	task *t = task_spawn(compare_yield_partner, (void *)(uintptr_t)n, "yield partner");
	if (!t)
		panic("compare.yield: spawn failed: %s", heap_last_error());
	for (uint64_t i = 0; i < n; i++) {
		task_yield();
		count++;
	}
	task_join(t);
	bench_stop(b);
	compare_report(CMP_YIELD, "yield", count + yield_partner_count);
}

struct compare_pingpong {
	chan *ping, *pong;
};

static void compare_echo(void *arg)
{
	struct compare_pingpong *p = arg;
	uint64_t v;
	while (chan_recv(p->ping, &v))
		chan_send(p->pong, &v);
}

/* n round trips to an echo task; the checksum sums the values back. */
BENCH(compare, chan, 1)
{
	if (compare_skip_round(b, CMP_CHAN))
		return;
	static struct compare_pingpong p; /* bss: a root for the channels */
	uint64_t n = (uint64_t)compare_n, sum = 0, v;
	bench_start(b);
	p.ping = chan_make(sizeof(uint64_t), 0);
	p.pong = chan_make(sizeof(uint64_t), 0);
	if (!p.ping || !p.pong)
		panic("compare.chan: chan_make failed: %s", heap_last_error());
	task *t = task_spawn(compare_echo, &p, "echo");
	if (!t)
		panic("compare.chan: spawn failed: %s", heap_last_error());
	for (uint64_t i = 0; i < n; i++) {
		chan_send(p.ping, &i);
		chan_recv(p.pong, &v);
		sum += v;
	}
	chan_close(p.ping);
	task_join(t);
	bench_stop(b);
	compare_report(CMP_CHAN, "chan", sum);
}
