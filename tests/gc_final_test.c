/*
 * tests/gc_final_test.c - finalizers: each runs exactly once, on the
 * finalizer task, with its object (and what the object reaches) still
 * intact; reachable objects are never finalized; a removed finalizer never
 * runs; a resurrected object lives on and is not finalized twice; chains
 * of finalizable objects are finalized outermost first; a cycle through a
 * finalizable object is never collected (the documented pitfall); and the
 * error paths of gc_set_finalizer. Finalizers run asynchronously, so the
 * tests collect and wait in a bounded loop until the counts settle.
 */
#include "tests/gc_test_util.h"

#define FIN_MAGIC 0xf1a1f1a1f1a1f1a1ULL
#define FIN_N 200
#define FIN_KEPT 20

typedef struct fobj {
	uint64_t magic;
	uint64_t id;
	void *child;          /* noscan 64 bytes filled from id */
	struct fobj *next;    /* chains / cycles */
	uint64_t gen;         /* the test that made it (g_fin.gen) */
} fobj;
static GC_TYPE_DEFINE(fobj_type, fobj, child, next);

static struct {
	volatile uint32_t runs[FIN_N + FIN_KEPT];
	volatile uint64_t bad;        /* finalizer saw a broken object */
	volatile uint64_t total;
	task *volatile runner;        /* the task the first finalizer ran on */
	volatile uint64_t other_task; /* finalizers that ran elsewhere */
	volatile uint64_t seq;        /* order of runs */
	volatile uint64_t order[FIN_N + FIN_KEPT];
	fobj *resurrected[FIN_N];
	volatile int resurrect;
	volatile uint64_t gen;        /* objects of other tests are not counted */
	volatile uint64_t stale;      /* their finalizers, run late */
} g_fin;

static bool fobj_ok(const fobj *o)
{
	return gc_t_allocated(o) && o->magic == FIN_MAGIC &&
	       o->id < FIN_N + FIN_KEPT && gc_t_allocated(o->child) &&
	       gc_t_check_fill(o->child, 64, o->id);
}

static void finalize(void *p)
{
	fobj *o = p;
	if (!fobj_ok(o)) {
		g_fin.bad++;
		return;
	}
	if (o->gen != g_fin.gen) {
		g_fin.stale++; /* a leftover of an earlier test */
		return;
	}
	if (g_fin.resurrect)
		gc_write(&g_fin.resurrected[o->id], o);
	task *self = task_self();
	if (!g_fin.runner)
		g_fin.runner = self;
	else if (g_fin.runner != self)
		g_fin.other_task++;
	g_fin.runs[o->id]++;
	g_fin.order[o->id] = ++g_fin.seq;
	g_fin.total++;
	/* A finalizer may allocate. */
	void *scratch = gc_alloc_noscan(128);
	if (scratch)
		memset(scratch, 0x11, 128);
}

static fobj *fobj_new(uint64_t id)
{
	fobj *o = gc_alloc(&fobj_type);
	void *child = gc_alloc_noscan(64);
	CHECK(o && child);
	gc_t_fill(child, 64, id);
	o->magic = FIN_MAGIC;
	o->id = id;
	o->gen = g_fin.gen;
	gc_write(&o->child, child);
	return o;
}

static void fin_reset(void)
{
	static uint64_t gen;
	memset((void *)&g_fin, 0, sizeof g_fin);
	g_fin.gen = ++gen;
}

/* Collects until `want` more finalizers ran (or 50 rounds). */
static void fin_settle(uint64_t want)
{
	for (int round = 0; round < 50 && g_fin.total < want; round++) {
		gc_t_collect();
		for (int i = 0; i < 20 && g_fin.total < want; i++)
			task_sleep(GC_T_MS);
	}
}

static __attribute__((noinline)) void make_finalizable(uintptr_t *hidden, size_t n,
							uint64_t first_id)
{
	for (size_t i = 0; i < n; i++) {
		fobj *o = fobj_new(first_id + i);
		CHECK(gc_set_finalizer(o, finalize));
		hidden[i] = (uintptr_t)o;
	}
}

static fobj *g_kept[FIN_KEPT];

