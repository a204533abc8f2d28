/*
 * tests/gc_final_test.c - finalizers: each runs exactly once, on the
 * finalizer task, with its object (and what the object reaches) still
 * intact; reachable objects are never finalized; a removed finalizer never
 * runs; a resurrected object lives on and is not finalized twice; chains
 * of finalizable objects are finalized outermost first; a cycle through a
 * finalizable object is never collected (the documented pitfall); and the
 * error paths of gc_set_finalizer. Every count is exact: the tests hold
 * their objects only in noscan memory and globals they clear (see
 * tests/gc_test_util.h). Finalizers run asynchronously on the finalizer
 * task, so after a cycle the tests wait for them to finish
 * (gc_t_finalizers_drain: an event, never a sleep).
 */
#include "diag/diag.h"
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

/* Collects once, queuing every finalizable object found unreachable, and
 * waits until those finalizers have all returned (gc_t_finalizers_drain:
 * an event, not a time). Inlined: a frame of its own, made on top of
 * whatever earlier calls left on the stack, would be live during both
 * cycles. */
static inline __attribute__((always_inline)) void fin_collect_and_drain(void)
{
	gc_t_collect();
	gc_t_finalizers_drain();
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

/* With every reference under the test's control, every one of the n
 * objects in hidden[] (ids first_id...) was finalized; if not, why-alive
 * shows what keeps the first one that was not. */
static __attribute__((noinline)) void check_all_finalized(const uintptr_t *hidden, size_t n,
							  uint64_t first_id)
{
	for (size_t i = 0; i < n; i++) {
		if (g_fin.runs[first_id + i])
			continue;
		test_log("object %zu was not finalized; what keeps it:", i);
		why_alive((void *)hidden[i]);
		CHECK_MSG(false, "%llu of %zu unreachable finalizable objects finalized",
			  (unsigned long long)g_fin.total, n);
	}
}

/* How many of the n fobjs at hidden[] are still allocated - as the fobj
 * this test made there: a freed slot may since have been handed out to
 * someone else (the drains allocate), which the magic and the test's
 * generation tell apart. Why-alive explains the first survivor. */
static __attribute__((noinline)) size_t fobjs_alive(const uintptr_t *hidden, size_t n)
{
	size_t alive = 0;
	for (size_t i = 0; i < n; i++) {
		const fobj *o = (const fobj *)hidden[i];
		if (!gc_t_allocated(o) || o->magic != FIN_MAGIC || o->gen != g_fin.gen)
			continue;
		if (alive++ == 0) {
			test_log("fobj %zu of %zu (id %llu) survived; what keeps it:", i, n,
				 (unsigned long long)o->id);
			why_alive(o);
		}
	}
	return alive;
}

static fobj *g_kept[FIN_KEPT];

static __attribute__((noinline)) void make_kept(void)
{
	for (size_t i = 0; i < FIN_KEPT; i++) {
		fobj *o = fobj_new(FIN_N + i);
		CHECK(gc_set_finalizer(o, finalize));
		gc_write(&g_kept[i], o);
	}
}

static __attribute__((noinline)) void check_kept(void)
{
	for (size_t i = 0; i < FIN_KEPT; i++) {
		CHECK_MSG(g_fin.runs[FIN_N + i] == 0, "reachable object %zu finalized", i);
		CHECK_MSG(fobj_ok(g_kept[i]), "reachable finalizable object %zu lost", i);
	}
}

/* Removes the kept objects' finalizers and drops them; their addresses go
 * to hidden[] (noscan). */
static __attribute__((noinline)) void unset_and_drop_kept(uintptr_t *hidden)
{
	for (size_t i = 0; i < FIN_KEPT; i++) {
		hidden[i] = (uintptr_t)g_kept[i];
		CHECK(gc_set_finalizer(g_kept[i], NULL));
		gc_write(&g_kept[i], NULL);
	}
}

GC_TEST(gc, finalizers_run_once_on_finalizer_task)
{
	fin_reset();
	uintptr_t *hidden = gc_t_hidden_buffer(FIN_N);
	make_finalizable(hidden, FIN_N, 0);
	/* Reachable ones must never be finalized. */
	make_kept();
	uint64_t stat0 = gc_t_stats().finalizers_run, sentinels0 = gc_t_sentinels_run;
	/* One cycle finds all FIN_N unreachable: each finalizer runs. */
	fin_collect_and_drain();
	test_log("%llu of %d finalizers ran", (unsigned long long)g_fin.total, FIN_N);
	CHECK_EQ(g_fin.bad, 0);
	check_all_finalized(hidden, FIN_N, 0);
	CHECK_EQ(g_fin.total, FIN_N);
	/* a few more cycles: nothing runs twice, and the finalized objects,
	 * alive until their finalizer has run, are freed by the next one */
	for (int i = 0; i < 3; i++)
		fin_collect_and_drain();
	CHECK_EQ(g_fin.total, FIN_N);
	for (size_t i = 0; i < FIN_N + FIN_KEPT; i++)
		CHECK_MSG(g_fin.runs[i] <= 1, "finalizer of object %zu ran %u times", i,
			  g_fin.runs[i]);
	check_kept();
	CHECK(g_fin.runner != NULL && g_fin.runner != task_self());
	CHECK_EQ(g_fin.other_task, 0);
	/* The global count also counts other code's finalizers (left over by
	 * other suites' objects, whenever a cycle finds them), so it is only
	 * at least ours and the drains' sentinels. */
	CHECK_GE(gc_t_stats().finalizers_run - stat0,
		 g_fin.total + (gc_t_sentinels_run - sentinels0));
	size_t alive = fobjs_alive(hidden, FIN_N);
	test_log("%zu of %d finalized objects still allocated", alive, FIN_N);
	CHECK_EQ(alive, 0);

	/* Removed finalizers never run; the objects are then freed. */
	unset_and_drop_kept(hidden);
	for (int i = 0; i < 3; i++)
		fin_collect_and_drain();
	for (size_t i = 0; i < FIN_KEPT; i++)
		CHECK_EQ(g_fin.runs[FIN_N + i], 0);
	CHECK_EQ(g_fin.total, FIN_N);
	CHECK_EQ(fobjs_alive(hidden, FIN_KEPT), 0);
}

/* Every resurrected object is intact and was resurrected exactly once. */
static __attribute__((noinline)) size_t check_resurrected(size_t n)
{
	size_t resurrected = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK_LE(g_fin.runs[i], 1);
		/* the finalizer stores the object before it counts the run */
		CHECK(!g_fin.runs[i] || g_fin.resurrected[i]);
		if (g_fin.resurrected[i]) {
			CHECK_MSG(fobj_ok(g_fin.resurrected[i]),
				  "resurrected object %zu freed or corrupt", i);
			resurrected++;
		}
	}
	return resurrected;
}

