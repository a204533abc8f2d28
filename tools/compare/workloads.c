/*
 * tools/compare/workloads.c - the C side of `make compare`: the workloads of
 * tests/compare_bench.c (tricolor) and tools/compare/go/main.go, with the
 * same parameters and checksums, built twice:
 *
 *   -DSIDE_BOEHM   objects from the Boehm collector (libgc), never freed
 *   -DSIDE_MALLOC  objects from glibc malloc, freed by hand when they die
 *
 *   ./boehmwork WORKLOAD key=value ...     (same for ./mallocwork)
 *
 * Output, like the Go side: "CHECK <workload> <checksum>" per round and
 * "RESULT <workload> <ns>" for the timed one (see compare.py). With
 * warmup=1 the workload runs once untimed first. The Boehm side also prints
 * one "boehm-gc <n> <ns>" line per collection on stderr: Boehm collects
 * with the world stopped (it is not incremental by default), so each
 * collection's duration is a pause.
 *
 * Allocation calls are the ones a C programmer would use: GC_MALLOC for
 * objects with pointers (zeroed), GC_MALLOC_ATOMIC / malloc for pointer-free
 * data (not zeroed; tricolor and Go zero every object).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(SIDE_BOEHM)
#define GC_THREADS /* declares GC_get_parallel; Debian's libgc is threaded */
#include <gc/gc.h>
#define SIDE_NAME "boehm"
#define ALLOC_SCAN(size) GC_MALLOC(size)
#define ALLOC_NOSCAN(size) GC_MALLOC_ATOMIC(size)
#define RELEASE(p) ((void)(p)) /* the collector finds it */
#elif defined(SIDE_MALLOC)
#define SIDE_NAME "malloc"
#define ALLOC_SCAN(size) malloc(size)
#define ALLOC_NOSCAN(size) malloc(size)
#define RELEASE(p) free(p)
#else
#error "build with -DSIDE_BOEHM or -DSIDE_MALLOC"
#endif

static void *checked(void *p)
{
	if (!p) {
		fprintf(stderr, "%swork: out of memory\n", SIDE_NAME);
		exit(1);
	}
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- parameters: key=integer ------------------------------------------- */
#define MAX_PARAMS 8
static struct { const char *key; int64_t value; } params[MAX_PARAMS];
static int nparams;

static int64_t param(const char *key)
{
	for (int i = 0; i < nparams; i++)
		if (strcmp(params[i].key, key) == 0)
			return params[i].value;
	fprintf(stderr, "%swork: missing parameter %s=\n", SIDE_NAME, key);
	exit(2);
}

/* ---- binary-trees (the Benchmarks Game workload) ------------------------ */
typedef struct node {
	struct node *left, *right;
} node;

/* Children first, then the parent, as the Benchmarks Game programs do. */
static node *bottom_up_tree(int depth)
{
	node *l = NULL, *r = NULL;
	if (depth > 0) {
		l = bottom_up_tree(depth - 1);
		r = bottom_up_tree(depth - 1);
	}
	node *n = checked(ALLOC_SCAN(sizeof *n));
	n->left = l;
	n->right = r;
	return n;
}

static uint64_t item_check(const node *n)
{
	return n->left ? 1 + item_check(n->left) + item_check(n->right) : 1;
}

static void free_tree(node *n)
{
#ifdef SIDE_MALLOC
	if (n->left) {
		free_tree(n->left);
		free_tree(n->right);
	}
#endif
	RELEASE(n);
}

#define MIN_DEPTH 4

/* Check a freshly built tree, then let it die. */
static uint64_t check_and_drop(node *t)
{
	uint64_t c = item_check(t);
	free_tree(t);
	return c;
}

static uint64_t binary_trees(void)
{
	int max_depth = (int)param("depth");
	if (max_depth < MIN_DEPTH + 2)
		max_depth = MIN_DEPTH + 2;
	uint64_t sum = check_and_drop(bottom_up_tree(max_depth + 1));
	node *long_lived = bottom_up_tree(max_depth);
	for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
		uint64_t iterations = 1ULL << (max_depth - d + MIN_DEPTH);
		for (uint64_t i = 0; i < iterations; i++)
			sum += check_and_drop(bottom_up_tree(d));
	}
	sum += check_and_drop(long_lived);
	return sum;
}

/* ---- GCBench (Ellis, Kovac, Boehm) -------------------------------------- */
typedef struct gnode {
	struct gnode *left, *right;
	int32_t i, j;
} gnode;

