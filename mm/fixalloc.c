/*
 * mm/fixalloc.c - memory for the runtime's own metadata. Persistent memory
 * is bump-allocated from one reserved range and committed a chunk at a time;
 * it is never freed. fixalloc recycles fixed-size objects carved from it
 * through a free list (Go: persistentalloc and fixalloc). None of it is in
 * the heap arena, so the collector never scans or frees it. A commit that
 * fails goes through mm/reclaim.c (the heap's free pages first) before the
 * allocation fails.
 * Invariant: persistent_next <= persistent_committed_end <= persistent_end.
 */
#include "mm/mm_internal.h"

/* Address space reserved for metadata on first use. Bounded by physical
 * memory in practice; running out returns NULL like any other OOM. */
#define PERSISTENT_RESERVE_BYTES (16UL << 30)
/* Commit granularity: fewer page-source calls, bounded slack. */
#define PERSISTENT_COMMIT_BYTES (64UL << 10)

static spinlock persistent_lock = SPINLOCK_INIT("persistent", LOCK_RANK_PERSISTENT);
/* guarded by persistent_lock */
static uintptr_t persistent_start, persistent_next;
static uintptr_t persistent_committed_end, persistent_end;

static bool persistent_reserve_locked(void)
{
	ASSERT_HELD(&persistent_lock);
	void *base = arch_reserve(PERSISTENT_RESERVE_BYTES);

	if (!base) {
		heap_set_error("cannot reserve %lu MiB of address space for heap metadata",
			       PERSISTENT_RESERVE_BYTES >> 20);
		return false;
	}
	persistent_start = persistent_next = (uintptr_t)base;
	persistent_committed_end = persistent_start;
	persistent_end = persistent_start + PERSISTENT_RESERVE_BYTES;
	return true;
}

/* One try; *commit_failed says whether it failed for want of memory (then
 * the caller may reclaim and try again) rather than address space. */
static void *fixalloc_persistent_try(size_t size, size_t align, bool *commit_failed)
{
	void *result = NULL;

	*commit_failed = false;
	spin_lock(&persistent_lock);
	if (!persistent_start && !persistent_reserve_locked())
		goto out;
	uintptr_t p = ALIGN_UP(persistent_next, align);
	if (p > persistent_end || size > persistent_end - p) {
		heap_set_error("heap metadata address space exhausted (%lu MiB)",
			       PERSISTENT_RESERVE_BYTES >> 20);
		goto out;
	}
	if (p + size > persistent_committed_end) {
		uintptr_t want = ALIGN_UP(p + size, PERSISTENT_COMMIT_BYTES);
		want = MIN(want, persistent_end);
		size_t bytes = want - persistent_committed_end;
		if (!arch_commit((void *)persistent_committed_end, bytes)) {
			heap_set_error("out of memory committing %zu KiB of heap metadata "
				       "(page source has %zu free pages)",
				       bytes >> 10, arch_free_pages());
			*commit_failed = true;
			goto out;
		}
		persistent_committed_end = want;
	}
	persistent_next = p + size;
	result = (void *)p; /* fresh committed memory is zero */
out:
	spin_unlock(&persistent_lock);
	return result;
}

void *fixalloc_persistent(size_t size, size_t align)
{
	ASSERT(align > 0 && (align & (align - 1)) == 0 && align <= ARCH_PAGE_SIZE);
	heap_oom oom = { 0 };

	for (;;) {
		bool commit_failed;
		void *p = fixalloc_persistent_try(size, align, &commit_failed);
		/* Reclaiming takes the heap lock, which comes before ours: it
		 * runs with ours dropped, and the next try starts over. */
		if (p || !commit_failed ||
		    !heap_oom_retry(&oom, ALIGN_UP(size, PERSISTENT_COMMIT_BYTES) /
						  ARCH_PAGE_SIZE))
			return p;
	}
}

size_t fixalloc_persistent_committed(void)
{
	spin_lock(&persistent_lock);
	size_t bytes = persistent_committed_end - persistent_start;
	spin_unlock(&persistent_lock);
	return bytes;
}

void fixalloc_init(fixalloc *f, const char *name, size_t size, size_t align)
{
	ASSERT(size > 0 && align >= sizeof(void *));
	f->name = name;
	f->align = align;
	f->size = ALIGN_UP(size, align);
	f->free_list = NULL;
	f->in_use = 0;
	f->total = 0;
}

void *fixalloc_alloc(fixalloc *f)
{
	void *p = f->free_list;

	if (p) {
		f->free_list = *(void **)p;
		if (MM_DEBUG) {
			/* The link word was overwritten by the free list. */
			size_t bad = mm_poison_check((char *)p + sizeof(void *),
						     f->size - sizeof(void *));
			if (bad != f->size - sizeof(void *))
				panic("fixalloc %s: object %p written after free (offset %zu)",
				      f->name, p, bad + sizeof(void *));
		}
		memset(p, 0, f->size);
	} else {
		p = fixalloc_persistent(f->size, f->align);
		if (!p)
			return NULL;
		f->total++;
	}
	f->in_use++;
	return p;
}

void fixalloc_free(fixalloc *f, void *p)
{
	ASSERT(p && f->in_use > 0 && (uintptr_t)p % f->align == 0);
	if (MM_DEBUG)
		mm_poison(p, f->size);
	*(void **)p = f->free_list;
	f->free_list = p;
	f->in_use--;
}
