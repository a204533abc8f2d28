/*
 * tests/gc_test.c - the collector's basic contract, one property per test
 * (Boehm's gctest and Go's runtime tests): live structures survive with
 * their contents (lists, trees, typed objects, pointer arrays, objects held
 * only by a stack, a register, a global, an interior pointer, a blocked
 * task, an added root), unreachable ones are freed (plain, cyclic, large:
 * pages come back), typed objects are scanned precisely and noscan ones
 * not at all, the stats move as documented, and the collector's waits
 * count as its own (SWITCH_GC, each with its wait reason). Concurrency,
 * barriers and pacing are in gc_race_test.c and gc_pacer_test.c,
 * finalizers in gc_final_test.c. How the tests keep addresses away from the
 * conservative scanner is explained in tests/gc_test_util.h.
 */
#include "gc/gc_internal.h" /* gc_wait_for_cycle_end */
#include "tests/gc_test_util.h"
#include "tests/task_test_util.h"

/* ---- types ------------------------------------------------------------- */

typedef struct lnode {
	struct lnode *next;
	uint64_t value;
	uint64_t check;
} lnode;
static GC_TYPE_DEFINE(lnode_type, lnode, next);

typedef struct tnode {
	uint64_t key;
	struct tnode *left;
	uint64_t check;
	struct tnode *right;
} tnode;
static GC_TYPE_DEFINE(tnode_type, tnode, left, right);

typedef struct word {
	void *p;
} word;
static GC_TYPE_DEFINE(word_type, word, p);

/* Pointers past the first and second 64-word masks, and a non-pointer word
 * that holds a heap address (precise scanning must ignore it). */
typedef struct wide {
	uint64_t magic;
	uint64_t fake; /* an address, but not a pointer field */
	uint64_t pad1[70];
	void *far;     /* word 72: mask word 1 */
	uint64_t pad2[60];
	void *farther; /* word 133: mask word 2 */
	uint64_t pad3[3];
} wide;
static GC_TYPE_DEFINE(wide_type, wide, far, farther);

/* An element with its pointer in the middle, for arrays of structs. */
typedef struct triple {
	uint64_t a;
	void *p;
	uint64_t b;
} triple;
static GC_TYPE_DEFINE(triple_type, triple, p);

#define LIST_MAGIC 0x115700000000ULL

/* ---- lists: Boehm's reverse test --------------------------------------- */

static lnode *cons(uint64_t value, lnode *next)
{
	lnode *n = gc_alloc(&lnode_type);
	CHECK_MSG(n, "gc_alloc(lnode): %s", gc_last_error());
	n->value = value;
	n->check = gc_t_mix(value ^ LIST_MAGIC);
	gc_write(&n->next, next);
	return n;
}

/* A fresh list with the values of l in reverse order; l becomes garbage
 * once the caller drops it. */
static lnode *reverse_copy(lnode *l)
{
	lnode *r = NULL;
	for (; l; l = l->next)
		r = cons(l->value, r);
	return r;
}

/* l holds 0..n-1 ascending (or descending), each node intact. */
static void check_list(const lnode *l, uint64_t n, bool ascending)
{
	uint64_t i = 0;
	for (; l; l = l->next, i++) {
		uint64_t want = ascending ? i : n - 1 - i;
		CHECK_MSG(i < n, "list longer than %llu", (unsigned long long)n);
		CHECK_MSG(gc_t_allocated(l), "list node %llu at %p was freed",
			  (unsigned long long)i, (const void *)l);
		CHECK_MSG(l->value == want && l->check == gc_t_mix(want ^ LIST_MAGIC),
			  "list node %llu: value %llu check %llx (node freed or "
			  "overwritten)", (unsigned long long)i,
			  (unsigned long long)l->value, (unsigned long long)l->check);
	}
	CHECK_EQ(i, n);
}

static __attribute__((noinline)) void make_garbage_lists(size_t lists, size_t len)
{
	for (size_t k = 0; k < lists; k++) {
		lnode *g = NULL;
		for (size_t i = 0; i < len; i++)
			g = cons(i, g);
		gc_t_keep(g);
	}
}

GC_TEST(gc, list_reversal)
{
	enum { N = 4000, ROUNDS = 24 };
	uint64_t c0 = gc_t_stats().cycles;
	lnode *l = NULL;
	for (uint64_t i = N; i-- > 0;)
		l = cons(i, l);
	check_list(l, N, true);
	for (int r = 0; r < ROUNDS; r++) {
		l = reverse_copy(l);
		make_garbage_lists(4, 500);
		if (r % 3 == 0)
			gc_t_collect();
		check_list(l, N, r % 2 == 1);
	}
	/* At least the ROUNDS / 3 collections asked for; the pacer may start
	 * more on its own (the lists are allocated as fast as possible). */
	CHECK_GE(gc_t_stats().cycles, c0 + ROUNDS / 3);
	gc_t_keep(l);
}

/* ---- trees ------------------------------------------------------------- */

static uint64_t tree_check(uint64_t key)
{
	return gc_t_mix(key * 3 + 1);
}

/* Bottom up: children first, then the parent that points to them. */
static tnode *tree_bottom_up(int depth, uint64_t key)
{
	tnode *n = gc_alloc(&tnode_type);
	CHECK_MSG(n, "gc_alloc(tnode): %s", gc_last_error());
	n->key = key;
	n->check = tree_check(key);
	if (depth > 0) {
		tnode *left = tree_bottom_up(depth - 1, 2 * key);
		tnode *right = tree_bottom_up(depth - 1, 2 * key + 1);
		gc_write(&n->left, left);
		gc_write(&n->right, right);
	}
	return n;
}

/* Top down: the parent is reachable first, children are stored into it
 * (through the barrier) as they are made. */
static void tree_top_down(tnode *n, int depth, uint64_t key)
{
	n->key = key;
	n->check = tree_check(key);
	if (depth == 0)
		return;
	tnode *left = gc_alloc(&tnode_type), *right = gc_alloc(&tnode_type);
	CHECK_MSG(left && right, "gc_alloc(tnode): %s", gc_last_error());
	gc_write(&n->left, left);
	gc_write(&n->right, right);
	tree_top_down(n->left, depth - 1, 2 * key);
	tree_top_down(n->right, depth - 1, 2 * key + 1);
}

