/*
 * tests/mm_alloc_test.c - the allocation API from the outside: size
 * classes, every class round trip, alignment, interior pointers, zeroing,
 * tiny packing, typed allocation, and the error paths (bad arguments, bad
 * frees), each of which must return an error and leave the heap valid.
 */
#include "tests/mm_test_util.h"

TEST(mm, sizeclass_table)
{
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		size_t size = sizeclass_size[c];
		size_t span = (size_t)sizeclass_npages[c] * MHEAP_PAGE_SIZE;
		CHECK_GT(size, sizeclass_size[c - 1]);
		CHECK_EQ(sizeclass_nelems[c], span / size);
		/* tail waste bounded by 12.5% of the span */
		CHECK_LE((span % size) * 8, span);
		if (size >= 16)
			CHECK_EQ(size % 16, 0);
		/* the division magic is exact for every offset in the span */
		for (uint64_t off = 0; off < span - span % size; off++)
			if (((off * sizeclass_divmagic[c]) >> 32) != off / size)
				CHECK_MSG(false, "class %u divmagic wrong at offset %llu",
					  c, (unsigned long long)off);
	}
	CHECK_EQ(sizeclass_size[SIZECLASS_COUNT - 1], SIZECLASS_MAX_SIZE);
	for (size_t size = 1; size <= SIZECLASS_MAX_SIZE; size++) {
		unsigned c = sizeclass_of(size);
		if (sizeclass_size[c] < size || sizeclass_size[c - 1] >= size)
			CHECK_MSG(false, "size %zu maps to class %u (%u bytes)", size,
				  c, sizeclass_size[c]);
	}
}

typedef struct pair {
	struct pair *next;
	uint64_t value;
	void *payload;
} pair;
static GC_TYPE_DEFINE(pair_type, pair, next, payload);

/* One pointer word: the type for scan allocations of any size. */
typedef struct word {
	void *p;
} word;
static GC_TYPE_DEFINE(word_type, word, p);

TEST(mm, every_class_round_trips)
{
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		size_t sizes[2] = { sizeclass_size[c - 1] + 1, sizeclass_size[c] };
		for (int k = 0; k < 2; k++) {
			for (int scan = 0; scan < 2; scan++) {
				size_t size = sizes[k];
				if (!scan && size < HEAP_TINY_SIZE)
					continue; /* tiny: its own test */
				void *p = scan ? heap_alloc(size, &word_type, 0)
					       : gc_alloc_noscan(size);
				CHECK_MSG(p, "class %u size %zu: %s", c, size,
					  gc_last_error());
				heap_object obj;
				CHECK_EQ(heap_lookup(p, &obj), HEAP_OBJECT);
				CHECK_EQ(obj.base, (uintptr_t)p);
				CHECK_EQ(obj.size, sizeclass_size[c]);
				CHECK_EQ(mspan_sizeclass(obj.span), c);
				CHECK(obj.type == (scan ? &word_type : NULL));
				CHECK(mm_test_is_zero(p, size));
				memset(p, 0x5a, obj.size);
				CHECK(heap_free_for_test(p));
				CHECK_NE(heap_lookup(p, NULL), HEAP_OBJECT);
			}
		}
	}
	CHECK_HEAP_VALID();
}

TEST(mm, alignment)
{
	static void *objs[1300];
	size_t n = 0;

	for (size_t size = 1; size <= 4200; size += 7) {
		void *p = gc_alloc_noscan(size);
		CHECK(p);
		uintptr_t a = (uintptr_t)p;
		if (size >= 16)
			CHECK_MSG(a % 16 == 0, "size %zu at %p", size, p);
		else if (size % 8 == 0)
			CHECK_EQ(a % 8, 0);
		else if (size % 4 == 0)
			CHECK_EQ(a % 4, 0);
		else if (size % 2 == 0)
			CHECK_EQ(a % 2, 0);
		void *q = heap_alloc(size, &word_type, 0);
		CHECK(q);
		CHECK_EQ((uintptr_t)q % (size >= 16 ? 16 : 8), 0);
		CHECK_LT(n + 2, ARRAY_SIZE(objs));
		objs[n++] = p;
		objs[n++] = q;
	}
	for (size_t i = 0; i < n; i++)
		CHECK(heap_free_for_test(objs[i]));
	MM_TEST_FORGET(objs);
	CHECK_HEAP_VALID();
}

