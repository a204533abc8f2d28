/*
 * mm/sizeclass.c - the small-object size classes: the generated table
 * (mm/sizeclasses.inc, derived by tools/mksizeclasses.py, where the method
 * is written down) and the check that the table keeps the bounds the rest of
 * mm/ relies on. See mm/malloc.c for the overview.
 */
#include "mm/mm_internal.h"

#include "mm/sizeclasses.inc"

_Static_assert(SIZECLASS_TABLE_COUNT == SIZECLASS_COUNT,
	       "mm.h and mm/sizeclasses.inc disagree on the class count");

/* Span tails may waste at most 1/SIZECLASS_MAX_TAIL_FRACTION of a span. */
#define SIZECLASS_MAX_TAIL_FRACTION 8

/*
 * A slot index computed as (offset * divmagic) >> 32 is exact for every
 * offset of slot i if it is exact at the slot's first and last byte: the
 * function is monotonic in offset, and both ends map to i, so everything in
 * between does too.
 */
static bool sizeclass_divmagic_exact(unsigned c)
{
	uint64_t size = sizeclass_size[c], magic = sizeclass_divmagic[c];

	for (uint64_t i = 0; i < sizeclass_nelems[c]; i++) {
		uint64_t first = i * size, last = first + size - 1;
		if (((first * magic) >> 32) != i || ((last * magic) >> 32) != i)
			return false;
	}
	return true;
}

void sizeclass_check_table(void)
{
	ASSERT(sizeclass_size[0] == 0 && sizeclass_nelems[0] == 1);
	ASSERT(sizeclass_size[HEAP_TINY_SIZECLASS] == HEAP_TINY_SIZE);
	ASSERT(sizeclass_size[SIZECLASS_COUNT - 1] == SIZECLASS_MAX_SIZE);
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		size_t size = sizeclass_size[c];
		size_t span = (size_t)sizeclass_npages[c] * MHEAP_PAGE_SIZE;
		size_t nelems = sizeclass_nelems[c];

		ASSERT(size > sizeclass_size[c - 1]);
		ASSERT(size % 8 == 0);
		ASSERT(size < HEAP_TINY_SIZE || size % 16 == 0);
		ASSERT(nelems == span / size && nelems <= MSPAN_MAX_SLOTS);
		ASSERT(span - nelems * size <= span / SIZECLASS_MAX_TAIL_FRACTION);
		ASSERT(sizeclass_divmagic_exact(c));
	}
	/* The lookup tables give the smallest class that fits. */
	for (size_t size = 1; size <= SIZECLASS_MAX_SIZE; size++) {
		unsigned c = sizeclass_of(size);
		ASSERT(c >= 1 && c < SIZECLASS_COUNT);
		ASSERT(sizeclass_size[c] >= size && sizeclass_size[c - 1] < size);
	}
}