TEST(gc, finalizers_run_once_on_finalizer_task)
{
	fin_reset();
	uintptr_t *hidden = gc_t_hidden_buffer(FIN_N);
	make_finalizable(hidden, FIN_N, 0);
	/* Reachable ones must never be finalized. */
	for (size_t i = 0; i < FIN_KEPT; i++) {
		fobj *o = fobj_new(FIN_N + i);
		CHECK(gc_set_finalizer(o, finalize));
		gc_write(&g_kept[i], o);
	}
	uint64_t stat0 = gc_t_stats().finalizers_run;
	fin_settle(FIN_N * 9 / 10);
	/* a few more cycles: nothing runs twice */
	for (int i = 0; i < 3; i++)
		gc_t_collect();
	task_sleep(10 * GC_T_MS);
	test_log("%llu of %d finalizers ran", (unsigned long long)g_fin.total, FIN_N);
	CHECK_EQ(g_fin.bad, 0);
	CHECK_GE(g_fin.total, FIN_N * 9 / 10);
	for (size_t i = 0; i < FIN_N + FIN_KEPT; i++)
		CHECK_MSG(g_fin.runs[i] <= 1, "finalizer of object %zu ran %u times", i,
			  g_fin.runs[i]);
	for (size_t i = 0; i < FIN_KEPT; i++) {
		CHECK_MSG(g_fin.runs[FIN_N + i] == 0, "reachable object %zu finalized", i);
		CHECK(fobj_ok(g_kept[i]));
	}
	CHECK(g_fin.runner != NULL && g_fin.runner != task_self());
	CHECK_EQ(g_fin.other_task, 0);
	CHECK_GE(gc_t_stats().finalizers_run - stat0, g_fin.total);
	/* Finalized objects are freed by a later cycle. */
	gc_t_collect();
	gc_t_collect();
	size_t alive = gc_t_count_allocated(hidden, FIN_N);
	test_log("%zu of %d finalized objects still allocated", alive, FIN_N);
	CHECK_LE(alive, FIN_N / 10);

	/* Removed finalizers never run; the objects are then freed. */
	for (size_t i = 0; i < FIN_KEPT; i++) {
		hidden[i] = (uintptr_t)g_kept[i];
		CHECK(gc_set_finalizer(g_kept[i], NULL));
		gc_write(&g_kept[i], NULL);
	}
	for (int i = 0; i < 3; i++)
		gc_t_collect();
	task_sleep(10 * GC_T_MS);
	for (size_t i = 0; i < FIN_KEPT; i++)
		CHECK_EQ(g_fin.runs[FIN_N + i], 0);
	alive = gc_t_count_allocated(hidden, FIN_KEPT);
	CHECK_LE(alive, 4);
}

TEST(gc, finalizer_resurrection)
{
	enum { N = 40 };
	fin_reset();
	g_fin.resurrect = 1;
	uintptr_t *hidden = gc_t_hidden_buffer(N);
	make_finalizable(hidden, N, 0);
	fin_settle(N);
	CHECK_GE(g_fin.total, N * 9 / 10);
	/* Resurrected objects stay intact, and are not finalized again. */
	for (int r = 0; r < 3; r++) {
		gc_t_collect();
		for (int i = 0; i < 1000; i++)
			memset(gc_alloc_noscan(32), 0xee, 32);
	}
	task_sleep(10 * GC_T_MS);
	g_fin.resurrect = 0;
	size_t resurrected = 0;
	for (size_t i = 0; i < N; i++) {
		CHECK_LE(g_fin.runs[i], 1);
		/* the finalizer stores the object before it counts the run */
		CHECK(!g_fin.runs[i] || g_fin.resurrected[i]);
		if (g_fin.resurrected[i]) {
			CHECK_MSG(fobj_ok(g_fin.resurrected[i]),
				  "resurrected object %zu freed or corrupt", i);
			resurrected++;
		}
	}
	CHECK_GE(resurrected, N * 9 / 10);
	/* Dropped again: freed without a second finalization. */
	for (size_t i = 0; i < N; i++)
		gc_write(&g_fin.resurrected[i], NULL);
	gc_t_collect();
	gc_t_collect();
	task_sleep(10 * GC_T_MS);
	for (size_t i = 0; i < N; i++)
		CHECK_MSG(g_fin.runs[i] <= 1, "object %zu finalized twice", i);
	size_t alive = gc_t_count_allocated(hidden, N);
	CHECK_LE(alive, N / 10 + 2);
}

