/*
 * gc/alloc.c - the typed allocation API over mm/'s heap_alloc(): checks the
 * arguments, tells the pacer (which may start a cycle, or make the caller
 * assist one), picks scan or noscan from the type, and answers object
 * queries in gc_type terms. Bad arguments give NULL and a reason, never a crash.
 * Out of memory gives NULL too, after the heap has collected through the
 * reclaim hook where it could (gc/pacer.c, mm/reclaim.c). The allocator
 * itself is described in mm/malloc.c.
 */
#include "gc/gc_internal.h"

const gc_type gc_type_conservative = {
	.name = "conservative",
	.size = sizeof(void *),
	.flags = GC_TYPE_CONSERVATIVE,
	.nptrs = 1,
	.ptrmask = { 1 },
};

const char *gc_last_error(void)
{
	return heap_last_error();
}

int64_t gc_sample_countdown = INT64_MAX;
static gc_sampler_fn gc_sampler;

void gc_set_sampler(gc_sampler_fn fn)
{
	gc_sampler = fn;
	gc_sample_countdown = fn ? 0 : INT64_MAX;
}

/* The slow path of gc_sample_note: the sampler draws the next distance. */
static __attribute__((noinline)) void gc_sample_slow(void *obj, size_t size, uintptr_t site)
{
	gc_sampler_fn fn = gc_sampler;
	if (fn)
		fn(obj, size, site);
	else
		gc_sample_countdown = INT64_MAX;
}

/* The allocation fast path's whole cost for the profile: one subtraction
 * and a branch (sizes too large for int64_t, which only failing calls pass,
 * take the slow path instead of overflowing). */
static inline void *gc_sample_note(void *obj, size_t size, uintptr_t site)
{
	int64_t left;
	bool wrapped = __builtin_sub_overflow(gc_sample_countdown, size, &left);
	gc_sample_countdown = left;
	if (__builtin_expect(wrapped || left <= 0, 0))
		gc_sample_slow(obj, size, site);
	return obj;
}

/* Every gc_alloc* ends here: a failed allocation gives its pacer charge
 * back (it took no memory), a successful one counts toward the next
 * heap-profile sample. */
static inline void *gc_alloc_done(void *p, gc_charge charge, size_t size,
				  uintptr_t site)
{
	if (__builtin_expect(p == NULL, 0))
		gc_alloc_uncharge(charge);
	return gc_sample_note(p, size, site);
}

/* n elements of t; types without pointers are allocated noscan. */
static void *gc_alloc_elements(const gc_type *t, size_t n, const char *caller,
				uintptr_t site)
{
	size_t bytes;

	if (!t) {
		heap_set_error("%s: NULL type", caller);
		return NULL;
	}
	if (t->size == 0 || n == 0) {
		heap_set_error("%s(%s): zero-size allocation", caller,
			       t->name ? t->name : "?");
		return NULL;
	}
	if (__builtin_mul_overflow(t->size, n, &bytes)) {
		heap_set_error("%s(%s): %zu elements of %zu bytes overflow", caller,
			       t->name ? t->name : "?", n, t->size);
		return NULL;
	}
	gc_charge charge = gc_alloc_hook(bytes);
	void *p = t->nptrs == 0 ? heap_alloc(bytes, NULL, HEAP_NOSCAN)
				: heap_alloc(bytes, t, 0);
	return gc_alloc_done(p, charge, bytes, site);
}

/* The heap profile's call site: the return address into gc_alloc*'s caller. */
#define GC_CALL_SITE() ((uintptr_t)__builtin_return_address(0))

void *gc_alloc(const gc_type *t)
{
	return gc_alloc_elements(t, 1, "gc_alloc", GC_CALL_SITE());
}

void *gc_alloc_array(const gc_type *t, size_t n)
{
	return gc_alloc_elements(t, n, "gc_alloc_array", GC_CALL_SITE());
}

void *gc_alloc_noscan(size_t size)
{
	gc_charge charge = gc_alloc_hook(size);
	return gc_alloc_done(heap_alloc(size, NULL, HEAP_NOSCAN), charge, size,
			     GC_CALL_SITE());
}

void *gc_alloc_conservative(size_t size)
{
	gc_charge charge = gc_alloc_hook(size);
	return gc_alloc_done(heap_alloc(size, &gc_type_conservative, 0), charge,
			     size, GC_CALL_SITE());
}

void *gc_alloc_or_panic(const gc_type *t)
{
	void *p = gc_alloc_elements(t, 1, "gc_alloc", GC_CALL_SITE());

	if (!p)
		panic("gc_alloc_or_panic(%s): %s", t && t->name ? t->name : "?",
		      gc_last_error());
	return p;
}

bool gc_in_heap(const void *p)
{
	return heap_in_arena(p);
}

bool gc_find_object(const void *p, gc_object *out)
{
	heap_object obj;

	if (heap_lookup(p, &obj) != HEAP_OBJECT)
		return false;
	if (out) {
		out->base = (void *)obj.base;
		out->size = obj.size;
		out->type = obj.type;
		out->span = obj.span;
	}
	return true;
}