/* Number of nodes; fails on the first bad one. */
static uint64_t tree_verify(const tnode *n, int depth, uint64_t key)
{
	CHECK_MSG(n, "missing node key %llu", (unsigned long long)key);
	CHECK_MSG(gc_t_allocated(n), "tree node %llu at %p freed",
		  (unsigned long long)key, (const void *)n);
	CHECK_MSG(n->key == key && n->check == tree_check(key),
		  "tree node key %llu holds %llu/%llx", (unsigned long long)key,
		  (unsigned long long)n->key, (unsigned long long)n->check);
	if (depth == 0) {
		CHECK(!n->left && !n->right);
		return 1;
	}
	return 1 + tree_verify(n->left, depth - 1, 2 * key) +
	       tree_verify(n->right, depth - 1, 2 * key + 1);
}

static __attribute__((noinline)) void make_garbage_trees(int count, int depth)
{
	for (int i = 0; i < count; i++)
		gc_t_keep(tree_bottom_up(depth, 1));
}

GC_TEST(gc, tree_build_check)
{
	enum { DEPTH = 12 };
	const uint64_t nodes = (1u << (DEPTH + 1)) - 1;
	tnode *a = tree_bottom_up(DEPTH, 1);
	tnode *b = gc_alloc(&tnode_type);
	CHECK(b);
	tree_top_down(b, DEPTH, 1);
	for (int r = 0; r < 6; r++) {
		make_garbage_trees(4, 10);
		gc_t_collect();
		CHECK_EQ(tree_verify(a, DEPTH, 1), nodes);
		CHECK_EQ(tree_verify(b, DEPTH, 1), nodes);
	}
	gc_t_keep(a);
	gc_t_keep(b);
}

/* ---- typed objects: precise scanning ------------------------------------ */

#define WIDE_N 200
#define WIDE_MAGIC 0x71de71de71de71deULL

/* WIDE_N wide objects in a pointer array; each has children through far
 * and farther, and one object whose address only sits in `fake`. The
 * fake-referenced objects' addresses go to hidden[]. */
static __attribute__((noinline)) word *make_wides(uintptr_t *hidden)
{
	word *arr = gc_alloc_array(&word_type, WIDE_N);
	CHECK(arr);
	for (size_t i = 0; i < WIDE_N; i++) {
		wide *w = gc_alloc(&wide_type);
		CHECK_MSG(w, "gc_alloc(wide): %s", gc_last_error());
		w->magic = WIDE_MAGIC ^ i;
		void *far = gc_alloc_noscan(64), *farther = gc_alloc_noscan(64);
		void *fake = gc_alloc_noscan(64);
		CHECK(far && farther && fake);
		gc_t_fill(far, 64, i * 2);
		gc_t_fill(farther, 64, i * 2 + 1);
		gc_write(&w->far, far);
		gc_write(&w->farther, farther);
		w->fake = (uint64_t)(uintptr_t)fake;
		hidden[i] = (uintptr_t)fake;
		gc_write(&arr[i].p, w);
	}
	return arr;
}

GC_TEST(gc, typed_objects_scanned_precisely)
{
	uintptr_t *hidden = gc_t_hidden_buffer(WIDE_N);
	word *arr = make_wides(hidden);
	for (int r = 0; r < 3; r++) {
		gc_t_collect();
		for (size_t i = 0; i < WIDE_N; i++) {
			wide *w = arr[i].p;
			CHECK_MSG(gc_t_allocated(w) && w->magic == (WIDE_MAGIC ^ i),
				  "wide object %zu lost", i);
			CHECK_MSG(gc_t_allocated(w->far) && gc_t_check_fill(w->far, 64, i * 2),
				  "object %zu behind pointer word 72 (mask word 1) lost", i);
			CHECK_MSG(gc_t_allocated(w->farther) &&
					  gc_t_check_fill(w->farther, 64, i * 2 + 1),
				  "object %zu behind pointer word 133 (mask word 2) lost", i);
		}
	}
	/* Held only by a non-pointer word of a live typed object: freed (by
	 * the first cycle; nothing was allocated since the last one, so no
	 * freed slot was handed out again). */
	size_t alive = gc_t_count_allocated_explain(hidden, WIDE_N);
	test_log("%zu of %d objects held only by a non-pointer word still allocated",
		 alive, WIDE_N);
	CHECK_EQ(alive, 0);
	gc_t_keep(arr);
	gc_t_keep(hidden);
}

/* Arrays of structs: every element's pointer word is scanned, including
 * when the slot is bigger than n * sizeof(T). */
GC_TEST(gc, arrays_of_structs)
{
	const size_t counts[] = { 1, 3, 7, 100, 1000, 2000 }; /* 2000*24 > 32 KiB */
	triple *arrays[ARRAY_SIZE(counts)];
	for (size_t k = 0; k < ARRAY_SIZE(counts); k++) {
		arrays[k] = gc_alloc_array(&triple_type, counts[k]);
		CHECK_MSG(arrays[k], "gc_alloc_array(triple, %zu): %s", counts[k],
			  gc_last_error());
		for (size_t i = 0; i < counts[k]; i++) {
			void *child = gc_alloc_noscan(32);
			CHECK(child);
			gc_t_fill(child, 32, k * 10000 + i);
			arrays[k][i].a = i;
			arrays[k][i].b = ~i;
			gc_write(&arrays[k][i].p, child);
		}
	}
	for (int r = 0; r < 3; r++) {
		make_garbage_lists(4, 1000); /* reuse pressure on small classes */
		gc_t_collect();
		for (size_t k = 0; k < ARRAY_SIZE(counts); k++) {
			for (size_t i = 0; i < counts[k]; i++) {
				triple *t = &arrays[k][i];
				CHECK(t->a == i && t->b == ~i);
				CHECK_MSG(gc_t_allocated(t->p) &&
						  gc_t_check_fill(t->p, 32, k * 10000 + i),
					  "array of %zu: child of element %zu lost",
					  counts[k], i);
			}
		}
	}
	gc_t_keep(arrays);
}

/* ---- arrays of pointers -------------------------------------------------- */

/* Drops the odd elements from 101 on (the first 100 are in `small` too);
 * their addresses go to hidden[]. Returns how many. */
static __attribute__((noinline)) size_t drop_odd_elements(word *big, size_t n,
							  uintptr_t *hidden)
{
	size_t dropped = 0;
	for (size_t i = 101; i < n; i += 2) {
		hidden[dropped++] = (uintptr_t)big[i].p;
		gc_write(&big[i].p, NULL);
	}
	return dropped;
}

/* Every step-th element of arr[0..n) holds its intact 48-byte object. (A
 * function of its own: the last element read stays in no register or
 * slot of the test's frame.) */
