/*
 * tests/gc_pacer_test.c - the heap stays bounded: no growth over 1,000
 * cycles of steady-state churn (nothing leaks: not objects, not spans, not
 * pages), and, left to the pacer (no gc_collect), the peak heap of each
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

TEST(gc, heap_bounded_over_1000_cycles_of_churn)
{
	word *window = gc_alloc_array(&word_type, CHURN_LIVE);
	uint64_t *ids = gc_alloc_noscan(CHURN_LIVE * sizeof(uint64_t));
	CHECK(window && ids);
	uint64_t next = 0;
	for (size_t i = 0; i < CHURN_LIVE; i++, next++) {
		void *o = churn_alloc(next);
		CHECK(o);
		ids[i] = next;
		gc_write(&window[i].p, o);
	}
	/* Chain some objects to each other (as lists do), through the
	 * barrier: a link to a replaced object keeps it one more cycle. */
	size_t live_bytes = 0;
	gc_t_collect();
	for (size_t i = 0; i < CHURN_LIVE; i++) {
		gc_object o;
		CHECK(gc_find_object(window[i].p, &o));
		live_bytes += o.size;
	}
	size_t base = gc_t_in_use() - live_bytes;
	size_t max_early = 0, max_late = 0, pages_early = 0;
	uint64_t rng = 5, c0 = gc_t_stats().cycles;
	for (int cycle = 0; cycle < CHURN_CYCLES; cycle++) {
		for (int k = 0; k < CHURN_PER_CYCLE; k++, next++) {
			size_t slot = mm_test_below(&rng, CHURN_LIVE);
			void *o = churn_alloc(next);
			CHECK_MSG(o, "cycle %d: %s", cycle, gc_last_error());
			gc_write(&window[slot].p, o);
			ids[slot] = next;
			if (next % 2) {
				/* link to another live typed object */
				size_t other = mm_test_below(&rng, CHURN_LIVE);
				if (ids[other] % 2)
					gc_write(&((churn_obj *)o)->link, window[other].p);
			}
		}
		gc_t_collect();
		size_t in_use = gc_t_in_use();
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
			for (size_t i = 0; i < CHURN_LIVE; i++)
				CHECK_MSG(churn_ok(window[i].p, ids[i]),
					  "cycle %d: live object %zu lost", cycle, i);
	}
	for (size_t i = 0; i < CHURN_LIVE; i++)
		CHECK_MSG(churn_ok(window[i].p, ids[i]), "live object %zu lost", i);
	mm_test_quiesce();
	size_t pages_late = arch_free_pages();
	gc_stats s = gc_t_stats();
	test_log("live %zu KiB (+%zu KiB other); in use after a cycle: first 100 max "
		 "%zu KiB, last 900 max %zu KiB; free pages %zu -> %zu; %llu cycles",
		 live_bytes >> 10, base >> 10, max_early >> 10, max_late >> 10,
		 pages_early, pages_late, (unsigned long long)(s.cycles - c0));
	CHECK_GE(s.cycles - c0, CHURN_CYCLES);
	/* Right after a full collection the heap holds the live window,
	 * what was there before, the objects replaced since the cycle's
	 * roots were taken (none) and what links keep one more cycle: at
	 * most the live window again. */
	CHECK_LE(max_late, base + 2 * live_bytes + (64 << 10));
	/* No growth from the first 100 cycles to the last 900. */
	CHECK_LE(max_late, max_early + max_early / 8 + (64 << 10));
	/* No pages leak (1 MiB of slack for metadata). */
	CHECK_GE(pages_late + 256, pages_early);
	gc_t_keep(window);
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

static struct {
	volatile int stop;
	struct pacing_cycle per_cycle[PACING_CYCLES + PACING_WARMUP + 2];
	uint64_t c0;
	volatile uint64_t allocs;
} g_pacing;

/* Allocates garbage as fast as it can; after every 64 objects notes the
 * heap in use against the goal of the cycle in progress (the goal a cycle
 * must meet is the one set when the previous cycle ended). */
static void pacing_allocator(void *arg)
{
	(void)arg;
	while (!g_pacing.stop) {
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
			break;
		struct pacing_cycle *pc = &g_pacing.per_cycle[k];
		pc->goal = s.heap_goal;
		pc->peak = MAX(pc->peak, s.heap_in_use);
	}
}

TEST(gc, pacer_keeps_peak_heap_near_goal)
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
	uint64_t t0 = arch_nanotime();
	while (gc_t_stats().cycles < g_pacing.c0 + PACING_WARMUP + PACING_CYCLES &&
	       arch_nanotime() - t0 < 120000 * GC_T_MS)
		task_sleep(5 * GC_T_MS);
	g_pacing.stop = 1;
	CHECK_EQ(task_join(t), 0);
	uint64_t done = gc_t_stats().cycles - g_pacing.c0;
	pacing_live_check(4 << 20);
	CHECK_GE(done, PACING_WARMUP + PACING_CYCLES);
	/* The generous bound: 10% over the goal, plus 256 KiB for what the
	 * allocator can add between two samples and per-CPU caching. The
	 * first cycles are warm-up: the trigger adapts. */
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
