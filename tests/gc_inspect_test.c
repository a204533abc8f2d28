/*
 * tests/gc_inspect_test.c - the inspection section of gc.h, which marking
 * and the diagnostics share: the object walk hands out exactly the words
 * marking reads (a typed object's non-null pointer words in address order,
 * across all three ptrmask words; each element of an array; every word of
 * a conservative object; nothing for what marking skips), the range scan
 * exactly the whole words of a range, and the quiet-heap bracket lends the
 * mark bits out clear, marks from given roots, and clears them again.
 *
 * The walks record offsets from the object, never its address, and the
 * objects hold made-up values, not heap addresses: the records are a
 * global, scanned as a root.
 */
#include "tests/gc_test_util.h"

/* Pointer words 1, 72 (ptrmask word 1), 73 (left null) and 134 (ptrmask
 * word 2); the other words hold non-zero values that are no pointers. */
typedef struct walk_wide {
	uint64_t tag;       /* word 0 */
	void *near;         /* word 1 */
	uint64_t pad1[70];  /* words 2-71 */
	void *far;          /* word 72 */
	void *null_field;   /* word 73 */
	uint64_t pad2[60];  /* words 74-133 */
	void *farther;      /* word 134 */
} walk_wide;
static GC_TYPE_DEFINE(walk_wide_type, walk_wide, near, far, null_field, farther);

/* An array element with its pointer in the middle. */
typedef struct walk_triple {
	uint64_t a;
	void *p;
	uint64_t b;
} walk_triple;
static GC_TYPE_DEFINE(walk_triple_type, walk_triple, p);

typedef struct walk_pair {
	struct walk_pair *next;
	uint64_t value;
} walk_pair;
static GC_TYPE_DEFINE(walk_pair_type, walk_pair, next);

/* A value that is not a heap address (checked where used). */
#define WALK_FAKE(i) ((uintptr_t)0x5a5a0000 + (uintptr_t)(i) * 16)
#define WALK_PLAIN 0x1234567 /* a non-pointer word's value */
/* Elements of the large array: 2000 * 24 bytes is over 32 KiB, a large
 * object (one slot per span). */
#define WALK_SMALL_ARRAY 7
#define WALK_LARGE_ARRAY 2000
#define WALK_MAX_VISITS 4096

typedef struct walk_visit {
	uintptr_t off, value;
} walk_visit;

/* What one walk handed out. Static: too big for a frame. */
static struct walk_log {
	uintptr_t base;
	size_t n;
	walk_visit v[WALK_MAX_VISITS];
} walk_seen;

static void walk_record(uintptr_t at, uintptr_t value, void *arg)
{
	struct walk_log *l = arg;
	if (l->n < WALK_MAX_VISITS)
		l->v[l->n] = (walk_visit){ at - l->base, value };
	l->n++;
}

/* Walks obj into walk_seen; its address is not left in the global. */
static size_t walk_object(const void *obj)
{
	walk_seen.base = (uintptr_t)obj;
	walk_seen.n = 0;
	size_t walked = gc_object_for_each_pointer((uintptr_t)obj, walk_record, &walk_seen);
	walk_seen.base = 0;
	return walked;
}

static size_t slot_size(const void *obj)
{
	gc_object o;
	CHECK(gc_find_object(obj, &o) && o.base == obj);
	return o.size;
}

