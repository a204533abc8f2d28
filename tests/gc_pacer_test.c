/*
 * tests/gc_pacer_test.c - the heap stays bounded: no growth over 1,000
 * cycles of steady-state churn (nothing leaks: after every collection the
 * heap holds exactly what the live window reaches, and no pages are lost),
 * and, left to the pacer (no gc_collect), the peak heap of each
 * cycle stays within 10% of that cycle's goal while a task allocates as
 * fast as it can.
 */
#include "tests/gc_test_util.h"

typedef struct word {
	void *p;
} word;
static GC_TYPE_DEFINE(word_type, word, p);

typedef struct churn_obj {
	struct churn_obj *link;
	uint64_t id;
	uint64_t check;
} churn_obj;
static GC_TYPE_DEFINE(churn_type, churn_obj, link);

#define CHURN_LIVE 512
#define CHURN_CYCLES 1000
#define CHURN_PER_CYCLE 128

/* Object i of the live window: 24 .. 1000 bytes, typed (an array of
 * churn_obj) or noscan. */
static void *churn_alloc(uint64_t i)
{
	size_t n = 1 + gc_t_mix(i) % 40;
	if (i % 2) {
		churn_obj *o = gc_alloc_array(&churn_type, n);
		if (o) {
			o->id = i;
			o->check = gc_t_mix(i ^ 0xc0ffee);
		}
		return o;
	}
	uint64_t *o = gc_alloc_noscan(n * sizeof(churn_obj));
	if (o) {
		o[1] = i;
		o[2] = gc_t_mix(i ^ 0xc0ffee);
	}
	return o;
}

static bool churn_ok(const void *p, uint64_t i)
{
	const uint64_t *w = p;
	return gc_t_allocated(p) && w[1] == i && w[2] == gc_t_mix(i ^ 0xc0ffee);
}

/* The window's objects and their ids (noscan). The churn, the checks and
 * the walk below are functions of their own, so that no object the window
 * has since let go of stays in a register or slot of the test's frame:
 * the test counts in-use bytes exactly. */
static struct {
	word *window;
	uint64_t *ids;
	uintptr_t *seen; /* open-addressed set of addresses, CHURN_SEEN slots */
	uint64_t next, rng;
} g_churn;
#define CHURN_SEEN 16384

static __attribute__((noinline)) void churn_fill(void)
{
	for (size_t i = 0; i < CHURN_LIVE; i++, g_churn.next++) {
		void *o = churn_alloc(g_churn.next);
		CHECK(o);
		g_churn.ids[i] = g_churn.next;
		gc_write(&g_churn.window[i].p, o);
	}
}

/* CHURN_PER_CYCLE objects replace random ones of the window; typed ones
 * are chained to another live typed object (as lists do), through the
 * barrier: the replaced object a link points to stays reachable. */
static __attribute__((noinline)) void churn_some(int cycle)
{
	for (int k = 0; k < CHURN_PER_CYCLE; k++, g_churn.next++) {
		size_t slot = mm_test_below(&g_churn.rng, CHURN_LIVE);
		void *o = churn_alloc(g_churn.next);
		CHECK_MSG(o, "cycle %d: %s", cycle, gc_last_error());
		gc_write(&g_churn.window[slot].p, o);
		g_churn.ids[slot] = g_churn.next;
		if (g_churn.next % 2) {
			size_t other = mm_test_below(&g_churn.rng, CHURN_LIVE);
			if (g_churn.ids[other] % 2)
				gc_write(&((churn_obj *)o)->link, g_churn.window[other].p);
		}
	}
}

static __attribute__((noinline)) void churn_check(int cycle)
{
	for (size_t i = 0; i < CHURN_LIVE; i++)
		CHECK_MSG(churn_ok(g_churn.window[i].p, g_churn.ids[i]),
			  "cycle %d: live object %zu lost", cycle, i);
}

/* Adds p to the seen set; false if it was there already. */
static bool churn_see(uintptr_t p)
{
	for (size_t h = gc_t_mix(p) % CHURN_SEEN, n = 0; n < CHURN_SEEN;
	     h = (h + 1) % CHURN_SEEN, n++) {
		if (g_churn.seen[h] == p)
			return false;
		if (!g_churn.seen[h]) {
			g_churn.seen[h] = p;
			return true;
		}
	}
	test_fail(__FILE__, __LINE__, "more than %d objects reachable from the window",
		  CHURN_SEEN);
}

/* Slot bytes of everything reachable from the window: its objects and,
 * along the links (one per typed object), the replaced ones still linked
 * to. Exactly what a collection must keep of what this test made. */
