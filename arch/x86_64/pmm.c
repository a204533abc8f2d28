/*
 * pmm.c - the physical frame allocator. Two bitmaps over all frames up to
 * the end of the highest usable RAM: `managed` (RAM pmm may ever hand out)
 * and `used` (handed out, or never available). Invariant, for every frame f:
 *     !managed[f] => used[f]        (reserved memory is never free)
 *     free_frames == |{f : !used[f]}|
 * Never managed: the first 1 MiB, the kernel image, the multiboot2
 * information, boot modules, the bitmaps themselves, and everything the
 * memory map does not call available. Freeing a frame that is free or not
 * managed is caught and reported, and frees nothing.
 *
 * Locking: one CPU for now, so interrupts off is the whole lock; pmm is
 * called from page-fault-free kernel paths only.
 */
#include "arch/x86_64/x86.h"

#define LOW_MEMORY_END (1UL << 20)
#define BITS_PER_WORD 64

static uint64_t *used;    /* 1 = allocated or unavailable */
static uint64_t *managed; /* 1 = RAM pmm may hand out */
static size_t frame_count;  /* frames covered by the bitmaps */
static size_t word_count;
static size_t free_frames, managed_frames;
static size_t search_hint; /* word index to start the next search at */
static uint64_t max_phys;

/* Ranges that must never be handed out, filled by pmm_init. */
static struct phys_range reserved[4 + BOOT_MAX_MODULES];
static size_t reserved_count;

static void add_reserved(uint64_t start, uint64_t end)
{
	ASSERT(reserved_count < ARRAY_SIZE(reserved));
	reserved[reserved_count++] = (struct phys_range){ ALIGN_DOWN(start, PAGE_SIZE),
							  ALIGN_UP(end, PAGE_SIZE) };
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

bool pmm_is_reserved_range(uint64_t phys, uint64_t len)
{
	for (size_t i = 0; i < reserved_count; i++)
		if (overlaps(phys, phys + len, reserved[i].start, reserved[i].end))
			return true;
	return false;
}

static bool bit_get(const uint64_t *map, size_t f) { return map[f / BITS_PER_WORD] >> (f % BITS_PER_WORD) & 1; }
static void bit_set(uint64_t *map, size_t f) { map[f / BITS_PER_WORD] |= 1UL << (f % BITS_PER_WORD); }
static void bit_clear(uint64_t *map, size_t f) { map[f / BITS_PER_WORD] &= ~(1UL << (f % BITS_PER_WORD)); }

/* Finds room for the bitmaps: available RAM above 1 MiB, below the end of
 * the boot-time direct map, clear of every reserved range. */
static uint64_t place_bitmaps(uint64_t bytes)
{
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		if (e->type != MEMMAP_AVAILABLE)
			continue;
		uint64_t end = MIN(e->base + e->length, BOOT_EARLY_MAP_END);
		uint64_t at = ALIGN_UP(MAX(e->base, LOW_MEMORY_END), PAGE_SIZE);
		while (at + bytes <= end) {
			bool clash = false;
			for (size_t r = 0; r < reserved_count; r++) {
				if (overlaps(at, at + bytes, reserved[r].start, reserved[r].end)) {
					at = ALIGN_UP(reserved[r].end, PAGE_SIZE);
					clash = true;
					break;
				}
			}
			if (!clash)
				return at;
		}
	}
	return 0;
}

void pmm_init(void)
{
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		if (e->type == MEMMAP_AVAILABLE)
			max_phys = MAX(max_phys, e->base + e->length);
	}
	max_phys = ALIGN_DOWN(max_phys, PAGE_SIZE);

	add_reserved(0, LOW_MEMORY_END);
	add_reserved((uint64_t)__kernel_phys_start, (uint64_t)__kernel_phys_end);
	add_reserved(boot.info_phys, boot.info_phys + boot.info_size);
	for (size_t i = 0; i < boot.module_count; i++)
		add_reserved(boot.modules[i].start, boot.modules[i].end);

	frame_count = max_phys / PAGE_SIZE;
	word_count = ALIGN_UP(frame_count, BITS_PER_WORD) / BITS_PER_WORD;
	uint64_t bitmap_bytes = ALIGN_UP(2 * word_count * sizeof(uint64_t), PAGE_SIZE);
	uint64_t bitmap_phys = place_bitmaps(bitmap_bytes);
	if (!bitmap_phys)
		panic("pmm: no room for %llu bytes of frame bitmaps below 4 GiB",
		      (unsigned long long)bitmap_bytes);
	add_reserved(bitmap_phys, bitmap_phys + bitmap_bytes);
	used = phys_to_virt(bitmap_phys);
	managed = used + word_count;

	memset(used, 0xff, word_count * sizeof(uint64_t));
	memset(managed, 0, word_count * sizeof(uint64_t));
	/* Available RAM becomes managed and free... */
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		if (e->type != MEMMAP_AVAILABLE)
			continue;
		uint64_t f0 = ALIGN_UP(e->base, PAGE_SIZE) / PAGE_SIZE;
		uint64_t f1 = MIN(ALIGN_DOWN(e->base + e->length, PAGE_SIZE) / PAGE_SIZE, frame_count);
		for (uint64_t f = f0; f < f1; f++) {
			bit_set(managed, f);
			bit_clear(used, f);
		}
	}
	/* ...unless any other entry claims it (firmware maps can overlap), or
	 * it is one of ours. */
	for (size_t i = 0; i < boot.memmap_count; i++) {
		const boot_memmap_entry *e = &boot.memmap[i];
		if (e->type == MEMMAP_AVAILABLE)
			continue;
		uint64_t f0 = e->base / PAGE_SIZE;
		uint64_t f1 = MIN(ALIGN_UP(e->base + e->length, PAGE_SIZE) / PAGE_SIZE, frame_count);
		for (uint64_t f = f0; f < f1; f++) {
			bit_clear(managed, f);
			bit_set(used, f);
		}
	}
	for (size_t r = 0; r < reserved_count; r++) {
		uint64_t f1 = MIN(reserved[r].end / PAGE_SIZE, frame_count);
		for (uint64_t f = reserved[r].start / PAGE_SIZE; f < f1; f++) {
			bit_clear(managed, f);
			bit_set(used, f);
		}
	}
	for (size_t f = 0; f < frame_count; f++) {
		managed_frames += bit_get(managed, f);
		free_frames += !bit_get(used, f);
	}
	kprintf("pmm: %zu frames (%zu MiB) free of %zu MiB RAM, bitmaps at 0x%llx\n",
		free_frames, free_frames >> 8, (size_t)(max_phys >> 20),
		(unsigned long long)bitmap_phys);
}

