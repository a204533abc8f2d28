/*
 * arch/x86_64/trampoline.S - where an application processor starts: the
 * startup IPI (SIPI) puts it in real mode at CS = page >> 4, IP = 0 of a
 * page below 1 MiB. This code is never run where it is linked: smp.c copies
 * it (smp_trampoline_start .. smp_trampoline_end) into that page, which it
 * also maps at its own (identity) address in the kernel's page tables for
 * the moment paging goes on, and patches the parameters
 * (arch/x86_64/trampoline.h). Then, with no stack until the end:
 *   16-bit: load the trampoline's GDT, set CR0.PE, far jump to 32-bit code;
 *   32-bit: CR4 (PAE), CR3 = the kernel's PML4, EFER.LME|NXE, CR0 = the boot
 *           CPU's (PG, WP, and CD/NW cleared), far jump to a 64-bit segment;
 *   64-bit: the stack, then call the C entry with the per-CPU block, which
 *           loads the CPU's own GDT, TSS and the IDT (smp.c) and never
 *           returns (a return halts here).
 * EBX holds the page's physical address from real mode on.
 */
#include "arch/x86_64/trampoline.h"

#define CR0_PE 0x1
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)

	.section .rodata
	.balign 16
	.global smp_trampoline_start, smp_trampoline_end
smp_trampoline_start:
	.code16
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	movzwl	%ax, %ebx
	shl	$4, %ebx		/* EBX = the page's physical address */
	lgdtl	TRAMP_GDT_PTR
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0
	ljmpl	*TRAMP_PM32_JUMP

	.code32
tramp_pm32:
	mov	$TRAMP_SEL_DATA, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	TRAMP_CR4(%ebx), %eax
	mov	%eax, %cr4
	mov	TRAMP_CR3(%ebx), %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$(EFER_LME | EFER_NXE), %eax
	wrmsr
	mov	TRAMP_CR0(%ebx), %eax
	mov	%eax, %cr0		/* paging on: this page is identity-mapped */
	ljmpl	*TRAMP_LM64_JUMP(%ebx)

	.code64
tramp_lm64:
	mov	%ebx, %ebx		/* zero the upper half */
	mov	TRAMP_STACK(%rbx), %rsp
	mov	TRAMP_PERCPU(%rbx), %rdi
	xor	%ebp, %ebp
	mov	TRAMP_ENTRY(%rbx), %rax
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.org	smp_trampoline_start + TRAMP_GDT
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: 32-bit code, flat */
	.quad	0x00cf92000000ffff	/* 0x10: data, flat */
	.quad	0x00209a0000000000	/* 0x18: 64-bit code */
	.org	smp_trampoline_start + TRAMP_GDT_PTR
	.word	4 * 8 - 1
	.long	TRAMP_GDT			/* + page */
	.org	smp_trampoline_start + TRAMP_PM32_JUMP
	.long	tramp_pm32 - smp_trampoline_start	/* + page */
	.word	TRAMP_SEL_CODE32
	.org	smp_trampoline_start + TRAMP_LM64_JUMP
	.long	tramp_lm64 - smp_trampoline_start	/* + page */
	.word	TRAMP_SEL_CODE64
	.org	smp_trampoline_start + TRAMP_SIZE
smp_trampoline_end:
	.code64