static __attribute__((noinline)) size_t churn_reachable_bytes(size_t *objects)
{
	memset(g_churn.seen, 0, CHURN_SEEN * sizeof(uintptr_t));
	size_t bytes = 0, n = 0;
	for (size_t i = 0; i < CHURN_LIVE; i++) {
		for (const churn_obj *o = g_churn.window[i].p; o && churn_see((uintptr_t)o);) {
			gc_object obj;
			CHECK_MSG(gc_find_object(o, &obj) && obj.base == o,
				  "object %p reachable from the window was freed", (const void *)o);
			bytes += obj.size;
			n++;
			o = obj.type ? o->link : NULL;
		}
	}
	*objects = n;
	return bytes;
}

GC_TEST(gc, heap_bounded_over_1000_cycles_of_churn)
{
	memset(&g_churn, 0, sizeof g_churn);
	g_churn.rng = 5;
	gc_write(&g_churn.window, gc_alloc_array(&word_type, CHURN_LIVE));
	g_churn.ids = gc_alloc_noscan(CHURN_LIVE * sizeof(uint64_t));
	g_churn.seen = gc_alloc_noscan(CHURN_SEEN * sizeof(uintptr_t));
	CHECK(g_churn.window && g_churn.ids && g_churn.seen);
	churn_fill();
	gc_t_collect();
	/* Everything else in the heap (this test's buffers, other live data)
	 * is `base`, and nothing else allocates or frees while this test
	 * runs: after each collection the heap holds exactly base plus what
	 * the window reaches. */
	size_t nobj, live_bytes = churn_reachable_bytes(&nobj);
	size_t base = gc_t_in_use() - live_bytes;
	size_t max_early = 0, max_late = 0, pages_early = 0, max_reach = 0;
	uint64_t c0 = gc_t_stats().cycles;
	for (int cycle = 0; cycle < CHURN_CYCLES; cycle++) {
		churn_some(cycle);
		gc_t_collect();
		size_t in_use = gc_t_in_use();
		size_t reach = churn_reachable_bytes(&nobj);
		CHECK_MSG(in_use == base + reach,
			  "cycle %d: %zu bytes in use after a collection, but %zu + %zu (%zu "
			  "objects) reachable: %lld bytes of garbage kept", cycle, in_use, base,
			  reach, nobj, (long long)(in_use - base - reach));
		max_reach = MAX(max_reach, reach);
		if (cycle < 100) {
			max_early = MAX(max_early, in_use);
		} else {
			max_late = MAX(max_late, in_use);
		}
		if (cycle == 99) {
			mm_test_quiesce();
			pages_early = arch_free_pages();
		}
		if (cycle % 100 == 0)
			churn_check(cycle);
	}
	churn_check(CHURN_CYCLES);
	mm_test_quiesce();
	size_t pages_late = arch_free_pages();
	gc_stats s = gc_t_stats();
	test_log("live %zu KiB (+%zu KiB other); in use after a cycle: first 100 max "
		 "%zu KiB, last 900 max %zu KiB; reachable at most %zu KiB; free pages "
		 "%zu -> %zu; %llu cycles",
		 live_bytes >> 10, base >> 10, max_early >> 10, max_late >> 10,
		 max_reach >> 10, pages_early, pages_late, (unsigned long long)(s.cycles - c0));
	/* the CHURN_CYCLES asked for; the pacer may add its own */
	CHECK_GE(s.cycles - c0, CHURN_CYCLES);
	/* No growth from the first 100 cycles to the last 900: what the
	 * links keep is a property of the workload (checked exactly above),
	 * and it stays near the window's own size. */
	CHECK_LE(max_late, max_early + max_early / 8);
	/* No pages leak. A margin (1 MiB), not equality: the same live bytes
	 * can sit in a different number of partly used spans (the window's
	 * objects come in some 50 size classes and kinds, and a span goes
	 * back only when all its slots are free), and page-table memory the
	 * heap commits meanwhile stays. The in-use bytes above are exact. */
	CHECK_GE(pages_late + 256, pages_early);
	gc_write(&g_churn.window, NULL);
}

/* ---- pacing ---------------------------------------------------------------- */

typedef struct ballast_node {
	struct ballast_node *next;
	uint64_t pad[3];
} ballast_node;
static GC_TYPE_DEFINE(ballast_type, ballast_node, next);

static ballast_node *g_pacing_live;

#define BALLAST_MAGIC 0xba11a57ba11a57ULL

static __attribute__((noinline)) void pacing_live_make(size_t bytes)
{
	ballast_node *head = NULL;
	for (size_t i = 0; i < bytes / sizeof(ballast_node); i++) {
		ballast_node *b = gc_alloc(&ballast_type);
		CHECK(b);
		b->pad[0] = BALLAST_MAGIC;
		b->pad[1] = i;
		gc_write(&b->next, head);
		head = b;
	}
	gc_write(&g_pacing_live, head);
}