/* GCBench's constants, scaled by depth= (the stretch tree's; the original's
 * is 18): see tools/compare/go/main.go. The array holds integers, not
 * doubles: tricolor's kernel build has no FPU code. */
enum {
	GCB_ARRAY_SIZE = 500000,
	GCB_MIN_DEPTH = 4,
};

static uint64_t gcb_nodes; /* nodes allocated: part of the checksum */

static gnode *new_gnode(gnode *l, gnode *r)
{
	gnode *n = checked(ALLOC_SCAN(sizeof *n));
	n->left = l;
	n->right = r;
	n->i = n->j = 0;
	gcb_nodes++;
	return n;
}

static void free_gtree(gnode *n)
{
	if (!n)
		return;
#ifdef SIDE_MALLOC
	free_gtree(n->left);
	free_gtree(n->right);
#endif
	RELEASE(n);
}

static int tree_size(int d) { return (1 << (d + 1)) - 1; }

/* Top-down: the parent first, then its children. */
static void populate(int depth, gnode *n)
{
	if (depth <= 0)
		return;
	depth--;
	n->left = new_gnode(NULL, NULL);
	n->right = new_gnode(NULL, NULL);
	populate(depth, n->left);
	populate(depth, n->right);
}

/* Bottom-up: the children first. */
static gnode *make_tree(int depth)
{
	if (depth <= 0)
		return new_gnode(NULL, NULL);
	gnode *l = make_tree(depth - 1);
	gnode *r = make_tree(depth - 1);
	return new_gnode(l, r);
}

static uint64_t count_tree(const gnode *n)
{
	return n ? 1 + count_tree(n->left) + count_tree(n->right) : 0;
}

static uint64_t gcbench(void)
{
	int stretch = (int)param("depth");
	int long_lived_depth = stretch - 2, max_depth = stretch - 2;
	gcb_nodes = 0;
	free_gtree(make_tree(stretch)); /* stretch the heap */
	gnode *long_lived = new_gnode(NULL, NULL);
	populate(long_lived_depth, long_lived);
	uint64_t *array = checked(ALLOC_NOSCAN(GCB_ARRAY_SIZE * sizeof(uint64_t)));
	memset(array, 0, GCB_ARRAY_SIZE * sizeof(uint64_t));
	for (int i = 0; i < GCB_ARRAY_SIZE / 2; i++)
		array[i] = (uint64_t)i;
	for (int d = GCB_MIN_DEPTH; d <= max_depth; d += 2) {
		int iters = 2 * tree_size(stretch) / tree_size(d);
		for (int i = 0; i < iters; i++) { /* top-down */
			gnode *t = new_gnode(NULL, NULL);
			populate(d, t);
			free_gtree(t);
		}
		for (int i = 0; i < iters; i++) /* bottom-up */
			free_gtree(make_tree(d));
	}
	if (array[1000] != 1000) {
		fprintf(stderr, "gcbench: array[1000] corrupted\n");
		exit(1);
	}
	uint64_t sum = gcb_nodes * 1000003 + count_tree(long_lived);
	free_gtree(long_lived);
	RELEASE(array);
	return sum;
}

/* ---- small-object allocation -------------------------------------------- */
#define ALLOC_RING 256
static uint64_t *alloc_ring[ALLOC_RING]; /* a global: a root for Boehm */

/* n pointer-free objects of `size` bytes; object i holds i in its first
 * word and stays live in a ring of 256 slots until object i+256 replaces
 * it. The checksum sums the first words of the replaced objects. */
static uint64_t alloc_small(void)
{
	size_t size = (size_t)param("size");
	uint64_t n = (uint64_t)param("n"), sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *obj = checked(ALLOC_NOSCAN(size));
		obj[0] = i;
		uint64_t *old = alloc_ring[i % ALLOC_RING];
		if (old) {
			sum += old[0];
			RELEASE(old);
		}
		alloc_ring[i % ALLOC_RING] = obj;
	}
	for (size_t s = 0; s < ALLOC_RING; s++) {
		if (alloc_ring[s]) {
			sum += alloc_ring[s][0];
			RELEASE(alloc_ring[s]);
		}
		alloc_ring[s] = NULL;
	}
	return sum;
}

/* ---- churn: a sliding window of live objects --------------------------- */
/* bench_churn_size of tests/mm_bench.h: 16..512 bytes. */
static size_t churn_size(uint64_t i)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL;
	x ^= x >> 29;
	return 16 + (size_t)(x % 497);
}

