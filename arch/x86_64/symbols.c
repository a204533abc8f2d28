/*
 * symbols.c - backtraces and symbol names. Backtraces follow the frame-
 * pointer chain (everything is built with -fno-omit-frame-pointer), checking
 * each frame is mapped before reading it, so a corrupt chain ends the trace
 * instead of faulting inside a panic. Names come from .ksyms, a table of
 * (address, name) sorted by address that the build generates from the first
 * link and adds in a second one (tools/gensyms.sh); .ksyms sits last in the
 * image, so adding it moves no other symbol.
 */
#include "arch/x86_64/x86.h"

struct ksym {
	uint64_t addr;
	const char *name;
};

/* Defined by the generated ksyms.S in the second link; absent (NULL) in the
 * first. */
extern const uint64_t ksyms_count __attribute__((weak));
extern const struct ksym ksyms_table[] __attribute__((weak));

static bool in_text(uintptr_t pc)
{
	return pc >= (uintptr_t)__text_start && pc < (uintptr_t)__text_end;
}

const char *arch_symbolize(uintptr_t pc, uintptr_t *offset)
{
	/* Code, or a global: anything in the image but the symbol table. */
	if (!&ksyms_count || pc < (uintptr_t)__text_start || pc >= (uintptr_t)__kstacks_start)
		return NULL;
	size_t lo = 0, hi = ksyms_count;
	while (lo < hi) { /* first entry with addr > pc */
		size_t mid = lo + (hi - lo) / 2;
		if (ksyms_table[mid].addr <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if (offset)
		*offset = pc - ksyms_table[lo - 1].addr;
	return ksyms_table[lo - 1].name;
}

size_t backtrace_from(uintptr_t rbp, uintptr_t *pcs, size_t max)
{
	size_t n = 0;
	while (n < max && rbp && rbp % 8 == 0 && vmm_is_readable(rbp, 16)) {
		const uintptr_t *frame = (const uintptr_t *)rbp;
		uintptr_t ret = frame[1];
		if (!in_text(ret))
			break;
		pcs[n++] = ret;
		if (frame[0] <= rbp)
			break; /* frames grow upwards; anything else is corrupt */
		rbp = frame[0];
	}
	return n;
}

size_t arch_backtrace(uintptr_t *pcs, size_t max)
{
	return backtrace_from((uintptr_t)__builtin_frame_address(0), pcs, max);
}

arch_range arch_data_range(void)
{
	return (arch_range){ (uintptr_t)__data_start, (uintptr_t)__data_end };
}

arch_range arch_bss_range(void)
{
	return (arch_range){ (uintptr_t)__bss_start, (uintptr_t)__bss_end };
}
