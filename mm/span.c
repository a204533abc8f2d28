/*
 * mm/span.c - one span: its slots, its bitmaps and the alloc cache over
 * them, its side metadata, and mspan_check(), which checks the invariants
 * written at struct mspan in mm/mm.h. Also the span list. See mm/malloc.c
 * for the overview.
 */
#include "mm/mm_internal.h"

/* ---- lists ------------------------------------------------------------- */

void mspan_list_push(mspan_list *l, mspan *s)
{
	ASSERT(s->list == NULL && s->next == NULL && s->prev == NULL);
	s->next = l->first;
	if (l->first)
		l->first->prev = s;
	else
		l->last = s;
	l->first = s;
	s->list = l;
	l->count++;
}

void mspan_list_remove(mspan_list *l, mspan *s)
{
	ASSERT(s->list == l && l->count > 0);
	if (s->prev)
		s->prev->next = s->next;
	else
		l->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->last = s->prev;
	s->next = s->prev = NULL;
	s->list = NULL;
	l->count--;
}

/* ---- poison (debug builds) --------------------------------------------- */

void mm_poison(void *p, size_t n)
{
	memset(p, MM_POISON_BYTE, n);
}

size_t mm_poison_check(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i = 0;

	for (; i + 8 <= n && ((uintptr_t)(b + i) & 7) == 0; i += 8)
		if (*(const uint64_t *)(b + i) != MM_POISON_WORD)
			break;
	for (; i < n; i++)
		if (b[i] != MM_POISON_BYTE)
			return i;
	return n;
}

/* ---- side metadata ----------------------------------------------------- */
/*
 * Every IN_USE span owns one metadata block from its span class's fixalloc:
 *   [alloc bits][mark bits][types (scan) | tiny starts (tiny) | nothing]
 * The two bitmaps have the same size, so the collector can swap them at
 * sweep (alloc_bits = mark_bits, old alloc bits cleared into the new mark
 * bits) without allocating.
 */
size_t mspan_meta_size(spanclass_t spc, size_t nelems)
{
	size_t bitmap = MSPAN_BITMAP_WORDS(nelems) * sizeof(uint64_t);
	size_t extra = 0;

	if (spc == SPANCLASS_TINY)
		extra = ALIGN_UP(nelems * sizeof(uint16_t), sizeof(uint64_t));
	else if (!spanclass_noscan(spc))
		extra = nelems * sizeof(const struct gc_type *);
	return 2 * bitmap + extra;
}

void mspan_attach_meta(mspan *s, void *meta)
{
	size_t words = MSPAN_BITMAP_WORDS(s->nelems);
	uint64_t *bits = meta;

	s->alloc_bits = bits;
	s->mark_bits = bits + words;
	s->types = NULL;
	s->tiny_starts = NULL;
	if (s->spanclass == SPANCLASS_TINY)
		s->tiny_starts = (uint16_t *)(bits + 2 * words);
	else if (!spanclass_noscan(s->spanclass))
		s->types = (const struct gc_type **)(bits + 2 * words);
}

void mspan_init_small(mspan *s)
{
	unsigned c = mspan_sizeclass(s);

	ASSERT(c > 0 && s->npages == sizeclass_npages[c]);
	ASSERT(s->nelems == sizeclass_nelems[c] && s->alloc_bits);
	s->elemsize = sizeclass_size[c];
	s->divmagic = sizeclass_divmagic[c];
	s->alloc_count = 0;
	s->alloc_cache = 0;
	s->cache_word = 0;
	if (MM_POISON_FREED) {
		/* Free slots hold poison; allocation checks it, then zeroes. */
		mm_poison((void *)s->base, s->nelems * s->elemsize);
		s->needzero = true;
	}
}

/* ---- allocation -------------------------------------------------------- */

/* Bits of bitmap word w that stand for slots that exist. */
static uint64_t mspan_valid_bits(const mspan *s, uint32_t w)
{
	uint32_t left = s->nelems - w * 64;

	return left >= 64 ? ~0ULL : (1ULL << left) - 1;
}

bool mspan_load_cache(mspan *s, uint32_t from)
{
	uint32_t words = MSPAN_BITMAP_WORDS(s->nelems);

	for (uint32_t w = from; w < words; w++) {
		uint64_t free = ~s->alloc_bits[w] & mspan_valid_bits(s, w);
		if (free) {
			s->cache_word = w;
			s->alloc_cache = free;
			return true;
		}
	}
	s->cache_word = words - 1;
	s->alloc_cache = 0;
	return false;
}

void mspan_free_slot(mspan *s, size_t i)
{
	ASSERT(i < s->nelems && mspan_slot_allocated(s, i) && s->alloc_count > 0);
	s->alloc_bits[i >> 6] &= ~(1ULL << (i & 63));
	/* A marked slot freed before its span is swept must stay free. */
	s->mark_bits[i >> 6] &= ~(1ULL << (i & 63));
	s->alloc_count--;
	s->needzero = true;
	if (s->types)
		s->types[i] = NULL;
	if (MM_POISON_FREED)
		mm_poison((void *)(s->base + i * s->elemsize), s->elemsize);
}

