/*
 * tests/mm_random_test.c - random allocation and free against a shadow
 * model: every live object's address, size and fill byte are kept outside
 * the heap; each new object must be zeroed, aligned, found by the object
 * queries and overlap nothing; each freed one must still hold its fill.
 * mheap_validate() runs after every batch. `mm_random_ops=` sets the count
 * (default one million). Collections run meanwhile, so
 * the test also frees objects the collector has queued; the last test here
 * drives that case deterministically.
 */
#include "sched/sched.h"
#include "tests/mm_test_util.h"

static int64_t mm_random_ops = 1000000;
CMDLINE_INT(mm_random_ops, "mm_random_ops", 1000, 1LL << 40,
	    "operations in the mm.random_against_shadow test");

#define SHADOW_MAX 4096          /* live objects at most */
#define VALIDATE_EVERY 20000     /* operations per batch */
#define CHECK_BYTES 64           /* bytes checked at each end of an object */

typedef struct shadow_obj {
	unsigned char *p;
	size_t size;
	unsigned char fill;
	const gc_type *type; /* NULL: noscan */
} shadow_obj;

/* A root (bss), written while collections run: pointer stores go through
 * the write barrier like any store into a global. Moving the last entry
 * into a freed slot with a plain store could hide its object from a mark
 * that had scanned the slot's end of the array but not the last entry's. */
static shadow_obj shadow[SHADOW_MAX];
static size_t shadow_live;

typedef struct rnd_node {
	struct rnd_node *next;
	uint64_t key;
} rnd_node;
static GC_TYPE_DEFINE(rnd_node_type, rnd_node, next);

/* Sizes: mostly small, some medium, a few large; all classes reachable. */
static size_t random_size(uint64_t *rng)
{
	uint64_t r = mm_test_below(rng, 1000);
	if (r < 200)
		return 1 + mm_test_below(rng, 15); /* tiny when noscan */
	if (r < 700)
		return 16 + mm_test_below(rng, 240);
	if (r < 950)
		return 256 + mm_test_below(rng, 4096);
	if (r < 993)
		return 4096 + mm_test_below(rng, SIZECLASS_MAX_SIZE - 4096 + 1);
	return SIZECLASS_MAX_SIZE + 1 + mm_test_below(rng, 200 * 1024);
}

/* The bytes checked: all of a small object, the ends of a big one. */
static void fill_or_check(shadow_obj *o, bool check)
{
	size_t head = MIN(o->size, (size_t)2 * CHECK_BYTES);
	for (size_t i = 0; i < head; i++) {
		if (check && o->p[i] != o->fill)
			CHECK_MSG(false, "object %p (%zu bytes) byte %zu is 0x%x, "
				  "want 0x%x", (void *)o->p, o->size, i, o->p[i], o->fill);
		o->p[i] = o->fill;
	}
	for (size_t i = MAX(head, o->size - CHECK_BYTES); i < o->size; i++) {
		if (check && o->p[i] != o->fill)
			CHECK_MSG(false, "object %p (%zu bytes) byte %zu is 0x%x, "
				  "want 0x%x", (void *)o->p, o->size, i, o->p[i], o->fill);
		o->p[i] = o->fill;
	}
}

static void random_alloc(uint64_t *rng)
{
	shadow_obj *o = &shadow[shadow_live];
	uint64_t kind = mm_test_below(rng, 4);
	unsigned char *p;

	o->size = random_size(rng);
	o->fill = (unsigned char)(1 + mm_test_below(rng, 255));
	o->type = NULL;
	/* shadow[] is a root the collector may be scanning right now: every
	 * pointer store into it goes through the barrier (gc_write). */
	if (kind == 0) {
		p = gc_alloc_noscan(o->size);
	} else if (kind == 1) {
		p = gc_alloc_conservative(o->size);
		o->type = &gc_type_conservative;
	} else {
		size_t n = (o->size + sizeof(rnd_node) - 1) / sizeof(rnd_node);
		o->size = n * sizeof(rnd_node);
		p = gc_alloc_array(&rnd_node_type, n);
		o->type = &rnd_node_type;
	}
	gc_write(&o->p, p);
	CHECK_MSG(o->p, "alloc of %zu bytes: %s", o->size, gc_last_error());
	uintptr_t a = (uintptr_t)o->p;
	if (o->size >= 16)
		CHECK_MSG(a % 16 == 0, "%zu bytes at %p", o->size, (void *)o->p);

	heap_object obj;
	CHECK_EQ(heap_lookup(o->p, &obj), HEAP_OBJECT);
	CHECK_EQ(obj.base, a);
	CHECK_GE(obj.size, o->size);
	CHECK(obj.type == o->type);
	CHECK_EQ(heap_lookup(o->p + o->size - 1, NULL), HEAP_OBJECT);

	size_t head = MIN(o->size, (size_t)2 * CHECK_BYTES);
	CHECK_MSG(mm_test_is_zero(o->p, head), "new object %p not zeroed",
		  (void *)o->p);
	CHECK(mm_test_is_zero(o->p + o->size - MIN(o->size, (size_t)CHECK_BYTES),
			      MIN(o->size, (size_t)CHECK_BYTES)));
	fill_or_check(o, false);
	shadow_live++;
}