/* A -> B, both finalizable: B is reachable from A, so A is finalized
 * first and B only in a later cycle (Go's order). */
static __attribute__((noinline)) void make_chains(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fobj *a = fobj_new(2 * i), *b = fobj_new(2 * i + 1);
		gc_write(&a->next, b);
		CHECK(gc_set_finalizer(a, finalize));
		CHECK(gc_set_finalizer(b, finalize));
	}
}

TEST(gc, finalizer_chains_outermost_first)
{
	enum { N = 30 };
	fin_reset();
	make_chains(N);
	fin_settle(2 * N - 6);
	CHECK_EQ(g_fin.bad, 0);
	size_t both = 0;
	for (size_t i = 0; i < N; i++) {
		CHECK_LE(g_fin.runs[2 * i], 1);
		CHECK_LE(g_fin.runs[2 * i + 1], 1);
		if (g_fin.runs[2 * i] && g_fin.runs[2 * i + 1]) {
			both++;
			CHECK_MSG(g_fin.order[2 * i] < g_fin.order[2 * i + 1],
				  "chain %zu: inner object finalized before outer", i);
		}
		/* B can only have run if A did */
		CHECK(!g_fin.runs[2 * i + 1] || g_fin.runs[2 * i]);
	}
	CHECK_GE(both, N - 3);
}

/* The documented pitfall: an object on a cycle through itself is never
 * finalized and never freed. */
TEST(gc, finalizer_on_cycle_never_runs)
{
	enum { N = 10 };
	fin_reset();
	uintptr_t *hidden = gc_t_hidden_buffer(N);
	for (size_t i = 0; i < N; i++) {
		fobj *a = fobj_new(i), *b = fobj_new(FIN_N + i);
		gc_write(&a->next, b);
		gc_write(&b->next, a);
		CHECK(gc_set_finalizer(a, finalize));
		hidden[i] = (uintptr_t)a;
	}
	for (int r = 0; r < 4; r++)
		gc_t_collect();
	task_sleep(10 * GC_T_MS);
	CHECK_EQ(g_fin.total, 0);
	CHECK_EQ(gc_t_count_allocated(hidden, N), N);
	/* Breaking the cycle lets it go. */
	for (size_t i = 0; i < N; i++)
		gc_write(&((fobj *)hidden[i])->next->next, NULL);
	fin_settle(N - 2);
	CHECK_GE(g_fin.total, N - 2);
	CHECK_EQ(g_fin.bad, 0);
}

static int g_not_heap;

TEST(gc, set_finalizer_errors)
{
	fobj *o = fobj_new(0);
	int local;
	CHECK(!gc_set_finalizer(NULL, finalize));
	CHECK(gc_last_error()[0] != '\0');
	CHECK(!gc_set_finalizer(&g_not_heap, finalize));
	CHECK(!gc_set_finalizer(&local, finalize));
	CHECK(!gc_set_finalizer((char *)o + 8, finalize)); /* interior */
	CHECK(!gc_set_finalizer((void *)-4096L, finalize));
	CHECK(gc_set_finalizer(o, finalize));
	CHECK(!gc_set_finalizer(o, finalize)); /* twice */
	CHECK(gc_last_error()[0] != '\0');
	CHECK(gc_set_finalizer(o, NULL));     /* removed ... */
	CHECK(gc_set_finalizer(o, finalize)); /* ... and set again */
	CHECK(gc_set_finalizer(o, NULL));
	/* a freed object is no longer an object */
	uintptr_t *hidden = gc_t_hidden_buffer(16);
	for (int i = 0; i < 16; i++)
		hidden[i] = (uintptr_t)gc_alloc_noscan(4096);
	gc_t_collect();
	int rejected = 0;
	for (int i = 0; i < 16; i++)
		if (!gc_t_allocated((void *)hidden[i]))
			rejected += !gc_set_finalizer((void *)hidden[i], finalize);
	CHECK_GE(rejected, 12);
	gc_t_keep(o);
}
