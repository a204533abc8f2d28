/*
 * tests/gc_race_test.c - the collector against concurrent mutators: the
 * classic lost-object race a missing write barrier causes (references moved
 * from objects not yet scanned into black ones, through stacks, globals and
 * bulk copies, while cycles run), allocate-black, mark assists, and 64 tasks
 * mutating a shared graph checked against shadow state for 200+ cycles.
 *
 * Every check is by counting and content, never by timing: mutators are
 * paused at a known point (their hands emptied back into the heap) after
 * each cycle, and the checker then walks everything that must be reachable.
 * A lost object shows up as a freed slot (gc_find_object), or as one that
 * was handed out again and overwritten (bad magic or checksum; debug builds
 * also poison freed memory with 0xa5).
 *
 * A ballast (a long live list nobody mutates) makes each mark take several
 * of the worker's slices, so mutators really run while marking is under
 * way, and is itself checked whole after each cycle. In the lost-object
 * race the holders hang off the ballast at intervals, so marking reaches
 * them one after the other and moves go between holders already scanned
 * and holders not yet reached. The tests count the mutations done during
 * GC_PHASE_MARK and insist on a minimum, so a run that never overlapped
 * the two cannot pass silently.
 *
 * Checked against mutants of gc/ (hosted debug build): no barrier at all,
 * the deletion half only, the insertion half only, and no allocate-black
 * each fail here (and in gc_pacer_test.c's live-list check).
 */
#include "diag/diag.h"
#include "tests/gc_test_util.h"

typedef struct word {
	void *p;
} word;
static GC_TYPE_DEFINE(word_type, word, p);

/* ---- the ballast: live, pointer-dense, slow to mark ----------------------- */

typedef struct ballast_node {
	struct ballast_node *next;
	struct ballast_node *other;
	uint64_t pad[2];
} ballast_node;
static GC_TYPE_DEFINE(ballast_type, ballast_node, next, other);

static ballast_node *g_ballast;
static size_t g_ballast_n;
#define BALLAST_MAGIC 0xba11a57ba11a57ULL

/*
 * A list of n 32-byte nodes. Without hooks, `other` points back into the
 * list; with hooks, the nodes at positions 0, n/nhooks, 2n/nhooks, ...
 * from the head point to hooks[0], hooks[1], ...: marking, which follows
 * the list from its head, then reaches the hooked objects one after the
 * other over the whole mark phase instead of all at once.
 */
static __attribute__((noinline)) void ballast_make_hooked(size_t bytes, void **hooks,
							   size_t nhooks)
{
	size_t n = bytes / sizeof(ballast_node);
	ballast_node *head = NULL, *mid = NULL;
	for (size_t i = 0; i < n; i++) {
		ballast_node *b = gc_alloc(&ballast_type);
		CHECK_MSG(b, "ballast: %s", gc_last_error());
		b->pad[0] = BALLAST_MAGIC;
		b->pad[1] = i;
		gc_write(&b->next, head);
		size_t pos = n - 1 - i; /* from the head */
		if (!hooks)
			gc_write(&b->other, mid);
		else if (pos % (n / nhooks) == 0 && pos / (n / nhooks) < nhooks)
			gc_write(&b->other, hooks[pos / (n / nhooks)]);
		if (i % 64 == 0)
			mid = b;
		head = b;
	}
	gc_write(&g_ballast, head);
	g_ballast_n = n;
}

static void ballast_make(size_t bytes)
{
	ballast_make_hooked(bytes, NULL, 0);
}

/* The ballast is whole: nobody mutates it, so any node missing was freed
 * while reachable. */
static void ballast_check(void)
{
	size_t i = g_ballast_n;
	for (ballast_node *b = g_ballast; b; b = b->next) {
		CHECK_MSG(i > 0, "ballast longer than %zu", g_ballast_n);
		i--;
		CHECK_MSG(gc_t_allocated(b) && b->pad[0] == BALLAST_MAGIC && b->pad[1] == i,
			  "ballast node %zu of %zu at %p freed or overwritten while "
			  "reachable (magic %llx, index %llu)", g_ballast_n - 1 - i,
			  g_ballast_n, (void *)b, (unsigned long long)b->pad[0],
			  (unsigned long long)b->pad[1]);
	}
	CHECK_MSG(i == 0, "ballast cut short: %zu of %zu nodes", g_ballast_n - i,
		  g_ballast_n);
}

static void ballast_drop(void)
{
	ballast_check();
	gc_write(&g_ballast, NULL);
}

/* ======================================================================== */
/* ---- the lost-object race ---------------------------------------------- */

