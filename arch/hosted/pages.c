/*
 * arch/hosted/pages.c - the page source over mmap. Reserved space is
 * PROT_NONE and MAP_NORESERVE, so touching it faults just as an unmapped
 * kernel page would. Committing makes pages read-write; decommitting drops
 * their contents with MADV_DONTNEED, so the next commit reads zeros, and
 * makes them PROT_NONE again.
 *
 * "Physical memory" is a budget: committed pages are counted against the
 * `mem=` option (bytes, k/m/g suffixes, default 1 GiB), and arch_commit()
 * fails once it is spent. That makes out-of-memory paths testable natively
 * and keeps a runaway heap from eating the host. Callers commit only
 * uncommitted pages and decommit only committed ones (mm/ tracks which),
 * so the count is exact.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "arch/arch.h"
#include "lib/lib.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define HOSTED_UNPOISON(addr, bytes) __asan_unpoison_memory_region(addr, bytes)
#else
#define HOSTED_UNPOISON(addr, bytes) ((void)(addr), (void)(bytes))
#endif

static int64_t hosted_mem_bytes = 1LL << 30;
CMDLINE_INT(hosted_mem_bytes, "mem", 1LL << 20, 1LL << 40,
	    "bytes of memory the page source may commit (hosted)");

/* Pages committed now; atomic, as a tick handler may allocate. */
static size_t hosted_committed_pages;

static size_t hosted_budget_pages(void)
{
	return (size_t)hosted_mem_bytes / ARCH_PAGE_SIZE;
}

static bool hosted_page_aligned(const void *addr, size_t bytes)
{
	return ((uintptr_t)addr | bytes) % ARCH_PAGE_SIZE == 0;
}

/* Takes `pages` from the budget; false if it does not have them. */
static bool hosted_charge(size_t pages)
{
	size_t old = __atomic_load_n(&hosted_committed_pages, __ATOMIC_RELAXED);

	do {
		if (pages > hosted_budget_pages() ||
		    old > hosted_budget_pages() - pages)
			return false;
	} while (!__atomic_compare_exchange_n(&hosted_committed_pages, &old,
					      old + pages, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static void hosted_uncharge(size_t pages)
{
	__atomic_fetch_sub(&hosted_committed_pages, pages, __ATOMIC_RELAXED);
}

void *arch_reserve(size_t bytes)
{
	ASSERT(bytes > 0 && bytes % ARCH_PAGE_SIZE == 0);
	void *p = mmap(NULL, bytes, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

bool arch_commit(void *addr, size_t bytes)
{
	ASSERT(hosted_page_aligned(addr, bytes));
	size_t pages = bytes / ARCH_PAGE_SIZE;

	if (!hosted_charge(pages))
		return false;
	/* Fresh or MADV_DONTNEED'd anonymous pages read as zero. */
	if (mprotect(addr, bytes, PROT_READ | PROT_WRITE) != 0) {
		hosted_uncharge(pages);
		return false;
	}
	/* The range may have been a task stack that died mid-call, with ASan
	 * redzones still marked in its shadow: fresh memory is clean. */
	HOSTED_UNPOISON(addr, bytes);
	return true;
}

void arch_decommit(void *addr, size_t bytes)
{
	ASSERT(hosted_page_aligned(addr, bytes));
	if (madvise(addr, bytes, MADV_DONTNEED) != 0 ||
	    mprotect(addr, bytes, PROT_NONE) != 0)
		panic("arch_decommit(%p, %zu): bad range", addr, bytes);
	hosted_uncharge(bytes / ARCH_PAGE_SIZE);
}

size_t arch_free_pages(void)
{
	size_t used = __atomic_load_n(&hosted_committed_pages, __ATOMIC_RELAXED);
	size_t budget = hosted_budget_pages();

	return used < budget ? budget - used : 0;
}