/* ---- checking ---------------------------------------------------------- */

#define CHECK_SPAN(cond, ...)                                           \
	do {                                                            \
		if (!(cond)) {                                          \
			int off_ = ksnprintf(why, n, "span %p [0x%lx +%zu pages]: ", \
					     (const void *)s, (unsigned long)s->base, \
					     s->npages);                \
			if (off_ >= 0 && (size_t)off_ < n)              \
				ksnprintf(why + off_, n - (size_t)off_, __VA_ARGS__); \
			return false;                                   \
		}                                                       \
	} while (0)

bool mspan_check(const mspan *s, char *why, size_t n)
{
	CHECK_SPAN(s->base % MHEAP_PAGE_SIZE == 0, "base not page-aligned");
	CHECK_SPAN(s->npages >= 1, "no pages");
	if (s->state == MSPAN_FREE) {
		CHECK_SPAN(s->alloc_count == 0 && s->alloc_bits == NULL,
			   "free run has slots");
		return true;
	}
	CHECK_SPAN(s->state == MSPAN_IN_USE, "bad state %u", s->state);
	CHECK_SPAN(s->spanclass < SPANCLASS_COUNT, "bad span class %u",
		   s->spanclass);

	unsigned c = mspan_sizeclass(s);
	if (c == 0) {
		CHECK_SPAN(s->nelems == 1, "large span with %u slots", s->nelems);
		CHECK_SPAN(s->elemsize == s->npages * MHEAP_PAGE_SIZE,
			   "large span elemsize %zu", s->elemsize);
	} else {
		CHECK_SPAN(s->elemsize == sizeclass_size[c], "class %u elemsize %zu",
			   c, s->elemsize);
		CHECK_SPAN(s->nelems == sizeclass_nelems[c], "class %u nelems %u", c,
			   s->nelems);
		CHECK_SPAN(s->npages == sizeclass_npages[c], "class %u npages", c);
		CHECK_SPAN(s->divmagic == sizeclass_divmagic[c], "class %u divmagic",
			   c);
	}
	CHECK_SPAN(s->alloc_bits && s->mark_bits, "missing bitmaps");
	CHECK_SPAN(spanclass_noscan(s->spanclass) == (s->types == NULL),
		   "types array does not match noscan=%d",
		   spanclass_noscan(s->spanclass));
	CHECK_SPAN((s->spanclass == SPANCLASS_TINY) == (s->tiny_starts != NULL),
		   "tiny map does not match the span class");

	uint32_t words = MSPAN_BITMAP_WORDS(s->nelems);
	uint32_t count = 0;
	for (uint32_t w = 0; w < words; w++) {
		uint64_t valid = mspan_valid_bits(s, w);
		CHECK_SPAN((s->alloc_bits[w] & ~valid) == 0,
			   "alloc bits set beyond nelems in word %u", w);
		/* Mark bits are the collector's: set while it marks, and on
		 * spans that wait to be swept; clear everywhere else. */
		CHECK_SPAN(heap_gc_marking ||
				   s->sweepgen == mheap_global.sweepgen - 2 ||
				   s->mark_bits[w] == 0,
			   "mark bits set in word %u of a swept span while no "
			   "collector marks", w);
		count += (uint32_t)__builtin_popcountll(s->alloc_bits[w]);
	}
	CHECK_SPAN(count == s->alloc_count, "alloc_count %u but %u bits set",
		   s->alloc_count, count);
	CHECK_SPAN(s->cache_word < words, "cache_word %u of %u", s->cache_word,
		   words);
	CHECK_SPAN((s->alloc_cache & s->alloc_bits[s->cache_word]) == 0,
		   "alloc cache 0x%llx offers allocated slots",
		   (unsigned long long)s->alloc_cache);
	CHECK_SPAN((s->alloc_cache & ~mspan_valid_bits(s, s->cache_word)) == 0,
		   "alloc cache offers slots beyond nelems");

	for (size_t i = 0; i < s->nelems; i++) {
		bool allocated = mspan_slot_allocated(s, i);
		if (s->types && c != 0)
			CHECK_SPAN(!allocated || s->types[i] != NULL,
				   "allocated slot %zu has no type", i);
		if (s->tiny_starts)
			CHECK_SPAN(allocated || s->tiny_starts[i] == 0,
				   "free tiny block %zu has sub-objects 0x%x", i,
				   s->tiny_starts[i]);
		if (MM_POISON_FREED && !allocated && c != 0) {
			const void *slot = (const void *)(s->base + i * s->elemsize);
			size_t bad = mm_poison_check(slot, s->elemsize);
			CHECK_SPAN(bad == s->elemsize,
				   "free slot %zu written after free (offset %zu)",
				   i, bad);
		}
	}
	return true;
}
