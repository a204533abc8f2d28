/*
 * arch/hosted/symbols.c - the executable image: backtraces, symbol names,
 * and the data/bss bounds the collector scans as roots.
 *
 * Backtraces walk the frame-pointer chain (everything is built with
 * -fno-omit-frame-pointer) and trust a frame only inside the main thread's
 * stack, with each caller's frame above its callee's, so a libc frame
 * without a frame pointer ends the walk instead of crashing it.
 *
 * Names come from the executable's own .symtab, read once at start-up from
 * /proc/self/exe: it has the static functions (every test is one), which
 * dladdr() cannot see. dladdr() remains for shared libraries (libc,
 * sanitizer runtimes).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/hosted/hosted_internal.h"
#include "arch/x86_64/switch.h"
#include "lib/lib.h"

/* The executable's function symbols; count 0 when unavailable. */
static const Elf64_Sym *hosted_syms;
static size_t hosted_sym_count;
static const char *hosted_sym_names;
static uintptr_t hosted_load_bias; /* run-time address - link-time address */


/* Maps the executable and finds .symtab; leaves the table empty if the
 * binary is stripped or unreadable. */
static void hosted_load_symtab(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return;
	void *map = MAP_FAILED;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(Elf64_Ehdr))
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;

	const char *image = map;
	size_t size = (size_t)st.st_size;
	const Elf64_Ehdr *eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > size)
		return;

	const Elf64_Shdr *sh = (const Elf64_Shdr *)(image + eh->e_shoff);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *names = &sh[sh[i].sh_link];
		if (sh[i].sh_offset + sh[i].sh_size > size ||
		    names->sh_offset + names->sh_size > size)
			return;
		hosted_syms = (const Elf64_Sym *)(image + sh[i].sh_offset);
		hosted_sym_count = sh[i].sh_size / sizeof(Elf64_Sym);
		hosted_sym_names = image + names->sh_offset;
		break;
	}

	/* Position-independent: find our own address in the table. */
	for (size_t i = 0; i < hosted_sym_count; i++) {
		if (strcmp(hosted_sym_names + hosted_syms[i].st_name,
			   "hosted_symbols_init") == 0) {
			hosted_load_bias = (uintptr_t)hosted_symbols_init -
					   hosted_syms[i].st_value;
			return;
		}
	}
	hosted_sym_count = 0; /* not our table after all */
}

void hosted_symbols_init(void)
{
	hosted_load_symtab();
}

size_t hosted_backtrace_from(uintptr_t fp, const arch_context *ctx, uintptr_t *pcs,
			     size_t max)
{
	uintptr_t lo = (uintptr_t)ctx->stack_base, hi = lo + ctx->stack_size;
	size_t n = 0;

	/* A frame is [saved caller fp][return address], 16 bytes, and lies on
	 * the context's own stack: nothing else is read. */
	while (n < max && fp % sizeof(uintptr_t) == 0 && fp >= lo &&
	       fp + 2 * sizeof(uintptr_t) <= hi) {
		const uintptr_t *frame = (const uintptr_t *)fp;
		if (frame[1] == 0)
			break;
		pcs[n++] = frame[1];
		/* Callers' frames lie above: the stack grows down. */
		if (frame[0] <= fp)
			break;
		fp = frame[0];
	}
	return n;
}

__attribute__((noinline)) size_t arch_backtrace(uintptr_t *pcs, size_t max)
{
	/* Our own frame's return address is the first pc: the caller's. */
	return hosted_backtrace_from((uintptr_t)__builtin_frame_address(0),
				     arch_current_context(), pcs, max);
}

size_t arch_context_backtrace(const arch_context *ctx, uintptr_t *pcs, size_t max)
{
	/* A switched-out context's saved frame: r15 r14 r13 r12 rbx rbp, then
	 * the return address into whatever called the switch. */
	const uintptr_t *frame = (const uintptr_t *)ctx->sp;
	if (max == 0 || !ctx->sp)
		return 0;
	pcs[0] = frame[6];
	return 1 + hosted_backtrace_from(frame[5], ctx, pcs + 1, max - 1);
}

const char *arch_symbolize(uintptr_t pc, uintptr_t *offset)
{
	for (size_t i = 0; i < hosted_sym_count; i++) {
		const Elf64_Sym *sym = &hosted_syms[i];
		uintptr_t start = sym->st_value + hosted_load_bias;

		if ((ELF64_ST_TYPE(sym->st_info) == STT_FUNC ||
		     ELF64_ST_TYPE(sym->st_info) == STT_OBJECT) &&
		    sym->st_shndx != SHN_UNDEF && pc >= start &&
		    pc - start < sym->st_size) {
			*offset = pc - start;
			return hosted_sym_names + sym->st_name;
		}
	}

	/* dladdr() returns the nearest symbol below pc even when pc lies
	 * past its end; the size check turns that into "unknown". */
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	if (dladdr1((void *)pc, &info, (void **)&sym, RTLD_DL_SYMENT) && sym &&
	    info.dli_sname && pc - (uintptr_t)info.dli_saddr < sym->st_size) {
		*offset = pc - (uintptr_t)info.dli_saddr;
		return info.dli_sname;
	}
	return NULL;
}

arch_range arch_data_range(void)
{
	/* Both defined by the GNU toolchain for every Linux executable. */
	extern char __data_start[], _edata[];

	return (arch_range){ (uintptr_t)__data_start, (uintptr_t)_edata };
}

arch_range arch_bss_range(void)
{
	extern char __bss_start[], _end[];

	return (arch_range){ (uintptr_t)__bss_start, (uintptr_t)_end };
}

size_t arch_context_frames(const arch_context *ctx, uintptr_t *pcs, uintptr_t *fps, size_t max)
{
	return x86_switch_frames(ctx, pcs, fps, max);
}
