/*
 * pmm_test.c - the physical frame allocator: exhaustion and full recovery,
 * frames never overlapping what must stay reserved, contiguous aligned runs,
 * and misuse (double free, foreign frames) reported without freeing anything.
 */
#include "arch/x86_64/x86.h"
#include "lib/lib.h"

static bool frame_is_forbidden(uint64_t phys)
{
	uint64_t kstart = (uint64_t)__kernel_phys_start, kend = (uint64_t)__kernel_phys_end;
	return phys < (1UL << 20) || (phys < kend && phys + PAGE_SIZE > kstart) ||
	       (phys < boot.info_phys + boot.info_size && phys + PAGE_SIZE > boot.info_phys);
}

/* Every frame is allocated once, chained through its own first word so the
 * test needs no memory of its own; each also records its own address so a
 * frame handed out twice would be caught when the chain is walked. */
TEST(pmm, exhaust_and_restore)
{
	size_t before = pmm_free_count();
	CHECK_GT(before, 0);
	uint64_t head = 0;
	size_t got = 0;
	uint64_t phys;
	while ((phys = pmm_alloc()) != 0) {
		CHECK_MSG(!frame_is_forbidden(phys), "frame 0x%llx is reserved memory",
			  (unsigned long long)phys);
		CHECK(pmm_is_allocated(phys));
		uint64_t *w = phys_to_virt(phys);
		w[0] = head;
		w[1] = phys;
		head = phys;
		got++;
	}
	CHECK_EQ(got, before);
	CHECK_EQ(pmm_free_count(), 0);
	CHECK_EQ(pmm_alloc_run(1, 1), 0); /* still nothing */
	size_t walked = 0;
	while (head) {
		uint64_t *w = phys_to_virt(head);
		CHECK_EQ(w[1], head); /* nobody else wrote this frame */
		uint64_t next = w[0];
		CHECK_EQ(pmm_free(head), PMM_OK);
		head = next;
		walked++;
	}
	CHECK_EQ(walked, got);
	CHECK_EQ(pmm_free_count(), before);
}

TEST(pmm, double_free_reported)
{
	size_t before = pmm_free_count();
	uint64_t f = pmm_alloc();
	CHECK_NE(f, 0);
	CHECK_EQ(pmm_free_count(), before - 1);
	CHECK_EQ(pmm_free(f), PMM_OK);
	CHECK_EQ(pmm_free(f), PMM_ERR_DOUBLE_FREE);
	CHECK_EQ(pmm_free_count(), before);
}

TEST(pmm, foreign_frames_rejected)
{
	size_t before = pmm_free_count();
	CHECK_EQ(pmm_free((uint64_t)__kernel_phys_start), PMM_ERR_NOT_MANAGED);
	CHECK_EQ(pmm_free(boot.info_phys & ~(PAGE_SIZE - 1)), PMM_ERR_NOT_MANAGED);
	CHECK_EQ(pmm_free(0x1000), PMM_ERR_NOT_MANAGED); /* low memory */
	CHECK_EQ(pmm_free(pmm_max_phys() + 64 * PAGE_SIZE), PMM_ERR_NOT_MANAGED);
	CHECK_EQ(pmm_free(0x200123), PMM_ERR_UNALIGNED);
	CHECK_EQ(pmm_free_count(), before);
}

TEST(pmm, reserved_ranges_known)
{
	CHECK(pmm_is_reserved_range((uint64_t)__kernel_phys_start, PAGE_SIZE));
	CHECK(pmm_is_reserved_range(boot.info_phys, boot.info_size));
	CHECK(pmm_is_reserved_range(0, PAGE_SIZE));
	CHECK_LE(pmm_free_count(), pmm_total_count());
}

TEST(pmm, aligned_runs)
{
	size_t before = pmm_free_count();
	uint64_t run = pmm_alloc_run(16, 16);
	CHECK_NE(run, 0);
	CHECK_EQ(run % (16 * PAGE_SIZE), 0);
	for (size_t i = 0; i < 16; i++) {
		CHECK(pmm_is_allocated(run + i * PAGE_SIZE));
		CHECK(!frame_is_forbidden(run + i * PAGE_SIZE));
	}
	CHECK_EQ(pmm_free_count(), before - 16);
	/* A run whose last frame is already free is refused whole. */
	CHECK_EQ(pmm_free(run + 15 * PAGE_SIZE), PMM_OK);
	CHECK_EQ(pmm_free_run(run, 16), PMM_ERR_DOUBLE_FREE);
	CHECK(pmm_is_allocated(run));
	CHECK_EQ(pmm_free_run(run, 15), PMM_OK);
	CHECK_EQ(pmm_free_count(), before);
	CHECK_EQ(pmm_alloc_run(0, 1), 0);
	CHECK_EQ(pmm_alloc_run(pmm_total_count() + 1, 1), 0);
	CHECK_EQ(pmm_free_count(), before);
}