/* `live` pointer-free objects of mixed sizes in a window (itself a heap
 * object); then n times the oldest dies and a new one takes its slot. The
 * checksum sums the first words of the objects dropped and of those left.
 * tasks= must be 0 here: C has no tasks to park. */
static uint64_t churn(void)
{
	uint64_t live = (uint64_t)param("live"), n = (uint64_t)param("n"), sum = 0;
	if (param("tasks") != 0) {
		fprintf(stderr, "%swork: churn tasks= must be 0 (no tasks in C)\n", SIDE_NAME);
		exit(2);
	}
	uint64_t **window = checked(ALLOC_SCAN(live * sizeof *window));
	for (uint64_t i = 0; i < live; i++) {
		window[i] = checked(ALLOC_NOSCAN(churn_size(i)));
		window[i][0] = i;
	}
	for (uint64_t i = live; i < live + n; i++) {
		uint64_t slot = i % live;
		sum += window[slot][0];
		RELEASE(window[slot]);
		window[slot] = checked(ALLOC_NOSCAN(churn_size(i)));
		window[slot][0] = i;
	}
	for (uint64_t i = 0; i < live; i++) {
		sum += window[i][0];
		RELEASE(window[i]);
	}
	RELEASE(window);
	return sum;
}

/* ---- Boehm's pauses ------------------------------------------------------ */
#ifdef SIDE_BOEHM
#define MAX_COLLECTIONS 100000
static uint64_t gc_began, gc_pause_ns[MAX_COLLECTIONS];
static size_t gc_count;

/* Called by the collector; must not allocate. */
static void on_gc_event(GC_EventType e)
{
	if (e == GC_EVENT_START)
		gc_began = now_ns();
	else if (e == GC_EVENT_END && gc_count < MAX_COLLECTIONS)
		gc_pause_ns[gc_count++] = now_ns() - gc_began;
}
#endif

/* ---- driver --------------------------------------------------------------- */
static const struct {
	const char *name;
	uint64_t (*fn)(void);
} workloads[] = {
	{ "binary_trees", binary_trees },
	{ "gcbench", gcbench },
	{ "alloc", alloc_small },
	{ "churn", churn },
};

int main(int argc, char **argv)
{
	uint64_t (*fn)(void) = NULL;
	for (size_t i = 0; argc > 1 && i < sizeof workloads / sizeof workloads[0]; i++)
		if (strcmp(argv[1], workloads[i].name) == 0)
			fn = workloads[i].fn;
	if (!fn) {
		fprintf(stderr, "usage: %swork binary_trees|gcbench|alloc|churn key=value ...\n",
			SIDE_NAME);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '='), *end;
		if (!eq || nparams == MAX_PARAMS) {
			fprintf(stderr, "%swork: bad parameter '%s'\n", SIDE_NAME, argv[i]);
			return 2;
		}
		*eq = '\0';
		params[nparams].key = argv[i];
		params[nparams].value = strtoll(eq + 1, &end, 0);
		if (*end || end == eq + 1) {
			fprintf(stderr, "%swork: bad value in '%s=%s'\n", SIDE_NAME, argv[i], eq + 1);
			return 2;
		}
		nparams++;
	}
#ifdef SIDE_BOEHM
	GC_INIT();
	GC_set_on_collection_event(on_gc_event);
#endif
	if (param("warmup"))
		printf("CHECK %s %" PRIu64 "\n", argv[1], fn());
	uint64_t t0 = now_ns();
	uint64_t sum = fn();
	uint64_t elapsed = now_ns() - t0;
	printf("CHECK %s %" PRIu64 "\n", argv[1], sum);
	printf("RESULT %s %" PRIu64 "\n", argv[1], elapsed);
#ifdef SIDE_BOEHM
	for (size_t i = 0; i < gc_count; i++)
		fprintf(stderr, "boehm-gc %zu %" PRIu64 "\n", i + 1, gc_pause_ns[i]);
	/* Marker threads in use (GC_MARKERS= sets it; default: one per CPU). */
	fprintf(stderr, "boehm-info version=%d.%d.%d markers=%d collections=%" PRIu64
		" heap=%zu\n", GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO,
		GC_get_parallel() + 1, (uint64_t)GC_get_gc_no(), GC_get_heap_size());
#endif
	return 0;
}