/* Fills one span of class c and looks up several addresses in every slot. */
static void check_interior_class(unsigned c)
{
	static void *objs[2 * MSPAN_MAX_SLOTS];
	size_t size = sizeclass_size[c], nelems = sizeclass_nelems[c];
	size_t n = 0;

	/* Twice a span's worth: at least one span is then entirely ours. */
	for (size_t i = 0; i < 2 * nelems; i++) {
		objs[n] = heap_alloc(size, &word_type, 0);
		CHECK(objs[n]);
		n++;
	}
	heap_object first;
	CHECK_EQ(heap_lookup(objs[n - 1], &first), HEAP_OBJECT);
	mspan *s = first.span;
	CHECK(mspan_of(objs[n - 1]) == s);
	for (size_t i = 0; i < s->nelems; i++) {
		uintptr_t base = s->base + i * size;
		size_t offsets[4] = { 0, 1, size / 2, size - 1 };
		for (int k = 0; k < 4; k++) {
			heap_object obj;
			heap_where w = heap_lookup((void *)(base + offsets[k]), &obj);
			CHECK(w == HEAP_OBJECT || w == HEAP_FREE_SLOT);
			CHECK_EQ(w == HEAP_OBJECT, mspan_slot_allocated(s, i));
			CHECK_EQ(obj.base, base);
			CHECK_EQ(obj.index, i);
			CHECK(obj.span == s);
		}
	}
	/* Past the last slot: the tail, no object. */
	uintptr_t tail = s->base + s->nelems * size;
	if (tail < s->base + s->npages * MHEAP_PAGE_SIZE)
		CHECK_EQ(heap_lookup((void *)tail, NULL), HEAP_UNUSED_PAGES);
	for (size_t i = 0; i < n; i++)
		CHECK(heap_free_for_test(objs[i]));
	MM_TEST_FORGET(objs);
}

TEST(mm, interior_pointers_every_slot)
{
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++)
		check_interior_class(c);

	/* Large: every page of the span leads back to its base. */
	size_t bytes = 5 * MHEAP_PAGE_SIZE + 100;
	char *p = gc_alloc_noscan(bytes);
	CHECK(p);
	for (size_t off = 0; off < bytes; off += MHEAP_PAGE_SIZE / 2) {
		heap_object obj;
		CHECK_EQ(heap_lookup(p + off, &obj), HEAP_OBJECT);
		CHECK_EQ(obj.base, (uintptr_t)p);
		CHECK_EQ(obj.size, 6 * MHEAP_PAGE_SIZE);
	}
	CHECK(heap_free_for_test(p));
	CHECK_EQ(heap_lookup(p, NULL), HEAP_UNUSED_PAGES);

	/* Outside the arena. */
	static int global;
	int local;
	CHECK_EQ(heap_lookup(&global, NULL), HEAP_OUTSIDE);
	CHECK_EQ(heap_lookup(&local, NULL), HEAP_OUTSIDE);
	CHECK_EQ(heap_lookup(NULL, NULL), HEAP_OUTSIDE);
	CHECK(!gc_in_heap(&global));
	CHECK_HEAP_VALID();
}

TEST(mm, memory_comes_back_zeroed)
{
	static void *objs[256];
	const size_t sizes[] = { 8, 16, 48, 256, 1000, 4096, 20000, 32768 };

	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		/* Dirty slots, free them, and take them again. */
		for (int round = 0; round < 3; round++) {
			for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
				objs[i] = heap_alloc(sizes[k], &word_type, 0);
				CHECK(objs[i]);
				CHECK_MSG(mm_test_is_zero(objs[i], sizes[k]),
					  "size %zu round %d object %zu not zero",
					  sizes[k], round, i);
				memset(objs[i], 0xff, sizes[k]);
			}
			for (size_t i = 0; i < ARRAY_SIZE(objs); i++)
				CHECK(heap_free_for_test(objs[i]));
		}
	}
	MM_TEST_FORGET(objs);
	/* Large objects on reused pages. */
	for (int round = 0; round < 3; round++) {
		size_t bytes = 300 * 1024;
		char *p = gc_alloc_noscan(bytes);
		CHECK(p);
		CHECK(mm_test_is_zero(p, bytes));
		memset(p, 0xee, bytes);
		CHECK(heap_free_for_test(p));
	}
	CHECK_HEAP_VALID();
}