uint64_t pmm_alloc(void)
{
	arch_irqflags_t flags = arch_irq_save();
	uint64_t phys = 0;
	for (size_t n = 0; n < word_count; n++) {
		size_t w = (search_hint + n) % word_count;
		if (~used[w] == 0)
			continue;
		size_t f = w * BITS_PER_WORD + (size_t)__builtin_ctzll(~used[w]);
		if (f >= frame_count)
			continue;
		bit_set(used, f);
		free_frames--;
		search_hint = w;
		phys = (uint64_t)f * PAGE_SIZE;
		break;
	}
	arch_irq_restore(flags);
	return phys;
}

uint64_t pmm_alloc_run(size_t count, size_t align)
{
	if (count == 0)
		return 0;
	if (count == 1 && align <= 1)
		return pmm_alloc();
	if (align == 0)
		align = 1;
	arch_irqflags_t flags = arch_irq_save();
	uint64_t phys = 0;
	for (size_t f = 0; f + count <= frame_count; f = ALIGN_UP(f + 1, align)) {
		f = ALIGN_UP(f, align);
		if (f + count > frame_count)
			break;
		size_t run = 0;
		while (run < count && !bit_get(used, f + run))
			run++;
		if (run == count) {
			for (size_t i = 0; i < count; i++)
				bit_set(used, f + i);
			free_frames -= count;
			phys = (uint64_t)f * PAGE_SIZE;
			break;
		}
		f += run; /* the frame at f + run is used: skip past it */
	}
	arch_irq_restore(flags);
	return phys;
}

const char *pmm_status_name(pmm_status s)
{
	switch (s) {
	case PMM_OK: return "ok";
	case PMM_ERR_DOUBLE_FREE: return "double free";
	case PMM_ERR_NOT_MANAGED: return "frame was never handed out (reserved or not RAM)";
	case PMM_ERR_UNALIGNED: return "not a frame address";
	}
	return "?";
}

pmm_status pmm_free_run(uint64_t phys, size_t count)
{
	pmm_status status = PMM_OK;
	size_t bad = 0;
	arch_irqflags_t flags = arch_irq_save();
	if (phys % PAGE_SIZE) {
		status = PMM_ERR_UNALIGNED;
	} else {
		/* Check the whole run before freeing any of it. */
		for (size_t i = 0; i < count; i++) {
			size_t f = phys / PAGE_SIZE + i;
			if (f >= frame_count || !bit_get(managed, f)) {
				status = PMM_ERR_NOT_MANAGED;
				bad = i;
				break;
			}
			if (!bit_get(used, f)) {
				status = PMM_ERR_DOUBLE_FREE;
				bad = i;
				break;
			}
		}
	}
	if (status == PMM_OK) {
		for (size_t i = 0; i < count; i++)
			bit_clear(used, phys / PAGE_SIZE + i);
		free_frames += count;
	}
	arch_irq_restore(flags);
	if (status != PMM_OK)
		kprintf("pmm: cannot free frame 0x%llx: %s\n",
			(unsigned long long)(phys + bad * PAGE_SIZE), pmm_status_name(status));
	return status;
}

pmm_status pmm_free(uint64_t phys) { return pmm_free_run(phys, 1); }

bool pmm_is_allocated(uint64_t phys)
{
	size_t f = phys / PAGE_SIZE;
	return f < frame_count && bit_get(managed, f) && bit_get(used, f);
}

size_t pmm_free_count(void) { return free_frames; }
size_t pmm_total_count(void) { return managed_frames; }
uint64_t pmm_max_phys(void) { return max_phys; }
size_t arch_free_pages(void) { return free_frames; }