#define RACE_MUTATORS 4
#define RACE_HOLDERS 1024 /* per mutator; 3 slots each */
#define RACE_TOKENS 1024  /* per mutator: each moves rarely within one mark */
#define RACE_GSLOTS 8     /* global slots per mutator */
#define RACE_HAND 4
#define RACE_MIN_CYCLES 40
#define RACE_MAX_CYCLES 400
#define RACE_MIN_MARK_MOVES 20000
#define TOKEN_MAGIC 0x70c3e70c3e70c3e7ULL
#define GARBAGE_MAGIC 0x6a6a6a6a6a6a6a6aULL
#define PAYLOAD_BYTES 48

typedef struct token {
	uint64_t magic;
	uint64_t id;
	void *payload;  /* noscan, PAYLOAD_BYTES filled from pseed */
	uint64_t pseed;
	uint64_t check; /* mix(id ^ pseed) */
	uint64_t pad[5];
} token;
static GC_TYPE_DEFINE(token_type, token, payload);

typedef struct holder {
	uint64_t magic;
	token *slot[3];
} holder;
static GC_TYPE_DEFINE(holder_type, holder, slot[0], slot[1], slot[2]);
#define HOLDER_MAGIC 0x401de401de401de4ULL

static struct {
	/* Holders, reachable only through the ballast (hooked along it);
	 * these arrays are noscan: the collector does not see them. */
	holder **holders[RACE_MUTATORS];
	token *gslots[RACE_MUTATORS][RACE_GSLOTS];
	volatile int pause, stop;
	volatile int parked;
	volatile uint64_t moves, mark_moves, errors;
	volatile uint64_t first_error_id;
	volatile const char *first_error;
} g_race;

/* Records a bad token and stops the mutators: carrying on with lost
 * (poisoned or reused) memory would only crash. */
static void race_error(const char *what, uint64_t id)
{
	if (__atomic_fetch_add(&g_race.errors, 1, __ATOMIC_RELAXED) == 0) {
		g_race.first_error = what;
		g_race.first_error_id = id;
	}
	g_race.stop = 1;
}

/* A token's id, read only if t is still an object (a lost one may be
 * poisoned memory or someone else's object). */
static uint64_t token_id(const token *t)
{
	return gc_t_allocated(t) ? t->id : ~0ULL;
}

static bool token_ok(const token *t, uint64_t m)
{
	return gc_t_allocated(t) && t->magic == TOKEN_MAGIC &&
	       t->id / RACE_TOKENS == m && t->check == gc_t_mix(t->id ^ t->pseed) &&
	       gc_t_allocated(t->payload) &&
	       gc_t_check_fill(t->payload, PAYLOAD_BYTES, t->pseed);
}

static token *token_new(uint64_t id, uint64_t pseed)
{
	token *t = gc_alloc(&token_type);
	void *payload = gc_alloc_noscan(PAYLOAD_BYTES);
	if (!t || !payload)
		return NULL;
	gc_t_fill(payload, PAYLOAD_BYTES, pseed);
	t->magic = TOKEN_MAGIC;
	t->id = id;
	t->pseed = pseed;
	t->check = gc_t_mix(id ^ pseed);
	gc_write(&t->payload, payload);
	return t;
}

/* A slot (a holder's or a global one) of mutator m, chosen at random. */
static token **race_slot(unsigned m, uint64_t r)
{
	if (r % 16 == 0)
		return &g_race.gslots[m][(r >> 8) % RACE_GSLOTS];
	holder *h = g_race.holders[m][(r >> 8) % RACE_HOLDERS];
	if (!gc_t_allocated(h) || h->magic != HOLDER_MAGIC) {
		race_error("holder lost", (r >> 8) % RACE_HOLDERS);
		return &g_race.gslots[m][0];
	}
	return &h->slot[(r >> 20) % 3];
}

/* A random slot of m that is full (want_full) or empty. */
static token **race_find(unsigned m, uint64_t *rng, bool want_full)
{
	for (;;) {
		token **s = race_slot(m, mm_test_rand(rng));
		if ((*s != NULL) == want_full || g_race.stop)
			return s;
	}
}