TEST(mm, tiny_packing)
{
	mcache_release_all(); /* start a fresh tiny block */
	char *a = gc_alloc_noscan(1);
	char *b = gc_alloc_noscan(2);
	char *c = gc_alloc_noscan(4);
	char *d = gc_alloc_noscan(8);
	CHECK(a && b && c && d);
	/* a at 0, b at 2 (2-aligned), c at 4, d at 8: one block. */
	uintptr_t block = (uintptr_t)a;
	CHECK_EQ(block % HEAP_TINY_SIZE, 0);
	CHECK_EQ((uintptr_t)b, block + 2);
	CHECK_EQ((uintptr_t)c, block + 4);
	CHECK_EQ((uintptr_t)d, block + 8);
	CHECK(mm_test_is_zero(a, 16));

	heap_object obj;
	CHECK_EQ(heap_lookup(c + 3, &obj), HEAP_OBJECT);
	CHECK_EQ(obj.base, (uintptr_t)c);
	CHECK_EQ(obj.size, 4);
	CHECK(obj.span->spanclass == SPANCLASS_TINY);
	CHECK_EQ(heap_lookup(a + 1, &obj), HEAP_OBJECT); /* padding after a */
	CHECK_EQ(obj.base, (uintptr_t)a);

	/* Does not fit the 0 bytes left: a new block. */
	char *e = gc_alloc_noscan(3);
	CHECK(e);
	CHECK_NE(ALIGN_DOWN((uintptr_t)e, HEAP_TINY_SIZE), block);

	/* Free sub-objects one by one; the block lives until the last. */
	CHECK(heap_free_for_test(b));
	CHECK(!heap_free_for_test(b)); /* double free of a sub-object */
	CHECK(!heap_free_for_test(c + 1)); /* interior */
	CHECK(heap_free_for_test(a));
	CHECK(heap_free_for_test(c));
	CHECK_EQ(heap_lookup(d, NULL), HEAP_OBJECT);
	CHECK(heap_free_for_test(d));
	CHECK_EQ(heap_lookup(d, NULL), HEAP_FREE_SLOT);
	CHECK(heap_free_for_test(e));

	/* Many tiny objects: 16 one-byte objects share one block. */
	mcache_release_all();
	static char *many[64];
	for (int i = 0; i < 64; i++) {
		many[i] = gc_alloc_noscan(1);
		CHECK(many[i]);
		*many[i] = (char)i;
	}
	for (int i = 1; i < 16; i++)
		CHECK_EQ((uintptr_t)many[i], (uintptr_t)many[0] + (uintptr_t)i);
	for (int i = 0; i < 64; i++) {
		CHECK_EQ(*many[i], (char)i);
		CHECK(heap_free_for_test(many[i]));
	}
	MM_TEST_FORGET(many);
	CHECK_HEAP_VALID();
}

typedef struct big_node {
	uint64_t key;
	struct big_node *child[4];
	char name[40];
	void *far[100];
} big_node;
static GC_TYPE_DEFINE(big_node_type, big_node, child[0], child[1], child[2],
		      child[3], far[0], far[99]);

typedef struct no_ptrs {
	uint64_t a, b, c;
} no_ptrs;
static GC_TYPE_DEFINE_NOPTRS(no_ptrs_type, no_ptrs);

