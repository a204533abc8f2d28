/*
 * tests/fuzz/heap_fuzz.c - libFuzzer target for the heap: each input is a
 * program of allocations, frees, bad frees and heap maintenance, run against
 * a shadow model (address, size, fill byte of every live object, kept
 * outside the heap). New objects must be zeroed and disjoint, freed ones
 * must still hold their fill, bad frees must be refused, and
 * mheap_validate() must pass after every input. Built by `make fuzz`
 * (tests/fuzz/fuzz.mk) with clang -fsanitize=fuzzer,address,undefined over
 * the hosted arch; a host program, so it may use libc.
 *
 * Input format, a stream of 4-byte instructions [op, a, b, c]:
 *   op % 8 in 0..3   allocate: kind a % 4 (noscan, typed array, conservative,
 *                    typed struct), size from a, b, c (tiny to large)
 *   op % 8 in 4..5   free live object (a << 8 | b) % live
 *   op % 8 == 6      a bad free (interior pointer, non-heap address)
 *   op % 8 == 7      maintenance by a % 4: validate, flush the cache,
 *                    scavenge, object queries on a live object
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "arch/hosted/hosted_internal.h"
#include "gc/gc.h"

#define FUZZ_MAX_LIVE 512
#define FUZZ_MAX_LARGE (512 * 1024)

#define FUZZ_CHECK(cond, ...)                                          \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "heap_fuzz: %s:%d: %s: ", __FILE__, \
				__LINE__, #cond);                      \
			fprintf(stderr, __VA_ARGS__);                  \
			fprintf(stderr, "\n");                         \
			abort();                                       \
		}                                                      \
	} while (0)

typedef struct fuzz_obj {
	unsigned char *p;
	size_t size;
	unsigned char fill;
} fuzz_obj;

static fuzz_obj live[FUZZ_MAX_LIVE];
static size_t nlive;

typedef struct fuzz_node {
	struct fuzz_node *next;
	void *data;
	uint64_t key;
} fuzz_node;
static GC_TYPE_DEFINE(fuzz_node_type, fuzz_node, next, data);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	hosted_symbols_init();
	/* heap_free_for_test reports every refused free on the console;
	 * the fuzzer makes thousands. HEAP_FUZZ_VERBOSE=1 keeps them. */
	if (!getenv("HEAP_FUZZ_VERBOSE")) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
	}
	FUZZ_CHECK(heap_init(), "%s", heap_last_error());
	return 0;
}

/* A size spread over tiny, small classes and large objects. */
static size_t fuzz_size(uint8_t a, uint8_t b, uint8_t c)
{
	size_t v = (size_t)b << 8 | c;
	switch (a >> 6) {
	case 0:
		return 1 + v % 15;
	case 1:
		return 1 + v % 1024;
	case 2:
		return 1 + (v * 8) % SIZECLASS_MAX_SIZE;
	default:
		return 1 + (v * 16) % FUZZ_MAX_LARGE;
	}
}

static void fuzz_fill(fuzz_obj *o, bool check)
{
	/* Whole small objects; the first and last 256 bytes of big ones. */
	size_t edge = 256;
	for (size_t i = 0; i < o->size; i++) {
		if (i == edge && o->size > 2 * edge)
			i = o->size - edge;
		if (check)
			FUZZ_CHECK(o->p[i] == o->fill, "object %p (%zu bytes) byte %zu "
				   "is 0x%x, want 0x%x", (void *)o->p, o->size, i,
				   o->p[i], o->fill);
		o->p[i] = o->fill;
	}
}

static void fuzz_alloc(uint8_t a, uint8_t b, uint8_t c)
{
	if (nlive == FUZZ_MAX_LIVE)
		return;
	fuzz_obj *o = &live[nlive];
	size_t size = fuzz_size(a, b, c);
	void *p;

	switch (a % 4) {
	case 0:
		p = gc_alloc_noscan(size);
		break;
	case 1:
		size = (size + sizeof(fuzz_node) - 1) / sizeof(fuzz_node);
		p = gc_alloc_array(&fuzz_node_type, size);
		size *= sizeof(fuzz_node);
		break;
	case 2:
		p = gc_alloc_conservative(size);
		break;
	default:
		p = gc_alloc(&fuzz_node_type);
		size = sizeof(fuzz_node);
		break;
	}
	FUZZ_CHECK(p, "allocating %zu bytes: %s", size, gc_last_error());
	o->p = p;
	o->size = size;
	o->fill = (uint8_t)(b ^ c) | 1;
	if (size >= 16)
		FUZZ_CHECK((uintptr_t)p % 16 == 0, "%zu bytes at %p", size, p);
	gc_object obj;
	FUZZ_CHECK(gc_find_object(p, &obj) && obj.base == p && obj.size >= size,
		   "lookup of new object %p", p);
	for (size_t i = 0; i < size; i++) {
		if (i == 256 && size > 512)
			i = size - 256;
		FUZZ_CHECK(o->p[i] == 0, "new object %p byte %zu not zero", p, i);
	}
	fuzz_fill(o, false);
	nlive++;
}

static void fuzz_free(size_t i)
{
	fuzz_obj *o = &live[i];

	fuzz_fill(o, true);
	FUZZ_CHECK(heap_free_for_test(o->p), "free %p: %s", (void *)o->p,
		   heap_last_error());
	live[i] = live[--nlive];
}

static void fuzz_bad_free(uint8_t a, uint8_t b)
{
	int local;

	if (a % 2 == 0) {
		FUZZ_CHECK(!heap_free_for_test(&local), "freed a stack address");
		FUZZ_CHECK(!heap_free_for_test(live), "freed a global");
		return;
	}
	if (nlive == 0)
		return;
	/* An interior pointer, where no other object can start: objects of
	 * 16 bytes or more never share a slot. */
	fuzz_obj *o = &live[b % nlive];
	if (o->size < 16)
		return;
	size_t off = 1 + (size_t)a % (o->size - 1);
	FUZZ_CHECK(!heap_free_for_test(o->p + off), "freed %p + %zu", (void *)o->p,
		   off);
}

static void fuzz_maintain(uint8_t a, uint8_t b)
{
	char why[256];

	switch (a % 4) {
	case 0:
		FUZZ_CHECK(mheap_validate(why, sizeof why), "%s", why);
		break;
	case 1:
		mcache_release_all();
		break;
	case 2:
		mheap_scavenge((size_t)b, 0);
		break;
	default:
		if (nlive) {
			fuzz_obj *o = &live[b % nlive];
			gc_object obj;
			FUZZ_CHECK(gc_find_object(o->p + o->size - 1, &obj) &&
					   obj.base <= (void *)o->p,
				   "interior lookup of %p", (void *)o->p);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];

	for (size_t i = 0; i + 4 <= size; i += 4) {
		uint8_t op = data[i], a = data[i + 1], b = data[i + 2], c = data[i + 3];
		switch (op % 8) {
		case 0: case 1: case 2: case 3:
			fuzz_alloc(a, b, c);
			break;
		case 4: case 5:
			if (nlive)
				fuzz_free(((size_t)a << 8 | b) % nlive);
			break;
		case 6:
			fuzz_bad_free(a, b);
			break;
		default:
			fuzz_maintain(a, b);
			break;
		}
	}
	while (nlive)
		fuzz_free(nlive - 1);
	mcache_release_all();
	FUZZ_CHECK(mheap_validate(why, sizeof why), "%s", why);
	return 0;
}