/* The live list is whole: n nodes, counting down, none freed. */
static void pacing_live_check(size_t bytes)
{
	size_t n = bytes / sizeof(ballast_node), i = n;
	for (ballast_node *b = g_pacing_live; b; b = b->next) {
		CHECK_MSG(i > 0, "live list longer than %zu", n);
		i--;
		CHECK_MSG(gc_t_allocated(b) && b->pad[0] == BALLAST_MAGIC && b->pad[1] == i,
			  "live list node %zu of %zu at %p freed or overwritten "
			  "(magic %llx, index %llu)", n - 1 - i, n, (void *)b,
			  (unsigned long long)b->pad[0], (unsigned long long)b->pad[1]);
	}
	CHECK_MSG(i == 0, "live list cut short: %zu of %zu nodes", n - i, n);
}

#define PACING_CYCLES 10
#define PACING_WARMUP 3

struct pacing_cycle {
	uint64_t goal, peak;
};

/* The allocator stops once the pacer has run the cycles the test looks at
 * (the event the test waits for, by joining it), or, failing, after
 * PACING_MAX_ALLOCS objects: some 40 times what that takes (a cycle comes
 * after about 5 MiB, 20,000 of them). */
#define PACING_MAX_ALLOCS (10u << 20)

static struct {
	struct pacing_cycle per_cycle[PACING_CYCLES + PACING_WARMUP];
	uint64_t c0;
	volatile uint64_t allocs;
} g_pacing;

/* Allocates garbage as fast as it can; after every 64 objects notes the
 * heap in use against the goal of the cycle in progress (the goal a cycle
 * must meet is the one set when the previous cycle ended). */
static void pacing_allocator(void *arg)
{
	(void)arg;
	for (;;) {
		for (int i = 0; i < 64; i++) {
			word *w = gc_alloc_array(&word_type, 32); /* 256 B, scanned */
			if (!w)
				task_exit(1);
		}
		g_pacing.allocs += 64;
		gc_stats s;
		gc_read_stats(&s);
		uint64_t k = s.cycles - g_pacing.c0;
		if (k >= ARRAY_SIZE(g_pacing.per_cycle))
			return; /* every cycle looked at is over */
		struct pacing_cycle *pc = &g_pacing.per_cycle[k];
		pc->goal = s.heap_goal;
		pc->peak = MAX(pc->peak, s.heap_in_use);
		if (g_pacing.allocs >= PACING_MAX_ALLOCS)
			task_exit(2);
	}
}

GC_TEST(gc, pacer_keeps_peak_heap_near_goal)
{
	gc_stats s = gc_t_stats();
	if (s.gogc < 0) {
		test_log("gogc=off: nothing to pace");
		return;
	}
	pacing_live_make(4 << 20);
	gc_t_collect();
	memset(&g_pacing, 0, sizeof g_pacing);
	g_pacing.c0 = gc_t_stats().cycles;
	task *t = task_spawn_stack(pacing_allocator, NULL, "gc-pacing-alloc", GC_T_STACK);
	CHECK(t);
	int status = task_join(t); /* it ends when the cycles are done */
	uint64_t done = gc_t_stats().cycles - g_pacing.c0;
	CHECK_MSG(status == 0, "allocator status %d after %llu allocations: %llu of %d cycles",
		  status, (unsigned long long)g_pacing.allocs, (unsigned long long)done,
		  PACING_WARMUP + PACING_CYCLES);
	test_log("%llu allocations for %llu cycles", (unsigned long long)g_pacing.allocs,
		 (unsigned long long)done);
	pacing_live_check(4 << 20);
	CHECK_GE(done, PACING_WARMUP + PACING_CYCLES);
	/* A bound on the pacer's aim, not on the roots, so it must stay a
	 * margin: the goal is met only as well as the trigger (which adapts
	 * over the warm-up cycles) and the assist ratio estimate the cycle's
	 * scan work; 10% over the goal, plus 256 KiB for what the allocator
	 * adds between two samples and the per-CPU caches. Assists make the
	 * allocator pay in scan work, not in time, so a loaded machine does
	 * not move it. */
	for (size_t k = PACING_WARMUP; k < PACING_WARMUP + PACING_CYCLES; k++) {
		struct pacing_cycle *pc = &g_pacing.per_cycle[k];
		test_log("cycle +%zu: goal %llu KiB, peak in use %llu KiB (%llu%%)", k,
			 (unsigned long long)(pc->goal >> 10),
			 (unsigned long long)(pc->peak >> 10),
			 (unsigned long long)(pc->goal ? pc->peak * 100 / pc->goal : 0));
	}
	for (size_t k = PACING_WARMUP; k < PACING_WARMUP + PACING_CYCLES; k++) {
		struct pacing_cycle *pc = &g_pacing.per_cycle[k];
		CHECK_GT(pc->goal, 0);
		CHECK_MSG(pc->peak <= pc->goal + pc->goal / 10 + (256 << 10),
			  "cycle +%zu: peak %llu KiB over goal %llu KiB + 10%%", k,
			  (unsigned long long)(pc->peak >> 10),
			  (unsigned long long)(pc->goal >> 10));
	}
	gc_write(&g_pacing_live, NULL);
}