static __attribute__((noinline)) void check_elements(const word *arr, size_t n, size_t step,
						     const char *when)
{
	for (size_t i = 0; i < n; i += step)
		CHECK_MSG(gc_t_allocated(arr[i].p) && gc_t_check_fill(arr[i].p, 48, i),
			  "element %zu of a pointer array lost %s", i, when);
}

static __attribute__((noinline)) void fill_pointer_arrays(word *big, size_t n, word *small,
							  size_t nsmall)
{
	for (size_t i = 0; i < n; i++) {
		void *o = gc_alloc_noscan(48);
		CHECK(o);
		gc_t_fill(o, 48, i);
		gc_write(&big[i].p, o);
		if (i < nsmall)
			gc_write(&small[i].p, big[i].p);
	}
}

GC_TEST(gc, pointer_arrays)
{
	enum { N = 8192 }; /* 64 KiB: a large object */
	word *big = gc_alloc_array(&word_type, N);
	word *small = gc_alloc_array(&word_type, 100);
	uintptr_t *hidden = gc_t_hidden_buffer(N);
	CHECK(big && small);
	fill_pointer_arrays(big, N, small, 100);
	for (int r = 0; r < 2; r++) {
		make_garbage_lists(2, 2000);
		gc_t_collect();
		check_elements(big, N, 1, "");
	}
	/* Drop the odd elements (the first 100 stay in `small` too): the
	 * next cycle frees every one of them. */
	size_t dropped = drop_odd_elements(big, N, hidden);
	gc_t_collect();
	size_t alive = gc_t_count_allocated_explain(hidden, dropped);
	test_log("%zu of %zu dropped array elements still allocated", alive, dropped);
	CHECK_EQ(alive, 0);
	check_elements(big, N, 2, "after dropping its neighbours");
	check_elements(small, 100, 1, "(the copy in the small array)");
	gc_t_keep(big);
	gc_t_keep(small);
	gc_t_keep(hidden);
}

/* ---- roots: a stack, a register, a global, an interior pointer ---------- */

static __attribute__((noinline)) void make_garbage_noscan(size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		void *p = gc_alloc_noscan(size);
		CHECK(p);
		memset(p, 0xee, size);
	}
}

/* Allocates `count` objects of `size` bytes (dropped at once) and fails if
 * one of them is at `p`: a freed p would be handed out again. */
static __attribute__((noinline)) void reuse_pressure(const void *p, size_t size,
							size_t count)
{
	for (size_t i = 0; i < count; i++) {
		char *o = gc_alloc_noscan(size);
		CHECK_MSG(o, "gc_alloc_noscan(%zu): %s", size, gc_last_error());
		CHECK_MSG(o >= (char *)p + size || o + size <= (char *)p,
			  "live object %p handed out again (at %p)", p, (void *)o);
		memset(o, 0xee, size);
	}
}

GC_TEST(gc, survives_on_stack_only)
{
	char *volatile p = gc_alloc_noscan(200);
	CHECK(p);
	gc_t_fill(p, 200, 777);
	for (int r = 0; r < 4; r++) {
		gc_t_collect();
		reuse_pressure(p, 200, 3000);
		CHECK(gc_t_allocated(p));
		CHECK_MSG(gc_t_check_fill(p, 200, 777), "stack-held object overwritten");
	}
}

/* A pointer kept only in a register of a task that the timer preempts
 * (the interrupt frame on its stack is a root). */
struct reg_arg {
	volatile uintptr_t hidden; /* the object's address, XORed */
	volatile int stop, started, ok;
};

static void hold_in_register(void *arg)
{
	struct reg_arg *a = arg;
	char *p = gc_t_unhide(a->hidden);
	a->hidden = 0;
	a->started = 1;
	uint64_t spins = 0;
	while (!a->stop) {
		__asm__ volatile("" : "+r"(p), "+r"(spins)); /* p stays in a register */
		spins++;
	}
	a->ok = gc_t_allocated(p) && gc_t_check_fill(p, 112, 4242);
}

static __attribute__((noinline)) uintptr_t make_hidden_filled(size_t size, uint64_t seed)
{
	char *p = gc_alloc_noscan(size);
	CHECK(p);
	gc_t_fill(p, size, seed);
	return gc_t_hide(p);
}

GC_TEST(gc, survives_in_preempted_register)
{
	static struct reg_arg a;
	a = (struct reg_arg){ .hidden = make_hidden_filled(112, 4242) };
	task *t = task_spawn_stack(hold_in_register, &a, "gc-reg-holder", GC_T_STACK);
	CHECK(t);
	while (!a.started)
		task_yield();
	for (int r = 0; r < 4; r++) {
		gc_t_collect();
		for (int i = 0; i < 2000; i++)
			memset(gc_alloc_noscan(112), 0xee, 112);
	}
	a.stop = 1;
	CHECK_EQ(task_join(t), 0);
	CHECK_MSG(a.ok, "object held only in a preempted task's register was lost");
}

static void *g_bss_only;
static void *g_data_only[2] = { (void *)1, NULL }; /* initialised: in .data */

GC_TEST(gc, survives_in_globals_only)
{
	/* Allocated and stored without keeping a copy on this stack. */
	gc_write(&g_bss_only, gc_t_unhide(make_hidden_filled(96, 1)));
	gc_write(&g_data_only[1], gc_t_unhide(make_hidden_filled(96, 2)));
	for (int r = 0; r < 3; r++) {
		gc_t_collect();
		for (int i = 0; i < 2000; i++)
			memset(gc_alloc_noscan(96), 0xee, 96);
		CHECK_MSG(gc_t_allocated(g_bss_only) && gc_t_check_fill(g_bss_only, 96, 1),
			  "object held only by a bss global lost");
		CHECK_MSG(gc_t_allocated(g_data_only[1]) &&
				  gc_t_check_fill(g_data_only[1], 96, 2),
			  "object held only by a data global lost");
	}
	gc_write(&g_bss_only, NULL);
	gc_write(&g_data_only[1], NULL);
}

/* Interior pointers: from the stack (into a small and a large object, at
 * the middle and at the last byte) and from a heap pointer field. */
static __attribute__((noinline)) char *make_interior(size_t size, size_t offset,
						      uint64_t seed)
{
	char *p = gc_alloc_noscan(size);
	CHECK(p);
	gc_t_fill(p, size, seed);
	return p + offset;
}