static __attribute__((noinline)) void drop_resurrected(size_t n)
{
	for (size_t i = 0; i < n; i++)
		gc_write(&g_fin.resurrected[i], NULL);
}

static __attribute__((noinline)) void make_garbage_noscan(size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		void *p = gc_alloc_noscan(size);
		CHECK(p);
		memset(p, 0xee, size);
	}
}

GC_TEST(gc, finalizer_resurrection)
{
	enum { N = 40 };
	fin_reset();
	g_fin.resurrect = 1;
	uintptr_t *hidden = gc_t_hidden_buffer(N);
	make_finalizable(hidden, N, 0);
	fin_collect_and_drain();
	check_all_finalized(hidden, N, 0);
	CHECK_EQ(g_fin.total, N);
	/* Resurrected objects stay intact, and are not finalized again. */
	for (int r = 0; r < 3; r++) {
		gc_t_collect();
		make_garbage_noscan(1000, 32);
	}
	gc_t_finalizers_drain();
	g_fin.resurrect = 0;
	CHECK_EQ(check_resurrected(N), N);
	CHECK_EQ(g_fin.total, N);
	/* Dropped again: their finalizers have run, so the next cycle frees
	 * them, without a second finalization. */
	drop_resurrected(N);
	fin_collect_and_drain();
	for (size_t i = 0; i < N; i++)
		CHECK_MSG(g_fin.runs[i] <= 1, "object %zu finalized twice", i);
	CHECK_EQ(g_fin.total, N);
	CHECK_EQ(g_fin.bad, 0);
	CHECK_EQ(fobjs_alive(hidden, N), 0);
}