static void random_free(uint64_t *rng)
{
	size_t i = (size_t)mm_test_below(rng, shadow_live);
	shadow_obj *o = &shadow[i];

	fill_or_check(o, true);
	CHECK_MSG(heap_free_for_test(o->p), "free %p: %s", (void *)o->p,
		  heap_last_error());
	shadow_obj last = shadow[--shadow_live];
	gc_write(&shadow[shadow_live].p, NULL);
	gc_write(&o->p, last.p);
	o->size = last.size;
	o->fill = last.fill;
	o->type = last.type;
}

static uint64_t live_objects(const heap_stats_info *st)
{
	uint64_t live = st->tiny_allocs - st->tiny_frees;
	for (unsigned c = 0; c < SIZECLASS_COUNT; c++)
		live += st->cls[c].nmalloc - st->cls[c].nfree;
	return live;
}

TEST(mm, random_against_shadow)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	uint64_t ops = (uint64_t)mm_random_ops;
	uint64_t start = arch_nanotime();
	heap_stats_info before, after;

	mcache_release_all();
	heap_stats_read(&before);

	shadow_live = 0;
	for (uint64_t op = 0; op < ops; op++) {
		/* Drift between filling up and draining, so the heap sees both
		 * growth and mass frees. */
		uint64_t phase = (op / 100000) % 2;
		uint64_t alloc_pct = phase ? 60 : 40;
		bool alloc = shadow_live == 0 ||
			     (shadow_live < SHADOW_MAX &&
			      mm_test_below(&rng, 100) < alloc_pct);
		if (alloc)
			random_alloc(&rng);
		else
			random_free(&rng);
		if ((op + 1) % VALIDATE_EVERY == 0) {
			CHECK_HEAP_VALID();
			if ((op + 1) % (5 * VALIDATE_EVERY) == 0)
				mcache_release_all();
		}
	}
	CHECK_HEAP_VALID();
	while (shadow_live > 0)
		random_free(&rng);
	MM_TEST_FORGET(shadow);
	mcache_release_all();
	CHECK_HEAP_VALID();

	/* As many live objects as before, no span left behind (fewer spans
	 * than before is fine: collections meanwhile may have swept other
	 * suites' garbage). */
	heap_stats_read(&after);
	CHECK_EQ(live_objects(&after), live_objects(&before));
	CHECK_LE(after.spans_in_use, before.spans_in_use);
	test_log("%llu operations in %llu ms",
		 (unsigned long long)ops,
		 (unsigned long long)((arch_nanotime() - start) / 1000000));
}

TEST(mm, stats_table_prints)
{
	void *a = gc_alloc_noscan(100), *b = gc_alloc_noscan(5), *c =
		gc_alloc_noscan(100000);
	CHECK(a && b && c);
	heap_stats();
	CHECK(heap_free_for_test(a));
	CHECK(heap_free_for_test(b));
	CHECK(heap_free_for_test(c));
}

/* ---- explicit free while the collector marks --------------------------- */

/*
 * The crash random_against_shadow hit under load: the collector greyed an
 * object (its address sits in the mark queue), the test freed it with
 * heap_free_for_test before the collector scanned it, and a new, larger
 * object took its pages starting below it; the collector then scanned the
 * stale address for the new object's length, past that object's end into
 * pages already returned to the page source. Driven deterministically here:
 *
 *   [g1][a: 16 pages][x: 5][g2: 5][g3: 16]     adjacent large objects
 *   x greyed (gc_shade), then a, x, g3 freed   -> a+x one free run of 21
 *   y (21 pages) takes that run: y == a        -> x now lies inside y
 *   free pages returned (scavenge)             -> g3's pages unbacked
 *
 * A scan of the stale x for y's 21 pages would cover x, g2, and then 11 of
 * g3's returned pages.
 */
enum { LOW_PAGES = 16, X_PAGES = 5, GUARD_PAGES = 5, TAIL_PAGES = 16,
       LAYOUT_TRIES = 64, WAIT_SECONDS = 60 };
#define PAGES(n) ((size_t)(n) * MHEAP_PAGE_SIZE)