GC_TEST(gc, survives_through_interior_pointer)
{
	char *volatile mid = make_interior(256, 128, 10);
	char *volatile last = make_interior(256, 255, 11);
	char *volatile large_mid = make_interior(100000, 70001, 12);
	word *holder = gc_alloc(&word_type);
	CHECK(holder);
	gc_write(&holder->p, make_interior(512, 264, 13));
	for (int r = 0; r < 3; r++) {
		gc_t_collect();
		for (int i = 0; i < 1000; i++) {
			memset(gc_alloc_noscan(256), 0xee, 256);
			memset(gc_alloc_noscan(512), 0xee, 512);
		}
		CHECK_MSG(gc_t_allocated(mid - 128) && gc_t_check_fill(mid - 128, 256, 10),
			  "object held by a pointer to its middle lost");
		CHECK_MSG(gc_t_allocated(last - 255) && gc_t_check_fill(last - 255, 256, 11),
			  "object held by a pointer to its last byte lost");
		CHECK_MSG(gc_t_allocated(large_mid - 70001) &&
				  gc_t_check_fill(large_mid - 70001, 100000, 12),
			  "large object held by an interior pointer lost");
		char *base = (char *)holder->p - 264;
		CHECK_MSG(gc_t_allocated(base) && gc_t_check_fill(base, 512, 13),
			  "object held by an interior pointer in a heap field lost");
	}
	gc_t_keep(holder);
}

/* Objects on the stacks of tasks blocked on a semaphore and sleeping. The
 * sleepers sleep until released (the sleep is what is tested), so every
 * one is in task_sleep, not finished, whenever a collection runs, however
 * long the collections take on a loaded machine. */
#define BLOCKED_TASKS 100
static struct {
	semaphore go;
	waitgroup ready;
	volatile int bad;
	volatile int release_sleepers;
} g_blocked;

static void hold_while_blocked(void *arg)
{
	uint64_t seed = (uintptr_t)arg;
	char *volatile p = gc_alloc_noscan(80);
	lnode *volatile l = NULL;
	if (!p) {
		g_blocked.bad++;
		waitgroup_done(&g_blocked.ready);
		return;
	}
	gc_t_fill(p, 80, seed);
	for (uint64_t i = 10; i-- > 0;)
		l = cons(seed + i, l);
	waitgroup_done(&g_blocked.ready);
	if (seed % 2)
		semaphore_acquire(&g_blocked.go);
	else
		while (!g_blocked.release_sleepers)
			task_sleep(20 * GC_T_MS);
	if (!gc_t_allocated(p) || !gc_t_check_fill(p, 80, seed))
		g_blocked.bad++;
	uint64_t i = 0;
	for (const lnode *n = l; n; n = n->next, i++)
		if (!gc_t_allocated(n) || n->value != seed + i)
			g_blocked.bad++;
	if (i != 10)
		g_blocked.bad++;
}

GC_TEST(gc, survives_on_blocked_tasks_stacks)
{
	task *tasks[BLOCKED_TASKS];
	semaphore_init(&g_blocked.go, 0);
	waitgroup_init(&g_blocked.ready);
	g_blocked.bad = 0;
	g_blocked.release_sleepers = 0;
	waitgroup_add(&g_blocked.ready, BLOCKED_TASKS);
	for (uintptr_t i = 0; i < BLOCKED_TASKS; i++) {
		tasks[i] = task_spawn_stack(hold_while_blocked, (void *)(i * 1000), "gc-blocked", GC_T_STACK);
		CHECK(tasks[i]);
	}
	waitgroup_wait(&g_blocked.ready);
	for (int i = 0; i < BLOCKED_TASKS; i++)
		gc_t_wait_blocked(tasks[i]);
	for (int r = 0; r < 3; r++) {
		gc_t_collect();
		make_garbage_lists(4, 500);
		for (int i = 0; i < 1000; i++)
			memset(gc_alloc_noscan(80), 0xee, 80);
	}
	g_blocked.release_sleepers = 1;
	for (int i = 0; i < BLOCKED_TASKS; i++)
		semaphore_release(&g_blocked.go);
	for (int i = 0; i < BLOCKED_TASKS; i++)
		CHECK_EQ(task_join(tasks[i]), 0);
	CHECK_EQ(g_blocked.bad, 0);
}

/* A dead (joined) task's stack is no root. */
struct dead_arg {
	uintptr_t *hidden;
	size_t n;
};

static void allocate_and_die(void *arg)
{
	struct dead_arg *a = arg;
	void *volatile locals[64];
	for (size_t i = 0; i < a->n; i++) {
		locals[i % 64] = gc_alloc_noscan(64);
		a->hidden[i] = (uintptr_t)locals[i % 64];
	}
}

GC_TEST(gc, dead_task_stack_is_no_root)
{
	struct dead_arg a = { .hidden = gc_t_hidden_buffer(64), .n = 64 };
	task *t = task_spawn_stack(allocate_and_die, &a, "gc-dies", GC_T_STACK);
	CHECK(t);
	CHECK_EQ(task_join(t), 0);
	gc_t_collect();
	size_t alive = gc_t_count_allocated_explain(a.hidden, a.n);
	test_log("%zu of %zu objects of a dead task still allocated", alive, a.n);
	CHECK_EQ(alive, 0);
}

/* ---- unreachable objects are freed -------------------------------------- */

#define UNREACHABLE_N 10000

/* Independent 64-byte objects, half typed, half noscan, held by an array
 * (so a cycle the pacer starts meanwhile keeps them) until the array is
 * cleared at the end. Returns the bytes in use while all were held; the
 * array's slot size goes to *arr_size, its address to *arr_hidden. */
static __attribute__((noinline)) size_t make_unreachable(uintptr_t *hidden, size_t *arr_size,
							 uintptr_t *arr_hidden)
{
	word *arr = gc_alloc_array(&word_type, UNREACHABLE_N);
	gc_object ao;
	CHECK(arr && gc_find_object(arr, &ao));
	*arr_size = ao.size;
	*arr_hidden = gc_t_hide(arr);
	for (size_t i = 0; i < UNREACHABLE_N; i++) {
		void *o = i % 2 ? gc_alloc_noscan(64) : gc_alloc_array(&word_type, 8);
		CHECK(o);
		hidden[i] = (uintptr_t)o;
		gc_write(&arr[i].p, o);
	}
	size_t in_use = gc_t_in_use();
	for (size_t i = 0; i < UNREACHABLE_N; i++)
		gc_write(&arr[i].p, NULL);
	return in_use;
}