/* A -> B, both finalizable: B is reachable from A, so A is finalized
 * first and B only in a later cycle (Go's order). */
static __attribute__((noinline)) void make_chains(uintptr_t *hidden, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fobj *a = fobj_new(2 * i), *b = fobj_new(2 * i + 1);
		gc_write(&a->next, b);
		CHECK(gc_set_finalizer(a, finalize));
		CHECK(gc_set_finalizer(b, finalize));
		hidden[2 * i] = (uintptr_t)a;
		hidden[2 * i + 1] = (uintptr_t)b;
	}
}

GC_TEST(gc, finalizer_chains_outermost_first)
{
	enum { N = 30 };
	fin_reset();
	uintptr_t *hidden = gc_t_hidden_buffer(2 * N);
	make_chains(hidden, N);
	/* Cycle 1 finds every A unreachable (B is marked through it). */
	gc_t_collect();
	gc_t_finalizers_drain();
	for (size_t i = 0; i < N; i++)
		CHECK_MSG(g_fin.runs[2 * i] == 1, "chain %zu: outer object not finalized", i);
	/* Once A's finalizer has run, the next cycle frees A and finds B. */
	fin_collect_and_drain();
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
	check_all_finalized(hidden, 2 * N, 0);
	CHECK_EQ(both, N);
	CHECK_EQ(g_fin.total, 2 * N);
	/* and the next cycle frees every B */
	gc_t_collect();
	CHECK_EQ(fobjs_alive(hidden, 2 * N), 0);
}

/* N pairs a <-> b, a finalizable; a's to hidden[i], b's to hidden[N + i]. */
static __attribute__((noinline)) void make_finalizable_cycles(uintptr_t *hidden, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fobj *a = fobj_new(i), *b = fobj_new(FIN_N + i);
		gc_write(&a->next, b);
		gc_write(&b->next, a);
		CHECK(gc_set_finalizer(a, finalize));
		hidden[i] = (uintptr_t)a;
		hidden[n + i] = (uintptr_t)b;
	}
}

static __attribute__((noinline)) void break_cycles(const uintptr_t *hidden, size_t n)
{
	for (size_t i = 0; i < n; i++)
		gc_write(&((fobj *)hidden[n + i])->next, NULL);
}

/* The documented pitfall: an object on a cycle through itself is never
 * finalized and never freed. */
GC_TEST(gc, finalizer_on_cycle_never_runs)
{
	enum { N = 10 };
	fin_reset();
	uintptr_t *hidden = gc_t_hidden_buffer(2 * N);
	make_finalizable_cycles(hidden, N);
	for (int r = 0; r < 3; r++)
		gc_t_collect();
	gc_t_finalizers_drain();
	CHECK_EQ(g_fin.total, 0);
	CHECK_EQ(gc_t_count_allocated(hidden, 2 * N), 2 * N);
	/* Breaking the cycle lets it go: every a is finalized, and the next
	 * cycle frees both. */
	break_cycles(hidden, N);
	fin_collect_and_drain();
	check_all_finalized(hidden, N, 0);
	CHECK_EQ(g_fin.total, N);
	CHECK_EQ(g_fin.bad, 0);
	gc_t_collect();
	CHECK_EQ(fobjs_alive(hidden, 2 * N), 0);
}

static int g_not_heap;

static __attribute__((noinline)) void make_noscan_hidden(uintptr_t *hidden, size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		hidden[i] = (uintptr_t)gc_alloc_noscan(size);
		CHECK(hidden[i]);
	}
}

GC_TEST(gc, set_finalizer_errors)
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
	make_noscan_hidden(hidden, 16, 4096);
	gc_t_collect();
	CHECK_EQ(gc_t_count_allocated_explain(hidden, 16), 0);
	int rejected = 0;
	for (int i = 0; i < 16; i++)
		rejected += !gc_set_finalizer((void *)hidden[i], finalize);
	CHECK_EQ(rejected, 16);
	gc_t_keep(o);
}