static bool mark_bit_set(const void *p)
{
	heap_object o;
	if (heap_lookup(p, &o) != HEAP_OBJECT)
		return false;
	return (o.span->mark_bits[o.index >> 6] >> (o.index & 63)) & 1;
}

static void collect_once(void *unused)
{
	(void)unused;
	gc_collect();
}

typedef struct layout {
	unsigned char *g1, *a, *x, *g2, *g3;
} layout;

/* Allocates the five objects until one set lies in adjacent pages (holes in
 * the page heap are used up first); the sets that did not are kept in
 * `spare` and freed by the caller. False if no set was adjacent. */
static bool make_layout(layout *l, void **spare, size_t *nspare)
{
	for (int t = 0; t < LAYOUT_TRIES; t++) {
		l->g1 = heap_alloc(PAGES(GUARD_PAGES), NULL, HEAP_NOSCAN);
		l->a = heap_alloc(PAGES(LOW_PAGES), NULL, HEAP_NOSCAN);
		l->x = heap_alloc(PAGES(X_PAGES), &gc_type_conservative, 0);
		l->g2 = heap_alloc(PAGES(GUARD_PAGES), NULL, HEAP_NOSCAN);
		l->g3 = heap_alloc(PAGES(TAIL_PAGES), NULL, HEAP_NOSCAN);
		CHECK(l->g1 && l->a && l->x && l->g2 && l->g3);
		if (l->a == l->g1 + PAGES(GUARD_PAGES) && l->x == l->a + PAGES(LOW_PAGES) &&
		    l->g2 == l->x + PAGES(X_PAGES) && l->g3 == l->g2 + PAGES(GUARD_PAGES))
			return true;
		void *set[] = { l->g1, l->a, l->x, l->g2, l->g3 };
		for (size_t i = 0; i < ARRAY_SIZE(set); i++)
			spare[(*nspare)++] = set[i];
	}
	return false;
}

TEST(mm, free_of_a_grey_object_is_safe)
{
	static void *spare[LAYOUT_TRIES * 5];
	size_t nspare = 0;
	layout l;
	bool laid_out = make_layout(&l, spare, &nspare);
	for (size_t i = 0; i < nspare; i++)
		CHECK(heap_free_for_test(spare[i]));
	CHECK_MSG(laid_out, "no 5 large objects in adjacent pages in %d tries", LAYOUT_TRIES);
	memset(l.x, 0x11, PAGES(X_PAGES));

	/* No cycle running, and x white. */
	gc_collect();
	CHECK_EQ(gc_get_phase(), GC_PHASE_OFF);
	CHECK(!mark_bit_set(l.x));

	/* Another task starts a cycle; the collector's worker, woken behind
	 * us, has not run yet when we see the mark phase. */
	task *collector = task_spawn(collect_once, NULL, "collect once");
	CHECK(collector);
	uint64_t t0 = arch_nanotime();
	while (gc_get_phase() != GC_PHASE_MARK && task_get_state(collector) != TASK_DEAD)
		task_yield();
	preempt_disable(); /* nothing else runs until the stage is set */
	bool marking = gc_get_phase() == GC_PHASE_MARK;
	bool white_before = !mark_bit_set(l.x);
	gc_shade(l.x); /* grey: marked and queued */
	bool grey = mark_bit_set(l.x);
	bool freed = heap_free_for_test(l.x) && heap_free_for_test(l.a) &&
		     heap_free_for_test(l.g3);
	unsigned char *y = heap_alloc(PAGES(LOW_PAGES + X_PAGES), &gc_type_conservative, 0);
	mheap_scavenge(0, 0);
	preempt_enable();
	CHECK_MSG(marking, "the cycle ended before we looked (phase %d)", gc_get_phase());
	CHECK(white_before);
	CHECK(grey);
	CHECK(freed);
	CHECK_MSG(y == l.a, "the 21-page object is at %p, not in the freed run at %p",
		  (void *)y, (void *)l.a);

	/* The collector finishes the cycle: it meets the stale address. */
	while (task_get_state(collector) != TASK_DEAD &&
	       arch_nanotime() - t0 < WAIT_SECONDS * 1000000000ULL)
		task_yield();
	CHECK_MSG(task_get_state(collector) == TASK_DEAD,
		  "the collection did not end within %d s (phase %d)", WAIT_SECONDS,
		  gc_get_phase());
	CHECK_EQ(task_join(collector), 0);
	CHECK_EQ(heap_lookup(y + PAGES(LOW_PAGES), NULL), HEAP_OBJECT);
	CHECK(heap_free_for_test(y));
	CHECK(heap_free_for_test(l.g1));
	CHECK(heap_free_for_test(l.g2));
	CHECK_HEAP_VALID();
}