GC_TEST(gc, unreachable_objects_freed)
{
	uintptr_t *hidden = gc_t_hidden_buffer(UNREACHABLE_N);
	gc_t_collect();
	/* The heap is quiet here: this test's task is the only one that
	 * allocates or drops anything (the runtime's tasks do neither), so
	 * the heap-wide byte counts move by exactly what it does. */
	size_t in_use0 = gc_t_in_use();
	uint64_t freed0 = gc_t_stats().freed_objects;
	size_t arr_size;
	uintptr_t arr_hidden;
	size_t in_use1 = make_unreachable(hidden, &arr_size, &arr_hidden);
	CHECK_EQ(in_use1, in_use0 + UNREACHABLE_N * 64 + arr_size);
	gc_t_collect();
	size_t alive = gc_t_count_allocated_explain(hidden, UNREACHABLE_N);
	bool arr_freed = gc_t_freed_or_explain((uintptr_t)gc_t_unhide(arr_hidden));
	gc_stats s = gc_t_stats();
	size_t in_use2 = gc_t_in_use();
	test_log("alive %zu of %d; freed_objects +%llu; in use %zu -> %zu -> %zu",
		 alive, UNREACHABLE_N,
		 (unsigned long long)(s.freed_objects - freed0), in_use0, in_use1,
		 in_use2);
	CHECK_EQ(alive, 0);
	CHECK_MSG(arr_freed, "the dropped array outlived the cycle");
	/* Heap-wide: ours, and whatever other garbage the sweep met. */
	CHECK_GE(s.freed_objects - freed0, UNREACHABLE_N + 1);
	CHECK_EQ(in_use2, in_use0);
	CHECK_EQ(s.heap_in_use, in_use2);
	/* The freed slots are handed out again. */
	size_t reused = 0;
	for (size_t i = 0; i < UNREACHABLE_N; i++) {
		void *o = gc_alloc_noscan(64);
		CHECK(o);
		for (size_t j = 0; j < 64 && !reused; j++)
			reused += (uintptr_t)o == hidden[j * (UNREACHABLE_N / 64)];
		if (reused)
			break;
	}
	CHECK_MSG(reused, "no freed slot was reused by %d allocations", UNREACHABLE_N);
	CHECK_HEAP_VALID();
	gc_t_keep(hidden);
}

static __attribute__((noinline)) void make_cycles(uintptr_t *hidden, size_t *n)
{
	size_t k = 0;
	/* 100 rings of 50 */
	for (int r = 0; r < 100; r++) {
		lnode *first = cons(0, NULL), *prev = first;
		hidden[k++] = (uintptr_t)first;
		for (int i = 1; i < 50; i++) {
			prev = cons(i, prev);
			hidden[k++] = (uintptr_t)prev;
		}
		gc_write(&first->next, prev);
	}
	/* 1000 self-loops */
	for (int i = 0; i < 1000; i++) {
		lnode *s = cons(i, NULL);
		gc_write(&s->next, s);
		hidden[k++] = (uintptr_t)s;
	}
	/* a doubly linked list of 1000 (every node in a 2-cycle) */
	tnode *prev = NULL;
	for (int i = 0; i < 1000; i++) {
		tnode *t = gc_alloc(&tnode_type);
		CHECK(t);
		gc_write(&t->left, prev);
		if (prev)
			gc_write(&prev->right, t);
		prev = t;
		hidden[k++] = (uintptr_t)t;
	}
	*n = k;
}

GC_TEST(gc, unreachable_cycles_freed)
{
	uintptr_t *hidden = gc_t_hidden_buffer(7000);
	size_t n = 0;
	make_cycles(hidden, &n);
	CHECK_EQ(n, 7000);
	gc_t_collect();
	size_t alive = gc_t_count_allocated_explain(hidden, n);
	test_log("%zu of %zu cycle members still allocated", alive, n);
	CHECK_EQ(alive, 0);
	gc_t_keep(hidden);
}

/* Large objects (their own spans) are freed and their pages return to the
 * page source once scavenged. */
#define LARGE_N 48
#define LARGE_BYTES (1UL << 20)

static __attribute__((noinline)) size_t make_large(uintptr_t *hidden)
{
	word *arr = gc_alloc_array(&word_type, LARGE_N);
	CHECK(arr);
	for (size_t i = 0; i < LARGE_N; i++) {
		void *o = i % 2 ? gc_alloc_noscan(LARGE_BYTES)
				: gc_alloc_array(&word_type, LARGE_BYTES / 8);
		CHECK_MSG(o, "large allocation %zu: %s", i, gc_last_error());
		if (i % 2)
			memset(o, 0x33, LARGE_BYTES);
		hidden[i] = (uintptr_t)o;
		gc_write(&arr[i].p, o);
	}
	mm_test_quiesce();
	size_t free_pages = arch_free_pages();
	for (size_t i = 0; i < LARGE_N; i++)
		gc_write(&arr[i].p, NULL);
	return free_pages;
}

GC_TEST(gc, large_objects_freed_and_pages_returned)
{
	uintptr_t *hidden = gc_t_hidden_buffer(LARGE_N);
	size_t want_pages = LARGE_N * (LARGE_BYTES / ARCH_PAGE_SIZE);
	/* A first round grows the arena: the page tables and span records
	 * that covers stay (heap metadata is never given back), so only the
	 * second round, over the same ground, can be compared page for page. */
	for (int round = 0; round < 2; round++) {
		gc_t_collect();
		mm_test_quiesce();
		size_t free0 = arch_free_pages();
		size_t free1 = make_large(hidden);
		/* Every object's pages are backed (nothing else was freed:
		 * the heap held no garbage at free0). */
		CHECK_GE(free0 - free1, want_pages);
		gc_t_collect();
		size_t alive = gc_t_count_allocated_explain(hidden, LARGE_N);
		mm_test_quiesce();
		size_t free2 = arch_free_pages();
		test_log("round %d: free pages %zu -> %zu -> %zu; %zu of %d large objects alive",
			 round, free0, free1, free2, alive, LARGE_N);
		CHECK_EQ(alive, 0);
		/* Back to exactly where it started. */
		if (round == 1)
			CHECK_EQ(free2, free0);
	}
	gc_t_keep(hidden);
}

/* ---- what is scanned how ------------------------------------------------- */

static __attribute__((noinline)) void fill_noscan_with_pointers(void **buf, size_t n,
								uintptr_t *hidden)
{
	for (size_t i = 0; i < n; i++) {
		buf[i] = gc_alloc_noscan(32);
		CHECK(buf[i]);
		hidden[i] = (uintptr_t)buf[i];
	}
}