TEST(mm, typed_allocation)
{
	/* The bitmap the macro built. */
	CHECK_EQ(pair_type.size, sizeof(pair));
	CHECK_EQ(pair_type.nptrs, 2);
	CHECK_EQ(pair_type.ptrmask[0], 0x5); /* words 0 and 2 */
	CHECK_STREQ(pair_type.name, "pair");
	CHECK_EQ(big_node_type.ptrmask[0],
		 0x1eULL | 1ULL << (offsetof(big_node, far) / 8));
	CHECK_EQ(big_node_type.ptrmask[1],
		 1ULL << (offsetof(big_node, far[99]) / 8 - 64));
	CHECK_EQ(no_ptrs_type.nptrs, 0);

	pair *p = gc_alloc(&pair_type);
	CHECK(p);
	CHECK(p->next == NULL && p->value == 0 && p->payload == NULL);
	gc_object obj;
	CHECK(gc_find_object(&p->value, &obj));
	CHECK(obj.base == p);
	CHECK(obj.type == &pair_type);
	CHECK_EQ(obj.size, 32);

	pair *arr = gc_alloc_array(&pair_type, 100);
	CHECK(arr);
	CHECK(gc_find_object(&arr[99].payload, &obj));
	CHECK(obj.base == arr && obj.type == &pair_type);
	CHECK_GE(obj.size, 100 * sizeof(pair));

	big_node *bn = gc_alloc(&big_node_type);
	CHECK(bn && gc_find_object(bn->far + 50, &obj) && obj.type == &big_node_type);

	/* A big typed array takes the large path and keeps its type. */
	pair *large = gc_alloc_array(&pair_type, 5000);
	CHECK(large);
	CHECK(gc_find_object(&large[4999], &obj));
	CHECK(obj.base == large && obj.type == &pair_type);

	no_ptrs *np = gc_alloc(&no_ptrs_type);
	CHECK(np && gc_find_object(np, &obj) && obj.type == NULL);

	void *cons = gc_alloc_conservative(100);
	CHECK(cons && gc_find_object(cons, &obj));
	CHECK(obj.type == &gc_type_conservative);
	CHECK(obj.type->flags & GC_TYPE_CONSERVATIVE);

	void *must = gc_alloc_or_panic(&pair_type);
	CHECK(must);

	CHECK(heap_free_for_test(p));
	CHECK(heap_free_for_test(arr));
	CHECK(heap_free_for_test(bn));
	CHECK(heap_free_for_test(large));
	CHECK(heap_free_for_test(np));
	CHECK(heap_free_for_test(cons));
	CHECK(heap_free_for_test(must));
	CHECK(!gc_find_object(must, NULL));
	CHECK_HEAP_VALID();
}

/* The error must be reported and mention `word`. */
static bool error_mentions(const char *word)
{
	const char *e = gc_last_error();
	size_t n = strlen(word);
	for (; *e; e++)
		if (strncmp(e, word, n) == 0)
			return true;
	return false;
}

TEST(mm, bad_arguments_return_null)
{
	CHECK(gc_alloc(NULL) == NULL);
	CHECK(error_mentions("NULL type"));
	CHECK(gc_alloc_noscan(0) == NULL);
	CHECK(error_mentions("zero-size"));
	CHECK(gc_alloc_conservative(0) == NULL);
	CHECK(gc_alloc_array(&pair_type, 0) == NULL);
	CHECK(error_mentions("zero-size"));
	CHECK(gc_alloc_array(&pair_type, SIZE_MAX / 8) == NULL);
	CHECK(error_mentions("overflow"));
	CHECK(gc_alloc_noscan(SIZE_MAX) == NULL);
	CHECK(error_mentions("exceeds"));
	CHECK(gc_alloc_noscan(MHEAP_ARENA_BYTES + 1) == NULL);
	CHECK(error_mentions("exceeds"));
	CHECK(heap_alloc(64, NULL, 0) == NULL);
	CHECK(error_mentions("without a type"));

	/* And the heap still works. */
	void *p = gc_alloc(&pair_type);
	CHECK(p);
	CHECK(heap_free_for_test(p));
	CHECK_HEAP_VALID();
}

TEST(mm, bad_free_is_reported)
{
	static int global;
	int local;

	CHECK(!heap_free_for_test(NULL));
	CHECK(error_mentions("not a heap address"));
	CHECK(!heap_free_for_test(&global));
	CHECK(!heap_free_for_test(&local));

	char *small = gc_alloc_noscan(100);
	CHECK(small);
	CHECK(!heap_free_for_test(small + 8));
	CHECK(error_mentions("inside object"));
	CHECK(heap_free_for_test(small));
	CHECK(!heap_free_for_test(small));
	CHECK(error_mentions("double free"));

	char *large = gc_alloc_noscan(100 * 1024);
	CHECK(large);
	CHECK(!heap_free_for_test(large + MHEAP_PAGE_SIZE));
	CHECK(heap_free_for_test(large));
	CHECK(!heap_free_for_test(large));
	CHECK(error_mentions("not in any object"));

	char *tiny = gc_alloc_noscan(3);
	CHECK(tiny);
	CHECK(heap_free_for_test(tiny));
	CHECK(!heap_free_for_test(tiny));
	CHECK_HEAP_VALID();
}