TEST(gc, walk_typed_object_hands_out_its_pointer_words)
{
	CHECK(!gc_in_heap((void *)WALK_FAKE(0)) && !gc_in_heap((void *)WALK_FAKE(WALK_LARGE_ARRAY)));
	walk_wide *w = gc_alloc(&walk_wide_type);
	CHECK_MSG(w, "gc_alloc: %s", gc_last_error());
	w->tag = WALK_PLAIN;
	for (size_t i = 0; i < ARRAY_SIZE(w->pad1); i++)
		w->pad1[i] = WALK_PLAIN + i;
	for (size_t i = 0; i < ARRAY_SIZE(w->pad2); i++)
		w->pad2[i] = WALK_PLAIN + i;
	gc_write(&w->near, (void *)WALK_FAKE(1));
	gc_write(&w->far, (void *)WALK_FAKE(2));
	gc_write(&w->farther, (void *)WALK_FAKE(3));
	size_t size = slot_size(w);
	CHECK_EQ(walk_object(w), size);
	CHECK_EQ(walk_seen.n, 3); /* null_field skipped, no plain word */
	const walk_visit want[] = {
		{ offsetof(walk_wide, near), WALK_FAKE(1) },
		{ offsetof(walk_wide, far), WALK_FAKE(2) },
		{ offsetof(walk_wide, farther), WALK_FAKE(3) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		CHECK_EQ(walk_seen.v[i].off, want[i].off);
		CHECK_EQ(walk_seen.v[i].value, want[i].value);
	}
	/* A null pointer word is skipped, a set one is not. */
	gc_write(&w->null_field, (void *)WALK_FAKE(4));
	gc_write(&w->near, NULL);
	CHECK_EQ(walk_object(w), size);
	CHECK_EQ(walk_seen.n, 3);
	CHECK_EQ(walk_seen.v[0].off, offsetof(walk_wide, far));
	CHECK_EQ(walk_seen.v[1].off, offsetof(walk_wide, null_field));
	CHECK_EQ(walk_seen.v[1].value, WALK_FAKE(4));
	CHECK_EQ(walk_seen.v[2].off, offsetof(walk_wide, farther));
	gc_t_keep(w);
}

/* Each element's pointer word, in order; the slot's tail past the last
 * element (zero) gives nothing. */
static void check_array_walk(size_t n)
{
	walk_triple *arr = gc_alloc_array(&walk_triple_type, n);
	CHECK_MSG(arr, "gc_alloc_array(%zu): %s", n, gc_last_error());
	for (size_t i = 0; i < n; i++) {
		arr[i].a = WALK_PLAIN;
		arr[i].b = WALK_PLAIN;
		gc_write(&arr[i].p, (void *)WALK_FAKE(i + 1));
	}
	CHECK_EQ(walk_object(arr), slot_size(arr));
	CHECK_EQ(walk_seen.n, n);
	for (size_t i = 0; i < n && i < WALK_MAX_VISITS; i++) {
		CHECK_EQ(walk_seen.v[i].off, i * sizeof(walk_triple) + offsetof(walk_triple, p));
		CHECK_EQ(walk_seen.v[i].value, WALK_FAKE(i + 1));
	}
	gc_t_keep(arr);
}

TEST(gc, walk_array_hands_out_each_elements_pointer)
{
	check_array_walk(WALK_SMALL_ARRAY);
	check_array_walk(WALK_LARGE_ARRAY);
}

TEST(gc, walk_conservative_object_hands_out_every_word)
{
	const size_t request = 5 * sizeof(uintptr_t);
	uintptr_t *c = gc_alloc_conservative(request);
	CHECK(c);
	size_t size = slot_size(c), words = size / sizeof(uintptr_t);
	CHECK_GE(size, request);
	c[0] = WALK_PLAIN;
	gc_write(&c[1], (void *)WALK_FAKE(1));
	/* c[2] stays zero; the slot's tail too */
	gc_write(&c[3], (void *)WALK_FAKE(3));
	c[4] = WALK_PLAIN + 4;
	CHECK_EQ(walk_object(c), size);
	CHECK_EQ(walk_seen.n, words); /* zero words included: any word may point */
	for (size_t i = 0; i < words; i++) {
		CHECK_EQ(walk_seen.v[i].off, i * sizeof(uintptr_t));
		CHECK_EQ(walk_seen.v[i].value, c[i]);
	}
	gc_t_keep(c);
}

TEST(gc, walk_skips_what_marking_skips)
{
	char *noscan = gc_alloc_noscan(64);
	walk_pair *p = gc_alloc(&walk_pair_type);
	CHECK(noscan && p);
	gc_write(&p->next, (void *)WALK_FAKE(1));
	CHECK_EQ(walk_object(p), slot_size(p));
	CHECK_EQ(walk_seen.n, 1);
	/* noscan, interior, outside the heap: 0 and no call */
	CHECK_EQ(walk_object(noscan), 0);
	CHECK_EQ(walk_seen.n, 0);
	CHECK_EQ(walk_object((char *)p + sizeof(uintptr_t)), 0);
	CHECK_EQ(walk_seen.n, 0);
	CHECK_EQ(walk_object(&walk_seen), 0);
	CHECK_EQ(walk_seen.n, 0);
	/* A freed slot: what a stale mark-queue entry names. Preemption
	 * off, so no other task reuses the slot in between. */
	walk_pair *q = gc_alloc(&walk_pair_type);
	CHECK(q);
	gc_write(&q->next, (void *)WALK_FAKE(2));
	preempt_disable();
	bool freed = heap_free_for_test(q);
	size_t walked = walk_object(q);
	preempt_enable();
	CHECK(freed);
	CHECK_EQ(walked, 0);
	CHECK_EQ(walk_seen.n, 0);
	gc_t_keep(noscan);
	gc_t_keep(p);
}

static uintptr_t range_words[8];

TEST(gc, range_scan_hands_out_every_whole_word)
{
	for (size_t i = 0; i < ARRAY_SIZE(range_words); i++)
		range_words[i] = i % 3 ? WALK_FAKE(i) : 0;
	uintptr_t base = (uintptr_t)range_words, w = sizeof(uintptr_t);
	/* lo is rounded up to a word, a partial word at hi is left out */
	walk_seen.base = base;
	walk_seen.n = 0;
	gc_range_for_each_word(base + 3, base + 6 * w + 4, walk_record, &walk_seen);
	CHECK_EQ(walk_seen.n, 5);
	for (size_t i = 0; i < walk_seen.n; i++) {
		CHECK_EQ(walk_seen.v[i].off, (i + 1) * w);
		CHECK_EQ(walk_seen.v[i].value, range_words[i + 1]);
	}
	/* empty and reversed ranges give nothing */
	walk_seen.n = 0;
	gc_range_for_each_word(base + w, base + w, walk_record, &walk_seen);
	gc_range_for_each_word(base + 2 * w, base + w, walk_record, &walk_seen);
	gc_range_for_each_word(base + 1, base + w + 4, walk_record, &walk_seen);
	CHECK_EQ(walk_seen.n, 0);
}

/* ---- the quiet-heap bracket -------------------------------------------- */
static walk_pair *inspect_root; /* the test's only root */

/* inspect_root -> a -> b, and c, which nothing reaches: addresses hidden. */
static __attribute__((noinline)) void inspect_make(uintptr_t hidden[3])
{
	walk_pair *a = gc_alloc(&walk_pair_type), *b = gc_alloc(&walk_pair_type),
		  *c = gc_alloc(&walk_pair_type);
	CHECK(a && b && c);
	gc_write(&a->next, b);
	gc_write(&inspect_root, a);
	hidden[0] = gc_t_hide(a);
	hidden[1] = gc_t_hide(b);
	hidden[2] = gc_t_hide(c);
}

enum { INSPECT_A, INSPECT_B, INSPECT_C, INSPECT_OBJECTS };

typedef struct inspect_result {
	bool clear_at_begin[INSPECT_OBJECTS];
	bool marked_from_globals[INSPECT_OBJECTS];
	bool clear_after_clear;
	bool first_visit, second_visit, visit_base, marked_by_visit, visit_non_object;
	bool clear_in_next_bracket[INSPECT_OBJECTS];
} inspect_result;

/* Nothing is checked inside the bracket (the world is stopped there). */
static __attribute__((noinline)) void inspect_run(const uintptr_t hidden[3], inspect_result *r)
{
	gc_inspect_begin("inspect test");
	for (int i = 0; i < INSPECT_OBJECTS; i++)
		r->clear_at_begin[i] = !gc_inspect_marked(gc_t_unhide(hidden[i]));
	gc_roots_globals(gc_mark_root, NULL);
	gc_inspect_drain();
	for (int i = 0; i < INSPECT_OBJECTS; i++)
		r->marked_from_globals[i] = gc_inspect_marked(gc_t_unhide(hidden[i]));
	gc_inspect_clear_marks();
	r->clear_after_clear = !gc_inspect_marked(gc_t_unhide(hidden[INSPECT_A]));
	gc_object o;
	void *c = gc_t_unhide(hidden[INSPECT_C]);
	r->first_visit = gc_inspect_visit((char *)c + sizeof(uintptr_t), &o);
	r->visit_base = o.base == c;
	r->second_visit = gc_inspect_visit(c, NULL);
	r->marked_by_visit = gc_inspect_marked(c);
	r->visit_non_object = gc_inspect_visit(&inspect_root, NULL);
	gc_inspect_end();
	gc_inspect_begin("inspect test, again");
	for (int i = 0; i < INSPECT_OBJECTS; i++)
		r->clear_in_next_bracket[i] = !gc_inspect_marked(gc_t_unhide(hidden[i]));
	gc_inspect_end();
}

GC_TEST(gc, inspect_bracket_lends_clear_marks_and_takes_them_back)
{
	uintptr_t hidden[3];
	inspect_result r = { 0 };
	inspect_make(hidden);
	inspect_run(hidden, &r);
	for (int i = 0; i < INSPECT_OBJECTS; i++) {
		CHECK_MSG(r.clear_at_begin[i], "object %d marked at gc_inspect_begin", i);
		CHECK_MSG(r.clear_in_next_bracket[i], "object %d still marked after gc_inspect_end",
			  i);
	}
	/* the global reaches a, and through a's field b; nothing reaches c */
	CHECK(r.marked_from_globals[INSPECT_A]);
	CHECK(r.marked_from_globals[INSPECT_B]);
	CHECK(!r.marked_from_globals[INSPECT_C]);
	CHECK(r.clear_after_clear);
	CHECK(r.first_visit && r.visit_base);
	CHECK(!r.second_visit);
	CHECK(r.marked_by_visit);
	CHECK(!r.visit_non_object);
	gc_write(&inspect_root, NULL);
}