GC_TEST(gc, conservative_scanned_noscan_not)
{
	enum { N = 100 };
	/* conservative: any word may point */
	uint64_t *cons_obj = gc_alloc_conservative(N * 8 + 8);
	CHECK(cons_obj);
	cons_obj[0] = 12345; /* not a pointer: harmless */
	for (size_t i = 0; i < N; i++) {
		char *c = gc_alloc_noscan(32);
		CHECK(c);
		gc_t_fill(c, 32, 500 + i);
		/* interior pointers too, at every other word */
		gc_write(&cons_obj[i + 1], i % 2 ? c + 8 : c);
	}
	/* noscan: nothing inside counts */
	void **noscan = gc_alloc_noscan(N * sizeof(void *));
	uintptr_t *hidden = gc_t_hidden_buffer(N);
	CHECK(noscan);
	fill_noscan_with_pointers(noscan, N, hidden);
	size_t alive = 0;
	for (int r = 0; r < 2; r++) {
		gc_t_collect();
		/* Held only by a noscan object: the first cycle frees them
		 * (counted before anything else is allocated, so that no freed
		 * slot has been handed out again). */
		if (r == 0)
			alive = gc_t_count_allocated_explain(hidden, N);
		make_garbage_lists(2, 1000);
		for (size_t i = 0; i < N; i++) {
			char *c = (char *)(uintptr_t)cons_obj[i + 1] - (i % 2 ? 8 : 0);
			CHECK_MSG(gc_t_allocated(c) && gc_t_check_fill(c, 32, 500 + i),
				  "object held by a conservative object's word %zu lost",
				  i + 1);
		}
	}
	test_log("%zu of %d objects held only by a noscan object alive", alive, N);
	CHECK_EQ(alive, 0);
	gc_t_keep(cons_obj);
	gc_t_keep(noscan);
}

/* gc_add_root: memory the collector cannot otherwise see. */
static __attribute__((noinline)) void fill_root_memory(void **mem, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mem[i] = gc_alloc_noscan(48);
		CHECK(mem[i]);
		gc_t_fill(mem[i], 48, i);
	}
}

static __attribute__((noinline)) void check_root_memory(void *const *mem, size_t n)
{
	for (size_t i = 0; i < n; i++)
		CHECK_MSG(gc_t_allocated(mem[i]) && gc_t_check_fill(mem[i], 48, i),
			  "object held by an added root lost (word %zu)", i);
}

GC_TEST(gc, add_root_remove_root)
{
	enum { N = 64 };
	void **mem = fixalloc_persistent(N * sizeof(void *), 8);
	CHECK(mem);
	CHECK(!gc_in_heap(mem));
	CHECK(gc_add_root(mem, N * sizeof(void *), "gc_test.add_root"));
	fill_root_memory(mem, N);
	for (int r = 0; r < 2; r++) {
		gc_t_collect();
		make_garbage_noscan(1000, 48);
		check_root_memory(mem, N);
	}
	/* No longer a root: the next cycle frees every object it held. */
	gc_remove_root(mem);
	gc_t_collect();
	size_t alive = gc_t_count_allocated_explain((uintptr_t *)mem, N);
	test_log("%zu of %d objects alive after gc_remove_root", alive, N);
	CHECK_EQ(alive, 0);
	memset(mem, 0, N * sizeof(void *));
}

/* Tiny objects share 16-byte blocks: one live sub-object keeps its data
 * while its neighbours die and the blocks around it are reused. */
GC_TEST(gc, tiny_objects_survive)
{
	enum { N = 3000, KEEP_EVERY = 37 };
	word *keep = gc_alloc_array(&word_type, N / KEEP_EVERY + 1);
	CHECK(keep);
	size_t k = 0;
	for (size_t i = 0; i < N; i++) {
		size_t size = 1 + i % 12;
		char *t = gc_alloc_noscan(size);
		CHECK(t);
		memset(t, (int)(i & 0x7f) | 1, size);
		if (i % KEEP_EVERY == 0)
			gc_write(&keep[k++].p, t);
	}
	for (int r = 0; r < 3; r++) {
		gc_t_collect();
		for (size_t i = 0; i < N; i++)
			memset(gc_alloc_noscan(1 + i % 12), 0xee, 1 + i % 12);
		for (size_t j = 0; j < k; j++) {
			size_t i = j * KEEP_EVERY, size = 1 + i % 12;
			const unsigned char *t = keep[j].p;
			CHECK_MSG(gc_find_object(t, NULL), "tiny object %zu freed", i);
			for (size_t b = 0; b < size; b++)
				CHECK_MSG(t[b] == ((i & 0x7f) | 1),
					  "tiny object %zu byte %zu overwritten: %x", i, b,
					  t[b]);
		}
	}
	gc_t_keep(keep);
}

/* ---- barrier entry points outside marking ------------------------------- */

static void *g_copy_dst[32];

GC_TEST(gc, copy_and_write_outside_marking)
{
	enum { N = 32 };
	word *src = gc_alloc_array(&word_type, N), *dst = gc_alloc_array(&word_type, N);
	CHECK(src && dst);
	for (size_t i = 0; i < N; i++) {
		void *o = gc_alloc_noscan(40);
		CHECK(o);
		gc_t_fill(o, 40, 900 + i);
		gc_write(&src[i].p, o);
	}
	gc_copy(dst, src, N * sizeof(void *));
	gc_copy(g_copy_dst, src, N * sizeof(void *));
	for (size_t i = 0; i < N; i++)
		CHECK(dst[i].p == src[i].p && g_copy_dst[i] == src[i].p);
	static const uint64_t zeros[N];
	gc_copy(src, zeros, N * sizeof(void *));
	for (size_t i = 0; i < N; i++)
		CHECK(src[i].p == NULL);
	for (int r = 0; r < 2; r++) {
		gc_t_collect();
		for (int i = 0; i < 2000; i++)
			memset(gc_alloc_noscan(40), 0xee, 40);
		for (size_t i = 0; i < N; i++) {
			CHECK_MSG(gc_t_allocated(dst[i].p) && gc_t_check_fill(dst[i].p, 40, 900 + i),
				  "object held only through a gc_copy'd heap word lost");
			CHECK_MSG(g_copy_dst[i] == dst[i].p, "global copy changed");
		}
	}
	/* odd sizes of copies: 1 word, and a copy onto itself */
	gc_copy(&src[0], &dst[5], 8);
	CHECK(src[0].p == dst[5].p);
	memset(g_copy_dst, 0, sizeof g_copy_dst);
	/* gc_shade accepts anything */
	static int not_heap;
	gc_shade(NULL);
	gc_shade(&not_heap);
	gc_shade(dst);
	gc_shade((char *)dst + 3);
	gc_shade((void *)-1L);
	CHECK_EQ(gc_get_phase(), GC_PHASE_OFF);
	gc_t_keep(src);
	gc_t_keep(dst);
}