static void race_mutator(void *arg)
{
	unsigned m = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0x1234567ULL + m * 0x9E3779B97F4A7C15ULL;
	token *volatile hand[RACE_HAND] = { 0 };
	uint64_t gen = 0;

	while (!g_race.stop) {
		if (g_race.pause) {
			/* Empty the hand into the heap, then wait. */
			for (int k = 0; k < RACE_HAND; k++) {
				if (hand[k]) {
					gc_write(race_find(m, &rng, false), hand[k]);
					hand[k] = NULL;
				}
			}
			__atomic_fetch_add(&g_race.parked, 1, __ATOMIC_SEQ_CST);
			while (g_race.pause && !g_race.stop)
				task_yield();
			__atomic_fetch_sub(&g_race.parked, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		bool marking = gc_get_phase() == GC_PHASE_MARK;
		uint64_t r = mm_test_rand(&rng);
		int k = (int)((r >> 40) % RACE_HAND);
		switch (r % 8) {
		case 0:
		case 1: { /* heap -> heap, destination first */
			token **from = race_find(m, &rng, true);
			token **to = race_find(m, &rng, false);
			token *t = *from;
			gc_write(to, t);
			gc_write(from, NULL);
			if (!token_ok(t, m))
				race_error("moved token (dst first) bad", token_id(t));
			break;
		}
		case 2: { /* heap -> heap, source cleared first: only the
			   * stack holds it in between */
			token **from = race_find(m, &rng, true);
			token *t = *from;
			gc_write(from, NULL);
			for (volatile int spin = 0; spin < (int)(r >> 59); spin++)
				;
			gc_write(race_find(m, &rng, false), t);
			if (!token_ok(t, m))
				race_error("moved token (src first) bad", token_id(t));
			break;
		}
		case 3: /* heap <-> hand (the hand is on this stack). Slots 0
			 * and 1 hold briefly; 2 and 3 for thousands of ops,
			 * across phases: a token taken from a holder the
			 * collector has not reached, into a stack it has
			 * already scanned, survives only by the deletion
			 * barrier. */
			if (hand[k] && k >= 2 && (r >> 48) % 1024 != 0)
				break;
			if (hand[k]) {
				token *t = hand[k];
				gc_write(race_find(m, &rng, false), t);
				hand[k] = NULL;
				if (!token_ok(t, m))
					race_error("token from hand bad", token_id(t));
			} else {
				token **from = race_find(m, &rng, true);
				hand[k] = *from;
				gc_write(from, NULL);
				if (!token_ok(hand[k], m))
					race_error("token into hand bad", token_id(hand[k]));
			}
			break;
		case 4: { /* bulk move of a holder's three slots: gc_copy */
			holder *a = g_race.holders[m][(r >> 8) % RACE_HOLDERS];
			holder *b = g_race.holders[m][(r >> 24) % RACE_HOLDERS];
			if (a == b || b->slot[0] || b->slot[1] || b->slot[2])
				break;
			static const token *const none[3];
			gc_copy(b->slot, a->slot, sizeof a->slot);
			gc_copy(a->slot, none, sizeof a->slot);
			for (int i = 0; i < 3; i++)
				if (b->slot[i] && !token_ok(b->slot[i], m))
					race_error("token moved by gc_copy bad", token_id(b->slot[i]));
			break;
		}
		case 5: { /* replace a token by a fresh copy (allocated black
			   * while marking); the old one becomes garbage */
			token **s = race_find(m, &rng, true);
			token *old = *s;
			if (!token_ok(old, m)) {
				race_error("token to replace bad", token_id(old));
				break;
			}
			token *t = token_new(old->id, gc_t_mix(old->pseed + ++gen));
			if (!t) {
				race_error("out of memory", 0);
				break;
			}
			gc_write(s, t);
			break;
		}
		case 6: { /* garbage in the token size class: a freed token's
			   * slot gets handed out and overwritten */
			token *g = gc_alloc(&token_type);
			if (g) {
				g->magic = GARBAGE_MAGIC;
				g->id = ~0ULL;
			}
			void *p = gc_alloc_noscan(PAYLOAD_BYTES);
			if (p)
				memset(p, 0x6a, PAYLOAD_BYTES);
			break;
		}
		default: /* read-only check of a random token */
			{
				token *t = *race_find(m, &rng, true);
				if (!token_ok(t, m))
					race_error("resting token bad", token_id(t));
			}
			break;
		}
		__atomic_fetch_add(&g_race.moves, 1, __ATOMIC_RELAXED);
		if (marking && gc_get_phase() == GC_PHASE_MARK)
			__atomic_fetch_add(&g_race.mark_moves, 1, __ATOMIC_RELAXED);
	}
}

/* With every mutator parked: every token of every mutator is reachable
 * exactly once, intact. Returns the tokens found. */
static size_t race_verify(uint8_t *seen)
{
	memset(seen, 0, RACE_MUTATORS * RACE_TOKENS);
	size_t found = 0;
	for (unsigned m = 0; m < RACE_MUTATORS; m++) {
		for (size_t h = 0; h < RACE_HOLDERS + 1; h++) {
			for (size_t s = 0; s < (h < RACE_HOLDERS ? 3 : RACE_GSLOTS); s++) {
				token *t;
				if (h < RACE_HOLDERS) {
					holder *hd = g_race.holders[m][h];
					CHECK_MSG(gc_t_allocated(hd) && hd->magic == HOLDER_MAGIC,
						  "holder %u/%zu lost", m, h);
					t = hd->slot[s];
				} else {
					t = g_race.gslots[m][s];
				}
				if (!t)
					continue;
				CHECK_MSG(gc_t_allocated(t),
					  "token at %p (mutator %u) was freed while reachable",
					  (void *)t, m);
				CHECK_MSG(t->magic == TOKEN_MAGIC,
					  "token at %p overwritten (magic %llx): lost and reused",
					  (void *)t, (unsigned long long)t->magic);
				CHECK_MSG(token_ok(t, m), "token %llu at %p corrupt or payload lost",
					  (unsigned long long)t->id, (void *)t);
				CHECK_MSG(!seen[t->id], "token %llu reachable twice",
					  (unsigned long long)t->id);
				seen[t->id] = 1;
				found++;
			}
		}
	}
	return found;
}

/* Holders of all mutators, interleaved, hooked along a 2 MiB ballast;
 * tokens spread over them. */
static __attribute__((noinline)) void race_setup(void)
{
	/* typed while the ballast is built (cycles run meanwhile), then the
	 * ballast is all that holds the holders */
	word *hooks = gc_alloc_array(&word_type, RACE_MUTATORS * RACE_HOLDERS);
	CHECK(hooks);
	for (unsigned m = 0; m < RACE_MUTATORS; m++) {
		g_race.holders[m] = gc_alloc_noscan(RACE_HOLDERS * sizeof(holder *));
		CHECK(g_race.holders[m]);
		for (size_t h = 0; h < RACE_HOLDERS; h++) {
			holder *hd = gc_alloc(&holder_type);
			CHECK(hd);
			hd->magic = HOLDER_MAGIC;
			g_race.holders[m][h] = hd;
			gc_write(&hooks[h * RACE_MUTATORS + m].p, hd);
		}
	}
	ballast_make_hooked(2 << 20, (void **)hooks, RACE_MUTATORS * RACE_HOLDERS);
	for (size_t i = 0; i < RACE_MUTATORS * RACE_HOLDERS; i++)
		gc_write(&hooks[i].p, NULL);
	uint64_t id = 0;
	for (unsigned m = 0; m < RACE_MUTATORS; m++) {
		for (size_t i = 0; i < RACE_TOKENS; i++, id++) {
			holder *hd = g_race.holders[m][(i * 7) % RACE_HOLDERS];
			token *t = token_new(id, gc_t_mix(id));
			CHECK(t);
			gc_write(&hd->slot[i % 3], t);
		}
	}
}

static void race_pause_all(void)
{
	g_race.pause = 1;
	while (__atomic_load_n(&g_race.parked, __ATOMIC_SEQ_CST) != RACE_MUTATORS &&
	       !g_race.stop)
		task_yield();
}

GC_TEST(gc, lost_object_race)
{
	memset(&g_race, 0, sizeof g_race);
	race_setup();
	uint8_t *seen = gc_alloc_noscan(RACE_MUTATORS * RACE_TOKENS);
	CHECK(seen);
	CHECK_EQ(race_verify(seen), RACE_MUTATORS * RACE_TOKENS);

	g_race.pause = 1;
	task *tasks[RACE_MUTATORS];
	for (unsigned m = 0; m < RACE_MUTATORS; m++) {
		tasks[m] = task_spawn_stack(race_mutator, (void *)(uintptr_t)m, "gc-race", GC_T_STACK);
		CHECK(tasks[m]);
	}
	race_pause_all();
	int cycles = 0;
	uint64_t c0 = gc_t_stats().cycles;
	for (; cycles < RACE_MAX_CYCLES; cycles++) {
		if (cycles >= RACE_MIN_CYCLES && g_race.mark_moves >= RACE_MIN_MARK_MOVES)
			break;
		g_race.pause = 0;
		gc_collect();
		race_pause_all();
		if (g_race.errors)
			break;
		ballast_check();
		size_t found = race_verify(seen);
		CHECK_MSG(found == RACE_MUTATORS * RACE_TOKENS,
			  "cycle %d: %zu of %d tokens reachable", cycles, found,
			  RACE_MUTATORS * RACE_TOKENS);
	}
	g_race.stop = 1;
	for (unsigned m = 0; m < RACE_MUTATORS; m++)
		CHECK_EQ(task_join(tasks[m]), 0);
	test_log("%d cycles (%llu in all), %llu moves, %llu during mark", cycles,
		 (unsigned long long)(gc_t_stats().cycles - c0),
		 (unsigned long long)g_race.moves, (unsigned long long)g_race.mark_moves);
	CHECK_MSG(!g_race.errors, "%llu bad tokens seen by mutators; first: %s (id %llu)",
		  (unsigned long long)g_race.errors, g_race.first_error,
		  (unsigned long long)g_race.first_error_id);
	CHECK_EQ(race_verify(seen), RACE_MUTATORS * RACE_TOKENS);
	/* A minimum, not an exact count: how many moves fall into marking
	 * is up to the scheduler (the loop runs more cycles until there are
	 * enough, up to RACE_MAX_CYCLES). The interleavings that must be
	 * caught on every run are driven step by step in
	 * gc_barrier_test.c; this checks that the free-running race was
	 * exercised at all. */
	CHECK_MSG(g_race.mark_moves >= RACE_MIN_MARK_MOVES,
		  "only %llu moves overlapped marking: the race was not exercised",
		  (unsigned long long)g_race.mark_moves);
	memset(g_race.holders, 0, sizeof g_race.holders);
	memset(g_race.gslots, 0, sizeof g_race.gslots);
	ballast_drop();
}

/* ======================================================================== */
/* ---- allocate-black ---------------------------------------------------- */

static void collect_once(void *arg)
{
	(void)arg;
	gc_collect();
}

#define BLACK_MAX 4096
#define BLACK_WANT 300

struct black_rec {
	uintptr_t addr;
	uint32_t size;
	uint32_t seed;
};

/*
 * Allocates during one cycle's mark phase and records (in noscan memory
 * only) the objects that were certainly born while it marked: phase MARK
 * and the same cycle count before and after the allocation. Returns how
 * many were recorded; *cycle gets the cycle they were born in.
 */
static __attribute__((noinline)) size_t allocate_during_mark(struct black_rec *recs,
							      size_t max, uint64_t *cycle)
{
	static const uint32_t sizes[] = { 8, 16, 24, 64, 200, 1024, 5000, 40000 };
	size_t n = 0;
	uint64_t c = gc_t_stats().cycles;
	*cycle = c;
	for (uint32_t i = 0; n < max && gc_get_phase() == GC_PHASE_MARK; i++) {
		uint32_t size = sizes[i % ARRAY_SIZE(sizes)];
		char *p = i % 3 == 0 && size >= 16 ? gc_alloc_array(&word_type, size / 8)
						  : gc_alloc_noscan(size);
		CHECK(p);
		uint32_t seed = i * 31 + 7;
		memset(p, (int)(seed & 0xff) | 1, MIN(size, 64u));
		if (gc_get_phase() == GC_PHASE_MARK && gc_t_stats().cycles == c)
			recs[n++] = (struct black_rec){ (uintptr_t)p, size, seed };
	}
	return n;
}

static __attribute__((noinline)) bool black_rec_intact(const struct black_rec *r)
{
	const unsigned char *p = (const unsigned char *)r->addr;
	gc_object o;
	if (!gc_find_object(p, &o) || o.base != p)
		return false;
	for (uint32_t b = 0; b < MIN(r->size, 64u); b++)
		if (p[b] != ((r->seed & 0xff) | 1))
			return false;
	return true;
}

/* Every object born during marking survived the cycle, though nothing but
 * noscan memory points to it. (A function of its own, as is the count
 * below: the last address read stays in no register of the test's.) */
static __attribute__((noinline)) void check_black_born(const struct black_rec *recs, size_t n,
						       uint64_t cycle)
{
	for (size_t i = 0; i < n; i++)
		CHECK_MSG(black_rec_intact(&recs[i]),
			  "object %zu of %zu (%u bytes at %p) born during marking "
			  "of cycle %llu was freed by it", i, n, recs[i].size,
			  (void *)recs[i].addr, (unsigned long long)cycle + 1);
}

/* How many of them are still allocated; why-alive explains the first. */
static __attribute__((noinline)) size_t count_black_born(const struct black_rec *recs, size_t n)
{
	size_t alive = 0;
	for (size_t i = 0; i < n; i++) {
		if (!gc_find_object((void *)recs[i].addr, NULL))
			continue;
		if (alive++ == 0) {
			test_log("object %zu (%u bytes at %p) outlived the next cycle; "
				 "what keeps it:", i, recs[i].size, (void *)recs[i].addr);
			why_alive((void *)recs[i].addr);
		}
	}
	return alive;
}

GC_TEST(gc, allocate_black)
{
	struct black_rec *recs = gc_alloc_noscan(BLACK_MAX * sizeof *recs);
	CHECK(recs);
	ballast_make(2 << 20);
	size_t total = 0, attempts = 0;
	for (; total < BLACK_WANT && attempts < 50; attempts++) {
		task *t = task_spawn_stack(collect_once, NULL, "gc-collect-once", GC_T_STACK);
		CHECK(t);
		/* wait for marking to begin */
		for (int i = 0; i < 100000 && gc_get_phase() != GC_PHASE_MARK; i++)
			task_yield();
		uint64_t cycle;
		size_t n = allocate_during_mark(recs, BLACK_MAX, &cycle);
		CHECK_EQ(task_join(t), 0);
		/* If another cycle ended meanwhile, those objects may rightly
		 * be gone: try again. */
		if (gc_t_stats().cycles != cycle + 1 || n == 0)
			continue;
		while (heap_sweep_some(64) > 0)
			;
		check_black_born(recs, n, cycle);
		total += n;
		/* Nothing references them: the next cycle frees every one. */
		gc_t_collect();
		size_t alive = count_black_born(recs, n);
		CHECK_MSG(alive == 0, "%zu of %zu black-born objects outlived the next cycle",
			  alive, n);
	}
	test_log("%zu objects born black in %zu attempts", total, attempts);
	/* A minimum: how many allocations fall into a concurrent mark is up
	 * to the scheduler (attempts repeat until there are enough).
	 * gc_barrier.allocate_black_keeps_objects_born_during_mark checks the
	 * rule deterministically. */
	CHECK_MSG(total >= BLACK_WANT, "only %zu allocations fell into a mark phase", total);
	ballast_drop();
}

/* ======================================================================== */
/* ---- mark assists --------------------------------------------------------- */

/* The allocator runs until the pacer has started ASSIST_CYCLES cycles and
 * it has assisted in one of them (the event the test waits for, by joining
 * it), or until it has allocated ASSIST_MAX_ALLOCS objects: some 80 times
 * what that takes (a cycle comes after about 40,000 of them). */
#define ASSIST_CYCLES 5
#define ASSIST_MAX_ALLOCS (16u << 20)

static struct {
	gc_stats s0, s;
	volatile uint64_t allocs;
} g_assist;

static void fast_allocator(void *arg)
{
	(void)arg;
	for (;;) {
		for (int i = 0; i < 1024; i++) {
			word *w = gc_alloc_array(&word_type, 8);
			if (!w)
				task_exit(1);
			w->p = w;
		}
		g_assist.allocs += 1024;
		gc_read_stats(&g_assist.s);
		if (g_assist.s.cycles >= g_assist.s0.cycles + ASSIST_CYCLES &&
		    g_assist.s.assist_bytes > g_assist.s0.assist_bytes)
			return;
		if (g_assist.allocs >= ASSIST_MAX_ALLOCS)
			task_exit(2);
	}
}

GC_TEST(gc, assists_pay_for_allocation_during_mark)
{
	ballast_make(2 << 20);
	gc_t_collect();
	memset(&g_assist, 0, sizeof g_assist);
	g_assist.s0 = gc_t_stats();
	task *t = task_spawn_stack(fast_allocator, NULL, "gc-fast-alloc", GC_T_STACK);
	CHECK(t);
	/* The allocator starts cycles by itself (heap trigger) and must
	 * assist in them: wait for it to see that happen. */
	int status = task_join(t);
	const gc_stats *s0 = &g_assist.s0, *s = &g_assist.s;
	test_log("%llu allocations, %llu cycles, assists scanned %llu bytes",
		 (unsigned long long)g_assist.allocs,
		 (unsigned long long)(s->cycles - s0->cycles),
		 (unsigned long long)(s->assist_bytes - s0->assist_bytes));
	CHECK_MSG(status == 0, "after %llu allocations (status %d): %llu cycles of the %d "
		  "waited for, assists scanned %llu bytes",
		  (unsigned long long)g_assist.allocs, status,
		  (unsigned long long)(s->cycles - s0->cycles), ASSIST_CYCLES,
		  (unsigned long long)(s->assist_bytes - s0->assist_bytes));
	/* the cycles it waited for (it saw them; the pacer may have begun
	 * the next) and at least one assist */
	CHECK_GE(s->cycles, s0->cycles + ASSIST_CYCLES);
	CHECK_GT(s->assist_bytes, s0->assist_bytes);
	CHECK_GT(s->gc_cpu_ns, s0->gc_cpu_ns);
	ballast_drop();
}

/* ======================================================================== */
/* ---- 64 tasks mutating a shared graph ----------------------------------- */

#define GRAPH_TASKS 64
#define GRAPH_OWN 6 /* nodes each task owns */
#define GRAPH_NODES (GRAPH_TASKS * GRAPH_OWN)
#define GRAPH_EDGES 4
#define GRAPH_CYCLES 200
#define GRAPH_OPS 6 /* per task per cycle */
#define GRAPH_QUEUE 8192
#define NODE_MAGIC 0x90de90de90de90deULL

typedef struct gnode {
	uint64_t magic;
	uint64_t id;
	uint64_t version;
	uint64_t sum; /* mix(id * 2^20 + version) */
	struct gnode *edge[GRAPH_EDGES];
	void *payload; /* noscan 32 bytes filled from sum */
	uint64_t visited; /* checker's epoch */
} gnode;
static GC_TYPE_DEFINE(gnode_type, gnode, edge[0], edge[1], edge[2], edge[3], payload);

static struct {
	word *root;                        /* root[id] = current version */
	uint64_t shadow[GRAPH_NODES];      /* current version of each id */
	semaphore go;
	waitgroup done;
	volatile int stop;
	volatile uint64_t errors, ops, mark_ops;
	volatile const char *first_error;
} g_graph;

static uint64_t gnode_sum(uint64_t id, uint64_t version)
{
	return gc_t_mix((id << 20) + version);
}

static bool gnode_ok(const gnode *n)
{
	return gc_t_allocated(n) && n->magic == NODE_MAGIC && n->id < GRAPH_NODES &&
	       n->sum == gnode_sum(n->id, n->version) && gc_t_allocated(n->payload) &&
	       gc_t_check_fill(n->payload, 32, n->sum);
}

static gnode *gnode_new(uint64_t id, uint64_t version)
{
	gnode *n = gc_alloc(&gnode_type);
	void *payload = gc_alloc_noscan(32);
	if (!n || !payload)
		return NULL;
	n->magic = NODE_MAGIC;
	n->id = id;
	n->version = version;
	n->sum = gnode_sum(id, version);
	gc_t_fill(payload, 32, n->sum);
	gc_write(&n->payload, payload);
	return n;
}

static void graph_error(const char *what)
{
	if (__atomic_fetch_add(&g_graph.errors, 1, __ATOMIC_RELAXED) == 0)
		g_graph.first_error = what;
}

static gnode *graph_current(uint64_t id)
{
	return g_graph.root[id].p;
}

static void graph_mutator(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0xabcdefULL + me * 0x9E3779B97F4A7C15ULL;
	for (;;) {
		semaphore_acquire(&g_graph.go);
		if (g_graph.stop)
			break;
		for (int op = 0; op < GRAPH_OPS; op++) {
			bool marking = gc_get_phase() == GC_PHASE_MARK;
			uint64_t r = mm_test_rand(&rng);
			uint64_t mine = me + GRAPH_TASKS * ((r >> 8) % GRAPH_OWN);
			gnode *c = graph_current(mine);
			if (r % 3 == 0) {
				/* Replace my node by a new version with the same
				 * edges; park the old version in one of my
				 * edges, where only the graph reaches it. */
				gnode *n = gnode_new(mine, c->version + 1);
				if (!n) {
					graph_error("out of memory");
					continue;
				}
				gc_copy(n->edge, c->edge, sizeof n->edge);
				gc_write(&n->edge[(r >> 16) % GRAPH_EDGES], c);
				gc_write(&g_graph.root[mine].p, n);
				g_graph.shadow[mine] = n->version;
				/* Old versions lose their edges, so the graph
				 * stays bounded (<= nodes * (1 + edges)). */
				for (int e = 0; e < GRAPH_EDGES; e++)
					gc_write(&c->edge[e], NULL);
				if (!gnode_ok(c) || !gnode_ok(n))
					graph_error("replaced node bad");
			} else {
				/* Move an edge target from any node (maybe an
				 * old version reachable only through edges)
				 * into my node, holding it on the stack in
				 * between, and overwrite the source if it is
				 * mine. */
				gnode *a = graph_current((r >> 16) % GRAPH_NODES);
				unsigned k = (unsigned)(r >> 32) % GRAPH_EDGES;
				gnode *x = a->edge[k];
				if (a->id % GRAPH_TASKS == me && a->version == g_graph.shadow[a->id])
					gc_write(&a->edge[k],
						 graph_current((r >> 40) % GRAPH_NODES));
				task_yield();
				gc_write(&c->edge[(r >> 48) % GRAPH_EDGES], x);
				if (x && !gnode_ok(x))
					graph_error("moved edge target bad");
			}
			__atomic_fetch_add(&g_graph.ops, 1, __ATOMIC_RELAXED);
			if (marking && gc_get_phase() == GC_PHASE_MARK)
				__atomic_fetch_add(&g_graph.mark_ops, 1, __ATOMIC_RELAXED);
			task_yield();
		}
		waitgroup_done(&g_graph.done);
	}
}

/* Walks the graph from the roots; every node reached must be intact, and
 * the current versions must match the shadow. Returns nodes reached. */
static size_t graph_verify(gnode **queue, uint64_t epoch)
{
	size_t head = 0, tail = 0;
	for (uint64_t id = 0; id < GRAPH_NODES; id++) {
		gnode *n = graph_current(id);
		CHECK_MSG(gnode_ok(n), "current node %llu lost or corrupt",
			  (unsigned long long)id);
		CHECK_EQ(n->id, id);
		CHECK_EQ(n->version, g_graph.shadow[id]);
		if (n->visited != epoch) {
			n->visited = epoch;
			queue[tail++] = n;
		}
	}
	while (head < tail) {
		gnode *n = queue[head++];
		for (int e = 0; e < GRAPH_EDGES; e++) {
			gnode *x = n->edge[e];
			if (!x)
				continue;
			CHECK_MSG(gc_t_allocated(x),
				  "node at %p reachable from node %llu v%llu was freed",
				  (void *)x, (unsigned long long)n->id,
				  (unsigned long long)n->version);
			if (x->visited == epoch)
				continue;
			CHECK_MSG(gnode_ok(x), "node at %p (id %llu v%llu) corrupt: lost and "
				  "reused", (void *)x, (unsigned long long)x->id,
				  (unsigned long long)x->version);
			CHECK_LE(x->version, g_graph.shadow[x->id]);
			CHECK_MSG(tail < GRAPH_QUEUE, "graph larger than %d nodes", GRAPH_QUEUE);
			x->visited = epoch;
			queue[tail++] = x;
		}
	}
	return tail;
}

GC_TEST(gc, graph_64_tasks_200_cycles)
{
	memset(&g_graph, 0, sizeof g_graph);
	semaphore_init(&g_graph.go, 0);
	waitgroup_init(&g_graph.done);
	ballast_make(256 << 10);
	word *root = gc_alloc_array(&word_type, GRAPH_NODES);
	gnode **queue = gc_alloc_noscan(GRAPH_QUEUE * sizeof(gnode *));
	CHECK(root && queue);
	gc_write(&g_graph.root, root);
	for (uint64_t id = 0; id < GRAPH_NODES; id++) {
		gnode *n = gnode_new(id, 0);
		CHECK(n);
		gc_write(&root[id].p, n);
	}
	uint64_t rng = 99;
	for (uint64_t id = 0; id < GRAPH_NODES; id++)
		for (int e = 0; e < GRAPH_EDGES; e++)
			gc_write(&graph_current(id)->edge[e],
				 graph_current(mm_test_below(&rng, GRAPH_NODES)));

	task *tasks[GRAPH_TASKS];
	for (unsigned i = 0; i < GRAPH_TASKS; i++) {
		tasks[i] = task_spawn_stack(graph_mutator, (void *)(uintptr_t)i, "gc-graph", GC_T_STACK);
		CHECK(tasks[i]);
	}
	uint64_t c0 = gc_t_stats().cycles;
	size_t max_reached = 0;
	for (int cycle = 1; cycle <= GRAPH_CYCLES; cycle++) {
		waitgroup_add(&g_graph.done, GRAPH_TASKS);
		for (int i = 0; i < GRAPH_TASKS; i++)
			semaphore_release(&g_graph.go);
		gc_collect(); /* runs while the tasks mutate */
		waitgroup_wait(&g_graph.done);
		if (g_graph.errors)
			break;
		if (cycle % 10 == 0)
			ballast_check();
		size_t reached = graph_verify(queue, (uint64_t)cycle);
		max_reached = MAX(max_reached, reached);
	}
	g_graph.stop = 1;
	for (int i = 0; i < GRAPH_TASKS; i++)
		semaphore_release(&g_graph.go);
	for (int i = 0; i < GRAPH_TASKS; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	gc_stats s = gc_t_stats();
	test_log("%llu cycles, %llu ops (%llu during mark), up to %zu nodes reachable",
		 (unsigned long long)(s.cycles - c0), (unsigned long long)g_graph.ops,
		 (unsigned long long)g_graph.mark_ops, max_reached);
	CHECK_MSG(!g_graph.errors, "%llu bad nodes seen by mutators; first: %s",
		  (unsigned long long)g_graph.errors, g_graph.first_error);
	/* the GRAPH_CYCLES asked for; the pacer may add its own */
	CHECK_GE(s.cycles - c0, GRAPH_CYCLES);
	CHECK_EQ(g_graph.ops, (uint64_t)GRAPH_CYCLES * GRAPH_TASKS * GRAPH_OPS);
	/* some ops overlapped marking (how many is the scheduler's choice) */
	CHECK_GT(g_graph.mark_ops, 0);
	gc_write(&g_graph.root, NULL);
	ballast_drop();
}