/* ---- allocation errors ---------------------------------------------------- */

GC_TEST(gc, alloc_errors)
{
	CHECK(gc_alloc(NULL) == NULL);
	CHECK(gc_last_error()[0] != '\0');
	CHECK(gc_alloc_array(NULL, 4) == NULL);
	CHECK(gc_alloc_array(&word_type, 0) == NULL);
	CHECK(gc_alloc_array(&word_type, SIZE_MAX / 4) == NULL);
	CHECK(gc_last_error()[0] != '\0');
	CHECK(gc_alloc_array(&wide_type, (1ULL << 62) / sizeof(wide)) == NULL);
	CHECK(gc_alloc_noscan(0) == NULL);
	CHECK(gc_alloc_noscan(MHEAP_ARENA_BYTES + 1) == NULL);
	CHECK(gc_alloc_conservative(0) == NULL);
	static const gc_type empty = { .name = "empty", .size = 0, .nptrs = 1 };
	CHECK(gc_alloc(&empty) == NULL);
	/* The heap still works, and collects, after the failures. */
	gc_t_collect();
	void *p = gc_alloc(&word_type);
	CHECK(p && gc_t_allocated(p));
	CHECK_EQ(gc_get_phase(), GC_PHASE_OFF);
	gc_t_keep(p);
}

/* ---- stats ---------------------------------------------------------------- */

GC_TEST(gc, stats_move_as_documented)
{
	char *volatile big = gc_alloc_noscan(2 << 20);
	CHECK(big);
	gc_stats s0 = gc_t_stats();
	for (int i = 0; i < 5; i++)
		gc_t_collect();
	gc_stats s = gc_t_stats();
	/* Lower bounds where the stats are cumulative and heap-wide: the five
	 * cycles asked for (the pacer may add its own), each with its pauses,
	 * and counters that never go down. */
	CHECK_GE(s.cycles, s0.cycles + 5);
	CHECK_EQ(s.phase, GC_PHASE_OFF);
	CHECK_GE(s.npauses, s0.npauses + 5);
	CHECK_GE(s.pause_total_ns, s0.pause_total_ns);
	CHECK_GE(s.marked_bytes_total, s0.marked_bytes_total + 5 * (2u << 20));
	CHECK_GT(s.uptime_ns, s0.uptime_ns);
	/* the big object is live (and so is the rest of the heap) */
	CHECK_GE(s.heap_live, 2u << 20);
	CHECK_GE(s.heap_in_use, 2u << 20);
	CHECK_LE(s.heap_trigger, s.heap_goal);
	CHECK_GT(s.heap_goal, s.heap_live);
	CHECK_GE(s.gc_cpu_ns, s0.gc_cpu_ns);
	CHECK_GE(s.mark_ns_total, s0.mark_ns_total);
	uint64_t shown = MIN(s.npauses, (uint64_t)GC_PAUSE_HISTORY);
	uint64_t sum = 0;
	for (uint64_t i = 0; i < shown; i++) {
		CHECK_LE(s.pauses_ns[i], s.pause_max_ns);
		sum += s.pauses_ns[i];
	}
	CHECK_LE(sum, s.pause_total_ns);
	CHECK_GT(s.pause_max_ns, 0);
	CHECK_LE(gc_cpu_permille(), 1000);
	if (s.gogc >= 0 && s.memlimit == 0) {
		/* GOGC (gc/pacer.c): goal = live * (1 + gogc/100), at least
		 * the 4 MiB minimum heap; the trigger lies between 40% and
		 * 95% of the way from live to the goal (its ratio adapts). */
		uint64_t goal = MAX(s.heap_live + s.heap_live * (uint64_t)s.gogc / 100, 4u << 20);
		CHECK_EQ(s.heap_goal, goal);
		CHECK_GE(s.heap_trigger, s.heap_live + (goal - s.heap_live) * 400 / 1000);
		CHECK_LE(s.heap_trigger, s.heap_live + (goal - s.heap_live) * 950 / 1000);
	}
	gc_t_keep(big);
}

/* gc_collect from many tasks at once: all return, each one's call covers a
 * full cycle, nothing deadlocks, live data survives. */
static volatile int g_collectors_done;

static void collect_repeatedly(void *arg)
{
	for (int i = 0; i < 5; i++) {
		uint64_t before = gc_t_stats().cycles;
		gc_collect();
		/* a full cycle started after the call and ended before return */
		if (gc_t_stats().cycles < before + 1)
			task_exit(1);
		if (i % 2)
			task_yield();
	}
	(void)arg;
	g_collectors_done++;
}

GC_TEST(gc, concurrent_gc_collect_calls)
{
	enum { N = 8 };
	lnode *l = NULL;
	for (uint64_t i = 2000; i-- > 0;)
		l = cons(i, l);
	g_collectors_done = 0;
	task *t[N];
	for (int i = 0; i < N; i++) {
		t[i] = task_spawn_stack(collect_repeatedly, NULL, "gc-collector", GC_T_STACK);
		CHECK(t[i]);
	}
	make_garbage_lists(20, 500);
	for (int i = 0; i < N; i++)
		CHECK_EQ(task_join(t[i]), 0);
	CHECK_EQ(g_collectors_done, N);
	check_list(l, 2000, true);
}

/* ---- wide objects: many grey objects at once ----------------------------- */

/* One array with 140,000 scan objects behind it: scanning the array greys
 * all of them at once, so the grey queue must hold (or spill) that many
 * (more than the 256 x 510 of the first work-buffer pool). Nothing here is
 * unusual for a table of 140k objects. */
GC_TEST(gc, pointer_array_of_140k_scan_objects)
{
	enum { N = 140000 };
	word *arr = gc_alloc_array(&word_type, N);
	CHECK(arr);
	for (size_t i = 0; i < N; i++) {
		word *w = gc_alloc(&word_type);
		CHECK(w);
		gc_write(&w->p, (void *)(uintptr_t)(i * 2 + 1)); /* not a pointer */
		gc_write(&arr[i].p, w);
	}
	gc_t_collect();
	for (size_t i = 0; i < N; i++) {
		word *w = arr[i].p;
		CHECK_MSG(gc_t_allocated(w) && w->p == (void *)(uintptr_t)(i * 2 + 1),
			  "element %zu of a 140k table lost", i);
	}
	gc_t_keep(arr);
}

/* ---- registers of the task that runs the collection ---------------------- */

static void collect_holding(void)
{
	gc_collect();
}

/* An object whose only reference is in one callee-saved register of the
 * task calling gc_collect(): in stop-the-world mode that task itself runs
 * the whole mark, so its registers must reach its stack before the scan.
 * Each register on its own, in both modes. */
GC_TEST(gc, survives_in_callee_saved_register_of_collecting_task)
{
	bool old = gc_set_stop_the_world(false);
	for (int stw = 0; stw < 2; stw++) {
		gc_set_stop_the_world(stw);
		for (unsigned reg = 0; reg < ARCH_CALLEE_SAVED_TESTABLE; reg++) {
			uint64_t seed = 9000 + reg + 10 * (unsigned)stw;
			uintptr_t h = make_hidden_filled(112, seed);
			gc_t_scrub_stack();
			uintptr_t back = arch_test_hold_in_register(h, GC_T_HIDE, reg, collect_holding);
			CHECK_EQ(back, h);
			reuse_pressure(gc_t_unhide(h), 112, 3000);
			CHECK_MSG(gc_t_allocated(gc_t_unhide(h)) &&
					  gc_t_check_fill(gc_t_unhide(h), 112, seed),
				  "%s mode: object held only in callee-saved register %u of the "
				  "collecting task was freed", stw ? "stop-the-world" : "concurrent",
				  reg);
		}
	}
	gc_set_stop_the_world(old);
}

/* ---- the collector's waits: SWITCH_GC, each with its own wait reason ------ */

struct found_task {
	const char *name;
	task *t;
};

static void find_task_named(task *t, void *arg)
{
	struct found_task *f = arg;
	if (!f->t && strcmp(task_name(t), f->name) == 0)
		f->t = t;
}

/* One of the collector's own tasks (they never end). */
static task *collector_task(const char *name)
{
	struct found_task f = { name, NULL };
	sched_for_each_task(find_task_named, &f);
	CHECK_MSG(f.t, "no task '%s'", name);
	return f.t;
}

/* Yields until t is seen blocked for `reason` (an event: the collector's
 * tasks come to rest there once nothing is left to do). */
static void wait_blocked_for(task *t, wait_reason reason)
{
	task_info info;
	for (long i = 0;; i++) {
		task_get_info(t, &info);
		if (info.state == TASK_BLOCKED && info.wait_reason == reason)
			return;
		CHECK_MSG(i < GC_T_WAIT_YIELDS, "task '%s' not blocked for \"%s\" (%s, \"%s\")",
			  info.name, wait_reason_name(reason), task_state_name(info.state),
			  wait_reason_name(info.wait_reason));
		task_yield();
	}
}

/* Every switch t made on its own (not preempted, not its exit) was the
 * collector's: none under a primitive it happens to use. */
static void check_only_gc_switches(const task *t, uint64_t exact_gc)
{
	task_info info;
	task_get_info(t, &info);
	for (int r = 0; r < SWITCH_REASON_COUNT; r++) {
		if (r == SWITCH_GC || r == SWITCH_PREEMPTED || r == SWITCH_EXIT)
			continue;
		CHECK_MSG(info.switches[r] == 0, "task '%s': %llu switches for %s", info.name,
			  (unsigned long long)info.switches[r], switch_reason_name((switch_reason)r));
	}
	if (exact_gc)
		CHECK_EQ(info.switches[SWITCH_GC], exact_gc);
	else
		CHECK_GE(info.switches[SWITCH_GC], 1);
}

static void wait_for_cycle_end(void *unused)
{
	(void)unused;
	gc_wait_for_cycle_end();
}

static void collect_once(void *unused)
{
	(void)unused;
	gc_collect();
}

GC_TEST(gc, waits_are_counted_as_gc_with_their_own_reasons)
{
	task *worker = collector_task("gc worker"), *sweeper = collector_task("gc sweeper");
	task *finalizer = collector_task("gc finalizer");
	/* After a cycle the collector's tasks rest in their own waits, and
	 * every switch they asked for since boot was counted as SWITCH_GC
	 * (the sweeper's parking and yields, the worker's parking and its
	 * pauses between slices, the finalizer task's parking). */
	gc_t_collect();
	wait_blocked_for(sweeper, WAIT_REASON_GC_SWEEP_WAIT);
	wait_blocked_for(worker, WAIT_REASON_GC_WORKER_IDLE);
	wait_blocked_for(finalizer, WAIT_REASON_FINALIZER_WAIT);
	check_only_gc_switches(sweeper, 0);
	check_only_gc_switches(worker, 0);
	/* The finalizer task also runs finalizers, which may block on
	 * anything: only its own parking is checked. */
	task_info fi;
	task_get_info(finalizer, &fi);
	CHECK_EQ(fi.switches[SWITCH_SEMAPHORE], 0);
	CHECK_GE(fi.switches[SWITCH_GC], 1);

	/* Tasks waiting for a cycle (held by this test, so it cannot end
	 * before they are seen): one in gc_wait_for_cycle_end ("GC assist
	 * wait", the pacer's wait at the goal), one in gc_collect. */
	uint64_t before[SWITCH_REASON_COUNT], after[SWITCH_REASON_COUNT];
	sched_switch_counts(before);
	gc_test_cycle_begin(false);
	task *waiter = task_spawn_stack(wait_for_cycle_end, NULL, "cycle-waiter", GC_T_STACK);
	task *collector = task_spawn_stack(collect_once, NULL, "collector", GC_T_STACK);
	CHECK(waiter && collector);
	gc_t_wait_blocked(waiter);
	gc_t_wait_blocked(collector);
	task_info wi, ci;
	task_get_info(waiter, &wi);
	task_get_info(collector, &ci);
	wait_blocked_for(worker, WAIT_REASON_GC_WORKER_IDLE); /* the test holds the cycle */
	gc_test_cycle_end(NULL, NULL, 0);
	CHECK_EQ(wi.state, TASK_BLOCKED);
	CHECK_WAIT_REASON(wi, WAIT_REASON_GC_ASSIST_WAIT);
	CHECK_EQ(ci.state, TASK_BLOCKED);
	CHECK_WAIT_REASON(ci, WAIT_REASON_GARBAGE_COLLECTION);
	yield_until_dead(waiter);
	yield_until_dead(collector);
	check_only_gc_switches(waiter, 1); /* blocked once, woken at the end */
	check_only_gc_switches(collector, 0); /* and maybe again for its own cycle */
	CHECK_EQ(task_join(waiter), 0);
	CHECK_EQ(task_join(collector), 0);
	sched_switch_counts(after);
	CHECK_GE(after[SWITCH_GC] - before[SWITCH_GC], 2);
}
